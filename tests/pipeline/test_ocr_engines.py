"""The second engine (PP-OCRv6 via rapidocr 3.x), engine choice, page layout on hard pages,
double-line notes and the traditional/simplified mapping, with real engines on generated pages."""

from __future__ import annotations

import difflib
import importlib.metadata
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from lxml import etree
from PIL import Image, ImageDraw

from pipeline import ocr
from pipeline.errors import OcrError
from pipeline.ocr import layout
from pipeline.synthetic import (
    PAPER_RGB,
    VERMILION_RGB,
    FoldColumn,
    RenderedPage,
    load_cjk_font,
    render_vertical_page,
    sample_text_for_page,
)
from pipeline.validation import xml_errors
from pipeline.xmlns import NAMESPACES

ALTO = {"a": NAMESPACES["alto"]}
NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
BOX_TOLERANCE_PX = 6  # a blurred Kai page: thin brush-stroke tips fade below the ink threshold
REPO = Path(__file__).resolve().parents[2]


def _cer(truth: str, found: str) -> float:
    return 1 - difflib.SequenceMatcher(None, truth, found, autojunk=False).ratio()


@pytest.fixture(scope="module")
def ppocr_engine() -> ocr.Engine:
    return ocr.make_engine(ocr.OcrEngine.PPOCR, "chi_tra_vert")


@pytest.fixture(scope="module")
def vertical() -> RenderedPage:
    # Kai style, a vermilion seal over the text, 版心 at the left, slight blur and noise.
    return render_vertical_page(
        sample_text_for_page(3, 60),
        width=800,
        height=1100,
        columns=6,
        chars_per_column=10,
        style="kai",
        seal=True,
        seed=5,
        blur=0.6,
        noise=0.01,
    )


@pytest.fixture(scope="module")
def vertical_ppocr(vertical: RenderedPage, ppocr_engine: ocr.Engine) -> ocr.OcrPage:
    return ocr.recognise_page(
        np.asarray(vertical.image),
        lang="chi_tra_vert",
        vertical=True,
        engine=ppocr_engine,
        script=ocr.Script.TRADITIONAL,
        page="p0004.tif",
    )


# --- PP-OCR on vertical pages ----------------------------------------------------------------


def test_ppocr_reads_columns_right_to_left_without_the_fold_column(
    vertical: RenderedPage, vertical_ppocr: ocr.OcrPage
) -> None:
    truth = vertical.text.split("\n")
    assert len(vertical_ppocr.lines) == len(truth) == 6
    lefts = [line.box[0] for line in vertical_ppocr.lines]
    assert lefts == sorted(lefts, reverse=True)
    assert _cer(vertical.text.replace("\n", ""), ocr.to_text(vertical_ppocr).replace("\n", "")) < 0.15
    assert vertical.fold_text[:2] not in ocr.to_text(vertical_ppocr)


def test_ppocr_alto_boxes_land_on_the_rendered_glyphs(vertical: RenderedPage, vertical_ppocr: ocr.OcrPage) -> None:
    # Overlay the ALTO Strings on the page: each known character's box must sit on
    # the ink drawn for it, or search highlights land in the wrong place.
    tree = ocr.to_alto(vertical_ppocr, image_file="images/p0004.tif", now=NOW)
    assert xml_errors(tree, "alto") == []
    strings = tree.findall(".//a:String", ALTO)
    found = [(s.get("CONTENT"), tuple(int(s.get(k)) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))) for s in strings]
    truth = list(vertical.glyphs)
    matcher = difflib.SequenceMatcher(None, [g.char for g in truth], [c for c, _ in found], autojunk=False)
    pairs = [(truth[b.a + k], found[b.b + k]) for b in matcher.get_matching_blocks() for k in range(b.size)]
    assert len(pairs) >= 0.8 * len(truth)
    for expected, (_, (x, y, w, h)) in pairs:
        assert np.max(np.abs(np.subtract((x, y, x + w, y + h), expected.box))) <= BOX_TOLERANCE_PX


