"""Synthetic Republican-era (民国) periodical pages with exact ground truth.

A page has a running header (magazine title and page number) at the top edge,
optionally a horizontal headline read left to right, and body text in vertical
columns read right to left, set in two tiers (上下二欄) split by a rule or by
whitespace alone; a boxed advertisement may take the left of the lower tier.
Microfilm damage (grey streaks, speckle, low contrast, a downscaled copy) is
optional.

``text`` of the page is what a perfect reader's flow gives: the headline, then
the upper tier's columns right to left, then the lower tier's, one line per
column joined by "\\n". The advert's and running header's text stand outside the
flow and are kept in their own fields of :class:`PeriodicalPage`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, replace

import cv2
import numpy as np
from PIL import Image

from pipeline.synthetic import (
    SAMPLE_TEXT,
    Box,
    Glyph,
    RenderedPage,
    _add_noise,
    _Canvas,
    _cells,
    _draw_text,
    _new_canvas,
)

__all__ = ["PeriodicalLayout", "PeriodicalPage", "benchmark_pages", "punctuate", "render_periodical_page"]

MAGAZINE = "東方雜誌"
HEADLINES = ("論學而時習之義", "讀論語劄記", "君子務本說", "為政以德論")
ADVERT_LINES = ("商務印書館", "新書出版", "每冊大洋五角")
INK = (30, 26, 24)


class PeriodicalLayout(str, enum.Enum):
    """The page layouts the generator draws; the value names the benchmark subset."""

    TWO_TIERS_RULE = "two tiers, rule"
    TWO_TIERS_WHITESPACE = "two tiers, whitespace"
    HEADLINE_ADVERT = "headline + advert"


@dataclass(frozen=True)
class PeriodicalPage(RenderedPage):
    """A rendered periodical page; ``text`` and ``glyphs`` hold the reading flow only."""

    heading_box: Box | None = None
    tier_boxes: tuple[Box, ...] = ()
    advert_box: Box | None = None  # the advert's frame
    advert_text: str = ""  # its lines joined by "\n", not in ``text``
    running_text: str = ""  # header and page number, not in ``text``


@dataclass(frozen=True)
class _Frame:
    """Where each part of a page goes, in pixels."""

    running: Box
    heading: Box | None
    tiers: tuple[Box, ...]
    advert: Box | None


def render_periodical_page(
    layout: PeriodicalLayout,
    *,
    width: int = 1400,
    height: int = 2000,
    seed: int = 0,
    chars_per_column: int = 18,
    text: str | None = None,
    page_number: int = 1,
    microfilm: bool = False,
) -> PeriodicalPage:
    """Render one periodical page in ``layout``; ``text`` defaults to punctuated SAMPLE_TEXT.

    ``microfilm`` adds vertical grey streaks, speckle, low contrast and the
    softness of a downscaled copy.
    """
    frame = _frame(layout, width, height)
    tier_height = frame.tiers[0][3] - frame.tiers[0][1]
    em = 0.82 * tier_height / chars_per_column
    canvas = _new_canvas(width, height, em, None, "ming", seed, True)
    body = text if text is not None else punctuate((SAMPLE_TEXT * 2)[(seed * 137) % len(SAMPLE_TEXT) :], seed)
    running = _draw_running(canvas, frame.running, page_number)
    heading, heading_glyphs = _draw_heading(canvas, frame.heading, HEADLINES[seed % len(HEADLINES)])
    if layout is PeriodicalLayout.TWO_TIERS_RULE or frame.advert is not None:
        _draw_rule(canvas, frame.tiers[0], frame.tiers[1])
    columns = [c for tier in frame.tiers for c in _column_cells(tier, chars_per_column, em)]
    drawn, glyphs = _draw_text(canvas, body, columns)
    advert = _draw_advert(canvas, frame.advert) if frame.advert else ""
    pixels = np.asarray(canvas.image)
    if microfilm:
        pixels = _microfilm(pixels, canvas.rng)
    flow = ([heading] if heading else []) + drawn
    return PeriodicalPage(
        Image.fromarray(pixels),
        "\n".join(flow),
        tuple(heading_glyphs + glyphs),
        0.0,
        (0, 0, width, height),
        heading_box=frame.heading,
        tier_boxes=frame.tiers,
        advert_box=frame.advert,
        advert_text=advert,
        running_text=running,
    )


def benchmark_pages(
    count: int, *, width: int = 1400, height: int = 2000
) -> Iterator[tuple[str, tuple[str, ...], PeriodicalPage, bool]]:
    """Yield ``count`` pages (name, benchmark subsets, page, vertical), cycling through the layouts.

    Every fourth page is a microfilm copy, in the "noisy" subset as well as its layout's.
    """
    layouts = list(PeriodicalLayout)
    for i in range(count):
        layout = layouts[i % len(layouts)]
        noisy = i % 4 == 3
        page = render_periodical_page(
            layout, width=width, height=height, seed=300 + i, page_number=i + 1, microfilm=noisy
        )
        yield f"m{i:02d}", (layout.value, "noisy") if noisy else (layout.value,), page, True


def punctuate(text: str, seed: int = 0) -> str:
    """Insert modern punctuation (，。「」) into unpunctuated text, each mark in its own cell."""
    rng = np.random.default_rng(seed)
    out: list[str] = []
    quoted = False
    clause = int(rng.integers(4, 9))
    for ch in text:
        out.append(ch)
        clause -= 1
        if clause == 0:
            if quoted:
                out.append("」")
                quoted = False
            out.append("。" if rng.random() < 0.35 else "，")
            if rng.random() < 0.12:
                out.append("「")
                quoted = True
            clause = int(rng.integers(4, 9))
    return "".join(out)


# --- page geometry ---------------------------------------------------------------------------


def _frame(layout: PeriodicalLayout, width: int, height: int) -> _Frame:
    left, right = round(0.07 * width), round(0.93 * width)
    running = (left, round(0.025 * height), right, round(0.045 * height))
    top = round(0.07 * height)
    heading = None
    if layout is PeriodicalLayout.HEADLINE_ADVERT:
        heading = (left, round(0.08 * height), right, round(0.125 * height))
        top = round(0.15 * height)
    bottom = round(0.95 * height)
    gap = round(0.05 * height)  # between tiers: room for a rule, or whitespace alone
    middle = (top + bottom) // 2
    tiers = ((left, top, right, middle - gap // 2), (left, middle + gap // 2, right, bottom))
    advert = None
    if layout is PeriodicalLayout.HEADLINE_ADVERT:
        lower = tiers[1]
        advert = (left, lower[1], left + round(0.36 * (right - left)), lower[3])
        tiers = (tiers[0], (advert[2] + round(0.04 * width), lower[1], right, lower[3]))
    return _Frame(running, heading, tiers, advert)


def _column_cells(tier: Box, chars_per_column: int, em: float) -> list[list[tuple[int, int]]]:
    """Return the cells of a tier's columns, right to left; columns are 1.6 em apart, as 5-號 type set loosely."""
    x0, y0, x1, y1 = tier
    count = max(1, int((x1 - x0) / (1.6 * em)))
    pitch = (x1 - x0) / count
    slots = [(round(x1 - (i + 1) * pitch), y0, round(x1 - i * pitch), y1) for i in range(count)]
    return [_cells(slot, chars_per_column, vertical=True) for slot in slots]


