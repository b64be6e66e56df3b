"""Recognise one page: preprocess, cut columns, let an engine read them, box every glyph from the ink.

Vertical pages (woodblock prints) are not given to an engine whole: between a
printed frame and column rules neither engine lays the page out well. We cut the
text into columns right to left, split double-line notes into their two halves,
leave out the 版心, and give the engine one column (or half-column) at a time.
Every glyph box takes its extent from our own ink cells, since engines place
glyphs poorly (Tesseract's vertical models report bogus x). Horizontal pages go
to the engine whole. All coordinates are pixels of the image passed in.
"""

from __future__ import annotations

import itertools
import logging

import cv2
import numpy as np

from pipeline.errors import OcrError
from pipeline.ocr.glyphs import glyph_spans, tight_span
from pipeline.ocr.layout import CleanPage, Segment, clean_page, find_columns, split_notes
from pipeline.ocr.model import (
    CROP_MARGIN,
    Box,
    Deadline,
    BlockRole,
    Engine,
    OcrBlock,
    OcrGlyph,
    OcrLine,
    OcrPage,
    PageLayout,
    Preprocessing,
    ReadChar,
    ReadLine,
    mean,
    union,
)
from pipeline.ocr.script import Script, ScriptMapper
from pipeline.ocr.tesseract import HORIZONTAL_PSM, VERTICAL_PSM, TesseractEngine, is_cjk

__all__ = ["recognise_page"]

log = logging.getLogger(__name__)

MIN_CONTRAST = 40  # grey levels between paper and ink below which a page is blank
SEAL_CHROMA = 40  # red minus the larger of green and blue above which a pixel is seal paste


def recognise_page(
    image: np.ndarray,
    *,
    lang: str,
    vertical: bool,
    timeout: float = 120,
    page: str = "page",
    engine: Engine | None = None,
    preprocessing: Preprocessing | None = None,
    script: Script = Script.OTHER,
    layout: PageLayout | None = None,
) -> OcrPage:
    """Recognise the text of one page image (uint8 grey or RGB).

    ``engine`` defaults to Tesseract with ``lang`` and ``preprocessing`` to every
    step on (the benchmark's best); ``script`` maps characters the
    engine returns in the other Chinese script back into the page's. ``page`` names
    the page (its file) in errors; ``timeout`` bounds the whole page in seconds. A
    blank image gives an OcrPage without lines. ``layout`` defaults to COLUMNS for
    vertical pages and ENGINE for horizontal ones.
    """
    preprocessing = preprocessing or Preprocessing()
    grey = _to_grey(image, page, preprocessing.seal_suppression)
    height, width = grey.shape
    reader = engine or TesseractEngine(lang)
    deadline = Deadline.start(page, timeout)
    blocks: list[OcrBlock] = []
    if not _is_blank(grey):
        clean = clean_page(
            grey,
            binarisation=preprocessing.binarisation,
            remove_rules=preprocessing.remove_rules,
            binary=preprocessing.binary_to_engine,
        )
        chosen = _layout(layout, vertical, preprocessing)
        if chosen is PageLayout.COLUMNS:
            blocks = _read_columns(clean, reader, deadline, preprocessing)
        elif chosen is PageLayout.BLOCKS:
            blocks = _read_blocks(clean, reader, deadline, vertical)
        else:
            blocks = _read_page(clean, reader, deadline, vertical)
    mapper = ScriptMapper(script)
    blocks = [_mapped_block(block, mapper) for block in blocks]
    log.debug("%s: %d blocks, %d glyphs", page, len(blocks), sum(len(ln.glyphs) for b in blocks for ln in b.lines))
    parameters = _parameters(reader, lang, vertical, preprocessing, script)
    return OcrPage(width, height, tuple(blocks), reader.name.value, reader.version(), reader.model, parameters,
                   vertical)


def _layout(layout: PageLayout | None, vertical: bool, preprocessing: Preprocessing) -> PageLayout:
    if layout is None:
        layout = PageLayout.COLUMNS if vertical else PageLayout.ENGINE
    if layout is PageLayout.COLUMNS and not (vertical and preprocessing.segment_columns):
        return PageLayout.ENGINE
    return layout


