"""Periodical pages laid out in blocks: tiers, headings, adverts, running heads, illustrations.

The layout tests run on generated pages without an engine; the reading tests use
PP-OCR (loaded once for the module) on the same pages.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipeline import ocr
from pipeline.ocr.blocks import PageBlocks, film_streaks, find_blocks, glyph_solids, is_vertical
from pipeline.ocr.layout import clean_page
from pipeline.ocr.model import ReadChar, ReadLine
from pipeline.ocr.ppocr import PpOcrEngine
from pipeline.synthetic import render_horizontal_page, sample_text_for_page
from pipeline.synthetic_periodical import (
    ADVERT_LINES,
    MAGAZINE,
    PeriodicalLayout,
    PeriodicalPage,
    render_periodical_page,
)
from pipeline.validation import xml_errors
from pipeline.xmlns import NAMESPACES
from tests.pipeline.ocr_metrics import cer as _cer

W, H = 1000, 1400  # small pages keep the tests fast
ALTO = {"a": NAMESPACES["alto"]}
NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
MAX_CER = 0.10
FLOW_BLOCKS = (ocr.BlockRole.TEXT, ocr.BlockRole.HEADING)




def _page(layout: PeriodicalLayout, **options: object) -> PeriodicalPage:
    return render_periodical_page(layout, width=W, height=H, seed=7, **options)  # type: ignore[arg-type]


def _layout(page: PeriodicalPage | Image.Image) -> PageBlocks:
    image = page.image if isinstance(page, PeriodicalPage) else page
    return find_blocks(clean_page(np.asarray(image.convert("L"))), vertical=True)


def _inside(inner: tuple[int, int, int, int], outer: tuple[int, int, int, int], slack: int = 4) -> bool:
    return (
        outer[0] - slack <= inner[0]
        and outer[1] - slack <= inner[1]
        and inner[2] <= outer[2] + slack
        and inner[3] <= outer[3] + slack
    )


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _read(page: PeriodicalPage | Image.Image, engine: ocr.Engine) -> ocr.OcrPage:
    image = page.image if isinstance(page, PeriodicalPage) else page
    return ocr.recognise_page(
        np.asarray(image),
        lang="chi_tra_vert",
        vertical=True,
        engine=engine,
        layout=ocr.PageLayout.BLOCKS,
        script=ocr.Script.TRADITIONAL,
        page="m.tif",
    )


@pytest.fixture(scope="module")
def ruled() -> PeriodicalPage:
    return _page(PeriodicalLayout.TWO_TIERS_RULE)


@pytest.fixture(scope="module")
def spaced() -> PeriodicalPage:
    return _page(PeriodicalLayout.TWO_TIERS_WHITESPACE)


@pytest.fixture(scope="module")
def headline() -> PeriodicalPage:
    return _page(PeriodicalLayout.HEADLINE_ADVERT)


# --- layout, no engine -----------------------------------------------------------------------


@pytest.mark.parametrize("microfilm", [False, True])
@pytest.mark.parametrize("layout", [PeriodicalLayout.TWO_TIERS_RULE, PeriodicalLayout.TWO_TIERS_WHITESPACE])
def test_two_tiers_are_two_vertical_blocks_upper_first(layout: PeriodicalLayout, microfilm: bool) -> None:
    page = _page(layout, microfilm=microfilm)
    text = [b for b in _layout(page).blocks if b.role is ocr.BlockRole.TEXT]
    assert [b.vertical for b in text] == [True, True]
    upper, lower = text
    assert upper.order < lower.order and upper.box[3] < lower.box[1]
    assert not _overlap(upper.box, lower.box)
    for block, tier in zip(text, page.tier_boxes):
        assert _inside(block.box, tier, slack=12)  # the glyphs' jitter may cross a tier's edge


def test_running_head_is_its_own_block_after_the_flow(ruled: PeriodicalPage) -> None:
    blocks = _layout(ruled).blocks
    assert blocks[-1].role is ocr.BlockRole.RUNNING
    assert blocks[-1].box[3] < ruled.tier_boxes[0][1]
    assert [b.order for b in blocks] == list(range(len(blocks)))


def test_headline_comes_first_and_reads_left_to_right(headline: PeriodicalPage) -> None:
    blocks = _layout(headline).blocks
    assert blocks[0].role is ocr.BlockRole.HEADING and not blocks[0].vertical
    assert headline.heading_box is not None and _inside(blocks[0].box, headline.heading_box, slack=12)
    assert [b.role for b in blocks[1:3]] == [ocr.BlockRole.TEXT, ocr.BlockRole.TEXT]


def test_the_boxed_advert_is_a_block_outside_the_flow(headline: PeriodicalPage) -> None:
    blocks = _layout(headline).blocks
    adverts = [b for b in blocks if b.role is ocr.BlockRole.ADVERT]
    assert len(adverts) == 1 and headline.advert_box is not None
    advert = adverts[0]
    assert _inside(advert.box, headline.advert_box) and not advert.vertical
    assert all(b.order < advert.order for b in blocks if b.role in FLOW_BLOCKS)
    assert not any(_overlap(b.box, headline.advert_box) for b in blocks if b.role in FLOW_BLOCKS)


def test_a_framed_horizontal_page_is_one_horizontal_block_not_an_advert() -> None:
    page = render_horizontal_page(sample_text_for_page(3, 300), width=W, height=H, lines=12, chars_per_line=25)
    blocks = find_blocks(clean_page(np.asarray(page.image.convert("L"))), vertical=False).blocks
    assert [(b.role, b.vertical) for b in blocks] == [(ocr.BlockRole.TEXT, False)]


def test_a_solid_picture_is_an_illustration_region_not_text(spaced: PeriodicalPage) -> None:
    image = _with_picture(spaced)
    found = _layout(image)
    assert [r.kind for r in found.regions] == [ocr.RegionKind.ILLUSTRATION]
    # Pasted over the text, the picture takes in the glyphs its edge touches.
    assert _inside(PICTURE, found.regions[0].box, slack=3) and _inside(found.regions[0].box, PICTURE, slack=25)
    assert len([b for b in found.blocks if b.role is ocr.BlockRole.TEXT]) == 2


def test_direction_comes_from_where_the_ink_leaves_paper() -> None:
    columns = np.zeros((200, 200), dtype=bool)
    for x in range(10, 190, 40):
        for y in range(10, 190, 24):
            columns[y : y + 20, x : x + 20] = True  # glyphs 20 px, 4 px apart down a column, 20 between columns
    assert is_vertical(columns, 20, default=False)
    assert not is_vertical(columns.T, 20, default=True)
    assert not is_vertical(columns[:25], 20, default=True)  # one glyph tall: a line


def test_a_streak_through_a_column_is_film_damage_and_a_rule_between_columns_is_not() -> None:
    text = np.zeros((300, 200), dtype=bool)
    for x in (20, 80, 140):
        for y in range(10, 290, 24):
            text[y : y + 20, x : x + 4] = text[y : y + 4, x : x + 20] = True  # glyph-like 丁 strokes
    lines = np.zeros_like(text)
    lines[:, 90:93] = True  # down the middle column, cutting its glyphs' bars
    lines[:, 120:122] = True  # in the gap between two columns
    text &= ~lines
    streaks = film_streaks(lines, text, 20)
    assert streaks[:, 90:93].all() and not streaks[:, 120:122].any()


def test_small_solid_shapes_are_glyphs_and_big_ones_are_not() -> None:
    solid = np.zeros((200, 200), dtype=bool)
    solid[10:30, 10:30] = True  # a bold glyph
    solid[60:190, 60:190] = True  # a picture
    found = glyph_solids(solid, 20)
    assert found[10:30, 10:30].all() and not found[60:190, 60:190].any()


PICTURE = (120, 200, 420, 500)


def _with_picture(page: PeriodicalPage) -> Image.Image:
    image = page.image.copy()
    ImageDraw.Draw(image).rectangle((PICTURE[0], PICTURE[1], PICTURE[2] - 1, PICTURE[3] - 1), fill=(20, 20, 20))
    return image


# --- reading, PP-OCR -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> ocr.Engine:
    return PpOcrEngine()


@pytest.fixture(scope="module")
def ruled_read(ruled: PeriodicalPage, engine: ocr.Engine) -> ocr.OcrPage:
    return _read(ruled, engine)


@pytest.fixture(scope="module")
def headline_read(headline: PeriodicalPage, engine: ocr.Engine) -> ocr.OcrPage:
    return _read(headline, engine)


def test_two_tiers_with_a_rule_read_in_order(ruled: PeriodicalPage, ruled_read: ocr.OcrPage) -> None:
    assert _cer(ruled.text, ocr.to_text(ruled_read)) <= MAX_CER
    assert [b.role for b in ruled_read.blocks] == [ocr.BlockRole.TEXT, ocr.BlockRole.TEXT, ocr.BlockRole.RUNNING]


def test_two_tiers_split_by_whitespace_read_in_order(spaced: PeriodicalPage, engine: ocr.Engine) -> None:
    result = _read(spaced, engine)
    assert _cer(spaced.text, ocr.to_text(result)) <= MAX_CER
    upper, lower = (b for b in result.blocks if b.role is ocr.BlockRole.TEXT)
    assert upper.box[3] < lower.box[1]
    assert len(upper.lines) == len(spaced.text.split("\n")) // 2


def test_a_microfilm_copy_reads_in_order_through_its_streaks(engine: ocr.Engine) -> None:
    page = render_periodical_page(PeriodicalLayout.TWO_TIERS_WHITESPACE, width=W, height=H, seed=307, microfilm=True)
    assert _cer(page.text, ocr.to_text(_read(page, engine))) <= MAX_CER


def test_running_head_is_read_but_kept_out_of_the_text(ruled_read: ocr.OcrPage) -> None:
    running = ruled_read.blocks[-1]
    assert running.role is ocr.BlockRole.RUNNING and MAGAZINE in running.text
    assert MAGAZINE not in ocr.to_text(ruled_read).replace("\n", "")


def test_headline_is_read_first_and_the_advert_apart(headline: PeriodicalPage, headline_read: ocr.OcrPage) -> None:
    text = ocr.to_text(headline_read)
    assert text.split("\n")[0] == headline.text.split("\n")[0]
    assert _cer(headline.text, text) <= MAX_CER
    advert = next(b for b in headline_read.blocks if b.role is ocr.BlockRole.ADVERT)
    assert _cer("".join(ADVERT_LINES), advert.text) <= 0.2
    assert not any(line[:4] in text.replace("\n", "") for line in ADVERT_LINES)


def test_glyph_boxes_are_in_page_coordinates(headline: PeriodicalPage, headline_read: ocr.OcrPage) -> None:
    truth = [g.box for g in headline.glyphs]
    glyphs = [g for line in headline_read.lines for g in line.glyphs]
    on_a_glyph = [any(_overlap(g.box, box) for box in truth) for g in glyphs]
    assert len(glyphs) > 300 and np.mean(on_a_glyph) > 0.97


def test_alto_has_a_reading_order_and_validates(headline_read: ocr.OcrPage) -> None:
    tree = ocr.to_alto(headline_read, image_file="x.tif", now=NOW, page_number=1)
    assert xml_errors(tree, "alto") == []
    flow = tree.findall(".//a:ReadingOrder/a:OrderedGroup/a:ElementRef", ALTO)
    aside = tree.findall(".//a:ReadingOrder/a:UnorderedGroup/a:ElementRef", ALTO)
    assert len(flow) == 3 and len(aside) == 2  # heading, two tiers; advert, running head
    first = tree.find(f".//a:TextBlock[@ID='{flow[0].get('REF')}']", ALTO)
    assert first is not None and first.get("TAGREFS") == "TAG_HEADING" and first.get("BASEDIRECTION") is None


def test_illustrations_reach_the_page_and_its_alto(spaced: PeriodicalPage, engine: ocr.Engine) -> None:
    result = _read(_with_picture(spaced), engine)
    assert [r.kind for r in result.regions] == [ocr.RegionKind.ILLUSTRATION]
    tree = ocr.to_alto(result, image_file="x.tif", now=NOW, page_number=1)
    assert xml_errors(tree, "alto") == []
    assert len(tree.findall(".//a:Illustration", ALTO)) == 1


class _RuleReadingStubEngine:
    """Stands in for an engine that reads rule residue: every column comes back as "|學—而，"."""

    name = ocr.OcrEngine.PPOCR
    model = "stub"

    def version(self) -> str:
        return "stub"

    def read_columns(self, crops: list[np.ndarray], deadline: object) -> list[list[ReadChar]]:
        return [
            _chars(crop.shape[0], "|學—而，") if i % 2 == 0 else _chars(crop.shape[0], "，")
            for i, crop in enumerate(crops)
        ]

    def read_page(self, grey: np.ndarray, deadline: object, *, vertical: bool) -> list[ReadLine]:
        return []

    def read_lines(self, crops: list[np.ndarray], deadline: object) -> list[list[ReadChar]]:
        return [_chars(crop.shape[1], "丨題") for crop in crops]


def _chars(length: int, text: str) -> list[ReadChar]:
    step = length / len(text)
    return [ReadChar(ch, 0.9, i * step, (i + 1) * step) for i, ch in enumerate(text)]


def test_rule_residue_is_left_out_of_the_text_stub_engine(headline: PeriodicalPage) -> None:
    result = _read(headline, _RuleReadingStubEngine())  # type: ignore[arg-type]
    lines = ocr.to_text(result).split("\n")[:-1]
    assert lines[0] == "題"
    assert set(lines[1:]) == {"學而，"}  # columns read as nothing but "，" are dropped
    assert all(g.char not in "|丨—" for block in result.blocks for line in block.lines for g in line.glyphs)
