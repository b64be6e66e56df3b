"""Reading beside the image: the reading panel, citations (IIIF Content State 1.0) and the PDF control.

The content-state parsing is tested on its own (no browser). The browser tests share one
headless Chromium (tests/browser.py, as test_viewer_browser.py) and one live server with a
12-leaf vertical book per module; each test opens the viewer afresh.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import uvicorn
from starlette.testclient import TestClient

from iiif_server.config import ServerOptions
from iiif_server.serve import uvicorn_config
from iiif_server.viewer import MAX_CONTENT_STATE, StartAt, open_content_state, start_at
from pipeline.annotations import annotation_page as entity_annotation_page
from pipeline.annotations import annotation_page_id
from pipeline.entities import BookContext, find_entities
from pipeline.search import index_item, read_alto_page
from storage_config.settings import Settings, load_settings
from tests.browser import CHROMIUM, Page, chromium_page
from tests.iiif_server.helpers import LiveServer, PublishedBook, free_port, publish_book
from tests.iiif_server.test_search import alto_page

BOOK = "reading-book"
BASE = "http://127.0.0.1:8182"
MANIFEST = f"{BASE}/iiif/{BOOK}/manifest.json"
# Leaf p0002 reads 乾隆四十七年 twice (first and third column); its date annotation marks the third.
TEXTS = {
    "p0002": [("乾隆四十七年春正月", 500), ("學而時習之不亦說乎", 440), ("乾隆四十七年秋", 380)],
    "p0003": [("有朋自遠方來", 500), ("不亦樂乎", 440)],
}
NUMERALS = "〇一二三四五六七八九十"
ENTITY_BOOK = "entity-book"
ENTITY_TEXTS = [[("乾隆四十七年春正月", 500), ("學而時習之", 440)], [("有朋自遠方來", 500)],
                [("不亦樂乎", 500), ("乾隆四十七年秋七月", 440)], [("人不知而不慍", 500)]]
WINDOW = "Object.keys(shuyingViewer.store.getState().windows)[0]"
STATE = f"shuyingViewer.store.getState().windows[{WINDOW}]"
PANEL_TEXT = 'document.getElementById("shuying-reading-text")'


def encode(state: Any) -> str:
    """Encode a content state as Content State 1.0 §6 does (encodeURIComponent, then base64url, no padding)."""
    uri_encoded = quote(json.dumps(state, ensure_ascii=False), safe="-_.!~*'()")
    return base64.urlsafe_b64encode(uri_encoded.encode("ascii")).decode("ascii").rstrip("=")


def decode(value: str) -> Any:
    from urllib.parse import unquote
    return json.loads(unquote(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")))


def leaf_text(page_id: str) -> list[tuple[str, int]]:
    """The columns of a leaf: TEXTS, or 第N葉之文 (a distinct phrase each, to find in the PDF)."""
    number = int(page_id[1:])
    return TEXTS.get(page_id, [(f"第{NUMERALS[number // 10] if number >= 10 else ''}{NUMERALS[number % 10]}葉之文", 500)])


def canvas_id(base: str, page_id: str) -> str:
    return f"{base}/iiif/{BOOK}/canvas/{page_id}"


def annotation_page(base: str, page_id: str) -> dict[str, Any]:
    """The AnnotationPage the entities step publishes for leaf p0002 (the contract of issue 16)."""
    canvas = canvas_id(base, page_id)

    def annotation(n: int, motivation: str, text: str, kind: str, xywh: str, browse: str = "") -> dict[str, Any]:
        body: list[dict[str, Any]] = [
            {"type": "TextualBody", "purpose": "tagging", "value": text, "format": "text/plain", "language": "zh"},
            {"type": "TextualBody", "purpose": "classifying", "value": kind}]
        if browse:
            body.append({"id": f"{base}/browse/{browse}", "type": "Text", "format": "text/html",
                         "purpose": "identifying", "label": {"zh": [browse.split("/")[-1]]}})
        return {"id": f"{canvas}/entity/{n}", "type": "Annotation", "motivation": motivation, "body": body,
                "target": f"{canvas}#xywh={xywh}"}

    return {"id": f"{base}/iiif/{BOOK}/annotations/{page_id}.json", "type": "AnnotationPage", "items": [
        annotation(1, "identifying", "乾隆四十七年", "date", "380,100,40,240", quote("era/乾隆")),
        annotation(2, "tagging", "時習", "title", "440,180,40,80")]}


def publish_reading_book(tmp_path: Path, settings: Settings) -> PublishedBook:
    """Publish the 12-leaf book with real ALTO text and, embedded in the manifest, p0002's entity annotations."""
    book = publish_book(tmp_path, settings, item_id=BOOK, pages=12, width=600, height=900)
    folder = settings.publish_dir / BOOK
    for page_id in book.page_ids[1:]:
        (folder / "alto" / f"{page_id}.xml").write_text(alto_page(leaf_text(page_id)), encoding="utf-8")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["items"][1]["annotations"] = [annotation_page(settings.base_url, "p0002")]
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return book


