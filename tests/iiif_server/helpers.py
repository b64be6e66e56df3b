"""Helpers for the IIIF server tests: published pages built in tmp_path, raw ASGI calls, image checks."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pyvips

from pipeline.access import write_pyramid
from pipeline.batch import load_batch
from pipeline.manifest import (
    CanvasSource,
    build_manifest,
    dump_manifest,
    image_service_id,
)
from pipeline.sample_book import write_sample_batch
from storage_config.settings import Settings

CELL = 100  # grid images: one flat colour per 100 px cell
GRID_ITEM = "grid-item"
ALTO = """<?xml version="1.0" encoding="UTF-8"?>
<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#"><Layout><Page ID="{page}" WIDTH="1" HEIGHT="1"
PHYSICAL_IMG_NR="1"/></Layout></alto>
"""


def cell_colour(col: int, row: int) -> tuple[int, int, int]:
    """The colour of grid cell (col, row): far enough apart to survive JPEG."""
    return (20 + col * 23) % 256, (20 + row * 23) % 256, 200 - (col + row) * 7


def grid_image(width: int, height: int) -> pyvips.Image:
    """An sRGB image of flat 100 px cells coloured by :func:`cell_colour`."""
    pixels = np.zeros((height, width, 3), np.uint8)
    for row in range(-(-height // CELL)):
        for col in range(-(-width // CELL)):
            pixels[row * CELL:(row + 1) * CELL, col * CELL:(col + 1) * CELL] = cell_colour(col, row)
    return pyvips.Image.new_from_array(pixels, interpretation="srgb")


def publish_grid(publish_dir: Path, item_id: str, page_id: str, width: int, height: int,
                 access_level: str = "public") -> Path:
    """Write a grid image as a published pyramid: <publish>/<item>/images/<page>.tif (and access.json)."""
    path = publish_dir / item_id / "images" / f"{page_id}.tif"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_pyramid(grid_image(width, height), path)
    write_access(publish_dir / item_id, access_level)
    return path


def write_access(folder: Path, access_level: str) -> None:
    """Write the access.json that publish_item writes beside the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "access.json").write_text(json.dumps({"access_level": access_level}), encoding="utf-8")


@dataclass(frozen=True)
class PublishedBook:
    item_id: str
    page_ids: tuple[str, ...]
    manifest: dict


def publish_book(tmp_path: Path, settings: Settings, *, item_id: str = "test-book", pages: int = 2,
                 width: int = 600, height: int = 900, access_level: str = "public") -> PublishedBook:
    """Publish a generated book the way publish_item does: pyramids, ALTO stubs, manifest.json, access.json."""
    batch = load_batch(write_sample_batch(tmp_path / f"batch-{item_id}", pages=pages, width=width,
                                          height=height, item_id=item_id))
    folder = settings.publish_dir / item_id
    canvases = []
    for page in batch.pages:
        image = pyvips.Image.new_from_file(str(batch.root / page.file))
        (folder / "images").mkdir(parents=True, exist_ok=True)
        write_pyramid(image, folder / "images" / f"{page.page_id}.tif")
        (folder / "alto").mkdir(exist_ok=True)
        (folder / "alto" / f"{page.page_id}.xml").write_text(ALTO.format(page=page.page_id), encoding="utf-8")
        alto_url = f"{settings.base_url}/iiif/{item_id}/alto/{page.page_id}.xml"
        canvases.append(CanvasSource(page, image.width, image.height,
                                     image_service_id(settings.base_url, item_id, page), alto_url))
    manifest = build_manifest(batch, canvases, base_url=settings.base_url)
    (folder / "manifest.json").write_text(dump_manifest(manifest), encoding="utf-8")
    write_access(folder, access_level)
    return PublishedBook(item_id, tuple(p.page_id for p in batch.pages), manifest)


def decode_rgb(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "")


def mean_colour(image: pyvips.Image, left: int, top: int, width: int, height: int) -> tuple[float, ...]:
    area = image.crop(left, top, width, height)
    return tuple(area[band].avg() for band in range(area.bands))


def close(colour: tuple[float, ...], expected: tuple[int, ...], tolerance: float = 6) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected))


def raw_get(app, raw_path: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, dict, bytes]:
    """Call the ASGI app with an exact raw path, as uvicorn would pass it (no client-side normalising)."""
    import anyio

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": unquote(raw_path.decode("latin-1")), "raw_path": raw_path,
        "query_string": b"", "root_path": "", "headers": headers or [], "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    result: dict = {"body": b""}

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            result["status"] = message["status"]
            result["headers"] = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        else:
            result["body"] += message.get("body", b"")

    anyio.run(app, scope, receive, send)
    return result["status"], result["headers"], result["body"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class LiveServer:
    settings: Settings
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