def _to_grey(image: np.ndarray, page: str, seal_suppression: bool) -> np.ndarray:
    if (
        image.dtype != np.uint8
        or image.ndim not in (2, 3)
        or image.size == 0
        or (image.ndim == 3 and image.shape[2] > 4)
    ):
        raise OcrError(f"{page}: expected a uint8 grey or RGB image, got {image.dtype} with shape {image.shape}")
    if image.ndim == 2 or image.shape[2] < 3:
        return np.ascontiguousarray(image if image.ndim == 2 else image[:, :, 0])
    if not seal_suppression:
        return cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2GRAY)
    # Red drops vermilion collectors' seals and 朱批 (red annotations), which are
    # nearly as bright as paper there, while black and blue ink stay dark. Pixels far
    # redder than they are green or blue are then set to the paper's level outright;
    # black ink under a seal stays dark in every band, so it is kept.
    red = image[:, :, 0]
    reddish = red.astype(np.int16) - np.maximum(image[:, :, 1], image[:, :, 2]) > SEAL_CHROMA
    paper = np.uint8(np.percentile(red[::4, ::4], 90))
    return np.ascontiguousarray(np.where(reddish, np.maximum(red, paper), red))


def _is_blank(grey: np.ndarray) -> bool:
    sample = grey[::4, ::4]
    low, high = np.percentile(sample, [0.5, 99.5])
    return bool(high - low < MIN_CONTRAST)


def _parameters(
    reader: Engine, lang: str, vertical: bool, preprocessing: Preprocessing, script: Script
) -> dict[str, str]:
    by_columns = vertical and preprocessing.segment_columns
    parameters = {"engine": reader.name.value, "model": reader.model, "lang": lang, "script": script.value}
    if reader.name.value == "tesseract":
        parameters["psm"] = VERTICAL_PSM if vertical else HORIZONTAL_PSM
    parameters["segmentation"] = (
        "columns from text mass and rules, right to left; one column at a time" if by_columns else "engine"
    )
    return {**parameters, **preprocessing.as_parameters()}


# --- vertical pages, column by column ------------------------------------------------------


def _read_columns(clean: CleanPage, reader: Engine, deadline: Deadline, preprocessing: Preprocessing) -> list[OcrBlock]:
    """Read each column; where it may hold a double-line note, read it both ways and keep the surer one.

    Two-part glyphs in a row (能致, 明時) can look like a note's two half-columns
    on the page; the engine's confidence tells them apart.
    """
    readings = []
    for column in find_columns(clean):
        whole = [Segment(column.box, column.ink)]
        split = split_notes(column) if preprocessing.split_notes else whole
        readings.append([whole, split] if len(split) > 1 else [whole])
    segments = [segment for options in readings for option in options for segment in option]
    crops = [_crop(clean.grey, segment.box) for segment in segments]
    reads = iter(reader.read_columns([image for image, _ in crops], deadline))
    tops = iter(top for _, top in crops)
    blocks: list[OcrBlock] = []
    for options in readings:
        read = [[_column_line(seg, next(reads), next(tops)) for seg in option] for option in options]
        best = max(read, key=_surety)
        blocks.extend(_column_blocks([line for line in best if line is not None]))
    return blocks


def _column_blocks(lines: list[OcrLine]) -> list[OcrBlock]:
    """Group one column's lines into blocks: main text stretches, and each note's two halves."""
    blocks: list[OcrBlock] = []
    for note, group in itertools.groupby(lines, key=lambda line: line.note):
        items = tuple(group)
        role = BlockRole.NOTE if note else BlockRole.TEXT
        blocks.append(OcrBlock(role, union(line.box for line in items), items, vertical=True))
    return blocks


def _surety(lines: list[OcrLine | None]) -> float:
    """Score a reading: glyphs read surely count for it, unsure ones against it.

    A mean would prefer one confident glyph made of a whole note's small glyphs
    to the eight glyphs the note really holds.
    """
    return sum(g.confidence - 0.5 for line in lines if line for g in line.glyphs)


def _crop(grey: np.ndarray, box: Box) -> tuple[np.ndarray, int]:
    """Return a column's crop with CROP_MARGIN of paper around it, and the crop's top row."""
    x0, y0, x1, y1 = box
    margin = max(2, round(CROP_MARGIN * (x1 - x0)))
    top, left = max(0, y0 - margin), max(0, x0 - margin)
    crop = grey[top : y1 + margin, left : x1 + margin]
    # Pad where the page edge cut the margin short, so every crop has the same margin.
    pad = ((margin - (y0 - top), 0), (margin - (x0 - left), 0))
    return np.pad(crop, pad, constant_values=255), top - pad[0][0]


