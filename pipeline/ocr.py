"""Recognise page text with Tesseract and write it as ALTO 4.4 and plain text.

Vertical pages (woodblock prints) are not given to Tesseract whole: its page
segmentation finds nothing useful between a printed frame and column rules. We
binarise, find the frame and the column rules, cut the text into columns, read
them right to left and recognise each column alone with a vertical model
(``--psm 5``). Tesseract's vertical models report bogus glyph x coordinates, so
every box we write takes x from our column segmentation and y from the ink
(character cells) or, failing that, from the engine. Horizontal pages go to
Tesseract whole (``--psm 4``). All coordinates are pixels of the image passed in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import cv2
import numpy as np
import pytesseract
from lxml import etree
from PIL import Image

from pipeline import xmlns
from pipeline.errors import OcrError
from pipeline.ocr_layout import (
    Box,
    Column,
    clean_page,
    find_columns,
    glyph_spans,
    tight_span,
)

__all__ = [
    "OcrGlyph",
    "OcrLine",
    "OcrPage",
    "check_languages_installed",
    "choose_languages",
    "recognise_page",
    "to_alto",
    "to_text",
]

log = logging.getLogger(__name__)

Word = tuple[str, float, Box]  # text, confidence 0..1, box as Tesseract reported it

# Glyph size Tesseract's Chinese models read best, measured on synthetic pages:
# 64 px glyphs scored 0.78 character similarity, 32-40 px 0.93.
TARGET_GLYPH_PX = 36
# Page segmentation for horizontal pages. On a framed synthetic page --psm 3 lost line
# starts (CER 0.24); --psm 4, one column of lines of varying size (headings, page
# numbers), read 0.03 and --psm 6 0.02. 4 copes better with real layouts.
HORIZONTAL_PSM = "4"
VERTICAL_PSM = "5"  # one uniform block of vertical text: a single column crop
MIN_CONTRAST = 40  # grey levels between paper and ink below which a page is blank

_CHINESE = {"lzh", "zh", "zho", "chi", "och", "ltc", "cmn", "yue"}
_SIMPLIFIED_TAGS = {"hans", "cn", "sg", "my"}
_OTHER_MODELS = {"ko": "kor", "kor": "kor", "ja": "jpn", "jpn": "jpn", "en": "eng", "eng": "eng"}


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


@dataclass(frozen=True)
class OcrPage:
    """The text of one page in reading order, in the pixel space of the image read."""

    width: int
    height: int
    lines: tuple[OcrLine, ...] = ()
    engine: str = "tesseract"
    engine_version: str = ""
    language: str = ""
    parameters: dict[str, str] = field(default_factory=dict, hash=False)
    vertical: bool = False

    @property
    def mean_confidence(self) -> float:
        return _mean(g.confidence for line in self.lines for g in line.glyphs)


def choose_languages(languages: tuple[str, ...], script_direction: str) -> str:
    """Return Tesseract's ``-l`` value for BCP-47 language codes and a script direction."""
    vertical = str(getattr(script_direction, "value", script_direction)) == "vertical-rl"
    models: list[str] = []
    for code in languages or ("lzh",):
        model = _model_for(code, vertical)
        if model not in models:
            models.append(model)
    # A vertical model must come first: Tesseract lays out the page with the first one.
    models.sort(key=lambda m: not m.endswith("_vert"))
    return "+".join(models)


def _model_for(code: str, vertical: bool) -> str:
    primary, *subtags = code.strip().lower().replace("_", "-").split("-")
    if primary in _CHINESE:
        model = "chi_sim" if _SIMPLIFIED_TAGS & set(subtags) else "chi_tra"
        return f"{model}_vert" if vertical else model
    if primary in _OTHER_MODELS:
        return _OTHER_MODELS[primary]
    raise OcrError(
        f"no Tesseract model is known for language '{code}' (use lzh, zh-Hant, zh-Hans, ko, ja or en)"
    )


def check_languages_installed(lang: str) -> None:
    """Raise OcrError naming the Debian package if a model in ``lang`` is not installed."""
    try:
        installed = set(pytesseract.get_languages(config=""))
    except pytesseract.TesseractNotFoundError:
        raise OcrError("Tesseract is not installed (apt-get install tesseract-ocr)") from None
    for model in lang.split("+"):
        if model not in installed:
            package = "tesseract-ocr-" + model.lower().replace("_", "-")
            raise OcrError(f"Tesseract language '{model}' is not installed (apt-get install {package})")


@dataclass(frozen=True)
class _Run:
    """What every Tesseract call of one page needs: model, deadline, and names for errors."""

    lang: str
    deadline: float  # time.monotonic() value
    timeout: float
    page: str


