"""Page orientation by Tesseract OSD: turned and upside-down pages come back upright; unsure pages stay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips

from pipeline.orientation import compose, detect_orientation, turn_affine, upright
from pipeline.synthetic import render_horizontal_page, render_vertical_page, sample_text_for_page

W, H = 800, 1100
WOODBLOCK = Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "woodblock" / "page-040.png"


@pytest.fixture(scope="module")
def vertical() -> np.ndarray:
    return np.asarray(render_vertical_page(sample_text_for_page(0), width=W, height=H).image.convert("L"))


@pytest.mark.parametrize("shot_turned_by", [0, 90, 180, 270])
def test_a_turned_page_is_turned_back(vertical: np.ndarray, shot_turned_by: int) -> None:
    shot = np.ascontiguousarray(np.rot90(vertical, k=shot_turned_by // 90))  # counter-clockwise
    found = detect_orientation(shot)
    assert found.turn == shot_turned_by, found
    assert np.array_equal(np.rot90(shot, k=-found.turn // 90), vertical)


def test_horizontal_print_upside_down_is_found() -> None:
    page = np.asarray(render_horizontal_page(sample_text_for_page(3), width=W, height=H).image.convert("L"))
    assert detect_orientation(np.ascontiguousarray(page[::-1, ::-1])).turn == 180
    assert detect_orientation(page).turn == 0


@pytest.mark.skipif(not WOODBLOCK.is_file(), reason="shared woodblock samples not present")
def test_real_woodblock_leaf_upside_down() -> None:
    leaf = np.asarray(pyvips.Image.new_from_file(str(WOODBLOCK)).colourspace("b-w").extract_band(0).numpy())
    assert detect_orientation(np.ascontiguousarray(leaf[::-1, ::-1])).turn == 180


def test_a_page_without_text_is_left_as_it_is() -> None:
    blank = np.full((H, W), 236, np.uint8)
    found = detect_orientation(blank)
    assert (found.turn, found.confidence) == (0, 0.0)
    assert found.note == "orientation not detected: too little text"
    rng = np.random.default_rng(1)
    picture = np.full((H, W), 235, np.uint8)
    for _ in range(40):  # circles and blobs, no glyphs
        y, x, r = rng.integers(100, H - 100), rng.integers(100, W - 100), rng.integers(20, 200)
        yy, xx = np.ogrid[:H, :W]
        ring = np.abs(np.hypot(yy - y, xx - x) - r) < 4
        picture[ring] = 40
    assert detect_orientation(picture).turn == 0


def test_upright_turns_a_vips_image_and_leaves_the_input(vertical: np.ndarray) -> None:
    shot = pyvips.Image.new_from_array(np.ascontiguousarray(np.rot90(vertical, k=3)), interpretation="b-w")
    turned, found = upright(shot)
    assert found.turn == 270
    assert (turned.width, turned.height) == (W, H) and (shot.width, shot.height) == (H, W)
    assert np.array_equal(turned.numpy(), vertical)


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_turn_affine_maps_pixels_where_the_turned_image_has_them(turn: int) -> None:
    image = np.arange(12 * 7).reshape(7, 12)  # height 7, width 12
    turned = np.rot90(image, k=-turn // 90)  # clockwise
    a, b, c, d, e, f = turn_affine(turn, 12, 7)
    for y, x in [(0, 0), (6, 11), (3, 5), (6, 0)]:
        cx, cy = x + 0.5, y + 0.5  # pixel centres at half-integers
        tx, ty = a * cx + b * cy + c, d * cx + e * cy + f
        assert turned[int(ty), int(tx)] == image[y, x]


def test_compose_applies_inner_first() -> None:
    shift = (1.0, 0.0, 5.0, 0.0, 1.0, -2.0)
    turn = turn_affine(90, 10, 20)
    a, b, c, d, e, f = compose(shift, turn)
    x, y = 3.0, 4.0
    ta, tb, tc, td, te, tf = turn
    assert (a * x + b * y + c, d * x + e * y + f) == (ta * x + tb * y + tc + 5.0, td * x + te * y + tf - 2.0)