def publish_entity_book(tmp_path: Path, settings: Settings) -> None:
    """Publish a 5-leaf book the way the entities step does: entities found in its ALTO, indexed, annotated.

    Leaves p0002 and p0004 mention 乾隆四十七年 (1782); p0003 does not.
    """
    publish_book(tmp_path, settings, item_id=ENTITY_BOOK, pages=5, width=600, height=900)
    folder = settings.publish_dir / ENTITY_BOOK
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    texts, found = [], []
    (folder / "annotations").mkdir()
    for canvas, columns in zip(manifest["items"][1:], ENTITY_TEXTS):
        page_id = canvas["id"].rsplit("/", 1)[-1]
        alto = folder / "alto" / f"{page_id}.xml"
        alto.write_text(alto_page(columns), encoding="utf-8")
        text = read_alto_page(alto, page_id)
        entities = [e for e in find_entities(text, BookContext(period=(1368, 1800))) if e.accepted]
        url = annotation_page_id(settings.base_url, ENTITY_BOOK, page_id)
        page = entity_annotation_page(entities, canvas_id=canvas["id"], page_url=url, base_url=settings.base_url,
                               language="zh-Hant", size=(canvas["width"], canvas["height"]))
        (folder / "annotations" / f"{page_id}.json").write_text(json.dumps(page, ensure_ascii=False), encoding="utf-8")
        canvas["annotations"] = [{"id": url, "type": "AnnotationPage"}]
        texts.append(text)
        found += [e.as_dict() for e in entities]
    index_item(ServerOptions().search_path(settings.home), ENTITY_BOOK, texts, found)
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


# ---- where ?iiif-content= and ?canvas= open the book (no browser) ---------------------------------

def small_manifest() -> dict[str, Any]:
    return {"id": MANIFEST, "items": [{"id": canvas_id(BASE, f"p000{n}"), "type": "Canvas", "width": 600,
                                       "height": 900} for n in range(1, 5)]}


def test_a_content_state_annotation_opens_its_canvas_and_region() -> None:
    state = {"@context": "http://iiif.io/api/presentation/3/context.json", "type": "Annotation",
             "motivation": ["contentState"],
             "target": {"id": canvas_id(BASE, "p0003") + "#xywh=100,200,300,400", "type": "Canvas",
                        "partOf": [{"id": MANIFEST, "type": "Manifest"}]}}
    assert open_content_state(encode(state), small_manifest()) == StartAt(canvas_id(BASE, "p0003"), (100, 200, 300, 400))


@pytest.mark.parametrize("state, expected", [
    ({"type": "SpecificResource", "source": {"id": canvas_id(BASE, "p0002"), "type": "Canvas",
                                             "partOf": [{"id": MANIFEST, "type": "Manifest"}]},
      "selector": {"type": "FragmentSelector", "value": "xywh=percent:50,50,50,50"}},
     StartAt(canvas_id(BASE, "p0002"), (300, 450, 300, 450))),
    ({"id": canvas_id(BASE, "p0004"), "type": "Canvas"}, StartAt(canvas_id(BASE, "p0004"))),
    ({"id": MANIFEST, "type": "Manifest"}, StartAt()),
    # A region running off the canvas is clipped to it.
    ({"type": "Annotation", "target": [{"id": canvas_id(BASE, "p0001") + "#xywh=500,800,400,400",
                                        "type": "Canvas"}]}, StartAt(canvas_id(BASE, "p0001"), (500, 800, 100, 100))),
])
def test_content_state_forms(state: Any, expected: StartAt) -> None:
    assert open_content_state(encode(state), small_manifest()) == expected


