"""Tests for pipeline.split: where a double leaf or an open-book spread divides."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import ImageError
from pipeline.split import Split, find_split
from pipeline.synthetic_capture import (
    DARK_GROUND_RGB,
    render_capture,
    render_double_leaf,
    render_tight_spread,
)


def _crossing(boxes: tuple[tuple[int, int, int, int], ...], x: int) -> list[tuple[int, int, int, int]]:
    """Glyph boxes (x0, y0, x1, y1 exclusive) that the cut between columns x-1 and x runs through."""
    return [b for b in boxes if b[0] < x < b[2]]


def _open_book(ground: str, size: tuple[int, int] = (1000, 700), seed: int = 0) -> tuple[np.ndarray, int]:
    """An open book cropped to its page box, as the caller crops it, and the true fold x in the crop."""
    capture = render_capture(ground, spread=True, size=size, seed=seed)
    x, y, w, h = capture.page_box
    return capture.image[y : y + h, x : x + w], w // 2


@pytest.mark.parametrize("seed", [0, 3])
def test_double_leaf_splits_at_banxin_centre(seed: int) -> None:
    leaf = render_double_leaf(width=1000, height=700, seed=seed)
    split = find_split(leaf.image)
    assert split.method == "banxin"
    assert abs(split.x - leaf.fold_x) <= 0.01 * leaf.image.shape[1]
    assert split.confidence >= 0.6
    assert f"x={split.x} of 1000" in split.note


def test_double_leaf_in_grey_splits_the_same() -> None:
    leaf = render_double_leaf(width=800, height=560, columns=14)
    grey = leaf.image.mean(axis=2).astype(np.uint8)
    split = find_split(grey)
    assert split.method == "banxin"
    assert abs(split.x - leaf.fold_x) <= 0.01 * 800


@pytest.mark.parametrize("ground", ["dark", "light"])
def test_open_book_splits_at_the_fold(ground: str) -> None:
    image, fold = _open_book(ground)
    split = find_split(image)
    assert split.method == "fold"
    assert abs(split.x - fold) <= 0.01 * image.shape[1]
    assert split.confidence >= 0.6


@pytest.mark.parametrize("share", [0.45, 0.55])
def test_off_centre_fold_is_found(share: float) -> None:
    # Crop wider on one side (ground showing at that edge) so the fold lies at ``share``.
    capture = render_capture("dark", spread=True, size=(1100, 700))
    x, y, w, h = capture.page_box
    fold = x + w // 2
    if share < 0.5:
        left, right = x, x + round((fold - x) / share)
    else:
        right = x + w
        left = right - round((right - fold) / (1.0 - share))
    image = capture.image[y : y + h, left:right]
    split = find_split(image)
    assert split.method == "fold"
    assert abs(split.x - (fold - left)) <= 0.01 * image.shape[1]
    assert abs((fold - left) / image.shape[1] - share) < 0.01


def test_text_near_the_gutter_is_not_cut() -> None:
    spread = render_tight_spread(page_width=400, height=600, gutter_margin=0.01)
    split = find_split(spread.image)
    assert split.method == "fold"
    assert abs(split.x - spread.fold_x) <= 0.01 * spread.image.shape[1]
    assert _crossing(spread.glyph_boxes, split.x) == []


@pytest.mark.parametrize("margin", [0.03, 0.05])
def test_flat_scan_of_two_pages_is_split_in_the_paper_gap(margin: float) -> None:
    # Two pages side by side with no shadow at all: only the paper between the frames.
    spread = render_tight_spread(page_width=400, height=600, gutter_margin=margin, shadow=False)
    split = find_split(spread.image)
    assert split.method == "fold"
    assert "paper gap" in split.note
    assert abs(split.x - spread.fold_x) <= 0.01 * spread.image.shape[1]
    assert _crossing(spread.glyph_boxes, split.x) == []


def test_pages_touching_at_the_fold_fall_back_to_the_clear_column_between() -> None:
    # Frames 4 px from the fold and no shadow: too narrow to be sure, but still not cut.
    spread = render_tight_spread(page_width=400, height=600, gutter_margin=0.01, shadow=False)
    split = find_split(spread.image)
    assert split.method == "least-ink"
    assert split.confidence < 0.5
    assert abs(split.x - spread.fold_x) <= 0.01 * spread.image.shape[1]
    assert _crossing(spread.glyph_boxes, split.x) == []


def test_residual_skew_still_splits_within_one_per_cent() -> None:
    leaf = render_double_leaf(width=1000, height=700, skew_deg=0.3)
    split = find_split(leaf.image)
    assert split.method == "banxin"
    assert abs(split.x - leaf.fold_x) <= 0.01 * leaf.image.shape[1]


def test_glyph_boxes_are_never_cut_on_a_double_leaf() -> None:
    leaf = render_double_leaf(width=900, height=630, seed=1)
    split = find_split(leaf.image)
    assert _crossing(leaf.glyph_boxes, split.x) == []


@pytest.mark.parametrize("value", [0, 128, 235])
def test_uniform_image_falls_back_with_low_confidence(value: int) -> None:
    split = find_split(np.full((600, 900), value, np.uint8))
    assert split.method == "least-ink"
    assert split.confidence < 0.5
    assert "check it" in split.note
    assert 0.3 * 900 <= split.x <= 0.7 * 900


def test_single_page_falls_back_to_the_emptiest_column() -> None:
    # A single page has no fold: the fallback must still avoid ink and say it is unsure.
    leaf = render_double_leaf(width=1000, height=700)
    page = np.ascontiguousarray(leaf.image[:, 560:])
    split = find_split(page)
    assert split.method == "least-ink"
    assert split.confidence < 0.5
    assert _crossing(tuple((b[0] - 560, b[1], b[2] - 560, b[3]) for b in leaf.glyph_boxes), split.x) == []


def test_ground_at_the_edges_does_not_count_as_a_fold() -> None:
    image, fold = _open_book("dark")
    framed = np.empty((image.shape[0], image.shape[1] + 40, 3), np.uint8)
    framed[:] = DARK_GROUND_RGB
    framed[:, 20:-20] = image
    split = find_split(framed)
    assert split.method == "fold"
    assert abs(split.x - (fold + 20)) <= 0.01 * framed.shape[1]


@pytest.mark.parametrize("shape", [(20, 600), (600, 31), (10, 10, 3)])
def test_tiny_image_is_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ImageError, match="too small to split"):
        find_split(np.full(shape, 200, np.uint8))


def test_wrong_dtype_is_refused() -> None:
    with pytest.raises(ImageError, match="grey or RGB uint8"):
        find_split(np.zeros((300, 400), np.float32))


@pytest.mark.parametrize(
    ("x", "factor", "width", "expected"),
    [(500, 4.0, 4000, 2000), (333, 3.0, 1200, 999), (0, 2.0, 800, 1), (500, 2.0, 900, 899), (250, 1.5, 1000, 375)],
)
def test_scaled_maps_x_and_clips(x: int, factor: float, width: int, expected: int) -> None:
    split = Split(x, "banxin", 0.9, "note")
    assert split.scaled(factor, width) == Split(expected, "banxin", 0.9, "note")
