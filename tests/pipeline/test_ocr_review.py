"""OCR review a technician can act on: the reasons a page is flagged, the ocr.json fields, the
item's review list, the contact sheet's "OCR review" badge, and which engine reads a page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import html as lxml_html

from pipeline import ocr
from pipeline.batch import ScriptDirection, load_batch
from pipeline.errors import BatchError
from pipeline.ocr.engines import page_override
from pipeline.ocr.review import page_summary, review_list
from pipeline.qc import Status
from pipeline.qc_report import batch_report, contact_sheet
from pipeline.sample_book import write_sample_batch
from schemas import load_json_schema
from tests.pipeline.test_contact_sheet import book, page_qc
from tests.pipeline.test_qc_helpers import TEST_PROFILE


def line_of(confidences: list[float]) -> ocr.OcrLine:
    glyphs = tuple(ocr.OcrGlyph("學", (0, 10 * i, 10, 10 * i + 10), c) for i, c in enumerate(confidences))
    return ocr.OcrLine("學" * len(glyphs), (0, 0, 10, 10 * len(glyphs)), ocr.model.mean(confidences), glyphs)


def test_a_doubtful_page_says_why_in_words() -> None:
    page = ocr.OcrPage.of_lines(20, 40, (line_of([0.9, 0.4, 0.3, 0.9]),))

    assert page.needs_review()
    assert page.review_reasons() == ("mean confidence 0.62 below 0.75", "2 glyphs below 0.50")


def test_unread_ink_is_a_reason_even_with_nothing_read() -> None:
    page = ocr.OcrPage(20, 20, unread_ink=True)

    assert page.review_reasons() == ("ink but no text read",)


@pytest.mark.parametrize("confidences", [[0.95, 0.3, 0.99, 0.98], [], [0.8]])
def test_reasons_are_given_exactly_when_review_is_needed(confidences: list[float]) -> None:
    # A few doubtful glyphs on a well-read page are no reason alone; a blank page is not a bad one.
    page = ocr.OcrPage.of_lines(20, 40, (line_of(confidences),) if confidences else ())

    assert page.review_reasons() == ()
    assert not page.needs_review()


def test_page_summary_counts_glyphs_and_blocks_by_role() -> None:
    text = ocr.OcrBlock(ocr.BlockRole.TEXT, (0, 0, 10, 40), (line_of([0.9, 0.6]),), True)
    fold = ocr.OcrBlock(ocr.BlockRole.FOLD, (10, 0, 20, 40), (line_of([0.2]),), True)
    page = ocr.OcrPage(20, 40, (text, text, fold), vertical=True)

    summary = page_summary(page)

    # The 版心's glyph counts but does not judge the page: its 0.2 is left out of the mean.
    assert summary == {"lines": 2, "glyphs": 5, "blocks": {"text": 2, "fold": 1},
                       "mean_confidence": pytest.approx(0.75), "needs_review": False, "review_threshold": 0.75,
                       "review_reasons": [], "low_confidence_glyphs": 0,
                       "low_glyph_threshold": ocr.LOW_GLYPH_CONFIDENCE, "empty_reason": "",
                       "fold_text": page.fold_text, "leaf_number": None}


def test_a_doubtful_text_with_its_fold_gives_reasons_for_the_text_only() -> None:
    text = ocr.OcrBlock(ocr.BlockRole.TEXT, (0, 0, 10, 40), (line_of([0.7, 0.4]),), True)
    fold = ocr.OcrBlock(ocr.BlockRole.FOLD, (10, 0, 20, 40), (line_of([0.2, 0.1]),), True)
    page = ocr.OcrPage(20, 40, (text, fold), vertical=True)

    assert page_summary(page)["review_reasons"] == ["mean confidence 0.55 below 0.75", "1 glyph below 0.50"]


def review_of_three_pages() -> tuple[dict, list]:
    pages = book(ScriptDirection.VERTICAL_RL, ["封面", "卷一 葉一上", "卷一 葉一下"]).pages
    records = {"p0001": {"skipped": "cover"},
               "p0002": {"engine": "tesseract", "needs_review": True, "mean_confidence": 0.61,
                         "review_reasons": ["mean confidence 0.61 below 0.75", "12 glyphs below 0.50"]},
               "p0003": {"engine": "ppocr", "needs_review": False, "mean_confidence": 0.97, "review_reasons": []}}
    return review_list(pages, records), pages


def test_review_list_names_each_flagged_page_with_its_reasons() -> None:
    review, _ = review_of_three_pages()

    assert review == {
        "pages": 3, "needs_review": 1, "engines": {"p0001": "", "p0002": "tesseract", "p0003": "ppocr"},
        "review": [{"page_id": "p0002", "file": "0002.tif", "label": "卷一 葉一上", "engine": "tesseract",
                    "mean_confidence": 0.61, "reasons": ["mean confidence 0.61 below 0.75", "12 glyphs below 0.50"]}],
    }


def test_contact_sheet_badges_the_pages_whose_ocr_needs_review() -> None:
    review, _ = review_of_three_pages()
    batch = book(ScriptDirection.VERTICAL_RL, ["封面", "卷一 葉一上", "卷一 葉一下"])
    results = [page_qc(p, Status.PASS) for p in batch.pages]
    report = batch_report(batch, results, TEST_PROFILE, now="2026-01-01T00:00:00+00:00")

    document = contact_sheet(report, {r.page_id: r.thumbnail for r in results}, right_to_left=True,
                             ocr_review=review)

    tree = lxml_html.fromstring(document)
    assert [f.get("id") for f in tree.xpath("//figure[@data-ocr-review='true']")] == ["p0002"]
    assert tree.xpath("//figure[@id='p0002']//span[@class='badge ocr-review']/text()") == ["OCR review"]
    assert [li.text_content() for li in tree.xpath("//figure[@id='p0002']//li[@class='ocr']")] == [
        "OCR mean confidence 0.61 below 0.75", "OCR 12 glyphs below 0.50"]
    assert tree.xpath("//section[contains(@class, 'ocr-review')]//li")[0].text_content() == (
        "p0002 卷一 葉一上 (0002.tif, tesseract): mean confidence 0.61 below 0.75; 12 glyphs below 0.50")
    assert "OCR: 1 of 3 pages need review" in tree.xpath("//p[@class='summary']")[0].text_content()


def test_contact_sheet_without_ocr_review_is_unchanged() -> None:
    batch = book(ScriptDirection.VERTICAL_RL, ["葉一"])
    results = [page_qc(p, Status.PASS) for p in batch.pages]
    report = batch_report(batch, results, TEST_PROFILE, now="2026-01-01T00:00:00+00:00")

    document = contact_sheet(report, {r.page_id: r.thumbnail for r in results}, right_to_left=True)

    assert "OCR" not in lxml_html.fromstring(document).text_content()


# --- which engine reads a page ---------------------------------------------------------------


@pytest.mark.parametrize(("requested", "page", "expected"), [
    ("tesseract", "ppocr", "tesseract"),  # --ocr-engine wins over everything
    ("auto", "tesseract", "tesseract"),  # then the page's batch.json ocr_engine
    ("auto", "", "auto"),  # then the configured or default engine
    ("auto", "auto", "auto"),
])
def test_engine_override_order(requested: str, page: str, expected: str) -> None:
    assert page_override(requested, page) == expected


def test_batch_page_can_name_its_ocr_engine(tmp_path: Path) -> None:
    batch_dir = write_sample_batch(tmp_path / "b", pages=2, width=300, height=400, item_id="eng")
    doc = json.loads((batch_dir / "batch.json").read_text(encoding="utf-8"))
    doc["pages"][1]["ocr_engine"] = "tesseract"
    (batch_dir / "batch.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    assert [p.ocr_engine for p in load_batch(batch_dir).pages] == ["", "tesseract"]


def test_unknown_page_ocr_engine_names_the_batch_file_and_page(tmp_path: Path) -> None:
    batch_dir = write_sample_batch(tmp_path / "b", pages=2, width=300, height=400, item_id="eng")
    doc = json.loads((batch_dir / "batch.json").read_text(encoding="utf-8"))
    doc["pages"][1]["ocr_engine"] = "abbyy"
    (batch_dir / "batch.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    with pytest.raises(BatchError) as caught:
        load_batch(batch_dir)

    assert str(caught.value) == ("batch.json: pages[1].ocr_engine: 'abbyy' is not an OCR engine "
                                 "(use auto, tesseract or ppocr)")


def test_batch_schema_names_every_engine() -> None:
    schema = load_json_schema("batch")
    allowed = schema["properties"]["pages"]["items"]["properties"]["ocr_engine"]["enum"]
    assert allowed == [ocr.AUTO, *(e.value for e in ocr.OcrEngine)]
