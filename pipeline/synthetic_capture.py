"""Synthetic camera/scanner captures: a generated page on a ground, with a known page box.

:mod:`pipeline.crop` finds the page in a capture; real captures come without ground
truth, so its tests use these renders instead. A capture is a woodblock-style page
(:func:`pipeline.synthetic.render_vertical_page`) laid on a dark cloth or a white
scanner bed, optionally with a colour target beside it, a spine shadow over one of
its edges, or a second page beside it (an open book), plus sensor noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.synthetic import FoldColumn, render_vertical_page, sample_text_for_page

Box = tuple[int, int, int, int]  # left, top, width, height

DARK_GROUND_RGB = (30, 29, 32)  # black cloth / scanner surround
LIGHT_GROUND_RGB = (246, 246, 244)  # white flatbed: a little brighter and more neutral than the paper
NOISE_SIGMA = 4.0  # grey levels of sensor noise
SHADOW_DEPTH = 0.5  # a spine shadow keeps this fraction of the paper's brightness at the page edge
SHADOW_WIDTH = 0.12  # of the page width
GUTTER_DEPTH = 0.12  # the fold of an open book, falling away from the camera, is darker still
GUTTER_WIDTH = 0.015  # of each page's width
# A colour checker's patches (sRGB, approximate) and a grey scale strip.
TARGET_PATCHES = (
    (115, 82, 68), (194, 150, 130), (98, 122, 157), (87, 108, 67), (133, 128, 177), (103, 189, 170),
    (214, 126, 44), (80, 91, 166), (193, 90, 99), (94, 60, 108), (157, 188, 64), (224, 163, 46),
    (56, 61, 150), (70, 148, 73), (175, 54, 60), (231, 199, 31), (187, 86, 149), (8, 133, 161),
)
GREY_STEPS = (243, 200, 160, 122, 85, 52)


@dataclass(frozen=True)
class Capture:
    """A rendered capture and its ground truth."""

    image: np.ndarray  # RGB uint8 (H, W, 3)
    page_box: Box  # the page (or open book), clipped to the frame
    ink_box: Box  # the page's printed frame (all of its ink), clipped to the frame


def render_capture(
    ground: str = "dark",
    *,
    target: bool = False,
    spine_shadow: str | None = None,
    spread: bool = False,
    size: tuple[int, int] = (1500, 1200),
    page_box: Box | None = None,
    edge_shadow: bool = True,
    falloff: float = 0.0,
    seed: int = 0,
) -> Capture:
    """Render a page on a ``"dark"`` or ``"light"`` ground and return it with the page's box.

    ``size`` is (width, height). ``page_box`` places the page (or both pages when
    ``spread``) and may run past the frame; by default it is centred in the space
    left free by the target. ``spine_shadow`` darkens the page's ``"left"`` or
    ``"right"`` edge; ``edge_shadow`` draws the thin shadow a flatbed shows at the
    paper's edge on a light ground. ``falloff`` dims the capture from left to right by
    that fraction, as a lamp on one side of a camera stand does.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    ground_rgb = DARK_GROUND_RGB if ground == "dark" else LIGHT_GROUND_RGB
    canvas = np.empty((height, width, 3), np.float32)
    canvas[:] = ground_rgb
    box = page_box or _default_page_box(size, target, spread)
    page, ink = _render_pages(box, spread, spine_shadow, seed)
    if ground == "light" and edge_shadow:
        _shade_edge(canvas, box)
    _paste(canvas, page, box[0], box[1])
    if target:
        _paste(canvas, _render_target(box[3] * 0.45), *_target_position(size, box))
    if falloff:
        canvas *= np.linspace(1.0, 1.0 - falloff, width, dtype=np.float32)[None, :, None]
    canvas += rng.normal(0.0, NOISE_SIGMA, canvas.shape[:2]).astype(np.float32)[..., None]
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    ink_box = (box[0] + ink[0], box[1] + ink[1], ink[2], ink[3])
    return Capture(image, _clip(box, size), _clip(ink_box, size))


