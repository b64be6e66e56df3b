"""Read a page's ALTO as the lines of a PDF text layer: blocks in reading order, words with their boxes.

The blocks of the reading flow (ALTO ReadingOrder's OrderedGroup) come first, in its
order, then every other block (版心, running heads, adverts) in document order, as
``pipeline.search`` reads them; ALTO without a ReadingOrder is read in document order.
A line is a column when it (or its block) says ``BASEDIRECTION="ttb"``, which
``pipeline.ocr.alto`` writes for vertical blocks, or, in ALTO from elsewhere, when it
holds several Strings and is much taller than wide. A String with Glyphs gives one word
per Glyph, so each character is placed at its own box.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from lxml import etree

from pipeline import xmlns
from pipeline.errors import ExitCode, ShuyingError
from pipeline.pdf import Box, PdfLine, PdfWord

__all__ = ["AltoTextError", "read_alto_lines"]

TALL = 1.5  # a line this many times taller than wide, with several Strings, is a column
VERTICAL = "ttb"


class AltoTextError(ShuyingError):
    """An ALTO file cannot be read as a text layer."""

    exit_code = ExitCode.FAILED


def read_alto_lines(path: Path) -> tuple[PdfLine, ...]:
    """Return the page's lines in reading order, boxes in the ALTO's pixels (the access image's)."""
    try:
        tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    except (OSError, etree.XMLSyntaxError) as exc:
        raise AltoTextError(f"{path}: cannot read ALTO: {exc}") from None
    lines = []
    for block in blocks_in_reading_order(tree):
        block_vertical = block.get("BASEDIRECTION") == VERTICAL
        for element in block.iter(xmlns.tag("alto", "TextLine")):
            line = _line(element, block_vertical)
            if line.words:
                lines.append(line)
    return tuple(lines)


def blocks_in_reading_order(tree: etree._ElementTree) -> list[etree._Element]:
    """Return the TextBlocks: the flow in ReadingOrder first, then the rest in document order."""
    alto = xmlns.NAMESPACES["alto"]
    blocks = list(tree.iter(xmlns.tag("alto", "TextBlock")))
    group = tree.find(f"{{{alto}}}ReadingOrder/{{{alto}}}OrderedGroup")
    if group is None:
        return blocks
    by_id = {block.get("ID"): block for block in blocks}
    flow_ids = [ref.get("REF") for ref in group.iter(xmlns.tag("alto", "ElementRef"))]
    flow = [by_id[i] for i in flow_ids if i in by_id]
    return flow + [block for block in blocks if block.get("ID") not in set(flow_ids)]


def _line(element: etree._Element, block_vertical: bool) -> PdfLine:
    words = tuple(_words(element))
    box = _box(element) or _union([w.box for w in words])
    stated = element.get("BASEDIRECTION")
    vertical = stated == VERTICAL if stated else block_vertical or _looks_vertical(box, len(words))
    return PdfLine(words, box, vertical)


def _words(line: etree._Element) -> list[PdfWord]:
    """Return the line's Strings that have text and a box, each noting an SP after it."""
    words: list[PdfWord] = []
    for child in line:
        if child.tag == xmlns.tag("alto", "SP") and words:
            words[-1] = PdfWord(words[-1].text, words[-1].box, space_after=True)
        elif child.tag == xmlns.tag("alto", "String"):
            words.extend(_glyphs(child) or _string(child))
    if words and words[-1].space_after:
        words[-1] = PdfWord(words[-1].text, words[-1].box)  # a trailing SP separates nothing
    return words


def _string(string: etree._Element) -> list[PdfWord]:
    text = unicodedata.normalize("NFC", string.get("CONTENT", "")).strip()
    box = _box(string)
    return [PdfWord(text, box)] if text and box else []


def _glyphs(string: etree._Element) -> list[PdfWord]:
    """Return a String's Glyphs as words of one character each, when every one has its text and box.

    Our ALTO has one String per character; ALTO from elsewhere may hold a column's
    characters in one String, placed then each at its own Glyph box.
    """
    glyphs = [(unicodedata.normalize("NFC", g.get("CONTENT", "")), _box(g))
              for g in string.iter(xmlns.tag("alto", "Glyph"))]
    if not glyphs or not all(text.strip() and box for text, box in glyphs):
        return []
    return [PdfWord(text, box) for text, box in glyphs if box]


def _box(element: etree._Element) -> Box | None:
    """Return an element's HPOS/VPOS/WIDTH/HEIGHT as a box, or None when any is missing or not a number."""
    try:
        x, y, width, height = (float(element.get(name, "")) for name in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
    except ValueError:
        return None
    if not all(v == v and abs(v) < 1e7 for v in (x, y, width, height)) or width < 0 or height < 0:
        return None  # NaN, infinite or negative: a broken file, not a place on the page
    return x, y, x + width, y + height


def _union(boxes: list[Box]) -> Box:
    if not boxes:
        return 0.0, 0.0, 0.0, 0.0
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def _looks_vertical(box: Box, words: int) -> bool:
    width, height = box[2] - box[0], box[3] - box[1]
    return words > 1 and height > TALL * width
