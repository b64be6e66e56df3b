"""Glyph boxes: pair the characters an engine read with the ink cells of their line.

Engines place glyphs poorly (Tesseract's vertical models give bogus x, CTC models
give only a frame index), so every box we write comes from the ink: cells along
the reading axis, paired in order with the engine's characters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.ocr.model import Span

__all__ = ["glyph_spans", "tight_span"]

SKIP_COST = 2.5  # glyph sizes of centre distance that leaving a full ink cell unpaired costs


def glyph_spans(ink: np.ndarray, start: int, end: int, centres: list[float]) -> list[Span]:
    """Return one span per recognised glyph along the reading axis (axis 0 of ``ink``).

    ``ink`` is the text ink of one column (or of one transposed horizontal line)
    starting at page coordinate ``start``; ``centres`` are the engine's glyph
    centres in page coordinates, used only to pair glyphs with ink cells when their
    counts differ.
    """
    found = _character_cells(ink)
    cells = [(start + a, start + b) for a, b in found]
    mass = np.array([ink[a:b].sum() for a, b in found], dtype=float)
    # Leaving a cell without a glyph costs more the more ink it holds: an engine
    # that reads one glyph fewer than there are cells has most likely missed a
    # small one (一, 丶), and its centres are too unreliable to say which.
    skip = list(SKIP_COST * np.minimum(1.0, mass / max(1.0, float(np.median(mass))))) if len(mass) else []
    clamped = [min(max(c, start), end) for c in centres]
    matched = _align(clamped, cells, glyph=_extent(ink.any(axis=0)), skip=skip)
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


def _character_cells(ink: np.ndarray) -> list[Span]:
    """Split ink into character cells along axis 0, joining the parts of 三, 二 or 言."""
    profile = ink.sum(axis=1)
    glyph = _extent(ink.any(axis=0))  # CJK glyphs are about as long as their line's ink is wide
    cells: list[Span] = []
    for start, end in _runs(profile >= 1):
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


def _align(centres: list[float], cells: list[Span], glyph: int, skip: list[float]) -> list[Span | None]:
    """Pair recognised glyphs with ink cells in order, leaving out only the surplus.

    Equal counts pair one to one. Otherwise only the longer side leaves items
    unpaired: surplus glyphs for free, surplus cells at ``skip[j]`` each; which
    ones is chosen to bring the engine's centres closest to their cells (in glyph
    sizes). Those centres are often a whole glyph off, too unreliable to let them
    reorder or drop pairs.
    """
    n, m = len(centres), len(cells)
    drop_glyphs = n > m

    def distance(i: int, j: int) -> float:
        return abs(centres[i] - (cells[j][0] + cells[j][1]) / 2) / glyph

    def surplus(i: int, j: int) -> float:  # cost of reaching (i, j) by leaving an item out
        return cost[i - 1, j] if drop_glyphs else cost[i, j - 1] + skip[j - 1]

    cost = np.full((n + 1, m + 1), np.inf)
    cost[0, 0] = 0.0
    for j in range(1, m + 1):
        cost[0, j] = np.inf if drop_glyphs else cost[0, j - 1] + skip[j - 1]
    for i in range(1, n + 1):
        cost[i, 0] = 0.0 if drop_glyphs else np.inf
        for j in range(1, m + 1):
            cost[i, j] = min(cost[i - 1, j - 1] + distance(i - 1, j - 1), surplus(i, j))
    matched: list[Span | None] = [None] * n
    i, j = n, m
    while i > 0 and j > 0:
        if np.isfinite(cost[i - 1, j - 1]) and np.isclose(cost[i, j], cost[i - 1, j - 1] + distance(i - 1, j - 1)):
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


def _runs(mask: np.ndarray) -> list[Span]:
    on = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(np.diff(on.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]