def test_a_plain_canvas_uri_and_unencoded_utf8_json_are_read_too() -> None:
    assert open_content_state(canvas_id(BASE, "p0002"), small_manifest()) == StartAt(canvas_id(BASE, "p0002"))
    raw = json.dumps({"id": canvas_id(BASE, "p0003"), "type": "Canvas", "label": {"zh": ["葉"]}}, ensure_ascii=False)
    value = base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")
    assert open_content_state(value, small_manifest()) == StartAt(canvas_id(BASE, "p0003"))
    # Plain base64 (with "+" and "/") put in a URL unescaped, so that its "+" arrives as a space.
    state = {"id": canvas_id(BASE, "p0004"), "type": "Canvas", "label": {"none": [">>>???~~~"]}}
    plain = base64.b64encode(json.dumps(state).encode()).decode()
    assert "+" in plain and "/" in plain
    assert open_content_state(plain.replace("+", " "), small_manifest()) == StartAt(canvas_id(BASE, "p0004"))


@pytest.mark.parametrize("query, canvas", [
    ({"canvas": "p0003"}, canvas_id(BASE, "p0003")),
    ({"canvas": canvas_id(BASE, "p0004")}, canvas_id(BASE, "p0004")),
    ({"canvas": "p0002", "iiif-content": encode({"id": canvas_id(BASE, "p0003"), "type": "Canvas"})},
     canvas_id(BASE, "p0003")),  # the content state wins
    ({}, ""),
])
def test_the_canvas_parameter_names_a_canvas_by_id_or_page_id(query: dict[str, str], canvas: str) -> None:
    start = start_at(query, small_manifest())
    assert (start.canvas, start.notice) == (canvas, "")


def nested(depth: int) -> dict[str, Any]:
    state: dict[str, Any] = {"id": canvas_id(BASE, "p0002"), "type": "Canvas"}
    for _ in range(depth):
        state = {"type": "Annotation", "target": state}
    return state


HOSTILE = [
    ("not base64 at all!", "not base64url-encoded JSON"),
    (base64.urlsafe_b64encode(b"\xff\xfe\x00garbage").decode(), "not base64url-encoded JSON"),
    (base64.urlsafe_b64encode(b"%E4%B8").decode(), "not base64url-encoded JSON"),  # a cut UTF-8 sequence
    (base64.urlsafe_b64encode(b"[" * 3000).decode(), "not base64url-encoded JSON"),
    ("A" * (MAX_CONTENT_STATE + 1), "at most 4000"),
    (encode(None), "names no resource"),
    (encode({"type": "Range", "id": "x"}), "names no canvas or manifest"),
    (encode(nested(9)), "nested too deeply"),
    (encode({"id": canvas_id(BASE, "p0002"), "type": "Canvas",
             "partOf": [{"id": "https://elsewhere.example/manifest.json", "type": "Manifest"}]}),
     "names another manifest"),
    (encode({"id": "https://elsewhere.example/manifest.json", "type": "Manifest"}), "names another manifest"),
    (encode({"id": canvas_id(BASE, "p0099"), "type": "Canvas", "partOf": [{"id": MANIFEST}]}),
     "names no canvas of this book"),
    (encode({"id": canvas_id(BASE, "p0002") + "#xywh=10,10,0,5", "type": "Canvas"}), "outside the canvas"),
    (encode({"id": canvas_id(BASE, "p0002") + "#xywh=9000,10,50,50", "type": "Canvas"}), "outside the canvas"),
    (encode({"id": canvas_id(BASE, "p0002") + "#xywh=-1,2,3,4", "type": "Canvas"}), "is not xywh=x,y,w,h"),
    ("https://elsewhere.example/iiif/other/manifest.json", "no canvas of this book"),
]


@pytest.mark.parametrize("value, reason", HOSTILE)
def test_an_unusable_content_state_opens_the_first_canvas_with_a_notice(value: str, reason: str) -> None:
    start = start_at({"iiif-content": value}, small_manifest())
    assert start.canvas == "" and start.region is None
    assert reason in start.notice


@pytest.fixture
def reading_client(tmp_path: Path, settings: Settings) -> Iterator[TestClient]:
    from iiif_server.app import create_app
    publish_reading_book(tmp_path, settings)
    with TestClient(create_app(settings, ServerOptions(cache_dir=tmp_path / "cache", lookup_ttl=0.0)),
                    raise_server_exceptions=False) as client:
        yield client


def page_config(html: str) -> dict[str, Any]:
    return json.loads(html.split('id="shuying-config">')[1].split("</script>")[0])


