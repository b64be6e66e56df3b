"""Probing, verifying and loading masters, on images made here with libvips and Pillow."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import pyvips
from PIL import Image

from pipeline.errors import ImageError
from pipeline.images import load_page, probe_image, to_numpy, verify_decodes

PX_PER_MM_400PPI = 400 / 25.4


def _gradient(width: int = 300, height: int = 200) -> pyvips.Image:
    """Return an 8-bit sRGB image with structure in every band."""
    x = pyvips.Image.xyz(width, height)
    red = x[0] * 255 / width
    green = x[1] * 255 / height
    blue = (x[0] + x[1]) * 255 / (width + height)
    return red.bandjoin([green, blue]).cast("uchar").copy(interpretation="srgb")


def _write(image: pyvips.Image, path: Path, **options: object) -> Path:
    image.write_to_file(str(path), **options)
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _huge_png(path: Path, width: int, height: int) -> Path:
    """Write a tiny PNG whose IHDR claims ``width`` x ``height`` RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    signature = b"\x89PNG\r\n\x1a\n"
    body = _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    path.write_bytes(signature + body)
    return path


def _huge_tiff(path: Path, width: int, height: int) -> Path:
    """Write a tiny little-endian TIFF whose only IFD claims ``width`` x ``height`` grey pixels."""
    entries = [  # tag, type (3 SHORT, 4 LONG), value
        (256, 4, width),
        (257, 4, height),
        (258, 3, 8),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, 8),  # strip data right after the header (never read)
        (277, 3, 1),
        (278, 4, height),
        (279, 4, width * height),
    ]
    ifd_offset = 16
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        packed = struct.pack("<HI", value, 0)[:4] if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, 1) + packed
    ifd += struct.pack("<I", 0)
    path.write_bytes(b"II*\x00" + struct.pack("<I", ifd_offset) + b"\0" * 8 + ifd)
    return path


def _problem(path: Path, call: object = probe_image) -> str:
    with pytest.raises(ImageError) as info:
        call(path)  # type: ignore[operator]
    assert info.value.path == str(path)
    return info.value.problem


def test_probe_reads_header_of_srgb_tiff(tmp_path: Path) -> None:
    image = _gradient().copy(xres=PX_PER_MM_400PPI, yres=PX_PER_MM_400PPI)
    path = _write(image, tmp_path / "p001.tif", compression="lzw", profile="srgb")

    info = probe_image(path)

    assert (info.format, info.width, info.height, info.bands) == ("tiff", 300, 200, 3)
    assert (info.bits_per_sample, info.interpretation, info.colour_mode) == (8, "srgb", "rgb")
    assert info.ppi == pytest.approx(400.0, abs=0.01)
    assert info.has_icc is True
    assert info.has_alpha is False
    assert info.compression == "lzw"
    assert info.path == str(path)


