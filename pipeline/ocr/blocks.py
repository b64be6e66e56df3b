"""Block layout of periodical pages: tiers, headings, adverts, running heads, illustrations.

Pure image geometry on a :class:`~pipeline.ocr.layout.CleanPage`, no engine.
Republican-era magazines set body text in tiers (上下二欄) of vertical columns,
split by a long horizontal rule or by whitespace alone; a headline may run left
to right above them; adverts stand in ruled boxes; a running head and page
number sit at the very edge. We find, in order:

1. illustrations: solid shapes several glyphs across (left unread, as regions);
2. ruled frames: a page-sized one is the page border, a smaller one holding
   text is an advert;
3. running heads: a thin band of small type alone at the top or bottom edge;
4. bands of the remaining text, split at horizontal rules and at whitespace
   wider than a glyph and a half (and than the leading of horizontal lines),
   microfilm streaks and specks left out; each band's direction comes from its ink
   profile (columns leave gaps across x, lines across y). Horizontal bands of at
   most two lines above the first taller band are headings.

Blocks are returned in reading order: headings, then bands top to bottom, then
adverts and running heads, which stand outside the flow.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.ocr.layout import CleanPage
from pipeline.ocr.model import BlockRole, Box, OcrRegion, RegionKind, Span

__all__ = [
    "LayoutBlock",
    "PageBlocks",
    "estimate_glyph_size",
    "film_streaks",
    "find_blocks",
    "glyph_solids",
    "is_vertical",
]

log = logging.getLogger(__name__)

TIER_GAP = 1.5  # glyph sizes of blank rows that split two tiers
LEADING_GAP = 1.8  # ... and at least this many times the leading of horizontal text
EDGE_ZONE = 0.07  # fraction of the page height at the top and bottom where running heads sit
PAGE_FRAME = 0.4  # a frame enclosing this fraction of the page is its border, not an advert
STREAK_SHARE = 0.05  # of a rule's pixels with text close on both sides, above which it is a streak
HEADING_LINES = 2  # a heading band holds at most this many lines


@dataclass(frozen=True)
class LayoutBlock:
    """A block to read on its own: where it is, what it is, which way it reads, and when."""

    role: BlockRole
    box: Box
    vertical: bool
    order: int  # reading order on the page, from 0


@dataclass(frozen=True)
class PageBlocks:
    """The blocks of a page in reading order, and the areas left unread."""

    blocks: tuple[LayoutBlock, ...]
    regions: tuple[OcrRegion, ...]


def find_blocks(page: CleanPage, *, vertical: bool = True) -> PageBlocks:
    """Lay a periodical page out into blocks; ``vertical`` decides blocks whose ink does not."""
    glyph = estimate_glyph_size(page.text_ink)
    text = _without_specks(page.text_ink & ~_streaks(page.text_ink, glyph), glyph)
    regions = _illustrations(page.solid, glyph)
    for region in regions:
        _blank(text, region.box)
    adverts = _adverts(page, text, glyph, vertical)
    running = _running_heads(text, glyph)
    for box in running:
        _blank(text, box)
    flow = _flow_blocks(text, _rule_rows(page.lines, glyph), glyph, vertical)
    ordered = [
        *flow,
        *((BlockRole.ADVERT, box, v) for box, v in sorted(adverts, key=lambda a: (a[0][1], -a[0][2]))),
        *((BlockRole.RUNNING, box, False) for box in running),
    ]
    blocks = tuple(LayoutBlock(role, box, v, n) for n, (role, box, v) in enumerate(ordered))
    log.debug("%d blocks (%s), %d illustrations", len(blocks), ", ".join(b.role.value for b in blocks), len(regions))
    return PageBlocks(blocks, tuple(regions))


def estimate_glyph_size(ink: np.ndarray) -> float:
    """Return the typical glyph size: the shorter of the median ink runs across x and across y.

    Columns give x runs a glyph wide, lines give y runs a glyph tall; the other
    axis may run solid from one end of the text to the other.
    """
    sizes = [np.median([b - a for a, b in runs]) for runs in (_runs(_inked(ink, 0)), _runs(_inked(ink, 1))) if runs]
    return float(max(4.0, min(sizes))) if sizes else 4.0


def glyph_solids(solid: np.ndarray, glyph: float) -> np.ndarray:
    """Return the solid shapes no bigger than a glyph and a half each way: bold glyphs, not blots.

    In small type the strokes of a dense glyph (禮, 讓) run together into a core
    thick enough for :func:`~pipeline.ocr.layout.clean_page` to take it for a blot.
    """
    _, labels, stats, _ = cv2.connectedComponentsWithStats(solid.astype(np.uint8), connectivity=8)
    small = (stats[:, cv2.CC_STAT_WIDTH] <= 1.5 * glyph) & (stats[:, cv2.CC_STAT_HEIGHT] <= 1.5 * glyph)
    small[0] = False
    return small[labels]


def film_streaks(lines: np.ndarray, text: np.ndarray, glyph: float) -> np.ndarray:
    """Return the rule-like marks that run through text rather than between it: microfilm streaks.

    A rule between columns has paper on both sides; a streak down the film cuts
    through glyphs, so along much of it text ink lies close on both sides.
    """
    across = cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, round(0.4 * glyph)), 1))
    bridged = cv2.morphologyEx(text.astype(np.uint8), cv2.MORPH_CLOSE, across).astype(bool) & lines
    count, labels = cv2.connectedComponents(lines.astype(np.uint8), connectivity=8)
    through = np.bincount(labels[bridged], minlength=count) > STREAK_SHARE * np.bincount(
        labels.ravel(), minlength=count
    )
    through[0] = False
    return through[labels]


def is_vertical(ink: np.ndarray, glyph: float, default: bool) -> bool:
    """Tell vertical columns from horizontal lines by where the ink leaves blank paper.

    Lines are set further apart than the glyphs along them, so the blank share
    of the profile across the lines is the larger. A band one glyph tall is a
    line; a band one glyph wide is a column.
    """
    height, width = ink.shape
    if height <= 1.6 * glyph < width:
        return False
    if width <= 1.6 * glyph < height:
        return True
    across_x, across_y = _blank_share(_inked(ink, 0)), _blank_share(_inked(ink, 1))
    if abs(across_x - across_y) < 0.03:
        return default
    return across_x > across_y


# --- frames, rules, illustrations ------------------------------------------------------------


def _adverts(page: CleanPage, text: np.ndarray, glyph: float, default: bool) -> list[tuple[Box, bool]]:
    """Return the ink box and direction of the text in each ruled frame; blank the frames out of ``text``."""
    adverts = []
    for frame in _frames(page.lines, glyph):
        box = _ink_box(text, _inset(frame, max(2, round(glyph / 6))))
        _blank(text, frame)
        if box is not None:
            ink = page.text_ink[box[1] : box[3], box[0] : box[2]]
            adverts.append((box, is_vertical(ink, estimate_glyph_size(ink), default)))
    return adverts


def _illustrations(solid: np.ndarray, glyph: float) -> list[OcrRegion]:
    """Return solid shapes at least three glyphs across each way: pictures, not punctuation or blots."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(solid.astype(np.uint8), connectivity=8)
    return [
        OcrRegion(RegionKind.ILLUSTRATION, (int(x), int(y), int(x + w), int(y + h)))
        for x, y, w, h, _ in stats[1:count]
        if w >= 3 * glyph and h >= 3 * glyph
    ]


