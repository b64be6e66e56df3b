"""`shuying qc` at the station, and the QC gate of `shuying ingest`: stop before storage, let through
with who and why, and record that in qc.json and the PREMIS event of the stored AIP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from lxml import etree

import cli
from pipeline.batch import load_batch
from pipeline.qc import BUILTIN_PROFILES
from pipeline.qc.profile import PROFILE_DIR
from pipeline.sample_book import write_sample_batch
from pipeline.validation import json_errors
from storage_config.settings import SETTINGS, Settings
from tests.pipeline.test_qc_helpers import Spec, text_specs, write_batch
from workflows.qc_run import STATION_QC_DIR, run_qc
from workflows.run import run_ingest

CLEAN_ENV = {f"SHUYING_{s.name.upper()}": None for s in SETTINGS}
PREMIS = {"premis": "http://www.loc.gov/premis/v3"}
needs_qc_command = pytest.mark.skipif("qc" not in cli.cli.commands, reason="`shuying qc` not wired into cli.py")
needs_gate_options = pytest.mark.skipif(
    "overrides" not in {p.name for p in cli.cli.commands["ingest"].params}, reason="ingest QC options not wired into cli.py")


def shuying(home: Path, *args: str) -> Result:
    return CliRunner(env=CLEAN_ENV).invoke(cli.cli, ["--home", str(home), *args])


@pytest.fixture
def cmyk_batch(tmp_path: Path) -> Path:
    """A cover and two text pages; the first text page (p0002) is a CMYK master."""
    specs = [Spec("cover"), *text_specs(2)]
    specs[1] = Spec("text", specs[1].label, specs[1].skew, "cmyk", text_index=0)
    return write_batch(tmp_path / "cmyk", specs, item_id="cmyk-book")


# --- run_qc ----------------------------------------------------------------------------------


def test_run_qc_writes_the_report_and_sheet_beside_the_work_area(small_batch: Path, settings: Settings) -> None:
    result = run_qc(small_batch, settings)

    folder = settings.work_dir / "test-book" / STATION_QC_DIR
    assert (result.json_path, result.html_path) == (folder / "qc.json", folder / "qc.html")
    report = json.loads(result.json_path.read_text(encoding="utf-8"))
    assert report == result.report and json_errors(report, "qc-report") == []
    assert (report["status"], result.failed, result.summary) == ("pass", False, "3 pages: 3 pass, 0 warn, 0 fail")
    assert result.html_path.read_text(encoding="utf-8").count('<img src="data:image/jpeg;base64,') == 3
    assert report["profile"]["name"] == "ancient-books"  # chosen by material_type ancient_book


def test_run_qc_in_two_processes_agrees_with_one(cmyk_batch: Path, settings: Settings, tmp_path: Path) -> None:
    one = run_qc(cmyk_batch, settings, out_dir=tmp_path / "one")
    two = run_qc(cmyk_batch, settings, workers=2, out_dir=tmp_path / "two")

    assert one.failed and two.failed
    assert [p["results"] for p in one.report["pages"]] == [p["results"] for p in two.report["pages"]]
    assert one.report["reshoot"][0]["page_id"] == "p0002"


# --- shuying qc --------------------------------------------------------------------------------


@needs_qc_command
def test_qc_command_passes_a_clean_batch_and_says_where_the_sheet_is(small_batch: Path, home: Path) -> None:
    result = shuying(home, "qc", str(small_batch))

    folder = home / "work" / "test-book" / STATION_QC_DIR
    assert result.exit_code == 0, result.output
    assert result.stdout == (f"test-book: 3 pages: 3 pass, 0 warn, 0 fail\n"
                             f"  contact sheet: {folder / 'qc.html'}\n  report:        {folder / 'qc.json'}\n")


@needs_qc_command
def test_qc_command_exits_1_and_names_the_page_to_reshoot(cmyk_batch: Path, home: Path) -> None:
    result = shuying(home, "qc", str(cmyk_batch))

    assert result.exit_code == 1
    assert result.stdout.splitlines()[:2] == [
        "cmyk-book: 3 pages: 2 pass, 0 warn, 1 fail",
        ("  reshoot p0002 (0002.tif): colour_mode: CMYK master: re-export the raw capture as RGB "
         "(Adobe RGB 1998, eciRGB v2 or sRGB)")]
    assert (home / "work" / "cmyk-book" / STATION_QC_DIR / "qc.html").is_file()
    assert not (home / "storage").exists()


@needs_qc_command
def test_qc_profile_option_takes_a_name_or_a_file(tmp_path: Path, home: Path) -> None:
    batch = write_sample_batch(tmp_path / "b300", pages=2, width=900, height=1300, ppi=300, item_id="b300")
    document = json.loads((PROFILE_DIR / "ancient-books.json").read_text(encoding="utf-8"))
    document["name"], document["checks"]["resolution"]["min_ppi"] = "ours", 300
    (tmp_path / "ours.json").write_text(json.dumps(document), encoding="utf-8")

    default = shuying(home, "qc", str(batch))
    republican = shuying(home, "qc", str(batch), "--profile", "republican-documents")
    own = shuying(home, "qc", str(batch), "--profile", str(tmp_path / "ours.json"))

    assert default.exit_code == 1 and "effective resolution 300 ppi is below 400 ppi" in default.stdout
    assert republican.exit_code == 0, republican.output
    assert own.exit_code == 0, own.output


@needs_qc_command
def test_qc_refuses_an_unreadable_profile_as_a_usage_error(small_batch: Path, home: Path, tmp_path: Path) -> None:
    result = shuying(home, "qc", str(small_batch), "--profile", str(tmp_path / "missing.json"))

    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {tmp_path / 'missing.json'}: schema validation failed: "
                                    "cannot read QC profile")
    assert set(BUILTIN_PROFILES) == {"ancient-books", "republican-documents", "legacy"}


# --- the ingest gate -----------------------------------------------------------------------------


@pytest.mark.slow
def test_ingest_stops_before_storage_then_records_who_overrode_and_why(cmyk_batch: Path, settings: Settings,
                                                                       home: Path) -> None:
    stopped = run_ingest(cmyk_batch, settings)

    assert not stopped.ok
    message = next(f["message"] for f in stopped.failures if f["task"] == "BatchQC")
    assert message.splitlines()[1] == ("p0002 (0002.tif) colour_mode fail: CMYK master: re-export the raw capture "
                                       "as RGB (Adobe RGB 1998, eciRGB v2 or sRGB)")
    assert (home / "work" / "cmyk-book" / "qc.html").is_file()
    assert not (home / "work" / "cmyk-book" / "qc.json").exists()
    assert not (home / "storage").exists() or not any((home / "storage").rglob("*.tif"))

    done = run_ingest(cmyk_batch, settings, overrides=("p0002:colour_mode",), operator="王芳",
                      reason="the only surviving copy; CMYK export kept, RGB reshoot scheduled")

    assert done.ok, done.failures
    stored = home / "storage/primary/aips/cmyk-book/cmyk-book.v1/data"
    qc_json = json.loads((stored / "metadata/qc.json").read_text(encoding="utf-8"))
    assert json_errors(qc_json, "qc-report") == []
    assert qc_json["gate"]["passed"] and qc_json["gate"]["operator"] == "王芳"
    assert [(f["page_id"], f["check"]) for f in qc_json["gate"]["overridden"]] == [("p0002", "colour_mode")]
    mets = etree.parse(str(stored / "mets.xml"))
    event = mets.xpath("//premis:event[premis:eventDetailInformation/premis:eventDetail"
                       "[starts-with(., 'image quality control')]]", namespaces=PREMIS)[0]
    roles = event.xpath("premis:linkingAgentIdentifier[premis:linkingAgentRole='authorizer']"
                        "/premis:linkingAgentIdentifierValue/text()", namespaces=PREMIS)
    note = event.xpath("string(.//premis:eventOutcomeDetailNote)", namespaces=PREMIS)
    authorizer = mets.xpath("//premis:agent[premis:agentIdentifier/premis:agentIdentifierValue=$id]/premis:agentName"
                            "/text()", namespaces=PREMIS, id=roles[0] if roles else "")
    assert authorizer == ["王芳"]
    assert note.endswith("1 QC finding(s) let through for storage by 王芳 (reason: the only surviving copy; "
                         "CMYK export kept, RGB reshoot scheduled): p0002:colour_mode")


@pytest.mark.slow
@needs_gate_options
def test_ingest_command_stops_at_the_gate_and_goes_on_with_an_override(cmyk_batch: Path, home: Path) -> None:
    stopped = shuying(home, "ingest", str(cmyk_batch))
    anonymous = shuying(home, "ingest", str(cmyk_batch), "--override", "p0002:colour_mode")
    done = shuying(home, "ingest", str(cmyk_batch), "--override", "0002.tif:colour_mode",
                   "--operator", "王芳", "--reason", "RGB reshoot scheduled")

    assert stopped.exit_code == 1
    assert "Error: QC stopped the ingest before storage: 1 check(s) not passed" in stopped.stderr
    assert anonymous.exit_code == 2
    assert "Error: --operator/--reason: letting QC findings through needs who and why" in anonymous.stderr
    assert done.exit_code == 0, done.stderr
    assert done.stdout.startswith("Ingested cmyk-book: 3 pages\n")
    assert load_batch(cmyk_batch).item_id == "cmyk-book"


@needs_gate_options
def test_override_check_needs_who_and_why_like_any_override(small_batch: Path, home: Path) -> None:
    anonymous = shuying(home, "ingest", str(small_batch), "--override-check", "resolution")
    unknown = shuying(home, "ingest", str(small_batch), "--override-check", "sharpness", "--operator", "王芳",
                      "--reason", "legacy")

    assert anonymous.exit_code == 2
    assert "Error: --operator/--reason: letting QC findings through needs who and why" in anonymous.stderr
    assert unknown.exit_code == 2
    assert "--override: '*:sharpness': no check 'sharpness'" in unknown.stderr
    assert not (home / "work" / "test-book").exists()  # refused before any processing


@pytest.mark.slow
@needs_gate_options
def test_a_legacy_bitonal_batch_ingests_under_legacy_and_with_batch_wide_overrides(tmp_path: Path) -> None:
    from tests.pipeline.test_qc_legacy import write_legacy_batch

    legacy_home, strict_home = tmp_path / "legacy-home", tmp_path / "strict-home"
    as_legacy = shuying(legacy_home, "ingest", str(write_legacy_batch(tmp_path / "legacy")))
    strict_batch = write_legacy_batch(tmp_path / "strict", qc_profile="")
    stopped = shuying(strict_home, "ingest", str(strict_batch))
    overridden = shuying(strict_home, "ingest", str(strict_batch), "--override-check", "colour_mode",
                         "--override-check", "bit_depth", "--override-check", "resolution",
                         "--operator", "王芳", "--reason", "migrated 2009 scans, originals withdrawn")

    assert as_legacy.exit_code == 0, as_legacy.stderr
    stored = legacy_home / "storage/primary/aips/legacy-book/legacy-book.v1/data"
    qc_json = json.loads((stored / "metadata/qc.json").read_text(encoding="utf-8"))
    assert (qc_json["profile"]["name"], len(qc_json["relaxed"]), qc_json["gate"]["overridden"]) == ("legacy", 3, [])
    assert (legacy_home / "publish/legacy-book/manifest.json").is_file()
    assert stopped.exit_code == 1
    assert "p0001 (0001.tif) colour_mode fail: bitonal master (1-bit black and white" in stopped.stderr
    assert "exposure" not in stopped.stderr
    assert overridden.exit_code == 0, overridden.stderr
    mets = etree.parse(str(strict_home / "storage/primary/aips/legacy-book/legacy-book.v1/data/mets.xml"))
    note = mets.xpath("string(//premis:event[premis:eventDetailInformation/premis:eventDetail"
                      "[starts-with(., 'image quality control')]]//premis:eventOutcomeDetailNote)", namespaces=PREMIS)
    # The last page is 8-bit grey: it fails colour_mode (bitonal) but not bit_depth.
    assert note.endswith("8 QC finding(s) let through for storage by 王芳 (reason: migrated 2009 scans, originals "
                         "withdrawn): p0001:colour_mode, p0001:bit_depth, p0001:resolution, p0002:colour_mode, "
                         "p0002:bit_depth, p0002:resolution, p0003:colour_mode, p0003:resolution")