def test_the_viewer_page_starts_at_the_cited_canvas_or_says_why_not(reading_client: TestClient) -> None:
    base = "http://127.0.0.1:8182"
    cited = reading_client.get(f"/viewer/{BOOK}", params={"iiif-content": encode(
        {"type": "Annotation", "motivation": "contentState",
         "target": {"id": canvas_id(base, "p0005") + "#xywh=10,20,30,40", "type": "Canvas",
                    "partOf": [{"id": f"{base}/iiif/{BOOK}/manifest.json", "type": "Manifest"}]}})})
    assert cited.status_code == 200
    assert page_config(cited.text)["start"] == {"canvas": canvas_id(base, "p0005"), "region": [10, 20, 30, 40]}
    assert "shuying-notice" not in cited.text
    for value, reason in [*HOSTILE, ("%00<script>alert(1)</script>", "not base64url"), ("", "not base64url")]:
        response = reading_client.get(f"/viewer/{BOOK}", params={"iiif-content": value})
        assert response.status_code == 200, value
        assert "start" not in page_config(response.text)
        notice = response.text.split('<div id="shuying-notice" role="status">')[1].split("</div>")[0]
        assert reason in notice and "<script" not in notice
    unknown = reading_client.get(f"/viewer/{BOOK}?canvas=%3Cb%3Ep0099")
    assert "the canvas parameter names no canvas of this book" in unknown.text and "<b>p0099" not in unknown.text


def test_the_panel_assets_are_served(reading_client: TestClient) -> None:
    page = reading_client.get(f"/viewer/{BOOK}").text
    assert '<script src="assets/reading-panel.js"></script>' in page
    assert '<link rel="stylesheet" href="assets/reading-panel.css">' in page
    style = reading_client.get("/viewer/assets/reading-panel.css")
    assert style.status_code == 200 and style.headers["content-type"] == "text/css; charset=utf-8"
    assert "writing-mode: vertical-rl" in style.text
    script = reading_client.get("/viewer/assets/reading-panel.js")
    assert script.status_code == 200 and "encodeContentState" in script.text


# ---- in the browser -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reading:
    server: LiveServer
    book: PublishedBook
    page: Page

    def viewer(self, query: str = "lang=zh-Hant") -> None:
        """Open the viewer and wait until the panel shows the text of the canvases Mirador shows."""
        self.page.goto(f"{self.server.url}/viewer/{BOOK}?{query}")
        assert self.page.wait_until(f"!!({PANEL_TEXT} && {PANEL_TEXT}.querySelector('.shuying-page'))"), \
            "the reading panel shows no page"

    def js(self, expression: str) -> Any:
        return self.page.evaluate(expression)

    def turn_to(self, page_id: str) -> None:
        self.js(f"shuyingViewer.store.dispatch(Mirador.setCanvas({WINDOW}, "
                f"{json.dumps(canvas_id(self.server.url, page_id))}))")
        assert self.page.wait_until(f"{self.shown_pages()}.indexOf({json.dumps(page_id)}) >= 0"), self.js(
            self.shown_pages())

    @staticmethod
    def shown_pages() -> str:
        return (f"Array.from({PANEL_TEXT}.querySelectorAll('.shuying-page')).map(s => "
                "s.dataset.canvas.split('/').pop()).join(' ')")


