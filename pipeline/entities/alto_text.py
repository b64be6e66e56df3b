"""Page text with a box per character: read from ALTO, or built from lines of text.

ALTO pages are read by :func:`pipeline.search.read_alto_page` (the reader search uses:
reading order, one String per CJK glyph, each character with its String's box and line),
so entity spans and search hits index the same text. Pages the benchmark and the tests
make from plain text get one made-up box per character, a column per line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lxml import etree

from pipeline import xmlns
from pipeline.entities.model import Box
from pipeline.search import PageText, SearchError, read_alto_page

__all__ = ["PageText", "glyph_confidences", "line_starts", "page_text_from_alto", "page_text_from_lines", "span_boxes"]

CELL = 40  # pixels per character of a made-up page


def page_text_from_lines(page_id: str, lines: Sequence[str]) -> PageText:
    """Return lines of text as a vertical page: line n is column n from the right, one cell per character.

    The lines run on into each other (as the columns of an ALTO page's reading flow do).
    """
    text: list[str] = []
    boxes: list[tuple[Box, int] | None] = []
    for n, line in enumerate(lines):
        x1 = (len(lines) - n) * CELL
        for k, ch in enumerate(line):
            text.append(ch)
            boxes.append(((x1 - CELL, k * CELL, x1, (k + 1) * CELL), n))
    return PageText(page_id, "".join(text), tuple(boxes))


def page_text_from_alto(path: Path, page_id: str) -> PageText:
    """Read an ALTO file as entity rules see it (see the module docstring)."""
    return read_alto_page(path, page_id)


def glyph_confidences(path: Path, page: PageText) -> tuple[float | None, ...]:
    """Return the OCR confidence (ALTO String WC) of each character of ``page``, read from ``path``.

    Characters are matched to their String by box (read_alto_page gives each character
    its String's box); a space, a break or a String without WC gives None.

    Raises:
        SearchError: the file cannot be read as XML.
    """
    try:
        tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    except (OSError, etree.XMLSyntaxError) as exc:
        raise SearchError(f"{path}: cannot read ALTO: {exc}") from None
    by_box: dict[Box, float] = {}
    for string in tree.iter(xmlns.tag("alto", "String")):
        x, y, w, h = (int(float(string.get(k, "0"))) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
        if string.get("WC") is not None:
            by_box[(x, y, x + w, y + h)] = float(string.get("WC", "1"))
    return tuple(by_box.get(entry[0]) if entry else None for entry in page.boxes)


def span_boxes(page: PageText, start: int, end: int) -> tuple[Box, ...]:
    """Return the union of the character boxes of ``page.text[start:end]``, one per line, in reading order."""
    lines: dict[int, Box] = {}
    for entry in page.boxes[start:end]:
        if entry is None:
            continue
        (x0, y0, x1, y1), line = entry
        a = lines.get(line, (x0, y0, x1, y1))
        lines[line] = (min(a[0], x0), min(a[1], y0), max(a[2], x1), max(a[3], y1))
    return tuple(lines[line] for line in sorted(lines))


def line_starts(page: PageText) -> frozenset[int]:
    """Return the positions where a new line (column) begins: where a 四庫 entry head can start."""
    starts = {0}
    previous = None
    for i, entry in enumerate(page.boxes):
        if entry is None:
            starts.add(i + 1)
            continue
        if previous is not None and entry[1] != previous:
            starts.add(i)
        previous = entry[1]
    return frozenset(starts)
