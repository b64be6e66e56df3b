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

from pipeline.synthetic import render_vertical_page, sample_text_for_page

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
    shade = np.zeros(canvas.shape[:2], np.float32)
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
    width, height = size
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
