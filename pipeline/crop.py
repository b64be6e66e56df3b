"""Find the page in a camera or scanner capture, so the access derivative can be cropped to it.

Masters keep the whole capture; only the access derivative is cropped, and a wrong
crop there hides text from readers. So the detection is deliberately cautious: it
crops only when the page clearly stands out from what surrounds it, and it never
returns a box that would cut ink; otherwise it says why it left the page uncropped.

Method (classical, no model): the paper colour is taken from the centre of the
capture and the ground colour from the part of the image border that is not paper.
Every pixel is placed on the line from ground to paper colour (CIELAB); pixels on
the paper side form the page mask. On a dark ground the split follows the paper's
own lighting (a smooth field fitted to it), nearer the ground than the paper, so a
lamp's fall-off or a spine shadow over the page's edge still counts as page. After
an opening (cuts thin bridges to a colour target or a hand) the largest region, with
a facing page of the same height (an open book), is the page; its holes (ink) are
filled and its box is read from the column and row profiles, dropping narrow strips
beyond a gap (the next leaf, the cover). The box then grows to every ink shape it
touches, so it never cuts ink.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.errors import ImageError

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]  # left, top, width, height
Corners = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), at working size

MARGIN = 0.01  # kept round the page, as a fraction of the page's long side
WORK_LONG_SIDE = 800  # px; detection runs on a copy this size
BORDER = 0.02  # width of the border ring that samples the ground, fraction of the short side
PAPER_TOLERANCE = 8.0  # CIELAB ΔE: a border pixel this close to the paper colour is paper, not ground
MIN_GROUND_BORDER = 0.12  # fraction of the border that must be ground for the page to have a surround
MIN_CONTRAST = 6.0  # ΔE between paper and ground below which the page edge cannot be told
DARK_SPLIT = 0.3  # position on the ground-to-paper line above which a pixel is page (dark ground)
LIGHT_SPLIT = 0.5  # the same on a light ground, where paper and bed differ little
CLEAR_PAPER = 0.7  # pixels this far towards the paper sample the page's lighting
EDGE_OCCUPANCY = 0.15  # a column/row holding less page than this share of the typical one is not page
STRIP = 0.25  # a run of page columns narrower than this share of the widest, beyond a gap, is a stray
STROKE_WIDTH = 0.02  # dark detail narrower than this share of the long side is ink, wider is ground
MIN_TEXT_SHARE = 0.01  # share of the frame round ink strokes below which the page is taken as blank
MIN_PAGE_AREA = 0.08  # a page smaller than this share of the frame is not believed
SECOND_PAGE = 0.8  # a second region at least this share of the page's height is the facing page
INK_DELTA = 25.0  # L* below the paper that counts as ink
GROUND_INK_AREA = 0.05  # a dark region larger than this share of the frame is ground, not ink
INK_REACH = 0.01  # width of the band beyond the margin that must be free of ink, fraction of the page
INK_BEYOND = 0.002  # share of that band that may be ink (noise, dust) before the crop is refused


@dataclass(frozen=True)
class PageCrop:
    """Where the page is in a capture, and how sure the detection is."""

    box: Box | None  # crop box (left, top, width, height) with margin, clipped; None = leave uncropped
    page_box: Box | None  # the detected page (or open book) itself, without margin
    ground: str  # what surrounds the page: "dark", "light", "none" (page fills the frame), "unclear"
    confidence: float  # 0..1
    note: str  # one line for the PREMIS event or a person

    def scaled(self, factor: float, width: int, height: int) -> PageCrop:
        """Return this crop for the same capture ``factor`` times larger, clipped to ``width`` x ``height``."""
        return PageCrop(
            _scale_box(self.box, factor, width, height),
            _scale_box(self.page_box, factor, width, height),
            self.ground,
            self.confidence,
            self.note,
        )


@dataclass(frozen=True)
class _Colours:
    paper: np.ndarray  # CIELAB
    ground: np.ndarray  # CIELAB
    ground_share: float  # of the border ring


def find_page(image: np.ndarray, *, margin: float = MARGIN) -> PageCrop:
    """Find the page (or open book) in an upright, deskewed capture.

    ``image`` is grey (H, W) or RGB (H, W, 3) uint8, typically a shrunk copy
    (long side ~1000-1600 px). Boxes are in ``image``'s pixels.
    """
    lab, factor = _working_lab(_check(image))
    colours = _colours(lab)
    ground, refusal = _classify_ground(colours)
    if refusal:
        return PageCrop(None, None, ground, 0.0, refusal)
    page = _page_mask(lab, colours, ground)
    if page is None:
        return PageCrop(None, None, ground, 0.0, "no page edge found: no page-sized region; left uncropped")
    return _crop_from_mask(lab, page, colours, ground, factor, margin, image.shape[:2])


def _check(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise ImageError("<array>", f"find_page needs grey or RGB uint8, got {image.dtype} {image.shape}")
    if min(image.shape[:2]) < 32:
        raise ImageError("<array>", f"image too small to find a page in: {image.shape[1]}x{image.shape[0]}")
    return image if image.ndim == 3 and image.shape[2] == 3 else np.repeat(image.reshape(*image.shape[:2], 1), 3, 2)


def _working_lab(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """Shrink to the working size, smooth sensor noise away and convert to CIELAB (float L* 0..100)."""
    factor = max(1.0, max(rgb.shape[:2]) / WORK_LONG_SIDE)
    if factor > 1.0:
        size = (round(rgb.shape[1] / factor), round(rgb.shape[0] / factor))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    smooth = cv2.GaussianBlur(rgb.astype(np.float32) / 255.0, (0, 0), 1.2)
    return cv2.cvtColor(smooth, cv2.COLOR_RGB2Lab), factor


def _colours(lab: np.ndarray) -> _Colours:
    """Take the paper colour from round the text and the ground colour from the non-paper border."""
    paper = _paper_colour(lab)
    ring = _border_ring(lab)
    far = np.linalg.norm(ring - paper, axis=1) > PAPER_TOLERANCE
    ground = np.median(ring[far], axis=0) if far.any() else paper
    return _Colours(paper, ground, float(far.mean()))


def _paper_colour(lab: np.ndarray) -> np.ndarray:
    """Return the colour of the paper: what lies round the strokes of ink, wherever the page is.

    A black-hat filter finds dark detail narrower than a few characters (text, rules),
    not the wide dark of a ground; a page without such detail falls back to the
    brighter half of the centre of the frame.
    """
    k = max(5, round(max(lab.shape[:2]) * STROKE_WIDTH) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    strokes = (cv2.morphologyEx(lab[..., 0], cv2.MORPH_BLACKHAT, kernel) > INK_DELTA).astype(np.uint8)
    near = cv2.dilate(strokes, kernel).astype(bool) & ~cv2.dilate(strokes, np.ones((3, 3), np.uint8)).astype(bool)
    if near.sum() < MIN_TEXT_SHARE * near.size:
        h, w = lab.shape[:2]
        near = np.zeros(lab.shape[:2], bool)
        near[h // 4 : h - h // 4, w // 4 : w - w // 4] = True
    samples = lab[near]
    # Blur and shadow darken some of the samples; the paper is their brighter half.
    return np.median(samples[samples[:, 0] >= np.median(samples[:, 0])], axis=0)


def _border_ring(lab: np.ndarray) -> np.ndarray:
    edge = max(2, round(min(lab.shape[:2]) * BORDER))
    parts = (lab[:edge], lab[-edge:], lab[edge:-edge, :edge], lab[edge:-edge, -edge:])
    return np.concatenate([p.reshape(-1, 3) for p in parts])


def _classify_ground(colours: _Colours) -> tuple[str, str]:
    """Name the ground, or give the reason the page cannot be told from it (empty if it can)."""
    if colours.ground_share < MIN_GROUND_BORDER:
        return "none", "no page edge found: the border is paper-coloured (page fills the frame); left uncropped"
    contrast = float(np.linalg.norm(colours.paper - colours.ground))
    if contrast < MIN_CONTRAST:
        return "unclear", f"no page edge found: page and ground differ too little (ΔE {contrast:.1f}); left uncropped"
    # "dark" means darker than the paper; a light ground differs mostly in tint.
    return ("dark" if colours.ground[0] < colours.paper[0] - MIN_CONTRAST else "light"), ""


def _page_mask(lab: np.ndarray, colours: _Colours, ground: str) -> np.ndarray | None:
    """Return the page region (holes filled) as a bool mask, or None if nothing page-sized is found."""
    axis = colours.paper - colours.ground
    along = (lab - colours.ground) @ axis / float(axis @ axis)
    if ground == "dark":
        mask = _relit_mask(lab[..., 0], float(colours.ground[0]), along > CLEAR_PAPER)
    else:
        mask = along > LIGHT_SPLIT
    k = max(3, round(max(lab.shape[:2]) * 0.008) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    # Opening drops noise and thin bridges to objects beside the page; closing joins the page
    # margin to the text area across the printed frame's lines (a few px here), but not across
    # the wider dark gap between a page and the next leaf seen beyond it.
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    regions = _page_regions(mask, MIN_PAGE_AREA * mask.size)
    return None if regions is None else _fill_holes(regions)


def _relit_mask(lightness: np.ndarray, ground_l: float, paper: np.ndarray) -> np.ndarray:
    """Split page from a dark ground against the paper's own lighting, which falls off across a photo.

    A smooth (quadratic) lightness field is fitted to clear paper pixels, so the dim
    far side of a lamp-lit page is still compared with paper as lit there.
    """
    h, w = lightness.shape
    ys, xs = np.nonzero(paper)
    step = max(1, xs.size // 40000)
    xs, ys = xs[::step], ys[::step]
    if xs.size < 100:
        return lightness > ground_l + DARK_SPLIT * (float(np.median(lightness)) - ground_l)
    terms = _quadratic_terms(xs / w, ys / h)
    values = lightness[ys, xs]
    coef = np.linalg.lstsq(terms, values, rcond=None)[0]
    keep = np.abs(values - terms @ coef) < 3 * max(1.0, float(np.median(np.abs(values - terms @ coef))))
    coef = np.linalg.lstsq(terms[keep], values[keep], rcond=None)[0]
    # The field is smooth: evaluate it coarsely and enlarge.
    grid_y, grid_x = np.mgrid[0 : h : 8, 0 : w : 8]
    coarse = (_quadratic_terms(grid_x.ravel() / w, grid_y.ravel() / h) @ coef).reshape(grid_x.shape)
    field = cv2.resize(coarse.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    field = np.maximum(field, ground_l + MIN_CONTRAST)
    return lightness > ground_l + DARK_SPLIT * (field - ground_l)


def _quadratic_terms(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=1).astype(np.float32)


def _page_regions(mask: np.ndarray, min_area: float) -> np.ndarray | None:
    """Keep the largest region and a facing page beside it (same height, same rows)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    if count < 2:
        return None
    order = 1 + np.argsort(stats[1:, cv2.CC_STAT_AREA])[::-1]
    main = stats[order[0]]
    if main[cv2.CC_STAT_AREA] < min_area:
        return None
    keep = [order[0]] + [i for i in order[1:3] if _is_facing_page(stats[i], main)]
    return np.isin(labels, keep)


