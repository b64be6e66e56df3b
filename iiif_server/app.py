"""The ASGI application: routes, the one error handler, CORS and the path-length guard.

::

    /                                         index of published items
    /iiif/collection.json                     Collection of every published manifest
    /iiif/{item_id}/manifest.json             an item's Presentation 3 manifest
    /iiif/{item_id}/alto/{page_id}.xml        a page's ALTO
    /iiif/{item_id}/annotations/{page_id}.json  a page's entities as a Web Annotation page
    /iiif/{item_id}/search/{1,2}?q=           Content Search 1.0 / 2.0 (and autocomplete/{1,2})
    /iiif/{item_id}/pdf?from=&to=             PDF of a run of leaves with its text layer (iiif_server/pdf.py)
    /iiif/3/{item_id}~{page_id}               Image API 3.0 base URI (303 to info.json)
    /iiif/3/{identifier}/info.json            image information
    /iiif/3/{identifier}/{region}/{size}/{rotation}/{quality}.{format}
    /viewer/{item_id}                         Mirador on the item's manifest
    /browse, /browse/{facet}/{value}          browse by year, era, person, place, office, title (iiif_server/browse.py)
    /viewer/assets/{name}                     Mirador bundle and its start-up script
    /auth/login, /auth/token, /auth/logout    staff login and IIIF Authorization Flow 2.0 services
    /auth/probe/{identifier}                  Auth 2.0 probe service of one image
    /staff/…                                  conservation records web form (iiif_server/staff), when given a desk

Manifest and ALTO routes come before the Image API catch-all, so an item called
"3" keeps its manifest URL (Image API identifiers always contain "~").
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from iiif_server.access import AccessPolicy
from iiif_server.auth import AuthConfig, AuthService
from iiif_server.browse import BrowseConfig, BrowseService
from iiif_server.cache import DerivativeCache, MemoryCache
from iiif_server.config import ServerOptions, load_server_options
from iiif_server.errors import MAX_PATH_LENGTH, IIIFError, URITooLong
from iiif_server.image_service import ImageService, ImageServiceConfig
from iiif_server.memory import limit_arenas
from iiif_server.pdf import PdfService
from iiif_server.presentation import ManifestCache, PresentationService
from iiif_server.published import PublishedStore
from iiif_server.render import Encoding, Renderer
from iiif_server.search import SearchConfig, SearchService
from iiif_server.staff import ConservationDesk, staff_routes
from iiif_server.tokens import TokenStore
from iiif_server.viewer import ViewerService
from pipeline.staff_log import StaffLog, log_path
from storage_config.settings import Settings

log = logging.getLogger(__name__)

CORS_HEADERS = [(b"access-control-allow-origin", b"*"), (b"access-control-expose-headers", b"Link, ETag")]
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Max-Age": "86400",
}


def create_app(settings: Settings, options: ServerOptions | None = None,
               staff_desk: ConservationDesk | None = None) -> ASGIApp:
    """Build the IIIF server for the publish area of ``settings``."""
    options = options or load_server_options(settings)  # the [server] table and SHUYING_SERVER_*
    limit_arenas()  # before the render threads start: a flat RSS under load (iiif_server/memory.py)
    store = PublishedStore(settings.publish_dir, options.lookup_ttl)
    tokens = TokenStore(options.auth_path(settings.home))
    policy = AccessPolicy(settings.publish_dir, tokens, options.lookup_ttl)
    manifests = ManifestCache()
    renderer = Renderer(Encoding(jpeg_quality=options.jpeg_quality), concurrency=options.vips_concurrency)
    cache = DerivativeCache(options.cache_root(settings.home), options.cache_max_bytes)
    images = ImageService(store, renderer, cache, ImageServiceConfig(settings.base_url, options.limits,
                                                                     options.max_age, options.restricted_max_size,
                                                                     options.render_threads, options.max_upscale,
                                                                     options.heavy_area, options.heavy_renders,
                                                                     options.heavy_queue),
                          policy, MemoryCache(options.memory_cache_bytes))
    presentation = PresentationService(store, manifests, policy, base_url=settings.base_url,
                                       max_age=options.max_age)
    viewer = ViewerService(store, manifests, policy, mirador_js=options.mirador_js,
                           default_language=options.viewer_language, max_age=options.max_age)
    auth = AuthService(store, policy, tokens, AuthConfig(settings.base_url, options.session_lifetime,
                                                         options.viewer_token_lifetime, options.token_origins),
                       StaffLog(log_path(settings.home)))
    search = SearchService(store, policy, SearchConfig(settings.base_url, options.search_path(settings.home),
                                                       options.max_search_hits, options.max_age))
    browse = BrowseService(store, manifests, policy, BrowseConfig(settings.base_url, options.search_path(settings.home)))
    routes = [
        Route("/", viewer.index),
        Route("/iiif/collection.json", presentation.collection),
        Route("/iiif/{item_id}/manifest.json", presentation.manifest),
        Route("/iiif/{item_id}/alto/{page_id}.xml", presentation.alto),
        Route("/iiif/{item_id}/annotations/{page_id}.json", presentation.annotations),
        Route("/iiif/{item_id}/search/1", search.search1),
        Route("/iiif/{item_id}/search/2", search.search2),
        Route("/iiif/{item_id}/autocomplete/1", search.autocomplete1),
        Route("/iiif/{item_id}/autocomplete/2", search.autocomplete2),
        Route("/iiif/{item_id}/pdf", PdfService(store, manifests, policy, renderer, options).download),
        Route("/iiif/3/{rest:path}", images.endpoint),
        Route("/viewer/assets/{name}", viewer.asset),
        Route("/viewer/{item_id}", viewer.page),
        Route("/browse", browse.index),
        Route("/browse/{facet}/{value:path}", browse.facet),
        Route("/auth/login", auth.login_page, methods=["GET"]),
        Route("/auth/login", auth.login, methods=["POST"]),
        Route("/auth/token", auth.token),
        Route("/auth/logout", auth.logout),
        Route("/auth/probe/{identifier}", auth.probe),
    ]
    if staff_desk is not None:  # conservators' form; the desk comes from workflows/, which this may not import
        routes += staff_routes(settings, staff_desk, tokens)
    handlers = {IIIFError: iiif_error_response, HTTPException: http_error_response, Exception: unexpected_error}
    app = Starlette(routes=routes, exception_handlers=handlers)
    log.info("IIIF server for %s at %s (cache %s)", settings.publish_dir, settings.base_url, cache.root)
    return CrossOriginGuard(app)


def error_response(status: int, message: str) -> Response:
    """Return the plain-text error body every failure shares (IIIF Image 3.0 §7.3)."""
    return PlainTextResponse(f"{status} {HTTPStatus(status).phrase}: {message}\n", status_code=status,
                             headers={"Cache-Control": "no-store"})


async def iiif_error_response(request: Request, exc: Exception) -> Response:
    """Turn a IIIFError into its status and message."""
    if not isinstance(exc, IIIFError):
        return error_response(500, str(exc))
    response = error_response(exc.status, str(exc))
    response.headers.update(exc.headers)
    return response


async def http_error_response(request: Request, exc: Exception) -> Response:
    """Turn Starlette's own errors (no route, wrong method) into the same shape."""
    if not isinstance(exc, HTTPException):
        return await unexpected_error(request, exc)
    message = "not found" if exc.status_code == 404 else str(exc.detail)
    response = error_response(exc.status_code, message)
    response.headers.update(exc.headers or {})
    return response


async def unexpected_error(request: Request, exc: Exception) -> Response:
    """Log a bug or a broken published file; the client gets a 500 without a traceback."""
    log.error("%s %s failed: %s", request.method, request.url.path, exc, exc_info=exc)
    return error_response(500, "the server could not produce this resource; the error was logged")


class CrossOriginGuard:
    """ASGI middleware: CORS on every response, preflight answers, and 414 for overlong paths."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
        if len(raw_path) > MAX_PATH_LENGTH:
            error = URITooLong(f"request path is {len(raw_path)} bytes; the limit is {MAX_PATH_LENGTH}")
            await self._respond(error_response(error.status, str(error)), scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await self._respond(Response(status_code=204, headers=self._preflight(scope)), scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *CORS_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _respond(self, response: Response, scope: Scope, receive: Receive, send: Send) -> None:
        response.headers["Access-Control-Allow-Origin"] = "*"
        await response(scope, receive, send)

    @staticmethod
    def _preflight(scope: Scope) -> dict[str, str]:
        requested = dict(scope.get("headers", [])).get(b"access-control-request-headers", b"")
        return {**PREFLIGHT_HEADERS, "Access-Control-Allow-Headers": requested.decode("latin-1") or "*"}
