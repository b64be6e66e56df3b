"""Recognise one page: preprocess, cut columns, let an engine read them, box every glyph from the ink.

Vertical pages (woodblock prints) are not given to an engine whole: between a
printed frame and column rules neither engine lays the page out well. We cut the
text into columns right to left, split double-line notes into their two halves,
read the 版心 apart from the text, and give the engine one column (or half-column) at a time.
Every glyph box takes its extent from our own ink cells, since engines place
glyphs poorly (Tesseract's vertical models report bogus x). Horizontal pages go
to the engine whole. All coordinates are pixels of the image passed in.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import replace

import cv2
import numpy as np

from pipeline.errors import OcrError
from pipeline.ocr.blocks import (
    LayoutBlock,
    estimate_glyph_size,
    film_streaks,
    find_blocks,
    glyph_solids,
)
from pipeline.ocr.cleanup import mostly_latin, why_empty, without_residue
from pipeline.ocr.glyphs import glyph_spans, tight_span
from pipeline.ocr.layout import (
    CleanPage,
    Column,
    Segment,
    clean_page,
    find_columns,
    find_folds,
    split_notes,
)
from pipeline.ocr.model import (
    CROP_MARGIN,
    BlockRole,
    Box,
    Deadline,
    Engine,
    OcrBlock,
    OcrGlyph,
    OcrLine,
    OcrPage,
    OcrRegion,
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
BLOCK_MARGIN = 12  # pixels of paper put around a block's crop: engines misread glyphs at a crop's edge
# Paper around a periodical column's crop, in column widths: the glyphs then fill about
# 40 % of the recogniser's 48 px. On the generated periodical pages 0.15 (CROP_MARGIN)
# dropped one "。" in five, 0.6 read 曰 as 日 one time in three, 1.0 dropped "，" again.
BLOCK_CROP_MARGIN = 0.75


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
    regions: list[OcrRegion] = []
    empty_reason, unread_ink = "", False
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
            if mostly_latin(blocks):  # a Western title leaf in a Chinese book: lines, not columns
                log.info("%s: Latin script in vertical columns, read again as horizontal lines", page)
                chosen, blocks = PageLayout.ENGINE, _read_page(clean, reader, deadline, vertical=False)
        elif chosen is PageLayout.BLOCKS:
            blocks, regions = _read_blocks(_with_glyph_solids(clean, grey, preprocessing), reader, deadline,
                                           vertical, preprocessing)
        else:
            blocks = _read_page(clean, reader, deadline, vertical)
        blocks = without_residue(blocks, woodblock=chosen is PageLayout.COLUMNS)
        if not any(block.in_flow for block in blocks):
            empty_reason, unread_ink, found = why_empty(clean)
            regions = regions or list(found)
    else:
        empty_reason = "blank page: no ink"
    mapper = ScriptMapper(script)
    blocks = [_mapped_block(block, mapper) for block in blocks]
    log.debug("%s: %d blocks, %d glyphs", page, len(blocks), sum(len(ln.glyphs) for b in blocks for ln in b.lines))
    parameters = _parameters(reader, lang, vertical, preprocessing, script)
    return OcrPage(width, height, tuple(blocks), reader.name.value, reader.version(), reader.model, parameters,
                   vertical, tuple(regions), empty_reason=empty_reason, unread_ink=unread_ink)


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


def _read_columns(
    clean: CleanPage,
    reader: Engine,
    deadline: Deadline,
    preprocessing: Preprocessing,
    *,
    columns: list[Column] | None = None,
    margin: float = CROP_MARGIN,
) -> list[OcrBlock]:
    """Read each column; where it may hold a double-line note, read it both ways and keep the surer one.

    Two-part glyphs in a row (能致, 明時) can look like a note's two half-columns
    on the page; the engine's confidence tells them apart. The 版心 is read too, as
    its own block after the text (its title and leaf number are metadata, not text).
    """
    readings = []
    for column in find_columns(clean) if columns is None else columns:
        whole = [Segment(column.box, column.ink)]
        split = split_notes(column) if preprocessing.split_notes else whole
        readings.append([whole, split] if len(split) > 1 else [whole])
    # A 版心 stands beside columns of text; a solid shape on a page without them is no fold.
    folds = [Segment(fold.box, fold.ink) for fold in find_folds(clean)] if readings else []
    segments = [segment for options in readings for option in options for segment in option] + folds
    crops = [_crop(clean.grey, segment.box, margin) for segment in segments]
    reads = iter(reader.read_columns([image for image, _ in crops], deadline))
    tops = iter(top for _, top in crops)
    blocks: list[OcrBlock] = []
    for options in readings:
        read = [[_column_line(seg, next(reads), next(tops)) for seg in option] for option in options]
        best = max(read, key=_surety)
        blocks.extend(_column_blocks([line for line in best if line is not None]))
    for fold in folds:
        line = _column_line(fold, next(reads), next(tops))
        if line is not None:
            blocks.append(OcrBlock(BlockRole.FOLD, line.box, (line,), vertical=True))
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


def _crop(grey: np.ndarray, box: Box, share: float = CROP_MARGIN) -> tuple[np.ndarray, int]:
    """Return a column's crop with ``share`` of its width of paper around it, and the crop's top row."""
    x0, y0, x1, y1 = box
    margin = max(2, round(share * (x1 - x0)))
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


def _read_blocks(
    clean: CleanPage, reader: Engine, deadline: Deadline, vertical: bool, preprocessing: Preprocessing
) -> tuple[list[OcrBlock], list[OcrRegion]]:
    """Lay a periodical page out into blocks and read each in its own direction, on its own crop."""
    layout = find_blocks(clean, vertical=vertical)
    blocks = []
    for found in layout.blocks:
        lines = tuple(_read_block(clean, found, reader, deadline, preprocessing))
        if lines:
            blocks.append(OcrBlock(found.role, found.box, lines, found.vertical))
    return blocks, list(layout.regions)


def _with_glyph_solids(clean: CleanPage, grey: np.ndarray, preprocessing: Preprocessing) -> CleanPage:
    """Give back to the text what ``clean_page`` took from it on a periodical page.

    That is the dense glyphs of small type it took for blots, and the microfilm
    streaks it took for rules: the engine reads a grey streak through a column
    better than a column cut in two by white paint.
    """
    glyph = estimate_glyph_size(clean.text_ink)
    # A streak thick enough to count as solid takes every glyph it touches with it:
    # the glyphs are looked for in the solid shapes without the streak.
    glyphs = glyph_solids(clean.solid & ~clean.lines, glyph)
    restored = glyphs | film_streaks(clean.lines, clean.text_ink | glyphs, glyph)
    image = np.where(restored, 0 if preprocessing.binary_to_engine else grey, clean.grey).astype(np.uint8)
    return CleanPage(image, clean.text_ink | restored, clean.lines, clean.solid & ~restored)


def _read_block(
    clean: CleanPage, block: LayoutBlock, reader: Engine, deadline: Deadline, preprocessing: Preprocessing
) -> list[OcrLine]:
    """Read one block's crop: vertical ones column by column, horizontal ones by the engine's own lines."""
    x0, y0, x1, y1 = block.box
    margin = BLOCK_MARGIN
    # Rules and solids are left out: the block's box already excludes its frame, and a
    # periodical has no 版心 for find_columns to drop.
    sub = CleanPage(
        np.pad(clean.grey[y0:y1, x0:x1], margin, constant_values=255),
        np.pad(clean.text_ink[y0:y1, x0:x1], margin),
        np.zeros((y1 - y0 + 2 * margin, x1 - x0 + 2 * margin), dtype=bool),
        np.zeros((y1 - y0 + 2 * margin, x1 - x0 + 2 * margin), dtype=bool),
    )
    if block.vertical:
        columns = [_full_height(column, sub.text_ink, margin) for column in find_columns(sub)]
        # A "，" in its own cell sits at one side of the column, where split_notes
        # takes it and its neighbours for the halves of a double-line note.
        read = _read_columns(sub, reader, deadline, replace(preprocessing, split_notes=False), columns=columns,
                             margin=BLOCK_CROP_MARGIN)
        lines = [line for part in read for line in part.lines]
    else:
        lines = [_page_line(line, sub.text_ink) for line in _read_horizontal(sub, reader, deadline) if line.chars]
    return [_shifted(line, x0 - margin, y0 - margin) for line in lines]


def _full_height(column: Column, text_ink: np.ndarray, margin: int) -> Column:
    """Stretch a column over its whole tier: a "。" alone at a column's end is no frame dash here."""
    x0, _, x1, _ = column.box
    top, bottom = margin, text_ink.shape[0] - margin
    return Column((x0, top, x1, bottom), text_ink[top:bottom, x0:x1])


