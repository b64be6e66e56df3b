"""Collection-level browse by the entities found in the OCR text: by year, era, person, place, office, title.

::

    /browse                      every facet, with its values and how many pages have each
    /browse/{facet}/{value}      every item and page with that value, each linking to the viewer at that page

Both answer HTML, or JSON of the same with ``?format=json`` or ``Accept: application/json``.
They read the search index's ``entity`` table (:mod:`pipeline.browse`), filled at publish
and by ``shuying index``. An item the requester may not know of (staff-only, for an
anonymous requester: :meth:`AccessPolicy.visible`) is neither counted nor listed, so a
value found only in such items is not found. A page links to the viewer at its canvas,
``/viewer/<item>?canvas=<canvas id, URL-encoded>`` (iiif_server/viewer.py). Every value shown is HTML-escaped and every
link URL-encoded: the values are OCR text.
"""

from __future__ import annotations

import html
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from iiif_server.access import PRIVATE_VARY, AccessPolicy, Requester, private_headers
from iiif_server.errors import BadRequest, NotFound
from iiif_server.presentation import ManifestCache
from iiif_server.published import PublishedStore
from iiif_server.viewer import manifest_title
from pipeline.facets import BROWSE_FACETS, FilterError, browse_path, check_value

FACET_LABELS = {"year": "年份 Year", "era": "年號 Era", "person": "人物 Person", "place": "地名 Place",
                "office": "官名 Office", "title": "書名 Title"}
PAGE = """<!DOCTYPE html>
<html lang="zh-Hant">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · 书影</title></head>
<body>
<p><a href="{base}/">书影 Shuying</a> › <a href="{base}/browse">瀏覽 Browse</a></p>
<h1>{title}</h1>
{body}
</body>
</html>
"""


@dataclass(frozen=True)
class BrowseConfig:
    base_url: str
    index: Path


