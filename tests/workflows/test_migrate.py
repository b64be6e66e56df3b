"""`shuying migrate`: inventory rows, staging, journal and resume, with the real Luigi, Tesseract and libvips."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import ImageCms

from pipeline.checksums import digest_file
from pipeline.migrate import (
    COLUMN_NAMES,
    InventoryError,
    ItemPlan,
    batch_document,
    item_states,
    natural_key,
    plan_items,
    read_inventory,
)
from pipeline.synthetic import render_vertical_page, sample_text_for_page
from storage_config.catalogue import Catalogue
from tests.conftest import tree_digests
from workflows.migrate import copy_hashed

REPO = Path(__file__).resolve().parents[2]
SHUYING = [sys.executable, "-c", "import cli; cli.main()"]
# At 300 ppi (legacy) 640 x 900 px is a 5.4 x 7.6 cm leaf: the smallest size whose focus and
# dimension checks pass, so the legacy profile alone lets these pages through.
PAGE_SIZE = (640, 900)
GOOD_ROW = {"title": "論語十卷", "material_type": "ancient_book", "languages": "lzh;zh-Hant",
            "script_direction": "vertical-rl", "declared_ppi": "300", "access_level": "public"}


def write_legacy_item(folder: Path, pages: int, *, seed: int = 0, size: tuple[int, int] = PAGE_SIZE) -> Path:
    """Write ``pages`` legacy-style scans named as old scanning software did: 'page 1.tif' … 'page 10.tif'."""
    folder.mkdir(parents=True, exist_ok=True)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for index in range(pages):
        rendered = render_vertical_page(sample_text_for_page(seed * 7 + index, 180), width=size[0], height=size[1],
                                        seed=seed * 31 + index, noise=0.01)
        buffer = io.BytesIO()
        rendered.image.save(buffer, format="TIFF", compression="tiff_lzw", dpi=(300, 300), icc_profile=icc)
        (folder / f"page {index + 1}.tif").write_bytes(buffer.getvalue())
    return folder


def write_inventory(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write an inventory as Excel saves it: UTF-8 with a byte-order mark, CRLF line ends."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMN_NAMES, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8-sig")
    return path


def row(item_id: str, folder: str, **fields: str) -> dict[str, str]:
    return {"item_id": item_id, "folder": folder, **GOOD_ROW, **fields}


def journal_records(home: Path, stem: str) -> list[dict]:
    path = home / "migrate" / f"{stem}.journal.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def leftovers(home: Path) -> list[str]:
    return [str(p) for p in home.rglob("*") if ".tmp-" in p.name or p.name.endswith((".new", ".old"))]


# --- the inventory (pure) ---------------------------------------------------------------------------------


def test_pages_are_in_natural_order(tmp_path):
    names = ["page 10.tif", "page 2.tif", "Page 1.tif", "page 1a.tif", "page 11.tif", "page 02b.tif"]
    assert sorted(names, key=natural_key) == ["Page 1.tif", "page 1a.tif", "page 2.tif", "page 02b.tif",
                                              "page 10.tif", "page 11.tif"]
    folder = tmp_path / "root" / "item"
    folder.mkdir(parents=True)
    for name in ["p10.tif", "p9.tif", "p1.tif", ".DS_Store", "Thumbs.db"]:
        (folder / name).write_bytes(b"x")
    plan = plan_items(read_inventory(write_inventory(tmp_path / "inv.csv", [row("A-1", "item")])), tmp_path / "root")
    assert plan[0].files == ("p1.tif", "p9.tif", "p10.tif")
    assert [p["file"] for p in batch_document(plan[0])["pages"]] == ["p1.tif", "p9.tif", "p10.tif"]
    assert batch_document(plan[0])["capture"]["qc_profile"] == "legacy"


def test_bad_rows_are_refused_with_line_and_field_while_others_pass(tmp_path):
    root = tmp_path / "root"
    for name in ("good", "other", "empty-ok"):
        (root / name).mkdir(parents=True)
        (root / name / "1.tif").write_bytes(b"x")
    (root / "empty").mkdir()
    (root / "mixed").mkdir()
    (root / "mixed" / "1.tif").write_bytes(b"x")
    (root / "mixed" / "notes.docx").write_bytes(b"x")
    (root / "mixed" / "thumbs").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "1.tif").write_bytes(b"x")
    (root / "link-out").symlink_to(outside)
    (root / "other" / "2.tif").symlink_to(outside / "1.tif")
    rows = [row("GJ-0001", "good"),
            row("GJ-0002", "empty-ok", declared_ppi="三百"),
            row("GJ-0003", "empty-ok", material_type="book", languages="lzh;xx"),
            row("GJ-0001", "good"),
            row("GJ-0005", "missing"),
            row("GJ-0006", "empty"),
            row("GJ-0007", "mixed"),
            row("GJ-0008", "../outside"),
            row("GJ-0009", "/etc"),
            row("GJ-0010", "link-out"),
            row("GJ-0011", "other"),
            row("GJ 12", "", title="")]
    plans = plan_items(read_inventory(write_inventory(tmp_path / "census.csv", rows)), root)

    problems = {p.row.line: [str(x) for x in p.problems] for p in plans}
    assert problems == {
        2: [],
        3: ["census.csv line 3: declared_ppi: '三百' is not a whole number"],
        4: ["census.csv line 4: material_type: 'book' is not one of ['ancient_book', 'republican', 'other']",
            "census.csv line 4: languages: no OCR model is known for language 'xx' (use one of "
            "lzh, zh-Hant, zh-Hans, de, en, fr, ja, ko, la, ru, de-Latf)",
            "census.csv line 4: folder: 'empty-ok' is also the folder of line 3 (one folder holds one item's images)"],
        5: ["census.csv line 5: item_id: 'GJ-0001' is also on line 2 (each item is one row; give this one its own "
            "item_id)",
            "census.csv line 5: folder: 'good' is also the folder of line 2 (one folder holds one item's images)"],
        6: ["census.csv line 6: folder: 'missing' does not exist below ROOT"],
        7: ["census.csv line 7: folder: holds no images"],
        8: ["census.csv line 8: folder: 'notes.docx' is not a supported image (TIFF, JPEG, PNG or JPEG 2000); "
            "move it out of the item folder",
            "census.csv line 8: folder: 'thumbs' is a sub-folder: an item's images must sit directly in its folder"],
        9: ["census.csv line 9: folder: '../outside' contains '..': folders must lie inside ROOT"],
        10: ["census.csv line 10: folder: '/etc' is not a relative path inside ROOT"],
        11: ["census.csv line 11: folder: 'link-out' points outside ROOT (through a symbolic link)"],
        12: ["census.csv line 12: folder: '2.tif' is a link pointing outside ROOT"],
        13: ["census.csv line 13: folder: required value is empty",
             "census.csv line 13: title: required value is empty"],
    }
    assert [p.ok for p in plans].count(True) == 1
    assert plans[3].duplicate and not plans[0].duplicate


def test_bad_item_id_and_extra_values_name_the_line(tmp_path):
    inventory = write_inventory(tmp_path / "inv.csv", [row("GJ 12", "x")])
    inventory.write_text(inventory.read_text(encoding="utf-8-sig") + "A-2,x,t,other,en,horizontal-lr,300,public"
                         + ",x" * 30 + "\r\n", encoding="utf-8")
    rows = read_inventory(inventory)
    assert [str(p) for p in rows[0].problems] == [
        "inv.csv line 2: item_id: 'GJ 12' is not a usable item id: use 1-128 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit"]
    assert [str(p) for p in rows[1].problems] == [
        "inv.csv line 3: 38 values but the header has 27 columns (a value holding a comma must be in double quotes)"]


def test_a_header_without_a_required_column_refuses_the_whole_inventory(tmp_path):
    inventory = tmp_path / "inv.csv"
    inventory.write_text("item_id,folder,titel\nA-1,a,x\n", encoding="utf-8")
    with pytest.raises(InventoryError) as caught:
        read_inventory(inventory)
    assert [str(p) for p in caught.value.problems][:2] == [
        "inv.csv line 1: header: required column 'title' is missing (copy the header of "
        "docs/migrate-inventory-template.csv)",
        "inv.csv line 1: header: required column 'material_type' is missing (copy the header of "
        "docs/migrate-inventory-template.csv)"]
    assert "inv.csv line 1: header: unknown column 'titel'" in str(caught.value)


def test_the_shipped_template_reads_without_problems():
    rows = read_inventory(REPO / "docs/migrate-inventory-template.csv")
    assert [(r.item_id, r.problems) for r in rows] == [("LG-2009-0001", ()), ("MG-2012-0042", ())]
    item = rows[0].document["item"]
    assert item["creators"] == [{"name": "王守仁", "role": "撰", "period": "明"},
                                {"name": "錢德洪", "role": "編", "period": "明"}]
    assert item["seals"] == ["某某藏書", "某某堂印"]


def test_a_torn_last_journal_line_and_duplicate_rows_are_ignored():
    lines = ['{"event": "started", "item_id": "A"}', '{"event": "ingested", "item_id": "A", "pages": 2}',
             '{"event": "started", "item_id": "B"}', '{"event": "refused", "item_id": "A", "duplicate": true}',
             '{"event": "ingested", "ite']
    assert {k: v["event"] for k, v in item_states(lines).items()} == {"A": "ingested", "B": "started"}


def test_copy_is_hashed_while_copying_and_the_source_untouched(tmp_path):
    source = tmp_path / "src" / "葉一.tif"
    source.parent.mkdir()
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    before = tree_digests(source.parent)
    digests = copy_hashed(source, tmp_path / "dest.tif")
    assert digests == digest_file(source) == digest_file(tmp_path / "dest.tif")
    assert tree_digests(source.parent) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest.tif", "src"]


def test_luigi_log_handlers_are_closed_when_replaced(tmp_path):
    from workflows.run import _log_luigi_to

    luigi_logger = logging.getLogger("luigi-interface")
    saved = list(luigi_logger.handlers), list(logging.getLogger("luigi").handlers)
    try:
        fds = len(os.listdir("/proc/self/fd"))
        for index in range(20):
            _log_luigi_to(tmp_path / f"item-{index}" / "luigi.log")
        assert len(os.listdir("/proc/self/fd")) <= fds + 1  # only the last item's log stays open
        files = [h for h in luigi_logger.handlers if isinstance(h, logging.FileHandler)]
        assert len(files) == 1 and files[0].baseFilename.endswith("item-19/luigi.log")
    finally:
        for handler in {h for h in luigi_logger.handlers if isinstance(h, logging.FileHandler)}:
            handler.close()
        luigi_logger.handlers, logging.getLogger("luigi").handlers = saved


def test_plan_writes_nothing(tmp_path, home):
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (root / "a" / "1.tif").write_bytes(b"x")
    (root / "a" / "2.tif").write_bytes(b"y")
    inventory = write_inventory(tmp_path / "plan.csv", [row("A-1", "a"), row("A-2", "../a")])
    from cli import cli

    result = CliRunner().invoke(cli, ["--home", str(home), "migrate", str(inventory), str(root), "--plan"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "line 2\tA-1\tnew (2 pages)",
        "line 3\tA-2\trefused",
        "    plan.csv line 3: folder: '../a' contains '..': folders must lie inside ROOT",
        "2 items: 1 new, 1 refused"]
    assert not home.exists()


def test_a_second_run_of_the_same_inventory_is_refused_while_one_runs(tmp_path, settings):
    from pipeline.migrate import MigrationLockedError
    from workflows.migrate import MigrationPaths, RunJournal, run_migration

    inventory = write_inventory(tmp_path / "busy.csv", [row("A-1", "missing")])
    with RunJournal(MigrationPaths(settings.home, "busy").journal):
        with pytest.raises(MigrationLockedError, match="another `shuying migrate` of this inventory is running"):
            run_migration(inventory, tmp_path, settings)
    report = run_migration(inventory, tmp_path, settings)  # the lock went with the first run
    assert [o.status for o in report.outcomes] == ["refused"]


# --- end to end (subprocesses, as a technician runs it) ---------------------------------------------------


@pytest.mark.slow
def test_migrate_ingests_good_items_and_refuses_bad_rows(tmp_path, home):
    root = tmp_path / "legacy"
    write_legacy_item(root / "善本" / "GJ-0001", 2, seed=1)
    write_legacy_item(root / "善本" / "GJ-0002", 1, seed=2)
    (tmp_path / "elsewhere").mkdir()
    inventory = write_inventory(tmp_path / "census-2019.csv", [
        row("GJ-0001", "善本/GJ-0001", title="王文成公全書三十八卷", creators="王守仁|撰|明"),
        row("GJ-0002", "善本/GJ-0002", access_level="restricted"),
        row("GJ-0003", "善本/GJ-0002/../../../elsewhere"),
        row("GJ-0004", "善本/GJ-0004", declared_ppi="300dpi")])
    before = tree_digests(root)
    env = {**os.environ, "SHUYING_HOME": str(home)}

    run = subprocess.run([*SHUYING, "migrate", str(inventory), str(root)], env=env, capture_output=True, text=True)

    assert run.returncode == 1, run.stderr
    assert "[1/4] GJ-0001 ingested (2 pages)" in run.stderr and "[2/4] GJ-0002 ingested (1 page)" in run.stderr
    assert "[3/4] GJ-0003 refused" in run.stderr
    assert "4 items: 2 ingested, 0 skipped (done before), 2 refused, 0 failed; 3 pages ingested, 0 overridden" \
        in run.stdout
    report = json.loads((home / "migrate/census-2019.report.json").read_text(encoding="utf-8"))
    assert report["totals"] == {"items": 4, "ingested": 2, "skipped": 0, "refused": 2, "failed": 0,
                                "pages_ingested": 3, "pages_overridden": 0}
    assert [(i["item_id"], i["status"], i["reasons"]) for i in report["items"][2:]] == [
        ("GJ-0003", "refused", ["census-2019.csv line 4: folder: '善本/GJ-0002/../../../elsewhere' contains '..': "
                               "folders must lie inside ROOT"]),
        ("GJ-0004", "refused", ["census-2019.csv line 5: declared_ppi: '300dpi' is not a whole number",
                               "census-2019.csv line 5: folder: '善本/GJ-0004' does not exist below ROOT"])]
    for item_id, pages in (("GJ-0001", 2), ("GJ-0002", 1)):
        manifest = json.loads((home / f"publish/{item_id}/manifest.json").read_text(encoding="utf-8"))
        assert len(manifest["items"]) == pages
        qc_report = json.loads((home / f"work/{item_id}/qc.json").read_text(encoding="utf-8"))
        assert qc_report["profile"]["name"] == "legacy"
    checksums = json.loads((home / "work/GJ-0001/checksums.json").read_text(encoding="utf-8"))["masters"]
    assert [(m["file"], m["sha512"]) for m in checksums.values()] == [
        (f"page {i}.tif", digest_file(root / "善本/GJ-0001" / f"page {i}.tif").sha512) for i in (1, 2)]
    assert not (home / "migrate/staging").exists() or not any((home / "migrate/staging").iterdir())
    assert tree_digests(root) == before  # the legacy tree is only read
    assert leftovers(home) == []

    again = subprocess.run([*SHUYING, "migrate", str(inventory), str(root)], env=env, capture_output=True, text=True)

    assert again.returncode == 1
    assert "[1/4] GJ-0001 skipped (2 pages)" in again.stderr
    totals = json.loads((home / "migrate/census-2019.report.json").read_text(encoding="utf-8"))["totals"]
    assert (totals["skipped"], totals["ingested"], totals["refused"]) == (2, 0, 2)
    events = Counter((r["item_id"], r["event"]) for r in journal_records(home, "census-2019"))
    assert events[("GJ-0001", "ingested")] == 1 and events[("GJ-0001", "started")] == 1
    assert events[("GJ-0004", "refused")] == 2


@pytest.mark.slow
def test_qc_findings_refuse_an_item_until_a_named_person_accepts_them(tmp_path, home):
    root = tmp_path / "legacy"
    write_legacy_item(root / "small", 1, seed=3, size=(400, 560))  # a thumbnail-sized scan: QC warns
    inventory = write_inventory(tmp_path / "small.csv", [row("LG-0001", "small")])
    env = {**os.environ, "SHUYING_HOME": str(home)}
    command = [*SHUYING, "migrate", str(inventory), str(root)]

    refused = subprocess.run(command, env=env, capture_output=True, text=True)
    missing_reason = subprocess.run([*command, "--accept-warnings"], env=env, capture_output=True, text=True)
    accepted = subprocess.run([*command, "--accept-warnings", "--operator", "王芳", "--reason", "only copy held"],
                              env=env, capture_output=True, text=True)

    assert refused.returncode == 1
    assert "[1/1] LG-0001 refused (1 page)" in refused.stderr
    assert "QC stopped the ingest before storage" in refused.stderr
    assert "p0001 (page 1.tif) dimensions warn" in refused.stderr
    assert missing_reason.returncode == 2
    assert "letting QC findings through needs who and why" in missing_reason.stderr
    assert accepted.returncode == 0, accepted.stderr
    assert "[1/1] LG-0001 ingested (1 page, 1 overridden)" in accepted.stderr
    report = json.loads((home / "migrate/small.report.json").read_text(encoding="utf-8"))
    assert report["items"][0]["pages_overridden"] == ["p0001"]
    assert report["options"]["operator"] == "王芳"
    assert [r["event"] for r in journal_records(home, "small")] == ["started", "refused", "started", "ingested"]


@pytest.mark.slow
def test_killed_migration_resumes_without_loss_or_duplication(tmp_path, home):
    root = tmp_path / "legacy"
    for index in range(1, 4):
        write_legacy_item(root / f"LG-{index:04d}", 2, seed=10 + index)
    inventory = write_inventory(tmp_path / "kill.csv", [row(f"LG-{i:04d}", f"LG-{i:04d}") for i in range(1, 4)])
    before = tree_digests(root)
    env = {**os.environ, "SHUYING_HOME": str(home)}
    command = [*SHUYING, "migrate", str(inventory), str(root)]
    journal = home / "migrate/kill.journal.jsonl"
    proc = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: journal.is_file() and ('"event": "started", "item_id": "LG-0002"'
                                                 in journal.read_text(encoding="utf-8")))
        time.sleep(1.5)  # into the second item's copy or ingest
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (home / "publish/LG-0003").exists()

    rerun = subprocess.run(command, env=env, capture_output=True, text=True)

    assert rerun.returncode == 0, rerun.stderr
    report = json.loads((home / "migrate/kill.report.json").read_text(encoding="utf-8"))
    assert report["totals"]["skipped"] + report["totals"]["ingested"] == 3, report["totals"]
    assert report["totals"]["skipped"] == 1  # LG-0001 finished before the kill
    records = journal_records(home, "kill")
    ingested = Counter(r["item_id"] for r in records if r["event"] == "ingested")
    assert ingested == {"LG-0001": 1, "LG-0002": 1, "LG-0003": 1}
    catalogue = Catalogue(str(home / "catalogue.sqlite"))
    assert Counter(v.item_id for v in catalogue.versions()) == {"LG-0001": 1, "LG-0002": 1, "LG-0003": 1}
    copies = Counter((c.item_id, c.location) for c in catalogue.copies())
    assert all(n == 1 for n in copies.values()), copies
    stored = sorted(p.relative_to(home / "storage/primary/aips").as_posix()
                    for p in (home / "storage/primary/aips").glob("*/*"))
    assert stored == ["LG-0001/LG-0001.v1", "LG-0002/LG-0002.v1", "LG-0003/LG-0003.v1"]
    for item_id in ingested:  # Luigi did each step of each item once, however the kill fell
        steps = Counter(line.split("\t")[3] for line in (home / f"work/{item_id}/journal.log").read_text(
            encoding="utf-8").splitlines() if line.split("\t")[4] == "success")
        assert all(n == 1 for n in steps.values()), (item_id, steps)
    assert not any((home / "migrate/staging").iterdir())
    assert tree_digests(root) == before
    assert leftovers(home) == []


def _wait_for(condition, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.05)


def test_item_plan_without_folder_is_never_staged(tmp_path):
    from pipeline.errors import BatchError
    from workflows.migrate import stage_item

    plan = plan_items(read_inventory(write_inventory(tmp_path / "i.csv", [row("A-1", "nope")])), tmp_path)[0]
    assert isinstance(plan, ItemPlan) and not plan.ok
    with pytest.raises(BatchError):
        stage_item(plan, tmp_path / "staging")
    assert not (tmp_path / "staging").exists()
