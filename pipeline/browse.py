"""What the collection-level browse pages read from the search index: facet values, and the pages under one.

The ``entity`` table of :mod:`pipeline.search` holds one row per facet value of each
accepted entity (:func:`pipeline.facets.entity_facets`). Both queries return rows per
item, so the server can drop the items a requester may not know of before it counts
or lists anything. Values are matched in their folded form (吳玉墀 = 吴玉墀).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.search import fold, open_index

__all__ = ["FacetCount", "FacetPage", "facet_counts", "facet_pages"]


@dataclass(frozen=True)
class FacetCount:
    """How many pages of one item have one facet value; ``value`` is a printed form of it."""

    facet: str
    folded: str
    value: str
    item_id: str
    pages: int


@dataclass(frozen=True)
class FacetPage:
    """One page with a facet value, and the texts on it that gave the value (in page order)."""

    item_id: str
    page_id: str
    texts: tuple[str, ...]


def facet_counts(db: Path, facets: tuple[str, ...]) -> list[FacetCount]:
    """Return the pages per (facet value, item) of ``facets``; none when there is no index yet."""
    if not Path(db).is_file():
        return []
    marks = ", ".join("?" for _ in facets)
    sql = (f"SELECT facet, folded, MIN(value), item_id, COUNT(DISTINCT page_id) FROM entity WHERE facet IN ({marks})"
           " GROUP BY facet, folded, item_id ORDER BY facet, folded, item_id")
    with open_index(db) as conn:
        return [FacetCount(*row) for row in conn.execute(sql, facets).fetchall()]


def facet_pages(db: Path, facet: str, value: str) -> list[FacetPage]:
    """Return every page with ``facet`` = ``value`` (folded), by item and in reading order."""
    if not Path(db).is_file():
        return []
    sql = ("SELECT e.item_id, e.page_id, e.text FROM entity e LEFT JOIN page p"
           " ON p.item_id = e.item_id AND p.page_id = e.page_id"
           " WHERE e.facet = ? AND e.folded = ? ORDER BY e.item_id, p.id, e.page_id, e.start")
    with open_index(db) as conn:
        rows = conn.execute(sql, (facet, fold(value))).fetchall()
    pages: dict[tuple[str, str], list[str]] = {}
    for item_id, page_id, text in rows:
        texts = pages.setdefault((item_id, page_id), [])
        if text not in texts:
            texts.append(text)
    return [FacetPage(item_id, page_id, tuple(texts)) for (item_id, page_id), texts in pages.items()]
