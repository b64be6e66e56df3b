"""Reshooting pages, before storage and after: only the replaced pages' tasks run again, nothing is lost."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from lxml import etree

from pipeline.checksums import digest_file
from pipeline.validation import xml_errors
from pipeline.xmlns import NAMESPACES
from storage_config.settings import Settings
from tests.pipeline.test_qc_helpers import Spec, text_specs, write_batch
from workflows.archive import open_archive
from workflows.masters import MasterChangedError
from workflows.reshoot import ReshootError, reshoot
from workflows.run import run_ingest

pytestmark = pytest.mark.slow
NS = NAMESPACES


def started(work_item: Path, since: int = 0) -> list[str]:
    """Tasks started (journal.log) after the first ``since`` lines."""
    lines = (work_item / "journal.log").read_text(encoding="utf-8").splitlines()[since:]
    return [parts[3] for parts in (line.split("\t") for line in lines) if parts[4] == "start"]


def journal_length(work_item: Path) -> int:
    return len((work_item / "journal.log").read_text(encoding="utf-8").splitlines())


def books(tmp_path: Path, first_page: str) -> tuple[Path, Path]:
    """The batch as shot (p0002 with ``first_page``'s problem) and a clean reshoot of the same pages."""
    specs = [Spec("cover"), *text_specs(2)]
    shot = list(specs)
    shot[1] = Spec("text", specs[1].label, specs[1].skew, first_page, text_index=0)
    return (write_batch(tmp_path / "batch", shot, item_id="reshoot-book"),
            write_batch(tmp_path / "retake", specs, item_id="reshoot-book"))


def page_tasks(names: list[str]) -> set[str]:
    return {n for n in names if n.split("-")[-1].startswith("p0")}


def test_a_reshoot_before_storage_redoes_only_that_page(tmp_path: Path, settings: Settings) -> None:
    batch, retake = books(tmp_path, "cmyk")
    first = run_ingest(batch, settings)
    assert not first.ok  # CMYK master: QC stops the batch before METS and storage
    work = first.layout.work
    old = digest_file(batch / "0002.tif")
    shutil.copyfile(retake / "0002.tif", batch / "0002.tif")

    with pytest.raises(MasterChangedError, match=r"0002.tif \(p0002\) is not the master checksummed.*shuying reshoot"):
        run_ingest(batch, settings)
    before = journal_length(work)
    result = reshoot(batch, settings, ["p0002"], operator="王芳", reason="CMYK export; RGB reshot")

    assert result.ok and result.version == 1
    assert page_tasks(started(work, before)) == {"PageQC-p0002", "Derivative-p0002", "Ocr-p0002"}
    stored = settings.home / "storage/primary/aips/reshoot-book/reshoot-book.v1"
    assert digest_file(stored / "data/masters/p0002.tif") == digest_file(retake / "0002.tif")
    mets = etree.parse(str(stored / "data/mets.xml"))
    assert xml_errors(mets, "mets") == []
    detail = mets.xpath("string(//premis:event[premis:eventType='capture']/premis:eventDetailInformation"
                        "/premis:eventDetail[starts-with(., 'reshoot')])", namespaces=NS)
    assert f"replaces SHA-256 {old.sha256} ({old.size} bytes)" in detail
    assert mets.xpath("//premis:agent[premis:agentName='王芳']", namespaces=NS)
    recorded = json.loads((work / "reshoots.json").read_text(encoding="utf-8"))["reshoots"]
    assert [(r["page_id"], r["operator"], r["done"]) for r in recorded] == [("p0002", "王芳", 1)]
    with pytest.raises(ReshootError, match="unchanged since its reshoot"):
        reshoot(batch, settings, ["p0002"], operator="王芳", reason="again")


def test_a_reshoot_after_storage_makes_version_2_and_keeps_version_1(tmp_path: Path, settings: Settings) -> None:
    batch, retake = books(tmp_path, "tilted")
    first = run_ingest(batch, settings, accept_warnings=True, operator="王芳", reason="tilt accepted for now")
    assert first.ok
    work, v1 = first.layout.work, settings.home / "storage/primary/aips/reshoot-book/reshoot-book.v1"
    v1_files = {p.relative_to(v1).as_posix(): digest_file(p) for p in v1.rglob("*") if p.is_file()}
    old_manifest = (first.layout.manifest).read_text(encoding="utf-8")
    shutil.copyfile(retake / "0002.tif", batch / "0002.tif")
    before = journal_length(work)

    result = reshoot(batch, settings, ["0002.tif"], operator="王芳", reason="page was tilted")

    assert result.ok and result.version == 2
    assert page_tasks(started(work, before)) == {"PageQC-p0002", "Derivative-p0002", "Ocr-p0002"}
    assert {p.relative_to(v1).as_posix(): digest_file(p) for p in v1.rglob("*") if p.is_file()} == v1_files
    v2 = open_archive(settings).catalogue.version("reshoot-book")
    assert v2.version == 2
    assert v2.files["data/masters/p0002.tif"].digests == digest_file(retake / "0002.tif")
    assert v2.files["data/masters/p0002.tif"].stored_in == 2
    assert v2.files["data/masters/p0003.tif"].stored_in == 1  # unchanged masters are not stored twice
    assert first.layout.manifest.read_text(encoding="utf-8") != old_manifest  # republished
    stored = json.loads(first.layout.stored.read_text(encoding="utf-8"))
    assert (stored["version"], stored["reshoot"]) == (2, ["p0002"])


def test_an_unchanged_page_or_no_operator_is_refused(tmp_path: Path, settings: Settings) -> None:
    batch, _ = books(tmp_path, "tilted")
    run_ingest(batch, settings, accept_warnings=True, operator="王芳", reason="tilt accepted")
    with pytest.raises(ReshootError, match="is the master already ingested"):
        reshoot(batch, settings, ["p0002"], operator="王芳", reason="x")
    with pytest.raises(ReshootError, match="needs who and why"):
        reshoot(batch, settings, ["p0002"], operator="", reason="x")
    with pytest.raises(ReshootError, match="no page 'p0009'"):
        reshoot(batch, settings, ["p0009"], operator="王芳", reason="x")


def test_a_re_ingest_without_work_never_claims_a_replaced_master_was_stored(tmp_path: Path,
                                                                             settings: Settings) -> None:
    batch, retake = books(tmp_path, "tilted")
    first = run_ingest(batch, settings, accept_warnings=True, operator="王芳", reason="tilt accepted")
    assert first.ok
    shutil.rmtree(first.layout.work)
    again = run_ingest(batch, settings, accept_warnings=True, operator="王芳", reason="tilt accepted")
    assert again.ok  # the same masters: accepted as already stored
    assert json.loads(again.layout.stored.read_text(encoding="utf-8"))["already_stored"] is True

    shutil.rmtree(first.layout.work)
    shutil.copyfile(retake / "0002.tif", batch / "0002.tif")
    third = run_ingest(batch, settings, accept_warnings=True, operator="王芳", reason="tilt accepted")
    assert not third.ok
    assert any("already stored as aips/reshoot-book/reshoot-book.v1 with other masters for p0002" in f["message"]
               and "shuying reshoot" in f["message"] for f in third.failures)


def test_the_cli_sends_a_replaced_master_to_reshoot_and_reshoot_stores_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    batch, retake = books(tmp_path, "tilted")
    home = tmp_path / "home"
    shuying = [sys.executable, "-c", "import cli; cli.main()", "--home", str(home)]
    gate = ["--accept-warnings", "--operator", "王芳", "--reason", "tilt accepted"]
    assert subprocess.run([*shuying, "ingest", str(batch), *gate], capture_output=True, text=True).returncode == 0
    shutil.copyfile(retake / "0002.tif", batch / "0002.tif")

    again = subprocess.run([*shuying, "ingest", str(batch), *gate], capture_output=True, text=True)
    assert again.returncode == 1 and "Ingested" not in again.stdout
    assert "0002.tif (p0002) is not the master checksummed at ingest" in again.stderr
    assert f"shuying reshoot {batch} p0002 --operator NAME --reason TEXT" in again.stderr

    done = subprocess.run([*shuying, "reshoot", str(batch), "p0002", "--operator", "王芳", "--reason", "tilted"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Reshot reshoot-book: p0002 now in reshoot-book.v2" in done.stdout


def test_a_reshoot_keeps_the_profile_the_item_was_ingested_with(tmp_path: Path, settings: Settings) -> None:
    """Before: the pages not reshot were judged again by the default profile (their QC ran again)."""
    batch, retake = books(tmp_path, "tilted")
    assert run_ingest(batch, settings, qc_profile="legacy", accept_warnings=True, operator="王芳",
                      reason="legacy scans").ok
    work = settings.work_dir / "reshoot-book"
    shutil.copyfile(retake / "0002.tif", batch / "0002.tif")
    before = journal_length(work)

    result = reshoot(batch, settings, ["p0002"], operator="王芳", reason="tilt reshot")

    assert result.ok and result.version == 2
    qc_run = {name for name in started(work, before) if name.startswith("PageQC")}
    assert qc_run == {"PageQC-p0002"}  # p0001 and p0003 keep their legacy-profile results
    assert json.loads((work / "ingest-request.json").read_text(encoding="utf-8"))["qc_profile"] == "legacy"
