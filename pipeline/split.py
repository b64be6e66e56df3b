"""Find where to split a double leaf or a two-page spread into two canvases.

The batch says the image is a spread (an uncut woodblock sheet, 筒子頁, or an open
book photographed whole), so a split is always returned; when no fold is seen the
emptiest column near the middle is used and the confidence says how little that is
worth. The split never cuts ink: only a 版心 may carry ink on its centre line,
where the fold of a real sheet lies (the 魚尾 and the fold label sit on it).

Method (classical, no model), searched only in a central band of the width:
ink is dark detail narrower than a few strokes (a black-hat filter), so a gutter's
wide shadow is not ink. In order:

1. fold, shadow valley: the median brightness of each column (over the rows that
   hold ink) dips far below the paper over a run wider than any rule: the gutter
   of an open book. The split is its darkest ink-free column.
2. banxin: long vertical rules (a vertical opening of the ink) are paired, next to
   each other, 4-12 % of the width apart; the pair is a 版心 when it holds far less
   ink than a typical text column (between 界行), lies inside the frame (its top
   and bottom lines cross it: two pages' frames side by side leave clear paper
   between them) and sits at the middle of the printed frame (a sheet is
   symmetric about its fold). The split is its centre.
3. fold, paper gap: a run of ink-free columns much wider than the space between
   text columns, with ink on both sides (two pages, or two half-leaves, apart).
4. least-ink: the emptiest column nearest the centre, with a low confidence.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import pairwise

import cv2
import numpy as np

from pipeline.errors import ImageError

log = logging.getLogger(__name__)

SEARCH_BAND = 0.36  # width of the central band searched, fraction of the image width
MIN_SIDE = 32  # px; a smaller image cannot be split
STROKE_WIDTH = 0.012  # dark detail narrower than this share of the width is ink, wider is shadow
INK_DELTA = 40.0  # grey levels below the local paper that count as ink
RULE_RUN = 0.08  # a rule is ink running straight down this share of the text height
RULE_LENGTH = 0.5  # a rule covers at least this share of the text height
RULE_DRIFT = 0.006  # columns summed when tracing a rule, share of the width (residual skew)
BANXIN_GAP = (0.04, 0.12)  # distance between a 版心's two rules, share of the sheet width
BANXIN_INK = 0.6  # a 版心 holds at most this share of a typical text column's inked rows
BANXIN_CENTRING = 0.02  # a 版心 lies within this share of the width from the frame's middle
VALLEY_DEPTH = 0.25  # a gutter's median brightness falls at least this share below the paper
VALLEY_WIDTH = 0.013  # a gutter is wider than this share of the width at half its depth (a frame's
# double line, the widest rule, is about 1 %)
GAP_WIDTH = 0.02  # a paper gap is an ink-free run at least this share of the width (inside a
# printed frame no column is ink-free: the frame's top and bottom lines cross it)
CLEAR_INK = 0.002  # a column with ink on at most this share of the text height counts as clear


@dataclass(frozen=True)
class Split:
    """Where a spread divides into its left and right leaf, and how sure the detection is."""

    x: int  # left leaf = columns [0, x), right leaf = [x, width), in image pixels
    method: str  # "banxin", "fold" (gutter valley or paper gap) or "least-ink" (fallback)
    confidence: float  # 0..1
    note: str  # one line for the PREMIS event or a person

    def scaled(self, factor: float, width: int) -> Split:
        """Return this split for the same image ``factor`` times larger and ``width`` px wide."""
        x = min(max(round(self.x * factor), 1), width - 1)
        return Split(x, self.method, self.confidence, self.note)


@dataclass(frozen=True)
class _Profiles:
    grey: np.ndarray  # uint8 (H, W)
    ink: np.ndarray  # bool (H, W), text strokes and rules
    rows: slice  # the rows that hold the text
    ink_share: np.ndarray  # per column: share of the text rows that is ink
    median: np.ndarray  # per column: median grey over the text rows
    paper: float  # grey level of the paper
    band: tuple[int, int]  # searched columns [start, end)


def find_split(image: np.ndarray) -> Split:
    """Find the column where an upright, cropped spread divides into two leaves.

    ``image`` is grey (H, W) or RGB (H, W, 3) uint8, typically ~1000 px on the long
    side; ``Split.x`` is in its pixels.
    """
    profiles = _profiles(_grey(image))
    width = profiles.ink.shape[1]
    for detect in (_find_valley, _find_banxin, _find_gap):
        split = detect(profiles)
        if split is not None:
            log.debug("find_split: %s confidence=%.2f", split.note, split.confidence)
            return split
    return _least_ink(profiles, width)


def _grey(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise ImageError("<array>", f"find_split needs grey or RGB uint8, got {image.dtype} {image.shape}")
    if min(image.shape[:2]) < MIN_SIDE:
        raise ImageError("<array>", f"image too small to split: {image.shape[1]}x{image.shape[0]}")
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return image.reshape(image.shape[:2])


def _profiles(grey: np.ndarray) -> _Profiles:
    width = grey.shape[1]
    k = max(5, round(width * STROKE_WIDTH) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    smooth = cv2.GaussianBlur(grey, (0, 0), 0.8)
    ink = cv2.morphologyEx(smooth, cv2.MORPH_BLACKHAT, kernel).astype(np.float32) > INK_DELTA
    rows = _text_rows(ink)
    median = np.median(grey[rows], axis=0).astype(np.float32)
    half = round(width * SEARCH_BAND / 2)
    return _Profiles(
        grey,
        ink,
        rows,
        ink[rows].mean(axis=0),
        median,
        float(np.percentile(median, 90)),
        (max(1, width // 2 - half), min(width - 1, width // 2 + half)),
    )


def _text_rows(ink: np.ndarray) -> slice:
    """Rows between the first and last few per cent of the ink (all rows if there is hardly any)."""
    ys = np.nonzero(ink.any(axis=1))[0]
    if ys.size < ink.shape[0] * 0.1:
        return slice(0, ink.shape[0])
    counts = ink.sum(axis=1).astype(np.float64)
    cumulative = np.cumsum(counts) / counts.sum()
    top, bottom = int(np.searchsorted(cumulative, 0.02)), int(np.searchsorted(cumulative, 0.98))
    return slice(top, max(bottom + 1, top + 2))


def _find_valley(p: _Profiles) -> Split | None:
    """Find the gutter of an open book: a wide, deep dip in the columns' median brightness."""
    start, end = p.band
    level = cv2.blur(p.median.reshape(1, -1), (3, 1)).ravel()
    dark = level < p.paper * (1.0 - VALLEY_DEPTH)
    # Each dark run is a candidate; a thick black rule or a scanner's edge bar is one too, but narrow.
    lows = [s + int(np.argmin(level[s:e])) for s, e in _runs(dark[start:end] if end > start else dark[:0])]
    found = [split for split in (_valley_at(p, level, start + low) for low in lows) if split is not None]
    return max(found, key=lambda split: split.confidence, default=None)


