"""Values shared by the OCR steps: results, options, and the role every engine plays."""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from pipeline.errors import OcrError

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
Span = tuple[int, int]  # [start, end) along one axis

# Below this mean glyph confidence a page is flagged "needs OCR review". Re-measured with
# PP-OCRv6 (benchmarks/ocr.py): generated woodblock pages (CER 0.006) averaged 0.99 and the
# real leaves (CER 0.023-0.050) 0.97, none flagged; read by Tesseract, the real leaves
# (CER 0.36) averaged 0.54 and all four were flagged; pages shot upside down or sideways
# and read as they were (nonsense) averaged 0.50-0.51.
REVIEW_THRESHOLD = 0.75
# Paper left on each side of a column crop given to an engine, as a fraction of the
# column's width: engines read glyphs that touch the crop's edge badly.
CROP_MARGIN = 0.15
# A glyph read with less confidence than this is counted as "low confidence" in ocr.json
# and the QC report, for a reviewer to look at.
LOW_GLYPH_CONFIDENCE = 0.5


class OcrEngine(str, enum.Enum):
    """The recognisers Shuying can run."""

    TESSERACT = "tesseract"
    PPOCR = "ppocr"  # PaddleOCR PP-OCRv6 through rapidocr 3.x


class PageLayout(str, enum.Enum):
    """How a page is laid out into blocks before an engine reads them."""

    COLUMNS = "columns"  # woodblock leaves: frame, columns right to left, notes, 版心
    BLOCKS = "blocks"  # periodicals and newspapers: tiers, headings, adverts, mixed directions
    ENGINE = "engine"  # the engine lays out the page itself (plain horizontal print)


class Binarisation(str, enum.Enum):
    OTSU = "otsu"  # one threshold for the page
    SAUVOLA = "sauvola"  # a threshold per neighbourhood, for stained, uneven paper


@dataclass(frozen=True)
class Preprocessing:
    """The preprocessing steps, each kept only where the benchmark shows it lowers CER."""

    seal_suppression: bool = True  # read the red channel, where vermilion seals vanish
    binarisation: Binarisation = Binarisation.OTSU  # for the masks columns are cut from
    binary_to_engine: bool = False  # give the engine the binarised page, not the grey one
    remove_rules: bool = True  # paint frame lines, rules, blots and specks white
    segment_columns: bool = True  # read vertical pages column by column
    split_notes: bool = True  # read double-line notes (双行小注) as two sub-columns

    def as_parameters(self) -> dict[str, str]:
        return {
            "seal_suppression": _flag(self.seal_suppression),
            "binarisation": self.binarisation.value,
            "binary_to_engine": _flag(self.binary_to_engine),
            "remove_rules": _flag(self.remove_rules),
            "segment_columns": _flag(self.segment_columns),
            "split_notes": _flag(self.split_notes),
        }


@dataclass(frozen=True)
class OcrGlyph:
    """One recognised unit: a CJK character, or a whole word in alphabetic scripts."""

    char: str
    box: Box
    confidence: float  # 0..1


@dataclass(frozen=True)
class OcrLine:
    """A text line (horizontal) or column (vertical), glyphs in reading order."""

    text: str
    box: Box
    confidence: float  # mean of its glyphs'
    glyphs: tuple[OcrGlyph, ...]
    note: bool = False  # one half of a double-line note (双行小注)


class BlockRole(str, enum.Enum):
    """What a block of text is on its page; the role decides its place in the reading order."""

    TEXT = "text"  # main text: a column of a woodblock page, a paragraph or column of a periodical
    NOTE = "note"  # 雙行小注: a double-line note, read right sub-column then left, where it stands
    HEADING = "heading"  # a title or headline, read before the text it heads
    FOLD = "fold"  # 版心: the fold column (book title, 卷, leaf number, 魚尾); not main text
    RUNNING = "running"  # running header or footer, page number
    ADVERT = "advert"  # a boxed advertisement: its own text, no flow into or out of it
    CAPTION = "caption"  # the caption of a picture


