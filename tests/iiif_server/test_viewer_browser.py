"""Headless Chromium opens /viewer/{item}: Mirador loads from this server and draws tiles it fetched here.

Driven over the Chrome DevTools Protocol with websocket-client (``playwright install``
cannot download browsers here; Debian's /usr/bin/chromium is used as is).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import pyvips
import websocket

from iiif_server.config import ServerOptions
from tests.iiif_server.helpers import LiveServer, publish_book

CHROMIUM = "/usr/bin/chromium"
TILE = re.compile(r"/iiif/3/browser-book~p\d{4}/(full|\d+,\d+,\d+,\d+)/\d+,\d*/0/default\.jpg$")
COVER_INDIGO = (46, 58, 92)  # pipeline.sample_book's cover colour


class DevTools:
    """A minimal CDP client: numbered calls, and every event kept for later checks."""

    def __init__(self, url: str) -> None:
        self.socket = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self.events: list[dict[str, Any]] = []
        self._next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        self.socket.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, done: Callable[[list[dict[str, Any]]], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not done(self.events):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.socket.settimeout(remaining)
            try:
                self.events.append(json.loads(self.socket.recv()))
            except websocket.WebSocketTimeoutException:
                return done(self.events)
        return True

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def chromium(tmp_path: Path):
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed")
    profile = tmp_path / "chromium-profile"
    process = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
         "--remote-debugging-port=0", "--window-size=1280,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        yield _page_target(profile, process)
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the browser and its helpers, all started here
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
        shutil.rmtree(profile, ignore_errors=True)


def _page_target(profile: Path, process: subprocess.Popen) -> str:
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text().strip():
        if time.monotonic() > deadline or process.poll() is not None:
            raise AssertionError("chromium did not open its DevTools port")
        time.sleep(0.1)
    port = port_file.read_text().split()[0]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
        targets = json.loads(response.read())
    return next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")


def _tiles_loaded(server: LiveServer) -> Callable[[list[dict[str, Any]]], bool]:
    def done(events: list[dict[str, Any]]) -> bool:
        return len(_tile_responses(events, server)) >= 2
    return done


def _tile_responses(events: list[dict[str, Any]], server: LiveServer) -> list[dict[str, Any]]:
    responses = [e["params"]["response"] for e in events if e.get("method") == "Network.responseReceived"]
    # OpenSeadragon percent-encodes the commas: match the decoded URL.
    return [r for r in responses
            if r["url"].startswith(server.url) and TILE.search(unquote(r["url"])) and r["status"] == 200]


@pytest.mark.slow
def test_mirador_shows_the_book_with_tiles_from_this_server(live_server: LiveServer, chromium: str,
                                                            tmp_path: Path) -> None:
    if not ServerOptions().mirador_js.is_file():
        pytest.fail("Mirador is not installed: run `npm ci --prefix iiif_server/viewer` (make setup)")
    publish_book(tmp_path, live_server.settings, item_id="browser-book", pages=3, width=900, height=1300)
    tools = DevTools(chromium)
    try:
        tools.call("Network.enable")
        tools.call("Page.enable")
        tools.call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
        tools.call("Page.navigate", url=f"{live_server.url}/viewer/browser-book?lang=zh-Hant")
        assert tools.wait_for(_tiles_loaded(live_server), timeout=90), _summary(tools.events)
        time.sleep(2)  # let OpenSeadragon finish drawing the tiles it received
        title = tools.call("Runtime.evaluate", expression="document.title")["result"]["value"]
        canvases = tools.call("Runtime.evaluate", expression="document.querySelectorAll('canvas').length")
        shot = base64.b64decode(tools.call("Page.captureScreenshot", format="png")["data"])
    finally:
        tools.close()
    screenshot = tmp_path / "viewer.png"
    screenshot.write_bytes(shot)
    assert title == "論語十卷 · 书影"
    assert canvases["result"]["value"] >= 1
    requested = [e["params"]["request"]["url"] for e in tools.events if e.get("method") == "Network.requestWillBeSent"]
    elsewhere = [url for url in requested if url.startswith("http") and not url.startswith(live_server.url)]
    assert elsewhere == [], "the viewer asked another host (a CDN?)"
    image = pyvips.Image.new_from_file(str(screenshot))
    assert (image.width, image.height) == (1280, 900)
    # The cover (first canvas) is drawn: many pixels of its indigo cloth are on screen.
    indigo = (abs(image[0] - COVER_INDIGO[0]) < 12) & (abs(image[1] - COVER_INDIGO[1]) < 12) \
        & (abs(image[2] - COVER_INDIGO[2]) < 12)
    assert indigo.avg() / 255 > 0.02, f"cover not visible in {screenshot}"


def _all_responses(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["params"]["response"] for e in events if e.get("method") == "Network.responseReceived"]


def _summary(events: list[dict[str, Any]]) -> str:
    return "no tiles loaded; responses: " + ", ".join(f"{r['status']} {r['url']}" for r in _all_responses(events))
