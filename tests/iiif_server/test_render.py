"""Rendering with real libvips from generated pyramids: levels, crops, sizes, rotation, qualities, formats."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import pyvips
from PIL import Image

from iiif_server.errors import BadRequest
from iiif_server.geometry import Limits, plan_render
from iiif_server.image_request import Format, parse_image_request
from iiif_server.render import SAVERS, Renderer, writable_formats
from tests.iiif_server.helpers import (
    cell_colour,
    close,
    decode_rgb,
    mean_colour,
    publish_grid,
)

LIMITS = Limits(4000, 4000, 4_000_000)
MAGIC = {"jpg": b"\xff\xd8\xff", "png": b"\x89PNG", "gif": b"GIF8", "tif": b"II*\x00"}


@pytest.fixture(scope="module")
def pyramid_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return publish_grid(tmp_path_factory.mktemp("publish"), "item", "p0001", 1000, 700)


def render(path: Path, *params: str, renderer: Renderer | None = None) -> pyvips.Image:
    renderer = renderer or Renderer()
    version = _version(path)
    plan = plan_render(parse_image_request("item~p0001", *params), renderer.probe(path, version), LIMITS)
    return decode_rgb(renderer.render(path, version, plan))


def _version(path: Path) -> tuple[int, int, int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def test_probe_reads_every_halving_level(pyramid_path: Path) -> None:
    pyramid = Renderer().probe(pyramid_path, _version(pyramid_path))
    assert (pyramid.width, pyramid.height) == (1000, 700)
    assert [(lv.index, lv.factor, lv.width, lv.height) for lv in pyramid.levels] == [
        (0, 1, 1000, 700), (1, 2, 500, 350), (2, 4, 250, 175)]


def test_a_page_that_is_not_half_the_last_ends_the_pyramid(tmp_path: Path) -> None:
    path = tmp_path / "pages.tif"
    Image.new("RGB", (400, 300)).save(path, save_all=True, append_images=[Image.new("RGB", (400, 300))])
    pyramid = Renderer().probe(path, _version(path))
    assert len(pyramid.levels) == 1


def test_a_reduced_request_reads_the_reduced_level_not_full_size(tmp_path: Path) -> None:
    # Level 1 is deliberately a different picture: getting it proves level 0 was not decoded.
    path = tmp_path / "two-levels.tif"
    full, half = Image.new("RGB", (800, 600), (0, 0, 255)), Image.new("RGB", (400, 300), (255, 0, 0))
    full.save(path, save_all=True, append_images=[half])
    small = render(path, "full", "400,", "0", "default.png")
    assert close(mean_colour(small, 0, 0, 400, 300), (255, 0, 0), 1)
    big = render(path, "0,0,400,300", "max", "0", "default.png")
    assert close(mean_colour(big, 0, 0, 400, 300), (0, 0, 255), 1)


@pytest.mark.parametrize("region, size, expected_size", [
    ("200,100,200,200", "100,100", (100, 100)),
    ("0,0,1000,700", "max", (1000, 700)),
    ("512,512,488,188", "122,47", (122, 47)),  # edge tile at scale factor 4
    ("full", "^1333,", (1333, 933)),
    ("full", "97,13", (97, 13)),
])
def test_output_has_exactly_the_planned_size(pyramid_path: Path, region: str, size: str,
                                             expected_size: tuple[int, int]) -> None:
    image = render(pyramid_path, region, size, "0", "default.jpg")
    assert (image.width, image.height) == expected_size


def test_a_tile_from_a_reduced_level_shows_the_right_cells(pyramid_path: Path) -> None:
    # Region 200,100 .. 400,300 covers cells (2,1) (3,1) (2,2) (3,2); at 100x100 each is 50 px.
    image = render(pyramid_path, "200,100,200,200", "100,100", "0", "default.png")
    for col, row in [(2, 1), (3, 1), (2, 2), (3, 2)]:
        left, top = (col - 2) * 50 + 12, (row - 1) * 50 + 12
        assert close(mean_colour(image, left, top, 26, 26), cell_colour(col, row))


def test_rotation_90_is_clockwise(pyramid_path: Path) -> None:
    image = render(pyramid_path, "full", "max", "90", "default.png")
    assert (image.width, image.height) == (700, 1000)
    # Clockwise: the bottom-left cell (0, 6) comes to the top left.
    assert close(mean_colour(image, 20, 20, 60, 60), cell_colour(0, 6))


def test_mirroring_happens_before_rotation(pyramid_path: Path) -> None:
    mirrored = render(pyramid_path, "full", "max", "!0", "default.png")
    assert close(mean_colour(mirrored, 20, 20, 60, 60), cell_colour(9, 0))
    mirrored_180 = render(pyramid_path, "full", "max", "!180", "default.png")
    assert close(mean_colour(mirrored_180, 20, 20, 60, 60), cell_colour(0, 6))


def test_arbitrary_rotation_fills_the_bounding_box_transparent_in_png(pyramid_path: Path) -> None:
    image = render(pyramid_path, "full", "100,70", "45", "default.png")
    assert image.bands == 4
    assert abs(image.width - 120.2) <= 1.5 and abs(image.height - 120.2) <= 1.5
    assert image(0, 0)[3] == 0  # corner outside the rotated picture is transparent
    assert image(image.width // 2, image.height // 2)[3] == 255


def test_arbitrary_rotation_in_jpeg_has_a_white_background(pyramid_path: Path) -> None:
    image = render(pyramid_path, "full", "100,70", "30", "default.jpg")
    assert image.bands == 3
    assert all(v > 240 for v in image(0, 0))


def test_gray_and_bitonal_qualities(pyramid_path: Path) -> None:
    gray = render(pyramid_path, "full", "200,", "0", "gray.png")
    assert gray.bands == 1
    bitonal = render(pyramid_path, "full", "200,", "0", "bitonal.png")
    assert bitonal.bands == 1
    values = set(bitonal.cast("uchar").hist_find().numpy().nonzero()[1].tolist())
    assert values <= {0, 255} and len(values) == 2


@pytest.mark.parametrize("fmt", ["jpg", "png", "gif", "tif", "webp"])
def test_every_format_is_encoded_as_itself(pyramid_path: Path, fmt: str) -> None:
    renderer = Renderer()
    version = _version(pyramid_path)
    plan = plan_render(parse_image_request("i~p0001", "full", "64,", "0", f"default.{fmt}"),
                       renderer.probe(pyramid_path, version), LIMITS)
    data = renderer.render(pyramid_path, version, plan)
    if fmt == "webp":
        assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    else:
        assert data.startswith(MAGIC[fmt])
    assert decode_rgb(data).width == 64


def test_a_republished_file_is_read_again_not_served_from_the_libvips_cache(tmp_path: Path) -> None:
    path = tmp_path / "page.tif"
    renderer = Renderer()
    Image.new("RGB", (300, 200), (255, 0, 0)).save(path)
    first = render(path, "full", "max", "0", "default.png", renderer=renderer)
    os.replace(_write(tmp_path / "new.tif", (0, 255, 0)), path)  # as publish_item swaps folders
    second = render(path, "full", "max", "0", "default.png", renderer=renderer)
    assert close(mean_colour(first, 0, 0, 300, 200), (255, 0, 0), 1)
    assert close(mean_colour(second, 0, 0, 300, 200), (0, 255, 0), 1)


def _write(path: Path, colour: tuple[int, int, int]) -> Path:
    Image.new("RGB", (300, 200), colour).save(path)
    return path


def test_the_formats_offered_are_those_libvips_can_write() -> None:
    offered = writable_formats()
    assert {Format.JPG, Format.PNG} <= offered  # level 2 needs both; the pipeline's libvips has them
    for fmt, saver in SAVERS.items():
        if pyvips.type_find("VipsOperation", saver) == 0:
            assert fmt not in offered
    assert Renderer().formats == offered
    assert set(SAVERS) == set(Format)  # a format added to the parser must say how it is written


def test_a_format_not_offered_is_refused_before_rendering() -> None:
    renderer = Renderer(formats=frozenset({Format.JPG, Format.PNG}))  # as a libvips without libwebp
    renderer.require(Format.PNG)
    with pytest.raises(BadRequest, match=r"^format: 'webp' is not offered by this server; use one of jpg, png$"):
        renderer.require(Format.WEBP)


@pytest.mark.skipif(Format.WEBP not in writable_formats(), reason="this libvips cannot write WebP")
def test_webp_output_is_lossy_webp_of_the_planned_size(pyramid_path: Path) -> None:
    renderer = Renderer()
    version = _version(pyramid_path)
    plan = plan_render(parse_image_request("i~p0001", "0,0,500,350", "^!700,700", "0", "default.webp"),
                       renderer.probe(pyramid_path, version), LIMITS)
    data = renderer.render(pyramid_path, version, plan)
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP" and data[12:16] == b"VP8 "  # lossy, no alpha chunk
    image = pyvips.Image.new_from_buffer(data, "")
    assert image.get("vips-loader") == "webpload_buffer"
    assert (image.width, image.height) == (700, 490)
    assert close(mean_colour(image, 340, 240, 20, 20), cell_colour(2, 1))  # the 100 px cells, 1.4 times larger