def test_ppocr_alto_and_parameters_name_the_engine_and_model(vertical_ppocr: ocr.OcrPage) -> None:
    tree = ocr.to_alto(vertical_ppocr, image_file="images/p0004.tif", now=NOW)
    software = tree.find(".//a:processingSoftware", ALTO)
    assert software.findtext("a:softwareName", namespaces=ALTO) == "ppocr"
    assert software.findtext("a:softwareVersion", namespaces=ALTO).startswith(importlib.metadata.version("rapidocr"))
    assert "PP-OCRv6_rec_small" in software.findtext("a:applicationDescription", namespaces=ALTO)
    assert vertical_ppocr.parameters["engine"] == "ppocr"
    assert vertical_ppocr.parameters["script"] == "traditional"
    assert not vertical_ppocr.needs_review()


def test_ppocr_text_stays_traditional(vertical_ppocr: ocr.OcrPage) -> None:
    # PP-OCR's dictionary lacks 說, 從, 則 …; their simplified forms must not reach the text.
    text = ocr.to_text(vertical_ppocr)
    assert not set(text) & set("说从则论语时学习乐为与谓无贵")


def test_ppocr_timeout_names_the_page(vertical: RenderedPage, ppocr_engine: ocr.Engine) -> None:
    with pytest.raises(OcrError, match=r"^p0005\.tif: OCR timed out after 0 s$"):
        ocr.recognise_page(
            np.asarray(vertical.image),
            lang="chi_tra_vert",
            vertical=True,
            engine=ppocr_engine,
            timeout=0,
            page="p0005.tif",
        )


def test_a_missing_ppocr_package_says_how_to_install_it(tmp_path: Path) -> None:
    # A stand-in package that fails to import, ahead of the real one on sys.path.
    (tmp_path / "rapidocr").mkdir()
    (tmp_path / "rapidocr" / "__init__.py").write_text("raise ImportError('not installed')\n")
    code = (
        "from pipeline import ocr\nfrom pipeline.errors import OcrError\n"
        "try:\n    ocr.make_engine(ocr.OcrEngine.PPOCR, 'chi_tra_vert')\n"
        "except OcrError as exc:\n    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": f"{tmp_path}:{REPO}", "PATH": "/usr/bin:/bin"},
    ).stdout
    assert out.strip() == (
        "the PP-OCR engine needs the rapidocr package (pip install rapidocr)"
    )


# --- pages without text ----------------------------------------------------------------------