def _frames(lines: np.ndarray, glyph: float) -> list[Box]:
    """Return boxes drawn with rules on all four sides, smaller than the page border."""
    height, width = lines.shape
    joined = cv2.dilate(lines.astype(np.uint8), np.ones((5, 5), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    frames = []
    for label in range(1, count):
        x, y, w, h, _ = (int(v) for v in stats[label])
        if w < 3 * glyph or h < 3 * glyph or w * h >= PAGE_FRAME * width * height:
            continue
        if _is_closed(labels[y : y + h, x : x + w] == label):
            frames.append((x, y, x + w, y + h))
    return frames


def _is_closed(component: np.ndarray) -> bool:
    """True when each side's edge strip of a rule component's box is inked along most of its length."""
    depth = max(3, min(component.shape) // 20)
    sides = (
        component[:depth].any(axis=0),
        component[-depth:].any(axis=0),
        component[:, :depth].any(axis=1),
        component[:, -depth:].any(axis=1),
    )
    return all(side.mean() > 0.8 for side in sides)


def _streaks(text: np.ndarray, glyph: float) -> np.ndarray:
    """Return thin vertical streaks left in the text ink (microfilm scratches, broken rules).

    No glyph stroke runs three glyphs long, even with the dashes of a broken
    streak bridged; the streak's neighbourhood goes with it from the layout mask
    only, never from what the engine reads.
    """
    bridge = cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(3, round(glyph / 2))))
    long = cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(15, round(3 * glyph))))
    closed = cv2.morphologyEx(text.astype(np.uint8), cv2.MORPH_CLOSE, bridge)
    streaks = cv2.morphologyEx(closed, cv2.MORPH_OPEN, long)
    return cv2.dilate(streaks, np.ones((3, 7), np.uint8)).astype(bool)


