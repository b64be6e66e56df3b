"""The reading page: Mirador 4, served from this server (no CDN), opened on one item's manifest.

``/viewer/{item_id}`` is a small HTML page; ``/viewer/assets/`` serves the Mirador UMD
bundle installed at setup (``npm ci --prefix iiif_server/viewer``; a wheel built after it
carries the bundle at the same place in the package) and the few lines of
``shuying-viewer.js`` that start it, and the reading panel beside Mirador
(``reading-panel.js``/``.css``: the page's OCR text, its entities, a citation and a PDF
download). The interface language follows ``?lang=``, then the browser's Accept-Language,
then :attr:`ServerOptions.viewer_language`.

``?canvas=`` (a canvas id or page id) or ``?iiif-content=`` (a IIIF Content State 1.0:
base64url of the URI-encoded JSON, or a plain canvas or manifest URI) opens the book at
that canvas (and region). A parameter this book cannot honour (undecodable, too long,
naming another manifest or no canvas of it) opens the book at its first canvas with a
notice saying why: a stale or mangled citation still shows the book, never an error.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import html
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from iiif_server.access import (
    PRIVATE_VARY,
    AccessPolicy,
    Decision,
    Grant,
    private_headers,
)
from iiif_server.config import VIEWER_DIR
from iiif_server.errors import NotFound, Unavailable
from iiif_server.headers import caching_headers, entity_tag, is_not_modified
from iiif_server.presentation import ManifestCache
from iiif_server.published import PublishedStore, missing

# Language tags (lower case) to Mirador's codes; Mirador has zh-TW (繁體) and zh-CN (简体).
MIRADOR_LANGUAGES = {
    "zh-hant": "zh-TW", "zh-tw": "zh-TW", "zh-hk": "zh-TW", "zh-mo": "zh-TW",
    "zh-hans": "zh-CN", "zh-cn": "zh-CN", "zh-sg": "zh-CN",
    "en": "en", "ja": "ja", "ko": "kr", "kr": "kr", "de": "de", "fr": "fr",
}
HTML_LANG = {"zh-TW": "zh-Hant", "zh-CN": "zh-Hans", "kr": "ko"}
# A content state naming one canvas region is a few hundred characters; anything far
# longer is not a citation of ours and is not decoded.
MAX_CONTENT_STATE = 4000
MAX_NESTING = 4  # Annotation > SpecificResource > Canvas > partOf: deeper is not a content state
XYWH = re.compile(r"xywh=(pixel:|percent:)?(\d{1,9}(?:\.\d{1,6})?),(\d{1,9}(?:\.\d{1,6})?),"
                  r"(\d{1,9}(?:\.\d{1,6})?),(\d{1,9}(?:\.\d{1,6})?)")
NOTICE = ('<div id="shuying-notice" role="status">無法開啟所引用的位置，自首頁開始。'
          "The cited view could not be opened ({reason}); the book opens at its first page.</div>\n")
Region = tuple[int, int, int, int]

INDEX = """<!DOCTYPE html>
<html lang="zh-Hant">
<head><meta charset="utf-8"><title>书影 Shuying</title></head>
<body>
<h1>书影 Shuying</h1>
<p><a href="iiif/collection.json">IIIF Collection</a> · <a href="browse">瀏覽 Browse</a> (年代、人名、地名、官名、書名)</p>
<ul>
{items}
</ul>
</body>
</html>
"""
PAGE = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · 书影</title>
<style>html, body {{ margin: 0; height: 100%; }} #viewer {{ position: absolute; inset: 0; }}
#staff {{ position: absolute; right: 8px; bottom: 4px; z-index: 2000; font: 12px sans-serif; color: #555; }}</style>
<link rel="stylesheet" href="assets/reading-panel.css">
</head>
<body>
<div id="viewer"></div>
{notice}{staff}
<script type="application/json" id="shuying-config">{config}</script>
<script src="assets/mirador.min.js"></script>
<script src="assets/shuying-viewer.js"></script>
<script src="assets/reading-panel.js"></script>
</body>
</html>
"""


@dataclass(frozen=True)
class Asset:
    path: Path
    media_type: str = "text/javascript; charset=utf-8"


