"""Headless Chromium opens /viewer/{item}: Mirador loads from this server and draws tiles it fetched here.

Driven over the Chrome DevTools Protocol with websocket-client (``playwright install``
cannot download browsers here; Debian's /usr/bin/chromium is used as is).
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import pyvips

from iiif_server.config import ServerOptions
from pipeline.search import index_item, read_alto_page
from tests.browser import CHROMIUM, Page, chromium_page
from tests.iiif_server.helpers import LiveServer, publish_book, write_access
from tests.iiif_server.test_search import alto_page

TILE = re.compile(r"/iiif/3/browser-book~p\d{4}/(full|\d+,\d+,\d+,\d+)/\d+,\d*/0/default\.jpg$")
WINDOW = "Object.keys(shuyingViewer.store.getState().windows)[0]"
STATE = f"shuyingViewer.store.getState().windows[{WINDOW}]"
# What the sidebar's search button does: open the side bar, then the search panel in it.
OPEN_SEARCH = f"""(() => {{ const s = shuyingViewer.store, w = {WINDOW};
  s.dispatch(Mirador.toggleWindowSideBar(w));
  s.dispatch(Mirador.addOrUpdateCompanionWindow(w, {{content: "search", position: "left"}})); }})()"""
SEARCH_INPUT = 'document.querySelector("input[id^=search-]")'
CANVAS_AREA = 'JSON.stringify(document.querySelector(".openseadragon-canvas").getBoundingClientRect())'
COVER_INDIGO = (46, 58, 92)
VIEWER_BACKGROUND = (238, 238, 238)  # Mirador's grey behind the canvases  # pipeline.sample_book's cover colour


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Page]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed")
    with chromium_page(tmp_path / "chromium-profile") as page:
        yield page


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
    tools = chromium
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


def _evaluate(tools: Page, expression: str) -> Any:
    result = tools.call("Runtime.evaluate", expression=expression, returnByValue=True)
    if "exceptionDetails" in result:
        raise AssertionError(f"{expression}: {result['exceptionDetails']}")
    return result["result"].get("value")


def _open_viewer(tools: Page, url: str) -> None:
    tools.call("Network.enable")
    tools.call("Page.enable")
    tools.call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
    tools.call("Page.navigate", url=url)


def _poll(tools: Page, expression: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = _evaluate(tools, expression)
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"still false after {timeout} s: {expression}")


def _screenshot(tools: Page, path: Path) -> pyvips.Image:
    path.write_bytes(base64.b64decode(tools.call("Page.captureScreenshot", format="png")["data"]))
    return pyvips.Image.new_from_file(str(path), access="sequential").copy_memory()


def _highlight(image: pyvips.Image) -> tuple[int, float]:
    """Return how many paper pixels Mirador's selected-hit fill (#ffff00 at 30 %) tints, and their box's h/w."""
    r, g, b = image[0], image[1], image[2]
    tinted = (r > 200) & (g > 190) & (b < 170)
    count = int(tinted.avg() / 255 * image.width * image.height)
    if count == 0:
        return 0, 0.0
    columns, rows = tinted.project()  # sums per column and per row
    xs = [x for x in range(columns.width) if columns(x, 0)[0] > 255 * 10]
    ys = [y for y in range(rows.height) if rows(0, y)[0] > 255 * 10]
    return count, (ys[-1] - ys[0] + 1) / (xs[-1] - xs[0] + 1) if xs and ys else 0.0


def _responses(events: list[dict[str, Any]], fragment: str) -> list[dict[str, Any]]:
    return [r for r in _all_responses(events) if fragment in unquote(r["url"])]


@pytest.mark.slow
def test_mirador_pages_forward_and_highlights_a_search_hit(live_server: LiveServer, chromium: str,
                                                           tmp_path: Path) -> None:
    if not ServerOptions().mirador_js.is_file():
        pytest.fail("Mirador is not installed: run `npm ci --prefix iiif_server/viewer` (make setup)")
    settings = live_server.settings
    publish_book(tmp_path, settings, item_id="browser-book", pages=3, width=900, height=1300)
    alto = settings.publish_dir / "browser-book" / "alto" / "p0002.xml"
    # 學而 gets the box x 150-240, y 450-630 on the right-hand page of the first spread.
    alto.write_text(alto_page([("學而時習之", 150)], size=90, top=450), encoding="utf-8")
    index_item(ServerOptions().search_path(settings.home), "browser-book", [read_alto_page(alto, "p0002")])
    tools = chromium
    try:
        _open_viewer(tools, f"{live_server.url}/viewer/browser-book?lang=zh-Hant")
        assert tools.wait_for(_tiles_loaded(live_server), timeout=90), _summary(tools.events)
        before = _screenshot(tools, tmp_path / "cover.png")
        _evaluate(tools, f"shuyingViewer.store.dispatch(Mirador.setNextCanvas({WINDOW}))")
        assert tools.wait_for(lambda events: any("browser-book~p0003" in unquote(r["url"])
                                                 for r in _tile_responses(events, live_server)), timeout=60)
        _evaluate(tools, OPEN_SEARCH)
        _poll(tools, f"{SEARCH_INPUT} !== null")
        _evaluate(tools, f"{SEARCH_INPUT}.focus()")
        tools.call("Input.insertText", text="学而")  # simplified, as a reader in the mainland types it
        for kind in ("keyDown", "keyUp"):
            tools.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13,
                       **({"text": "\r"} if kind == "keyDown" else {}))
        assert tools.wait_for(lambda events: bool(_responses(events, "/search/1?q=学而")), timeout=30)
        selected = _poll(tools, f"{STATE}.selectedAnnotationId")
        time.sleep(2)  # let OpenSeadragon draw the highlight
        found = _screenshot(tools, tmp_path / "search.png")
        state = _evaluate(tools, f"JSON.stringify({STATE})")
        area = json.loads(_evaluate(tools, CANVAS_AREA))
    finally:
        tools.close()
    [search] = _responses(tools.events, "/search/1?q=学而")
    assert search["status"] == 200
    assert selected.endswith("#hit0.0")
    assert f"{live_server.url}/iiif/browser-book/canvas/p0002" in json.loads(state)["visibleCanvases"]
    # The hit (a 90x180 px box on a 900x1300 page) is drawn as a yellow fill that was not on screen before.
    assert _highlight(before)[0] < 50
    # Only the page area counts: the search panel's hit number is yellow too.
    x, y = max(0, int(area["x"])), max(0, int(area["y"]))
    count, aspect = _highlight(found.crop(x, y, min(int(area["width"]), found.width - x),
                                          min(int(area["height"]), found.height - y)))
    assert count > 3000, f"no highlighted hit in {tmp_path / 'search.png'}"
    assert 1.6 < aspect < 2.4, f"the highlight is not the 90x180 box of 學而 ({aspect:.2f}) in {tmp_path / 'search.png'}"


@pytest.mark.slow
def test_mirador_draws_a_restricted_book_from_reduced_tiles_only(live_server: LiveServer, chromium: str,
                                                                 tmp_path: Path) -> None:
    if not ServerOptions().mirador_js.is_file():
        pytest.fail("Mirador is not installed: run `npm ci --prefix iiif_server/viewer` (make setup)")
    publish_book(tmp_path, live_server.settings, item_id="browser-book", pages=2, width=2400, height=3400)
    write_access(live_server.settings.publish_dir / "browser-book", "restricted")
    tools = chromium
    try:
        _open_viewer(tools, f"{live_server.url}/viewer/browser-book")
        assert tools.wait_for(_tiles_loaded(live_server), timeout=90), _summary(tools.events)
        time.sleep(2)
        login = _evaluate(tools, 'document.getElementById("staff").textContent')
        image = _screenshot(tools, tmp_path / "restricted.png")
    finally:
        tools.close()
    images = [r for r in _all_responses(tools.events) if "/iiif/3/browser-book~" in r["url"]]
    assert images and all(r["status"] == 200 for r in images), [(r["status"], r["url"]) for r in images]
    info = next(r for r in images if r["url"].endswith("/info.json"))
    assert info["headers"].get("cache-control", info["headers"].get("Cache-Control", "")).startswith("private")
    assert "Staff login" in login
    assert image.width == 1280


def _shown_rect(tools: Page) -> dict[str, float]:
    """Return the part of the canvas world the viewer shows, in canvas pixels, from OpenSeadragon's viewport."""
    return json.loads(_evaluate(tools, f"""(() => {{
      const v = shuyingViewer.store.getState().viewers[{WINDOW}];
      const area = document.querySelector(".openseadragon-canvas").getBoundingClientRect();
      const width = 1 / v.zoom, height = width * area.height / area.width;
      return JSON.stringify({{x: v.x - width / 2, y: v.y - height / 2, width: width, height: height}}); }})()"""))