class BrowseService:
    """Answer /browse and /browse/{facet}/{value} from the search index, within the requester's tiers."""

    def __init__(self, store: PublishedStore, manifests: ManifestCache, policy: AccessPolicy,
                 config: BrowseConfig) -> None:
        self.store = store
        self.manifests = manifests
        self.policy = policy
        self.config = config

    async def index(self, request: Request) -> Response:
        """Return ``/browse``: per facet, its values with their page and item counts."""
        from pipeline.browse import facet_counts

        counts = await run_in_threadpool(facet_counts, self.config.index, BROWSE_FACETS)
        visible, requester = self._visible(request, {c.item_id for c in counts})
        facets: dict[str, list[dict[str, Any]]] = {facet: [] for facet in BROWSE_FACETS}
        totals: dict[tuple[str, str], list[Any]] = defaultdict(lambda: ["", 0, 0])
        for count in (c for c in counts if c.item_id in visible):
            entry = totals[(count.facet, count.folded)]
            entry[0], entry[1], entry[2] = entry[0] or count.value, entry[1] + count.pages, entry[2] + 1
        for (facet, _), (value, pages, items) in totals.items():
            facets[facet].append({"value": value, "pages": pages, "items": items,
                                  "url": self.config.base_url + browse_path(facet, value)})
        for facet, values in facets.items():
            values.sort(key=lambda v: (int(v["value"]),) if facet == "year" else (-v["pages"], v["value"]))
        body = {"id": f"{self.config.base_url}/browse", "facets": facets}
        return self._respond(request, body, requester, "瀏覽 Browse", _index_html)

    async def facet(self, request: Request) -> Response:
        """Return ``/browse/{facet}/{value}``: every visible item and page with that value."""
        from pipeline.browse import facet_pages

        facet, value = request.path_params["facet"], request.path_params["value"]
        if facet not in BROWSE_FACETS:
            raise NotFound("no such facet: use one of " + ", ".join(BROWSE_FACETS), "facet")
        try:
            value = check_value(facet, value)
        except FilterError as exc:
            raise BadRequest(str(exc), "value") from None
        pages = await run_in_threadpool(facet_pages, self.config.index, facet, value)
        visible, requester = self._visible(request, {p.item_id for p in pages})
        items = await run_in_threadpool(self._items, [p for p in pages if p.item_id in visible])
        if not items:
            raise NotFound(f"nothing published is under {facet} {value!r}", "value")
        body = {"id": self.config.base_url + browse_path(facet, value), "facet": facet, "value": value,
                "items": items}
        return self._respond(request, body, requester, f"{FACET_LABELS[facet]}：{value}", _facet_html)

    def _visible(self, request: Request, item_ids: set[str]) -> tuple[set[str], Requester]:
        """The published items among ``item_ids`` the requester may know of (not the index's word for it)."""
        published = set(self.store.item_ids())
        visible, requester = self.policy.visible(request, sorted(item_ids & published))
        return set(visible), requester

    def _items(self, pages: list[Any]) -> list[dict[str, Any]]:
        """Group pages by item, with the item's title and each page's canvas label from its manifest."""
        by_item: dict[str, list[Any]] = defaultdict(list)
        for page in pages:
            by_item[page.item_id].append(page)
        items = []
        for item_id, found in by_item.items():
            try:
                manifest = self.manifests.load(self.store.manifest(item_id))
            except NotFound:
                continue  # being republished
            labels = {str(c.get("id", "")).rsplit("/", 1)[-1]: _label(c) for c in manifest.get("items", [])}
            items.append({"item_id": item_id, "label": manifest_title(manifest), "manifest": manifest.get("id"),
                          "viewer": f"{self.config.base_url}/viewer/{item_id}",
                          "pages": [self._page(item_id, p, labels) for p in found if p.page_id in labels]})
        return [item for item in items if item["pages"]]

    def _page(self, item_id: str, page: Any, labels: dict[str, str]) -> dict[str, Any]:
        base = self.config.base_url
        canvas = f"{base}/iiif/{item_id}/canvas/{page.page_id}"
        return {"page_id": page.page_id, "canvas": canvas, "label": labels[page.page_id],
                "viewer": f"{base}/viewer/{item_id}?{urlencode({'canvas': canvas})}", "texts": list(page.texts)}

    def _respond(self, request: Request, body: dict[str, Any], requester: Requester, title: str,
                 render: Any) -> Response:
        headers = {"Cache-Control": "no-cache", "Vary": f"Accept, {PRIVATE_VARY}"}
        if requester.is_staff:  # may list staff-only books: never for a shared cache
            headers = private_headers(headers, 0)
        if wants_json(request):
            return JSONResponse(body, headers=headers)
        page = PAGE.format(title=html.escape(title), base=html.escape(self.config.base_url), body=render(body))
        return HTMLResponse(page, headers=headers)


def wants_json(request: Request) -> bool:
    """Tell whether the client asked for JSON: ``?format=json``, or an Accept naming JSON and not HTML."""
    if request.query_params.get("format") == "json":
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _label(canvas: dict[str, Any]) -> str:
    for values in (canvas.get("label") or {}).values():
        if values:
            return str(values[0])
    return ""


def _index_html(body: dict[str, Any]) -> str:
    sections = []
    for facet, values in body["facets"].items():
        rows = "\n".join(f'<li><a href="{html.escape(v["url"])}">{html.escape(v["value"])}</a> '
                         f'({v["pages"]} 頁 pages, {v["items"]} 種 items)</li>' for v in values)
        sections.append(f"<h2>{FACET_LABELS[facet]}</h2>\n<ul>\n{rows or '<li>—</li>'}\n</ul>")
    return "\n".join(sections)


def _facet_html(body: dict[str, Any]) -> str:
    parts = []
    for item in body["items"]:
        pages = "\n".join(f'<li><a href="{html.escape(p["viewer"])}">{html.escape(p["label"] or p["page_id"])}</a>'
                          f' {html.escape("、".join(p["texts"]))}</li>' for p in item["pages"])
        parts.append(f'<h2><a href="{html.escape(item["viewer"])}">{html.escape(item["label"])}</a> '
                     f'({html.escape(item["item_id"])})</h2>\n<ul>\n{pages}\n</ul>')
    return "\n".join(parts)