def _read_horizontal(sub: CleanPage, reader: Engine, deadline: Deadline) -> list[ReadLine]:
    """Read a horizontal block line by line where the engine reads single lines (PP-OCR), else whole.

    PP-OCR's detector scales a crop's short side up to 736 px: a heading 40 px tall
    becomes a strip 15,000 px long and takes seconds, where our own line cut costs nothing.
    """
    read_lines = getattr(reader, "read_lines", None)
    if read_lines is None:
        return reader.read_page(sub.grey, deadline, vertical=False)
    boxes = _line_boxes(sub.text_ink)
    crops = [_crop(sub.grey.T, (y0, x0, y1, x1)) for x0, y0, x1, y1 in boxes]  # margins sized by line height
    reads = read_lines([image.T for image, _ in crops], deadline)
    return [
        ReadLine(box, tuple(ReadChar(c.char, c.confidence, c.start + left, c.end + left) for c in chars))
        for box, chars, (_, left) in zip(boxes, reads, crops)
    ]


def _line_boxes(text_ink: np.ndarray) -> list[Box]:
    """Return the ink boxes of a horizontal block's lines, top to bottom."""
    rows = np.flatnonzero(text_ink.any(axis=1))
    if len(rows) == 0:
        return []
    breaks = np.flatnonzero(np.diff(rows) > 1)
    spans = [(int(rows[a]), int(rows[b]) + 1) for a, b in zip([0, *(breaks + 1)], [*breaks, len(rows) - 1])]
    boxes: list[Box] = []
    for y0, y1 in spans:
        if boxes and y1 - boxes[-1][1] <= 1.3 * (boxes[-1][3] - boxes[-1][1]) and y0 - boxes[-1][3] < 4:
            y0 = boxes.pop()[1]  # the parts of 二, 三 or 言 stacked in one line
        cols = np.flatnonzero(text_ink[y0:y1].any(axis=0))
        boxes.append((int(cols[0]), y0, int(cols[-1]) + 1, y1))
    return boxes