def recognise_page(
    image: np.ndarray, *, lang: str, vertical: bool, timeout: float = 120, page: str = "page"
) -> OcrPage:
    """Recognise the text of one page image (uint8 grey or RGB).

    ``page`` names the page (its file) in errors; ``timeout`` bounds the whole page
    in seconds. A blank image gives an OcrPage without lines.
    """
    grey = _to_grey(image, page)
    height, width = grey.shape
    run = _Run(lang, time.monotonic() + timeout, timeout, page)
    if _is_blank(grey):
        lines: list[OcrLine] = []
    elif vertical:
        lines = _recognise_vertical(grey, run)
    else:
        lines = _recognise_horizontal(grey, run)
    segmentation = "frame, column rules and ink projection; one column at a time" if vertical else "tesseract"
    psm = VERTICAL_PSM if vertical else HORIZONTAL_PSM
    parameters = {"lang": lang, "psm": psm, "segmentation": segmentation}
    log.debug("%s: %d lines, %d glyphs", page, len(lines), sum(len(line.glyphs) for line in lines))
    return OcrPage(width, height, tuple(lines), "tesseract", _engine_version(), lang, parameters, vertical)


def _to_grey(image: np.ndarray, page: str) -> np.ndarray:
    if (
        image.dtype != np.uint8
        or image.ndim not in (2, 3)
        or image.size == 0
        or image.ndim == 3
        and image.shape[2] > 4
    ):
        raise OcrError(
            f"{page}: expected a uint8 grey or RGB image, got {image.dtype} with shape {image.shape}"
        )
    if image.ndim == 2:
        return np.ascontiguousarray(image)
    # Band 0 is grey for grey(+alpha) images and red for RGB(A). Red drops vermilion
    # collectors' seals and 朱批 (red annotations), which are as bright as paper there,
    # while black and blue ink stay dark.
    return np.ascontiguousarray(image[:, :, 0])


def _is_blank(grey: np.ndarray) -> bool:
    sample = grey[::4, ::4]
    low, high = np.percentile(sample, [0.5, 99.5])
    return bool(high - low < MIN_CONTRAST)


# --- vertical pages ------------------------------------------------------------------------


def _recognise_vertical(grey: np.ndarray, run: _Run) -> list[OcrLine]:
    clean = clean_page(grey)
    lines = (_recognise_column(clean.grey, column, run) for column in find_columns(clean))
    return [line for line in lines if line is not None]


def _recognise_column(grey: np.ndarray, column: Column, run: _Run) -> OcrLine | None:
    """Recognise one column alone; glyph boxes come from its ink, not from the engine."""
    x0, y0, x1, y1 = column.box
    scale = TARGET_GLYPH_PX / max(1, x1 - x0)
    margin = max(2, round(0.15 * (x1 - x0)))
    top = max(0, y0 - margin)
    crop = grey[top : y1 + margin, max(0, x0 - margin) : x1 + margin]
    words = [word for _, word in _tesseract_words(_prepare(crop, scale), f"--psm {VERTICAL_PSM}", run)]
    pad = _padding()
    # The engine's y (not its x, which is bogus for vertical models) only helps to pair
    # glyphs with ink cells when their counts differ.
    chars = [
        (ch, conf, top + ((a + b) / 2 - pad) / scale)
        for text, conf, (_, word_top, _, word_bottom) in words
        for ch, a, b in _split_span(text, word_top, word_bottom)
    ]
    if not chars:
        return None
    spans = glyph_spans(column.ink, y0, y1, [centre for _, _, centre in chars])
    glyphs = []
    for (ch, conf, _), (g0, g1) in zip(chars, spans):
        left, right = tight_span(column.ink, (g0, g1), y0, (x0, x1))
        glyphs.append(OcrGlyph(ch, (left, g0, right, g1), conf))
    return OcrLine(
        "".join(g.char for g in glyphs), column.box, _mean(g.confidence for g in glyphs), tuple(glyphs)
    )


def _prepare(crop: np.ndarray, scale: float) -> Image.Image:
    """Scale a crop so glyphs are about TARGET_GLYPH_PX wide and pad it with white."""
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=interpolation)
    return Image.fromarray(np.pad(resized, _padding(), constant_values=255))


def _padding() -> int:
    return round(TARGET_GLYPH_PX / 2)  # Tesseract wants paper around the text


