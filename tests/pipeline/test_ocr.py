"""OCR with the real Tesseract on synthetic pages whose text and glyph boxes are known.

PP-OCR, engine choice, double-line notes and script mapping are in test_ocr_engines.py.
"""

from __future__ import annotations

import difflib
from datetime import UTC, datetime

import numpy as np
import pytest
from lxml import etree

from pipeline.errors import OcrError
from pipeline.ocr import (
    OcrGlyph,
    OcrLine,
    OcrPage,
    check_languages_installed,
    choose_languages,
    glyphs,
    layout,
    recognise_page,
    to_alto,
    to_text,
)
from pipeline.synthetic import (
    FoldColumn,
    RenderedPage,
    render_horizontal_page,
    render_vertical_page,
    sample_text_for_page,
)
from pipeline.validation import xml_errors
from pipeline.xmlns import NAMESPACES
from tests.pipeline.ocr_metrics import cer as _cer

NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
ALTO = {"a": NAMESPACES["alto"]}
BOX_TOLERANCE_PX = 4




@pytest.fixture(scope="module")
def vertical() -> RenderedPage:
    # 5 columns of 9 characters in a double frame with column rules, on paper, with a
    # vermilion seal over the text.
    text = sample_text_for_page(0, 45)
    return render_vertical_page(
        text,
        width=700,
        height=1000,
        columns=5,
        chars_per_column=9,
        fold_column=FoldColumn.NONE,
        seal=True,
        seed=1,
    )


@pytest.fixture(scope="module")
def vertical_ocr(vertical: RenderedPage) -> OcrPage:
    return recognise_page(np.asarray(vertical.image), lang="chi_tra_vert", vertical=True, page="p0001.tif")


@pytest.fixture(scope="module")
def horizontal() -> RenderedPage:
    return render_horizontal_page(sample_text_for_page(1, 120), width=1000, height=700, lines=6, chars_per_line=20)


@pytest.fixture(scope="module")
def horizontal_ocr(horizontal: RenderedPage) -> OcrPage:
    return recognise_page(np.asarray(horizontal.image), lang="chi_tra", vertical=False, page="p0002.tif")


def _alto(page: OcrPage) -> etree._ElementTree:
    return to_alto(page, image_file="p0001.tif", now=NOW)


# --- languages -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("languages", "direction", "expected"),
    [
        (("lzh",), "vertical-rl", "chi_tra_vert"),
        (("zh-Hant",), "vertical-rl", "chi_tra_vert"),
        (("zh-Hant",), "horizontal-lr", "chi_tra"),
        (("lzh",), "horizontal-lr", "chi_tra"),
        (("zh-Hans",), "horizontal-lr", "chi_sim"),
        (("zh-Hans",), "vertical-rl", "chi_sim_vert"),
        (("zh-CN",), "horizontal-lr", "chi_sim"),
        (("lzh", "ko"), "vertical-rl", "chi_tra_vert+kor_vert"),
        (("ko", "lzh"), "vertical-rl", "kor_vert+chi_tra_vert"),  # in the order declared
        (("en", "ja"), "vertical-rl", "jpn_vert+eng"),  # the vertical model leads
        (("ja",), "horizontal-lr", "jpn"),
        (("jpn",), "vertical-rl", "jpn_vert"),
        (("de",), "horizontal-lr", "deu"),
        (("ger",), "horizontal-lr", "deu"),
        (("de-Latf",), "horizontal-lr", "frk"),  # German set in Fraktur
        (("ru", "fr"), "horizontal-lr", "rus+fra"),
        (("la", "de"), "vertical-rl", "lat+deu"),  # no vertical Latin models: read as lines
        (("zh-Hant", "lzh", "zh"), "horizontal-lr", "chi_tra"),
        (("zh-Hant", "en"), "horizontal-lr", "chi_tra+eng"),
        ((), "vertical-rl", "chi_tra_vert"),
    ],
)
def test_choose_languages(languages: tuple[str, ...], direction: str, expected: str) -> None:
    assert choose_languages(languages, direction) == expected


def test_choose_languages_rejects_an_unknown_language() -> None:
    with pytest.raises(OcrError, match="no Tesseract model is known for language 'xx-Latn'"):
        choose_languages(("lzh", "xx-Latn"), "vertical-rl")


def test_installed_languages_pass_the_check() -> None:
    check_languages_installed("chi_tra_vert+chi_tra+chi_sim+kor")