# Blocks of these roles make the page's reading flow (ALTO OrderedGroup, to_text, search);
# the rest stand beside it, each on its own (UnorderedGroup).
FLOW_ROLES = frozenset({BlockRole.TEXT, BlockRole.NOTE, BlockRole.HEADING})
UNREVIEWED_ROLES = frozenset({BlockRole.FOLD, BlockRole.RUNNING})


class RegionKind(str, enum.Enum):
    """Areas of a page that are not lines of text and are not forced into one."""

    ILLUSTRATION = "illustration"
    TABLE = "table"


@dataclass(frozen=True)
class OcrBlock:
    """Lines read as one unit (a column, a note, the 版心, an advert), with its direction."""

    role: BlockRole
    box: Box
    lines: tuple[OcrLine, ...]
    vertical: bool = False

    @property
    def in_flow(self) -> bool:
        return self.role in FLOW_ROLES

    @property
    def text(self) -> str:
        return "".join(line.text for line in self.lines)


@dataclass(frozen=True)
class OcrRegion:
    """A non-text area (illustration, table) found on the page and left unread."""

    kind: RegionKind
    box: Box


@dataclass(frozen=True)
class OcrPage:
    """The text of one page, in the pixel space of the image read.

    ``blocks`` are in reading order: the flow blocks (FLOW_ROLES) in the order they
    are read, the others (版心, running heads, adverts, captions) after them.
    A page shot turned is turned upright in its access derivative before it is read
    (pipeline.orientation); coordinates are of that image.
    ``empty_reason`` says why a page has no text (blank, illustration only, ...).
    """

    width: int
    height: int
    blocks: tuple[OcrBlock, ...] = ()
    engine: str = OcrEngine.TESSERACT.value
    engine_version: str = ""
    language: str = ""  # the model: a Tesseract -l value, or the PP-OCR model files
    parameters: dict[str, str] = field(default_factory=dict, hash=False)
    vertical: bool = False
    regions: tuple[OcrRegion, ...] = ()
    empty_reason: str = ""
    unread_ink: bool = False  # the page has ink that looks like text, and none was read

    @classmethod
    def of_lines(cls, width: int, height: int, lines: Iterable[OcrLine], **fields: object) -> OcrPage:
        """Return a page whose lines form one TEXT block (the layout of a simple page)."""
        items = tuple(lines)
        vertical = bool(fields.get("vertical", False))
        blocks = (OcrBlock(BlockRole.TEXT, union([ln.box for ln in items]), items, vertical),) if items else ()
        return cls(width, height, blocks, **fields)  # type: ignore[arg-type]

    @property
    def lines(self) -> tuple[OcrLine, ...]:
        """The lines of the reading flow, in reading order (what ``to_text`` and search read)."""
        return tuple(line for block in self.blocks if block.in_flow for line in block.lines)

    @property
    def fold_text(self) -> str:
        """The text of the 版心 (fold columns), which is kept out of the reading flow."""
        return "\n".join(block.text for block in self.blocks if block.role is BlockRole.FOLD)

    @property
    def all_lines(self) -> tuple[OcrLine, ...]:
        return tuple(line for block in self.blocks for line in block.lines)

    @property
    def reviewed_lines(self) -> tuple[OcrLine, ...]:
        """The lines whose confidence judges the page: all but the 版心 and running heads.

        The 版心's small, worn glyphs read worst on every real leaf (0.2 to 0.6 against
        0.97 for the text) and are metadata, not the text a reader needs.
        """
        return tuple(line for block in self.blocks if block.role not in UNREVIEWED_ROLES for line in block.lines)

    @property
    def mean_confidence(self) -> float:
        return mean(g.confidence for line in self.reviewed_lines for g in line.glyphs)

    def low_confidence_glyphs(self, threshold: float = LOW_GLYPH_CONFIDENCE) -> int:
        """Return how many glyphs of the reviewed lines were read with a confidence below ``threshold``."""
        return sum(g.confidence < threshold for line in self.reviewed_lines for g in line.glyphs)

    def needs_review(self, threshold: float = REVIEW_THRESHOLD) -> bool:
        """True when glyphs were read with a mean confidence below ``threshold``, or ink went unread."""
        if self.unread_ink:
            return True
        return bool(self.reviewed_lines) and self.mean_confidence < threshold

    def review_reasons(self, threshold: float = REVIEW_THRESHOLD,
                       low_glyph: float = LOW_GLYPH_CONFIDENCE) -> tuple[str, ...]:
        """Return why the page needs OCR review, in words for a reviewer; () when it does not.

        Non-empty exactly when ``needs_review(threshold)`` is true. The count of glyphs
        below ``low_glyph`` is added as a pointer to where to look, never as a reason alone:
        a few doubtful glyphs on a well-read page are what the ALTO confidences are for.
        """
        reasons = []
        if self.unread_ink:
            reasons.append("ink but no text read")
        if self.reviewed_lines and self.mean_confidence < threshold:
            reasons.append(f"mean confidence {self.mean_confidence:.2f} below {threshold:.2f}")
        low = self.low_confidence_glyphs(low_glyph)
        if reasons and low:
            reasons.append(f"{low} glyph{'s' if low != 1 else ''} below {low_glyph:.2f}")
        return tuple(reasons)

    @property
    def glyph_count(self) -> int:
        return sum(len(line.glyphs) for line in self.all_lines)

    def block_counts(self) -> dict[str, int]:
        """Return how many blocks of each role the page has, e.g. {"text": 9, "fold": 1}."""
        counts: dict[str, int] = {}
        for block in self.blocks:
            counts[block.role.value] = counts.get(block.role.value, 0) + 1
        return counts


