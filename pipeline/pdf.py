"""Write page images with an invisible, searchable text layer as one PDF (reportlab, a BSD library).

Each page is its image filling the page, with the OCR text drawn over it in text
render mode 3 (invisible): a PDF reader finds and selects the words where they are
printed, and ``pdftotext`` extracts them. Characters come from a CJK TrueType font
embedded as a subset (Debian's AR PL UMing), with a ToUnicode map so extraction gives
the characters themselves.

Vertical columns are written as text rotated a quarter turn clockwise: each character
starts at the top of its own box and runs on to the top of the next, so readers see
one line per column, in the column's order, with no gaps (upright characters one
above the other would be read across the columns, row by row). Horizontal lines are
written one String at a time, each stretched to its box. Lines are written in reading
order (the order given), so the text of a page comes out in that order.

Pages are taken one at a time from an iterable: only one page's image is being
prepared at once, though reportlab keeps every page's (already compressed) JPEG until
the file is written.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from reportlab import rl_config
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfdoc import PDFError
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.pdfgen.textobject import PDFTextObject

from pipeline.errors import ExitCode, ShuyingError

__all__ = ["PdfError", "PdfLine", "PdfMetadata", "PdfPage", "PdfWord", "cjk_font", "write_pdf"]

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in the page's source pixels, y down
# (file, face name) in order of preference: traditional-Chinese UMing first; any face of the file after.
CJK_FONTS = (
    (Path("/usr/share/fonts/truetype/arphic/uming.ttc"), "UMingTW"),
    (Path("/usr/share/fonts/truetype/arphic/ukai.ttc"), "UKaiTW"),
)
FONT_NAME = "ShuyingCJK"
INVISIBLE = 3  # PDF text render mode: neither fill nor stroke
DESCENT = 0.121  # below the baseline, in em, of UMing and UKai: boxes are placed to cover it
MIN_SCALE, MAX_SCALE = 1.0, 1000.0  # per cent horizontal scaling; outside is a broken box
UNSETTABLE = "〓"  # U+3013 GETA MARK
PRODUCER = "Shuying pipeline.pdf (reportlab)"


class PdfError(ShuyingError):
    """A PDF cannot be written: no CJK font on this machine, or a page image that is not a JPEG."""

    exit_code = ExitCode.FAILED


@dataclass(frozen=True)
class PdfWord:
    """One ALTO String: its text, its box, and whether a space follows it (an ALTO SP)."""

    text: str
    box: Box
    space_after: bool = False


@dataclass(frozen=True)
class PdfLine:
    """One line or column of words in reading order; ``vertical`` for a top-to-bottom column."""

    words: tuple[PdfWord, ...]
    box: Box
    vertical: bool = False


@dataclass(frozen=True)
class PdfPage:
    """A page: its image (JPEG bytes), its size in points, and its text in the pixels of ``source_size``.

    ``source_size`` is the size of the image the boxes were measured on (the access
    image), which need not be the size of ``jpeg``: a reduced image keeps the text
    where it is.
    """

    jpeg: bytes
    width_pt: float
    height_pt: float
    source_size: tuple[int, int]
    lines: tuple[PdfLine, ...] = ()
    label: str = ""


@dataclass(frozen=True)
class PdfMetadata:
    """The document information: title, author, subject and keywords, and the reading direction."""

    title: str
    subject: str = ""
    author: str = ""
    keywords: tuple[str, ...] = field(default_factory=tuple)
    language: str = ""
    right_to_left: bool = False


def write_pdf(out: BinaryIO, pages: Iterable[PdfPage], metadata: PdfMetadata) -> int:
    """Write ``pages`` (in reading order) as one PDF to ``out``; return the number of pages written."""
    font = cjk_font()
    # reportlab's default writes every stream in ASCII85, a quarter larger: binary PDFs are the norm.
    # A process-wide setting, read while writing; Shuying writes no other PDFs, so it is set, never reset.
    rl_config.useA85 = 0
    canvas = Canvas(out, lang=metadata.language or None, pageCompression=1, initialFontName=font)
    _set_metadata(canvas, metadata)
    count = 0
    for count, page in enumerate(pages, start=1):
        _draw_page(canvas, page, font, f"leaf{count}")
    if count == 0:
        raise PdfError("a PDF needs at least one page; none was given")
    if count > 1:
        canvas.showOutline()  # readers open with the leaf labels beside the pages
    canvas.save()
    return count


@lru_cache(maxsize=1)
def cjk_font() -> str:
    """Register the first CJK TrueType font found and return its reportlab name (loaded once per process)."""
    for path, face in CJK_FONTS:
        if path.is_file():
            pdfmetrics.registerFont(TTFont(FONT_NAME, str(path), subfontIndex=_face_index(path, face)))
            return FONT_NAME
    wanted = ", ".join(str(path) for path, _ in CJK_FONTS)
    raise PdfError(f"no CJK TrueType font for the PDF text layer: none of {wanted} exists "
                   "(install fonts-arphic-uming, see scripts/install-system-packages.sh)")


def _face_index(path: Path, face: str) -> int:
    """Return the index of the face called ``face`` in a font collection (0 if it has none of that name)."""
    for index in range(16):
        try:
            if TTFont(f"{FONT_NAME}-probe", str(path), subfontIndex=index).face.name == face.encode():
                return index
        except TTFError:  # past the last face of the collection, or a single font file
            break
    return 0


def _set_metadata(canvas: Canvas, metadata: PdfMetadata) -> None:
    canvas.setTitle(metadata.title)
    canvas.setSubject(metadata.subject)
    canvas.setAuthor(metadata.author)
    canvas.setKeywords(", ".join(metadata.keywords))
    canvas.setCreator("Shuying")
    canvas.setProducer(PRODUCER)
    canvas.setViewerPreference("DisplayDocTitle", "true")
    if metadata.right_to_left:  # readers lay two-page spreads out right to left
        canvas.setViewerPreference("Direction", "R2L")


def _draw_page(canvas: Canvas, page: PdfPage, font: str, key: str) -> None:
    """Draw one page: the image over the whole page, then the invisible text, then its bookmark."""
    canvas.setPageSize((page.width_pt, page.height_pt))
    try:
        canvas.drawImage(ImageReader(io.BytesIO(page.jpeg)), 0, 0, page.width_pt, page.height_pt)
    except (OSError, ValueError, PDFError) as exc:  # Pillow's UnidentifiedImageError, reportlab's JPEG parser
        raise PdfError(f"page {page.label or key}: the image is not a readable JPEG "
                       f"({type(exc).__name__})") from exc
    text = canvas.beginText()
    text.setTextRenderMode(INVISIBLE)
    scale = _Scale.of(page)
    for line in page.lines:
        (_vertical_line if line.vertical else _horizontal_line)(text, line, scale, font)
    canvas.drawText(text)
    if page.label:
        canvas.bookmarkPage(key)
        canvas.addOutlineEntry(page.label, key, level=0)
    canvas.showPage()


@dataclass(frozen=True)
class _Scale:
    """Map source pixels (y down) to PDF points (y up)."""

    x: float
    y: float
    height_pt: float

    @classmethod
    def of(cls, page: PdfPage) -> _Scale:
        width, height = page.source_size
        return cls(page.width_pt / max(1, width), page.height_pt / max(1, height), page.height_pt)

    def point(self, x: float, y: float) -> tuple[float, float]:
        return x * self.x, self.height_pt - y * self.y


def _vertical_line(text: PDFTextObject, line: PdfLine, scale: _Scale, font: str) -> None:
    """Write a column: every character rotated to run down the page, from its box's top to the next one's."""
    size = max(1.0, (line.box[2] - line.box[0]) * scale.x)
    left = line.box[0] * scale.x
    words = [w for w in line.words if w.text]
    for index, word in enumerate(words):
        top = word.box[1]
        end = words[index + 1].box[1] if index + 1 < len(words) else word.box[3]
        if end <= top:  # out of order or overlapping boxes: keep to the word's own box
            end = word.box[3]
        _, y = scale.point(0, top)
        text.setTextTransform(0, -1, 1, 0, left + DESCENT * size, y)
        _show(text, _spaced(word), font, size, (end - top) * scale.y)


def _horizontal_line(text: PDFTextObject, line: PdfLine, scale: _Scale, font: str) -> None:
    """Write a line: every String on the line's baseline, stretched to reach the next String (or its own end)."""
    size = max(1.0, (line.box[3] - line.box[1]) * scale.y)
    words = [w for w in line.words if w.text]
    for index, word in enumerate(words):
        left = word.box[0]
        following = words[index + 1].box[0] if index + 1 < len(words) else word.box[2]
        end = word.box[2] if word.space_after or following <= left else following
        x, y = scale.point(left, line.box[3])
        text.setTextTransform(1, 0, 0, 1, x, y + DESCENT * size)
        _show(text, _spaced(word), font, size, (end - left) * scale.x)


