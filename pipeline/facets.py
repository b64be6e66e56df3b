"""The facets entities are browsed and filtered by: year, era, person, place, office, title (and entity kind).

One entity (``Entity.as_dict()``, docs/entities.md) gives a facet value for each
normalised reading it carries: a date its Gregorian ``year`` and its ``era`` (the reign
name); a person its ``name``; a place, office or title its own; a holding or provenance
the place, office and person it names (浙江吳玉墀家藏本 is found under 浙江 and
吳玉墀). Every entity is also under ``entity:<kind>``. The search index stores one row
per value (:func:`pipeline.search.index_item`), the browse pages list them, and a query
takes them as filters: ``year:1782 era:乾隆 person:吳玉墀 entity:person``.

Filters are parsed here, before any text reaches SQLite, and refused precisely
(:class:`FilterError`) when a value cannot be one: a year that is not a number, a kind
that does not exist, a control character, a value longer than any name, too many of
them. Only the names below are filters; any other ``word:text`` stays text, so a
quoted colon in OCR text is still found.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from pipeline.errors import ExitCode, ShuyingError

__all__ = ["BROWSE_FACETS", "FACETS", "KINDS", "MAX_FILTERS", "Filter", "FilterError", "browse_path",
           "check_value", "entity_facets", "identifying_facet", "split_filters"]

KINDS = ("date", "person", "place", "office", "title", "holding", "provenance")
BROWSE_FACETS = ("year", "era", "person", "place", "office", "title")  # each has /browse/<facet>/<value>
FACETS = ("entity", *BROWSE_FACETS)
MAX_FILTERS = 8  # more facets than exist, so a real query never reaches it
MAX_VALUE = 40  # characters: longer than any name, era, year or book title in the lists
# A date's year is the only numeric facet; the reign table spans 960..1949.
YEAR = re.compile(r"[0-9]{1,4}")
# Where a filter may start: at the start or after a space, a name from FACETS, a colon.
FILTER = re.compile(r"(?<!\S)([A-Za-z]+):(\S*)")
# Which value keys of an entity give which facet, by kind (docs/entities.md, the keys of `value`).
VALUE_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "date": (("year", "year"), ("era", "reign")),
    "person": (("person", "name"),),
    "place": (("place", "place"),),
    "office": (("office", "office"),),
    "title": (("title", "title"),),
    "holding": (("place", "place"), ("office", "office"), ("person", "person")),
    "provenance": (("place", "place"), ("office", "office"), ("person", "person")),
}
# The facet an annotation of this kind identifies (links to), when its value has one.
IDENTIFYING = {"date": "year", "person": "person", "place": "place", "office": "office", "title": "title"}


class FilterError(ShuyingError):
    """A filter in a query cannot be searched: an unknown kind, a bad year, a value too long or with controls."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class Filter:
    """One ``facet:value`` of a query; ``value`` as typed (the index compares folded forms)."""

    facet: str
    value: str


def entity_facets(entity: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return the (facet, value) pairs of one entity dict, ``entity:<kind>`` first, without repeats."""
    value = entity.get("value") or {}
    pairs = [("entity", str(entity["kind"]))]
    for facet, key in VALUE_KEYS.get(str(entity["kind"]), ()):
        found = value.get(key)
        if found is not None and str(found).strip():
            pairs.append((facet, str(found).strip()))
    return list(dict.fromkeys(pairs))


def identifying_facet(entity: Mapping[str, Any]) -> tuple[str, str] | None:
    """Return the facet and value an entity's annotation links to (a browse page), or None to only tag it."""
    facet = IDENTIFYING.get(str(entity["kind"]))
    found = dict(entity_facets(entity)).get(facet or "")
    return (facet, found) if facet and found else None


def browse_path(facet: str, value: str) -> str:
    """Return the browse page's path of a facet value: ``/browse/year/1782``, ``/browse/era/%E4%B9%BE%E9%9A%86``."""
    return f"/browse/{facet}/{quote(value, safe='')}"


def split_filters(query: str) -> tuple[str, tuple[Filter, ...]]:
    """Take the filters out of a query; return the remaining text and the filters, checked.

    Raises:
        FilterError: a filter's value cannot be one (see :func:`check_value`), or there are
            more than MAX_FILTERS.
    """
    filters: list[Filter] = []

    def take(match: re.Match[str]) -> str:
        facet = match[1].lower()
        if facet not in FACETS:
            return match[0]  # not a filter: searched as text, as before filters existed
        filters.append(Filter(facet, check_value(facet, match[2])))
        if len(filters) > MAX_FILTERS:
            raise FilterError(f"query has more than {MAX_FILTERS} filters; give at most {MAX_FILTERS}")
        return " "

    text = FILTER.sub(take, query)
    if not filters:
        return query, ()  # untouched: its terms (and messages about them) are the query's own
    return " ".join(text.split()), tuple(dict.fromkeys(filters))


def check_value(facet: str, value: str) -> str:
    """Return a filter's value in NFC, or raise FilterError saying why it cannot be one."""
    shown = value if len(value) <= MAX_VALUE else value[:MAX_VALUE] + "…"
    value = unicodedata.normalize("NFC", value).strip()
    if facet not in FACETS:
        raise FilterError(f"unknown filter {facet!r}: use one of {', '.join(FACETS)}")
    if not value:
        raise FilterError(f"filter {facet}: give a value, e.g. {_example(facet)}")
    if len(value) > MAX_VALUE:
        raise FilterError(f"filter {facet}:{shown!r} is {len(value)} characters; the limit is {MAX_VALUE}")
    if any(unicodedata.category(ch)[0] in "CZ" for ch in value):
        raise FilterError(f"filter {facet}:{shown!r} contains a control character or a space")
    if facet == "year" and not YEAR.fullmatch(value):
        raise FilterError(f"filter year:{shown!r} is not a year: give 1 to 4 digits, e.g. year:1782")
    if facet == "entity" and value.lower() not in KINDS:
        raise FilterError(f"filter entity:{shown!r}: no such kind; use one of {', '.join(KINDS)}")
    return str(int(value)) if facet == "year" else value.lower() if facet == "entity" else value


def _example(facet: str) -> str:
    return {"entity": "entity:person", "year": "year:1782", "era": "era:乾隆"}.get(facet, f"{facet}:吳玉墀")
