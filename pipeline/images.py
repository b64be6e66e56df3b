"""Probe, verify and load master images.

This is the only module (with :mod:`pipeline.access`) that opens masters with
pyvips. ``probe_image`` reads headers only and refuses files that cannot be
masters; ``verify_decodes`` decodes every row to catch truncation;
``load_page`` returns the normalised 8-bit sRGB image every later step works on.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvips

from pipeline.errors import ImageError

log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 300_000_000
_VERIFY_STRIP_ROWS = 256
_MAGIC_READ = 16

# Content signatures of the formats a master may be in, checked before any decoder runs.
_MASTER_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "jp2"),
    (b"\xff\x4f\xff\x51", "jp2"),  # raw JPEG 2000 codestream (.j2k)
)
# Recognised but not accepted as masters: named so the message says what the file is.
_OTHER_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"%PDF", "PDF"),
    (b"RIFF", "RIFF/WebP"),
    (b"8BPS", "Photoshop PSD"),
)
_EXTENSIONS = {
    ".tif": "tiff",
    ".tiff": "tiff",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".jpe": "jpeg",
    ".png": "png",
    ".jp2": "jp2",
    ".j2k": "jp2",
    ".jpf": "jp2",
    ".jpx": "jp2",
}
_FORMAT_LABEL = {"tiff": "TIFF", "jpeg": "JPEG", "png": "PNG", "jp2": "JPEG 2000"}
_TIFF_COMPRESSION = {
    1: "none",
    2: "ccitt-rle",
    3: "ccitt-fax3",
    4: "ccitt-fax4",
    5: "lzw",
    6: "ojpeg",
    7: "jpeg",
    8: "deflate",
    32773: "packbits",
    32946: "deflate",
    34712: "jpeg2000",
    34925: "lzma",
    50000: "zstd",
    50001: "webp",
}
_COLOUR_MODES = {
    "srgb": "rgb",
    "rgb": "rgb",
    "rgb16": "rgb",
    "scrgb": "rgb",
    "b-w": "grey",
    "grey16": "grey",
    "cmyk": "cmyk",
}
_BITS_BY_FORMAT = {"uchar": 8, "char": 8, "ushort": 16, "short": 16, "uint": 32, "int": 32}
_TIFF_PHOTOMETRIC_PALETTE = 3
_PNG_COLOUR_TYPE_PALETTE = 3
_VIPS_DEFAULT_PPI = 25.4  # libvips' xres default of 1 pixel/mm
_UNSET_PPI = 72.0  # what JPEG/PNG loaders report when the file carries no density


@dataclass(frozen=True)
class ImageInfo:
    """What a master's header says about it."""

    path: str
    format: str  # "tiff", "jpeg", "png", "jp2"
    width: int
    height: int
    bands: int
    bits_per_sample: int
    interpretation: str  # libvips name: "srgb", "b-w", "cmyk", "rgb16", "grey16" ...
    colour_mode: str  # "rgb", "grey", "cmyk", "palette", "other"
    has_alpha: bool
    ppi: float | None
    has_icc: bool
    compression: str  # "" when unknown

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


@dataclass(frozen=True)
class _Container:
    """Facts read from the file's own bytes rather than from libvips."""

    format: str
    palette: bool
    compression: str


def probe_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Read a master's header and refuse files that cannot be masters.

    Raises:
        ImageError: empty, unrecognised, mislabelled, unsupported or oversized file.
    """
    path = Path(path)
    container = _read_container(path)
    image = _open(path, container.format)
    _check_pixel_limit(path, image.width, image.height, max_pixels)
    return _image_info(path, image, container)


def verify_decodes(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Decode every row of an image, failing on truncation or corrupt data."""
    path = Path(path)
    image = _open(path, _read_container(path).format, access="sequential", fail_on="error")
    _check_pixel_limit(path, image.width, image.height, max_pixels)
    region = pyvips.Region.new(image)
    for top in range(0, image.height, _VERIFY_STRIP_ROWS):
        rows = min(_VERIFY_STRIP_ROWS, image.height - top)
        try:
            region.fetch(0, top, image.width, rows)
        except pyvips.Error as exc:
            raise ImageError(
                path,
                f"truncated or corrupt: decoding failed between rows {top} and {top + rows} "
                f"of {image.height} ({_vips_reason(exc)})",
                hint="copy the file again from the capture station",
            ) from exc