def _settable(font: str, content: str) -> str:
    """Return ``content`` as the font can carry it into the text layer.

    reportlab writes characters the font lacks (CJK Extension A …) as code 0, which
    extracts as nothing: they are given the font's empty glyph, one em wide, and a code
    of their own, so they extract (and are found) as themselves. The text is invisible,
    so no reader sees the empty glyph. reportlab's ToUnicode map holds only the Basic
    Multilingual Plane, so characters beyond it (Extension B and later) are written as
    〓, the typesetters' sign for a character that cannot be set.
    """
    face = pdfmetrics.getFont(font).face
    chars = [char if ord(char) <= 0xFFFF else UNSETTABLE for char in content]
    for char in chars:
        if ord(char) not in face.charToGlyph:
            face.charToGlyph[ord(char)] = 0
            face.charWidths[ord(char)] = 1000
    return "".join(chars)


def _spaced(word: PdfWord) -> str:
    return word.text + " " if word.space_after else word.text


def _show(text: PDFTextObject, content: str, font: str, size: float, length: float) -> None:
    """Show ``content`` at ``size`` points, scaled along its baseline so its letters span ``length`` points."""
    content = _settable(font, content)
    letters = content.rstrip(" ")
    natural = pdfmetrics.stringWidth(letters, font, size)
    percent = 100.0 * length / natural if natural > 0 and length > 0 else 100.0
    text.setFont(font, size)
    text.setHorizScale(min(MAX_SCALE, max(MIN_SCALE, percent)))
    text.textOut(content)
