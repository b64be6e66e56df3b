"""Page detection for cropping the access derivative: generated captures with a known page box, real samples."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from pipeline.crop import MARGIN, PageCrop, find_page
from pipeline.errors import ImageError
from pipeline.synthetic import render_vertical_page, sample_text_for_page
from pipeline.synthetic_capture import LIGHT_GROUND_RGB, Capture, render_capture

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples"
# Printed text of each camera sample as fractions (left, top, right, bottom) of the upright frame,
# read off the photos by eye with a grid over them; the crop must keep all of it.
TEXT_BLOCKS = {
    "OCR-D-IMG-boston_cooking_a.jpg": (0.17, 0.05, 0.85, 0.91),
    "OCR-D-IMG-linguistics_thesis_a.jpg": (0.17, 0.12, 0.83, 0.93),
}
# Right of the page each photo shows ground: the next leaf and the cover (Boston, page edge at
# about 0.96 of the width) or the table (thesis, page edge at about 0.95). The crop must stop there.
RIGHT_LIMITS = {"OCR-D-IMG-boston_cooking_a.jpg": 0.985, "OCR-D-IMG-linguistics_thesis_a.jpg": 0.97}

Box = tuple[int, int, int, int]


@cache
def _capture(ground: str, **options: object) -> Capture:
    """A generated capture, rendered once per module (the image is copied before any change)."""
    capture = render_capture(ground, **options)  # type: ignore[arg-type]
    capture.image.setflags(write=False)
    return capture


def _assert_edges_near(found: Box | None, truth: Box, tolerance: float = 0.01) -> None:
    """Each edge of ``found`` within ``tolerance`` of the page's width (left/right) or height (top/bottom)."""
    assert found is not None
    dx, dy = tolerance * truth[2], tolerance * truth[3]
    assert abs(found[0] - truth[0]) <= dx, ("left", found, truth)
    assert abs(found[1] - truth[1]) <= dy, ("top", found, truth)
    assert abs(found[0] + found[2] - truth[0] - truth[2]) <= dx, ("right", found, truth)
    assert abs(found[1] + found[3] - truth[1] - truth[3]) <= dy, ("bottom", found, truth)


def _contains(outer: Box, inner: Box) -> bool:
    return (outer[0] <= inner[0] and outer[1] <= inner[1]
            and outer[0] + outer[2] >= inner[0] + inner[2] and outer[1] + outer[3] >= inner[1] + inner[3])


@pytest.mark.parametrize(
    ("options", "ground"),
    [
        ({"ground": "dark"}, "dark"),
        ({"ground": "light"}, "light"),
        ({"ground": "dark", "target": True}, "dark"),
        ({"ground": "dark", "spine_shadow": "left"}, "dark"),
        ({"ground": "dark", "spine_shadow": "right"}, "dark"),
        ({"ground": "light", "target": True}, "light"),
        ({"ground": "light", "spine_shadow": "left", "size": (1100, 1500)}, "light"),
        ({"ground": "dark", "falloff": 0.5}, "dark"),  # a lamp on the left of the stand
        ({"ground": "dark", "spread": True}, "dark"),  # open book, the dark fold splits the paper
        ({"ground": "light", "spread": True}, "light"),
        ({"ground": "light", "page_box": (800, 100, 650, 950)}, "light"),  # page off the centre of the frame
        ({"ground": "dark", "page_box": (400, 0, 700, 1000)}, "dark"),  # scanner: surround on three sides
    ],
    ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else v,
)
def test_page_box_is_found_on_generated_captures(options: dict, ground: str) -> None:
    capture = _capture(**options)
    crop = find_page(capture.image)
    _assert_edges_near(crop.page_box, capture.page_box)
    assert crop.box is not None and crop.ground == ground
    assert _contains(crop.box, crop.page_box) and _contains(crop.box, capture.ink_box)
    assert crop.confidence > 0.4
    assert crop.note.startswith(f"page found on a {ground} ground")


def test_colour_target_is_left_out_of_the_crop() -> None:
    capture = _capture("dark", target=True)
    crop = find_page(capture.image)
    assert crop.box is not None
    target_left = capture.page_box[0] + capture.page_box[2] + round(capture.image.shape[1] * 0.03)
    assert crop.box[0] + crop.box[2] < target_left


def test_margin_is_kept_round_the_page() -> None:
    capture = _capture("dark")
    crop = find_page(capture.image)
    assert crop.box is not None and crop.page_box is not None
    pad = round(MARGIN * max(crop.page_box[2], crop.page_box[3]))
    px, py, pw, ph = crop.page_box
    assert crop.box == (px - pad, py - pad, pw + 2 * pad, ph + 2 * pad)
    wider = find_page(capture.image, margin=0.05)
    assert wider.box is not None and wider.box[2] > crop.box[2]


def test_grey_input_gives_the_same_page() -> None:
    capture = _capture("dark", spine_shadow="left")
    grey = cv2.cvtColor(capture.image, cv2.COLOR_RGB2GRAY)
    _assert_edges_near(find_page(grey).page_box, capture.page_box)


def test_page_filling_the_frame_is_left_uncropped() -> None:
    page = np.asarray(render_vertical_page(sample_text_for_page(2), width=900, height=1300, noise=0.01).image)
    crop = find_page(page)
    assert crop.box is None and crop.ground == "none"
    assert crop.note.startswith("no page edge found") and "uncropped" in crop.note


@pytest.mark.parametrize("image", [np.full((900, 700, 3), 212, np.uint8), np.zeros((700, 900), np.uint8)],
                         ids=["light-rgb", "black-grey"])