class ContentStateError(ValueError):
    """A ``canvas`` or ``iiif-content`` parameter this book cannot be opened at (shown as a notice)."""


@dataclass(frozen=True)
class StartAt:
    """Where the viewer opens: a canvas id ("" for the first) and a region of it, or a notice why not."""

    canvas: str = ""
    region: Region | None = None
    notice: str = ""

    def config(self) -> dict[str, Any]:
        """Return the page config's ``start`` entry (empty when the book opens at its first canvas)."""
        if not self.canvas:
            return {}
        return {"start": {"canvas": self.canvas, "region": list(self.region) if self.region else None}}


def choose_language(requested: str, accept_language: str, default: str) -> str:
    """Return Mirador's language code for ``?lang=``, else Accept-Language, else ``default``."""
    for tag in [requested, *_accepted(accept_language)]:
        parts = tag.strip().lower().split("-")
        # "zh-Hant-TW" -> "zh-hant"; a bare "zh" names no script, so it matches nothing.
        for candidate in ("-".join(parts[:2]), parts[0]):
            if candidate in MIRADOR_LANGUAGES:
                return MIRADOR_LANGUAGES[candidate]
    return default


def viewer_page(manifest_url: str, title: str, language: str, staff: str = "",
                start: StartAt | None = None) -> str:
    """Return the HTML page that opens ``manifest_url`` in Mirador (``staff``: the login/logout link)."""
    start = start or StartAt()
    config = json.dumps({"manifest": manifest_url, "language": language, **start.config()}, ensure_ascii=False)
    # Inside <script>, "</" could end the element early; JSON allows escaping "<".
    config = config.replace("<", "\\u003c")
    notice = NOTICE.format(reason=html.escape(start.notice)) if start.notice else ""
    return PAGE.format(lang=HTML_LANG.get(language, language), title=html.escape(title), config=config,
                       staff=staff, notice=notice)


def start_at(query: Mapping[str, str], manifest: Mapping[str, Any]) -> StartAt:
    """Return where ``?iiif-content=`` (or else ``?canvas=``) opens ``manifest``; a notice if it cannot."""
    try:
        if "iiif-content" in query:
            return open_content_state(query["iiif-content"], manifest)
        if "canvas" in query:
            return _at_canvas(query["canvas"], "the canvas parameter", manifest)
    except ContentStateError as exc:
        return StartAt(notice=str(exc))
    return StartAt()


def open_content_state(value: str, manifest: Mapping[str, Any]) -> StartAt:
    """Return the canvas and region a content state names in ``manifest``.

    Raises:
        ContentStateError: it cannot be decoded, names another manifest or no canvas of this one.
    """
    resource, manifests = content_state_target(decode_content_state(value))
    manifest_id = str(manifest.get("id", ""))
    if manifests and manifest_id not in manifests:
        raise ContentStateError("the content state names another manifest")
    if resource.partition("#")[0] == manifest_id:
        return StartAt()
    return _at_canvas(resource, "the content state", manifest)


def decode_content_state(value: str) -> Any:
    """Return a content state parameter decoded: a URI (str) or the JSON it encodes.

    Content State 1.0 §6 encodes the JSON with encodeURIComponent, then base64url without
    padding; plain UTF-8 JSON in base64url and an unencoded URI are accepted too.
    """
    value = value.strip()
    if len(value) > MAX_CONTENT_STATE:
        raise ContentStateError(f"the content state is {len(value)} characters; at most {MAX_CONTENT_STATE} are read")
    if value.startswith(("http://", "https://")):
        return value
    value = value.replace(" ", "+")  # plain base64 sent unescaped: its "+" arrives as a space
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
        if not text.lstrip().startswith(("{", "http")):
            text = unquote(text, errors="strict")
        return text if text.startswith(("http://", "https://")) else json.loads(text)
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        raise ContentStateError("the content state is not base64url-encoded JSON") from None