@pytest.fixture(scope="module")
def reading(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reading]:
    """One live server with the reading book and one headless Chromium for the module's browser tests."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed")
    if not ServerOptions().mirador_js.is_file():
        pytest.fail("Mirador is not installed: run `npm ci --prefix iiif_server/viewer` (make setup)")
    root = tmp_path_factory.mktemp("reading")
    port = free_port()
    settings = load_settings(environ={}, home=str(root / "home"), base_url=f"http://127.0.0.1:{port}")
    book = publish_reading_book(root, settings)
    publish_entity_book(root, settings)
    options = ServerOptions(cache_dir=root / "cache", lookup_ttl=0.0)
    server = uvicorn.Server(uvicorn_config(settings, host="127.0.0.1", port=port, options=options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        with chromium_page(root / "chromium-profile") as page:
            page.call("Emulation.setDeviceMetricsOverride", width=1400, height=900, deviceScaleFactor=1, mobile=False)
            yield Reading(LiveServer(settings, port), book, page)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.slow
def test_the_panel_reads_the_spread_vertically_and_follows_the_page_turn(reading: Reading) -> None:
    reading.viewer()
    assert reading.js(reading.shown_pages()) == "p0001"  # the cover, alone, with no text
    assert reading.js(f"{PANEL_TEXT}.querySelector('.shuying-empty').textContent") == "本頁無文字"
    assert reading.js(f"getComputedStyle({PANEL_TEXT}).writingMode") == "vertical-rl"
    assert reading.js('getComputedStyle(document.getElementById("shuying-reading")).display') == "flex"  # wide window
    reading.js(f"shuyingViewer.store.dispatch(Mirador.setNextCanvas({WINDOW}))")
    assert reading.page.wait_until(f"{reading.shown_pages()} === 'p0002 p0003'"), reading.js(reading.shown_pages())
    columns = reading.js(f"Array.from({PANEL_TEXT}.querySelectorAll('.shuying-line')).map(l => l.textContent)")
    assert columns == [text for page in ("p0002", "p0003") for text, _ in TEXTS[page]]  # in reading order
    headings = reading.js(f"Array.from({PANEL_TEXT}.querySelectorAll('h3')).map(h => h.textContent)")
    assert headings == ["卷一 葉一上", "卷一 葉一下"]
    # Selectable and copyable: a reader's selection of the panel is its text, one column a line.
    selected = reading.js(f"(() => {{ getSelection().selectAllChildren({PANEL_TEXT}); "
                          "return getSelection().toString(); })()")
    assert "乾隆四十七年春正月\n學而時習之不亦說乎" in selected
    assert reading.js(f"getComputedStyle({PANEL_TEXT}).userSelect") != "none"
    # The panel closes (Mirador takes the whole window) and opens again.
    reading.js('document.getElementById("shuying-reading-close").click()')
    assert reading.js('getComputedStyle(document.getElementById("shuying-reading")).display') == "none"
    assert reading.js('document.getElementById("viewer").getBoundingClientRect().right') == 1400
    reading.js('document.getElementById("shuying-reading-open").click()')
    assert reading.js('getComputedStyle(document.getElementById("shuying-reading")).display') == "flex"
    assert reading.js('document.getElementById("viewer").getBoundingClientRect().right') == 1400 - 360
    reading.js(f"shuyingViewer.store.dispatch(Mirador.setNextCanvas({WINDOW}))")
    assert reading.page.wait_until(f"{reading.shown_pages()} === 'p0004 p0005'"), reading.js(reading.shown_pages())
    assert reading.js(f"{PANEL_TEXT}.textContent").startswith("卷一 葉二上第四葉之文")
    # In a window too narrow for a spread and the text, the panel starts closed (unless the reader chose).
    reading.js("localStorage.clear()")
    reading.page.call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
    try:
        reading.viewer()
        assert reading.js('getComputedStyle(document.getElementById("shuying-reading")).display') == "none"
        assert reading.js('getComputedStyle(document.getElementById("shuying-reading-open")).display') == "block"
    finally:
        reading.page.call("Emulation.setDeviceMetricsOverride", width=1400, height=900, deviceScaleFactor=1,
                          mobile=False)


@pytest.mark.slow
def test_entities_are_marked_on_the_text_their_region_covers_and_link_to_browse(reading: Reading) -> None:
    reading.viewer()
    reading.turn_to("p0002")
    entities = reading.js(f"""Array.from({PANEL_TEXT}.querySelectorAll('.shuying-entity')).map(e => ({{
        tag: e.tagName, text: e.textContent, kind: e.dataset.kind, href: e.getAttribute('href'),
        column: Array.from(e.closest('.shuying-page').querySelectorAll('.shuying-line')).indexOf(e.parentNode)
    }}))""")
    assert entities == [
        {"tag": "MARK", "text": "時習", "kind": "title", "href": None, "column": 1},
        # 乾隆四十七年 is in the first and third columns; the annotation's region is the third's.
        {"tag": "A", "text": "乾隆四十七年", "kind": "date", "column": 2,
         "href": f"{reading.server.url}/browse/era/%E4%B9%BE%E9%9A%86"},
    ]
    # Hovering a mark highlights its annotation in Mirador.
    reading.js(f"{PANEL_TEXT}.querySelector('a.shuying-entity').dispatchEvent(new MouseEvent('mouseenter'))")
    assert reading.js(f"{STATE}.hoveredAnnotationIds") == [f"{canvas_id(reading.server.url, 'p0002')}/entity/1"]


@pytest.mark.slow
def test_the_entity_annotations_are_listed_in_miradors_annotation_panel(reading: Reading) -> None:
    reading.viewer()
    reading.turn_to("p0002")
    reading.js(f"""(() => {{ const s = shuyingViewer.store, w = {WINDOW};
      s.dispatch(Mirador.toggleWindowSideBar(w));
      s.dispatch(Mirador.addOrUpdateCompanionWindow(w, {{content: "annotations", position: "left"}})); }})()""")
    listed = "document.querySelector('#viewer').innerText"
    assert reading.page.wait_until(f"{listed}.includes('乾隆四十七年') && {listed}.includes('時習')"), \
        reading.js(listed)[:2000]


def shown_region(reading: Reading) -> dict[str, Any]:
    """What the citation of the current view names: read back through the reading panel's cite button."""
    reading.js('document.getElementById("shuying-cite").click()')
    link = reading.js('document.getElementById("shuying-cite-link").value')
    query = parse_qs(urlsplit(link).query)
    return {"link": link, "state": decode(query["iiif-content"][0])}


