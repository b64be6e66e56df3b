"""Full-text search over OCR text: SQLite FTS5 on character bigrams, with boxes to highlight.

Chinese has no spaces, so SQLite's word tokenizers see a whole column as one word,
and its trigram tokenizer cannot match two-character queries. We index every
overlapping pair of characters as a token ("學而時習" → "學而 而時 時習"): a query of
two or more characters is the phrase of its pairs. A page's text runs on from one
column (or line) into the next, so phrases split by a column break are found too.
FTS5 only picks candidate pages; the match itself is found again in the page text,
where every character keeps its ALTO box (in access-image pixels).

A query is one or more terms, all of which must be on one page: a quoted phrase
("學而時習", 「學而」, “學而”) is one term, and unquoted text is split at spaces
(学而 君子). A lone character between spaces cannot be looked up in a bigram index,
so it is read as part of the next term (有 朋 is 有朋). Every term is searched as
the literal phrase of its bigrams, quoted for FTS5, so no query syntax gets through.

A query may also hold entity filters (``year:1782 era:乾隆 person:吳玉墀 entity:person``,
:mod:`pipeline.facets`): every filter must match an entity found on the page (the
``entity`` table, filled from ``Entity.as_dict()`` when an item is indexed). With text
terms, the hits are the terms' occurrences on those pages; without, the entities
that match a filter.

Traditional and simplified forms are folded together before indexing and querying:
each character is mapped to simplified with OpenCC (``t2s``, the ``opencc`` package),
so 学而 finds 學而 and 云 finds 雲. Folding is per character and keeps length, so
positions in the folded text are positions on the page.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import sqlite3
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from pipeline import xmlns
from pipeline.errors import DatabaseError, ExitCode, ShuyingError
from pipeline.facets import Filter, FilterError, entity_facets, split_filters
from pipeline.ocr.tesseract import is_cjk
from pipeline.sqlite_db import Database, session

__all__ = ["MAX_QUERY_LENGTH", "PageText", "SearchError", "SearchHit", "SearchIndexError", "SearchQueryError",
           "fold", "index_item", "open_index", "query_terms", "read_alto_page", "search"]

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), access-image pixels
MIN_QUERY = 2  # characters; a bigram index cannot look up one
BLOCK_BREAK = "\n"  # between blocks outside the reading flow: no phrase is found across it
CONTEXT_CHARS = 12  # characters of page text shown before and after a hit
QUOTES = {'"': '"', "「": "」", "『": "』", "“": "”"}
MAX_QUERY_LENGTH = 200  # characters of a query, filters included
CONTROLS = {chr(c) for c in range(32)} - set("\t\n\r") | {"\x7f"}
_SCHEMA = (
    (
        "CREATE TABLE IF NOT EXISTS page (id INTEGER PRIMARY KEY, item_id TEXT NOT NULL, page_id TEXT NOT NULL,"
        " text TEXT NOT NULL, boxes TEXT NOT NULL, UNIQUE (item_id, page_id))"
    ),
    "CREATE VIRTUAL TABLE IF NOT EXISTS page_grams USING fts5(grams, tokenize = 'unicode61 remove_diacritics 0')",
    # One row per facet value of an accepted entity (pipeline.facets.entity_facets); folded is what filters match.
    (
        "CREATE TABLE IF NOT EXISTS entity (id INTEGER PRIMARY KEY, item_id TEXT NOT NULL, page_id TEXT NOT NULL,"
        " kind TEXT NOT NULL, facet TEXT NOT NULL, value TEXT NOT NULL, folded TEXT NOT NULL, text TEXT NOT NULL,"
        " start INTEGER NOT NULL, stop INTEGER NOT NULL, boxes TEXT NOT NULL, confidence REAL NOT NULL)"
    ),
    "CREATE INDEX IF NOT EXISTS entity_facet ON entity (facet, folded)",
    "CREATE INDEX IF NOT EXISTS entity_page ON entity (item_id, page_id)",
)
# The index is filled when an item is published (ingest, reshoot) and by `shuying index`, from the published ALTO.
REMEDY = ("delete it: search then works again for items published from now on; then run `shuying index` to "
          "index again the text and entities of the items published before")


class SearchError(ShuyingError):
    """The index cannot be read or written, or a query cannot be searched."""


class SearchQueryError(SearchError, FilterError):
    """A query cannot be searched as given: too long, a control character, a bad filter (exit code USAGE)."""

    exit_code = ExitCode.USAGE


class SearchIndexError(DatabaseError, SearchError):
    """The index file is damaged, locked or unwritable (a SearchError: the IIIF search service answers no hits)."""


@dataclass(frozen=True)
class PageText:
    """A page's text in reading order; ``boxes[i]`` is the box and line of ``text[i]`` (None for a space)."""

    page_id: str
    text: str
    boxes: tuple[tuple[Box, int] | None, ...]