def _split_span(text: str, start: float, end: float) -> list[tuple[str, float, float]]:
    """Share a word's span evenly among its characters (CJK glyphs are square)."""
    step = (end - start) / len(text)
    return [(ch, start + i * step, start + (i + 1) * step) for i, ch in enumerate(text)]


# --- horizontal pages ----------------------------------------------------------------------


def _recognise_horizontal(grey: np.ndarray, run: _Run) -> list[OcrLine]:
    clean = clean_page(grey)
    words = _tesseract_words(Image.fromarray(clean.grey), f"--psm {HORIZONTAL_PSM}", run)
    grouped: dict[tuple[int, int, int], list[Word]] = {}
    for key, word in words:
        grouped.setdefault(key, []).append(word)
    return [_horizontal_line(line_words, clean.text_ink) for line_words in grouped.values()]


def _horizontal_line(words: list[Word], text_ink: np.ndarray) -> OcrLine:
    if all(_is_cjk(ch) for text, _, _ in words for ch in text):
        glyphs = _cjk_line_glyphs(words, _union([w[2] for w in words]), text_ink)
    else:  # alphabetic or mixed: one glyph per word, as Tesseract boxed it
        glyphs = [OcrGlyph(text, wbox, conf) for text, conf, wbox in words]
    box = _union([g.box for g in glyphs])
    return OcrLine(_join(glyphs), box, _mean(g.confidence for g in glyphs), tuple(glyphs))


def _cjk_line_glyphs(words: list[Word], box: Box, text_ink: np.ndarray) -> list[OcrGlyph]:
    """Give each character of a CJK line the box of its own ink cell."""
    # Tesseract's line box can clip the first and last glyph: look half a line further.
    reach = (box[3] - box[1]) // 2
    x0, y0, x1, y1 = (max(0, box[0] - reach), box[1], min(text_ink.shape[1], box[2] + reach), box[3])
    chars = [
        (ch, conf, (a + b) / 2)
        for text, conf, wbox in words
        for ch, a, b in _split_span(text, wbox[0], wbox[2])
    ]
    along = text_ink[y0:y1, x0:x1].T  # transposed: the reading axis first, as for a column
    spans = glyph_spans(along, x0, x1, [centre for _, _, centre in chars])
    glyphs = []
    for (ch, conf, _), (g0, g1) in zip(chars, spans):
        top, bottom = tight_span(along, (g0, g1), x0, (y0, y1))
        glyphs.append(OcrGlyph(ch, (g0, top, g1, bottom), conf))
    return glyphs


def _join(glyphs: list[OcrGlyph]) -> str:
    out = ""
    for prev, glyph in zip([None, *glyphs], glyphs):
        if prev is not None and not (_is_cjk(prev.char[-1]) and _is_cjk(glyph.char[0])):
            out += " "
        out += glyph.char
    return out


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (
        0x2E80 <= code <= 0x9FFF  # radicals, punctuation, kana, CJK unified
        or 0xAC00 <= code <= 0xD7AF  # Hangul syllables
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF  # full-width forms
        or 0x20000 <= code <= 0x3134F
    )


# --- Tesseract -----------------------------------------------------------------------------


def _tesseract_words(image: Image.Image, config: str, run: _Run) -> list[tuple[tuple[int, int, int], Word]]:
    """Run Tesseract; return ((block, paragraph, line), word) pairs in reading order."""
    remaining = run.deadline - time.monotonic()
    if remaining <= 0:
        raise OcrError(f"{run.page}: OCR timed out after {run.timeout:g} s")
    try:
        data = pytesseract.image_to_data(
            image, lang=run.lang, config=config, output_type=pytesseract.Output.DICT, timeout=remaining
        )
    except pytesseract.TesseractNotFoundError:
        raise OcrError(f"{run.page}: Tesseract is not installed (apt-get install tesseract-ocr)") from None
    except RuntimeError as exc:  # TesseractError, or pytesseract's bare RuntimeError on timeout
        if isinstance(exc, pytesseract.TesseractError) or "timeout" not in str(exc).lower():
            raise OcrError(f"{run.page}: Tesseract failed: {exc}") from exc
        raise OcrError(f"{run.page}: OCR timed out after {run.timeout:g} s") from None
    return [
        _word(data, i) for i, text in enumerate(data["text"]) if data["level"][i] == 5 and str(text).strip()
    ]


def _word(data: dict[str, list[Any]], i: int) -> tuple[tuple[int, int, int], Word]:
    left, top, width, height = (int(data[k][i]) for k in ("left", "top", "width", "height"))
    confidence = min(1.0, max(0.0, float(data["conf"][i]) / 100))
    key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
    return key, ("".join(str(data["text"][i]).split()), confidence, (left, top, left + width, top + height))


