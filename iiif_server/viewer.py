"""The reading page: Mirador 4, served from this server (no CDN), opened on one item's manifest.

``/viewer/{item_id}`` is a small HTML page; ``/viewer/assets/`` serves the Mirador UMD
bundle installed at setup (``npm ci --prefix iiif_server/viewer``; a wheel built after it
carries the bundle at the same place in the package) and the few lines of
``shuying-viewer.js`` that start it. The interface language follows ``?lang=``,
then the browser's Accept-Language, then :attr:`ServerOptions.viewer_language`.
"""

from __future__ import annotations

import gzip
import html
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

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
INDEX = """<!DOCTYPE html>
<html lang="zh-Hant">
<head><meta charset="utf-8"><title>书影 Shuying</title></head>
<body>
<h1>书影 Shuying</h1>
<p><a href="iiif/collection.json">IIIF Collection</a></p>
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
</head>
<body>
<div id="viewer"></div>
{staff}
<script type="application/json" id="shuying-config">{config}</script>
<script src="assets/mirador.min.js"></script>
<script src="assets/shuying-viewer.js"></script>
</body>
</html>
"""


@dataclass(frozen=True)
class Asset:
    path: Path
    media_type: str = "text/javascript; charset=utf-8"


def choose_language(requested: str, accept_language: str, default: str) -> str:
    """Return Mirador's language code for ``?lang=``, else Accept-Language, else ``default``."""
    for tag in [requested, *_accepted(accept_language)]:
        parts = tag.strip().lower().split("-")
        # "zh-Hant-TW" -> "zh-hant"; a bare "zh" names no script, so it matches nothing.
        for candidate in ("-".join(parts[:2]), parts[0]):
            if candidate in MIRADOR_LANGUAGES:
                return MIRADOR_LANGUAGES[candidate]
    return default


def viewer_page(manifest_url: str, title: str, language: str, staff: str = "") -> str:
    """Return the HTML page that opens ``manifest_url`` in Mirador (``staff``: the login/logout link)."""
    config = json.dumps({"manifest": manifest_url, "language": language}, ensure_ascii=False)
    # Inside <script>, "</" could end the element early; JSON allows escaping "<".
    config = config.replace("<", "\\u003c")
    return PAGE.format(lang=HTML_LANG.get(language, language), title=html.escape(title), config=config,
                       staff=staff)


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
        self.assets = {"mirador.min.js": Asset(mirador_js), "shuying-viewer.js": Asset(VIEWER_DIR / "shuying-viewer.js")}
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
                           staff_link(decision, item_id))
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