def _paper_columns(image: pyvips.Image, area: dict[str, float]) -> tuple[int, int]:
    """Return the first and last column of the canvas area (above Mirador's control bar) that is not background."""
    x, y = max(0, int(area["x"])), max(0, int(area["y"]))
    view = image.crop(x, y, min(int(area["width"]), image.width - x), min(int(area["height"]) - 100, image.height - y))
    background = VIEWER_BACKGROUND
    differs = ((view[0] - background[0]).abs() + (view[1] - background[1]).abs()
               + (view[2] - background[2]).abs()) > 24
    columns, _ = differs.project()
    xs = [i for i in range(columns.width) if columns(i, 0)[0] > 255 * view.height // 2]
    return (xs[0], xs[-1]) if xs else (0, 0)


@pytest.mark.slow
def test_each_page_turn_fits_the_new_spread_to_the_window(live_server: LiveServer, chromium: str,
                                                          tmp_path: Path) -> None:
    if not ServerOptions().mirador_js.is_file():
        pytest.fail("Mirador is not installed: run `npm ci --prefix iiif_server/viewer` (make setup)")
    publish_book(tmp_path, live_server.settings, item_id="browser-book", pages=5, width=900, height=1300)
    tools = chromium
    shown, boxes = [], []
    try:
        _open_viewer(tools, f"{live_server.url}/viewer/browser-book?lang=zh-Hant")
        assert tools.wait_for(_tiles_loaded(live_server), timeout=90), _summary(tools.events)
        _poll(tools, f"shuyingViewer.store.getState().viewers[{WINDOW}]")
        area = json.loads(_evaluate(tools, CANVAS_AREA))
        for turn, page in enumerate(("p0003", "p0005")):
            # A reader zooms into a corner of the page, then turns the page (下一頁).
            _evaluate(tools, f"shuyingViewer.store.dispatch(Mirador.updateViewport({WINDOW}, "
                             "{x: 200, y: 200, zoom: 0.01}))")
            time.sleep(1)
            _evaluate(tools, f"shuyingViewer.store.dispatch(Mirador.setNextCanvas({WINDOW}))")
            assert tools.wait_for(lambda events, page=page: any(f"browser-book~{page}" in unquote(r["url"])
                                                     for r in _tile_responses(events, live_server)), timeout=60)
            time.sleep(2)  # let OpenSeadragon finish its animation and drawing
            shown.append(_shown_rect(tools))
            boxes.append(_paper_columns(_screenshot(tools, tmp_path / f"turn{turn}.png"), area))
    finally:
        tools.close()
    for turn, (rect, box) in enumerate(zip(shown, boxes)):
        # The spread of two canvases of about 900x1300 starts at 0,0 of the world: all of it is shown.
        assert rect["x"] <= 1 and rect["y"] <= 1, (turn, rect)
        assert rect["x"] + rect["width"] >= 1799 and rect["y"] + rect["height"] >= 1299, (turn, rect)
        assert rect["width"] < 1800 * 1.6 and rect["height"] < 1300 * 1.6, (turn, rect)  # and it fills the window
        # On screen, the spread (about 1840x1320) fills the window's height with background left and right;
        # before, the page read first was cut off at the left edge and the right third was empty.
        left, right = box
        assert left > 0 and right < area["width"] - 1, (turn, box, area, f"{tmp_path}/turn{turn}.png")
        expected = area["height"] * 1839 / 1318
        assert abs((right - left + 1) - expected) < 0.06 * expected, (turn, box, f"{tmp_path}/turn{turn}.png")
