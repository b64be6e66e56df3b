"""Task identity: a changed setting re-runs exactly the tasks whose output it changes, says why in
journal.log, and an unchanged one re-runs nothing; with the real Luigi, QC, PP-OCR and Tesseract on a
generated book."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import luigi
import pytest

from pipeline.batch import load_batch
from pipeline.qc.profile import PROFILE_DIR
from storage_config.settings import Settings
from workflows.identity import (
    Identity,
    describe_change,
    make_identity,
    merge_settings,
    rerun_reason,
    stamps_of,
    write_stamp,
)
from workflows.ingest import OcrReview
from workflows.run import PackagedSettingsError, ingest_task, run_ingest

# --- the pure part: digests and reasons ----------------------------------------------------------


def test_a_digest_changes_with_an_own_setting_and_with_an_input_made_otherwise() -> None:
    qc = make_identity({"qc_profile": "strict"})
    other_qc = make_identity({"qc_profile": "ancient-books"})

    assert len(qc.digest) == 12
    assert make_identity({"qc_profile": "strict"}) == qc  # a pure function of the values
    assert other_qc.digest != qc.digest
    assert make_identity({}, [qc]).digest != make_identity({}, [other_qc]).digest  # downstream follows
    assert make_identity({}, [qc, other_qc]) == make_identity({}, [other_qc, qc])  # order of inputs is no setting


def test_merged_settings_name_every_value_and_the_digest_tells_page_mixes_apart() -> None:
    pages = [make_identity({"ocr_engine": e}) for e in ("ppocr", "tesseract")]
    swapped = [make_identity({"ocr_engine": e}) for e in ("tesseract", "ppocr")]

    assert merge_settings([{"ocr_engine": "ppocr"}, {"ocr_engine": "tesseract"}, {"base_url": "x"}]) == {
        "base_url": "x", "ocr_engine": "ppocr, tesseract"}
    assert make_identity({}, pages).settings == {"ocr_engine": "ppocr, tesseract"}
    assert make_identity({}, pages) == make_identity({}, swapped)  # the same set of page identities
    assert make_identity({}, pages[:1]).digest != make_identity({}, pages).digest


def test_the_reason_names_what_changed_and_a_digest_only_when_the_name_did_not() -> None:
    strict = {"qc_profile": "strict", "qc_profile_digest": "aaa"}

    assert describe_change(strict, {"qc_profile": "ancient-books", "qc_profile_digest": "bbb"}) == (
        "qc_profile ancient-books (was strict)")
    assert describe_change(strict, {"qc_profile": "strict", "qc_profile_digest": "ccc"}) == (
        "qc_profile_digest ccc (was aaa)")  # the profile file was edited
    assert describe_change({"qc_operator": ""}, {"qc_operator": "王芳", "x": "1"}) == (
        "qc_operator 王芳 (was ''); x 1 (was unset)")
    assert rerun_reason(None, strict).startswith("settings changed: the output in place has no record")


def test_stamps_are_told_apart_by_step(tmp_path: Path) -> None:
    write_stamp(tmp_path, "Ocr-p0003", Identity("a" * 12, {"ocr_engine": "ppocr"}))
    write_stamp(tmp_path, "Ocr-p0003r", Identity("b" * 12, {"ocr_engine": "ppocr"}))

    assert [p.name for p in stamps_of(tmp_path, "Ocr-p0003")] == [f"Ocr-p0003.{'a' * 12}.json"]
    assert stamps_of(tmp_path / "missing", "Ocr-p0003") == []


# --- real ingests ----------------------------------------------------------------------------------


def journal(settings: Settings) -> list[list[str]]:
    path = settings.work_dir / "test-book/journal.log"
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


def started(lines: list[list[str]]) -> set[str]:
    return {parts[3] for parts in lines if parts[4] == "start"}


def reruns(lines: list[list[str]]) -> dict[str, str]:
    return {parts[3]: parts[5] for parts in lines if parts[4] == "rerun"}


def strict_profile(tmp_path: Path) -> Path:
    """ancient-books asking for 600 ppi: the 400 ppi sample book fails its resolution check."""
    document = json.loads((PROFILE_DIR / "ancient-books.json").read_text(encoding="utf-8"))
    document["name"], document["checks"]["resolution"]["min_ppi"] = "strict", 600
    path = tmp_path / "strict.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.mark.slow
def test_a_new_profile_re_runs_qc_and_lets_the_batch_on(small_batch: Path, settings: Settings,
                                                         tmp_path: Path) -> None:
    stopped = run_ingest(small_batch, settings, qc_profile=strict_profile(tmp_path))
    assert not stopped.ok
    assert "below 600 ppi" in next(f["message"] for f in stopped.failures if f["task"] == "BatchQC")
    before = len(journal(settings))

    done = run_ingest(small_batch, settings, qc_profile="ancient-books")

    assert done.ok, done.failures  # before task identity: BatchQC failed again on the stale 600 ppi finding
    qc_json = json.loads((settings.work_dir / "test-book/qc.json").read_text(encoding="utf-8"))
    assert qc_json["profile"]["name"] == "ancient-books"
    lines = journal(settings)[before:]
    assert reruns(lines) == {f"PageQC-{p}": "settings changed: qc_profile ancient-books (was strict)"
                             for p in ("p0001", "p0002", "p0003")}
    assert not {"ValidateBatch", "ChecksumMasters", "Derivative-p0002", "Ocr-p0002"} & started(lines)
    stamps = sorted(p.name.split(".")[0] for p in (settings.work_dir / "test-book/identity").glob("PageQC-*"))
    assert stamps == ["PageQC-p0001", "PageQC-p0002", "PageQC-p0003"]  # the strict ones are gone


@pytest.mark.slow
def test_a_new_ocr_engine_re_runs_ocr_and_what_follows_but_not_qc_or_derivatives(small_batch: Path,
                                                                                 settings: Settings) -> None:
    params = ingest_task(load_batch(small_batch), settings).param_kwargs
    assert luigi.build([OcrReview(**params)], local_scheduler=True, no_lock=True)  # read by ppocr, no METS yet
    before = len(journal(settings))

    result = run_ingest(small_batch, settings, ocr_engine="tesseract")

    assert result.ok, result.failures
    lines = journal(settings)[before:]
    redone = started(lines)
    assert {"Ocr-p0001", "Ocr-p0002", "Ocr-p0003", "OcrReview", "BuildMets", "PublishManifest"} <= redone
    assert not {s for s in redone if s.startswith(("PageQC", "Derivative", "ValidateBatch", "Checksum", "BatchQC"))}
    assert reruns(lines) == {"Ocr-p0001": "settings changed: ocr_engine tesseract (was ppocr)",
                             "Ocr-p0002": "settings changed: ocr_engine tesseract (was ppocr)",
                             "Ocr-p0003": "settings changed: ocr_engine tesseract (was ppocr)",
                             "OcrReview": "settings changed: ocr_engine tesseract (was ppocr)"}
    assert result.ocr_review["engines"] == {"p0001": "tesseract", "p0002": "tesseract", "p0003": "tesseract"}


@pytest.mark.slow
def test_the_same_settings_however_spelled_re_run_nothing(small_batch: Path, settings: Settings) -> None:
    assert run_ingest(small_batch, settings).ok
    size = (settings.work_dir / "test-book/journal.log").stat().st_size
    mets = settings.work_dir / "test-book/mets.xml"
    mtime = mets.stat().st_mtime_ns

    # What auto and the material's default profile chose, now named: the same effective settings.
    again = run_ingest(small_batch, settings, qc_profile="ancient-books", ocr_engine="ppocr")

    assert again.ok
    assert (settings.work_dir / "test-book/journal.log").stat().st_size == size
    assert mets.stat().st_mtime_ns == mtime


@pytest.mark.slow
def test_a_packaged_item_refuses_a_new_profile_and_republishes_for_a_new_base_url(small_batch: Path,
                                                                                  settings: Settings) -> None:
    assert run_ingest(small_batch, settings).ok
    aip = settings.work_dir / "test-book/aip/test-book.v1"
    aip_mtime = aip.stat().st_mtime_ns
    before = len(journal(settings))

    with pytest.raises(PackagedSettingsError) as caught:
        run_ingest(small_batch, settings, qc_profile="legacy")
    moved = run_ingest(small_batch, replace(settings, base_url="https://iiif.example.org"))

    assert str(caught.value) == (
        "test-book: METS is already built with other settings (qc_profile legacy (was ancient-books)); a re-run "
        "does not change a packaged item (run again with the settings used before)")
    assert moved.ok, moved.failures
    lines = journal(settings)[before:]
    assert started(lines) == {"PublishManifest"}  # the AIP names no server: nothing else changes
    assert reruns(lines) == {"PublishManifest": "settings changed: base_url https://iiif.example.org "
                                                f"(was {settings.base_url})"}
    manifest = json.loads((settings.publish_dir / "test-book/manifest.json").read_text(encoding="utf-8"))
    assert manifest["id"].startswith("https://iiif.example.org/")
    assert aip.stat().st_mtime_ns == aip_mtime


@pytest.mark.slow
def test_an_item_ingested_before_stamps_keeps_its_outputs(small_batch: Path, settings: Settings) -> None:
    assert run_ingest(small_batch, settings).ok
    identity = settings.work_dir / "test-book/identity"
    shutil.rmtree(identity)  # as a work area made before task identity
    size = (settings.work_dir / "test-book/journal.log").stat().st_size

    assert run_ingest(small_batch, settings).ok

    assert (settings.work_dir / "test-book/journal.log").stat().st_size == size
    stamp = json.loads(next(identity.glob("BuildMets.*.json")).read_text(encoding="utf-8"))
    assert stamp["adopted"] is True and stamp["settings"]["qc_profile"] == "ancient-books"


@pytest.mark.slow
def test_a_bare_re_run_of_a_packaged_item_reuses_the_options_it_was_ingested_with(small_batch: Path,
                                                                                 settings: Settings) -> None:
    """Before: `shuying ingest BATCH` after `shuying ingest BATCH --profile legacy` was refused as a new profile."""
    assert run_ingest(small_batch, settings, qc_profile="legacy").ok
    before = len(journal(settings))

    again = run_ingest(small_batch, settings)

    assert again.ok, again.failures
    assert started(journal(settings)[before:]) == set()  # nothing made again
    recorded = json.loads((settings.work_dir / "test-book/ingest-request.json").read_text(encoding="utf-8"))
    assert recorded["qc_profile"] == "legacy" and recorded["ocr_engine"] == "auto"


@pytest.mark.slow
def test_a_new_access_tier_in_batch_json_republishes_and_is_in_the_staff_log(small_batch: Path,
                                                                            settings: Settings) -> None:
    from pipeline.staff_log import StaffLog, log_path

    assert run_ingest(small_batch, settings).ok
    document = json.loads((small_batch / "batch.json").read_text(encoding="utf-8"))
    before_tier = document["item"].get("access_level", "public")
    document["item"]["access_level"] = "restricted" if before_tier != "restricted" else "public"
    (small_batch / "batch.json").write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    before = len(journal(settings))

    assert run_ingest(small_batch, settings).ok

    assert started(journal(settings)[before:]) == {"PublishManifest"}
    published = json.loads((settings.publish_dir / "test-book/access.json").read_text(encoding="utf-8"))
    assert published["access_level"] == document["item"]["access_level"]
    [entry] = [e for e in StaffLog(log_path(settings.home)).entries() if e.action == "tier-change"]
    assert entry.subject == "test-book" and f"{before_tier} -> {published['access_level']}" in entry.detail
