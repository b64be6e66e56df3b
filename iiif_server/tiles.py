"""Whole stored tiles sent as they are: the fast path for the tiles viewers ask for.

A tiled JPEG TIFF keeps each tile as an abbreviated JPEG stream and the quantisation
and Huffman tables once per page (tag JPEGTables). The tables followed by a tile's
stream, less one pair of start/end markers, make a complete JPEG. So when a request
asks for exactly one stored tile, unscaled, unrotated, as a default or colour JPEG,
the answer is those bytes: no decoding, no re-encoding, no second generation of
JPEG loss. A region of a stored level at that level's scale that is not one whole tile
(edge tiles, which the TIFF pads; regions off the tile grid) is pasted together from the
tiles under it and encoded once. Anything else (other sizes, qualities, formats,
rotations) is rendered by libvips.

Only what the ingest writes is recognised: a classic (not Big) TIFF whose pages are
8-bit, 3-sample, chunky, YCbCr JPEG-compressed tiles. For any other file
:func:`read_tile_index` returns None and every request is rendered.
"""

from __future__ import annotations

import io
import itertools
import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from iiif_server.geometry import RenderPlan
from iiif_server.image_request import Format, Quality

log = logging.getLogger(__name__)

JPEG_COMPRESSION = 7
YCBCR = 6
MAX_PAGES = 64
MAX_ENTRIES = 1024
MAX_TILES = 1_000_000
MAX_ASSEMBLED = 16  # stored tiles pasted together for one output; larger regions are rendered
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
INTEGER_FORMATS = {1: "B", 3: "H", 4: "I"}
TAGS = {256: "width", 257: "height", 258: "bits", 259: "compression", 262: "photometric", 277: "samples",
        284: "planar", 322: "tile_width", 323: "tile_height", 324: "offsets", 325: "counts", 347: "tables"}


