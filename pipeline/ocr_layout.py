"""Page layout for OCR: clean a page, cut it into text columns, find glyph cells.

Pure image geometry with OpenCV and numpy, no OCR engine, so each step can be
tested on its own. Masks are bool arrays indexed ``[y, x]``; boxes are
``(x0, y0, x1, y1)`` with x1/y1 exclusive, in the pixel space of the page given.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

__all__ = ["Box", "CleanPage", "Column", "Span", "clean_page", "find_columns", "glyph_spans", "tight_span"]

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]
Span = tuple[int, int]  # [start, end) along one axis


@dataclass(frozen=True)
class CleanPage:
    """A grey page with rules, frame, blots and specks painted white, and its masks."""

    grey: np.ndarray  # uint8
    text_ink: np.ndarray  # bool: ink that may be text
    rules: np.ndarray  # bool: frame lines and column rules


@dataclass(frozen=True)
class Column:
    """One column of vertical text: the box of its ink and the ink inside that box."""

    box: Box
    ink: np.ndarray  # bool, shape (box height, box width)


def clean_page(grey: np.ndarray) -> CleanPage:
    """Binarise a grey page and separate text ink from rules, specks and solid blots."""
    ink = _binarise(grey)
    rules = _rules(ink)
    text_ink = ink & ~cv2.dilate(rules.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    text_ink &= ~_not_text(text_ink)
    # Tesseract reads frame lines as text, and a column crop with a margin would show
    # its neighbours' rules: paint everything but text ink (and paper) white.
    clean = np.where(text_ink | ~ink, grey, 255).astype(np.uint8)
    return CleanPage(clean, text_ink, rules)


def find_columns(page: CleanPage) -> list[Column]:
    """Cut the text inside the frame into columns, ordered right to left."""
    x0, y0, x1, y1 = _frame(page.rules)
    region = page.text_ink[y0:y1, x0:x1]
    runs = _ink_runs(region.sum(axis=0), min_count=max(1, (y1 - y0) // 500))
    runs = _merge_close_runs(runs, _rule_positions(page.rules[y0:y1, x0:x1]))
    columns = [_column(region, run, x0, y0) for run in _drop_specks(runs, region)]
    log.debug("frame %s: %d ink runs, %d columns", (x0, y0, x1, y1), len(runs), len(columns))
    return sorted((c for c in columns if c is not None), key=lambda c: -c.box[0])


def glyph_spans(ink: np.ndarray, start: int, end: int, centres: list[float]) -> list[Span]:
    """Return one span per recognised glyph along the reading axis (axis 0 of ``ink``).

    ``ink`` is the text ink of one column (or of one transposed horizontal line)
    starting at page coordinate ``start``; ``centres`` are the engine's glyph
    centres in page coordinates, used only to pair glyphs with ink cells when their
    counts differ.
    """
    cells = [(start + a, start + b) for a, b in _character_cells(ink)]
    clamped = [min(max(c, start), end) for c in centres]
    matched = _align(clamped, cells, glyph=_extent(ink.any(axis=0)))
    return _fill_unmatched(matched, start, end)


def tight_span(ink: np.ndarray, along: Span, start: int, across: Span) -> Span:
    """Return the extent across the reading axis of the ink inside ``along`` (page coordinates).

    ``start`` is the page coordinate of ``ink``'s row 0; ``across`` is returned
    unchanged when the span holds no ink.
    """
    rows = ink[max(0, along[0] - start) : max(0, along[1] - start)]
    hits = np.flatnonzero(rows.any(axis=0)) if rows.size else np.array([], dtype=int)
    if len(hits) == 0:
        return across
    return (across[0] + int(hits[0]), across[0] + int(hits[-1]) + 1)


def _binarise(grey: np.ndarray) -> np.ndarray:
    """Return a bool mask of ink (Otsu on a lightly blurred page)."""
    blurred = cv2.GaussianBlur(grey, (3, 3), 0)
    _, inverted = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    return inverted.astype(bool)


def _rules(ink: np.ndarray) -> np.ndarray:
    """Return the mask of frame lines and column rules: ink runs far longer than a glyph."""
    height, width = ink.shape
    mask = ink.astype(np.uint8)
    tall = cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(15, height // 6)))
    wide = cv2.getStructuringElement(cv2.MORPH_RECT, (max(15, width // 6), 1))
    vertical = cv2.morphologyEx(mask, cv2.MORPH_OPEN, tall)
    horizontal = cv2.morphologyEx(mask, cv2.MORPH_OPEN, wide)
    return np.logical_or(vertical, horizontal)


def _not_text(ink: np.ndarray) -> np.ndarray:
    """Return the mask of specks and of large filled shapes (the 魚尾 of a fold column, blots)."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    side = max(12, min(ink.shape) // 60)
    w, h, area = (stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_AREA])
    solid = (w >= side) & (h >= side) & (area >= 0.6 * w * h)
    speck = area < max(4, side * side // 40)
    drop = solid | speck
    drop[0] = False  # the background
    return drop[labels]


def _frame(rules: np.ndarray) -> Box:
    """Return the box inside the outermost rules, or the whole page when there is no frame."""
    height, width = rules.shape
    xs = np.flatnonzero(rules.sum(axis=0) > height // 8)
    ys = np.flatnonzero(rules.sum(axis=1) > width // 8)
    if len(xs) < 2 or len(ys) < 2 or xs[-1] - xs[0] < width // 4 or ys[-1] - ys[0] < height // 4:
        return (0, 0, width, height)
    return (int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1)


def _rule_positions(rules: np.ndarray) -> np.ndarray:
    return np.flatnonzero(rules.sum(axis=0) > rules.shape[0] // 4)


def _ink_runs(profile: np.ndarray, min_count: int) -> list[Span]:
    """Return the [start, end) runs where ``profile`` reaches ``min_count``."""
    on = np.concatenate(([False], profile >= min_count, [False]))
    edges = np.flatnonzero(np.diff(on.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def _merge_close_runs(runs: list[Span], rule_xs: np.ndarray) -> list[Span]:
    # Glyphs such as 川 or 小 leave gaps inside a column; a gap narrower than a fifth of
    # a typical column is inside one, unless a rule runs through it.
    if len(runs) < 2:
        return runs
    min_gap = 0.2 * float(np.median([b - a for a, b in runs]))
    merged = [runs[0]]
    for start, end in runs[1:]:
        gap_has_rule = bool(np.any((rule_xs >= merged[-1][1]) & (rule_xs < start)))
        if start - merged[-1][1] < min_gap and not gap_has_rule:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _drop_specks(runs: list[Span], region: np.ndarray) -> list[Span]:
    """Drop runs too narrow or too faint to hold one glyph (a short last column stays)."""
    if not runs:
        return runs
    typical = float(np.median([b - a for a, b in runs]))
    return [(a, b) for a, b in runs if b - a >= 0.2 * typical and region[:, a:b].sum() >= 0.05 * typical**2]


def _column(region: np.ndarray, run: Span, x0: int, y0: int) -> Column | None:
    strip = region[:, run[0] : run[1]]
    rows = np.flatnonzero(strip.any(axis=1))
    if len(rows) == 0:
        return None
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    return Column((x0 + run[0], y0 + top, x0 + run[1], y0 + bottom), strip[top:bottom])


def _character_cells(ink: np.ndarray) -> list[Span]:
    """Split ink into character cells along axis 0, joining the parts of 三, 二 or 言."""
    profile = ink.sum(axis=1)
    glyph = _extent(ink.any(axis=0))  # CJK glyphs are about as long as their line's ink is wide
    cells: list[Span] = []
    for start, end in _ink_runs(profile, min_count=1):
        if cells and end - cells[-1][0] <= 1.1 * glyph:
            cells[-1] = (cells[-1][0], end)
        else:
            cells.append((start, end))
    mass = [int(profile[a:b].sum()) for a, b in cells]
    typical = float(np.median(mass)) if mass else 0.0
    return [c for c, m in zip(cells, mass) if m >= 0.1 * typical]  # 一 has about 0.3


def _extent(present: Any) -> int:
    """Return the distance from the first to the last True (at least 1)."""
    hits = np.flatnonzero(present)
    return int(hits[-1] - hits[0] + 1) if len(hits) else 1


def _align(centres: list[float], cells: list[Span], glyph: int) -> list[Span | None]:
    """Pair recognised glyphs with ink cells in order, leaving out only the surplus.

    Equal counts pair one to one. Otherwise only the longer side leaves items
    unpaired, and which ones is chosen to bring the engine's centres closest to
    their cells: those centres are often a whole glyph off, too unreliable to let
    them reorder or drop pairs.
    """
    n, m = len(centres), len(cells)
    drop_glyphs = n > m

    def distance(i: int, j: int) -> float:
        return abs(centres[i] - (cells[j][0] + cells[j][1]) / 2) / glyph

    cost = np.full((n + 1, m + 1), np.inf)
    if drop_glyphs:
        cost[:, 0] = 0.0
    else:
        cost[0, :] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            surplus = cost[i - 1, j] if drop_glyphs else cost[i, j - 1]
            cost[i, j] = min(cost[i - 1, j - 1] + distance(i - 1, j - 1), surplus)
    matched: list[Span | None] = [None] * n
    i, j = n, m
    while i > 0 and j > 0:
        if np.isfinite(cost[i - 1, j - 1]) and np.isclose(
            cost[i, j], cost[i - 1, j - 1] + distance(i - 1, j - 1)
        ):
            matched[i - 1] = cells[j - 1]
            i, j = i - 1, j - 1
        elif drop_glyphs:
            i -= 1
        else:
            j -= 1
    return matched


def _fill_unmatched(matched: list[Span | None], start: int, end: int) -> list[Span]:
    """Give unpaired glyphs an even share of the gap between their paired neighbours."""
    spans = list(matched)
    i = 0
    while i < len(spans):
        if spans[i] is not None:
            i += 1
            continue
        j = next((k for k in range(i, len(spans)) if spans[k] is not None), len(spans))
        previous, following = (spans[i - 1] if i > 0 else None, spans[j] if j < len(spans) else None)
        low = previous[1] if previous else start
        high = max(following[0] if following else end, low + (j - i))
        # Integer edges: every share is at least one pixel long.
        edges = [low + k * (high - low) // (j - i) for k in range(j - i + 1)]
        for k in range(i, j):
            spans[k] = (edges[k - i], edges[k - i + 1])
        i = j
    return [s for s in spans if s is not None]
