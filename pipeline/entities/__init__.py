"""Entities in a page's OCR text: dates, persons, places, offices, titles, holdings, provenances.

``find_entities(page, context)`` is pure and cheap, so it can run after OCR at publish
and again over the whole collection when a rule or a list changes. Each entity keeps
its page, its span in the page text, the ALTO boxes of that span, a confidence and the
rule or list that found it (:class:`Entity`, published through ``Entity.as_dict()``).
Precision comes before recall: every rule needs a list or a strong pattern, and where
two findings overlap the stronger kind keeps the text (a holding's 浙江 is its
provenance, not a separate place). Rules and sources: docs/entities.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from pipeline.entities.alto_text import (
    PageText,
    glyph_confidences,
    line_starts,
    page_text_from_alto,
    page_text_from_lines,
    span_boxes,
)
from pipeline.entities.context import (
    DEFAULT_PERIOD,
    BookContext,
    context_from_batch,
    period_of_edition,
)
from pipeline.entities.dates import find_dates
from pipeline.entities.model import ACCEPT, Entity, Found, Kind
from pipeline.entities.names import find_offices, find_persons, find_places
from pipeline.entities.reigns import Reign, reign_table, reigns_named
from pipeline.entities.titles import find_titles
from pipeline.entities.vocab import EntityDataError, fold
from pipeline.ocr.model import REVIEW_THRESHOLD

__all__ = ["ACCEPT", "DEFAULT_PERIOD", "BookContext", "Entity", "EntityDataError", "Kind", "PageText", "Reign",
           "context_from_batch", "entities_of_alto", "find_entities", "glyph_confidences", "page_text_from_alto", "page_text_from_lines",
           "period_of_edition", "reign_table", "reigns_named"]

# Where findings overlap, the earlier kind keeps the characters (holding and provenance
# share theirs by design: the provenance is the first part of the holding).
PRIORITY = (Kind.HOLDING, Kind.PROVENANCE, Kind.TITLE, Kind.DATE, Kind.PERSON, Kind.OFFICE, Kind.PLACE)
# The OCR review threshold (pipeline.ocr.REVIEW_THRESHOLD): a glyph read with less
# confidence than this makes the entity it is in doubtful.
DOUBTFUL_GLYPH = REVIEW_THRESHOLD
SHARED = frozenset({Kind.HOLDING, Kind.PROVENANCE})


def find_entities(page: PageText, context: BookContext | None = None,
                  confidences: Sequence[float | None] | None = None) -> list[Entity]:
    """Return the entities on one page, in page order (see the module docstring).

    ``confidences`` are the OCR's per-character confidences (:func:`glyph_confidences`):
    a span with a doubtful glyph loses confidence, so a misread name is not published
    as found.
    """
    context = context or BookContext()
    text = page.text
    folded = fold(text)
    persons = find_persons(text, folded, context)
    found = (find_titles(text, folded, line_starts(page), context.titles) + find_dates(folded, context)
             + persons + find_offices(text, folded) + find_places(text, folded, persons))
    kept = _resolve([_doubt(f, text, confidences) for f in found] if confidences else found)
    return [_entity(page, f) for f in sorted(kept, key=lambda f: (f.start, PRIORITY.index(f.kind)))]


def entities_of_alto(path: Path, page_id: str, context: BookContext | None = None) -> list[Entity]:
    """Read one ALTO file and return its entities, weighed by the OCR's glyph confidences."""
    page = page_text_from_alto(path, page_id)
    return find_entities(page, context, glyph_confidences(path, page))


def _doubt(f: Found, text: str, confidences: Sequence[float | None]) -> Found:
    """Multiply a finding's confidence by the square of its least sure glyph's, if that is below DOUBTFUL_GLYPH."""
    weakest = min((c for c in _span_confidences(f, text, confidences) if c is not None), default=1.0)
    if weakest >= DOUBTFUL_GLYPH:
        return f
    note = f"a glyph was read with confidence {weakest:.2f}"
    return replace(f, confidence=f.confidence * weakest * weakest, notes=(*f.notes, note))


def _span_confidences(f: Found, text: str, confidences: Sequence[float | None]) -> list[float | None]:
    """The span's glyph confidences; an end glyph doubled just outside the span counts with the surer of the two.

    OCR sometimes reads one glyph twice (嘉嘉靖庚申): the rule matched the second, the
    doubtful copy, while the first is the real glyph.
    """
    span = list(confidences[f.start:f.end])
    for inside, outside, k in ((f.start, f.start - 1, 0), (f.end - 1, f.end, -1)):
        if 0 <= outside < len(text) and text[outside] == text[inside] and confidences[outside] is not None:
            span[k] = max(span[k] or 0.0, confidences[outside] or 0.0)
    return span


def _resolve(found: list[Found]) -> list[Found]:
    """Keep the findings that do not overlap a stronger one: accepted first, then by kind, confidence, length.

    A doubtful finding (a name after an office, kept for review) never hides an accepted one.
    """
    ranked = sorted(found, key=lambda f: (f.confidence < ACCEPT, PRIORITY.index(f.kind), -f.confidence,
                                          f.start - f.end, f.start))
    kept: list[Found] = []
    for f in ranked:
        if not any(_clash(f, k) for k in kept):
            kept.append(f)
    return kept


def _clash(a: Found, b: Found) -> bool:
    overlap = a.start < b.end and b.start < a.end
    if not overlap:
        return False
    return not (a.kind in SHARED and b.kind in SHARED and a.kind is not b.kind)


def _entity(page: PageText, f: Found) -> Entity:
    return Entity(f.kind, page.text[f.start:f.end], f.value, page.page_id, f.start, f.end,
                  span_boxes(page, f.start, f.end), f.confidence, f.rule, f.notes)
