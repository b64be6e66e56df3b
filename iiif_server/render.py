"""Render IIIF images from tiled pyramidal TIFFs with libvips: the only pyvips module of the server.

The order is fixed by IIIF Image 3.0 §4.6 (zimeon's ``derive()``): region THEN size
THEN mirror/rotation THEN quality THEN format. :func:`~iiif_server.geometry.plan_render`
has already chosen the coarsest pyramid level that suffices, so a tile request opens
that one TIFF page and decodes only the tiles under the crop box. A request for exactly
one stored tile as a JPEG is answered with the stored bytes (:mod:`iiif_server.tiles`).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

import pyvips

from iiif_server.cache import Lru
from iiif_server.errors import BadRequest
from iiif_server.geometry import Dimensions, Level, Pyramid, RenderPlan
from iiif_server.image_request import Format, Quality, Rotation
from iiif_server.tiles import TileIndex, assembled_tiles, read_tile_index, stored_tile
from pipeline.errors import ImageError

log = logging.getLogger(__name__)

WHITE = [255.0]
TRANSPARENT_FORMATS = frozenset({Format.PNG, Format.WEBP, Format.TIF, Format.GIF})
# Reduced views of restricted pages held in memory (at 1000 px, about 3 MB each).
REDUCTIONS_REMEMBERED = 32
DEFAULT_TILE_SIZE = 256  # offered in info.json for a pyramid that is not tiled
INDEXES_REMEMBERED = 4096  # tile layouts of pyramid files (a few KB each)
# Stored tiles a region may be pasted from on the event loop (about half a millisecond each, all in
# libjpeg-turbo); more go to a render thread. Inline, the render neither waits for a thread nor for the GIL.
INLINE_TILES = 4
# The libvips operation that encodes each format; a libvips built without libwebp or cgif lacks one.
SAVERS = {
    Format.JPG: "jpegsave_buffer",
    Format.PNG: "pngsave_buffer",
    Format.WEBP: "webpsave_buffer",
    Format.TIF: "tiffsave_buffer",
    Format.GIF: "gifsave_buffer",
}


@dataclass(frozen=True)
class Encoding:
    """Encoder settings for rendered output."""

    jpeg_quality: int = 85
    webp_quality: int = 80
    png_compression: int = 3  # zlib level: 3 is several times faster than 6 for a few % more bytes


class Renderer:
    """Probe and render published pyramids; keeps tile layouts and reduced images, by file version."""

    def __init__(self, encoding: Encoding | None = None, *, concurrency: int | None = None,
                 formats: frozenset[Format] | None = None) -> None:
        self.encoding = encoding or Encoding()
        # What info.json offers and requests may ask for: never a format this libvips cannot write.
        self.formats = writable_formats() if formats is None else formats & writable_formats()
        self._reductions = Lru(REDUCTIONS_REMEMBERED)
        self._indexes = Lru(INDEXES_REMEMBERED)
        # libvips' operation cache would keep opened pages (and their tile caches) and
        # intermediate images alive; what is worth reusing is cached here, by file version.
        pyvips.cache_set_max(0)
        if concurrency:
            # Per-request parallelism: one thread per tile beats libvips' pool for small outputs.
            pyvips.concurrency_set(concurrency)

    def require(self, fmt: Format) -> None:
        """Refuse (400) a format this renderer does not offer, before any file is read."""
        if fmt not in self.formats:
            offered = ", ".join(f.value for f in Format if f in self.formats)
            raise BadRequest(f"{fmt.value!r} is not offered by this server; use one of {offered}", "format")

    def probe(self, path: Path, version: Hashable) -> Pyramid:
        """Read the full size and the pyramid levels (TIFF pages halving in size) from the headers."""
        first = self._load(path, 0)
        levels = [Level(0, 1, first.width, first.height)]
        fields = first.get_fields()
        pages = first.get("n-pages") if "n-pages" in fields else 1
        for index in range(1, pages):
            factor = 2**index
            page = self._load(path, index)
            if (page.width, page.height) != (first.width // factor, first.height // factor):
                break  # not a pyramid level (e.g. a thumbnail or another image): stop here
            levels.append(Level(index, factor, page.width, page.height))
        tile = first.get("tile-width") if "tile-width" in fields else DEFAULT_TILE_SIZE
        return Pyramid(first.width, first.height, tuple(levels), tile)

    def stored(self, path: Path, version: Hashable, plan: RenderPlan) -> bytes | None:
        """Return the stored JPEG tile that answers ``plan`` unchanged, or None (a small file read)."""
        index = self._tile_index(path, version)
        return stored_tile(path, index, plan) if index is not None else None

    def assembled(self, path: Path, version: Hashable, plan: RenderPlan) -> bytes | None:
        """Return ``plan``'s region pasted from at most :data:`INLINE_TILES` stored tiles, or None."""
        index = self._tile_index(path, version)
        return assembled_tiles(path, index, plan, self.encoding.jpeg_quality, INLINE_TILES) if index is not None else None

    def render(self, path: Path, version: Hashable, plan: RenderPlan) -> bytes:
        """Return the encoded image described by ``plan``."""
        index = self._tile_index(path, version)
        if index is not None:
            found = stored_tile(path, index, plan) or assembled_tiles(path, index, plan, self.encoding.jpeg_quality)
            if found is not None:
                return found
        if plan.reduced is None:
            image = self._load(path, plan.level.index)
        else:
            image = self._reduced(path, version, plan.level, plan.reduced)
        crop = plan.crop
        image = image.crop(crop.x, crop.y, crop.width, crop.height)
        image = _resize(image, plan.output.width, plan.output.height)
        image = _rotate(image, plan.rotation, transparent=plan.format in TRANSPARENT_FORMATS)
        image = _apply_quality(image, plan.quality)
        try:
            return _encode(image, plan.format, self.encoding, bitonal=plan.quality is Quality.BITONAL)
        except pyvips.Error as exc:
            raise ImageError(path, f"cannot render level {plan.level.index}: {_reason(exc)}") from exc

    def _tile_index(self, path: Path, version: Hashable) -> TileIndex | None:
        found = self._indexes.get(version)
        if found is None:
            found = (read_tile_index(path),)  # a 1-tuple, so "not a tiled JPEG" is remembered too
            self._indexes.put(version, found)
        return found[0]

    def _reduced(self, path: Path, version: Hashable, level: Level, size: Dimensions) -> pyvips.Image:
        """Return the whole image scaled to ``size``, kept in memory: the only source of a reduced view."""
        key = (version, level.index, size)
        image = self._reductions.get(key)
        if image is None:
            source = self._load(path, level.index)
            try:
                image = _resize(source, size.width, size.height).copy_memory()
            except pyvips.Error as exc:
                raise ImageError(path, f"cannot reduce level {level.index}: {_reason(exc)}") from exc
            self._reductions.put(key, image)
        return image

    @staticmethod
    def _load(path: Path, page: int) -> pyvips.Image:
        # Opened for each render and dropped after it: libvips puts a tile cache in front of a
        # TIFF page read from several threads, and a page kept open grows it without bound.
        try:
            return pyvips.Image.new_from_file(str(path), page=page)
        except pyvips.Error as exc:
            raise ImageError(path, f"cannot open page {page}: {_reason(exc)}") from exc


def writable_formats() -> frozenset[Format]:
    """Return the formats the installed libvips can encode, found by encoding one pixel rather than assumed."""
    return frozenset(fmt for fmt, saver in SAVERS.items() if _can_write(saver))


def _can_write(saver: str) -> bool:
    if pyvips.type_find("VipsOperation", saver) == 0:
        return False  # libvips was built without the library (libwebp, cgif, ...)
    try:
        getattr(pyvips.Image.black(1, 1).cast("uchar"), saver)()
    except pyvips.Error:
        return False
    return True


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