def test_uniform_image_is_left_uncropped(image: np.ndarray) -> None:
    crop = find_page(image)
    assert crop.box is None and crop.page_box is None
    assert crop.note.startswith("no page edge found")


def test_page_running_out_of_the_frame_keeps_all_visible_ink() -> None:
    # Only the left and top edges of the page show; its printed frame runs into the picture's edge.
    capture = _capture("dark", page_box=(450, 250, 1200, 1100))
    height, width = capture.image.shape[:2]
    crop = find_page(capture.image)
    assert crop.box is not None
    assert capture.ink_box[0] + capture.ink_box[2] == width  # the ink really touches the frame
    assert _contains(crop.box, capture.ink_box)
    assert crop.box[0] + crop.box[2] == width and crop.box[1] + crop.box[3] == height
    _assert_edges_near(crop.page_box, capture.page_box)


def test_heavy_frame_running_out_of_the_picture_is_not_cut() -> None:
    # A printed frame line thicker than the gaps the detection closes splits the paper margin off.
    capture = _capture("dark", page_box=(450, 250, 1200, 1100))
    image = capture.image.copy()
    x, y, w, h = capture.ink_box
    cv2.rectangle(image, (x, y), (x + w + 100, y + h + 100), (20, 20, 20), 24)
    crop = find_page(image)
    assert crop.box is not None
    assert crop.box[0] <= x - 12 and crop.box[1] <= y - 12  # the whole line, 24 px centred on the frame


def test_ink_crossing_the_paper_edge_on_a_light_ground_is_kept_whole() -> None:
    # Writing runs from the tinted paper onto paper faded to the bed's colour.
    capture = _capture("light")
    x, y, w, h = capture.page_box
    image = _faded_right_margin(capture)
    for row in range(y + h // 8, y + h - h // 8, 60):
        cv2.line(image, (x + w - 20, row), (x + w + 30, row + 25), (25, 25, 25), 5)
    crop = find_page(image)
    assert crop.box is not None
    assert crop.box[0] + crop.box[2] >= x + w + 30 + 2


def test_ink_just_past_the_paper_edge_on_a_light_ground_refuses_the_crop() -> None:
    # Marks on the faded paper that do not touch the tinted part: the edge found is doubtful.
    capture = _capture("light")
    x, y, w, h = capture.page_box
    image = _faded_right_margin(capture)
    for row in range(y + h // 8, y + h - h // 8, 30):
        cv2.line(image, (x + w + 6, row), (x + w + 14, row + 12), (25, 25, 25), 4)
    crop = find_page(image)
    assert crop.box is None
    assert crop.note == "not cropped: ink runs past the page edge found; left uncropped"


def _faded_right_margin(capture: Capture) -> np.ndarray:
    image = capture.image.copy()
    x, y, w, h = capture.page_box
    image[y : y + h, x + w : x + w + 40] = LIGHT_GROUND_RGB
    return image


def test_scaled_maps_boxes_to_the_larger_image_and_clips() -> None:
    crop = PageCrop((10, 20, 30, 40), (12, 22, 26, 36), "dark", 0.9, "page found")
    assert crop.scaled(2.0, 1000, 1000) == PageCrop((20, 40, 60, 80), (24, 44, 52, 72), "dark", 0.9, "page found")
    clipped = crop.scaled(2.5, 80, 150)  # right edge 100 > 80, bottom edge 150 == 150
    assert clipped.box == (25, 50, 55, 100) and clipped.page_box == (30, 55, 50, 90)
    outward = crop.scaled(1.3, 1000, 1000)  # edges round outwards: the crop never shrinks
    assert outward.box == (13, 26, 39, 52)
    empty = PageCrop(None, None, "none", 0.0, "no page edge found: left uncropped")
    assert empty.scaled(3.0, 100, 100) == empty


def test_bad_input_raises_image_error() -> None:
    with pytest.raises(ImageError, match="uint8"):
        find_page(np.zeros((100, 100, 3), np.float32))
    with pytest.raises(ImageError, match="too small"):
        find_page(np.zeros((10, 100), np.uint8))


def _load_shrunk(path: Path, long_side: int = 1500) -> np.ndarray:
    image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    image.thumbnail((long_side, long_side))
    return np.asarray(image)


@pytest.mark.parametrize("name", sorted(TEXT_BLOCKS))
def test_camera_sample_is_cropped_round_its_text(name: str) -> None:
    path = SAMPLES / "camera" / name
    if not path.is_file():
        pytest.skip(f"shared sample missing: {path}")
    image = _load_shrunk(path)
    height, width = image.shape[:2]
    crop = find_page(image)
    assert crop.box is not None, crop.note
    left, top, right, bottom = TEXT_BLOCKS[name]
    text = (round(left * width), round(top * height), round((right - left) * width), round((bottom - top) * height))
    assert _contains(crop.box, text)
    assert crop.box[0] + crop.box[2] <= RIGHT_LIMITS[name] * width


def test_woodblock_scans_are_never_cut_into() -> None:
    pages = sorted((SAMPLES / "woodblock").glob("page-0*.png"))
    if not pages:
        pytest.skip(f"shared samples missing: {SAMPLES / 'woodblock'}")
    for path in pages:
        image = np.asarray(Image.open(path).convert("RGB"))
        crop = find_page(image)
        assert crop.box is None or _contains(crop.box, _ink_box(image)), path.name
        assert crop.note


def _ink_box(image: np.ndarray) -> Box:
    """Box round the dark ink (printed frame included), ignoring isolated specks."""
    ink = (cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) < 100).astype(np.uint8)
    ink = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    x, y, w, h = cv2.boundingRect(ink)
    return (x, y, w, h)