def test_a_missing_language_names_the_debian_package() -> None:
    # qaa is reserved for local use in ISO 639, so no Tesseract model will ever have it.
    with pytest.raises(OcrError) as caught:
        check_languages_installed("chi_tra_vert+qaa_vert")
    assert str(caught.value) == (
        "Tesseract language 'qaa_vert' is not installed (apt-get install tesseract-ocr-qaa-vert)"
    )


# --- vertical pages ------------------------------------------------------------------------


def test_vertical_page_text_is_mostly_recognised(vertical: RenderedPage, vertical_ocr: OcrPage) -> None:
    found = to_text(vertical_ocr).replace("\n", "")
    assert _cer(vertical.text.replace("\n", ""), found) < 0.25
    assert vertical_ocr.vertical and vertical_ocr.language == "chi_tra_vert"
    assert vertical_ocr.parameters["psm"] == "5"
    assert 0.5 < vertical_ocr.mean_confidence <= 1.0


def test_vertical_columns_are_read_right_to_left(vertical: RenderedPage, vertical_ocr: OcrPage) -> None:
    truth_columns = vertical.text.split("\n")
    assert len(vertical_ocr.lines) == len(truth_columns) == 5
    lefts = [line.box[0] for line in vertical_ocr.lines]
    assert lefts == sorted(lefts, reverse=True)
    for truth, line in zip(truth_columns, vertical_ocr.lines):
        assert difflib.SequenceMatcher(None, truth, line.text).ratio() > 0.6, (truth, line.text)


def test_vertical_glyph_boxes_match_the_rendered_glyphs(vertical: RenderedPage, vertical_ocr: OcrPage) -> None:
    # Tesseract's vertical models give bogus x: boxes must come from the ink instead.
    truth = list(vertical.glyphs)
    found = [g for line in vertical_ocr.lines for g in line.glyphs]
    matcher = difflib.SequenceMatcher(None, [g.char for g in truth], [g.char for g in found], autojunk=False)
    pairs = [(truth[b.a + k], found[b.b + k]) for b in matcher.get_matching_blocks() for k in range(b.size)]
    assert len(pairs) >= 0.75 * len(truth)
    for expected, glyph in pairs:
        assert np.max(np.abs(np.subtract(glyph.box, expected.box))) <= BOX_TOLERANCE_PX, (glyph, expected)


def test_vertical_alto_is_valid_and_in_reading_order(vertical_ocr: OcrPage) -> None:
    tree = _alto(vertical_ocr)
    assert xml_errors(tree, "alto") == []
    lines = tree.findall(".//a:TextLine", ALTO)
    assert [line.get("BASEDIRECTION") for line in lines] == ["ttb"] * 5
    assert tree.find(".//a:TextBlock", ALTO).get("BASEDIRECTION") == "ttb"
    hpos = [int(line.get("HPOS")) for line in lines]
    assert hpos == sorted(hpos, reverse=True)
    text = "\n".join("".join(s.get("CONTENT") for s in line.findall("a:String", ALTO)) for line in lines) + "\n"
    assert text == to_text(vertical_ocr)