@dataclass(frozen=True)
class SearchHit:
    """One occurrence of a query: where it is and one box per line (column) it touches."""

    item_id: str
    page_id: str
    text: str  # as on the page
    boxes: tuple[Box, ...]
    before: str = ""  # page text just before the hit (within its block), for snippets
    after: str = ""


def fold(text: str, converter: object | None = None) -> str:
    """Return ``text`` in the form indexed and searched: NFC, case-folded, simplified, same length.

    ``converter`` is an ``opencc.OpenCC("t2s")`` to reuse; one is made when not given.
    """
    converter = converter or _converter()
    return "".join(_fold_char(ch, converter) for ch in unicodedata.normalize("NFC", text))


def read_alto_page(path: Path, page_id: str) -> PageText:
    """Read the Strings of an ALTO file in reading order, each character with its String's box and line.

    The blocks of the reading flow (ALTO ReadingOrder's OrderedGroup) run on into each
    other, so a phrase split by a column break is found; blocks outside it (版心,
    adverts, running heads) follow, each set apart by a break no phrase crosses.
    """
    try:
        tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    except (OSError, etree.XMLSyntaxError) as exc:
        raise SearchError(f"{path}: cannot read ALTO: {exc}") from None
    text: list[str] = []
    boxes: list[tuple[Box, int] | None] = []
    line_number = 0
    for block, separate in _blocks_in_reading_order(tree):
        if separate and text:
            text.append(BLOCK_BREAK)
            boxes.append(None)
        for line in block.iter(xmlns.tag("alto", "TextLine")):
            for string in line.iter(xmlns.tag("alto", "String")):
                content = unicodedata.normalize("NFC", string.get("CONTENT", ""))
                if text and text[-1] != BLOCK_BREAK and not (is_cjk(text[-1]) and content and is_cjk(content[0])):
                    text.append(" ")
                    boxes.append(None)
                box = _box(string)
                text.extend(content)
                boxes.extend([(box, line_number)] * len(content))
            line_number += 1
    return PageText(page_id, "".join(text), tuple(boxes))


def _blocks_in_reading_order(tree: etree._ElementTree) -> list[tuple[etree._Element, bool]]:
    """Return (TextBlock, set apart) pairs: the flow in ReadingOrder first, then the rest.

    ALTO without a ReadingOrder (older files) is read in document order, as one flow.
    """
    blocks = list(tree.iter(xmlns.tag("alto", "TextBlock")))
    group = tree.find(f"{{{xmlns.NAMESPACES['alto']}}}ReadingOrder/{{{xmlns.NAMESPACES['alto']}}}OrderedGroup")
    if tree.find(f"{{{xmlns.NAMESPACES['alto']}}}ReadingOrder") is None:
        return [(block, False) for block in blocks]
    by_id = {block.get("ID"): block for block in blocks}
    flow_ids = [ref.get("REF") for ref in group.iter(xmlns.tag("alto", "ElementRef"))] if group is not None else []
    flow = [by_id[i] for i in flow_ids if i in by_id]
    rest = [block for block in blocks if block.get("ID") not in set(flow_ids)]
    return [(block, False) for block in flow] + [(block, True) for block in rest]


