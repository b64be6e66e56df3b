"""Skew estimation and correction on generated pages with known skew, and on real woodblock scans."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips

from pipeline.deskew import (
    SkewEstimate,
    deskew,
    estimate_skew,
    paper_colour,
    straightening_affine,
)
from pipeline.errors import ImageError
from pipeline.synthetic import (
    PAPER_RGB,
    SAMPLE_TEXT,
    RenderedPage,
    render_horizontal_page,
    render_vertical_page,
)

W, H = 1000, 1400  # small pages keep the tests fast
WOODBLOCK_SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "woodblock"


def _array(page: RenderedPage) -> np.ndarray:
    return np.asarray(page.image)


def _vips(array: np.ndarray) -> pyvips.Image:
    return pyvips.Image.new_from_array(array, interpretation="srgb" if array.ndim == 3 else "b-w")


@pytest.mark.parametrize("angle", [-5.3, -1.2, 0.0, 0.4, 3.7])
def test_woodblock_page_skew_is_found(angle: float) -> None:
    page = render_vertical_page(SAMPLE_TEXT[:200], skew_deg=angle, seal=True, blur=0.8, noise=0.02, width=W, height=H)
    estimate = estimate_skew(_array(page))
    assert abs(estimate.angle - angle) < 0.1
    assert estimate.confidence >= 0.5
    assert estimate.method == "projection-profile"


def test_horizontal_print_skew_is_found() -> None:
    page = render_horizontal_page(SAMPLE_TEXT[:400], skew_deg=2.2, frame=False, blur=1.0, noise=0.02, width=W, height=H)
    estimate = estimate_skew(_array(page))
    assert abs(estimate.angle - 2.2) < 0.1
    assert estimate.confidence >= 0.5


def test_page_with_little_text_uses_the_frame() -> None:
    page = render_vertical_page(SAMPLE_TEXT[:12], skew_deg=-2.5, noise=0.02, width=W, height=H)
    estimate = estimate_skew(_array(page))
    assert abs(estimate.angle + 2.5) < 0.1
    assert estimate.confidence >= 0.5


def test_near_the_range_limit() -> None:
    page = render_vertical_page(SAMPLE_TEXT[:200], skew_deg=6.9, width=W, height=H)
    assert abs(estimate_skew(_array(page)).angle - 6.9) < 0.1


def test_blank_paper_has_no_confidence() -> None:
    page = render_horizontal_page("", frame=False, noise=0.03, seed=4, width=W, height=H)
    estimate = estimate_skew(_array(page))
    assert estimate.confidence == 0.0
    assert estimate.angle == 0.0


@pytest.mark.parametrize("seed", [1, 2])
def test_two_characters_give_low_confidence(seed: int) -> None:
    page = render_horizontal_page("子曰", frame=False, noise=0.02, skew_deg=2.0, seed=seed, width=W, height=H)
    assert estimate_skew(_array(page)).confidence < 0.5


def test_vips_grey_rgba_and_16_bit_inputs_agree() -> None:
    rgb = _array(render_vertical_page(SAMPLE_TEXT[:200], skew_deg=1.3, width=W, height=H))
    expected = estimate_skew(rgb).angle
    grey = (rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.uint8)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    for image in (_vips(rgb), grey, rgba, rgb.astype(np.uint16) * 257):
        assert abs(estimate_skew(image).angle - expected) < 0.02


def test_masters_larger_than_the_working_size_are_reduced() -> None:
    page = render_vertical_page(SAMPLE_TEXT[:200], width=2100, height=3000, skew_deg=-0.8)
    assert abs(estimate_skew(_vips(_array(page))).angle + 0.8) < 0.1


def test_unusable_inputs_are_refused() -> None:
    with pytest.raises(ImageError, match=r"<image>: expected a grey or RGB page image, got an array of shape \(50,\)"):
        estimate_skew(np.zeros(50, np.uint8))
    with pytest.raises(ImageError, match="cannot estimate the skew of a str"):
        estimate_skew("page.tif")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_angle"):
        estimate_skew(np.zeros((100, 100), np.uint8), max_angle=0)


def test_deskew_grows_the_canvas_and_fills_corners_with_paper() -> None:
    page = render_vertical_page(SAMPLE_TEXT[:200], skew_deg=3.7, width=W, height=H)
    image = _vips(_array(page))
    result = deskew(image, estimate_skew(image))
    _, width, height = straightening_affine(result.angle_applied, image.width, image.height)
    assert abs(result.angle_applied - 3.7) < 0.1
    assert (result.width, result.height) == (result.image.width, result.image.height) == (width, height)
    assert result.width > image.width and result.height > image.height
    pixels = result.image.numpy()
    for corner in (pixels[0, 0], pixels[0, -1], pixels[-1, 0], pixels[-1, -1]):
        assert np.abs(corner.astype(int) - PAPER_RGB).max() <= 3


def test_deskewed_page_estimates_straight() -> None:
    page = render_vertical_page(SAMPLE_TEXT[:200], skew_deg=-5.3, noise=0.02, width=W, height=H)
    image = _vips(_array(page))
    straight = deskew(image, estimate_skew(image)).image
    assert abs(estimate_skew(straight).angle) < 0.05


def test_low_confidence_leaves_the_page_alone() -> None:
    image = _vips(_array(render_vertical_page(SAMPLE_TEXT[:50], skew_deg=2.0, width=W, height=H)))
    result = deskew(image, SkewEstimate(2.0, 0.3, "projection-profile"))
    assert result.image is image
    assert result.angle_applied == 0.0
    assert result.affine == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert (result.width, result.height) == (image.width, image.height)


@pytest.mark.parametrize("angle", [30.0, -4.2])
def test_affine_maps_master_pixels_onto_the_derivative(angle: float) -> None:
    master = np.zeros((400, 300), np.uint8)
    dots = [(50, 60), (250, 80), (150, 300), (20, 380)]
    for x, y in dots:
        master[y - 2 : y + 3, x - 2 : x + 3] = 255
    result = deskew(_vips(master), SkewEstimate(angle, 1.0, "test"), background=[0])
    pixels = result.image.numpy().astype(float)
    for x, y in dots:
        dx, dy = result.to_derivative(x + 0.5, y + 0.5)  # pixel centre
        window = pixels[int(dy) - 8 : int(dy) + 9, int(dx) - 8 : int(dx) + 9]
        rows, cols = np.mgrid[int(dy) - 8 : int(dy) + 9, int(dx) - 8 : int(dx) + 9] + 0.5
        assert abs((window * cols).sum() / window.sum() - dx) < 0.05
        assert abs((window * rows).sum() / window.sum() - dy) < 0.05
        assert result.to_master(dx, dy) == pytest.approx((x + 0.5, y + 0.5))


def test_paper_colour_ignores_a_dark_scanner_edge() -> None:
    page = _array(render_vertical_page("", fold_column=False, width=W, height=H)).copy()
    page[:, :40] = (12, 12, 12)  # the scanner bed showing along one side
    colour = paper_colour(_vips(page))
    assert np.abs(np.array(colour) - PAPER_RGB).max() <= 6


@pytest.mark.skipif(not WOODBLOCK_SAMPLES.is_dir(), reason="no woodblock samples in shared/")
def test_real_woodblock_scans_are_nearly_straight() -> None:
    scans = sorted(WOODBLOCK_SAMPLES.glob("*.png"))
    assert scans
    for scan in scans:
        estimate = estimate_skew(pyvips.Image.new_from_file(str(scan)))
        assert abs(estimate.angle) < 2.0, scan.name
        assert estimate.confidence >= 0.5, scan.name
