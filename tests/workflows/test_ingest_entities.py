"""End to end: a generated leaf with a reign date is ingested; its entities are published as annotations,
found by `shuying search year:…`, listed by /browse, and `shuying index` rebuilds them after the index is lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

import cli
from iiif_server.app import create_app
from pipeline.sample_book import batch_document
from pipeline.synthetic import render_vertical_page
from pipeline.validation import json_errors
from storage_config.settings import SETTINGS, Settings
from workflows.run import run_ingest

CLEAN_ENV = {f"SHUYING_{s.name.upper()}": None for s in SETTINGS}
TEXT = "乾隆四十七年浙江巡撫採進本" + "子曰學而時習之不亦說乎有朋自遠方來不亦樂乎"


def write_batch(dest: Path) -> Path:
    rendered = render_vertical_page(TEXT, width=900, height=1300, columns=6, chars_per_column=12)
    dest.mkdir(parents=True)
    rendered.image.save(dest / "0001.tif", format="TIFF", compression="tiff_lzw", dpi=(400, 400))
    document = batch_document(dest.name, [("0001.tif", "1", "page")], ppi=400)
    document["item"]["edition"] = "清乾隆刻本"  # the period the date must fall in (1736..1795)
    (dest / "batch.json").write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    return dest


def shuying(settings: Settings, *args: str):
    return CliRunner(env=CLEAN_ENV).invoke(cli.cli, ["--home", str(settings.home), *args])


@pytest.mark.slow
def test_entities_are_published_searchable_browsable_and_reindexed(tmp_path: Path, settings: Settings) -> None:
    result = run_ingest(write_batch(tmp_path / "qianlong-1"), settings, accept_warnings=True, operator="test",
                        reason="generated page")
    assert result.ok, result.failures
    folder = settings.publish_dir / "qianlong-1"
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    [canvas] = manifest["items"]
    url = f"{settings.base_url}/iiif/qianlong-1/annotations/p0001.json"
    assert canvas["annotations"] == [{"id": url, "type": "AnnotationPage"}]
    page = json.loads((folder / "annotations" / "p0001.json").read_text(encoding="utf-8"))
    assert json_errors(page, "iiif-presentation-3.0") == []
    [date] = [a for a in page["items"] if a["body"][1]["value"] == "date"]
    assert date["body"][2]["id"] == f"{settings.base_url}/browse/year/1782"
    x, y, w, h = (int(v) for v in date["target"].split("#xywh=")[1].split(","))
    assert date["target"].startswith(canvas["id"] + "#xywh=")
    assert x + w <= canvas["width"] and y + h <= canvas["height"]
    assert x > canvas["width"] * 2 // 3  # the first column of a right-to-left page is at its right edge

    found = shuying(settings, "search", "year:1782")
    assert found.exit_code == 0, found.output
    assert found.stdout.splitlines()[0].startswith("qianlong-1\tp0001\t乾隆四十七年\t")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        listed = client.get("/browse/year/1782", params={"format": "json"})
        assert listed.status_code == 200
        viewer = listed.json()["items"][0]["pages"][0]["viewer"]
        assert viewer.startswith(f"{settings.base_url}/viewer/qianlong-1?canvas=") and viewer.endswith("%2Fp0001")
        assert client.get("/iiif/qianlong-1/annotations/p0001.json").json() == page

    (settings.home / "search.sqlite").unlink()
    (folder / "annotations" / "p0001.json").unlink()
    assert shuying(settings, "search", "year:1782").stdout.startswith("No match")
    rebuilt = shuying(settings, "index")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert rebuilt.stdout.splitlines() == [f"qianlong-1\t1 pages\t{len(page['items'])} entities"]
    assert json.loads((folder / "annotations" / "p0001.json").read_text(encoding="utf-8")) == page
    assert shuying(settings, "search", "year:1782").stdout.startswith("qianlong-1\tp0001\t乾隆四十七年")
    assert shuying(settings, "search", "學而 era:乾隆").stdout.startswith("qianlong-1\tp0001\t學而")
    missing = shuying(settings, "index", "--item", "no-such-book")
    assert missing.exit_code == 1 and "no published item 'no-such-book'" in missing.stderr
