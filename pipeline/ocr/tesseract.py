"""Tesseract 5 through pytesseract: the baseline engine, and the model choice from a batch's languages."""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np
import pytesseract
from PIL import Image

from pipeline.errors import OcrError
from pipeline.languages import SUPPORTED, models_for
from pipeline.ocr.model import CROP_MARGIN, Box, Deadline, OcrEngine, ReadChar, ReadLine

__all__ = ["TesseractEngine", "check_languages_installed", "choose_languages"]

log = logging.getLogger(__name__)

# Glyph size Tesseract's Chinese models read best, measured on synthetic pages:
# 64 px glyphs scored 0.78 character similarity, 32-40 px 0.93.
TARGET_GLYPH_PX = 36
# Page segmentation for horizontal pages. On a framed synthetic page --psm 3 lost line
# starts (CER 0.24); --psm 4, one column of lines of varying size (headings, page
# numbers), read 0.03 and --psm 6 0.02. 4 copes better with real layouts.
HORIZONTAL_PSM = "4"
VERTICAL_PSM = "5"  # one uniform block of vertical text: our columns, side by side
SIDE_PAD = TARGET_GLYPH_PX  # paper around each column crop set side by side

_INSTALL = "apt-get install tesseract-ocr"

Word = tuple[str, float, Box]  # text, confidence 0..1, box as Tesseract reported it


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
    model = models_for(code, vertical=vertical)
    if model is None:
        raise OcrError(f"no Tesseract model is known for language '{code}' (use {', '.join(SUPPORTED)})")
    return model


def check_languages_installed(lang: str) -> None:
    """Raise OcrError naming the Debian package if a model in ``lang`` is not installed."""
    try:
        installed = set(pytesseract.get_languages(config=""))
    except pytesseract.TesseractNotFoundError:
        raise OcrError(f"Tesseract is not installed ({_INSTALL})") from None
    for model in lang.split("+"):
        if model not in installed:
            package = "tesseract-ocr-" + model.lower().replace("_", "-")
            raise OcrError(f"Tesseract language '{model}' is not installed (apt-get install {package})")


class TesseractEngine:
    """Tesseract with one ``-l`` value; columns are read alone with ``--psm 5``."""

    name = OcrEngine.TESSERACT

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.model = lang

    def version(self) -> str:
        try:
            return str(pytesseract.get_tesseract_version())
        except pytesseract.TesseractNotFoundError:
            raise OcrError(f"Tesseract is not installed ({_INSTALL})") from None

    def read_columns(self, crops: list[np.ndarray], deadline: Deadline) -> list[list[ReadChar]]:
        """Read vertical crops in one Tesseract run: scaled, set side by side right to left.

        Loading the model costs more than reading a column, so one run per page is
        several times cheaper than one per column, and read as well or better on the
        benchmark. Each line Tesseract finds goes to the crop whose part holds it;
        should a line straddle two parts, each crop is read alone instead.
        """
        if not crops:
            return []
        scaled = [_scaled(crop) for crop in crops]
        image, spans = _side_by_side([image for image, _ in scaled])
        parts: list[list[list[Word]]] = [[] for _ in crops]
        for line in self._lines(Image.fromarray(image), f"--psm {VERTICAL_PSM}", deadline):
            part = _part_of(line, spans)
            if part is None:  # a line across two crops: Tesseract's x is no help here
                log.debug("%s: a line spans two columns: reading columns one by one", deadline.page)
                return [self._read_column(crop, deadline) for crop in crops]
            parts[part].append(line)
        # Lines of one crop top to bottom, words as Tesseract ordered them: its y
        # (not its x, bogus for single vertical glyphs) is too rough to reorder glyphs.
        return [
            [
                ReadChar(ch, conf, (a - SIDE_PAD) / scale, (b - SIDE_PAD) / scale)
                for line in sorted(lines, key=lambda ln: min(box[1] for _, _, box in ln))
                for text, conf, (_, top, _, bottom) in line
                for ch, a, b in split_span(text, top, bottom)
            ]
            for lines, (_, scale) in zip(parts, scaled)
        ]

    def _lines(self, image: Image.Image, config: str, deadline: Deadline) -> list[list[Word]]:
        grouped: dict[tuple[int, int, int], list[Word]] = {}
        for key, word in self._words(image, config, deadline):
            grouped.setdefault(key, []).append(word)
        return list(grouped.values())

    def _read_column(self, crop: np.ndarray, deadline: Deadline) -> list[ReadChar]:
        resized, scale = _scaled(crop)
        pad = round(TARGET_GLYPH_PX / 2)  # Tesseract wants paper around the text
        image = Image.fromarray(np.pad(resized, pad, constant_values=255))
        words = [word for _, word in self._words(image, f"--psm {VERTICAL_PSM}", deadline)]
        # The engine's y (not its x, which is bogus for vertical models) only helps to
        # pair glyphs with ink cells when their counts differ.
        return [
            ReadChar(ch, conf, (a - pad) / scale, (b - pad) / scale)
            for text, conf, (_, top, _, bottom) in words
            for ch, a, b in split_span(text, top, bottom)
        ]

    def read_page(self, grey: np.ndarray, deadline: Deadline, *, vertical: bool) -> list[ReadLine]:
        """Let Tesseract lay out and read a whole page (``--psm 4``, or 5 for vertical text)."""
        psm = VERTICAL_PSM if vertical else HORIZONTAL_PSM
        grouped: dict[tuple[int, int, int], list[Word]] = {}
        for key, word in self._words(Image.fromarray(grey), f"--psm {psm}", deadline):
            grouped.setdefault(key, []).append(word)
        return [_read_line(words, vertical) for words in grouped.values()]

    def _words(self, image: Image.Image, config: str, deadline: Deadline) -> list[tuple[tuple[int, int, int], Word]]:
        """Run Tesseract; return ((block, paragraph, line), word) pairs in reading order."""
        remaining = deadline.remaining()
        try:
            data = pytesseract.image_to_data(
                image, lang=self.lang, config=config, output_type=pytesseract.Output.DICT, timeout=remaining
            )
        except pytesseract.TesseractNotFoundError:
            raise OcrError(f"{deadline.page}: Tesseract is not installed ({_INSTALL})") from None
        except RuntimeError as exc:  # TesseractError, or pytesseract's bare RuntimeError on timeout
            if isinstance(exc, pytesseract.TesseractError) or "timeout" not in str(exc).lower():
                raise OcrError(f"{deadline.page}: Tesseract failed: {exc}") from exc
            raise OcrError(f"{deadline.page}: OCR timed out after {deadline.timeout:g} s") from None
        return [_word(data, i) for i, text in enumerate(data["text"]) if data["level"][i] == 5 and str(text).strip()]