def shown_on(reading: Reading, page_id: str) -> tuple[float, float, float, float]:
    """Return the part of a canvas OpenSeadragon shows, in canvas pixels (x, y, w, h), clipped to it."""
    return tuple(json.loads(reading.js(f"""(() => {{ const s = shuyingViewer.store.getState(), w = {WINDOW};
      const id = {json.dumps(canvas_id(reading.server.url, page_id))};
      const [x, y, width, height] = Mirador.getCurrentCanvasWorld(s, {{windowId: w}}).canvasToWorldCoordinates(id);
      const canvas = s.manifests[Object.keys(s.manifests)[0]].json.items.find(c => c.id === id);
      const b = Mirador.OSDReferences.get(w).current.viewport.getBounds(true), k = canvas.width / width;
      const left = Math.max(b.x, x), top = Math.max(b.y, y);
      return JSON.stringify([(left - x) * k, (top - y) * k, (Math.min(b.x + b.width, x + width) - left) * k,
                             (Math.min(b.y + b.height, y + height) - top) * k]); }})()""")))


def close_to(a: tuple[float, ...], b: tuple[float, ...], tolerance: float) -> bool:
    return all(abs(p - q) <= tolerance for p, q in zip(a, b))


@pytest.mark.slow
def test_a_citation_reopens_the_same_canvas_and_region(reading: Reading) -> None:
    reading.viewer()
    reading.turn_to("p0005")
    time.sleep(2)  # let the page-turn fit finish before zooming in
    # The reader zooms into the left-hand page (p0005 of the spread p0004|p0005) to about half its width.
    reading.js(f"""(() => {{ const s = shuyingViewer.store.getState(), w = {WINDOW};
      const [x, y, width] = Mirador.getCurrentCanvasWorld(s, {{windowId: w}}).canvasToWorldCoordinates(
        {json.dumps(canvas_id(reading.server.url, 'p0005'))});
      shuyingViewer.store.dispatch(Mirador.updateViewport(w, {{x: x + width / 2, y: y + width / 2,
                                                                zoom: 1 / (width * 0.5)}})); }})()""")
    time.sleep(2)
    shown = shown_on(reading, "p0005")
    cited = shown_region(reading)
    target = cited["state"]["target"]
    assert cited["state"]["motivation"] == ["contentState"] and cited["state"]["type"] == "Annotation"
    assert target["partOf"] == [{"id": f"{reading.server.url}/iiif/{BOOK}/manifest.json", "type": "Manifest"}]
    canvas, _, fragment = target["id"].partition("#xywh=")
    assert canvas == canvas_id(reading.server.url, "p0005")
    region = tuple(float(v) for v in fragment.split(","))
    assert close_to(region, shown, 1.5), (region, shown)  # what the reader sees, in canvas pixels
    assert 250 < region[2] < 350, region
    # A colleague opens the copied link: the same canvas, zoomed to the same region.
    reading.page.goto(cited["link"])
    assert reading.page.wait_until(f"!!{STATE} && {STATE}.canvasId === {json.dumps(canvas)}"), reading.js(
        f"JSON.stringify({STATE})")
    assert canvas in reading.js(f"{STATE}.visibleCanvases")
    assert reading.page.wait_until(f"!!shuyingViewer.store.getState().viewers[{WINDOW}] && "
                                   f"shuyingViewer.store.getState().viewers[{WINDOW}].zoom > 1 / 400")
    time.sleep(1)
    reopened = shown_on(reading, "p0005")
    # The window keeps the region's aspect, so the region fits in the view along one side exactly.
    assert reopened[0] <= region[0] + 2 and reopened[1] <= region[1] + 2, (reopened, region)
    assert reopened[0] + reopened[2] >= region[0] + region[2] - 2, (reopened, region)
    assert reopened[1] + reopened[3] >= region[1] + region[3] - 2, (reopened, region)
    assert close_to(reopened, region, 3), (reopened, region)