def _shifted(line: OcrLine, dx: int, dy: int) -> OcrLine:
    glyphs = tuple(OcrGlyph(g.char, _shifted_box(g.box, dx, dy), g.confidence) for g in line.glyphs)
    return OcrLine(line.text, _shifted_box(line.box, dx, dy), line.confidence, glyphs, line.note)


def _shifted_box(box: Box, dx: int, dy: int) -> Box:
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


# --- whole pages ---------------------------------------------------------------------------


def _read_page(clean: CleanPage, reader: Engine, deadline: Deadline, vertical: bool) -> list[OcrBlock]:
    lines = [
        _page_line(line, clean.text_ink)
        for line in reader.read_page(clean.grey, deadline, vertical=vertical)
        if line.chars
    ]
    return [OcrBlock(BlockRole.TEXT, union(line.box for line in lines), tuple(lines), vertical)] if lines else []


def _page_line(line: ReadLine, text_ink: np.ndarray) -> OcrLine:
    if all(is_cjk(ch) for c in line.chars for ch in c.char if c.char != " "):
        line = ReadLine(line.box, tuple(c for c in line.chars if c.char != " "), line.vertical)
        glyphs = _cjk_glyphs(line, text_ink)
    else:  # alphabetic or mixed: one glyph per word, boxed along the line by the engine
        glyphs = [OcrGlyph(c.char, _word_box(line, c), c.confidence) for c in _words(line.chars)]
    box = union(g.box for g in glyphs)
    return OcrLine(_join(glyphs), box, mean(g.confidence for g in glyphs), tuple(glyphs))


def _words(chars: tuple[ReadChar, ...]) -> list[ReadChar]:
    """Join letters an engine gave one by one (PP-OCR) into words at the spaces it read.

    Tesseract gives words already; a CJK glyph stays a unit of its own.
    """
    words: list[ReadChar] = []
    for c in chars:
        last = words[-1] if words else None
        if c.char == " " or last is None or last.char == " " or is_cjk(c.char[0]) or is_cjk(last.char[-1]):
            words.append(c)
        else:
            words[-1] = ReadChar(last.char + c.char, min(last.confidence, c.confidence), last.start, c.end)
    return [w for w in words if w.char != " "]


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
