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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import unquote

from anyio import CapacityLimiter, to_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from iiif_server.access import AccessPolicy, Decision, Grant, private_headers
from iiif_server.auth import probe_service
from iiif_server.cache import DerivativeCache, Lru, MemoryCache
from iiif_server.errors import BadRequest, Busy, NotFound
from iiif_server.geometry import (
    Dimensions,
    Limits,
    Pyramid,
    RenderPlan,
    canonical_path,
    image_limits,
    plan_reduced,
    plan_render,
    reduced_canonical_path,
    reduced_size,
    rotated_size,
    stated_limits,
)
from iiif_server.headers import caching_headers, entity_tag, is_not_modified
from iiif_server.image_request import ImageRequest, parse_image_request
from iiif_server.info import MEDIA_TYPE, PROFILE_URI, build_info
from iiif_server.memory import Trimmer
from iiif_server.published import (
    PageRef,
    PublishedStore,
    SourceFile,
    image_parts,
    missing,
    parse_identifier,
)
from iiif_server.render import Renderer

log = logging.getLogger(__name__)

PREFIX = "/iiif/3/"
PYRAMIDS_REMEMBERED = 4096
PREPARED_REMEMBERED = 4096  # planned responses (about 2 KB each with their strings: ~8 MB when full)
# Bump when rendering changes in a way that makes earlier cached bytes wrong.
RENDER_VERSION = "1"
RETRY_AFTER = 5  # seconds a client refused for lack of a heavy-render slot is told to wait


@dataclass(frozen=True)
class ImageServiceConfig:
    base_url: str
    limits: Limits
    max_age: int
    restricted_max_size: int = 1000
    render_threads: int = 4
    max_upscale: float = 1.0
    heavy_area: int = 4_000_000
    heavy_renders: int = 1
    heavy_queue: int = 2


@dataclass(frozen=True)
class Prepared:
    """A planned image response: what to render, its ETag and cache key, and its headers."""

    plan: RenderPlan
    etag: str
    key: str
    headers: dict[str, str]