def _scaled(crop: np.ndarray) -> tuple[np.ndarray, float]:
    """Return a crop scaled so its glyphs are about TARGET_GLYPH_PX wide, and the scale."""
    scale = TARGET_GLYPH_PX / max(1.0, crop.shape[1] / (1 + 2 * CROP_MARGIN))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(crop, None, fx=scale, fy=scale, interpolation=interpolation), scale


def _side_by_side(images: list[np.ndarray]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Set crops side by side, the first at the right (vertical text reads right to left).

    Returns the image and, per crop, the x span of its part.
    """
    height = max(image.shape[0] for image in images) + 2 * SIDE_PAD
    parts: list[np.ndarray] = []
    spans: list[tuple[int, int]] = []
    x = 0
    for image in reversed(images):
        part = np.full((height, image.shape[1] + 2 * SIDE_PAD), 255, np.uint8)
        part[SIDE_PAD : SIDE_PAD + image.shape[0], SIDE_PAD : SIDE_PAD + image.shape[1]] = image
        parts.append(part)
        spans.append((x, x + part.shape[1]))
        x += part.shape[1]
    return np.hstack(parts), spans[::-1]


def _part_of(line: list[Word], spans: list[tuple[int, int]]) -> int | None:
    """Return the crop whose part holds every word of ``line`` (line x is sound), or None."""
    centres = [(box[0] + box[2]) / 2 for _, _, box in line]
    for index, (start, end) in enumerate(spans):
        if all(start <= c < end for c in centres):
            return index
    return None


def split_span(text: str, start: float, end: float) -> list[tuple[str, float, float]]:
    """Share a word's span evenly among its characters (CJK glyphs are square)."""
    step = (end - start) / len(text)
    return [(ch, start + i * step, start + (i + 1) * step) for i, ch in enumerate(text)]


def _word(data: dict[str, list[Any]], i: int) -> tuple[tuple[int, int, int], Word]:
    left, top, width, height = (int(data[k][i]) for k in ("left", "top", "width", "height"))
    confidence = min(1.0, max(0.0, float(data["conf"][i]) / 100))
    key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
    return key, ("".join(str(data["text"][i]).split()), confidence, (left, top, left + width, top + height))


def _read_line(words: list[Word], vertical: bool) -> ReadLine:
    box = (
        min(w[2][0] for w in words),
        min(w[2][1] for w in words),
        max(w[2][2] for w in words),
        max(w[2][3] for w in words),
    )
    chars: list[ReadChar] = []
    for text, conf, (x0, y0, x1, y1) in words:
        if not all(is_cjk(ch) for ch in text):  # alphabetic: one unit per word
            chars.append(ReadChar(text, conf, *((y0, y1) if vertical else (x0, x1))))
            continue
        span = (y0, y1) if vertical else (x0, x1)
        chars.extend(ReadChar(ch, conf, a, b) for ch, a, b in split_span(text, *span))
    return ReadLine(box, tuple(chars), vertical)


def is_cjk(ch: str) -> bool:
    """True for CJK ideographs, radicals, punctuation, kana and Hangul."""
    code = ord(ch)
    return (
        0x2E80 <= code <= 0x9FFF  # radicals, punctuation, kana, CJK unified
        or 0xAC00 <= code <= 0xD7AF  # Hangul syllables
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF  # full-width forms
        or 0x20000 <= code <= 0x3134F
    )
