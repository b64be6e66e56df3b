"""Pyramidal access TIFFs and thumbnails, read back with libvips and Pillow."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips
from PIL import Image

from pipeline.access import access_size, write_pyramid, write_thumbnail
from pipeline.errors import ImageError
from pipeline.images import load_page

TIFF_TILE_WIDTH, TIFF_TILE_LENGTH, TIFF_COMPRESSION = 322, 323, 259
TIFF_COMPRESSION_JPEG = 7


def _page(width: int = 1500, height: int = 1100) -> pyvips.Image:
    x = pyvips.Image.xyz(width, height)
    bands = [x[0] * 255 / width, x[1] * 255 / height, (x[0] + x[1]) % 256]
    return bands[0].bandjoin(bands[1:]).cast("uchar").copy(interpretation="srgb")


def test_pyramid_is_tiled_jpeg_with_halving_levels(tmp_path: Path) -> None:
    dest = tmp_path / "p0001.tif"

    write_pyramid(_page(), dest)

    levels = [
        pyvips.Image.new_from_file(str(dest), page=n)
        for n in range(pyvips.Image.new_from_file(str(dest)).get("n-pages"))
    ]
    sizes = [(level.width, level.height) for level in levels]
    assert sizes[:3] == [(1500, 1100), (750, 550), (375, 275)]
    assert len(sizes) > 1 and max(sizes[-1]) <= 256
    assert all((level.bands, level.format) == (3, "uchar") for level in levels)
    with Image.open(dest) as tiff:
        assert tiff.n_frames == len(levels)
        for frame in range(tiff.n_frames):
            tiff.seek(frame)
            tags = tiff.tag_v2
            assert (tags[TIFF_TILE_WIDTH], tags[TIFF_TILE_LENGTH]) == (256, 256)
            assert tags[TIFF_COMPRESSION] == TIFF_COMPRESSION_JPEG


def test_pyramid_pixels_survive_jpeg_compression(tmp_path: Path) -> None:
    source = _page()
    dest = tmp_path / "p.tif"

    write_pyramid(source, dest)

    written = pyvips.Image.new_from_file(str(dest))
    assert abs(written.avg() - source.avg()) < 2
    assert (written - source).abs().avg() < 4  # JPEG Q85 error, not a different picture
    assert (written - source.flip("horizontal")).abs().avg() > 40


def test_pyramid_from_16_bit_grey_and_cmyk_is_8_bit_srgb(tmp_path: Path) -> None:
    grey16 = (pyvips.Image.black(600, 400) + 40000).cast("ushort").copy(interpretation="grey16")
    cmyk = _page(600, 400).icc_export(output_profile="cmyk")
    for name, image in (("grey16.tif", grey16), ("cmyk.tif", cmyk)):
        write_pyramid(image, tmp_path / name)

        written = pyvips.Image.new_from_file(str(tmp_path / name))
        assert (written.bands, written.format, written.interpretation) == (3, "uchar", "srgb")


def test_pyramid_from_a_loaded_master_with_chinese_name(tmp_path: Path) -> None:
    master = tmp_path / "卷一 葉三上.tif"
    _page(900, 1300).write_to_file(str(master))
    dest = tmp_path / "卷一 葉三上.access.tif"

    image = load_page(master)
    size = access_size(image)
    write_pyramid(image, dest)

    written = pyvips.Image.new_from_file(str(dest))
    assert size == (900, 1300) == (written.width, written.height)
    assert written.get("n-pages") > 1


def test_pyramid_into_a_missing_folder_raises_image_error(tmp_path: Path) -> None:
    dest = tmp_path / "no such folder" / "p.tif"

    with pytest.raises(ImageError) as info:
        write_pyramid(_page(), dest)

    assert info.value.path == str(dest)
    assert info.value.problem.startswith("cannot write pyramidal TIFF: ")


def test_thumbnail_is_a_jpeg_with_the_requested_long_side(tmp_path: Path) -> None:
    tall, small = tmp_path / "tall.jpg", tmp_path / "small.jpg"

    write_thumbnail(_page(1100, 1500), tall)
    write_thumbnail(_page(200, 120), small, long_side=300)

    assert tall.read_bytes()[:3] == b"\xff\xd8\xff"
    with Image.open(tall) as image:
        assert (image.format, image.size, image.mode) == ("JPEG", (220, 300), "RGB")
    with Image.open(small) as image:
        assert image.size == (200, 120)  # never enlarged


def test_thumbnail_long_side_is_configurable(tmp_path: Path) -> None:
    dest = tmp_path / "t.jpg"

    write_thumbnail(_page(1500, 1100), dest, long_side=150)

    with Image.open(dest) as image:
        assert image.size == (150, 110)


def test_access_size_is_the_full_image_size() -> None:
    assert access_size(_page(1234, 567)) == (1234, 567)
