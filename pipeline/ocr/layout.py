"""Page layout for OCR: binarise a page, separate text from rules, cut columns, find glyph cells.

Pure image geometry with OpenCV and numpy, no OCR engine, so each step can be
tested on its own. Masks are bool arrays indexed ``[y, x]``; boxes are
``(x0, y0, x1, y1)`` with x1/y1 exclusive, in the pixel space of the page given.

Columns come from the text mass, not from the printed rules alone: on real
woodblock prints the 界行 are broken and dashed, so a rule-only cut misses half of
them. The 版心 (fold column) is recognised by its solid 魚尾 and kept apart from the text.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.ocr.model import Binarisation, Box, Span

__all__ = [
    "CleanPage",
    "Column",
    "Segment",
    "binarise",
    "clean_page",
    "find_columns",
    "find_folds",
    "split_notes",
]

log = logging.getLogger(__name__)

SAUVOLA_K = 0.2  # Sauvola's k; 0.2 to 0.5 in the literature, 0.2 keeps thin strokes on stained paper


@dataclass(frozen=True)
class CleanPage:
    """A grey page prepared for an engine, and the masks it was cut with."""

    grey: np.ndarray  # uint8: what engines read (rules, blots, specks painted white if asked)
    text_ink: np.ndarray  # bool: ink that may be text
    lines: np.ndarray  # bool: frame lines and column rules
    solid: np.ndarray  # bool: filled shapes (the 魚尾 of a fold column, blots)


@dataclass(frozen=True)
class Column:
    """One column of vertical text: the box of its ink and the ink inside that box."""

    box: Box
    ink: np.ndarray  # bool, shape (box height, box width)


@dataclass(frozen=True)
class Segment:
    """A stretch of a column read as one line: main text, or one half of a double-line note."""

    box: Box
    ink: np.ndarray  # bool, shape (box height, box width)
    note: bool = False


def binarise(grey: np.ndarray, method: Binarisation = Binarisation.OTSU) -> np.ndarray:
    """Return a bool mask of ink: Otsu on a lightly blurred page, or Sauvola's local threshold."""
    blurred = cv2.GaussianBlur(grey, (3, 3), 0)
    if method is Binarisation.SAUVOLA:
        return _sauvola(blurred)
    _, inverted = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    return inverted.astype(bool)