# --- drawing ---------------------------------------------------------------------------------


def _sized(canvas: _Canvas, size: float) -> _Canvas:
    return replace(canvas, font=canvas.font.font_variant(size=max(8, round(size))))


def _draw_running(canvas: _Canvas, box: Box, page_number: int) -> str:
    """Draw the magazine title at the left of the top edge and the page number at the right."""
    x0, y0, x1, y1 = box
    small = _sized(canvas, 0.8 * (y1 - y0))
    pitch = small.font.size * 1.1
    title = [(round(x0 + (i + 0.5) * pitch), (y0 + y1) // 2) for i in range(len(MAGAZINE))]
    number = str(page_number)
    digits = [(round(x1 - (len(number) - i - 0.5) * 0.6 * pitch), (y0 + y1) // 2) for i in range(len(number))]
    _draw_text(small, MAGAZINE, [title])
    _draw_text(small, number, [digits])
    return f"{MAGAZINE}\n{number}"


def _draw_heading(canvas: _Canvas, box: Box | None, headline: str) -> tuple[str, list[Glyph]]:
    """Draw a headline left to right, centred, in type about twice the body's size."""
    if box is None:
        return "", []
    x0, y0, x1, y1 = box
    big = _sized(canvas, 0.8 * (y1 - y0))
    pitch = big.font.size * 1.25
    start = (x0 + x1) / 2 - pitch * len(headline) / 2
    cells = [(round(start + (i + 0.5) * pitch), (y0 + y1) // 2) for i in range(len(headline))]
    drawn, glyphs = _draw_text(big, headline, [cells])
    return "".join(drawn), glyphs


def _draw_rule(canvas: _Canvas, upper: Box, lower: Box) -> None:
    """Draw the thin rule between two tiers, across the whole text width."""
    y = (upper[3] + lower[1]) // 2
    x0, x1 = min(upper[0], lower[0]), max(upper[2], lower[2])
    canvas.draw.line([(x0, y), (x1, y)], fill=INK, width=max(1, round(canvas.scale * 3)))


def _draw_advert(canvas: _Canvas, box: Box) -> str:
    """Draw a framed advert with its lines horizontal, centred; return its text."""
    x0, y0, x1, y1 = box
    canvas.draw.rectangle(box, outline=INK, width=max(2, round(canvas.scale * 5)))
    size = min(0.7 * (x1 - x0) / max(len(line) for line in ADVERT_LINES), 0.12 * (y1 - y0))
    font = _sized(canvas, size)
    pitch_y = (y1 - y0) / (len(ADVERT_LINES) + 1)
    for n, line in enumerate(ADVERT_LINES, start=1):
        pitch = size * 1.15
        start = (x0 + x1) / 2 - pitch * len(line) / 2
        y = round(y0 + n * pitch_y)
        _draw_text(font, line, [[(round(start + (i + 0.5) * pitch), y) for i in range(len(line))]])
    return "\n".join(ADVERT_LINES)


def _microfilm(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Age a page as a microfilm copy: grey streaks down the film, speckle, low contrast, lost detail."""
    height, width = pixels.shape[:2]
    grey = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grey = 70 + grey * 0.65  # low contrast: paper about 220, ink about 90
    for _ in range(int(rng.integers(3, 6))):
        x, w = int(rng.integers(0, width)), int(rng.integers(2, max(3, width // 80)))
        grey[:, x : x + w] -= float(rng.uniform(15, 35))  # scratches and streaks along the film
    speckle = rng.random(grey.shape) < 0.002
    grey[speckle] = 60
    small = cv2.resize(grey, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    grey = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    rgb = np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    return _add_noise(rgb, 0.02, rng)
