"""`shuying index`: rebuild the search index and annotation pages from what is published, item by item."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

import cli
from pipeline.validation import json_errors
from storage_config.settings import SETTINGS, Settings
from tests.iiif_server.helpers import publish_book
from tests.iiif_server.test_search import alto_page

CLEAN_ENV = {f"SHUYING_{s.name.upper()}": None for s in SETTINGS}


def shuying(settings: Settings, *args: str):
    return CliRunner(env=CLEAN_ENV).invoke(cli.cli, ["--home", str(settings.home), *args])


def test_an_item_published_before_annotations_gets_them_and_a_broken_one_is_reported(
        tmp_path: Path, settings: Settings) -> None:
    publish_book(tmp_path, settings, item_id="old-book", pages=2)  # no annotations, no entity-context.json
    folder = settings.publish_dir / "old-book"
    (folder / "alto" / "p0002.xml").write_text(alto_page([("乾隆四十七年刻", 500), ("學而時習之", 440)]),
                                               encoding="utf-8")
    publish_book(tmp_path, settings, item_id="broken-book", pages=1)
    (settings.publish_dir / "broken-book" / "manifest.json").write_text("{not json", encoding="utf-8")

    result = shuying(settings, "index")

    assert result.exit_code == 1
    assert result.stdout.splitlines() == ["old-book\t2 pages\t1 entities"]
    [error] = result.stderr.splitlines()[1:]
    assert error.startswith(f"Error: {settings.publish_dir / 'broken-book' / 'manifest.json'}: cannot read it")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert json_errors(manifest, "iiif-presentation-3.0") == []
    assert manifest["items"][1]["annotations"] == [
        {"id": f"{settings.base_url}/iiif/old-book/annotations/p0002.json", "type": "AnnotationPage"}]
    page = json.loads((folder / "annotations" / "p0002.json").read_text(encoding="utf-8"))
    [date] = page["items"]
    assert date["target"] == f"{settings.base_url}/iiif/old-book/canvas/p0002#xywh=500,100,40,240"
    assert shuying(settings, "search", "year:1782").stdout.startswith("old-book\tp0002\t乾隆四十七年\t500,100,540,340")


def test_indexing_one_item_leaves_the_others_and_an_unknown_one_is_refused(tmp_path: Path,
                                                                            settings: Settings) -> None:
    for item_id in ("book-a", "book-b"):
        publish_book(tmp_path, settings, item_id=item_id, pages=1)
        (settings.publish_dir / item_id / "alto" / "p0001.xml").write_text(
            alto_page([("萬曆癸丑" + item_id[-1].upper() * 2, 500)]).replace("p0002", "p0001"), encoding="utf-8")
    assert shuying(settings, "index").exit_code == 0
    assert shuying(settings, "index", "--item", "book-b").stdout.splitlines() == ["book-b\t1 pages\t1 entities"]
    assert [line.split("\t")[0] for line in shuying(settings, "search", "era:万历").stdout.splitlines()] == [
        "book-a", "book-b"]
    missing = shuying(settings, "index", "--item", "book-c")
    assert missing.exit_code == 1 and "no published item 'book-c'" in missing.stderr


def test_an_item_being_ingested_is_skipped_and_named_the_others_are_indexed(tmp_path: Path) -> None:
    from pipeline.errors import BusyError
    from workflows.annotate import reindex_published
    from workflows.archive import pid_lock

    publish = tmp_path / "publish"
    for item in ("book-a", "book-b"):
        (publish / item).mkdir(parents=True)
        (publish / item / "manifest.json").write_text('{"items": []}', encoding="utf-8")
    locks = tmp_path / "locks"
    with pid_lock(locks / "ingest-book-a.lock", lambda holder: BusyError(holder)):
        done = reindex_published(publish, tmp_path / "search.sqlite", base_url="http://x", lock_dir=locks)
    by_item = {item.item_id: item for item in done}
    assert "an ingest of this item is running" in by_item["book-a"].error
    assert "shuying index --item book-a" in by_item["book-a"].error
    assert not by_item["book-b"].error