def test_every_alto_string_has_a_real_box_inside_the_page(vertical_ocr: OcrPage) -> None:
    strings = _alto(vertical_ocr).findall(".//a:String", ALTO)
    assert len(strings) >= 30
    for string in strings:
        x, y, w, h = (int(string.get(k)) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
        assert w > 0 and h > 0
        assert 0 <= x and x + w <= vertical_ocr.width and 0 <= y and y + h <= vertical_ocr.height
        assert len(string.get("CONTENT")) == 1  # one String per CJK glyph
        assert 0.0 <= float(string.get("WC")) <= 1.0


def test_the_fold_column_is_left_out_of_the_text() -> None:
    page = render_vertical_page(
        sample_text_for_page(2, 18), width=500, height=700, columns=3, chars_per_column=6, seed=4
    )
    result = recognise_page(np.asarray(page.image), lang="chi_tra_vert", vertical=True)
    # The 版心 (with its solid 魚尾) is page furniture: its label is no part of the text.
    assert len(result.lines) == 3
    fold_left = min(g.box[0] for g in page.glyphs)
    assert all(line.box[0] >= fold_left - BOX_TOLERANCE_PX for line in result.lines)
    assert page.fold_text[:2] not in to_text(result)


# --- horizontal pages ----------------------------------------------------------------------


def test_horizontal_page_is_recognised_line_by_line(horizontal: RenderedPage, horizontal_ocr: OcrPage) -> None:
    assert _cer(horizontal.text.replace("\n", ""), to_text(horizontal_ocr).replace("\n", "")) < 0.2
    assert len(horizontal_ocr.lines) == 6
    tops = [line.box[1] for line in horizontal_ocr.lines]
    assert tops == sorted(tops)


def test_horizontal_glyph_boxes_match_the_rendered_glyphs(horizontal: RenderedPage, horizontal_ocr: OcrPage) -> None:
    truth = list(horizontal.glyphs)
    found = [g for line in horizontal_ocr.lines for g in line.glyphs]
    matcher = difflib.SequenceMatcher(None, [g.char for g in truth], [g.char for g in found], autojunk=False)
    pairs = [(truth[b.a + k], found[b.b + k]) for b in matcher.get_matching_blocks() for k in range(b.size)]
    assert len(pairs) >= 0.75 * len(truth)
    for expected, glyph in pairs:
        assert np.max(np.abs(np.subtract(glyph.box, expected.box))) <= BOX_TOLERANCE_PX, (glyph, expected)


def test_horizontal_alto_is_valid_without_a_vertical_direction(horizontal_ocr: OcrPage) -> None:
    tree = _alto(horizontal_ocr)
    assert xml_errors(tree, "alto") == []
    assert tree.find(".//a:TextLine", ALTO).get("BASEDIRECTION") is None
    settings = dict(item.split("=", 1) for item in tree.find(".//a:processingStepSettings", ALTO).text.split("; "))
    assert (settings["engine"], settings["lang"], settings["psm"]) == ("tesseract", "chi_tra", "4")
    assert settings["seal_suppression"] == "on"


# --- blank pages, bad input, failures ------------------------------------------------------


@pytest.mark.parametrize("vertical_text", [True, False])
def test_a_blank_page_gives_no_lines_and_valid_alto(vertical_text: bool) -> None:
    paper = np.full((400, 300, 3), (236, 226, 204), dtype=np.uint8)
    result = recognise_page(paper, lang="chi_tra_vert", vertical=vertical_text)
    assert result.lines == ()
    assert (result.width, result.height) == (300, 400)
    assert result.mean_confidence == 0.0
    assert to_text(result) == ""
    tree = _alto(result)
    assert xml_errors(tree, "alto") == []
    assert tree.find(".//a:TextBlock", ALTO) is None


def test_a_missing_model_fails_naming_the_page(vertical: RenderedPage) -> None:
    with pytest.raises(OcrError, match=r"^p0009\.tif: Tesseract failed: .*qaa_vert"):
        recognise_page(np.asarray(vertical.image), lang="qaa_vert", vertical=True, page="p0009.tif")


@pytest.mark.parametrize("timeout", [0, 0.001])
def test_a_timeout_fails_naming_the_page(vertical: RenderedPage, timeout: float) -> None:
    # 0: the budget is gone before the first column; 0.001 s: Tesseract is killed mid-run.
    with pytest.raises(OcrError, match=rf"^p0007\.tif: OCR timed out after {timeout:g} s$"):
        recognise_page(
            np.asarray(vertical.image), lang="chi_tra_vert", vertical=True, timeout=timeout, page="p0007.tif"
        )


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((10, 10), dtype=np.uint16),
        np.zeros((10, 10, 5), dtype=np.uint8),
        np.zeros((0, 0), dtype=np.uint8),
    ],
    ids=["16-bit", "5-bands", "empty"],
)
def test_unusable_pixels_are_refused_naming_the_page(image: np.ndarray) -> None:
    with pytest.raises(OcrError, match=r"^p0003\.tif: expected a uint8 grey or RGB image"):
        recognise_page(image, lang="chi_tra", vertical=False, page="p0003.tif")


# --- ALTO from a known page (no OCR engine) ------------------------------------------------


def _known_page() -> OcrPage:
    column = OcrLine(
        "學而",
        (100, 20, 140, 100),
        0.9,
        (OcrGlyph("學", (100, 20, 140, 58), 0.95), OcrGlyph("而", (101, 62, 139, 100), 0.85)),
    )
    words = OcrLine(
        "Lun yu",
        (10, 120, 90, 140),
        0.7,
        (OcrGlyph("Lun", (10, 120, 40, 140), 0.7), OcrGlyph("yu", (50, 120, 90, 140), 0.7)),
    )
    return OcrPage.of_lines(
        200,
        160,
        (column, words),
        engine_version="5.3.0",
        language="chi_tra_vert",
        parameters={"lang": "chi_tra_vert", "psm": "5"},
        vertical=True,
    )