def content_state_target(state: Any, depth: int = 0) -> tuple[str, list[str]]:
    """Return the resource a decoded content state names (``id#xywh=…``) and the manifests it is part of."""
    if depth > MAX_NESTING:
        raise ContentStateError("the content state is nested too deeply")
    if isinstance(state, str):
        return state, []
    if isinstance(state, list) and state:
        return content_state_target(state[0], depth + 1)  # several targets: open the first
    if not isinstance(state, dict):
        raise ContentStateError("the content state names no resource")
    kind = state.get("type")
    if kind == "Annotation":
        return content_state_target(state.get("target"), depth + 1)
    if kind == "SpecificResource":
        source, manifests = content_state_target(state.get("source"), depth + 1)
        fragment = _fragment(state.get("selector"))
        return (source.partition("#")[0] + fragment if fragment else source), manifests
    if kind == "Manifest" and isinstance(state.get("id"), str):
        return state["id"], [state["id"]]
    if kind == "Canvas" and isinstance(state.get("id"), str):
        return state["id"], _part_of(state.get("partOf"))
    raise ContentStateError("the content state names no canvas or manifest")


def _fragment(selector: Any) -> str:
    """Return ``#xywh=…`` from a FragmentSelector (or the first of a list), else ""."""
    for one in selector if isinstance(selector, list) else [selector]:
        if isinstance(one, dict) and one.get("type") == "FragmentSelector" and isinstance(one.get("value"), str):
            return "#" + one["value"]
    return ""


def _part_of(part_of: Any) -> list[str]:
    """Return the ids of the manifests a ``partOf`` names."""
    parts = part_of if isinstance(part_of, list) else [part_of]
    return [p["id"] for p in parts if isinstance(p, dict) and isinstance(p.get("id"), str)
            and p.get("type", "Manifest") == "Manifest"]


def _at_canvas(reference: str, what: str, manifest: Mapping[str, Any]) -> StartAt:
    """Return the canvas ``reference`` (a canvas id or page id, maybe with ``#xywh=``) names in ``manifest``."""
    if len(reference) > MAX_CONTENT_STATE:
        raise ContentStateError(f"{what} is {len(reference)} characters; at most {MAX_CONTENT_STATE} are read")
    target, _, fragment = reference.partition("#")
    for canvas in manifest.get("items") or []:
        canvas_id = str(canvas.get("id", "")) if isinstance(canvas, dict) else ""
        if canvas_id and target in (canvas_id, canvas_id.rsplit("/", 1)[-1]):
            return StartAt(canvas_id, _region(fragment, canvas))
    raise ContentStateError(f"{what} names no canvas of this book")


def _region(fragment: str, canvas: Mapping[str, Any]) -> Region | None:
    """Return an ``xywh=`` fragment as a pixel region clipped to the canvas (None for no fragment)."""
    if not fragment:
        return None
    match = XYWH.fullmatch(fragment)
    if not match:
        raise ContentStateError(f"the region {fragment[:40]!r} is not xywh=x,y,w,h")
    width, height = int(canvas.get("width") or 0), int(canvas.get("height") or 0)
    x, y, w, h = (float(v) for v in match.groups()[1:])
    if match.group(1) == "percent:":
        x, w, y, h = x * width / 100, w * width / 100, y * height / 100, h * height / 100
    left, top = min(int(x), width), min(int(y), height)
    right, bottom = min(int(x + w), width), min(int(y + h), height)
    if right <= left or bottom <= top:
        raise ContentStateError("the region lies outside the canvas")
    return left, top, right - left, bottom - top


def staff_link(decision: Decision, item_id: str) -> str:
    """Return the corner link of a non-public item's viewer: log in for full resolution, or log out."""
    if not decision.personal:
        return ""
    if decision.requester.is_staff:
        user = html.escape(decision.requester.user)
        return f'<a id="staff" href="../auth/logout">{user} · 登出 Log out</a>'
    return f'<a id="staff" href="../auth/login?next={quote("/viewer/" + item_id)}">館員登入 Staff login</a>'


def manifest_title(manifest: dict[str, Any]) -> str:
    """Return the first label value of a manifest, in whatever language it has."""
    for values in (manifest.get("label") or {}).values():
        if values:
            return str(values[0])
    return str(manifest.get("id", ""))


