"""Render IIIF images from tiled pyramidal TIFFs with libvips: the only pyvips module of the server.

The order is fixed by IIIF Image 3.0 §4.6 (zimeon's ``derive()``): region THEN size
THEN mirror/rotation THEN quality THEN format. :func:`~iiif_server.geometry.plan_render`
has already chosen the coarsest pyramid level that suffices, so a tile request opens
that one TIFF page and decodes only the tiles under the crop box.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

import pyvips

from iiif_server.geometry import Level, Pyramid, RenderPlan
from iiif_server.image_request import Format, Quality, Rotation
from pipeline.errors import ImageError

log = logging.getLogger(__name__)

WHITE = [255.0]
TRANSPARENT_FORMATS = frozenset({Format.PNG, Format.WEBP, Format.TIF, Format.GIF})


@dataclass(frozen=True)
class Encoding:
    """Encoder settings for rendered output."""

    jpeg_quality: int = 85
    webp_quality: int = 80
    png_compression: int = 3  # zlib level: 3 is several times faster than 6 for a few % more bytes


class Renderer:
    """Probe and render published pyramids; remembers which file version each TIFF page was opened at."""

    def __init__(self, encoding: Encoding | None = None, *, concurrency: int | None = None) -> None:
        self.encoding = encoding or Encoding()
        self._opened: dict[tuple[str, int], Hashable] = {}
        self._lock = threading.Lock()
        if concurrency:
            # Per-request parallelism: one thread per tile beats libvips' pool for small outputs.
            pyvips.concurrency_set(concurrency)

    def probe(self, path: Path, version: Hashable) -> Pyramid:
        """Read the full size and the pyramid levels (TIFF pages halving in size) from the headers."""
        first = self._load(path, 0, version)
        levels = [Level(0, 1, first.width, first.height)]
        pages = first.get("n-pages") if "n-pages" in first.get_fields() else 1
        for index in range(1, pages):
            factor = 2**index
            page = self._load(path, index, version)
            if (page.width, page.height) != (first.width // factor, first.height // factor):
                break  # not a pyramid level (e.g. a thumbnail or another image): stop here
            levels.append(Level(index, factor, page.width, page.height))
        return Pyramid(first.width, first.height, tuple(levels))

    def render(self, path: Path, version: Hashable, plan: RenderPlan) -> bytes:
        """Return the encoded image described by ``plan``."""
        image = self._load(path, plan.level.index, version)
        crop = plan.crop
        image = image.crop(crop.x, crop.y, crop.width, crop.height)
        image = _resize(image, plan.output.width, plan.output.height)
        image = _rotate(image, plan.rotation, transparent=plan.format in TRANSPARENT_FORMATS)
        image = _apply_quality(image, plan.quality)
        try:
            return _encode(image, plan.format, self.encoding, bitonal=plan.quality is Quality.BITONAL)
        except pyvips.Error as exc:
            raise ImageError(path, f"cannot render level {plan.level.index}: {_reason(exc)}") from exc

    def _load(self, path: Path, page: int, version: Hashable) -> pyvips.Image:
        # libvips caches opened files by name; republishing replaces a file under the same
        # name, so reload (revalidate) the first time a page is opened at a new version.
        key = (str(path), page)
        with self._lock:
            stale = self._opened.get(key) != version
            self._opened[key] = version
        try:
            return pyvips.Image.new_from_file(str(path), page=page, revalidate=stale)
        except pyvips.Error as exc:
            with self._lock:
                self._opened.pop(key, None)
            raise ImageError(path, f"cannot open page {page}: {_reason(exc)}") from exc


def _resize(image: pyvips.Image, width: int, height: int) -> pyvips.Image:
    if (image.width, image.height) == (width, height):
        return image
    image = image.resize(width / image.width, vscale=height / image.height)
    if (image.width, image.height) != (width, height):
        # libvips rounds the scaled size; pad or trim the odd pixel so the size is exact.
        image = image.gravity("north-west", width, height, extend="copy")
    return image


def _rotate(image: pyvips.Image, rotation: Rotation, *, transparent: bool) -> pyvips.Image:
    if rotation.mirror:
        image = image.fliphor()  # §4.3: mirror on the vertical axis before rotating
    degrees = rotation.degrees
    if degrees == 0:
        return image
    if rotation.is_right_angle:
        return _right_angle(image, int(degrees))
    if transparent and not image.hasalpha():
        image = image.bandjoin(255)
    background = [0.0] * image.bands if transparent else WHITE * image.bands
    # libvips rotates clockwise for positive angles, like IIIF; the canvas grows to the bounding box.
    return image.rotate(degrees, background=background)


def _right_angle(image: pyvips.Image, degrees: int) -> pyvips.Image:
    return {90: image.rot90, 180: image.rot180, 270: image.rot270}[degrees]()


def _apply_quality(image: pyvips.Image, quality: Quality) -> pyvips.Image:
    if quality in (Quality.DEFAULT, Quality.COLOR):
        return image
    alpha = image[image.bands - 1] if image.hasalpha() else None
    colour = image[0: image.bands - 1] if alpha is not None else image
    gray = colour.colourspace("b-w") if colour.bands >= 3 else colour[0]
    if quality is Quality.BITONAL:
        gray = gray > 127  # uchar 0/255
    return gray.bandjoin(alpha) if alpha is not None else gray


def _encode(image: pyvips.Image, fmt: Format, encoding: Encoding, *, bitonal: bool) -> bytes:
    if fmt is Format.JPG:
        if image.hasalpha():
            image = image.flatten(background=WHITE * (image.bands - 1))
        return image.jpegsave_buffer(Q=encoding.jpeg_quality, keep=0)
    if fmt is Format.PNG:
        extra = {"bitdepth": 1} if bitonal and not image.hasalpha() else {}
        return image.pngsave_buffer(compression=encoding.png_compression, keep=0, **extra)
    if fmt is Format.WEBP:
        return image.webpsave_buffer(Q=encoding.webp_quality, keep=0)
    if fmt is Format.TIF:
        return image.tiffsave_buffer(compression="deflate", keep=0)
    return image.gifsave_buffer(keep=0)


def _reason(exc: pyvips.Error) -> str:
    lines = [line.strip() for line in (exc.detail or exc.message or "").splitlines() if line.strip()]
    return lines[-1] if lines else str(exc.message)