def _valley_at(p: _Profiles, level: np.ndarray, low: int) -> Split | None:
    """Return the split in the valley whose darkest column is ``low``, if it is a gutter."""
    start, end = p.band
    width = level.size
    depth = 1.0 - level[low] / max(p.paper, 1.0)
    run = _run_around(level < p.paper * (1.0 - depth / 2), low)
    # A gutter has two walls inside the band; a page edge or ground at its end has one.
    if run[1] - run[0] < VALLEY_WIDTH * width or run[0] <= start or run[1] >= end:
        return None
    # The crease is the middle of the darkest part, not its first column.
    floor = _run_around(level <= level[low] + 0.1 * (p.paper - level[low]), low)
    shadowed_ink = _shadowed_ink(p, run)
    x = _clearest_in(shadowed_ink, (0, run[1] - run[0]), (floor[0] + floor[1]) // 2 - run[0]) + run[0]
    if shadowed_ink[x - run[0]] > CLEAR_INK:
        return None
    confidence = round(min(0.95, 0.5 + depth), 2)
    note = f"split at the fold of the open book (gutter shadow, x={x} of {width})"
    return Split(x, "fold", confidence, note)


def _shadowed_ink(p: _Profiles, run: tuple[int, int]) -> np.ndarray:
    """Share of the text rows that is ink, per column of ``run``, judged against the shadow there.

    The black-hat filter takes the bottom of a narrow, steep gutter for ink; a stroke
    is much darker than its own column's median, the shadow is that median.
    """
    columns = p.grey[p.rows, run[0] : run[1]].astype(np.float32)
    return (columns < p.median[run[0] : run[1]] - INK_DELTA).mean(axis=0)


def _find_banxin(p: _Profiles) -> Split | None:
    """Find the 版心: a pair of close long rules at the frame's middle, nearly empty of text."""
    width = p.ink.shape[1]
    rules = _rules(p)
    if len(rules) < 3:
        return None
    pairs = [(a, b) for a, b in pairwise(rules) if BANXIN_GAP[0] * width <= b - a <= BANXIN_GAP[1] * width]
    if not pairs:
        return None
    filled = {pair: _inked_rows(p, pair) for pair in pairs}
    typical = float(np.median(list(filled.values())))
    middle = (rules[0] + rules[-1]) / 2
    start, end = p.band
    fold = [pair for pair in pairs if filled[pair] <= BANXIN_INK * typical and start <= sum(pair) / 2 < end]
    fold = [pair for pair in fold if _inside_frame(p, pair)]
    fold = [pair for pair in fold if abs(sum(pair) / 2 - middle) <= BANXIN_CENTRING * width]
    if not fold:
        return None
    a, b = min(fold, key=lambda pair: abs(sum(pair) / 2 - middle))
    x = round((a + b) / 2)
    emptiness = 1.0 - filled[(a, b)] / max(typical, 1e-6)
    confidence = round(min(0.95, 0.6 + 0.4 * emptiness), 2)
    note = f"split at the 版心 centre (x={x} of {width})"
    return Split(x, "banxin", confidence, note)


def _rules(p: _Profiles) -> list[int]:
    """Return the x of each long vertical rule (界行, 版心 and frame lines), left to right."""
    width = p.ink.shape[1]
    text_height = p.rows.stop - p.rows.start
    run = max(5, round(text_height * RULE_RUN))
    vertical = cv2.getStructuringElement(cv2.MORPH_RECT, (1, run))
    long = cv2.morphologyEx(p.ink[p.rows].astype(np.uint8), cv2.MORPH_OPEN, vertical)
    cover = long.sum(axis=0).astype(np.float32)
    # A slightly skewed rule wanders over a few columns: sum neighbours before thresholding.
    drift = max(3, round(width * RULE_DRIFT) | 1)
    traced = np.convolve(cover, np.ones(drift, np.float32), mode="same")
    runs = _runs(traced >= RULE_LENGTH * text_height)
    return [round(np.average(np.arange(s, e), weights=cover[s:e] + 1e-3)) for s, e in runs]


def _inked_rows(p: _Profiles, pair: tuple[int, int]) -> float:
    """Share of the text rows with ink between two rules, leaving the rules themselves out."""
    a, b = pair
    inset = max(2, round((b - a) * 0.15))
    inside = p.ink[p.rows, a + inset : b - inset]
    return float(inside.any(axis=1).mean()) if inside.size else 0.0


def _inside_frame(p: _Profiles, pair: tuple[int, int]) -> bool:
    """Tell whether the frame's top and bottom lines run across the space between two rules.

    A 版心 lies inside the sheet's one frame; two pages' frames side by side have
    clear paper between them.
    """
    a, b = pair
    return bool((p.ink_share[a + 1 : b] > CLEAR_INK).all())


def _find_gap(p: _Profiles) -> Split | None:
    """Find a paper gap between two leaves: a wide run of clear columns with ink on both sides.

    A column also counts as clear when it is evenly dark (a narrow gutter strip, a
    rule), as long as nothing in it is darker than its own median; the cut itself
    then goes in the stroke-free column nearest the gap's middle.
    """
    start, end = p.band
    width = p.ink_share.size
    strokes_clear = p.ink_share <= CLEAR_INK
    clear = strokes_clear | (_shadowed_ink(p, (0, width)) <= CLEAR_INK)
    runs = [(s + start, e + start) for s, e in _runs(clear[start:end]) if e - s >= GAP_WIDTH * width]
    runs = [(s, e) for s, e in runs if not clear[:s].all() and not clear[e:].all()]
    if not runs:
        return None
    s, e = min(runs, key=lambda run: abs((run[0] + run[1]) / 2 - width / 2))
    x = _clearest_in(p.ink_share, (s, e), (s + e) // 2)
    confidence = round(min(0.85, 0.4 + 5.0 * (e - s) / width), 2)
    note = f"split in the paper gap between the leaves (x={x} of {width}, {e - s} px clear)"
    return Split(x, "fold", confidence, note)


def _least_ink(p: _Profiles, width: int) -> Split:
    """Fall back to the widest clear run (else the emptiest column) nearest the centre; say it is unsure."""
    if not p.ink.any():
        x = width // 2
        return Split(x, "least-ink", 0.1, f"no ink and no fold seen: split at the middle (x={x} of {width}); check it")
    clear_x = _widest_clear(p, width)
    x = _emptiest(p, width) if clear_x is None else clear_x
    clear = p.ink_share[x] <= CLEAR_INK
    confidence = 0.3 if clear else 0.1
    state = "a clear column" if clear else f"ink on {p.ink_share[x]:.1%} of its height"
    note = f"no fold seen: split at the emptiest column near the middle (x={x} of {width}, {state}); check it"
    return Split(x, "least-ink", confidence, note)


def _widest_clear(p: _Profiles, width: int) -> int | None:
    """Centre of the widest run of clear columns in the band (nearest the middle among equals)."""
    start, end = p.band
    runs = [(s + start, e + start) for s, e in _runs(p.ink_share[start:end] <= CLEAR_INK)]
    if not runs:
        return None
    s, e = max(runs, key=lambda run: (run[1] - run[0], -abs((run[0] + run[1]) / 2 - width / 2)))
    return (s + e) // 2


def _emptiest(p: _Profiles, width: int) -> int:
    """The column with the least ink near the emptiest stretch of the band, nearest the middle."""
    start, end = p.band
    window = max(3, round(width * 0.01) | 1)
    spread = np.convolve(p.ink_share, np.ones(window, np.float32) / window, mode="same")
    lowest = float(spread[start:end].min())
    candidates = np.nonzero(spread[start:end] <= lowest + 1e-6)[0] + start
    x = int(candidates[np.argmin(np.abs(candidates - width / 2))])
    return _clearest_in(p.ink_share, (max(start, x - window), min(end, x + window + 1)), x)


def _clearest_in(ink_share: np.ndarray, run: tuple[int, int], near: int) -> int:
    """Return the column in ``run`` with the least ink, nearest ``near`` among equals."""
    columns = np.arange(run[0], run[1])
    share = ink_share[run[0] : run[1]]
    best = columns[share <= share.min() + 1e-9]
    return int(best[np.argmin(np.abs(best - near))])


def _run_around(mask: np.ndarray, index: int) -> tuple[int, int]:
    """Return the run [start, end) of True in ``mask`` that holds ``index``."""
    start, end = index, index + 1
    while start > 0 and mask[start - 1]:
        start -= 1
    while end < mask.size and mask[end]:
        end += 1
    return start, end


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Return the runs [start, end) of True in a 1-D mask."""
    padded = np.concatenate([[False], mask.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))
