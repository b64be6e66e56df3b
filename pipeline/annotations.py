"""A page's entities as W3C Web Annotations in a IIIF Presentation 3 AnnotationPage, and the book's entity context.

Each accepted entity (confidence at least ``ACCEPT``) is one Annotation on the page's
canvas, ``target`` ``<canvas id>#xywh=x,y,w,h``: the union of its glyph boxes. ALTO
boxes are access-image pixels and the canvas is the access image's size
(``pipeline.manifest``: ``CanvasSource.width/height`` come from the derivative), so
the numbers carry over unchanged; a union is one rectangle, which every viewer draws
(Mirador 4 draws only a target's first selector). The bodies::

    {"type": "TextualBody", "value": <text as found>, "format": "text/plain", "language": …, "purpose": "tagging"}
    {"type": "TextualBody", "value": <kind>, "purpose": "classifying"}
    {"id": <base>/browse/<facet>/<value>, "type": "Text", "format": "text/html",
     "purpose": "identifying", "label": {"zh": [<label>]}}          only when a browse page exists

The motivation is ``identifying`` when the third body is there (a date with a year; a
person, place, office or title with its normalised name), else ``tagging``.

The book's context (period, persons, titles: ``pipeline.entities.context_from_batch``)
is published beside the manifest as ``entity-context.json``, so ``shuying index`` can
find the same entities again from the published ALTO when the batch folder is gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pipeline.batch import Batch
from pipeline.entities import ACCEPT, BookContext, Entity, context_from_batch
from pipeline.facets import browse_path, identifying_facet

__all__ = ["CONTEXT_FILE", "PRESENTATION_CONTEXT", "accepted", "annotation", "annotation_page",
           "annotation_page_id", "book_record", "context_of_record", "text_language"]

PRESENTATION_CONTEXT = "http://iiif.io/api/presentation/3/context.json"
CONTEXT_FILE = "entity-context.json"
DEFAULT_LANGUAGE = "zh-Hant"


def annotation_page_id(base_url: str, item_id: str, page_id: str) -> str:
    """Return the id (and URL) of a page's AnnotationPage."""
    return f"{base_url.rstrip('/')}/iiif/{item_id}/annotations/{page_id}.json"


def accepted(entities: Iterable[Entity]) -> list[Entity]:
    """Return the entities published as found (confidence at least ACCEPT), in page order."""
    return [e for e in entities if e.confidence >= ACCEPT and e.boxes]


def annotation_page(entities: Iterable[Entity], *, canvas_id: str, page_url: str, base_url: str,
                    language: str, size: tuple[int, int]) -> dict[str, Any]:
    """Build the AnnotationPage of one canvas: one Annotation per accepted entity, numbered from 1.

    ``size`` is the canvas (access image) width and height: a box reaching past it is cut
    to it, so every target lies on the canvas.
    """
    base = page_url.removesuffix(".json")
    items = [annotation(e.as_dict(), annotation_id=f"{base}/{n}", canvas_id=canvas_id, base_url=base_url,
                        language=language, size=size)
             for n, e in enumerate(accepted(entities), start=1)]
    return {"@context": PRESENTATION_CONTEXT, "id": page_url, "type": "AnnotationPage", "items": items}


def annotation(entity: Mapping[str, Any], *, annotation_id: str, canvas_id: str, base_url: str, language: str,
               size: tuple[int, int]) -> dict[str, Any]:
    """Build one entity's Annotation (see the module docstring for its bodies)."""
    bodies: list[dict[str, Any]] = [
        {"type": "TextualBody", "value": entity["text"], "format": "text/plain", "language": language,
         "purpose": "tagging"},
        {"type": "TextualBody", "value": entity["kind"], "purpose": "classifying"},
    ]
    identified = identifying_facet(entity)
    if identified:
        facet, value = identified
        bodies.append({"id": base_url.rstrip("/") + browse_path(facet, value), "type": "Text", "format": "text/html",
                       "purpose": "identifying", "label": {"zh": [_label(entity, facet, value)]}})
    return {"id": annotation_id, "type": "Annotation", "motivation": "identifying" if identified else "tagging",
            "body": bodies, "target": f"{canvas_id}#xywh={_xywh(entity['boxes'], size)}"}


def _label(entity: Mapping[str, Any], facet: str, value: str) -> str:
    """A date shows its text and year, 乾隆四十七年 (1782); a name shows itself."""
    return f"{entity['text']} ({value})" if facet == "year" else value


def _xywh(boxes: list[list[int]], size: tuple[int, int]) -> str:
    """Return the union of ``boxes`` (x0, y0, x1, y1) as x,y,w,h, cut to the canvas (at least 1 px)."""
    width, height = size
    x0 = min(max(0, min(b[0] for b in boxes)), width - 1)
    y0 = min(max(0, min(b[1] for b in boxes)), height - 1)
    x1 = max(x0 + 1, min(width, max(b[2] for b in boxes)))
    y1 = max(y0 + 1, min(height, max(b[3] for b in boxes)))
    return f"{x0},{y0},{x1 - x0},{y1 - y0}"


def text_language(batch: Batch) -> str:
    """Return the language tag of the OCR text: the batch's first Chinese language with a script, else its first."""
    scripted = [tag for tag in batch.languages if tag.startswith("zh-")]
    return (scripted or list(batch.languages) or [DEFAULT_LANGUAGE])[0]


def book_record(batch: Batch) -> dict[str, Any]:
    """Return what ``entity-context.json`` holds: the book's entity context and its text language."""
    context = context_from_batch(batch)
    return {"period": list(context.period), "persons": list(context.persons), "titles": list(context.titles),
            "script": context.script, "language": text_language(batch)}


def context_of_record(record: Mapping[str, Any]) -> tuple[BookContext, str]:
    """Return the context and language an ``entity-context.json`` record gives (defaults for missing keys).

    Raises:
        ValueError: a value has the wrong shape (the caller names the file).
    """
    default = BookContext()
    period = record.get("period", default.period)
    if not (isinstance(period, list | tuple) and len(period) == 2 and all(isinstance(y, int) for y in period)):
        raise ValueError(f"period {period!r} is not two years")
    context = BookContext((period[0], period[1]), tuple(str(p) for p in record.get("persons", ())),
                          tuple(str(t) for t in record.get("titles", ())), str(record.get("script", default.script)))
    return context, str(record.get("language") or DEFAULT_LANGUAGE)