def _is_facing_page(other: np.ndarray, main: np.ndarray) -> bool:
    top, height = other[cv2.CC_STAT_TOP], other[cv2.CC_STAT_HEIGHT]
    main_top, main_height = main[cv2.CC_STAT_TOP], main[cv2.CC_STAT_HEIGHT]
    shared = min(top + height, main_top + main_height) - max(top, main_top)
    return shared >= SECOND_PAGE * main_height and other[cv2.CC_STAT_AREA] >= 0.5 * SECOND_PAGE * main[cv2.CC_STAT_AREA]


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill everything the page encloses (ink, pictures), i.e. what the outside cannot reach."""
    outside = np.pad(~mask, 1, constant_values=True).astype(np.uint8)
    cv2.floodFill(outside, None, (0, 0), 2)
    return (outside[1:-1, 1:-1] != 2)


def _crop_from_mask(
    lab: np.ndarray,
    page: np.ndarray,
    colours: _Colours,
    ground: str,
    factor: float,
    margin: float,
    shape: tuple[int, int],
) -> PageCrop:
    """Turn the page mask into the crop, refusing if ink would be cut or nothing would be cropped."""
    ink = lab[..., 0] < colours.paper[0] - INK_DELTA
    corners = _grow_to_crossing_ink(ink, _grow_to_page_ink(page & ink, _profile_box(page)))
    height, width = shape
    page_box = _scale(_as_box(corners), factor, width, height)
    pad = round(margin * max(page_box[2], page_box[3]))
    box = _clip_box((page_box[0] - pad, page_box[1] - pad, page_box[2] + 2 * pad, page_box[3] + 2 * pad), width, height)
    confidence = _confidence(colours, page, corners)
    if box == (0, 0, width, height):
        note = "no page edge found: the page fills the frame; left uncropped"
        return PageCrop(None, page_box, "none", confidence, note)
    # On a light ground ink stands out from the bed, so ink just past the edge found means
    # the edge is wrong (faded paper, a torn corner) and the crop would cut text.
    reach = round((margin + INK_REACH) * max(corners[2] - corners[0], corners[3] - corners[1]))
    if ground == "light" and _ink_share_beyond(ink, corners, reach) > INK_BEYOND:
        note = "not cropped: ink runs past the page edge found; left uncropped"
        return PageCrop(None, page_box, ground, confidence, note)
    kept = box[2] * box[3] / (width * height)
    note = f"page found on a {ground} ground; crop keeps {kept:.0%} of the frame"
    log.debug("find_page: %s box=%s confidence=%.2f", note, box, confidence)
    return PageCrop(box, page_box, ground, confidence, note)


def _profile_box(page: np.ndarray) -> Corners:
    """Corners of the columns and rows holding a fair share of page, dropping thin strays."""
    cols, rows = page.sum(axis=0), page.sum(axis=1)
    x0, x1 = _span(cols)
    y0, y1 = _span(rows)
    return x0, y0, x1, y1


def _span(profile: np.ndarray) -> tuple[int, int]:
    """First and last index of the page's columns (or rows), leaving out thin strays and strips.

    A strip beyond a gap (the next leaf or the cover seen past the page's edge, a
    finger) is dropped when it is narrow next to the page; a facing page is not.
    """
    typical = np.median(profile[profile > 0])
    runs = _runs(profile >= EDGE_OCCUPANCY * typical)
    widest = max(end - start for start, end in runs)
    wide = [(start, end) for start, end in runs if end - start >= STRIP * widest]
    return wide[0][0], wide[-1][1]


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of True in ``flags``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def _grow_to_page_ink(ink: np.ndarray, corners: Corners) -> Corners:
    """Widen the corners to all ink inside the page region; a crop must never cut ink."""
    ys, xs = np.nonzero(ink)
    if xs.size == 0:
        return corners
    return _union(corners, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))


def _grow_to_crossing_ink(ink: np.ndarray, corners: Corners) -> Corners:
    """Widen the corners to whole ink shapes they overlap, e.g. a heavy printed frame running out of the picture.

    Large dark regions (the ground itself, a dark cloth) are not ink and are left out.
    """
    _, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    x0, y0, x1, y1 = corners
    touched = np.unique(labels[y0:y1, x0:x1])
    touched = touched[(touched > 0) & (stats[touched, cv2.CC_STAT_AREA] < GROUND_INK_AREA * ink.size)]
    if touched.size == 0:
        return corners
    left, top = stats[touched, cv2.CC_STAT_LEFT], stats[touched, cv2.CC_STAT_TOP]
    right, bottom = left + stats[touched, cv2.CC_STAT_WIDTH], top + stats[touched, cv2.CC_STAT_HEIGHT]
    return _union(corners, (int(left.min()), int(top.min()), int(right.max()), int(bottom.max())))


def _union(a: Corners, b: Corners) -> Corners:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _ink_share_beyond(ink: np.ndarray, corners: Corners, reach: int) -> float:
    """Share of ink in the band ``reach`` px wide just outside ``corners``."""
    x0, y0, x1, y1 = corners
    band = np.zeros_like(ink)
    band[max(0, y0 - reach) : y1 + reach, max(0, x0 - reach) : x1 + reach] = True
    band[y0:y1, x0:x1] = False
    return float(ink[band].mean()) if band.any() else 0.0


def _confidence(colours: _Colours, page: np.ndarray, corners: Corners) -> float:
    """High when paper and ground differ well and the page fills its box (a clean quadrilateral)."""
    contrast = float(np.linalg.norm(colours.paper - colours.ground))
    fill = float(page[corners[1] : corners[3], corners[0] : corners[2]].mean())
    return round(min(1.0, contrast / (4 * MIN_CONTRAST)) * fill, 3)


def _as_box(corners: Corners) -> Box:
    return (corners[0], corners[1], corners[2] - corners[0], corners[3] - corners[1])


def _scale_box(box: Box | None, factor: float, width: int, height: int) -> Box | None:
    return None if box is None else _scale(box, factor, width, height)


def _scale(box: Box, factor: float, width: int, height: int) -> Box:
    """Scale a box by ``factor``, rounding its edges outwards (a crop never shrinks), and clip it."""
    x0, y0 = int(np.floor(box[0] * factor)), int(np.floor(box[1] * factor))
    x1, y1 = int(np.ceil((box[0] + box[2]) * factor)), int(np.ceil((box[1] + box[3]) * factor))
    return _clip_box((x0, y0, x1 - x0, y1 - y0), width, height)


def _clip_box(box: Box, width: int, height: int) -> Box:
    x0, y0 = min(max(box[0], 0), width), min(max(box[1], 0), height)
    x1, y1 = min(max(box[0] + box[2], x0), width), min(max(box[1] + box[3], y0), height)
    return (x0, y0, x1 - x0, y1 - y0)