def index_item(db: Path, item_id: str, pages: Iterable[PageText],
               entities: Iterable[Mapping[str, Any]] = ()) -> int:
    """Replace the item's pages and entities in the index at ``db`` (created if missing); return the pages indexed.

    ``entities`` are ``Entity.as_dict()`` records of the accepted entities (the caller
    chooses which to publish; :mod:`pipeline.entities` is not imported here).
    """
    converter = _converter()
    rows = [(page, fold(page.text, converter)) for page in pages]
    facet_rows = [row for entity in entities for row in _entity_rows(item_id, entity, converter)]
    with _transaction(db) as conn:
        old = [r[0] for r in conn.execute("SELECT id FROM page WHERE item_id = ?", (item_id,))]
        conn.executemany("DELETE FROM page_grams WHERE rowid = ?", [(i,) for i in old])
        conn.execute("DELETE FROM page WHERE item_id = ?", (item_id,))
        conn.execute("DELETE FROM entity WHERE item_id = ?", (item_id,))
        conn.executemany("INSERT INTO entity (item_id, page_id, kind, facet, value, folded, text, start, stop, boxes,"
                         " confidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", facet_rows)
        for page, folded in rows:
            boxes = json.dumps([[*b[0], b[1]] if b else None for b in page.boxes], separators=(",", ":"))
            cursor = conn.execute(
                "INSERT INTO page (item_id, page_id, text, boxes) VALUES (?, ?, ?, ?)",
                (item_id, page.page_id, page.text, boxes),
            )
            conn.execute("INSERT INTO page_grams (rowid, grams) VALUES (?, ?)", (cursor.lastrowid, _grams(folded)))
    log.info("indexed %d pages and %d entity facets of %s in %s", len(rows), len(facet_rows), item_id, db)
    return len(rows)


def _entity_rows(item_id: str, entity: Mapping[str, Any], converter: object) -> list[tuple[object, ...]]:
    start, stop = entity["span"]
    boxes = json.dumps(entity["boxes"], separators=(",", ":"))
    return [(item_id, entity["page_id"], entity["kind"], facet, value, fold(value, converter), entity["text"],
             start, stop, boxes, float(entity["confidence"])) for facet, value in entity_facets(entity)]


def query_terms(query: str, converter: object | None = None) -> tuple[str, ...]:
    """Split a query into folded terms without spaces: quoted phrases whole, other text at spaces.

    Raises:
        SearchError: when no term has two characters.
    """
    converter = converter or _converter()
    pieces: list[str] = []
    rest = unicodedata.normalize("NFC", query)
    while rest:
        opening = min((rest.find(q) for q in QUOTES if q in rest), default=-1)
        if opening < 0:
            pieces.extend(rest.split())
            break
        pieces.extend(rest[:opening].split())
        closing = rest.find(QUOTES[rest[opening]], opening + 1)
        closing = len(rest) if closing < 0 else closing
        pieces.append("".join(rest[opening + 1:closing].split()))
        rest = rest[closing + 1:]
    terms = _join_single_characters([fold(piece, converter) for piece in pieces if piece])
    if not terms or any(len(term) < MIN_QUERY for term in terms):
        raise SearchError(f"query {query!r}: give at least {MIN_QUERY} characters")
    return tuple(dict.fromkeys(terms))


