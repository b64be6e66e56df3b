"""Presentation API resources: each item's manifest, ALTO and annotation pages, and a Collection of all items.

Manifests, ALTO and the entity AnnotationPages (``annotations/<page>.json``, linked from
each canvas) are served byte for byte as the ingest published them; only the
top-level Collection (``/iiif/collection.json``) is built here, from the manifests'
ids, labels and thumbnails.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from iiif_server.access import (
    PRIVATE_VARY,
    AccessPolicy,
    Decision,
    Grant,
    private_headers,
)
from iiif_server.errors import NotFound
from iiif_server.headers import caching_headers, entity_tag, is_not_modified
from iiif_server.published import PublishedStore, SourceFile, missing

PRESENTATION_CONTEXT = "http://iiif.io/api/presentation/3/context.json"
MANIFEST_MEDIA_TYPE = f'application/ld+json;profile="{PRESENTATION_CONTEXT}"'
ALTO_MEDIA_TYPE = "application/xml"  # what the manifests' seeAlso declares
COLLECTION_LABEL = {"zh-Hant": ["書影：已發布古籍"], "zh-Hans": ["书影：已发布古籍"], "en": ["Shuying: published books"]}
MANIFESTS_REMEMBERED = 1024


def collection_id(base_url: str) -> str:
    """Return the id (and URL) of the top-level Collection."""
    return f"{base_url.rstrip('/')}/iiif/collection.json"


def build_collection(manifests: list[dict[str, Any]], base_url: str) -> dict[str, Any]:
    """Build a IIIF Presentation 3 Collection that lists ``manifests`` in the given order."""
    return {
        "@context": PRESENTATION_CONTEXT,
        "id": collection_id(base_url),
        "type": "Collection",
        "label": COLLECTION_LABEL,
        "items": [manifest_reference(manifest) for manifest in manifests],
    }


def manifest_reference(manifest: dict[str, Any]) -> dict[str, Any]:
    """Return the reference to a manifest that a Collection lists: id, type, label, thumbnail."""
    reference = {"id": manifest["id"], "type": "Manifest", "label": manifest.get("label") or {"none": [manifest["id"]]}}
    if manifest.get("thumbnail"):
        reference["thumbnail"] = manifest["thumbnail"]
    return reference


class ManifestCache:
    """Parsed manifests by file version, so the Collection and the viewer don't re-read them."""

    def __init__(self, capacity: int = MANIFESTS_REMEMBERED) -> None:
        self.capacity = capacity
        self._parsed: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, source: SourceFile) -> dict[str, Any]:
        """Return the parsed manifest; a manifest that is not JSON counts as not published."""
        with self._lock:
            cached = self._parsed.get(source.version)
        if cached is not None:
            return cached
        try:
            manifest = json.loads(Path(source.path).read_bytes())
        except (OSError, ValueError):
            raise NotFound("manifest is missing or unreadable", source.path.parent.name) from None
        with self._lock:
            self._parsed[source.version] = manifest
            while len(self._parsed) > self.capacity:
                self._parsed.popitem(last=False)
        return manifest


class PresentationService:
    """Serve manifests, ALTO and the Collection."""

    def __init__(self, store: PublishedStore, manifests: ManifestCache, policy: AccessPolicy, *,
                 base_url: str, max_age: int) -> None:
        self.store = store
        self.manifests = manifests
        self.policy = policy
        self.base_url = base_url
        self.max_age = max_age

    async def manifest(self, request: Request) -> Response:
        """Return ``/iiif/{item_id}/manifest.json``."""
        item_id = request.path_params["item_id"]
        self.store.check_item(item_id)
        decision = self._decide(request, item_id, "manifest.json")
        return await self._file(request, self.store.manifest(item_id), MANIFEST_MEDIA_TYPE, decision)

    async def alto(self, request: Request) -> Response:
        """Return ``/iiif/{item_id}/alto/{page_id}.xml``."""
        item_id, page_id = request.path_params["item_id"], request.path_params["page_id"]
        self.store.check_item(item_id)
        decision = self._decide(request, item_id, "alto", f"{page_id}.xml")
        return await self._file(request, self.store.alto(item_id, page_id), ALTO_MEDIA_TYPE, decision)

    async def annotations(self, request: Request) -> Response:
        """Return ``/iiif/{item_id}/annotations/{page_id}.json``, the page's entities (same tiers as its ALTO)."""
        item_id, page_id = request.path_params["item_id"], request.path_params["page_id"]
        self.store.check_item(item_id)
        decision = self._decide(request, item_id, "annotations", f"{page_id}.json")
        return await self._file(request, self.store.annotations(item_id, page_id), MANIFEST_MEDIA_TYPE, decision)

    async def collection(self, request: Request) -> Response:
        """Return the Collection of every published item the requester may know of."""
        item_ids, requester = self.policy.visible(request, self.store.item_ids())
        sources = self._manifest_sources(item_ids)
        etag = entity_tag("collection", self.base_url, *(s.version for s in sources))
        newest = max((s.mtime for s in sources), default=0.0)
        headers = {**caching_headers(etag, newest, self.max_age), "Vary": PRIVATE_VARY}
        if requester.is_staff:  # lists staff-only books: never for a shared cache
            headers = private_headers(headers, self.max_age)
        if is_not_modified(request.headers, etag, newest):
            return Response(status_code=304, headers=headers)
        manifests = await run_in_threadpool(lambda: [self.manifests.load(s) for s in sources])
        body = json.dumps(build_collection(manifests, self.base_url), indent=2, ensure_ascii=False)
        return Response(body, media_type=MANIFEST_MEDIA_TYPE, headers=headers)

    def _manifest_sources(self, item_ids: list[str]) -> list[SourceFile]:
        sources = []
        for item_id in item_ids:
            try:
                sources.append(self.store.manifest(item_id))
            except NotFound:
                continue  # swapped out by a republish between listing and reading
        return sources

    def _decide(self, request: Request, item_id: str, *parts: str) -> Decision:
        decision = self.policy.decide(request, item_id)
        if decision.grant is Grant.HIDDEN:
            raise missing(item_id, *parts)  # exactly what an item that does not exist gets
        return decision

    async def _file(self, request: Request, source: SourceFile, media_type: str, decision: Decision) -> Response:
        etag = entity_tag("file", source.version)
        headers = caching_headers(etag, source.mtime, self.max_age)
        if decision.personal:
            headers = private_headers(headers, self.max_age)
        if is_not_modified(request.headers, etag, source.mtime):
            return Response(status_code=304, headers=headers)
        data = await run_in_threadpool(Path(source.path).read_bytes)
        return Response(data, media_type=media_type, headers=headers)
