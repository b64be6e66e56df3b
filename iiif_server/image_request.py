"""Parse the parameters of a IIIF Image API 3.0 request into a frozen :class:`ImageRequest`.

Pure syntax: nothing here knows the image, so "region outside the image" or
"size larger than the region" are decided later by :mod:`iiif_server.geometry`.
Every malformed parameter raises :class:`~iiif_server.errors.BadRequest` naming
the parameter, so the client gets a 400 with a message (IIIF Image 3.0 §4, §7.3).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from iiif_server.errors import BadRequest

__all__ = [
    "Format",
    "ImageRequest",
    "Quality",
    "Region",
    "RegionKind",
    "Rotation",
    "Size",
    "SizeKind",
    "parse_image_request",
    "parse_quality_format",
    "parse_region",
    "parse_rotation",
    "parse_size",
]

# §4.7: floating point values consist only of decimal digits and "." (no sign, no exponent).
_DECIMAL = r"(?:\d+(?:\.\d*)?|\.\d+)"
_PIXELS = re.compile(r"^(\d{1,9}),(\d{1,9}),(\d{1,9}),(\d{1,9})$")
_PERCENT_REGION = re.compile(rf"^pct:({_DECIMAL}),({_DECIMAL}),({_DECIMAL}),({_DECIMAL})$")
_SIZE_WH = re.compile(r"^(!)?(\d{1,9})?,(\d{1,9})?$")
_SIZE_PCT = re.compile(rf"^pct:({_DECIMAL})$")
_ROTATION = re.compile(rf"^(!)?({_DECIMAL})$")


class RegionKind(enum.Enum):
    FULL = "full"
    SQUARE = "square"
    PIXELS = "pixels"
    PERCENT = "percent"


class SizeKind(enum.Enum):
    MAX = "max"
    WIDTH = "w,"
    HEIGHT = ",h"
    EXACT = "w,h"
    CONFINED = "!w,h"
    PERCENT = "pct:n"


class Quality(enum.Enum):
    DEFAULT = "default"
    COLOR = "color"
    GRAY = "gray"
    BITONAL = "bitonal"


class Format(enum.Enum):
    JPG = "jpg"
    PNG = "png"
    WEBP = "webp"
    TIF = "tif"
    GIF = "gif"

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[self]


_MEDIA_TYPES = {
    Format.JPG: "image/jpeg",
    Format.PNG: "image/png",
    Format.WEBP: "image/webp",
    Format.TIF: "image/tiff",
    Format.GIF: "image/gif",
}


@dataclass(frozen=True)
class Region:
    """A region as written: pixel values are ints, percentages floats."""

    kind: RegionKind
    x: float = 0
    y: float = 0
    width: float = 0
    height: float = 0


@dataclass(frozen=True)
class Size:
    """A size as written; ``upscale`` is the ``^`` prefix."""

    kind: SizeKind
    width: int | None = None
    height: int | None = None
    percent: float | None = None
    upscale: bool = False


@dataclass(frozen=True)
class Rotation:
    degrees: float = 0.0
    mirror: bool = False

    @property
    def is_right_angle(self) -> bool:
        return self.degrees % 90 == 0


@dataclass(frozen=True)
class ImageRequest:
    identifier: str
    region: Region
    size: Size
    rotation: Rotation
    quality: Quality
    format: Format


def parse_image_request(identifier: str, region: str, size: str, rotation: str,
                        quality_format: str) -> ImageRequest:
    """Parse the four parameter path segments of an image request (already percent-decoded)."""
    quality, fmt = parse_quality_format(quality_format)
    return ImageRequest(identifier, parse_region(region), parse_size(size), parse_rotation(rotation), quality, fmt)


def parse_region(text: str) -> Region:
    """Parse ``full``, ``square``, ``x,y,w,h`` or ``pct:x,y,w,h`` (§4.1)."""
    if text in ("full", "square"):
        return Region(RegionKind(text))
    kind, match = RegionKind.PIXELS, _PIXELS.match(text)
    if not match:
        kind, match = RegionKind.PERCENT, _PERCENT_REGION.match(text)
    if not match:
        raise BadRequest(f"{_shown(text)} is not full, square, x,y,w,h or pct:x,y,w,h", "region")
    # Pixel values are integers by the pattern; floats hold them exactly (at most 9 digits).
    x, y, w, h = (float(v) for v in match.groups())
    if w == 0 or h == 0:
        raise BadRequest(f"{_shown(text)} has zero width or height", "region")
    return Region(kind, x, y, w, h)


def parse_size(text: str) -> Size:
    """Parse ``max``, ``w,``, ``,h``, ``w,h``, ``!w,h``, ``pct:n``, each optionally ``^``-prefixed (§4.2)."""
    upscale = text.startswith("^")
    body = text[1:] if upscale else text
    if body == "max":
        return Size(SizeKind.MAX, upscale=upscale)
    match = _SIZE_PCT.match(body)
    if match:
        return _percent_size(text, float(match.group(1)), upscale)
    match = _SIZE_WH.match(body)
    if not match or (match.group(2) is None and match.group(3) is None):
        hint = " (IIIF 3.0 uses max, not full)" if body == "full" else ""
        raise BadRequest(f"{_shown(text)} is not max, w,, ,h, w,h, !w,h or pct:n{hint}", "size")
    return _pixel_size(text, match.group(1) == "!", match.group(2), match.group(3), upscale)


def parse_rotation(text: str) -> Rotation:
    """Parse ``n`` or ``!n`` with n a decimal from 0 to 360 (§4.3)."""
    match = _ROTATION.match(text)
    if not match:
        raise BadRequest(f"{_shown(text)} is not a number from 0 to 360, optionally after !", "rotation")
    degrees = float(match.group(2))
    if degrees > 360:
        raise BadRequest(f"{_shown(text)} is more than 360 degrees", "rotation")
    return Rotation(degrees % 360, mirror=match.group(1) == "!")


def parse_quality_format(text: str) -> tuple[Quality, Format]:
    """Parse ``quality.format`` (§4.4, §4.5); unknown values are 400s."""
    quality, dot, fmt = text.rpartition(".")
    if not dot:
        raise BadRequest(f"{_shown(text)} has no .format suffix", "format")
    try:
        parsed_quality = Quality(quality)
    except ValueError:
        known = ", ".join(q.value for q in Quality)
        raise BadRequest(f"{_shown(quality)} is not one of {known}", "quality") from None
    try:
        return parsed_quality, Format(fmt)
    except ValueError:
        known = ", ".join(f.value for f in Format)
        raise BadRequest(f"{_shown(fmt)} is not supported; use one of {known}", "format") from None


def _percent_size(text: str, percent: float, upscale: bool) -> Size:
    if percent == 0:
        raise BadRequest(f"{_shown(text)} scales to nothing", "size")
    if percent > 100 and not upscale:
        raise BadRequest(f"{_shown(text)} is more than 100%; prefix it with ^ to upscale", "size")
    return Size(SizeKind.PERCENT, percent=percent, upscale=upscale)


def _pixel_size(text: str, confined: bool, width: str | None, height: str | None, upscale: bool) -> Size:
    w = int(width) if width is not None else None
    h = int(height) if height is not None else None
    if w == 0 or h == 0:
        raise BadRequest(f"{_shown(text)} asks for less than one pixel", "size")
    if confined and (w is None or h is None):
        raise BadRequest(f"{_shown(text)} needs both width and height after !", "size")
    if confined:
        kind = SizeKind.CONFINED
    elif w is not None and h is not None:
        kind = SizeKind.EXACT
    else:
        kind = SizeKind.WIDTH if w is not None else SizeKind.HEIGHT
    return Size(kind, width=w, height=h, upscale=upscale)


def _shown(text: str) -> str:
    """Quote a client value for a message, cut short so errors stay one readable line."""
    return repr(text if len(text) <= 40 else text[:40] + "…")