def search(db: Path, query: str, *, item_id: str | None = None, limit: int = 100) -> list[SearchHit]:
    """Return up to ``limit`` occurrences of the query's terms (or filtered entities) on matching pages, in page order.

    Raises:
        SearchQueryError: the query is too long, holds a control character or a bad filter.
        SearchError: no text term has two characters and there is no filter.
    """
    converter = _converter()
    text, filters = parse_query(query)
    terms = query_terms(text, converter) if text or not filters else ()
    if not Path(db).is_file():
        return []
    sql = "SELECT p.item_id, p.page_id, p.text, p.boxes FROM page p WHERE 1"
    params: list[object] = []
    if terms:
        # Each term is one FTS5 string (its bigrams, quotes doubled): operators and columns are only text.
        sql += " AND p.id IN (SELECT rowid FROM page_grams WHERE page_grams MATCH ?)"
        params.append(" AND ".join('"' + _grams(term).replace('"', '""') + '"' for term in terms))
    for f in filters:
        sql += " AND EXISTS (SELECT 1 FROM entity e WHERE e.item_id = p.item_id AND e.page_id = p.page_id"
        sql += " AND e.facet = ? AND e.folded = ?)"
        params += [f.facet, fold(f.value, converter)]
    if item_id is not None:
        sql += " AND p.item_id = ?"
        params.append(item_id)
    with _transaction(db, write=False) as conn:
        # Rows are inserted in reading order (a split master's right leaf p0003r before p0003l).
        rows = conn.execute(sql + " ORDER BY p.item_id, p.id", params).fetchall()
        if not terms:
            return _entity_hits(conn, rows, filters, converter)[:limit]
    hits = [hit for row in rows for hit in _page_hits(row, terms, converter)]
    return hits[:limit]


def parse_query(query: str) -> tuple[str, tuple[Filter, ...]]:
    """Split a query into its text and its filters, refusing one too long or with control characters.

    Raises:
        SearchQueryError: as :func:`search` says.
    """
    shown = query[:40] + "…" if len(query) > 40 else query
    if len(query) > MAX_QUERY_LENGTH:
        raise SearchQueryError(f"query {shown!r} is {len(query)} characters; the limit is {MAX_QUERY_LENGTH}")
    if any(ch in CONTROLS for ch in query):
        raise SearchQueryError(f"query {shown!r} contains a control character")
    try:
        return split_filters(query)
    except FilterError as exc:
        raise SearchQueryError(str(exc)) from None


def _entity_hits(conn: sqlite3.Connection, rows: list[tuple[str, str, str, str]], filters: tuple[Filter, ...],
                 converter: object) -> list[SearchHit]:
    """Return the entities matching any filter on the pages found, once per span, in reading order."""
    hits: list[SearchHit] = []
    condition = " OR ".join("(facet = ? AND folded = ?)" for _ in filters)
    values = [v for f in filters for v in (f.facet, fold(f.value, converter))]
    for item_id, page_id, text, _boxes in rows:
        found = conn.execute(f"SELECT DISTINCT text, start, stop, boxes FROM entity WHERE item_id = ? AND page_id = ?"
                             f" AND ({condition}) ORDER BY start, stop", [item_id, page_id, *values]).fetchall()
        end = -1
        for entity_text, start, stop, boxes in found:  # a holding and its provenance share a start: keep one
            if start < end:
                continue
            end = stop
            before, after = _context(text, start, stop)
            hits.append(SearchHit(item_id, page_id, entity_text, tuple(tuple(b) for b in json.loads(boxes)),
                                  before, after))
    return hits


def _page_hits(row: tuple[str, str, str, str], terms: tuple[str, ...], converter: object) -> list[SearchHit]:
    """Return every term's occurrences on one page in reading order, or none if a term is missing."""
    found = [_hits(row, term, converter) for term in terms]
    if not all(found):  # FTS5 matched the bigrams, but not as one run of characters (e.g. across a break)
        return []
    return [hit for _, hit in sorted((start, hit) for hits in found for start, hit in hits)]