class ImageService:
    """Answer Image API requests for published pages."""

    def __init__(self, store: PublishedStore, renderer: Renderer, cache: DerivativeCache,
                 config: ImageServiceConfig, policy: AccessPolicy, memory: MemoryCache | None = None) -> None:
        self.store = store
        self.renderer = renderer
        self.cache = cache
        self.config = config
        self.policy = policy
        self.memory = memory or MemoryCache(0)
        self._pyramids = Lru(PYRAMIDS_REMEMBERED)
        self._prepared = Lru(PREPARED_REMEMBERED)
        self._limiter: CapacityLimiter | None = None
        self._heavy = RenderGate(config.heavy_renders, config.heavy_queue)
        self._trimmer = Trimmer()

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
        self._source(request, identifier)
        return RedirectResponse(f"{self.service_id(identifier)}/info.json", status_code=303)

    async def info(self, request: Request, identifier: str) -> Response:
        """Return info.json as JSON-LD (or plain JSON when that is all the client accepts)."""
        page, source, decision = self._source(request, identifier)
        pyramid = await self._pyramid(source)
        reduced = self._reduction(decision, pyramid)
        media_type = _info_media_type(request.headers.get("accept", ""))
        # The formats are in it (sorted: a frozenset's order differs between processes) as info.json lists them.
        formats = sorted(fmt.value for fmt in self.renderer.formats)
        etag = entity_tag("info", source.version, self.config, media_type, RENDER_VERSION, decision.level, reduced,
                          formats)
        headers = self._headers(decision, etag, source, {"Vary": "Accept",
                                                         "Link": f'<{PROFILE_URI}>;rel="profile"'})
        if is_not_modified(request.headers, etag, source.mtime):
            return Response(status_code=304, headers=headers)
        services = (probe_service(self.config.base_url, identifier),) if decision.personal else ()
        stated = stated_limits(self.config.limits, pyramid.dimensions)  # what ^max means (geometry.stated_limits)
        info = build_info(self.service_id(identifier), pyramid, stated, tile_size=pyramid.tile_size,
                          part_of=self._manifest_url(page), reduced=reduced, services=services,
                          formats=self.renderer.formats)
        return Response(json.dumps(info, indent=2, ensure_ascii=False), media_type=media_type, headers=headers)

    async def image(self, request: Request, identifier: str, params: list[str]) -> Response:
        """Return the image for ``region/size/rotation/quality.format``."""
        image_request = parse_image_request(identifier, *params)
        self.renderer.require(image_request.format)
        _, source, decision = self._source(request, identifier)
        # Everything but the pixels follows from the request, the file version and the grant: plan once.
        memo_key = (identifier, *params, source.version, decision.grant)
        prepared = self._prepared.get(memo_key)
        if prepared is None:
            prepared = await self._prepare(image_request, source, decision)
            self._prepared.put(memo_key, prepared)
        if is_not_modified(request.headers, prepared.etag, source.mtime):
            return Response(status_code=304, headers=prepared.headers)
        data = self.memory.get(prepared.key) or self.cache.get(prepared.key)
        if data is None:
            # A stored tile is one small read: cheaper here than a hop to a worker thread.
            data = self.renderer.stored(source.path, source.version, prepared.plan)
        if data is None:
            # So is pasting a region from up to four of them: the thread hop and the wait for the GIL
            # to come back after each decode cost more, and set the tail latency (benchmarks/README.md).
            data = self.renderer.assembled(source.path, source.version, prepared.plan)
            if data is not None:
                self.cache.put(prepared.key, data)
                self._trimmer.tick()  # Pillow's buffers are malloc'd too
        if data is None:
            data = await self._render(source, prepared)
        self.memory.put(prepared.key, data)
        return Response(data, media_type=prepared.plan.format.media_type, headers=prepared.headers)

    async def _render(self, source: SourceFile, prepared: Prepared) -> bytes:
        plan = prepared.plan
        if rotated_size(plan.output, plan.rotation).area <= self.config.heavy_area:
            return await to_thread.run_sync(self._render_and_store, source, plan, prepared.key,
                                            limiter=self._render_limiter())
        # A large output is held whole in memory while it is encoded: few at a time, the rest refused.
        async with self._heavy.slot():
            data = self.memory.get(prepared.key) or self.cache.get(prepared.key)  # rendered while we waited?
            if data is not None:
                return data
            return await to_thread.run_sync(self._render_and_store, source, plan, prepared.key,
                                            limiter=self._render_limiter())

    def _limits(self, pyramid: Pyramid) -> Limits:
        return image_limits(self.config.limits, pyramid.dimensions, self.config.max_upscale)

    async def _prepare(self, image_request: ImageRequest, source: SourceFile, decision: Decision) -> Prepared:
        identifier = image_request.identifier
        pyramid = await self._pyramid(source)
        reduced = self._reduction(decision, pyramid)
        if reduced is None:
            limits, stated = self._limits(pyramid), stated_limits(self.config.limits, pyramid.dimensions)
            plan = plan_render(image_request, pyramid, limits, stated=stated)
            canonical = canonical_path(image_request, pyramid.dimensions, limits, stated)
        else:
            plan = plan_reduced(image_request, pyramid, self.config.limits, reduced)
            canonical = reduced_canonical_path(image_request, plan, pyramid.dimensions)
        # The reduction is part of the ETag and so of the cache key: full-size bytes never answer a reduced view.
        # So is the output size: "max" and "^max" stay the canonical form when new limits change what they mean.
        etag = entity_tag("image", source.version, canonical, self.renderer.encoding, RENDER_VERSION, reduced,
                          plan.output)
        link = f'<{self.service_id(identifier)}/{canonical}>;rel="canonical", <{PROFILE_URI}>;rel="profile"'
        return Prepared(plan, etag, self.cache.key(etag), self._headers(decision, etag, source, {"Link": link}))

    def _render_limiter(self) -> CapacityLimiter:
        # Created on first use: anyio limiters belong to the running event loop.
        if self._limiter is None:
            self._limiter = CapacityLimiter(self.config.render_threads)
        return self._limiter

    def service_id(self, identifier: str) -> str:
        """Return the image service's id (its base URI, §5.2)."""
        return f"{self.config.base_url}{PREFIX}{identifier}"

    def _manifest_url(self, page: PageRef) -> str:
        try:
            self.store.manifest(page.item_id)
        except NotFound:
            return ""  # an image published without a manifest (yet): no partOf
        return f"{self.config.base_url}/iiif/{page.item_id}/manifest.json"

    def _source(self, request: Request, identifier: str) -> tuple[PageRef, SourceFile, Decision]:
        page = parse_identifier(identifier)
        decision = self.policy.decide(request, page.item_id)
        if decision.grant is Grant.HIDDEN:
            raise missing(*image_parts(page))  # exactly what a page that does not exist gets
        return page, self.store.page_image(page), decision

    def _reduction(self, decision: Decision, pyramid: Pyramid) -> Dimensions | None:
        if decision.grant is not Grant.REDUCED:
            return None
        return reduced_size(pyramid.dimensions, self.config.restricted_max_size)

    def _headers(self, decision: Decision, etag: str, source: SourceFile, extra: dict[str, str]) -> dict[str, str]:
        headers = {**caching_headers(etag, source.mtime, self.config.max_age), **extra}
        return private_headers(headers, self.config.max_age) if decision.personal else headers

    async def _pyramid(self, source: SourceFile) -> Pyramid:
        pyramid = self._pyramids.get(source.version)
        if pyramid is None:
            pyramid = await run_in_threadpool(self.renderer.probe, source.path, source.version)
            self._pyramids.put(source.version, pyramid)
        return pyramid

    def _render_and_store(self, source: SourceFile, plan: RenderPlan, key: str) -> bytes:
        data = self.renderer.render(source.path, source.version, plan)
        self.cache.put(key, data)
        self._trimmer.tick()  # give freed pixel buffers back now and then (iiif_server/memory.py)
        return data


class RenderGate:
    """Let ``slots`` heavy renders run at once and ``queue`` more wait; refuse the rest with 503 (:class:`Busy`)."""

    def __init__(self, slots: int, queue: int) -> None:
        self.slots = max(1, slots)
        self.queue = max(0, queue)
        self._inside = 0  # running + waiting; only touched on the event loop, so no lock
        self._limiter: CapacityLimiter | None = None

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the block, waiting in the queue if need be."""
        if self._inside >= self.slots + self.queue:
            raise Busy(f"the server is rendering {self.slots} large image(s) with {self.queue} waiting; "
                       "try again shortly", RETRY_AFTER)
        if self._limiter is None:  # anyio limiters belong to the running event loop
            self._limiter = CapacityLimiter(self.slots)
        self._inside += 1
        try:
            async with self._limiter:
                yield
        finally:
            self._inside -= 1


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
