"""IIIF Content Search 1.0 (what Mirador 4 asks) and 2.0, answered from the OCR index.

::

    /iiif/{item_id}/search/1?q=        Search 1.0: a sc:AnnotationList with search:Hit entries
    /iiif/{item_id}/search/2?q=        Search 2.0: an AnnotationPage of painting annotations
    /iiif/{item_id}/autocomplete/1?q=  AutoComplete 1.0: a search:TermList
    /iiif/{item_id}/autocomplete/2?q=  AutoComplete 2.0: a TermPage

The manifest lists these (``pipeline.manifest.search_services``). Queries go to
:func:`pipeline.search.search` (``<home>/search.sqlite``): quoted phrases and
space-separated terms of two or more characters, all on one page, simplified and
traditional forms matching each other. Each hit carries the page text around it
(Search 1.0 ``before``/``after``, Search 2.0 ``TextQuoteSelector`` ``prefix``/``suffix``). A hit has one box per text
column it touches; each becomes an annotation on the page's canvas with
``#xywh=`` in canvas pixels (ALTO coordinates are access-image pixels, and the
canvas is the access image's size). Autocomplete offers the forms the query takes
in the book, most frequent first (学而 → 學而), as the index holds no word list.

``q`` takes the entity filters of ``shuying search`` too (``year:1782``, ``era:乾隆``,
``person:吳玉墀``, ``entity:person`` …, :mod:`pipeline.facets`), alone or with text: with
text, the hits are the text on pages that have the entities; alone, the entities
themselves. A query longer than MAX_QUERY or a filter that cannot be one (a year that
is not a number, an unknown kind, a control character, more than eight filters) is
answered 400 with the reason; it never reaches the index.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from iiif_server.access import AccessPolicy, Decision, Grant, private_headers
from iiif_server.errors import BadRequest
from iiif_server.published import PublishedStore, missing

log = logging.getLogger(__name__)

SEARCH1_CONTEXT = "http://iiif.io/api/search/1/context.json"
SEARCH2_CONTEXT = "http://iiif.io/api/search/2/context.json"
PRESENTATION2_CONTEXT = "http://iiif.io/api/presentation/2/context.json"
MIN_QUERY = 2  # the index is of character pairs
MAX_QUERY = 200  # characters, as pipeline.search.MAX_QUERY_LENGTH
SUPPORTED = {"q"}  # motivation, date and user are ignored (and reported as such)


@dataclass(frozen=True)
class Hit:
    """One occurrence: the page it is on, the text as printed, one (x, y, w, h) per column touched."""

    page_id: str
    text: str
    regions: tuple[tuple[int, int, int, int], ...]
    before: str = ""  # page text around the hit, for the snippet a viewer shows
    after: str = ""


@dataclass(frozen=True)
class SearchConfig:
    base_url: str
    index: Path
    max_hits: int = 1000
    max_age: int = 3600


def canvas_id(base_url: str, item_id: str, page_id: str) -> str:
    """Return a page's canvas id, as ``pipeline.manifest.canvas_id`` makes it."""
    return f"{base_url}/iiif/{item_id}/canvas/{page_id}"


def search1_response(hits: list[Hit], *, base_url: str, item_id: str, request_id: str,
                     ignored: list[str]) -> dict[str, Any]:
    """Build the Search 1.0 AnnotationList: one annotation per box, one search:Hit per occurrence."""
    resources, found = [], []
    for number, hit in enumerate(hits):
        ids = []
        for part, (x, y, w, h) in enumerate(hit.regions):
            ids.append(f"{request_id}#hit{number}.{part}")
            resources.append({"@id": ids[-1], "@type": "oa:Annotation", "motivation": "sc:painting",
                              "resource": {"@type": "cnt:ContentAsText", "chars": hit.text},
                              "on": f"{canvas_id(base_url, item_id, hit.page_id)}#xywh={x},{y},{w},{h}"})
        found.append({"@type": "search:Hit", "annotations": ids, "match": hit.text, **_context1(hit)})
    within: dict[str, Any] = {"@type": "sc:Layer", "total": len(hits)}
    if ignored:
        within["ignored"] = ignored
    return {"@context": [PRESENTATION2_CONTEXT, SEARCH1_CONTEXT], "@id": request_id, "@type": "sc:AnnotationList",
            "within": within, "resources": resources, "hits": found}


def search2_response(hits: list[Hit], *, base_url: str, item_id: str, request_id: str,
                     ignored: list[str]) -> dict[str, Any]:
    """Build the Search 2.0 AnnotationPage, with the matched text quoted for each annotation."""
    items, quotes = [], []
    for number, hit in enumerate(hits):
        for part, (x, y, w, h) in enumerate(hit.regions):
            annotation_id = f"{request_id}#hit{number}.{part}"
            items.append({"id": annotation_id, "type": "Annotation", "motivation": "painting",
                          "body": {"type": "TextualBody", "value": hit.text, "format": "text/plain"},
                          "target": f"{canvas_id(base_url, item_id, hit.page_id)}#xywh={x},{y},{w},{h}"})
            quotes.append({"id": f"{annotation_id}-match", "type": "Annotation", "motivation": "contextualizing",
                           "target": {"type": "SpecificResource", "source": annotation_id,
                                      "selector": [{"type": "TextQuoteSelector", "exact": hit.text,
                                                    **_context2(hit)}]}})
    page: dict[str, Any] = {"@context": SEARCH2_CONTEXT, "id": request_id, "type": "AnnotationPage",
                            "partOf": {"id": request_id, "type": "AnnotationCollection", "total": len(hits)},
                            "items": items}
    if quotes:
        page["annotations"] = [{"type": "AnnotationPage", "items": quotes}]
    if ignored:
        page["ignored"] = ignored
    return page


