"""Stored JPEG tiles sent as they are: the same pixels libvips decodes, and only when nothing must change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips
from starlette.testclient import TestClient

from iiif_server.geometry import Limits, plan_render
from iiif_server.image_request import parse_image_request
from iiif_server.render import Renderer
from iiif_server.tiles import read_tile_index, stored_tile
from tests.iiif_server.helpers import grid_image, publish_grid

LIMITS = Limits(10_000, 10_000, 100_000_000)


@pytest.fixture(scope="module")
def pyramid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return publish_grid(tmp_path_factory.mktemp("publish"), "item", "p0001", 1000, 700)


def plan(path: Path, *params: str):
    return plan_render(parse_image_request("item~p0001", *params), Renderer().probe(path, "v"), LIMITS)


def pixels(image: pyvips.Image) -> np.ndarray:
    return image.numpy().astype(int)


@pytest.mark.parametrize("params, page, x, y", [
    (("0,0,256,256", "256,", "0", "default.jpg"), 0, 0, 0),
    (("512,256,256,256", "256,256", "0", "color.jpg"), 0, 512, 256),
    (("0,0,512,512", "256,", "0", "default.jpg"), 1, 0, 0),
])
def test_a_whole_tile_is_the_stored_jpeg_with_the_same_pixels(pyramid: Path, params, page, x, y) -> None:
    index = read_tile_index(pyramid)
    assert index is not None
    data = stored_tile(pyramid, index, plan(pyramid, *params))
    assert data is not None and data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    sent = pyvips.Image.new_from_buffer(data, "")
    expected = pyvips.Image.new_from_file(str(pyramid), page=page).crop(x, y, 256, 256)
    assert np.array_equal(pixels(sent), pixels(expected))


@pytest.mark.parametrize("params", [
    ("768,512,232,188", "232,", "0", "default.jpg"),  # edge tile: padded in the file
    ("0,0,256,256", "128,", "0", "default.jpg"),  # scaled
    ("0,0,256,256", "256,", "90", "default.jpg"),  # rotated
    ("0,0,256,256", "256,", "!0", "default.jpg"),  # mirrored
    ("0,0,256,256", "256,", "0", "gray.jpg"),
    ("0,0,256,256", "256,", "0", "default.png"),
    ("128,0,256,256", "256,", "0", "default.jpg"),  # not on the tile grid
    ("0,0,1000,700", "250,", "0", "default.jpg"),  # a whole small page, padded to 256
])
def test_anything_but_one_unchanged_interior_tile_is_rendered(pyramid: Path, params) -> None:
    index = read_tile_index(pyramid)
    assert index is not None
    assert stored_tile(pyramid, index, plan(pyramid, *params)) is None


def test_the_server_sends_stored_tiles_and_renders_the_rest(client: TestClient, grid: str,
                                                            settings) -> None:
    path = settings.publish_dir / "grid-item" / "images" / "p0001.tif"
    index = read_tile_index(path)
    interior = client.get(f"/iiif/3/{grid}/256,256,256,256/256,256/0/default.jpg")
    assert interior.content == stored_tile(path, index, plan(path, "256,256,256,256", "256,256", "0", "default.jpg"))
    edge = client.get(f"/iiif/3/{grid}/768,512,232,188/232,188/0/default.jpg")
    image = pyvips.Image.new_from_buffer(edge.content, "")
    assert (image.width, image.height) == (232, 188)


def test_files_that_are_not_plain_jpeg_tiles_are_always_rendered(tmp_path: Path) -> None:
    deflate = tmp_path / "deflate.tif"
    grid_image(600, 400).tiffsave(str(deflate), tile=True, pyramid=True, compression="deflate")
    strips = tmp_path / "strips.tif"
    grid_image(600, 400).tiffsave(str(strips), compression="jpeg")
    big = tmp_path / "big.tif"
    grid_image(600, 400).tiffsave(str(big), tile=True, compression="jpeg", bigtiff=True)
    (tmp_path / "junk.tif").write_bytes(b"II*\x00\xff\xff\xff\x7f" + b"\x00" * 20)
    (tmp_path / "empty.tif").write_bytes(b"")
    for name in ("deflate.tif", "strips.tif", "big.tif", "junk.tif", "empty.tif"):
        assert read_tile_index(tmp_path / name) is None, name


def test_a_tile_whose_bytes_are_not_a_jpeg_stream_is_left_to_libvips(tmp_path: Path) -> None:
    path = publish_grid(tmp_path, "item", "p0001", 600, 400)
    index = read_tile_index(path)
    page = index.pages[0]
    data = bytearray(path.read_bytes())
    data[page.offsets[0]:page.offsets[0] + 2] = b"\x00\x00"  # damage the first tile's start marker
    path.write_bytes(bytes(data))
    assert stored_tile(path, index, plan(path, "0,0,256,256", "256,", "0", "default.jpg")) is None
    from iiif_server.tiles import assembled_tiles

    assert assembled_tiles(path, index, plan(path, "0,0,300,300", "300,", "0", "default.jpg"), 85) is None


@pytest.mark.parametrize("params", [
    ("768,512,232,188", "232,", "0", "default.jpg"),  # an edge tile, padded in the file
    ("128,128,256,256", "256,", "0", "default.jpg"),  # off the grid: four tiles
    ("100,50,700,600", "700,", "0", "color.jpg"),  # nine tiles
    ("0,0,1000,700", "500,", "0", "default.jpg"),  # the whole factor-2 page
])
def test_regions_at_a_stored_scale_are_pasted_from_the_stored_tiles(pyramid: Path, params) -> None:
    from iiif_server.tiles import assembled_tiles

    the_plan = plan(pyramid, *params)
    data = assembled_tiles(pyramid, read_tile_index(pyramid), the_plan, 85)
    assert data is not None
    sent = pixels(pyvips.Image.new_from_buffer(data, ""))
    crop = the_plan.crop
    expected = pixels(pyvips.Image.new_from_file(str(pyramid), page=the_plan.level.index)
                      .crop(crop.x, crop.y, crop.width, crop.height))
    assert sent.shape == expected.shape
    assert np.abs(sent - expected).mean() < 2  # one more JPEG generation, nothing else


@pytest.mark.parametrize("params", [
    ("0,0,1000,700", "1000,", "0", "default.jpg"),  # at full size that is 4 x 3 tiles: still pasted
])
def test_a_region_of_many_tiles_is_left_to_libvips(tmp_path: Path, params) -> None:
    from iiif_server.tiles import MAX_ASSEMBLED, assembled_tiles

    big = publish_grid(tmp_path, "item", "p0001", 256 * 5, 256 * 4)  # 20 tiles at full size
    assert assembled_tiles(big, read_tile_index(big), plan(big, "full", "max", "0", "default.jpg"), 85) is None
    assert 20 > MAX_ASSEMBLED
    assert assembled_tiles(big, read_tile_index(big), plan(big, *params), 85) is not None