def load_page(
    path: str | Path, *, max_side: int | None = None, sequential: bool = True
) -> pyvips.Image:
    """Load a master as a 3-band 8-bit sRGB image, optionally shrunk to ``max_side``.

    With ``max_side`` the image is shrunk on load and never enlarged. With
    ``sequential=True`` the result allows one top-to-bottom pass (saving,
    statistics, :func:`to_numpy`); pass ``False`` before rotating or cropping.
    """
    path = Path(path)
    container_format = _read_container(path).format
    try:
        if max_side is not None:
            # thumbnail shrinks on load (JPEG DCT scaling, TIFF pyramids) and imports
            # embedded or CMYK profiles itself, so a 7000 px master is never fully expanded.
            image = pyvips.Image.thumbnail(str(path), max_side, height=max_side, size="down")
        else:
            image = _open_oriented(path, sequential)
        return to_srgb8(image)
    except pyvips.Error as exc:
        label = _FORMAT_LABEL[container_format]
        raise ImageError(path, f"cannot load {label}: {_vips_reason(exc)}") from exc


def to_srgb8(image: pyvips.Image) -> pyvips.Image:
    """Convert any image to 3-band 8-bit sRGB, alpha flattened on white."""
    image = _import_colour(image)
    if image.format != "uchar":
        image = image.cast("uchar")
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    if image.bands != 3:
        image = image.extract_band(0, n=3) if image.bands > 3 else image.bandjoin([image, image])
    image = image.copy(interpretation="srgb")
    # The source profile no longer describes these pixels; sRGB is implied.
    if image.get_typeof("icc-profile-data") != 0:
        image.remove("icc-profile-data")
    return image


def to_numpy(image: pyvips.Image) -> np.ndarray:
    """Return an image's pixels as an H x W x C uint8 array for OpenCV.

    Raises:
        ImageError: the pixels cannot be decoded (the lazy load fails only now).
    """
    if image.format != "uchar":
        image = image.cast("uchar")
    try:
        buffer = image.write_to_memory()
    except pyvips.Error as exc:
        source = image.get("filename") if image.get_typeof("filename") != 0 else "image"
        raise ImageError(source, f"cannot decode pixels: {_vips_reason(exc)}") from exc
    return np.ndarray(buffer=buffer, dtype=np.uint8, shape=(image.height, image.width, image.bands))


def _open_oriented(path: Path, sequential: bool) -> pyvips.Image:
    """Open at full size, applying EXIF orientation so pixels match what viewers show."""
    # revalidate: libvips caches opened files by name, and a reshoot puts a new file at the same path.
    image = pyvips.Image.new_from_file(str(path), access="sequential" if sequential else "random", revalidate=True)
    orientation = image.get("orientation") if image.get_typeof("orientation") != 0 else 1
    if orientation in (0, 1):
        return image
    # Rotation reads rows out of order, which a sequential image cannot do.
    return pyvips.Image.new_from_file(str(path), access="random", revalidate=True).autorot()


def _import_colour(image: pyvips.Image) -> pyvips.Image:
    """Bring an image into sRGB through its embedded profile when it has one."""
    if image.get_typeof("icc-profile-data") != 0:
        try:
            return image.icc_transform("srgb", embedded=True, depth=8, intent="relative")
        except pyvips.Error as exc:
            # A broken or mismatched profile should not stop processing: the QC
            # "icc" check reports the master, and derivatives fall back to sRGB.
            log.warning("ignoring unusable ICC profile: %s", _vips_reason(exc))
    if image.interpretation == "srgb" and image.format == "uchar":
        return image
    try:
        return image.colourspace("srgb")
    except pyvips.Error:
        return image  # unknown interpretation: to_srgb8 casts and picks bands


