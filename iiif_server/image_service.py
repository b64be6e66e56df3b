"""The Image API 3.0 endpoints: base URI redirect, info.json and image requests.

Requests are parsed from the raw (still percent-encoded) path, so an identifier's
``%2F`` stays inside the identifier instead of becoming a path separator (§9).
The order of work is cheapest first: parse, resolve the file, plan against the
limits, answer 304 from validators, then the derivative cache, and only then render
(in a worker thread, so the event loop keeps serving cached tiles).
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from iiif_server.access import AccessPolicy, AccessRequest, Resource
from iiif_server.cache import DerivativeCache
from iiif_server.errors import BadRequest, NotFound
from iiif_server.geometry import (
    Limits,
    Pyramid,
    RenderPlan,
    canonical_path,
    plan_render,
)
from iiif_server.headers import caching_headers, entity_tag, is_not_modified
from iiif_server.image_request import parse_image_request
from iiif_server.info import MEDIA_TYPE, PROFILE_URI, build_info
from iiif_server.published import PageRef, PublishedStore, SourceFile, parse_identifier
from iiif_server.render import Renderer
from pipeline.access import TILE_SIZE

log = logging.getLogger(__name__)

PREFIX = "/iiif/3/"
PYRAMIDS_REMEMBERED = 4096
# Bump when rendering changes in a way that makes earlier cached bytes wrong.
RENDER_VERSION = "1"


@dataclass(frozen=True)
class ImageServiceConfig:
    base_url: str
    limits: Limits
    max_age: int


class ImageService:
    """Answer Image API requests for published pages."""

    def __init__(self, store: PublishedStore, renderer: Renderer, cache: DerivativeCache,
                 config: ImageServiceConfig, policy: AccessPolicy) -> None:
        self.store = store
        self.renderer = renderer
        self.cache = cache
        self.config = config
        self.policy = policy
        self._pyramids: OrderedDict[Hashable, Pyramid] = OrderedDict()

    async def endpoint(self, request: Request) -> Response:
        """Dispatch ``/iiif/3/...`` by the number of path segments."""
        segments = raw_segments(request, PREFIX)
        identifier = decode_segment(segments[0], "identifier")
        if len(segments) == 1:
            return await self.redirect(request, identifier)
        if len(segments) == 2 and segments[1] == "info.json":
            return await self.info(request, identifier)
        if len(segments) == 5:
            params = [decode_segment(segment, "path") for segment in segments[1:]]
            return await self.image(request, identifier, params)
        raise NotFound("not an Image API 3.0 path: {identifier}/{region}/{size}/{rotation}/{quality}.{format}")

    async def redirect(self, request: Request, identifier: str) -> Response:
        """Send the base URI to its info.json (§2: 303 recommended)."""
        self._source(request, identifier, Resource.INFO)
        return RedirectResponse(f"{self.service_id(identifier)}/info.json", status_code=303)

    async def info(self, request: Request, identifier: str) -> Response:
        """Return info.json as JSON-LD (or plain JSON when that is all the client accepts)."""
        page, source = self._source(request, identifier, Resource.INFO)
        media_type = _info_media_type(request.headers.get("accept", ""))
        etag = entity_tag("info", source.version, self.config, media_type, RENDER_VERSION)
        headers = {**caching_headers(etag, source.mtime, self.config.max_age), "Vary": "Accept",
                   "Link": f'<{PROFILE_URI}>;rel="profile"'}
        if is_not_modified(request.headers, etag, source.mtime):
            return Response(status_code=304, headers=headers)
        pyramid = await self._pyramid(source)
        info = build_info(self.service_id(identifier), pyramid, self.config.limits, tile_size=TILE_SIZE,
                          part_of=self._manifest_url(page))
        return Response(json.dumps(info, indent=2), media_type=media_type, headers=headers)

    async def image(self, request: Request, identifier: str, params: list[str]) -> Response:
        """Return the image for ``region/size/rotation/quality.format``."""
        image_request = parse_image_request(identifier, *params)
        _, source = self._source(request, identifier, Resource.IMAGE)
        pyramid = await self._pyramid(source)
        plan = plan_render(image_request, pyramid, self.config.limits)
        canonical = canonical_path(image_request, pyramid.dimensions, self.config.limits)
        etag = entity_tag("image", source.version, canonical, self.renderer.encoding, RENDER_VERSION)
        headers = caching_headers(etag, source.mtime, self.config.max_age)
        headers["Link"] = f'<{self.service_id(identifier)}/{canonical}>;rel="canonical", <{PROFILE_URI}>;rel="profile"'
        if is_not_modified(request.headers, etag, source.mtime):
            return Response(status_code=304, headers=headers)
        key = self.cache.key(etag)
        data = self.cache.get(key)
        if data is None:
            data = await run_in_threadpool(self._render_and_store, source, plan, key)
        return Response(data, media_type=plan.format.media_type, headers=headers)

    def service_id(self, identifier: str) -> str:
        """Return the image service's id (its base URI, §5.2)."""
        return f"{self.config.base_url}{PREFIX}{identifier}"

    def _manifest_url(self, page: PageRef) -> str:
        try:
            self.store.manifest(page.item_id)
        except NotFound:
            return ""  # an image published without a manifest (yet): no partOf
        return f"{self.config.base_url}/iiif/{page.item_id}/manifest.json"

    def _source(self, request: Request, identifier: str, resource: Resource) -> tuple[PageRef, SourceFile]:
        page = parse_identifier(identifier)
        source = self.store.page_image(page)
        client = request.client.host if request.client else ""
        self.policy.check(AccessRequest(resource, page.item_id, page.page_id, client))
        return page, source

    async def _pyramid(self, source: SourceFile) -> Pyramid:
        pyramid = self._pyramids.get(source.version)
        if pyramid is None:
            pyramid = await run_in_threadpool(self.renderer.probe, source.path, source.version)
            self._pyramids[source.version] = pyramid
            while len(self._pyramids) > PYRAMIDS_REMEMBERED:
                self._pyramids.popitem(last=False)
        return pyramid

    def _render_and_store(self, source: SourceFile, plan: RenderPlan, key: str) -> bytes:
        data = self.renderer.render(source.path, source.version, plan)
        self.cache.put(key, data)
        return data


def raw_segments(request: Request, prefix: str) -> list[str]:
    """Split the still-encoded request path after ``prefix`` into segments."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
    path = raw.decode("latin-1").split("?", 1)[0]
    if not path.startswith(prefix):
        raise NotFound("not an Image API path")
    return path[len(prefix):].split("/")


def decode_segment(segment: str, parameter: str) -> str:
    """Percent-decode one path segment; bytes that are not UTF-8 are a client error."""
    try:
        return unquote(segment, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest("is not UTF-8 after percent-decoding", parameter) from None


def _info_media_type(accept: str) -> str:
    # §5.1: JSON-LD unless the client asks for plain JSON and not for JSON-LD.
    if "application/json" in accept and "application/ld+json" not in accept:
        return "application/json"
    return MEDIA_TYPE