@dataclass(frozen=True)
class ReadChar:
    """A character as an engine read it; ``start``/``end`` run along the reading axis."""

    char: str
    confidence: float  # 0..1
    start: float  # pixels of the image the engine was given
    end: float


@dataclass(frozen=True)
class ReadLine:
    """A line an engine found itself (whole-page reading), its characters in order."""

    box: Box
    chars: tuple[ReadChar, ...]
    vertical: bool = False


@dataclass(frozen=True)
class Deadline:
    """The time left for one page; ``page`` names it in errors."""

    page: str
    timeout: float
    at: float  # time.monotonic() value

    @classmethod
    def start(cls, page: str, timeout: float) -> Deadline:
        return cls(page, timeout, time.monotonic() + timeout)

    def remaining(self) -> float:
        """Return seconds left; raise OcrError when none are."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise OcrError(f"{self.page}: OCR timed out after {self.timeout:g} s")
        return left


class Engine(Protocol):
    """A recogniser: reads single columns (or lines) cut by us, or a whole page by itself."""

    name: OcrEngine
    model: str

    def version(self) -> str: ...

    def read_columns(self, crops: list[np.ndarray], deadline: Deadline) -> list[list[ReadChar]]:
        """Read vertical crops top to bottom; positions are crop rows."""
        ...

    def read_page(self, grey: np.ndarray, deadline: Deadline, *, vertical: bool) -> list[ReadLine]:
        """Find and read the lines of a whole page; positions are page pixels."""
        ...


def union(boxes: Iterable[Box]) -> Box:
    """Return the smallest box holding every box of ``boxes`` (which must not be empty)."""
    items = list(boxes)
    return (min(b[0] for b in items), min(b[1] for b in items), max(b[2] for b in items), max(b[3] for b in items))


def mean(values: Iterable[float]) -> float:
    items = list(values)
    return float(sum(items) / len(items)) if items else 0.0


def _flag(value: bool) -> str:
    return "on" if value else "off"