def _context1(hit: Hit) -> dict[str, str]:
    # Search 1.0 §3.3.2: before/after, present only when there is text there.
    return {key: value for key, value in (("before", hit.before), ("after", hit.after)) if value}


def _context2(hit: Hit) -> dict[str, str]:
    # Web Annotation TextQuoteSelector (Search 2.0 §3.3): prefix/suffix around the exact match.
    return {key: value for key, value in (("prefix", hit.before), ("suffix", hit.after)) if value}


def terms(hits: list[Hit]) -> list[tuple[str, int]]:
    """Return the printed forms of the hits with their counts, most frequent first."""
    return Counter(hit.text for hit in hits).most_common()


class SearchService:
    """Answer the search and autocomplete routes of every published item."""

    def __init__(self, store: PublishedStore, policy: AccessPolicy, config: SearchConfig) -> None:
        self.store = store
        self.policy = policy
        self.config = config

    async def search1(self, request: Request) -> Response:
        """Return Content Search 1.0 results."""
        return await self._answer(request, "search/1", self._search1_body)

    async def search2(self, request: Request) -> Response:
        """Return Content Search 2.0 results."""
        return await self._answer(request, "search/2", self._search2_body)

    async def autocomplete1(self, request: Request) -> Response:
        """Return AutoComplete 1.0 terms."""
        return await self._answer(request, "autocomplete/1", self._terms1_body)

    async def autocomplete2(self, request: Request) -> Response:
        """Return AutoComplete 2.0 terms."""
        return await self._answer(request, "autocomplete/2", self._terms2_body)

    async def _answer(self, request: Request, path: str, body) -> Response:
        item_id = request.path_params["item_id"]
        self.store.check_item(item_id)
        decision = self._decide(request, item_id)
        query = request.query_params.get("q", "").strip()
        if len(query) > MAX_QUERY:
            raise BadRequest(f"the query is {len(query)} characters; the limit is {MAX_QUERY}", "q")
        ignored = sorted(set(request.query_params) - SUPPORTED)
        request_id = f"{self.config.base_url}/iiif/{item_id}/{path}?{urlencode({'q': query})}"
        hits = await run_in_threadpool(self.find, item_id, query)
        headers = {"Cache-Control": f"public, max-age={self.config.max_age}"}
        if decision.personal:
            headers = private_headers(headers, self.config.max_age)
        return JSONResponse(body(hits, item_id, request_id, ignored, query), headers=headers,
                            media_type="application/ld+json")

    def find(self, item_id: str, query: str) -> list[Hit]:
        """Return the hits of ``query`` in one item (none for a query too short to look up)."""
        # Imported here: the OCR stack (lxml, OpenCC) is loaded only by processes that answer searches.
        from pipeline.search import SearchError, SearchQueryError, search

        if len("".join(query.split())) < MIN_QUERY:
            return []
        try:
            found = search(self.config.index, query, item_id=item_id, limit=self.config.max_hits)
        except SearchQueryError as exc:
            raise BadRequest(str(exc), "q") from None
        except SearchError as exc:
            log.warning("search %r in %s failed: %s", query, item_id, exc)
            return []
        return [Hit(hit.page_id, hit.text, tuple((x0, y0, x1 - x0, y1 - y0) for x0, y0, x1, y1 in hit.boxes),
                    hit.before, hit.after)
                for hit in found if hit.boxes]

    def _decide(self, request: Request, item_id: str) -> Decision:
        decision = self.policy.decide(request, item_id)
        if decision.grant is Grant.HIDDEN:
            raise missing(item_id, "manifest.json")
        self.store.manifest(item_id)  # only published items are searched
        return decision

    def _search1_body(self, hits: list[Hit], item_id: str, request_id: str, ignored: list[str], _query: str) -> dict:
        return search1_response(hits, base_url=self.config.base_url, item_id=item_id, request_id=request_id,
                                ignored=ignored)

    def _search2_body(self, hits: list[Hit], item_id: str, request_id: str, ignored: list[str], _query: str) -> dict:
        return search2_response(hits, base_url=self.config.base_url, item_id=item_id, request_id=request_id,
                                ignored=ignored)

    def _terms1_body(self, hits: list[Hit], item_id: str, request_id: str, ignored: list[str], _query: str) -> dict:
        search = f"{self.config.base_url}/iiif/{item_id}/search/1"
        found = [{"match": text, "url": f"{search}?{urlencode({'q': text})}", "count": count}
                 for text, count in terms(hits)]
        return {"@context": SEARCH1_CONTEXT, "@id": request_id, "@type": "search:TermList", "terms": found}

    def _terms2_body(self, hits: list[Hit], item_id: str, request_id: str, ignored: list[str], _query: str) -> dict:
        found = [{"value": text, "total": count} for text, count in terms(hits)]
        return {"@context": SEARCH2_CONTEXT, "id": request_id, "type": "TermPage", "items": found}