@pytest.mark.parametrize("suffix", [".tif", ".png", ".jpg"])
def test_probe_reports_no_ppi_when_the_file_declares_none(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"plain{suffix}"
    Image.new("RGB", (40, 30), (200, 190, 180)).save(path)

    info = probe_image(path)

    assert info.ppi is None
    assert info.has_icc is False


def test_probe_reads_ppi_written_by_pillow(tmp_path: Path) -> None:
    path = tmp_path / "dpi.jpg"
    Image.new("RGB", (40, 30)).save(path, dpi=(600, 600))

    assert probe_image(path).ppi == pytest.approx(600.0, abs=0.01)
    assert probe_image(path).compression == "jpeg"


def test_zero_byte_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.tif"
    path.write_bytes(b"")

    assert _problem(path) == "empty file (0 bytes)"


def test_missing_file_is_refused(tmp_path: Path) -> None:
    assert _problem(tmp_path / "nowhere.tif") == "file not found"


def test_text_file_named_tif_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.tif"
    path.write_text("Hello, world: not a TIFF\n")

    assert _problem(path) == "not a recognised image format (content starts with b'Hello, w')"


def test_jpeg_named_tif_is_mislabelled(tmp_path: Path) -> None:
    path = tmp_path / "p002.tif"
    Image.new("RGB", (40, 30)).save(path, format="JPEG")

    assert _problem(path) == "mislabelled: content is JPEG but the name ends in .tif"


def test_gif_master_is_an_unsupported_format(tmp_path: Path) -> None:
    path = tmp_path / "p003.gif"
    Image.new("P", (40, 30)).save(path)

    assert _problem(path) == "unsupported format: content is GIF"


def test_huge_png_header_is_refused_before_decoding(tmp_path: Path) -> None:
    path = _huge_png(tmp_path / "bomb.png", 100_000, 100_000)
    assert path.stat().st_size < 200

    assert _problem(path) == (
        "image is 100000x100000 px = 10000 megapixels, above the 300 megapixel limit"
    )


def test_huge_tiff_header_is_refused_before_decoding(tmp_path: Path) -> None:
    path = _huge_tiff(tmp_path / "bomb.tif", 60_000, 60_000)

    assert _problem(path) == (
        "image is 60000x60000 px = 3600 megapixels, above the 300 megapixel limit"
    )
    assert _problem(path, verify_decodes).startswith("image is 60000x60000 px")


def test_pixel_limit_is_configurable(tmp_path: Path) -> None:
    path = _write(_gradient(2000, 1000), tmp_path / "wide.png")

    with pytest.raises(ImageError) as info:
        probe_image(path, max_pixels=1_500_000)

    assert (
        info.value.problem == "image is 2000x1000 px = 2 megapixels, above the 1.5 megapixel limit"
    )
    assert probe_image(path, max_pixels=2_000_000).width == 2000


@pytest.mark.parametrize("with_profile", [False, True])
def test_cmyk_tiff_is_probed_as_cmyk_and_loaded_as_srgb(tmp_path: Path, with_profile: bool) -> None:
    red = (pyvips.Image.black(120, 80, bands=3) + [200, 40, 40]).cast("uchar")  # noqa: RUF005 (vips arithmetic, not a list)
    cmyk = red.copy(interpretation="srgb").icc_export(output_profile="cmyk")
    if not with_profile:
        cmyk = cmyk.copy()
        cmyk.remove("icc-profile-data")
    path = _write(cmyk, tmp_path / "cmyk.tif")

    info = probe_image(path)
    page = load_page(path)

    assert (info.colour_mode, info.interpretation, info.bands) == ("cmyk", "cmyk", 4)
    assert info.has_icc is with_profile
    assert (page.bands, page.format, page.interpretation) == (3, "uchar", "srgb")
    r, g, b = page.getpoint(10, 10)
    assert r > 150 and g < 90 and b < 90  # still red after the round trip through CMYK


def test_palette_png_and_tiff_are_detected_and_expanded(tmp_path: Path) -> None:
    indexed = Image.new("P", (60, 40), 1)
    indexed.putpalette([0, 0, 0, 30, 120, 200] + [0, 0, 0] * 254)
    for name in ("pal.png", "pal.tif"):
        indexed.save(tmp_path / name)

        info = probe_image(tmp_path / name)
        page = load_page(tmp_path / name)

        assert info.colour_mode == "palette", name
        assert page.bands == 3 and page.format == "uchar"
        assert page.getpoint(5, 5) == [30.0, 120.0, 200.0], name


@pytest.mark.parametrize(
    ("bands", "interpretation", "mode"), [(1, "grey16", "grey"), (3, "rgb16", "rgb")]
)
def test_16_bit_tiff_is_probed_and_loaded_as_8_bit(
    tmp_path: Path, bands: int, interpretation: str, mode: str
) -> None:
    deep = (pyvips.Image.black(100, 60, bands=bands) + 30000).cast("ushort")
    path = _write(deep.copy(interpretation=interpretation), tmp_path / f"{mode}16.tif")

    info = probe_image(path)
    page = load_page(path)

    assert (info.bits_per_sample, info.interpretation, info.colour_mode) == (
        16,
        interpretation,
        mode,
    )
    assert (page.bands, page.format) == (3, "uchar")
    assert page.getpoint(3, 3) == pytest.approx([117.0] * 3, abs=1)  # 30000/65535 of 255


def test_rgba_png_reports_alpha_and_loads_flattened_on_white(tmp_path: Path) -> None:
    pixels = np.zeros((40, 60, 4), np.uint8)
    pixels[:, :30] = (200, 0, 0, 255)  # opaque red on the left, transparent on the right
    path = tmp_path / "rgba.png"
    Image.fromarray(pixels, "RGBA").save(path)

    info = probe_image(path)
    page = load_page(path)

    assert info.has_alpha is True and info.bands == 4 and info.colour_mode == "rgb"
    assert page.bands == 3
    assert page.getpoint(5, 5) == [200.0, 0.0, 0.0]
    assert page.getpoint(50, 5) == [255.0, 255.0, 255.0]


def test_bilevel_tiff_reports_one_bit(tmp_path: Path) -> None:
    path = tmp_path / "bw.tif"
    Image.new("1", (64, 32), 1).save(path)

    info = probe_image(path)

    assert (info.bits_per_sample, info.colour_mode) == (1, "grey")
    assert load_page(path).getpoint(1, 1) == [255.0, 255.0, 255.0]


def test_chinese_file_name_with_space_works(tmp_path: Path) -> None:
    path = _write(_gradient(), tmp_path / "卷一 葉三上.tif")

    info = probe_image(path)
    verify_decodes(path)
    small = load_page(path, max_side=100)

    assert info.path == str(path) and info.width == 300
    assert (small.width, small.height) == (100, 67)


def test_verify_decodes_accepts_intact_files(tmp_path: Path) -> None:
    for name in ("ok.tif", "ok.jpg", "ok.png"):
        verify_decodes(_write(_gradient(), tmp_path / name))


def _noise_array(width: int, height: int) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _cut_in_half(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_truncated_tiff_with_leading_directory_fails_verification(tmp_path: Path) -> None:
    path = tmp_path / "cut.tif"
    Image.fromarray(_noise_array(300, 1000)).save(path)  # Pillow writes the IFD first
    _cut_in_half(path)

    assert probe_image(path).height == 1000  # the header survives ...
    problem = _problem(path, verify_decodes)  # ... the pixels do not
    assert problem.startswith(
        "truncated or corrupt: decoding failed between rows 256 and 512 of 1000"
    )
    assert "scanline" in problem


def test_truncated_tiff_with_trailing_directory_fails_probe(tmp_path: Path) -> None:
    path = _cut_in_half(
        _write(_gradient(300, 1000), tmp_path / "cut.tif")
    )  # libvips writes IFD last
    size = path.stat().st_size

    problem = _problem(path)

    assert problem.startswith("truncated: the TIFF directory at byte ")
    assert problem.endswith(f"is beyond the end of the file ({size} bytes)")


@pytest.mark.parametrize("name", ["cut.jpg", "cut.png"])
def test_truncated_jpeg_and_png_fail_verification(tmp_path: Path, name: str) -> None:
    image = pyvips.Image.new_from_array(_noise_array(300, 1000), interpretation="srgb")
    path = _cut_in_half(_write(image, tmp_path / name))

    assert _problem(path, verify_decodes).startswith(
        "truncated or corrupt: decoding failed between rows "
    )


def test_load_page_shrinks_on_load_and_never_enlarges(tmp_path: Path) -> None:
    path = _write(_gradient(3000, 4000), tmp_path / "big.tif", tile=True)

    small = load_page(path, max_side=500)
    same = load_page(path, max_side=10_000)

    assert (small.width, small.height) == (375, 500)
    assert (same.width, same.height) == (3000, 4000)
    assert (small.bands, small.format, small.interpretation) == (3, "uchar", "srgb")


def test_load_page_applies_exif_orientation_in_both_paths(tmp_path: Path) -> None:
    image = _gradient(300, 200).copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", 6)  # rotate 90° clockwise to view
    path = _write(image, tmp_path / "rotated.jpg")

    full = load_page(path)
    small = load_page(path, max_side=150)

    assert (full.width, full.height) == (200, 300)
    assert (small.width, small.height) == (100, 150)


def test_random_access_page_can_be_rotated(tmp_path: Path) -> None:
    path = _write(_gradient(400, 600), tmp_path / "page.jpg")

    rotated = load_page(path, sequential=False).rotate(3.0)

    assert rotated.avg() > 0


def test_to_numpy_returns_height_width_channels(tmp_path: Path) -> None:
    path = _write(_gradient(300, 200), tmp_path / "page.png")

    pixels = to_numpy(load_page(path))

    assert pixels.shape == (200, 300, 3) and pixels.dtype == np.uint8
    assert tuple(pixels[150, 299]) == tuple(int(v) for v in _gradient().getpoint(299, 150))


def test_jpeg_2000_is_read_or_refused_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "page.jp2"
    Image.new("RGB", (64, 48), (10, 20, 30)).save(path)

    if pyvips.type_find("VipsOperation", "jp2kload") == 0:
        assert _problem(path) == "unsupported format: this libvips build cannot read JPEG 2000"
    else:
        assert probe_image(path).format == "jp2"