@dataclass(frozen=True)
class TiledPage:
    """Where one page's JPEG tiles are in the file."""

    width: int
    height: int
    tile_width: int
    tile_height: int
    offsets: tuple[int, ...]
    counts: tuple[int, ...]
    tables: bytes

    @property
    def across(self) -> int:
        return -(-self.width // self.tile_width)


@dataclass(frozen=True)
class TileIndex:
    """The tile layout of every page, by TIFF page number; None for a page that is not plain JPEG tiles."""

    pages: tuple[TiledPage | None, ...]


def read_tile_index(path: Path) -> TileIndex | None:
    """Read the tile layout of a pyramid TIFF, or None if its tiles cannot be sent as they are."""
    try:
        with open(path, "rb") as handle:
            data = _Reader(handle)
            pages = tuple(_page(tags) for tags in data.pages())
    except (OSError, ValueError, struct.error) as exc:
        log.info("%s: tiles will be rendered, not sent as stored: %s", path, exc)
        return None
    return TileIndex(pages) if any(pages) else None


def stored_tile(path: Path, index: TileIndex, plan: RenderPlan) -> bytes | None:
    """Return the complete JPEG of the one stored tile ``plan`` asks for unchanged, or None."""
    page = _unchanged_page(index, plan)
    crop = plan.crop
    if (page is None or (crop.width, crop.height) != (page.tile_width, page.tile_height)
            or crop.x % page.tile_width or crop.y % page.tile_height
            or crop.x + crop.width > page.width or crop.y + crop.height > page.height):
        return None  # edge tiles are padded in the file: those are assembled
    with open(path, "rb") as handle:
        return _tile_jpeg(handle, page, crop.x // page.tile_width, crop.y // page.tile_height)


def assembled_tiles(path: Path, index: TileIndex, plan: RenderPlan, quality: int,
                    max_tiles: int = MAX_ASSEMBLED) -> bytes | None:
    """Return a JPEG of ``plan``'s crop pasted from the (at most ``max_tiles``) stored tiles under it, or None.

    For a region of a stored level at that level's scale (edge tiles, regions off the
    tile grid): decoding a few small JPEGs with Pillow and encoding one is about twice
    as fast as a libvips pipeline over the TIFF for outputs this small.
    """
    page = _unchanged_page(index, plan)
    crop = plan.crop
    if page is None:
        return None
    left, top = crop.x // page.tile_width, crop.y // page.tile_height
    right, bottom = (crop.x + crop.width - 1) // page.tile_width, (crop.y + crop.height - 1) // page.tile_height
    if (right - left + 1) * (bottom - top + 1) > min(max_tiles, MAX_ASSEMBLED):
        return None
    # Each tile is pasted where it falls in the output (Pillow clips what lies outside): no tile-sized canvas, no crop.
    canvas = Image.new("RGB", (crop.width, crop.height))
    try:
        with open(path, "rb") as handle:
            for row, column in itertools.product(range(top, bottom + 1), range(left, right + 1)):
                position = (column * page.tile_width - crop.x, row * page.tile_height - crop.y)
                if not _paste(canvas, handle, page, column, row, position):
                    return None
        out = io.BytesIO()
        canvas.save(out, "JPEG", quality=quality)
    except (OSError, ValueError) as exc:  # a damaged tile: libvips renders it and reports what is wrong
        log.info("%s: tiles not assembled: %s", path, exc)
        return None
    return out.getvalue()


def _unchanged_page(index: TileIndex, plan: RenderPlan) -> TiledPage | None:
    """Return the page whose pixels ``plan`` wants as they are (JPEG, unscaled, unrotated), or None."""
    page = index.pages[plan.level.index] if plan.level.index < len(index.pages) else None
    output, crop = plan.output, plan.crop
    if (page is None or plan.reduced is not None or plan.format is not Format.JPG
            or plan.quality not in (Quality.DEFAULT, Quality.COLOR) or plan.rotation.degrees or plan.rotation.mirror
            or (output.width, output.height) != (crop.width, crop.height)
            or crop.x + crop.width > page.width or crop.y + crop.height > page.height):
        return None
    return page


def _tile_jpeg(handle: BinaryIO, page: TiledPage, column: int, row: int) -> bytes | None:
    """Return the stored tile at (column, row) as a complete JPEG, or None if its bytes are not one."""
    number = row * page.across + column
    handle.seek(page.offsets[number])
    stream = handle.read(page.counts[number])
    if stream[:2] != b"\xff\xd8" or stream[-2:] != b"\xff\xd9" or len(stream) != page.counts[number]:
        return None
    return page.tables[:-2] + stream[2:]


def _paste(canvas: Image.Image, handle: BinaryIO, page: TiledPage, column: int, row: int,
           position: tuple[int, int]) -> bool:
    data = _tile_jpeg(handle, page, column, row)
    if data is None:
        return False
    with Image.open(io.BytesIO(data)) as tile:
        if tile.format != "JPEG" or tile.mode != "RGB" or tile.size != (page.tile_width, page.tile_height):
            return False
        canvas.paste(tile, position)
    return True


class _Reader:
    """Classic TIFF structure: byte order, then a chain of image file directories."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        order = handle.read(2)
        if order not in (b"II", b"MM"):
            raise ValueError("not a TIFF")
        self.order = "<" if order == b"II" else ">"
        (magic,) = self._unpack("H", handle.read(2))
        if magic != 42:
            raise ValueError("BigTIFF or not a TIFF")
        (self.first,) = self._unpack("I", handle.read(4))

    def pages(self) -> list[dict[str, object]]:
        found: list[dict[str, object]] = []
        offset = self.first
        while offset and len(found) < MAX_PAGES:
            self.handle.seek(offset)
            (entries,) = self._unpack("H", self.handle.read(2))
            if entries > MAX_ENTRIES:
                raise ValueError(f"{entries} tags in one directory")
            raw = self.handle.read(12 * entries + 4)
            found.append({TAGS[tag]: value for tag, value in self._entries(raw, entries) if tag in TAGS})
            (offset,) = self._unpack("I", raw[12 * entries:12 * entries + 4])
        return found

    def _entries(self, raw: bytes, entries: int) -> Iterator[tuple[int, object]]:
        for number in range(entries):
            tag, kind, count = self._unpack("HHI", raw[12 * number:12 * number + 8])
            if tag in TAGS:
                yield tag, self._value(kind, count, raw[12 * number + 8:12 * number + 12])

    def _value(self, kind: int, count: int, field: bytes) -> object:
        size = TYPE_SIZES.get(kind, 0) * count
        if not size or count > MAX_TILES:
            raise ValueError(f"unsupported tag type {kind} or count {count}")
        if size <= 4:
            data = field[:size]
        else:
            (offset,) = self._unpack("I", field)
            here = self.handle.tell()
            self.handle.seek(offset)
            data = self.handle.read(size)
            self.handle.seek(here)
        if kind in INTEGER_FORMATS:
            return self._unpack(INTEGER_FORMATS[kind] * count, data)
        return data

    def _unpack(self, fmt: str, data: bytes) -> tuple:
        return struct.unpack(self.order + fmt, data)


def _page(tags: dict[str, object]) -> TiledPage | None:
    """Return the page's tile layout if its tiles are plain 8-bit YCbCr JPEG, else None."""
    numbers: dict[str, tuple[int, ...]] = {k: v for k, v in tags.items() if isinstance(v, tuple)}
    tables = tags.get("tables")

    def one(name: str, default: int = -1) -> int:
        value = numbers.get(name)
        return int(value[0]) if value else default

    if (one("compression") != JPEG_COMPRESSION or one("photometric") != YCBCR or one("samples") != 3
            or one("planar", 1) != 1 or set(numbers.get("bits", (8,))) != {8} or not isinstance(tables, bytes)):
        return None
    offsets, counts = numbers.get("offsets", ()), numbers.get("counts", ())
    width, height, tile_width, tile_height = one("width"), one("height"), one("tile_width"), one("tile_height")
    across, down = -(-width // max(tile_width, 1)), -(-height // max(tile_height, 1))
    if min(width, height, tile_width, tile_height) < 1 or len(offsets) != len(counts) or len(offsets) < across * down \
            or tables[:2] != b"\xff\xd8" or tables[-2:] != b"\xff\xd9":
        return None
    return TiledPage(width, height, tile_width, tile_height, offsets, counts, tables)