def _hits(row: tuple[str, str, str, str], needle: str, converter: object) -> list[tuple[int, SearchHit]]:
    item_id, page_id, text, boxes_json = row
    boxes = json.loads(boxes_json)
    squeezed = [(i, ch) for i, ch in enumerate(fold(text, converter)) if not ch.isspace() or ch == BLOCK_BREAK]
    haystack = "".join(ch for _, ch in squeezed)
    hits, start = [], haystack.find(needle)
    while start >= 0:
        positions = [squeezed[k][0] for k in range(start, start + len(needle))]
        found = "".join(text[p] for p in positions)
        before, after = _context(text, positions[0], positions[-1] + 1)
        hits.append((positions[0], SearchHit(item_id, page_id, found, _line_boxes(boxes, positions), before, after)))
        start = haystack.find(needle, start + 1)
    return hits


def _context(text: str, start: int, end: int) -> tuple[str, str]:
    """Return up to CONTEXT_CHARS of text before ``start`` and after ``end``, not crossing a block break."""
    before = text[max(0, start - CONTEXT_CHARS):start].rpartition(BLOCK_BREAK)[2]
    after = text[end:end + CONTEXT_CHARS].partition(BLOCK_BREAK)[0]
    return before, after


def _join_single_characters(pieces: list[str]) -> list[str]:
    """Glue a one-character piece to the next (or, last, to the previous): 有 朋 is 有朋."""
    terms: list[str] = []
    carry = ""
    for piece in pieces:
        if len(carry + piece) < MIN_QUERY:
            carry += piece
            continue
        terms.append(carry + piece)
        carry = ""
    if carry and terms:
        terms[-1] += carry
    elif carry:
        terms.append(carry)
    return terms


def _line_boxes(boxes: list[list[int] | None], positions: list[int]) -> tuple[Box, ...]:
    """Union the boxes of the matched characters line by line, in reading order."""
    lines: dict[int, Box] = {}
    for entry in (boxes[p] for p in positions):
        if entry is None:
            continue
        x0, y0, x1, y1, line = entry
        a = lines.get(line, (x0, y0, x1, y1))
        lines[line] = (min(a[0], x0), min(a[1], y0), max(a[2], x1), max(a[3], y1))
    return tuple(lines[line] for line in sorted(lines))


def _grams(text: str) -> str:
    grams: list[str] = []
    for part in text.split(BLOCK_BREAK):
        chars = [ch for ch in part if not ch.isspace()]
        grams.extend(a + b for a, b in itertools.pairwise(chars))
    return " ".join(grams)


def open_index(db: Path) -> contextlib.AbstractContextManager[sqlite3.Connection]:
    """Open the index for reading (creating it if missing): the browse pages' queries run in it."""
    return _transaction(db, write=False)


@contextmanager
def _transaction(db: Path, *, write: bool = True) -> Iterator[sqlite3.Connection]:
    """Open the index (creating it), run one transaction, commit it and close.

    Raises:
        SearchIndexError: the file is damaged, locked or cannot be written.
    """
    # IMMEDIATE: one writer at a time (parallel ingests); readers see the old or the new item.
    with session(_database(db), begin="IMMEDIATE" if write else "DEFERRED") as conn:
        yield conn


def _database(db: Path) -> Database:
    return Database(Path(db), "the search index", REMEDY, timeout=30, isolation_level=None,
                    schema=";\n".join(_SCHEMA) + ";", error=SearchIndexError)


def _box(string: etree._Element) -> Box:
    x, y, w, h = (int(float(string.get(k, "0"))) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
    return (x, y, x + w, y + h)


def _fold_char(ch: str, converter: object) -> str:
    lowered = ch.casefold()
    ch = lowered if len(lowered) == 1 else ch
    simplified = converter.convert(ch) if converter is not None else ch  # type: ignore[attr-defined]
    return simplified if len(simplified) == 1 else ch


def _converter() -> object:
    try:
        import opencc
    except ImportError:
        raise SearchError("traditional/simplified folding needs the opencc package (pip install opencc)") from None
    return opencc.OpenCC("t2s")
