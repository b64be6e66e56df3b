"""Ingest's OCR choices and review, with the real Luigi, PP-OCR and Tesseract on a generated book:
`--ocr-engine`, a page's batch.json `ocr_engine`, re-reading with another engine, and the OCR
review in ocr.json, ocr-review.json, qc.html and the `shuying ingest` output."""

from __future__ import annotations

import json
from pathlib import Path

import luigi
import pytest
from click.testing import CliRunner, Result
from lxml import html as lxml_html

import cli
from pipeline.batch import load_batch
from pipeline.errors import OcrError
from storage_config.settings import SETTINGS, Settings
from workflows.ingest import QC_PARAMS, Ocr
from workflows.run import ingest_task, run_ingest

CLEAN_ENV = {f"SHUYING_{s.name.upper()}": None for s in SETTINGS}


def shuying(home: Path, *args: str) -> Result:
    return CliRunner(env=CLEAN_ENV).invoke(cli.cli, ["--home", str(home), *args])


def set_page_engine(batch_dir: Path, index: int, engine: str) -> None:
    path = batch_dir / "batch.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["pages"][index]["ocr_engine"] = engine
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")


def ocr_record(settings: Settings, page_id: str) -> dict:
    return json.loads((settings.work_dir / "test-book/pages" / page_id / "ocr/ocr.json").read_text(encoding="utf-8"))


def ocr_runs(settings: Settings, page_id: str) -> int:
    journal = (settings.work_dir / "test-book/journal.log").read_text(encoding="utf-8").splitlines()
    return sum(1 for line in journal if line.split("\t")[3:5] == [f"Ocr-{page_id}", "success"])


def test_ingest_help_shows_the_ocr_engine_option(home: Path) -> None:
    result = shuying(home, "ingest", "--help")

    assert result.exit_code == 0
    assert "--ocr-engine auto|tesseract|ppocr" in result.output
    assert "shuying ingest /scans/GJ-0001 --ocr-engine tesseract" in result.output


def test_unknown_ocr_engine_is_one_line_and_runs_nothing(small_batch: Path, home: Path) -> None:
    result = shuying(home, "ingest", str(small_batch), "--ocr-engine", "abbyy")

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "Error: --ocr-engine: unknown OCR engine 'abbyy' (choose auto, tesseract, ppocr)"]
    assert not (home / "work/test-book/journal.log").exists()


@pytest.mark.slow
def test_a_page_naming_tesseract_in_batch_json_is_read_by_tesseract(small_batch: Path, settings: Settings) -> None:
    set_page_engine(small_batch, 2, "tesseract")

    result = run_ingest(small_batch, settings)

    assert result.ok, result.failures
    assert [ocr_record(settings, p)["engine"] for p in ("p0001", "p0002", "p0003")] == ["ppocr", "ppocr", "tesseract"]
    assert result.ocr_review["engines"] == {"p0001": "ppocr", "p0002": "ppocr", "p0003": "tesseract"}
    record = ocr_record(settings, "p0003")
    assert {"glyphs", "blocks", "review_reasons", "low_confidence_glyphs", "low_glyph_threshold",
            "empty_reason", "needs_review", "mean_confidence", "review_threshold", "lines"} <= set(record)
    assert record["glyphs"] > 100 and record["blocks"]["text"] >= 1
    sheet = (settings.work_dir / "test-book/qc.html").read_text(encoding="utf-8")
    assert f"OCR: <b>{result.ocr_review['needs_review']}</b> of 3 pages need review" in sheet


@pytest.mark.slow
def test_another_engine_reads_a_page_again(small_batch: Path, settings: Settings) -> None:
    params = {k: v for k, v in ingest_task(load_batch(small_batch), settings).param_kwargs.items()
              if k not in QC_PARAMS}

    def read_p0002(engine: str) -> None:
        assert luigi.build([Ocr(**{**params, "ocr_engine": engine}, page_id="p0002")], local_scheduler=True,
                           no_lock=True)

    read_p0002("auto")
    read_p0002("auto")  # the same engine again: nothing to do
    assert (ocr_record(settings, "p0002")["engine"], ocr_runs(settings, "p0002")) == ("ppocr", 1)

    read_p0002("tesseract")

    assert (ocr_record(settings, "p0002")["engine"], ocr_runs(settings, "p0002")) == ("tesseract", 2)


@pytest.mark.slow
def test_another_engine_for_a_packaged_item_is_refused(small_batch: Path, settings: Settings) -> None:
    assert run_ingest(small_batch, settings).ok

    with pytest.raises(OcrError) as caught:
        run_ingest(small_batch, settings, ocr_engine="tesseract")

    assert str(caught.value) == (
        "test-book: METS is already built from pages read by another engine than the one now chosen "
        "(p0001, p0002, p0003); a re-run does not change packaged text (choose the engine used before, "
        "with --ocr-engine or batch.json ocr_engine)")


@pytest.mark.slow
def test_a_page_needing_review_is_listed_with_its_reasons_doctored_record(small_batch: Path, home: Path,
                                                                          settings: Settings) -> None:
    assert run_ingest(small_batch, settings).ok
    # Generated pages read well; make p0002's record say what a doubtful read would.
    path = settings.work_dir / "test-book/pages/p0002/ocr/ocr.json"
    record = {**ocr_record(settings, "p0002"), "needs_review": True, "mean_confidence": 0.42,
              "review_reasons": ["mean confidence 0.42 below 0.75", "57 glyphs below 0.50"]}
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    (settings.work_dir / "test-book/ocr-review.json").unlink()

    result = shuying(home, "ingest", str(small_batch))

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == [
        f"OCR review: 1 of 3 pages need review (contact sheet: {settings.work_dir / 'test-book/qc.html'})",
        "  p0002 卷一 葉一上 (0002.tif, ppocr): mean confidence 0.42 below 0.75; 57 glyphs below 0.50"]
    tree = lxml_html.fromstring((settings.work_dir / "test-book/qc.html").read_text(encoding="utf-8"))
    assert [f.get("id") for f in tree.xpath("//figure[@data-ocr-review='true']")] == ["p0002"]
    assert len(tree.xpath("//img")) == 3  # the redrawn sheet keeps every thumbnail


@pytest.mark.slow
def test_an_engine_failing_on_one_page_fails_that_page_only(small_batch: Path, settings: Settings, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # A real failure, no mock: the page asks for Tesseract, whose models are not where it looks.
    set_page_engine(small_batch, 2, "tesseract")
    (tmp_path / "no-tessdata").mkdir()
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path / "no-tessdata"))

    result = run_ingest(small_batch, settings)

    assert not result.ok
    failed = {f["task"]: f for f in result.failures}
    assert [t for t in failed if t.startswith("Ocr-")] == ["Ocr-p0003"]
    assert "Tesseract language 'chi_tra_vert' is not installed" in json.dumps(failed["Ocr-p0003"], ensure_ascii=False)
    assert ocr_record(settings, "p0002")["engine"] == "ppocr"  # the other text page was read
    assert ocr_runs(settings, "p0002") == 1
