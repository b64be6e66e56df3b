"""Access copies: tiled pyramidal TIFFs for the IIIF image server, and thumbnails.

Access copies are always 8-bit sRGB: whatever the master, viewers and the
image server see one colour space.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pyvips

from pipeline.errors import ImageError
from pipeline.images import to_srgb8

log = logging.getLogger(__name__)

TILE_SIZE = 256
PYRAMID_QUALITY = 85
THUMBNAIL_QUALITY = 80


def write_pyramid(image: pyvips.Image, dest: Path) -> None:
    """Write a tiled pyramidal JPEG-compressed TIFF with 256 px tiles to ``dest``."""
    try:
        to_srgb8(image).tiffsave(
            str(dest),
            tile=True,
            pyramid=True,
            compression="jpeg",
            Q=PYRAMID_QUALITY,
            tile_width=TILE_SIZE,
            tile_height=TILE_SIZE,
        )
    except pyvips.Error as exc:
        raise ImageError(dest, f"cannot write pyramidal TIFF: {_reason(exc)}") from exc
    _sync(dest)
    log.debug("wrote pyramid %s (%dx%d)", dest, image.width, image.height)


def write_thumbnail(image: pyvips.Image, dest: Path, long_side: int = 300) -> None:
    """Write a JPEG thumbnail whose long side is ``long_side`` pixels (never enlarged)."""
    try:
        small = to_srgb8(image).thumbnail_image(long_side, height=long_side, size="down")
        small.jpegsave(str(dest), Q=THUMBNAIL_QUALITY)
    except pyvips.Error as exc:
        raise ImageError(dest, f"cannot write thumbnail: {_reason(exc)}") from exc
    _sync(dest)


def access_size(image: pyvips.Image) -> tuple[int, int]:
    """Return the (width, height) of the access copy made from ``image``."""
    # The pyramid keeps full resolution, so its size (the IIIF canvas size) is the image's.
    return image.width, image.height


def _sync(dest: Path) -> None:
    """Flush the written file to disk so a following rename publishes complete bytes."""
    with open(dest, "rb") as handle:
        os.fsync(handle.fileno())


def _reason(exc: pyvips.Error) -> str:
    lines = [
        line.strip() for line in (exc.detail or exc.message or "").splitlines() if line.strip()
    ]
    return lines[-1] if lines else str(exc.message)