def _without_specks(text: np.ndarray, glyph: float) -> np.ndarray:
    """Return the text ink without specks far smaller than a comma (film grain, dust)."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(text.astype(np.uint8), connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] < glyph * glyph / 40
    small[0] = False
    return text & ~small[labels]


def _rule_rows(lines: np.ndarray, glyph: float) -> list[int]:
    """Return the rows of horizontal rules long enough to split tiers (a quarter of the page width)."""
    width = lines.shape[1]
    long = cv2.morphologyEx(
        lines.astype(np.uint8), cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (max(15, width // 4), 1))
    )
    return [(a + b) // 2 for a, b in _runs(np.asarray(long.any(axis=1))) if b - a < glyph]


# --- running heads and flow bands ------------------------------------------------------------


def _running_heads(text: np.ndarray, glyph: float) -> list[Box]:
    """Return the thin bands of small type set apart at the very top or bottom of the page."""
    height, width = text.shape
    bands = _bridged(_runs(_inked(text, 1)), round(0.6 * glyph))
    if len(bands) < 2:
        return []
    (top, below), (above, bottom) = bands[:2], bands[-2:]
    edges = [
        (top, top[1] <= EDGE_ZONE * height, below[0] - top[1]),
        (bottom, bottom[0] >= (1 - EDGE_ZONE) * height, bottom[0] - above[1]),
    ]
    found = []
    for (a, b), at_edge, gap in edges:
        box = _ink_box(text, (0, a, width, b)) if at_edge and gap >= 0.8 * glyph and b - a <= 1.3 * glyph else None
        if box is not None and box[2] - box[0] >= glyph / 2:  # a speck at the edge is no page number
            found.append(box)
    return found


def _flow_blocks(text: np.ndarray, rules: list[int], glyph: float, default: bool) -> list[tuple[BlockRole, Box, bool]]:
    """Return the bands of text top to bottom with their direction; the leading short horizontal ones are headings."""
    runs = _bridged(_runs(_inked(text, 1)), round(0.3 * glyph))  # the parts of 二 or 言 joined
    blocks = []
    in_body = False
    for a, b in _bands(runs, rules, max(TIER_GAP * glyph, LEADING_GAP * _leading(runs, glyph))):
        box = _ink_box(text, (0, a, text.shape[1], b))
        if box is None or min(box[2] - box[0], box[3] - box[1]) < 0.4 * glyph:
            continue  # rule residue, a lone speck
        ink = text[box[1] : box[3], box[0] : box[2]]
        vertical = is_vertical(ink, estimate_glyph_size(ink), default)
        heading = not in_body and not vertical and _line_count(ink) <= HEADING_LINES
        in_body = in_body or not heading
        blocks.append((BlockRole.HEADING if heading else BlockRole.TEXT, box, vertical))
    return blocks


def _bands(runs: list[Span], rules: list[int], split: float) -> list[Span]:
    """Join inked row runs into bands, parting them at a gap of ``split`` rows or more, or at a rule."""
    bands: list[Span] = runs[:1]
    for a, b in runs[1:]:
        ruled = any(bands[-1][1] <= r < a for r in rules)
        if a - bands[-1][1] < split and not ruled:
            bands[-1] = (bands[-1][0], b)
        else:
            bands.append((a, b))
    return bands


def _leading(runs: list[Span], glyph: float) -> float:
    """Return the median gap between horizontal lines (runs one glyph tall), 0 if there are none.

    Widely leaded lines are no tiers: between two tiers the gap is wider than the
    leading. Vertical tiers are single runs and have no leading.
    """
    gaps = [a - b for (a0, b), (a, b1) in itertools.pairwise(runs) if max(b - a0, b1 - a) <= 1.6 * glyph]
    return float(np.median(gaps)) if gaps else 0.0


def _line_count(ink: np.ndarray) -> int:
    """Return the number of lines in a horizontal band (its y runs, glyph parts joined)."""
    glyph = estimate_glyph_size(ink)
    return len(_bridged(_runs(_inked(ink, 1)), round(0.3 * glyph)))


# --- small helpers ---------------------------------------------------------------------------


def _inked(ink: np.ndarray, axis: int) -> np.ndarray:
    """Return which columns (axis 0) or rows (axis 1) hold ink, ignoring a stray pixel or two."""
    return np.asarray(ink.sum(axis=axis) >= 2)


def _blank_share(inked: np.ndarray) -> float:
    """Return the share of blank positions between the first and the last inked one."""
    hits = np.flatnonzero(inked)
    if len(hits) < 2:
        return 0.0
    span = inked[hits[0] : hits[-1] + 1]
    return float(1 - span.mean())


def _bridged(runs: list[Span], gap: int) -> list[Span]:
    merged: list[Span] = runs[:1]
    for a, b in runs[1:]:
        if a - merged[-1][1] <= gap:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def _ink_box(ink: np.ndarray, box: Box) -> Box | None:
    """Return the box of the ink inside ``box``, or None when it holds none."""
    x0, y0, x1, y1 = box
    area = ink[y0:y1, x0:x1]
    xs, ys = np.flatnonzero(_inked(area, 0)), np.flatnonzero(_inked(area, 1))
    if len(xs) == 0 or len(ys) == 0:
        return None
    return (x0 + int(xs[0]), y0 + int(ys[0]), x0 + int(xs[-1]) + 1, y0 + int(ys[-1]) + 1)


def _inset(box: Box, by: int) -> Box:
    return (box[0] + by, box[1] + by, box[2] - by, box[3] - by)


def _blank(mask: np.ndarray, box: Box) -> None:
    mask[box[1] : box[3], box[0] : box[2]] = False


def _runs(mask: np.ndarray) -> list[Span]:
    """Return the [start, end) runs where ``mask`` is True."""
    on = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(np.diff(on.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]