@pytest.mark.parametrize("engine", list(ocr.OcrEngine))
def test_a_page_that_is_all_seal_has_no_text(engine: ocr.OcrEngine) -> None:
    # A vermilion 白文 seal filling the page: the red channel sees paper.
    page = Image.new("RGB", (500, 600), PAPER_RGB)
    draw = ImageDraw.Draw(page)
    draw.rectangle((40, 40, 460, 560), fill=VERMILION_RGB)
    font = load_cjk_font(150)
    for i, ch in enumerate("書影珍藏"):
        draw.text((340 - (i // 2) * 180, 180 + (i % 2) * 240), ch, font=font, fill=PAPER_RGB, anchor="mm")
    result = ocr.recognise_page(
        np.asarray(page), lang="chi_tra_vert", vertical=True, engine=ocr.make_engine(engine, "chi_tra_vert")
    )
    assert result.lines == ()
    assert not result.needs_review()


def test_review_flag_follows_mean_confidence() -> None:
    glyph = ocr.OcrGlyph("學", (0, 0, 10, 10), 0.5)
    line = ocr.OcrLine("學", (0, 0, 10, 10), 0.5, (glyph,))
    page = ocr.OcrPage.of_lines(20, 20, (line,))
    assert page.needs_review() and page.needs_review(0.6)
    assert not page.needs_review(0.4)
    assert not ocr.OcrPage(20, 20).needs_review()  # nothing read: a blank page, not a bad one


# --- layout: broken rules, double-line notes -------------------------------------------------


def test_columns_are_found_when_the_rules_are_broken() -> None:
    page = render_vertical_page(
        sample_text_for_page(5, 48),
        width=700,
        height=1000,
        columns=6,
        chars_per_column=8,
        fold_column=FoldColumn.NONE,
        seed=9,
    )
    pixels = np.array(page.image)
    ink = (pixels[:, :, 0] < 160).astype(np.uint8)
    tall = cv2.getStructuringElement(cv2.MORPH_RECT, (1, 300))
    rules = cv2.dilate(cv2.morphologyEx(ink, cv2.MORPH_OPEN, tall), np.ones((1, 3), np.uint8)).astype(bool)
    # Worn blocks print rules as dashes: take out 20 rows in every 45.
    gaps = (np.arange(pixels.shape[0]) % 45 >= 25)[:, None]
    pixels[rules & gaps] = PAPER_RGB
    columns = layout.find_columns(layout.clean_page(pixels[:, :, 0]))
    assert len(columns) == 6
    for index, column in enumerate(columns):
        glyphs = page.glyphs[index * 8 : (index + 1) * 8]
        expected = (
            min(g.box[0] for g in glyphs),
            min(g.box[1] for g in glyphs),
            max(g.box[2] for g in glyphs),
            max(g.box[3] for g in glyphs),
        )
        assert np.max(np.abs(np.subtract(column.box, expected))) <= 6


def _page_with_notes() -> tuple[np.ndarray, list[str]]:
    """Draw three ruled columns; the first has a title then a double-line note (双行小注)."""
    width, height, pitch, em, small = 520, 1040, 140, 88, 44
    page = Image.new("RGB", (width, height), PAPER_RGB)
    draw = ImageDraw.Draw(page)
    draw.rectangle((20, 20, width - 20, height - 20), outline=(30, 26, 24), width=4)
    for x in (width - 20 - pitch, width - 20 - 2 * pitch):
        draw.line([(x, 20), (x, height - 20)], fill=(30, 26, 24), width=2)
    big, little = load_cjk_font(em), load_cjk_font(small)
    centre = width - 20 - pitch // 2
    title, right, left = "四書說約", "江南進士家", "藏本十二卷"
    for i, ch in enumerate(title):
        draw.text((centre, 80 + i * 104), ch, font=big, fill=(30, 26, 24), anchor="mm")
    for i, (r, left_ch) in enumerate(zip(right, left)):
        y = 80 + len(title) * 104 - 24 + i * 52
        draw.text((centre + 30, y), r, font=little, fill=(30, 26, 24), anchor="mm")
        draw.text((centre - 30, y), left_ch, font=little, fill=(30, 26, 24), anchor="mm")
    body = ["子曰學而時習之不亦", "有朋自遠方來不亦樂"]
    for c, text in enumerate(body):
        for i, ch in enumerate(text):
            draw.text((centre - (c + 1) * pitch, 80 + i * 104), ch, font=big, fill=(30, 26, 24), anchor="mm")
    return np.asarray(page), [title, right, left, *body]


def test_double_line_notes_are_split_and_read_right_half_first() -> None:
    pixels, _ = _page_with_notes()
    columns = layout.find_columns(layout.clean_page(pixels[:, :, 0]))
    assert len(columns) == 3
    segments = layout.split_notes(columns[0])
    assert [s.note for s in segments] == [False, True, True]
    main, right, left = segments
    assert right.box[0] > left.box[2] and right.box[1] >= main.box[3] - 2


def test_double_line_notes_come_in_reading_order(ppocr_engine: ocr.Engine) -> None:
    pixels, truth = _page_with_notes()
    result = ocr.recognise_page(
        pixels, lang="chi_tra_vert", vertical=True, engine=ppocr_engine, script=ocr.Script.TRADITIONAL
    )
    assert [line.note for line in result.lines] == [False, True, True, False, False]
    assert _cer("".join(truth), ocr.to_text(result).replace("\n", "")) < 0.15


# --- engine choice and script --------------------------------------------------------------


@pytest.mark.parametrize(
    ("material", "languages", "override", "expected"),
    [
        ("ancient_book", ("lzh",), None, ocr.OcrEngine.PPOCR),
        ("ancient_book", ("lzh",), "auto", ocr.OcrEngine.PPOCR),
        ("ancient_book", ("lzh",), "tesseract", ocr.OcrEngine.TESSERACT),
        ("republican", ("zh-Hant",), None, ocr.OcrEngine.PPOCR),
        ("republican", ("zh-Hans",), None, ocr.OcrEngine.PPOCR),
        ("republican", ("zh-Hans",), "Tesseract", ocr.OcrEngine.TESSERACT),
        ("other", (), None, ocr.OcrEngine.TESSERACT),
        ("ancient_book", ("lzh", "ko"), None, ocr.OcrEngine.TESSERACT),  # PP-OCR's model has no Hangul
        ("ancient_book", ("lzh", "ko"), "ppocr", ocr.OcrEngine.PPOCR),  # an explicit choice stands
    ],
)
def test_choose_engine(
    material: str, languages: tuple[str, ...], override: str | None, expected: ocr.OcrEngine
) -> None:
    assert ocr.choose_engine(material, languages, override=override) is expected


def test_configured_engine_per_material_and_script_beats_the_default() -> None:
    configured = {"ancient_book": "tesseract", "republican/simplified": "tesseract"}
    assert ocr.choose_engine("ancient_book", ("lzh",), configured=configured) is ocr.OcrEngine.TESSERACT
    assert ocr.choose_engine("republican", ("zh-Hans",), configured=configured) is ocr.OcrEngine.TESSERACT
    assert ocr.choose_engine("republican", ("zh-Hant",), configured=configured) is ocr.OcrEngine.PPOCR


def test_an_unknown_engine_is_refused_with_the_choices() -> None:
    with pytest.raises(OcrError) as caught:
        ocr.choose_engine("ancient_book", ("lzh",), override="abbyy")
    assert str(caught.value) == "--ocr-engine: unknown OCR engine 'abbyy' (choose auto, tesseract, ppocr)"


def test_plan_for_a_woodblock_batch() -> None:
    plan = ocr.plan_ocr(("lzh", "zh-Hant"), "vertical-rl", "ancient_book")
    assert plan == ocr.OcrPlan(ocr.OcrEngine.PPOCR, "chi_tra_vert", True, ocr.Script.TRADITIONAL,
                               ocr.PageLayout.COLUMNS)


@pytest.mark.parametrize(
    ("material", "direction", "layout"),
    [
        ("ancient_book", "vertical-rl", ocr.PageLayout.COLUMNS),
        ("ancient_book", "horizontal-lr", ocr.PageLayout.ENGINE),
        ("republican", "vertical-rl", ocr.PageLayout.BLOCKS),
        ("republican", "horizontal-lr", ocr.PageLayout.BLOCKS),
        ("other", "horizontal-lr", ocr.PageLayout.ENGINE),
    ],
)
def test_periodicals_are_laid_out_in_blocks_and_books_in_columns(
    material: str, direction: str, layout: ocr.PageLayout
) -> None:
    assert ocr.plan_ocr(("zh-Hant",), direction, material).layout is layout


@pytest.mark.parametrize(
    ("languages", "script"),
    [
        (("lzh",), "traditional"),
        (("zh-Hant",), "traditional"),
        (("zh-Hans",), "simplified"),
        (("zh-CN",), "simplified"),
        (("ko",), "other"),
        ((), "traditional"),
    ],
)
def test_script_of(languages: tuple[str, ...], script: str) -> None:
    assert ocr.script_of(languages).value == script


@pytest.mark.parametrize(
    ("script", "guarded", "text", "expected"),
    [
        # Simplified-only forms PP-OCR returns become traditional …
        ("traditional", True, "静黄陈说则论", "靜黃陳說則論"),
        # … but characters that are traditional too stay: 云 (詩云), 于, 后, 余, 干, 里.
        ("traditional", True, "詩云于后余干里", "詩云于后余干里"),
        ("traditional", False, "詩云", "詩雲"),  # unguarded OpenCC would break them
        ("simplified", True, "學習時于", "学习时于"),
        ("simplified", True, "简体", "简体"),
        ("other", True, "静說", "静說"),
    ],
)
def test_script_mapper(script: str, guarded: bool, text: str, expected: str) -> None:
    assert ocr.ScriptMapper(ocr.Script(script), guarded=guarded).map_text(text) == expected


def test_alto_of_a_page_with_notes_is_valid(ppocr_engine: ocr.Engine) -> None:
    pixels, _ = _page_with_notes()
    result = ocr.recognise_page(pixels, lang="chi_tra_vert", vertical=True, engine=ppocr_engine)
    tree = ocr.to_alto(result, image_file="images/p0001.tif", now=NOW)
    assert xml_errors(tree, "alto") == []
    assert etree.tostring(tree).count(b"<TextLine") == len(result.lines)
