"""Woodblock leaves with PP-OCRv6: the 版心 as its own block, double leaves, rule residue, and pages
that hold no Chinese columns (blank, a picture, Latin print, 1-bit and 16-bit scans, tiny and huge)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import pyvips
from lxml import etree
from PIL import Image, ImageDraw, ImageFont

from pipeline import images, ocr
from pipeline.ocr import layout
from pipeline.ocr.cleanup import mostly_latin, why_empty, without_residue
from pipeline.ocr.numerals import chinese_number, leaf_number
from pipeline.synthetic import (
    FOLD_LABEL,
    INK_RGB,
    FoldColumn,
    RenderedPage,
    load_cjk_font,
    render_vertical_page,
    sample_text_for_page,
)
from pipeline.validation import xml_errors
from pipeline.xmlns import NAMESPACES
from tests.pipeline.ocr_metrics import cer as _cer

ALTO = {"a": NAMESPACES["alto"]}
NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
W, H = 900, 1200
LATIN_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")




@pytest.fixture(scope="module")
def engine() -> ocr.Engine:
    return ocr.make_engine(ocr.OcrEngine.PPOCR, "chi_tra_vert")


def _read(pixels: np.ndarray, engine: ocr.Engine, **options: object) -> ocr.OcrPage:
    return ocr.recognise_page(pixels, lang="chi_tra_vert", vertical=True, engine=engine,
                              script=ocr.Script.TRADITIONAL, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def leaf() -> RenderedPage:
    return render_vertical_page(sample_text_for_page(2, 96), width=W, height=H, columns=8, chars_per_column=12,
                                fold_column=FoldColumn.RIGHT, seed=3, noise=0.01)


@pytest.fixture(scope="module")
def leaf_read(leaf: RenderedPage, engine: ocr.Engine) -> ocr.OcrPage:
    return _read(np.asarray(leaf.image), engine)


# --- the 版心 ------------------------------------------------------------------------------


def test_the_fold_column_is_its_own_block_outside_the_text(leaf: RenderedPage, leaf_read: ocr.OcrPage) -> None:
    folds = [b for b in leaf_read.blocks if b.role is ocr.BlockRole.FOLD]

    assert len(folds) == 1
    assert _cer(FOLD_LABEL, folds[0].text) <= 0.25  # 論語卷一 in small type
    assert leaf_read.fold_text == folds[0].text
    assert FOLD_LABEL[:2] not in ocr.to_text(leaf_read)
    assert _cer(leaf.text, ocr.to_text(leaf_read)) <= 0.05
    # The 版心 stands right of every text column on this leaf.
    assert all(folds[0].box[0] >= b.box[2] for b in leaf_read.blocks if b.in_flow)


def test_alto_puts_the_fold_beside_the_flow_with_its_tag(leaf_read: ocr.OcrPage) -> None:
    tree = ocr.to_alto(leaf_read, image_file="images/p0001.tif", now=NOW)

    assert xml_errors(tree, "alto") == []
    fold_tag = tree.xpath("//a:LayoutTag[@LABEL='fold']/@ID", namespaces=ALTO)
    assert len(fold_tag) == 1
    fold_blocks = tree.xpath(f"//a:TextBlock[@TAGREFS='{fold_tag[0]}']/@ID", namespaces=ALTO)
    aside = tree.xpath("//a:ReadingOrder/a:UnorderedGroup/a:ElementRef/@REF", namespaces=ALTO)
    flow = tree.xpath("//a:ReadingOrder/a:OrderedGroup/a:ElementRef/@REF", namespaces=ALTO)
    assert fold_blocks and set(fold_blocks) <= set(aside) and not set(fold_blocks) & set(flow)
    assert all(b.get("BASEDIRECTION") == "ttb" for b in tree.xpath("//a:TextBlock", namespaces=ALTO))


def test_an_uncut_double_leaf_reads_the_right_half_first(engine: ocr.Engine) -> None:
    spread = render_vertical_page(sample_text_for_page(5, 120), width=1400, height=1000, columns=12,
                                  chars_per_column=10, fold_column=FoldColumn.CENTRE, seed=8)
    result = _read(np.asarray(spread.image), engine)

    folds = [b for b in result.blocks if b.role is ocr.BlockRole.FOLD]
    assert len(folds) == 1 and 0.4 * 1400 < folds[0].box[0] < 0.6 * 1400
    assert _cer(spread.text, ocr.to_text(result)) <= 0.08  # 曰 read as 日 is most of it
    # Every column right of the fold comes before every column left of it.
    flow = [b for b in result.blocks if b.in_flow]
    sides = [b.box[0] > folds[0].box[0] for b in flow]
    assert sides == sorted(sides, reverse=True) and any(sides) and not all(sides)


@pytest.mark.parametrize(("fold", "leaf_no"), [
    ("欽定四庫全書總目卷三十七四書類存目十四", 14),
    ("欽定四庫全書 卷三十七 二十", 20),
    ("論語卷一", None),  # 一 is the 卷, not a leaf
    ("三三一四書目", None),
    ("一〇五", 105),
    ("", None),
])
def test_the_leaf_number_is_the_numeral_that_closes_the_fold(fold: str, leaf_no: int | None) -> None:
    assert leaf_number(fold) == leaf_no


@pytest.mark.parametrize(("text", "value"), [("十", 10), ("十四", 14), ("三十七", 37), ("一百零五", 105),
                                             ("二千", 2000), ("四書", None), ("三三", 33), ("一一十", None)])
def test_chinese_numbers(text: str, value: int | None) -> None:
    assert chinese_number(text) == value


# --- rule residue --------------------------------------------------------------------------


def _line(chars: str, confidences: list[float] | None = None) -> ocr.OcrLine:
    confidences = confidences or [0.95] * len(chars)
    glyphs = tuple(ocr.OcrGlyph(ch, (0, 20 * i, 20, 20 * i + 20), c) for i, (ch, c) in enumerate(zip(chars, confidences)))
    return ocr.OcrLine(chars, (0, 0, 20, 20 * len(chars)), 0.95, glyphs)


def _block(*lines: ocr.OcrLine) -> ocr.OcrBlock:
    return ocr.OcrBlock(ocr.BlockRole.TEXT, ocr.model.union(ln.box for ln in lines), lines, True)


def test_rule_residue_never_reaches_the_text_of_a_woodblock_column() -> None:
    page = [_block(_line("子曰學|而時", None), _line("___"), _line("—＃"), _line("習之，", [0.9, 0.9, 0.3]))]

    kept = without_residue(page, woodblock=True)

    assert [line.text for b in kept for line in b.lines] == ["子曰學而時", "習之"]
    assert kept[0].lines[0].box == (0, 0, 20, 120)  # boxes follow the glyphs kept


def test_periodical_dashes_and_sure_commas_are_kept() -> None:
    page = [_block(_line("中華——民國，", [0.9] * 5 + [0.4]))]

    assert [ln.text for b in without_residue(page, woodblock=False) for ln in b.lines] == ["中華——民國，"]
    lone = [_block(_line("中華—民國｜"))]  # a lone dash and a stroke: where a rule crossed the line
    assert [ln.text for b in without_residue(lone, woodblock=False) for ln in b.lines] == ["中華民國"]
    assert [ln.text for b in without_residue([_block(_line("學。", [0.9, 0.95]))], woodblock=True)
            for ln in b.lines] == ["學。"]


def test_stray_marks_between_real_columns_are_dropped_on_a_ruled_leaf(leaf_read: ocr.OcrPage) -> None:
    text = ocr.to_text(leaf_read)
    assert not set(text) & set("_|｜丨—#＃")


# --- pages that are not columns of Chinese text --------------------------------------------


def test_a_blank_page_says_it_is_blank(engine: ocr.Engine) -> None:
    result = _read(np.full((H, W, 3), 236, np.uint8), engine)

    assert (result.blocks, result.empty_reason, result.needs_review()) == ((), "blank page: no ink", False)


def _picture() -> np.ndarray:
    picture = Image.new("RGB", (W, H), (236, 226, 204))
    draw = ImageDraw.Draw(picture)
    rng = np.random.default_rng(2)
    for _ in range(30):
        x, y, r = (int(v) for v in (rng.integers(150, W - 150), rng.integers(150, H - 150), rng.integers(30, 140)))
        draw.ellipse((x - r, y - r, x + r, y + r), outline=(40, 36, 30), width=int(rng.integers(3, 9)))
    draw.rectangle((300, 400, 600, 800), fill=(30, 26, 24))
    return np.asarray(picture)


def test_an_illustration_is_marked_and_given_no_invented_text(engine: ocr.Engine) -> None:
    result = _read(_picture(), engine)

    assert ocr.to_text(result) == "" and result.fold_text == ""
    assert result.empty_reason == "no text: the ink is an illustration"
    assert [r.kind for r in result.regions] == [ocr.RegionKind.ILLUSTRATION]
    tree = ocr.to_alto(result, image_file="images/p0001.tif", now=NOW)
    assert xml_errors(tree, "alto") == []
    assert len(tree.xpath("//a:Illustration", namespaces=ALTO)) == 1


def test_ink_like_text_that_nothing_read_needs_review() -> None:
    grey = np.full((H, W), 240, np.uint8)
    rng = np.random.default_rng(4)
    for row in range(40):  # a field of glyph-sized marks, as a faded page would leave (not aligned into rules)
        for col in range(8):
            y, x = 100 + row * 24 + int(rng.integers(0, 6)), 100 + col * 90 + int(rng.integers(0, 30))
            grey[y + 5 : y + 7, x : x + 12] = 30  # a cross of thin strokes, as a faint glyph leaves
            grey[y : y + 12, x + 5 : x + 7] = 30
    reason, unread, regions = why_empty(layout.clean_page(grey))

    assert unread and regions == ()
    assert reason.startswith("ink that looks like text") and "nothing was read" in reason
    page = ocr.OcrPage(W, H, empty_reason=reason, unread_ink=unread)
    assert page.needs_review() and page.review_reasons() == ("ink but no text read",)


def _latin_page() -> np.ndarray:
    page = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(LATIN_FONT), 36)
    for i in range(12):
        draw.text((60, 80 + 80 * i), "Catalogue of the Provincial Library", font=font, fill="black")
    return np.asarray(page)


@pytest.mark.skipif(not LATIN_FONT.is_file(), reason="fonts-dejavu-core not installed")
def test_latin_print_in_a_vertical_book_is_read_as_lines_of_words(engine: ocr.Engine) -> None:
    result = _read(_latin_page(), engine)

    lines = ocr.to_text(result).splitlines()
    assert len(lines) == 12
    assert sum(line.split() == ["Catalogue", "of", "the", "Provincial", "Library"] for line in lines) >= 10


def test_mostly_latin_counts_letters_and_digits() -> None:
    assert mostly_latin([_block(_line("gggg0"), _line("學"))])
    assert not mostly_latin([_block(_line("學而時習a"))])
    assert not mostly_latin([])


def _vips_of(pixels: np.ndarray) -> pyvips.Image:
    return pyvips.Image.new_from_array(pixels, interpretation="b-w")


@pytest.mark.parametrize("kind", ["1-bit", "16-bit"])
def test_bitonal_and_16_bit_grey_masters_are_read(leaf: RenderedPage, engine: ocr.Engine, tmp_path: Path,
                                                  kind: str) -> None:
    grey = np.asarray(leaf.image.convert("L"))
    path = tmp_path / f"leaf-{kind}.tif"
    if kind == "1-bit":
        Image.fromarray(grey).point(lambda v: 255 if v > 128 else 0).convert("1").save(path, compression="group4")
    else:
        _vips_of(grey.astype(np.uint16) * 257).cast("ushort").copy(interpretation="grey16").tiffsave(str(path))
    pixels = images.to_numpy(images.load_page(path))

    result = _read(pixels, engine, page=path.name)

    assert _cer(leaf.text, ocr.to_text(result)) <= 0.08


def test_a_tiny_page_is_read_or_left_empty_without_a_crash(leaf: RenderedPage, engine: ocr.Engine) -> None:
    tiny = np.asarray(leaf.image.resize((200, 300)))

    result = _read(tiny, engine)

    assert (result.width, result.height) == (200, 300)
    assert all(0 <= g.box[0] < g.box[2] <= 200 and 0 <= g.box[1] < g.box[3] <= 300
               for line in result.all_lines for g in line.glyphs)
    assert ocr.to_text(result) or result.empty_reason


@pytest.mark.slow
def test_a_huge_page_is_read_with_boxes_in_its_own_pixels(leaf: RenderedPage, engine: ocr.Engine) -> None:
    huge = np.asarray(leaf.image.resize((9000, 12000), Image.Resampling.BICUBIC))

    result = _read(huge, engine, timeout=600)

    assert _cer(leaf.text, ocr.to_text(result)) <= 0.05
    boxes = [g.box for line in result.lines for g in line.glyphs]
    assert max(b[2] for b in boxes) > 0.6 * 9000 and max(b[3] for b in boxes) > 0.6 * 12000
    strings = sum(len(line.glyphs) for line in result.all_lines)  # the 版心's too
    assert etree.tostring(ocr.to_alto(result, image_file="x.tif", now=NOW)).count(b"<String") == strings


# --- 抬頭: a glyph raised above the frame ----------------------------------------------------


def _with_glyph_above_the_frame(page: RenderedPage, column: int, char: str, *, lift: float, size: float) -> Image.Image:
    """Draw ``char`` above the frame over column ``column`` (0 = rightmost), ``lift`` glyphs up."""
    image = page.image.copy()
    x0, y0, x1, y1 = page.glyphs[12 * column].box
    glyph = y1 - y0
    font = load_cjk_font(round((x1 - x0) * size))
    ImageDraw.Draw(image).text(((x0 + x1) // 2, page.frame_box[1] - round(glyph * lift)), char, font=font,
                               fill=INK_RGB, anchor="mm")
    return image


@pytest.fixture(scope="module")
def plain_leaf() -> RenderedPage:
    return render_vertical_page(sample_text_for_page(1, 96), width=W, height=H, columns=8, chars_per_column=12, seed=2)


def test_a_raised_honorific_is_read_at_the_head_of_its_column(plain_leaf: RenderedPage, engine: ocr.Engine) -> None:
    image = _with_glyph_above_the_frame(plain_leaf, 2, "欽", lift=0.65, size=1.0)

    columns = ocr.to_text(_read(np.asarray(image), engine)).splitlines()

    truth = plain_leaf.text.splitlines()
    assert columns[2].startswith("欽") and _cer("欽" + truth[2], columns[2]) <= 0.1
    assert not any(c.startswith("欽") for i, c in enumerate(columns) if i != 2)


def test_a_note_in_the_head_margin_is_not_taken_into_a_column(plain_leaf: RenderedPage, engine: ocr.Engine) -> None:
    image = _with_glyph_above_the_frame(plain_leaf, 2, "批", lift=1.9, size=0.5)  # 眉批: small, high up

    assert ocr.to_text(_read(np.asarray(image), engine)).splitlines()[2] == ocr.to_text(
        _read(np.asarray(plain_leaf.image), engine)).splitlines()[2]