def clean_page(
    grey: np.ndarray,
    *,
    binarisation: Binarisation = Binarisation.OTSU,
    remove_rules: bool = True,
    binary: bool = False,
) -> CleanPage:
    """Binarise a grey page and separate text ink from rules, specks and solid blots.

    ``remove_rules`` paints everything but text ink white in the engine's image;
    ``binary`` gives the engine the binarised page instead of the grey one.
    """
    ink = binarise(grey, binarisation)
    lines = _lines(ink)
    solid = _solid(ink)
    text_ink = ink & ~cv2.dilate(lines.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    text_ink &= ~solid & ~_specks(text_ink)
    source = np.where(ink, 0, 255).astype(np.uint8) if binary else grey
    engine_image = np.where(text_ink | ~ink, source, 255).astype(np.uint8) if remove_rules else source
    return CleanPage(np.ascontiguousarray(engine_image), text_ink, lines, solid)


def find_columns(page: CleanPage) -> list[Column]:
    """Cut the text into columns, ordered right to left, leaving out the 版心."""
    return [column for column, fold in _columns(page) if not fold]


def find_folds(page: CleanPage) -> list[Column]:
    """Return the 版心 (fold columns) of a page, right to left: two on an uncut double leaf."""
    return [column for column, fold in _columns(page) if fold]


def _columns(page: CleanPage) -> list[tuple[Column, bool]]:
    """Return every column right to left, each with whether it is a 版心."""
    top, bottom = _text_rows(page.lines)
    region = page.text_ink[top:bottom]
    runs = _column_runs(region)
    columns = []
    for start, end in runs:
        fold = _is_fold(page.solid[top:bottom, start:end], end - start)
        column = _column(region, (start, end), top)
        if column is not None:
            columns.append((column if fold else _with_raised_head(page.text_ink, column, top), fold))
    # A 版心 in small type may cast too faint a profile to make a run: its 魚尾 still marks it.
    for start, end in _lone_fold_spans(page.solid[top:bottom], runs):
        profile = region[:, start:end].sum(axis=0)
        inked = np.flatnonzero(profile > 0.05 * profile.max())  # not the rows a rule's edge leaves
        if not profile.any():
            continue
        column = _column(region, (start + int(inked[0]), start + int(inked[-1]) + 1), top)
        if column is not None:
            columns.append((column, True))
    log.debug("rows %d-%d: %d runs, %d columns, %d folds", top, bottom, len(runs), len(columns),
              sum(fold for _, fold in columns))
    return sorted(columns, key=lambda c: -c[0].box[0])


def _with_raised_head(text_ink: np.ndarray, column: Column, top: int) -> Column:
    """Extend a column up over a glyph raised above the frame (抬頭, an honorific set higher).

    The glyph must sit right above the frame, centred on the column and as wide as its
    glyphs: notes written in the head margin (眉批) stand apart and are not taken in.
    """
    x0, y0, x1, y1 = column.box
    width = x1 - x0
    if top == 0 or y0 - top > 0.5 * width:  # no frame above, or the column starts low (not 頂格)
        return column
    above = text_ink[max(0, top - round(2.5 * width)) : top, x0:x1]
    groups = _runs(_bridge(np.asarray(above.any(axis=1)), round(0.3 * width)))
    if not groups:
        return column
    start, end = groups[-1]  # the group nearest the frame
    glyph = above[start:end]
    xs = np.flatnonzero(glyph.any(axis=0))
    near = above.shape[0] - end <= 0.6 * width
    sized = end - start >= 0.5 * width and xs[-1] - xs[0] + 1 >= 0.6 * width
    centred = abs((xs[0] + xs[-1]) / 2 - width / 2) <= 0.25 * width
    if not (near and sized and centred):
        return column
    new_top = top - above.shape[0] + start
    log.debug("x %d-%d: raised glyph above the frame at y %d", x0, x1, new_top)
    return Column((x0, new_top, x1, y1), text_ink[new_top:y1, x0:x1])


def _lone_fold_spans(solid: np.ndarray, runs: list[Span]) -> list[Span]:
    """Return x spans around 魚尾 that no column run covers, a column wide, centred on the 魚尾."""
    if not runs:
        return []
    typical = _typical_width(runs)
    count, _, stats, _ = cv2.connectedComponentsWithStats(solid.astype(np.uint8), connectivity=8)
    spans: list[Span] = []
    for x, w, h in zip(stats[1:count, cv2.CC_STAT_LEFT], stats[1:count, cv2.CC_STAT_WIDTH],
                       stats[1:count, cv2.CC_STAT_HEIGHT]):
        if not _is_fish_tail(w, h, typical):
            continue
        centre = x + w / 2
        span = (max(0, round(centre - 0.6 * typical)), min(solid.shape[1], round(centre + 0.6 * typical)))
        if not any(a < span[1] and span[0] < b for a, b in [*runs, *spans]):
            spans.append(span)
    return spans


def split_notes(column: Column) -> list[Segment]:
    """Split a column into main text and double-line notes (双行小注), in reading order.

    A note stretch has two half-width sub-columns with empty paper between them; it
    reads right sub-column first, then left, then the main text goes on below.
    """
    x0, y0, x1, y1 = column.box
    stretches = _note_stretches(column.ink)
    if not stretches:
        return [Segment(column.box, column.ink)]
    segments: list[Segment] = []
    cursor = 0
    for start, end, split in stretches:
        if start > cursor:
            segments.append(_segment(column, (cursor, start), (0, x1 - x0), note=False))
        segments.append(_segment(column, (start, end), (split, x1 - x0), note=True))
        segments.append(_segment(column, (start, end), (0, split), note=True))
        cursor = end
    if cursor < y1 - y0:
        segments.append(_segment(column, (cursor, y1 - y0), (0, x1 - x0), note=False))
    return [s for s in segments if s.ink.any()]


# --- binarisation and masks ------------------------------------------------------------------


def _sauvola(grey: np.ndarray) -> np.ndarray:
    """Sauvola's threshold T = m(1 + k(s/128 - 1)) over a window about a glyph wide."""
    window = max(15, (min(grey.shape) // 40) | 1)
    image = grey.astype(np.float32)
    mean = cv2.boxFilter(image, -1, (window, window), borderType=cv2.BORDER_REFLECT)
    square = cv2.boxFilter(image * image, -1, (window, window), borderType=cv2.BORDER_REFLECT)
    deviation = np.sqrt(np.maximum(square - mean * mean, 0))
    threshold = mean * (1 + SAUVOLA_K * (deviation / 128.0 - 1))
    return image < threshold


def _lines(ink: np.ndarray) -> np.ndarray:
    """Return frame lines and column rules: ink runs far longer than a glyph, dashes bridged."""
    height, width = ink.shape
    mask = ink.astype(np.uint8)
    lines: np.ndarray = np.zeros_like(mask)
    for length, gap, vertical in ((height // 8, height // 150, True), (width // 8, width // 150, False)):
        bridge = (1, max(3, gap)) if vertical else (max(3, gap), 1)
        long = (1, max(15, length)) if vertical else (max(15, length), 1)
        closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, bridge))
        lines = lines | cv2.morphologyEx(closed, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, long))
    return lines.astype(bool) & ink


def _solid(ink: np.ndarray) -> np.ndarray:
    """Return components with a core several strokes thick: the 魚尾, ink blots, a seal's ground."""
    # Capped: on a cover or a solid illustration the "stroke" is the whole page, and an
    # erosion that wide takes minutes while telling us nothing a narrower one would not.
    stroke = min(_stroke_width(ink), min(ink.shape) / 60)
    side = max(5, round(3 * stroke))
    core = cv2.erode(ink.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_RECT, (side, side)))
    if not core.any():
        return np.zeros_like(ink)
    count, labels = cv2.connectedComponents(ink.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, dtype=bool)
    keep[np.unique(labels[core.astype(bool)])] = True
    keep[0] = False
    return keep[labels]


def _stroke_width(ink: np.ndarray) -> float:
    """Return a typical stroke width in pixels (twice the 90th percentile of the distance to paper)."""
    if not ink.any():
        return 1.0
    distance = cv2.distanceTransform(ink.astype(np.uint8), cv2.DIST_L2, 3)
    return float(max(1.0, 2 * np.percentile(distance[ink], 90)))


def _specks(ink: np.ndarray) -> np.ndarray:
    """Return components too small to be part of a glyph (dust, paper fibres, noise)."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    side = max(12, min(ink.shape) // 60)
    speck = stats[:, cv2.CC_STAT_AREA] < max(4, side * side // 40)
    speck[0] = False
    return speck[labels]


# --- columns ---------------------------------------------------------------------------------


def _text_rows(lines: np.ndarray) -> Span:
    """Return the rows between the top and bottom frame lines (the whole page without them)."""
    height, width = lines.shape
    rows = np.flatnonzero(lines.sum(axis=1) > width // 4)
    top = [int(r) + 1 for r in rows if r < height // 3]
    bottom = [int(r) for r in rows if r > 2 * height // 3]
    return (max(top) if top else 0, min(bottom) if bottom else height)


def _column_runs(region: np.ndarray) -> list[Span]:
    """Return the x runs of text mass, with rule fragments and gaps inside glyphs dealt with."""
    height = region.shape[0]
    # Broken rules leave thin vertical dashes: drop every tall thin stroke before
    # profiling (glyph stems go too, but a glyph keeps its other strokes).
    stems = cv2.morphologyEx(
        region.astype(np.uint8), cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(15, height // 40)))
    )
    profile = np.convolve((region & ~stems.astype(bool)).sum(axis=0), np.ones(5) / 5, mode="same")
    if not profile.any():
        return []
    runs = _runs(profile > 0.08 * np.percentile(profile[profile > 0], 90))
    return _keep_columns(_merge_halves(runs))


def _merge_halves(runs: list[Span]) -> list[Span]:
    """Join neighbouring runs that together are no wider than one column (a note's two halves, 川).

    Slivers (rule residue) are never joined: they would widen a column into its rule.
    """
    if len(runs) < 2:
        return runs
    typical = _typical_width(runs)
    runs = [(a, b) for a, b in runs if b - a >= 0.25 * typical]
    merged = runs[:1]
    for start, end in runs[1:]:
        if end - merged[-1][0] <= 1.25 * typical:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _keep_columns(runs: list[Span]) -> list[Span]:
    """Drop runs too narrow to be a column (rule residue, specks at the page edge)."""
    if not runs:
        return runs
    typical = _typical_width(runs)
    return [(a, b) for a, b in runs if b - a >= 0.45 * typical]


def _typical_width(runs: list[Span]) -> float:
    widths = np.array([b - a for a, b in runs], dtype=float)
    return float(np.median(widths[widths >= 0.3 * widths.max()]))


def _is_fold(solid: np.ndarray, width: int) -> bool:
    """True when a run holds a compact solid shape about as wide as itself: the 魚尾."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(solid.astype(np.uint8), connectivity=8)
    return any(_is_fish_tail(w, h, width)
               for w, h in zip(stats[1:count, cv2.CC_STAT_WIDTH], stats[1:count, cv2.CC_STAT_HEIGHT]))


def _is_fish_tail(w: int, h: int, column: float) -> bool:
    """True for a solid shape about a column wide and not much taller (a seal is wider)."""
    return bool(0.4 * column <= w <= 1.2 * column and h <= 2 * column)


def _column(region: np.ndarray, run: Span, top: int) -> Column | None:
    strip = region[:, run[0] : run[1]]
    span = _trim_ends(strip)
    if span is None:
        return None
    y0, y1 = span
    return Column((run[0], top + y0, run[1], top + y1), strip[y0:y1])


def _trim_ends(strip: np.ndarray) -> Span | None:
    """Return the rows of a column's text, without flat or faint marks set apart at either end.

    Broken frame lines leave dashes above and below the text that no line filter
    catches; a dash is flat and stands more than half a glyph away from the text.
    """
    width = strip.shape[1]
    groups = _runs(_bridge(np.asarray(strip.any(axis=1)), round(0.6 * width)))
    if not groups:
        return None
    mass = [int(strip[a:b].sum()) for a, b in groups]
    biggest = int(np.argmax(mass))
    per_glyph = mass[biggest] / max(1.0, (groups[biggest][1] - groups[biggest][0]) / width)

    def junk(i: int) -> bool:
        a, b = groups[i]
        return b - a < 0.35 * width or mass[i] < 0.2 * per_glyph

    first, last = 0, len(groups) - 1
    while first < last and junk(first):
        first += 1
    while last > first and junk(last):
        last -= 1
    return (groups[first][0], groups[last][1])


def _bridge(mask: np.ndarray, gap: int) -> np.ndarray:
    """Fill runs of False no longer than ``gap`` between Trues."""
    filled = mask.copy()
    hits = np.flatnonzero(mask)
    for a, b in itertools.pairwise(hits):
        if 1 < b - a <= gap:
            filled[a:b] = True
    return filled


def _runs(mask: np.ndarray) -> list[Span]:
    """Return the [start, end) runs where ``mask`` is True."""
    on = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(np.diff(on.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


# --- double-line notes -----------------------------------------------------------------------


def _note_stretches(ink: np.ndarray) -> list[tuple[int, int, int]]:
    """Return (start, end, split x) of stretches read as two sub-columns, in column coordinates."""
    height, width = ink.shape
    window, step = max(3, width), max(1, width // 4)
    splits = [_pair_split(ink[start : start + window]) for start in range(0, max(1, height - window + 1), step)]
    stretches = []
    for first, last in _runs(np.array([s is not None for s in splits], dtype=bool)):
        start, end = first * step, min(height, (last - 1) * step + window)
        # One glyph such as 川 or 門 is no note; nor is a run of glyphs of two parts
        # (明, 講), whose parts are as tall as a glyph while a note's glyphs are small.
        x = _pair_split(ink[start:end]) if end - start >= 1.5 * width else None
        if x is not None and _small_glyphs(ink[start:end], width):
            stretches.append((_glyph_boundary(ink, start), _note_end(ink, end, x), x))
    return stretches


def _glyph_boundary(ink: np.ndarray, row: int) -> int:
    """Return ``row``, or the row of paper just below when ``row`` cuts through the end of a glyph."""
    inked = np.asarray(ink.any(axis=1))
    if row == 0 or not inked[row - 1]:
        return row
    paper = np.flatnonzero(~inked[row : row + ink.shape[1] // 2])
    return row + int(paper[0]) if len(paper) else row


def _note_end(ink: np.ndarray, end: int, split: int) -> int:
    """Extend a note stretch down to the next row inked right across the column (main text again).

    A note's longer half goes on after the shorter has ended, and its glyphs may
    reach a little across the split (the hook of 扌).
    """
    width = ink.shape[1]
    margin = round(0.15 * width)
    left = np.asarray(ink[:, : max(1, split - margin)].any(axis=1))
    right = np.asarray(ink[:, split + margin :].any(axis=1))
    full = left & right & np.asarray(ink[:, max(0, split - 1) : split + 2].any(axis=1))
    inked = np.asarray(ink.any(axis=1))
    last = end
    for row in range(end, ink.shape[0]):
        if full[row] or row - last > 0.5 * width:  # main text again, or the note is over
            break
        if inked[row]:
            last = row + 1
    return last


def _small_glyphs(block: np.ndarray, width: int) -> bool:
    """True when almost no ink of ``block`` is in shapes as tall as a main-text glyph.

    On the real pages in the benchmark, note stretches had none (0 %) and runs of
    two-part glyphs 15 % to 78 %.
    """
    _, _, stats, _ = cv2.connectedComponentsWithStats(block.astype(np.uint8), connectivity=8)
    area, height = stats[1:, cv2.CC_STAT_AREA], stats[1:, cv2.CC_STAT_HEIGHT]
    return bool(area[height >= 0.7 * width].sum() <= 0.05 * max(1, area.sum()))


def _pair_split(block: np.ndarray) -> int | None:
    """Return the x of the paper between two inked halves of ``block``, or None when it has none."""
    width = block.shape[1]
    profile = block.sum(axis=0).astype(float)
    total = profile.sum()
    if total == 0:
        return None
    band = max(1, round(0.04 * width))
    low, high = round(0.3 * width), round(0.7 * width)
    middle = np.convolve(profile, np.ones(band), mode="same")[low:high]
    x = low + int(np.argmin(middle))
    left, right = profile[: x - band // 2].sum(), profile[x + band // 2 + 1 :].sum()
    if middle.min() <= 0.005 * total and min(left, right) >= 0.2 * total:
        return x
    return None


def _segment(column: Column, rows: Span, cols: Span, *, note: bool) -> Segment:
    ink = column.ink[rows[0] : rows[1], cols[0] : cols[1]]
    x0, y0 = column.box[0] + cols[0], column.box[1] + rows[0]
    ys, xs = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if len(ys) == 0:
        return Segment((x0, y0, x0 + 1, y0 + 1), ink[:0, :0], note)
    box = (x0 + int(xs[0]), y0 + int(ys[0]), x0 + int(xs[-1]) + 1, y0 + int(ys[-1]) + 1)
    return Segment(box, ink[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1], note)
