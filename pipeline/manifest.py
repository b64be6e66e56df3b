"""IIIF Presentation 3 manifest for one batch, built with iiif-prezi3 and no network.

Sizes come from our own derivatives (``CanvasSource.width/height``), never from
fetching info.json (prezi3's ``create_canvas_from_iiif`` would). URL layout::

    {base_url}/iiif/{item_id}/manifest.json            the manifest
    {base_url}/iiif/{item_id}/canvas/{page_id}         a canvas
    {base_url}/iiif/{item_id}/range/LOG_nnnn           a range (juan, section): the METS logical div's id
    {base_url}/iiif/3/{item_id}~{page_id}              the page's Image API 3 service
    {base_url}/iiif/{item_id}/search/{1,2}             Content Search 1.0 and 2.0 (autocomplete/{1,2})
    {base_url}/iiif/{item_id}/annotations/{page_id}.json  a canvas's entity annotations (pipeline.annotations)

Woodblock books read right to left, so vertical-rl batches get viewingDirection
"right-to-left" and behavior "paged" (so viewers pair the two half-leaves of a spread).
Covers stay paged so spreads still pair; colour targets and spines are "non-paged".
``structures`` (the table of contents) is written from the same tree as the METS
logical structMap (:attr:`Batch.logical`): one range per juan, preface … with its
sections nested, each range's id ending in its METS div's id.
:func:`build_manifest` returns a plain dict in a stable key order; write it with
:func:`dump_manifest`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from iiif_prezi3 import (
    Annotation,
    AnnotationBody,
    AnnotationPage,
    Canvas,
    KeyValueString,
    Manifest,
    ServiceV3,
)

from pipeline.batch import Batch, Leaf, PageType, ScriptDirection
from pipeline.structure import VOLUME_TYPE, Division, div_ids

__all__ = ["CanvasSource", "build_manifest", "canvas_id", "dump_manifest", "image_service_id", "manifest_id",
           "ranges", "search_services"]

ALTO_PROFILE = "http://www.loc.gov/standards/alto/v4/alto.xsd"
THUMBNAIL_SIZE = "!200,200"
NON_PAGED = frozenset({PageType.COLOUR_TARGET, PageType.SPINE})
# Catalogue text (names, edition, binding …) is Chinese in whichever script the
# cataloguer used, so it is tagged "zh"; only the title carries the batch's title_lang.
CATALOGUE_LANG = "zh"
LEADING_KEYS = ("@context", "id", "type", "label")


@dataclass(frozen=True)
class CanvasSource:
    """What a canvas needs: the page, its pixel size and its image service (and ALTO)."""

    page: Leaf
    width: int
    height: int
    image_service_id: str
    alto_url: str = ""
    annotations_url: str = ""  # the canvas's AnnotationPage of entities, linked by reference


def image_service_id(base_url: str, item_id: str, page: Leaf) -> str:
    """Return the IIIF Image API 3 service id of a page."""
    return f"{base_url.rstrip('/')}/iiif/3/{item_id}~{page.page_id}"


def manifest_id(base_url: str, item_id: str) -> str:
    """Return the manifest's id (and URL)."""
    return f"{base_url.rstrip('/')}/iiif/{item_id}/manifest.json"


def canvas_id(base_url: str, item_id: str, page: Leaf) -> str:
    """Return the id of a page's canvas."""
    return f"{base_url.rstrip('/')}/iiif/{item_id}/canvas/{page.page_id}"


def build_manifest(batch: Batch, canvases: list[CanvasSource], *, base_url: str) -> dict[str, Any]:
    """Build the manifest of ``batch`` with one canvas per source, in reading order."""
    ordered = sorted(canvases, key=lambda c: c.page.order)
    items = [_canvas(batch, source, base_url) for source in ordered]
    manifest = Manifest(
        id=manifest_id(base_url, batch.item_id),
        label=_title_label(batch),
        metadata=_metadata(batch),
        viewingDirection=_viewing_direction(batch),
        behavior=["paged"],
        items=items,
    )
    if batch.source_organization:
        manifest.requiredStatement = KeyValueString(
            label={"zh-Hant": ["來源"], "en": ["Attribution"]},
            value={CATALOGUE_LANG: [batch.source_organization]},
        )
    if items:
        manifest.thumbnail = [_thumbnail(ordered[0].image_service_id)]
    built = json.loads(manifest.json())
    built["service"] = search_services(base_url, batch.item_id)  # plain dicts: Search 1.0 uses @id/@type
    for canvas, source in zip(built["items"], ordered):
        if source.annotations_url:  # a reference, not prezi3's AnnotationPage (which embeds an empty "items")
            canvas["annotations"] = [{"id": source.annotations_url, "type": "AnnotationPage"}]
    structures = ranges(batch, base_url)
    if structures:
        built["structures"] = structures
    return _ordered(built)


def ranges(batch: Batch, base_url: str) -> list[dict[str, Any]]:
    """The manifest's ``structures``: the divisions below the work and volume, as nested ranges."""
    logical = batch.logical
    ids = div_ids(logical)
    volume = logical.children[0] if logical.children and logical.children[0].kind == VOLUME_TYPE else None
    top = volume.children if volume else logical.children
    leaves = {leaf.page_id: leaf for leaf in batch.leaves}
    return [_range(batch, division, ids, leaves, base_url) for division in top]