def test_alto_records_source_image_engine_settings_and_coordinates_note() -> None:
    tree = _alto(_known_page())
    assert xml_errors(tree, "alto") == []
    root = tree.getroot()
    assert root.get("SCHEMAVERSION") == "4.4"
    assert root.findtext("a:Description/a:MeasurementUnit", namespaces=ALTO) == "pixel"
    assert root.findtext(".//a:sourceImageInformation/a:fileName", namespaces=ALTO) == "p0001.tif"
    step = root.find("a:Description/a:Processing", ALTO)
    assert step.findtext("a:processingDateTime", namespaces=ALTO) == "2024-05-06T07:08:09+00:00"
    assert step.findtext("a:processingStepSettings", namespaces=ALTO) == "lang=chi_tra_vert; psm=5"
    assert step.findtext("a:processingSoftware/a:softwareName", namespaces=ALTO) == "tesseract"
    assert step.findtext("a:processingSoftware/a:softwareVersion", namespaces=ALTO) == "5.3.0"
    assert "pixel space of the access derivative p0001.tif" in step.findtext(
        "a:processingStepDescription", namespaces=ALTO
    )
    page = root.find("a:Layout/a:Page", ALTO)
    assert (page.get("WIDTH"), page.get("HEIGHT"), page.get("PHYSICAL_IMG_NR")) == ("200", "160", "1")


def test_alto_strings_carry_boxes_confidence_and_spaces_only_between_words() -> None:
    lines = _alto(_known_page()).findall(".//a:TextLine", ALTO)
    first = [(el.tag.split("}")[1], dict(el.attrib)) for el in lines[0]]
    assert first == [
        (
            "String",
            {
                "ID": "STRING_1_1_1",
                "CONTENT": "學",
                "WC": "0.950",
                "HPOS": "100",
                "VPOS": "20",
                "WIDTH": "40",
                "HEIGHT": "38",
            },
        ),
        (
            "String",
            {
                "ID": "STRING_1_1_2",
                "CONTENT": "而",
                "WC": "0.850",
                "HPOS": "101",
                "VPOS": "62",
                "WIDTH": "38",
                "HEIGHT": "38",
            },
        ),
    ]
    assert [el.tag.split("}")[1] for el in lines[1]] == ["String", "SP", "String"]
    assert to_text(_known_page()) == "學而\nLun yu\n"


def test_alto_is_deterministic_for_a_given_clock() -> None:
    assert etree.tostring(_alto(_known_page())) == etree.tostring(_alto(_known_page()))


def test_alto_refuses_units_other_than_pixels() -> None:
    with pytest.raises(ValueError, match="measurement_unit 'mm10' is not supported"):
        to_alto(_known_page(), image_file="p0001.tif", measurement_unit="mm10", now=NOW)


# --- layout (no OCR engine) ----------------------------------------------------------------


def test_find_columns_cuts_between_the_rules_right_to_left(vertical: RenderedPage) -> None:
    grey = np.asarray(vertical.image)[:, :, 0]
    columns = layout.find_columns(layout.clean_page(grey))
    assert len(columns) == 5
    per_column = 9
    for index, column in enumerate(columns):
        glyphs = vertical.glyphs[index * per_column : (index + 1) * per_column]
        x0, y0 = min(g.box[0] for g in glyphs), min(g.box[1] for g in glyphs)
        x1, y1 = max(g.box[2] for g in glyphs), max(g.box[3] for g in glyphs)
        assert np.max(np.abs(np.subtract(column.box, (x0, y0, x1, y1)))) <= BOX_TOLERANCE_PX


def test_glyph_spans_pair_in_order_when_counts_agree() -> None:
    ink = np.zeros((100, 10), dtype=bool)
    for start in (0, 40, 80):
        ink[start : start + 10] = True
    # Engine centres far off (as vertical models report them) do not reorder the cells.
    assert glyphs.glyph_spans(ink, 500, 600, [590.0, 510.0, 550.0]) == [
        (500, 510),
        (540, 550),
        (580, 590),
    ]


def test_glyph_spans_share_the_gap_when_a_glyph_has_no_cell() -> None:
    ink = np.zeros((100, 10), dtype=bool)
    ink[0:10] = True
    ink[90:100] = True
    spans = glyphs.glyph_spans(ink, 0, 100, [5.0, 30.0, 60.0, 95.0])
    assert spans[0] == (0, 10) and spans[-1] == (90, 100)
    assert spans[1:3] == [(10, 50), (50, 90)]
    assert all(b > a for a, b in spans)
