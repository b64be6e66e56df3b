"""The access derivative: turned upright, deskewed and cropped to the page in one resampling.

Captures are generated with a known page box and skewed by a known angle; the derivative
must hold the page and a small margin only, and its affine must map the master's page
corners onto the derivative's.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import pyvips

from pipeline.batch import Side
from pipeline.crop import MARGIN
from pipeline.derivative import given_split, locate_split, make_access_image, split_leaf
from pipeline.errors import ImageError
from pipeline.synthetic_capture import render_capture

SKEW = 1.5  # degrees, counter-clockwise as seen on screen


def skewed(rgb: np.ndarray, box: tuple[int, int, int, int], angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate a capture ``angle`` degrees counter-clockwise about its centre; return it and the page's corners."""
    h, w = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
    turned = cv2.warpAffine(rgb, matrix, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    left, top, width, height = box
    corners = np.array([[left, top], [left + width, top], [left + width, top + height], [left, top + height]],
                       np.float64)
    return turned, corners @ matrix[:, :2].T + matrix[:, 2]


def vips(rgb: np.ndarray) -> pyvips.Image:
    return pyvips.Image.new_from_array(np.ascontiguousarray(rgb), interpretation="srgb")


def to_derivative(affine, x: float, y: float) -> tuple[float, float]:
    a, b, c, d, e, f = affine
    return a * x + b * y + c, d * x + e * y + f


@pytest.mark.parametrize("ground", ["dark", "light"])
def test_a_skewed_capture_is_deskewed_and_cropped_to_the_page_within_one_percent(ground: str) -> None:
    capture = render_capture(ground, size=(1600, 1300), seed=3)
    master, corners = skewed(capture.image, capture.page_box, SKEW)

    made = make_access_image(vips(master), turn_upright=False)

    assert made.estimate.angle == pytest.approx(SKEW, abs=0.15)
    assert made.crop is not None and made.crop.box is not None, made.crop
    _, _, page_w, page_h = capture.page_box
    margin = MARGIN * max(page_w, page_h)
    assert abs(made.width - (page_w + 2 * margin)) <= 0.02 * page_w  # each edge within 1 %: checked below
    assert abs(made.height - (page_h + 2 * margin)) <= 0.02 * page_h
    # The master's page corners land a margin inside the derivative's corners.
    expected = [(margin, margin), (made.width - margin, margin), (made.width - margin, made.height - margin),
                (margin, made.height - margin)]
    for (x, y), (ex, ey) in zip(corners, expected):
        dx, dy = to_derivative(made.affine, x, y)
        assert abs(dx - ex) <= 0.01 * page_w and abs(dy - ey) <= 0.01 * page_h, ((dx, dy), (ex, ey))


def test_the_master_region_is_the_derivative_traced_back_into_the_master() -> None:
    capture = render_capture("dark", size=(1600, 1300), seed=4)
    master, _ = skewed(capture.image, capture.page_box, SKEW)

    made = make_access_image(vips(master), turn_upright=False)

    region = made.master_region()
    assert len(region) == 4
    for (x, y), (ex, ey) in zip(region, [(0, 0), (made.width, 0), (made.width, made.height), (0, made.height)]):
        dx, dy = to_derivative(made.affine, x, y)
        assert (dx, dy) == pytest.approx((ex, ey), abs=0.05)
    top_left, top_right = region[0], region[1]
    # The page is turned back: its top edge in the master rises by the skew.
    assert math.degrees(math.atan2(top_left[1] - top_right[1], top_right[0] - top_left[0])) == pytest.approx(
        SKEW, abs=0.15)


def test_a_page_filling_the_frame_is_left_uncropped_with_a_note() -> None:
    capture = render_capture("dark", size=(1600, 1300), seed=5)
    left, top, width, height = capture.page_box
    page_only = np.ascontiguousarray(capture.image[top:top + height, left:left + width])

    made = make_access_image(vips(page_only), turn_upright=False)

    assert made.crop is not None and made.crop.box is None
    assert made.crop.note
    assert (made.width, made.height) == (made.deskewed.width, made.deskewed.height)
    assert made.crop_record()["applied"] is False


def test_pages_kept_as_shot_are_not_cropped() -> None:
    capture = render_capture("dark", target=True, size=(1600, 1300), seed=6)

    made = make_access_image(vips(capture.image), turn_upright=False, crop=False)

    assert made.crop is None and (made.width, made.height) == (made.deskewed.width, made.deskewed.height)
    assert made.crop_record() == {"applied": False, "note": "not cropped: page type is not cropped"}


def test_an_open_book_is_deskewed_and_cropped_whole_then_cut_into_two_leaves_at_the_fold() -> None:
    capture = render_capture("dark", spread=True, size=(1800, 1250), seed=5)
    master, _ = skewed(capture.image, capture.page_box, SKEW)
    made = make_access_image(vips(master), turn_upright=False)

    split = locate_split(made.image)
    right, left = split_leaf(made, split, Side.RIGHT), split_leaf(made, split, Side.LEFT)

    assert split.method == "fold", split
    assert (left.width + right.width, left.height, right.height) == (made.width, made.height, made.height)
    page_left, _, page_w, _ = capture.page_box
    fold = page_left + page_w // 2  # in the unskewed capture; the master is rotated about its centre
    h, w = capture.image.shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), SKEW, 1.0)
    fold_top = matrix[:, :2] @ (fold, capture.page_box[1] + 100) + matrix[:, 2]
    # The fold lands on the right leaf's first column and the left leaf's last, within 1 % of the spread.
    assert to_derivative(right.affine, *fold_top)[0] == pytest.approx(0, abs=0.01 * made.width)
    assert to_derivative(left.affine, *fold_top)[0] == pytest.approx(left.width, abs=0.01 * made.width)
    assert right.split_record()["side"] == "right" and left.split_record()["x"] == split.x
    # The two leaves' master regions meet along the cut: left's right edge is right's left edge.
    left_region, right_region = left.master_region(), right.master_region()
    assert left_region[1] == pytest.approx(right_region[0], abs=0.2)
    assert left_region[2] == pytest.approx(right_region[3], abs=0.2)


def test_a_cut_given_in_master_columns_is_mapped_into_the_cropped_spread_and_refused_outside_it() -> None:
    capture = render_capture("dark", spread=True, size=(1600, 1100), seed=6)
    made = make_access_image(vips(capture.image), turn_upright=False)
    page_left, _, page_w, _ = capture.page_box
    fold = page_left + page_w // 2

    split = given_split(made, fold, capture.image.shape[0], name="0003.tif")
    left = split_leaf(made, split, Side.LEFT)

    assert split.method == "given" and split.confidence == 1.0
    assert to_derivative(left.affine, fold, 500)[0] == pytest.approx(left.width, abs=1.5)
    with pytest.raises(ImageError, match=r"0003\.tif.*split x=5 does not fall inside the page"):
        given_split(made, 5, capture.image.shape[0], name="0003.tif")