def _read_container(path: Path) -> _Container:
    """Identify a file from its bytes and check that its name agrees."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(_MAGIC_READ)
    except FileNotFoundError:
        raise ImageError(path, "file not found") from None
    except OSError as exc:
        raise ImageError(path, f"cannot read file: {exc.strerror}") from exc
    if size == 0:
        raise ImageError(path, "empty file (0 bytes)", hint="copy the file again")
    fmt = _sniff(path, head)
    _check_extension(path, fmt)
    if fmt == "jp2" and not _has_loader("jp2kload"):
        raise ImageError(
            path,
            "unsupported format: this libvips build cannot read JPEG 2000",
            hint="convert the master to TIFF",
        )
    if fmt == "tiff":
        return _tiff_container(path, size)
    if fmt == "png":
        return _Container("png", _png_is_palette(path), "deflate")
    return _Container(fmt, False, "jpeg" if fmt == "jpeg" else "jpeg2000")


def _sniff(path: Path, head: bytes) -> str:
    for magic, fmt in _MASTER_MAGIC:
        if head.startswith(magic):
            return fmt
    for magic, name in _OTHER_MAGIC:
        if head.startswith(magic):
            raise ImageError(
                path,
                f"unsupported format: content is {name}",
                hint="masters must be TIFF, JPEG, PNG or JPEG 2000",
            )
    raise ImageError(path, f"not a recognised image format (content starts with {head[:8]!r})")


def _check_extension(path: Path, fmt: str) -> None:
    suffix = path.suffix.lower()
    if _EXTENSIONS.get(suffix) != fmt:
        raise ImageError(
            path,
            f"mislabelled: content is {_FORMAT_LABEL[fmt]} but the name ends in "
            f"{path.suffix or '(no extension)'}",
            hint="rename the file or re-export it in the intended format",
        )


def _tiff_container(path: Path, size: int) -> _Container:
    """Read compression and photometric from the first IFD of a (Big)TIFF."""
    with path.open("rb") as handle:
        head = handle.read(16)
        order = "<" if head[:2] == b"II" else ">"
        big = struct.unpack(order + "H", head[2:4])[0] == 43
        offset = struct.unpack(order + "Q", head[8:16])[0] if big else _u32(order, head[4:8])
        entry_size, count_fmt = (20, "Q") if big else (12, "H")
        if offset + entry_size > size:
            raise ImageError(
                path,
                f"truncated: the TIFF directory at byte {offset} is beyond the end of "
                f"the file ({size} bytes)",
                hint="copy the file again from the capture station",
            )
        handle.seek(offset)
        count_bytes = handle.read(struct.calcsize(count_fmt))
        (count,) = struct.unpack(order + count_fmt, count_bytes)
        entries = handle.read(min(count, 4096) * entry_size)
    tags = _tiff_short_tags(order, entries, entry_size, big)
    compression = _TIFF_COMPRESSION.get(tags.get(259, 1), f"tiff-{tags.get(259)}")
    return _Container("tiff", tags.get(262) == _TIFF_PHOTOMETRIC_PALETTE, compression)


def _tiff_short_tags(order: str, entries: bytes, entry_size: int, big: bool) -> dict[int, int]:
    """Return single-valued SHORT/LONG tags from raw IFD entries."""
    value_at = 12 if big else 8  # after tag, type and a 4- or 8-byte count
    tags: dict[int, int] = {}
    for start in range(0, len(entries) - entry_size + 1, entry_size):
        tag, kind = struct.unpack(order + "HH", entries[start : start + 4])
        value = entries[start + value_at : start + value_at + 4]
        if kind == 3:  # SHORT, stored left-justified in the value field
            tags[tag] = struct.unpack(order + "H", value[:2])[0]
        elif kind == 4:
            tags[tag] = _u32(order, value)
    return tags


def _u32(order: str, data: bytes) -> int:
    return int(struct.unpack(order + "I", data[:4])[0])


def _png_is_palette(path: Path) -> bool:
    with path.open("rb") as handle:
        ihdr = handle.read(26)
    # PNG §11.2.2: IHDR data starts at byte 16; colour type is its tenth byte.
    return len(ihdr) == 26 and ihdr[12:16] == b"IHDR" and ihdr[25] == _PNG_COLOUR_TYPE_PALETTE


def _open(path: Path, fmt: str, **options: str) -> pyvips.Image:
    try:
        return pyvips.Image.new_from_file(str(path), revalidate=True, **options)
    except pyvips.Error as exc:
        raise ImageError(
            path, f"cannot read {_FORMAT_LABEL[fmt]} header: {_vips_reason(exc)}"
        ) from exc


def _check_pixel_limit(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageError(
            path,
            f"image is {width}x{height} px = {_mp(width * height)} megapixels, "
            f"above the {_mp(max_pixels)} megapixel limit",
            hint="check the capture settings; decoding it could exhaust memory",
        )


def _mp(pixels: int) -> str:
    return f"{pixels / 1e6:.1f}".rstrip("0").rstrip(".")


def _image_info(path: Path, image: pyvips.Image, container: _Container) -> ImageInfo:
    fields = set(image.get_fields())
    bits = image.get("bits-per-sample") if "bits-per-sample" in fields else None
    return ImageInfo(
        path=str(path),
        format=container.format,
        width=image.width,
        height=image.height,
        bands=image.bands,
        bits_per_sample=int(bits or _BITS_BY_FORMAT.get(image.format, 32)),
        interpretation=str(image.interpretation),
        colour_mode="palette"
        if container.palette
        else _COLOUR_MODES.get(image.interpretation, "other"),
        has_alpha=bool(image.hasalpha()),
        ppi=_embedded_ppi(image, fields),
        has_icc="icc-profile-data" in fields,
        compression=container.compression,
    )


def _embedded_ppi(image: pyvips.Image, fields: set[str]) -> float | None:
    """Return the resolution the file declares, or None for loader defaults."""
    ppi = round(image.xres * 25.4, 2)
    if abs(ppi - _VIPS_DEFAULT_PPI) < 0.05 or ppi <= 0:
        return None
    if "resolution-unit" not in fields and abs(ppi - _UNSET_PPI) < 0.05:
        return None
    return ppi


def _has_loader(name: str) -> bool:
    return bool(pyvips.type_find("VipsOperation", name) != 0)


def _vips_reason(exc: pyvips.Error) -> str:
    """Return the most recent line of a libvips error, the one that names the cause."""
    lines = [line.strip() for line in (exc.detail or exc.message or "").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1] if lines else str(exc.message).strip()