def _range(batch: Batch, division: Division, ids: dict[int, str], leaves: dict[str, Leaf],
           base_url: str) -> dict[str, Any]:
    """A range lists its leaves in reading order, a nested range in place of the leaves it holds."""
    items: list[dict[str, Any]] = []
    placed: set[int] = set()
    for leaf_id in division.leaf_ids:
        child = next((c for c in division.children if leaf_id in c.leaf_ids), None)
        if child is None:
            items.append({"id": canvas_id(base_url, batch.item_id, leaves[leaf_id]), "type": "Canvas"})
        elif id(child) not in placed:
            placed.add(id(child))
            items.append(_range(batch, child, ids, leaves, base_url))
    return {"id": f"{base_url.rstrip('/')}/iiif/{batch.item_id}/range/{ids[id(division)]}", "type": "Range",
            "label": {batch.title_lang: [division.label]}, "items": items}


def search_services(base_url: str, item_id: str) -> list[dict[str, Any]]:
    """Return the Content Search 1.0 (Mirador 4) and 2.0 services of an item, each with autocomplete."""
    base = f"{base_url.rstrip('/')}/iiif/{item_id}"
    return [
        {"@context": "http://iiif.io/api/search/1/context.json", "@id": f"{base}/search/1",
         "@type": "SearchService1", "profile": "http://iiif.io/api/search/1/search",
         "service": [{"@id": f"{base}/autocomplete/1", "@type": "AutoCompleteService1",
                      "profile": "http://iiif.io/api/search/1/autocomplete"}]},
        {"id": f"{base}/search/2", "type": "SearchService2",
         "service": [{"id": f"{base}/autocomplete/2", "type": "AutoCompleteService2"}]},
    ]


def dump_manifest(manifest: dict[str, Any]) -> str:
    """Serialise a manifest dict as indented UTF-8 JSON text ending in a newline."""
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def _canvas(batch: Batch, source: CanvasSource, base_url: str) -> Canvas:
    target = canvas_id(base_url, batch.item_id, source.page)
    body = AnnotationBody(
        id=f"{source.image_service_id}/full/max/0/default.jpg",
        type="Image",
        format="image/jpeg",
        width=int(source.width),
        height=int(source.height),
        service=[ServiceV3(id=source.image_service_id, type="ImageService3", profile="level2")],
    )
    annotation = Annotation(id=f"{target}/annotation/image", motivation="painting", body=body, target=target)
    canvas = Canvas(
        id=target,
        label=_page_label(batch, source.page),
        width=int(source.width),
        height=int(source.height),
        items=[AnnotationPage(id=f"{target}/page/image", items=[annotation])],
        thumbnail=[_thumbnail(source.image_service_id)],
    )
    if source.alto_url:
        canvas.seeAlso = [
            {"id": source.alto_url, "type": "Dataset", "format": "application/xml", "profile": ALTO_PROFILE}
        ]
    if source.page.page_type in NON_PAGED:
        canvas.behavior = ["non-paged"]
    return canvas


def _thumbnail(service_id: str) -> AnnotationBody:
    return AnnotationBody(id=f"{service_id}/full/{THUMBNAIL_SIZE}/0/default.jpg", type="Image", format="image/jpeg")


def _title_label(batch: Batch) -> dict[str, list[str]]:
    label = {batch.title_lang: [batch.title]}
    title_en = batch.extra.get("title_en", "")
    if title_en:
        label["en"] = [title_en]
    return label


def _page_label(batch: Batch, page: Leaf) -> dict[str, list[str]]:
    # Labels generated from the position ("1", "2" …) are in no language.
    language = "none" if page.label.isascii() and page.label.isdigit() else batch.title_lang
    return {language: [page.label]}


def _metadata(batch: Batch) -> list[KeyValueString]:
    rows = [
        ("題名", "Title", batch.title, batch.title_lang),
        ("著者", "Creator", "；".join(_creator(c.name, c.period, c.role) for c in batch.creators), CATALOGUE_LANG),
        ("版本", "Edition", batch.edition, CATALOGUE_LANG),
        ("裝幀", "Binding", batch.binding, CATALOGUE_LANG),
        ("行款", "Layout", batch.layout, CATALOGUE_LANG),
        ("索書號", "Call number", batch.call_number, "none"),
        ("普查編號", "Census number", batch.census_number, "none"),
        ("冊", "Volume", batch.volume_label, CATALOGUE_LANG),
        ("永久標識", "Persistent identifier", batch.pid, "none"),
    ]
    return [
        KeyValueString(label={"zh-Hant": [zh], "en": [en]}, value={language: [value]})
        for zh, en, value, language in rows
        if value
    ]


def _creator(name: str, period: str, role: str) -> str:
    """Format a creator as catalogues do: （明）王守仁撰."""
    return f"（{period}）{name}{role}" if period else f"{name}{role}"


def _viewing_direction(batch: Batch) -> str:
    return "right-to-left" if batch.script_direction is ScriptDirection.VERTICAL_RL else "left-to-right"


def _ordered(node: Any) -> Any:
    """Put @context, id, type and label first in every object; keep the rest in model order."""
    if isinstance(node, list):
        return [_ordered(item) for item in node]
    if not isinstance(node, dict):
        return node
    leading = {key: node[key] for key in LEADING_KEYS if key in node}
    rest = {key: value for key, value in node.items() if key not in leading}
    return {key: _ordered(value) for key, value in {**leading, **rest}.items()}