def _default_page_box(size: tuple[int, int], target: bool, spread: bool) -> Box:
    """Leave a ground margin round the page and, with a target, room for it on the right."""
    width, height = size
    page_h = round(height * 0.8)
    page_w = round(page_h * 0.7) * (2 if spread else 1)
    free_w = width - (round(width * 0.22) if target else 0)
    page_w = min(page_w, round(free_w * 0.9))
    return ((free_w - page_w) // 2, (height - page_h) // 2, page_w, page_h)


def _render_pages(box: Box, spread: bool, spine_shadow: str | None, seed: int) -> tuple[np.ndarray, Box]:
    """Return the page(s) as float RGB and the box of the printed frames inside them."""
    _, _, width, height = box
    if not spread:
        page, frame = _render_page(width, height, seed)
        _spine_shadow(page, spine_shadow)
        return page, frame
    left_w = width // 2
    left, frame_l = _render_page(left_w, height, seed)
    right, frame_r = _render_page(width - left_w, height, seed + 1)
    _spine_shadow(left, "right")
    _spine_shadow(right, "left")
    fold = max(1, round(left_w * GUTTER_WIDTH))  # the fold splits the paper into two pages
    left[:, -fold:] *= GUTTER_DEPTH
    right[:, :fold] *= GUTTER_DEPTH
    ink = (frame_l[0], min(frame_l[1], frame_r[1]), left_w + frame_r[0] + frame_r[2] - frame_l[0],
           max(frame_l[1] + frame_l[3], frame_r[1] + frame_r[3]) - min(frame_l[1], frame_r[1]))
    return np.concatenate([left, right], axis=1), ink


def _render_page(width: int, height: int, seed: int) -> tuple[np.ndarray, Box]:
    rendered = render_vertical_page(
        sample_text_for_page(seed % 7), width=width, height=height, columns=8, chars_per_column=16, seed=seed
    )
    x0, y0, x1, y1 = rendered.frame_box
    return np.asarray(rendered.image, np.float32), (x0, y0, x1 - x0, y1 - y0)


def _spine_shadow(page: np.ndarray, side: str | None) -> None:
    """Darken one side of the page towards its edge, as the gutter of a bound book does."""
    if side is None:
        return
    width = page.shape[1]
    reach = max(2, round(width * SHADOW_WIDTH))
    ramp = np.ones(width, np.float32)
    fall = np.linspace(SHADOW_DEPTH, 1.0, reach, dtype=np.float32) ** 0.7  # steepest at the fold
    if side == "left":
        ramp[:reach] = fall
    else:
        ramp[-reach:] = fall[::-1]
    page *= ramp[None, :, None]


def _shade_edge(canvas: np.ndarray, box: Box) -> None:
    """Draw a soft shadow a few pixels wide below and right of where the paper will lie."""
    x, y, w, h = box
    shade: np.ndarray = np.zeros(canvas.shape[:2], np.float32)
    offset = max(2, round(min(w, h) * 0.004))
    cv2.rectangle(shade, (x + offset, y + offset), (x + w + offset - 1, y + h + offset - 1), 1.0, -1)
    shade = cv2.GaussianBlur(shade, (0, 0), offset)
    canvas *= 1.0 - 0.12 * shade[..., None]


def _render_target(height: float) -> np.ndarray:
    """A colour checker: a 3 x 6 grid of colour patches over a grey scale strip, on a black card."""
    patch = max(8, round(height / 6.5))
    gap = max(2, patch // 6)
    card = np.empty((gap + 4 * (patch + gap), gap + 6 * (patch + gap), 3), np.float32)
    card[:] = (22, 22, 22)
    for i, rgb in enumerate(TARGET_PATCHES):
        _fill_patch(card, i // 6, i % 6, patch, gap, rgb)
    for col, grey in enumerate(GREY_STEPS):
        _fill_patch(card, 3, col, patch, gap, (grey, grey, grey))
    return card


def _fill_patch(card: np.ndarray, row: int, col: int, patch: int, gap: int, rgb: tuple[int, int, int]) -> None:
    top, left = gap + row * (patch + gap), gap + col * (patch + gap)
    card[top : top + patch, left : left + patch] = rgb


def _target_position(size: tuple[int, int], box: Box) -> tuple[int, int]:
    """Put the target on the ground right of the page, a clear gap away from it."""
    width = size[0]
    x = min(box[0] + box[2] + round(width * 0.03), width - 1)
    return x, box[1] + box[3] // 4


def _paste(canvas: np.ndarray, tile: np.ndarray, x: int, y: int) -> None:
    """Copy ``tile`` onto ``canvas`` at (x, y), dropping what falls outside the frame."""
    height, width = canvas.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + tile.shape[1], width), min(y + tile.shape[0], height)
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = tile[y0 - y : y1 - y, x0 - x : x1 - x]


def _clip(box: Box, size: tuple[int, int]) -> Box:
    x0, y0 = max(box[0], 0), max(box[1], 0)
    x1, y1 = min(box[0] + box[2], size[0]), min(box[1] + box[3], size[1])
    return (x0, y0, max(0, x1 - x0), max(0, y1 - y0))


@dataclass(frozen=True)
class Spread:
    """A rendered double leaf or open book, cropped to the paper, and where it folds."""

    image: np.ndarray  # RGB uint8 (H, W, 3)
    fold_x: float  # true fold at mid-height, image pixels
    glyph_boxes: tuple[Box, ...]  # every character's ink as (x0, y0, x1, y1), exclusive


def render_double_leaf(
    *, width: int = 1000, height: int = 700, columns: int = 16, skew_deg: float = 0.0, seed: int = 0
) -> Spread:
    """Render an uncut woodblock sheet (版心 in the middle) and return it with its fold.

    The fold is the 版心's centre line, half-way between the centres of the two text
    columns beside it, read from the rendered glyphs, so it holds after skew too.
    ``columns`` (text columns, both halves) must be even.
    """
    text = sample_text_for_page(seed % 7, length=columns * 12)
    page = render_vertical_page(
        text, width=width, height=height, columns=columns, chars_per_column=12,
        skew_deg=skew_deg, seed=seed, fold_column=FoldColumn.CENTRE,
    )
    lines = page.text.split("\n")
    starts = np.cumsum([0] + [len(line) for line in lines])
    # Reading order runs right to left: column columns//2 - 1 is right of the fold, columns//2 left of it.
    beside = [page.glyphs[starts[c] : starts[c + 1]] for c in (columns // 2 - 1, columns // 2)]
    centres = [np.mean([(g.box[0] + g.box[2]) / 2 for g in column]) for column in beside]
    boxes = tuple(g.box for g in page.glyphs)
    return Spread(np.asarray(page.image), float(np.mean(centres)), boxes)


def render_tight_spread(
    *, page_width: int = 400, height: int = 600, gutter_margin: float = 0.01, shadow: bool = True, seed: int = 0
) -> Spread:
    """Render an open book whose text runs close to the gutter, cropped to the two pages.

    Each page's margin on the gutter side is cut to ``gutter_margin`` of the page
    width beyond its printed frame; the fold (shadow, dark crease) lies between them,
    unless ``shadow`` is False (a flat scan of two pages laid side by side).
    """
    left, boxes_l = _tight_page(page_width, height, gutter_margin, seed, keep="left")
    right, boxes_r = _tight_page(page_width, height, gutter_margin, seed + 1, keep="right")
    if shadow:
        _spine_shadow(left, "right")
        _spine_shadow(right, "left")
        fold = max(1, round(left.shape[1] * GUTTER_WIDTH))
        left[:, -fold:] *= GUTTER_DEPTH
        right[:, :fold] *= GUTTER_DEPTH
    shift = left.shape[1]
    boxes = boxes_l + tuple((x0 + shift, y0, x1 + shift, y1) for x0, y0, x1, y1 in boxes_r)
    image = np.clip(np.concatenate([left, right], axis=1), 0, 255).astype(np.uint8)
    return Spread(image, float(shift), boxes)


def _tight_page(width: int, height: int, margin: float, seed: int, keep: str) -> tuple[np.ndarray, tuple[Box, ...]]:
    """Render a page without a 版心 and cut its gutter-side margin down; ``keep`` is the outer side."""
    rendered = render_vertical_page(
        sample_text_for_page(seed % 7), width=width, height=height, columns=8, chars_per_column=16,
        seed=seed, fold_column=False,
    )
    pixels = np.asarray(rendered.image, np.float32)
    x0, _, x1, _ = rendered.frame_box
    pad = max(1, round(width * margin))
    if keep == "left":
        return pixels[:, : x1 + pad].copy(), tuple(g.box for g in rendered.glyphs)
    cut = max(0, x0 - pad)
    return pixels[:, cut:].copy(), tuple((a - cut, b, c - cut, d) for a, b, c, d in (g.box for g in rendered.glyphs))
