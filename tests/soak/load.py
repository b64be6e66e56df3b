"""The soak's load client: keep-alive threads asking for what a reading room asks for, every answer timed.

What is asked for comes from the server's own manifests and info.json (as Mirador finds
it), so the soak follows whatever the server publishes. Tiles on the info.json grid
repeat and hit the caches; ``region`` requests draw a fresh region and size each time,
so they miss the caches and render.
"""

from __future__ import annotations

import http.client
import json
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

# How often each kind is asked for, per 100 requests: mostly images, as a viewer would.
WEIGHTS = {"tile": 40, "region": 15, "info": 8, "manifest": 6, "alto": 5, "annotations": 5, "search": 8,
           "autocomplete": 3, "browse": 4, "collection": 2, "viewer": 4}
SEARCH_TERMS = ("子曰", "君子", "仁", "學而", "孝弟", "無此之字")  # the last one finds nothing
REGION_SIDE = (48, 700)  # smallest and largest region side drawn, pixels of the page
OUTPUT_SIDE = 512  # largest output width: every render stays far below the heavy-render area


@dataclass(frozen=True)
class Page:
    """One published page as the manifest names it: its Image API path and size."""

    service: str  # path of the image service, e.g. /iiif/3/book~p0001
    width: int
    height: int


@dataclass
class Plan:
    """Every fixed path the client chooses from, by kind; regions are drawn per request."""

    paths: dict[str, list[str]] = field(default_factory=dict)
    pages: list[Page] = field(default_factory=list)

    def draw(self, kind: str, rng: random.Random) -> str:
        """Return one path of ``kind``; a ``region`` path is new almost every time."""
        if kind == "region":
            return random_region(rng.choice(self.pages), rng)
        return rng.choice(self.paths[kind])


@dataclass(frozen=True)
class Answer:
    """One request's outcome: what was asked, the status (0: no answer at all) and how long it took."""

    kind: str
    path: str
    status: int
    seconds: float
    at: float  # monotonic time the request started
    retry_after: str | None = None


class Recorder:
    """Every answer of every client thread, in one list behind a lock."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self._lock = threading.Lock()

    def add(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def snapshot(self) -> list[Answer]:
        with self._lock:
            return list(self.answers)


def path_of(url: str) -> str:
    """Return the path (and query) of an absolute URL from a manifest, as the client sends it."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def tile_paths(info: dict[str, Any]) -> list[str]:
    """Return every tile of the info.json grid at every scale factor, as a viewer would request them."""
    service, width, height = path_of(info["id"]), info["width"], info["height"]
    paths = [f"{service}/full/{size['width']},{size['height']}/0/default.jpg" for size in info.get("sizes", [])]
    for tiles in info.get("tiles", []):
        tile_w, tile_h = tiles["width"], tiles.get("height", tiles["width"])
        for scale in tiles["scaleFactors"]:
            step_x, step_y = tile_w * scale, tile_h * scale
            for y in range(0, height, step_y):
                for x in range(0, width, step_x):
                    region_w, region_h = min(step_x, width - x), min(step_y, height - y)
                    paths.append(f"{service}/{x},{y},{region_w},{region_h}/{math.ceil(region_w / scale)},/0/default.jpg")
    return paths


def random_region(page: Page, rng: random.Random) -> str:
    """Return a region and size drawn at random (a cache miss), never upscaled, never a heavy render."""
    region_w = rng.randint(REGION_SIDE[0], min(REGION_SIDE[1], page.width))
    region_h = rng.randint(REGION_SIDE[0], min(REGION_SIDE[1], page.height))
    x, y = rng.randint(0, page.width - region_w), rng.randint(0, page.height - region_h)
    out_w = rng.randint(16, min(region_w, OUTPUT_SIDE))
    rotation = rng.choice(("0", "0", "90", "180"))
    quality = rng.choice(("default", "default", "gray"))
    return f"{page.service}/{x},{y},{region_w},{region_h}/{out_w},/{rotation}/{quality}.jpg"


def item_paths(item_id: str, manifest: dict[str, Any]) -> dict[str, list[str]]:
    """Return the manifest, ALTO, annotation, search and viewer paths of one published item."""
    canvases = manifest["items"]
    alto = [path_of(see["id"]) for canvas in canvases for see in canvas.get("seeAlso", [])]
    annotations = [path_of(page["id"]) for canvas in canvases for page in canvas.get("annotations", [])]
    search = [f"/iiif/{item_id}/search/2?q={quote(term)}" for term in SEARCH_TERMS]
    complete = [f"/iiif/{item_id}/autocomplete/2?q={quote(term[0])}" for term in SEARCH_TERMS]
    return {"manifest": [f"/iiif/{item_id}/manifest.json"], "alto": alto, "annotations": annotations,
            "search": search, "autocomplete": complete, "viewer": [f"/viewer/{item_id}"]}


def image_services(manifest: dict[str, Any]) -> list[str]:
    """Return the Image API service path of every canvas of a manifest."""
    return [path_of(anno["body"]["service"][0]["id"])
            for canvas in manifest["items"] for page in canvas["items"] for anno in page["items"]]


def build_plan(get_json: Callable[[str], Any], item_ids: list[str]) -> Plan:
    """Ask the server for each item's manifest and each page's info.json, and list what to request."""
    plan = Plan(paths={"info": [], "tile": [], "browse": ["/browse", "/"], "collection": ["/iiif/collection.json"]})
    for item_id in item_ids:
        manifest = get_json(f"/iiif/{item_id}/manifest.json")
        for kind, paths in item_paths(item_id, manifest).items():
            plan.paths.setdefault(kind, []).extend(paths)
        for service in image_services(manifest):
            info = get_json(f"{service}/info.json")
            plan.paths["info"].append(f"{service}/info.json")
            plan.paths["tile"].extend(tile_paths(info))
            plan.pages.append(Page(service, info["width"], info["height"]))
    return plan


def get_json(host: str, port: int, path: str) -> Any:
    """GET one JSON document on a fresh connection; anything but 200 is a failed set-up."""
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise AssertionError(f"GET {path}: {response.status} {body[:300]!r}")
        return json.loads(body)
    finally:
        connection.close()


def client_loop(host: str, port: int, plan: Plan, recorder: Recorder, stop: threading.Event, seed: int) -> None:
    """Request drawn paths back to back on one keep-alive connection until ``stop`` is set."""
    rng = random.Random(seed)
    kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
    connection = http.client.HTTPConnection(host, port, timeout=60)
    while not stop.is_set():
        kind = rng.choices(kinds, weights)[0]
        path = plan.draw(kind, rng)
        recorder.add(timed_get(connection, kind, path))
    connection.close()


def timed_get(connection: http.client.HTTPConnection, kind: str, path: str) -> Answer:
    """GET ``path`` and read the whole body; a dropped connection is status 0 and is reopened next time."""
    started = time.monotonic()
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        status, retry = response.status, response.getheader("Retry-After")
    except (OSError, http.client.HTTPException):
        connection.close()  # http.client reconnects on the next request
        status, retry = 0, None
    return Answer(kind, path, status, time.monotonic() - started, started, retry)