def _column_line(segment: Segment, chars: list[ReadChar], crop_top: int) -> OcrLine | None:
    if not chars:
        return None
    x0, y0, x1, y1 = segment.box
    spans = glyph_spans(segment.ink, y0, y1, [crop_top + (c.start + c.end) / 2 for c in chars])
    glyphs = []
    for c, (g0, g1) in zip(chars, spans):
        left, right = tight_span(segment.ink, (g0, g1), y0, (x0, x1))
        glyphs.append(OcrGlyph(c.char, (left, g0, right, g1), c.confidence))
    text = "".join(g.char for g in glyphs)
    return OcrLine(text, segment.box, mean(g.confidence for g in glyphs), tuple(glyphs), segment.note)


# --- pages of blocks (periodicals) --------------------------------------------------------


def _read_blocks(clean: CleanPage, reader: Engine, deadline: Deadline, vertical: bool) -> list[OcrBlock]:
    """Lay a periodical page out into blocks and read each in its own direction (not yet: whole page)."""
    return _read_page(clean, reader, deadline, vertical)


# --- whole pages ---------------------------------------------------------------------------


def _read_page(clean: CleanPage, reader: Engine, deadline: Deadline, vertical: bool) -> list[OcrBlock]:
    lines = [
        _page_line(line, clean.text_ink)
        for line in reader.read_page(clean.grey, deadline, vertical=vertical)
        if line.chars
    ]
    return [OcrBlock(BlockRole.TEXT, union(line.box for line in lines), tuple(lines), vertical)] if lines else []


def _page_line(line: ReadLine, text_ink: np.ndarray) -> OcrLine:
    if all(is_cjk(ch) for c in line.chars for ch in c.char):
        glyphs = _cjk_glyphs(line, text_ink)
    else:  # alphabetic or mixed: one glyph per word, boxed along the line by the engine
        glyphs = [OcrGlyph(c.char, _word_box(line, c), c.confidence) for c in line.chars]
    box = union(g.box for g in glyphs)
    return OcrLine(_join(glyphs), box, mean(g.confidence for g in glyphs), tuple(glyphs))


def _cjk_glyphs(line: ReadLine, text_ink: np.ndarray) -> list[OcrGlyph]:
    """Give each character of a CJK line the box of its own ink cell."""
    x0, y0, x1, y1 = line.box
    height, width = text_ink.shape
    # Engines' line boxes can clip the first and last glyph: look half a line further.
    if line.vertical:
        reach = (x1 - x0) // 2
        y0, y1 = max(0, y0 - reach), min(height, y1 + reach)
        along, start, end, across = text_ink[y0:y1, x0:x1], y0, y1, (x0, x1)
    else:
        reach = (y1 - y0) // 2
        x0, x1 = max(0, x0 - reach), min(width, x1 + reach)
        along, start, end, across = text_ink[y0:y1, x0:x1].T, x0, x1, (y0, y1)
    spans = glyph_spans(along, start, end, [(c.start + c.end) / 2 for c in line.chars])
    glyphs = []
    for c, (g0, g1) in zip(line.chars, spans):
        a0, a1 = tight_span(along, (g0, g1), start, across)
        glyphs.append(OcrGlyph(c.char, (a0, g0, a1, g1) if line.vertical else (g0, a0, g1, a1), c.confidence))
    return glyphs


def _word_box(line: ReadLine, c: ReadChar) -> Box:
    x0, y0, x1, y1 = line.box
    if line.vertical:
        return (x0, round(c.start), x1, round(c.end))
    return (round(c.start), y0, round(c.end), y1)


def _join(glyphs: list[OcrGlyph]) -> str:
    out = ""
    for prev, glyph in zip([None, *glyphs], glyphs):
        if prev is not None and not (is_cjk(prev.char[-1]) and is_cjk(glyph.char[0])):
            out += " "
        out += glyph.char
    return out


def _mapped(line: OcrLine, mapper: ScriptMapper) -> OcrLine:
    glyphs = tuple(OcrGlyph(mapper.map_text(g.char), g.box, g.confidence) for g in line.glyphs)
    text = mapper.map_text(line.text)
    return OcrLine(text, line.box, line.confidence, glyphs, line.note)


def _mapped_block(block: OcrBlock, mapper: ScriptMapper) -> OcrBlock:
    return OcrBlock(block.role, block.box, tuple(_mapped(line, mapper) for line in block.lines), block.vertical)