@pytest.mark.slow
def test_the_canvas_parameter_opens_the_book_there(reading: Reading) -> None:
    reading.viewer("canvas=p0007")
    assert reading.page.wait_until(f"{reading.shown_pages()} === 'p0006 p0007'"), reading.js(reading.shown_pages())
    reading.page.goto(f"{reading.server.url}/viewer/{BOOK}?iiif-content=bm90IGEgY29udGVudCBzdGF0ZQ")
    assert "could not be opened" in reading.js('document.getElementById("shuying-notice").textContent')
    assert reading.page.wait_until(f"{reading.shown_pages()} === 'p0001'")


@pytest.mark.slow
def test_the_pdf_control_downloads_ten_leaves_from_the_current_one_with_their_text(reading: Reading,
                                                                                   tmp_path: Path) -> None:
    reading.viewer()
    reading.turn_to("p0002")
    href = reading.js('document.getElementById("shuying-pdf").href')
    assert href == f"{reading.server.url}/iiif/{BOOK}/pdf?from=p0002&to=p0011"
    reading.js('(() => { const n = document.getElementById("shuying-pdf-count"); n.value = "3"; '
               'n.dispatchEvent(new Event("input")); })()')
    assert reading.js('document.getElementById("shuying-pdf").href').endswith("from=p0002&to=p0004")
    reading.js('(() => { const n = document.getElementById("shuying-pdf-count"); n.value = "500"; '
               'n.dispatchEvent(new Event("input")); })()')
    assert reading.js('document.getElementById("shuying-pdf").href').endswith("from=p0002&to=p0012")  # the last leaf
    with urllib.request.urlopen(href, timeout=120) as response:
        assert response.headers["Content-Type"] == "application/pdf"
        pdf = tmp_path / "leaves.pdf"
        pdf.write_bytes(response.read())
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Pages:\s+10$", info, re.MULTILINE), info
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for phrase in ("乾隆四十七年春正月", "有朋自遠方來", "第四葉之文", "第一一葉之文"):
        assert phrase in text, phrase
    assert "第一二葉之文" not in text  # leaf 12 is past the tenth
    assert text.index("乾隆四十七年春正月") < text.index("有朋自遠方來") < text.index("第一一葉之文")


@pytest.mark.slow
def test_clicking_a_date_in_the_panel_lists_every_page_that_mentions_it(reading: Reading) -> None:
    url = reading.server.url
    reading.page.goto(f"{url}/viewer/{ENTITY_BOOK}?lang=zh-Hant&canvas=p0002")
    date = f"{PANEL_TEXT}.querySelector('a.shuying-entity[data-kind=date]')"
    assert reading.page.wait_until(f"!!{date}"), reading.js(f"{PANEL_TEXT}.innerHTML")
    assert reading.js(f"{date}.textContent") == "乾隆四十七年"
    reading.page.loads(lambda: reading.js(f"{date}.click()"))
    assert reading.js("location.pathname") == "/browse/year/1782"
    links = reading.js("Array.from(document.querySelectorAll('a[href*=\"/viewer/\"][href*=\"canvas=\"]')).map(a => a.href)")
    canvases = sorted(parse_qs(urlsplit(link).query)["canvas"][0].rsplit("/", 1)[-1] for link in links)
    assert canvases == ["p0002", "p0004"], links  # both pages that mention it, and only those
    # Each listed page opens the viewer at that page, its text beside it.
    reading.page.goto(next(link for link in links if "p0004" in link))
    assert reading.page.wait_until(f"{reading.shown_pages()}.split(' ').indexOf('p0004') >= 0"), \
        reading.js(reading.shown_pages())
    assert "乾隆四十七年秋七月" in reading.js(f"{PANEL_TEXT}.textContent")