def _engine_version() -> str:
    try:
        return str(pytesseract.get_tesseract_version())
    except pytesseract.TesseractNotFoundError:
        raise OcrError("Tesseract is not installed (apt-get install tesseract-ocr)") from None


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return float(sum(items) / len(items)) if items else 0.0


# --- output --------------------------------------------------------------------------------


def to_text(page: OcrPage) -> str:
    """Return the page text in reading order, one line per column or line."""
    return "".join(line.text + "\n" for line in page.lines)


def to_alto(
    page: OcrPage, *, image_file: str, measurement_unit: str = "pixel", now: datetime, page_number: int = 1
) -> etree._ElementTree:
    """Return the page as an ALTO 4.4 document, coordinates in pixels of ``image_file``.

    Only ``measurement_unit="pixel"`` is supported: OCR coordinates are pixels of the
    access derivative, and converting them would need its resolution.
    """
    if measurement_unit != "pixel":
        raise ValueError(f"measurement_unit {measurement_unit!r} is not supported; use 'pixel'")
    alto = etree.Element(
        xmlns.TAG_ALTO, nsmap={None: xmlns.NAMESPACES["alto"], "xsi": xmlns.NAMESPACES["xsi"]}
    )
    alto.set(xmlns.XSI_SCHEMA_LOCATION, xmlns.schema_location("alto"))
    alto.set("SCHEMAVERSION", xmlns.ALTO_SCHEMA_VERSION)
    alto.append(_description(page, image_file, measurement_unit, now))
    layout = _sub(alto, "Layout")
    page_el = _sub(
        layout,
        "Page",
        ID=f"PAGE_{page_number}",
        WIDTH=page.width,
        HEIGHT=page.height,
        PHYSICAL_IMG_NR=page_number,
        PROCESSINGREFS="OCR_1",
    )
    space = _sub(page_el, "PrintSpace", HPOS=0, VPOS=0, WIDTH=page.width, HEIGHT=page.height)
    if page.lines:
        _text_block(space, page)
    return etree.ElementTree(alto)


def _description(page: OcrPage, image_file: str, unit: str, now: datetime) -> etree._Element:
    description = etree.Element(xmlns.tag("alto", "Description"))
    _sub(description, "MeasurementUnit").text = unit
    _sub(_sub(description, "sourceImageInformation"), "fileName").text = image_file
    note = f"Coordinates are in the pixel space of the access derivative {image_file}, not of the master."
    description.append(etree.Comment(f" {note} "))
    step = _sub(description, "Processing", ID="OCR_1")
    _sub(step, "processingCategory").text = "contentGeneration"
    _sub(step, "processingDateTime").text = now.isoformat(timespec="seconds")
    _sub(step, "processingStepDescription").text = note
    _sub(step, "processingStepSettings").text = "; ".join(
        f"{k}={v}" for k, v in sorted(page.parameters.items())
    )
    software = _sub(step, "processingSoftware")
    _sub(software, "softwareName").text = page.engine
    _sub(software, "softwareVersion").text = page.engine_version
    _sub(software, "applicationDescription").text = "Shuying pipeline.ocr"
    return description


def _text_block(space: etree._Element, page: OcrPage) -> None:
    extent = _union([line.box for line in page.lines])
    direction = {"BASEDIRECTION": "ttb"} if page.vertical else {}
    block = _sub(space, "TextBlock", ID="BLOCK_1", **_box_attrs(extent), **direction)
    for n, line in enumerate(page.lines, start=1):
        line_el = _sub(block, "TextLine", ID=f"LINE_{n}", **_box_attrs(line.box), **direction)
        for m, glyph in enumerate(line.glyphs, start=1):
            if m > 1 and not (_is_cjk(line.glyphs[m - 2].char[-1]) and _is_cjk(glyph.char[0])):
                _sub(line_el, "SP")
            _sub(
                line_el,
                "String",
                ID=f"STRING_{n}_{m}",
                CONTENT=glyph.char,
                WC=f"{glyph.confidence:.3f}",
                **_box_attrs(glyph.box),
            )


def _box_attrs(box: Box) -> dict[str, int]:
    x0, y0, x1, y1 = box
    return {"HPOS": x0, "VPOS": y0, "WIDTH": max(1, x1 - x0), "HEIGHT": max(1, y1 - y0)}


def _union(boxes: list[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _sub(parent: etree._Element, name: str, **attrs: object) -> etree._Element:
    return etree.SubElement(parent, xmlns.tag("alto", name), {k: str(v) for k, v in attrs.items()})