class ViewerService:
    """Serve the viewer page and its static assets."""

    def __init__(self, store: PublishedStore, manifests: ManifestCache, policy: AccessPolicy, *,
                 mirador_js: Path, default_language: str, max_age: int) -> None:
        self.store = store
        self.manifests = manifests
        self.policy = policy
        self.default_language = default_language
        self.max_age = max_age
        self.assets = {"mirador.min.js": Asset(mirador_js), "shuying-viewer.js": Asset(VIEWER_DIR / "shuying-viewer.js"),
                       "reading-panel.js": Asset(VIEWER_DIR / "reading-panel.js"),
                       "reading-panel.css": Asset(VIEWER_DIR / "reading-panel.css", "text/css; charset=utf-8")}
        self._gzipped: dict[tuple[str, tuple], bytes] = {}
        self._lock = threading.Lock()

    async def page(self, request: Request) -> Response:
        """Return ``/viewer/{item_id}``."""
        item_id = request.path_params["item_id"]
        self.store.check_item(item_id)
        decision = self.policy.decide(request, item_id)
        if decision.grant is Grant.HIDDEN:
            raise missing(item_id, "manifest.json")
        manifest = await run_in_threadpool(self.manifests.load, self.store.manifest(item_id))
        language = choose_language(request.query_params.get("lang", ""),
                                   request.headers.get("accept-language", ""), self.default_language)
        body = viewer_page(str(manifest.get("id", "")), manifest_title(manifest), language,
                           staff_link(decision, item_id), start_at(request.query_params, manifest))
        headers = {"Cache-Control": "no-cache", "Vary": "Accept-Language"}
        return HTMLResponse(body, headers=private_headers(headers, 0) if decision.personal else headers)

    async def index(self, request: Request) -> Response:
        """Return ``/``: every published item the requester may know of, with viewer and manifest links."""
        rows = []
        item_ids, requester = self.policy.visible(request, self.store.item_ids())
        for item_id in item_ids:
            try:
                manifest = await run_in_threadpool(self.manifests.load, self.store.manifest(item_id))
            except NotFound:
                continue  # being republished
            rows.append(f'<li><a href="viewer/{item_id}">{html.escape(manifest_title(manifest))}</a> '
                        f'({item_id}, <a href="iiif/{item_id}/manifest.json">manifest</a>)</li>')
        headers = {"Cache-Control": "no-cache", "Vary": PRIVATE_VARY}
        return HTMLResponse(INDEX.format(items="\n".join(rows)),
                            headers=private_headers(headers, 0) if requester.is_staff else headers)

    async def asset(self, request: Request) -> Response:
        """Return a static asset, gzipped when the browser accepts it (Mirador is 2 MB)."""
        name = request.path_params["name"]
        asset = self.assets.get(name)
        if asset is None:
            raise NotFound("no such viewer asset", name)
        try:
            stat = asset.path.stat()
        except FileNotFoundError:
            raise Unavailable("the viewer is not installed (no Mirador bundle): in a source checkout run "
                              "`npm ci --prefix iiif_server/viewer` (make setup); a wheel carries the bundle "
                              "only when it is built after that command", name) from None
        version = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        gzip_ok = "gzip" in request.headers.get("accept-encoding", "")
        etag = entity_tag("asset", name, version, gzip_ok)
        headers = {**caching_headers(etag, stat.st_mtime, self.max_age), "Vary": "Accept-Encoding"}
        if is_not_modified(request.headers, etag, stat.st_mtime):
            return Response(status_code=304, headers=headers)
        if gzip_ok:
            headers["Content-Encoding"] = "gzip"
            data = await run_in_threadpool(self._gzip, name, asset.path, version)
        else:
            data = await run_in_threadpool(asset.path.read_bytes)
        return Response(data, media_type=asset.media_type, headers=headers)

    def _gzip(self, name: str, path: Path, version: tuple) -> bytes:
        with self._lock:
            cached = self._gzipped.get((name, version))
        if cached is None:
            cached = gzip.compress(path.read_bytes(), compresslevel=6)
            with self._lock:
                self._gzipped = {key: v for key, v in self._gzipped.items() if key[0] != name}
                self._gzipped[(name, version)] = cached
        return cached


def _accepted(header: str) -> list[str]:
    """Return Accept-Language tags, most preferred first."""
    weighted = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]
