"""Synthetic book pages with known text, glyph boxes and skew.

Used by ``shuying demo``, the tests and the benchmarks, which need pages whose
ground truth is exact. :func:`render_vertical_page` draws a woodblock-style leaf
(四周雙邊 double frame, 界行 column rules, 版心 fold column with a 魚尾, text in
columns read right to left, an optional red collector's seal);
:func:`render_horizontal_page` draws Republican-era horizontal print.

Skew sign convention, shared with :mod:`pipeline.deskew`: ``skew_deg > 0`` means
the page content is rotated counter-clockwise as seen on screen (y axis down);
rotating the image by ``-skew_deg`` straightens it.
"""

from __future__ import annotations

import enum
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.deskew import straightening_affine
from pipeline.errors import Problem, ShuyingError

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]

DEFAULT_FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
_MING_FONTS = (
    "truetype/arphic/uming.ttc",
    "opentype/noto/NotoSerifCJK-Regular.ttc",
    "opentype/noto-cjk/NotoSerifCJK-Regular.ttc",
    "truetype/noto/NotoSerifCJK-Regular.ttc",
    "opentype/noto/NotoSansCJK-Regular.ttc",
    "truetype/noto/NotoSansCJK-Regular.ttc",
)
_KAI_FONTS = ("truetype/arphic/ukai.ttc", *_MING_FONTS)
# Faces inside .ttc collections, best first: traditional-character forms.
_PREFERRED_FACES = (" TW", " TC", " HK")

PAPER_RGB = (236, 226, 204)  # warm off-white of aged bamboo/xuan paper
INK_RGB = (30, 26, 24)
VERMILION_RGB = (196, 52, 38)
SEAL_CHARS = "書影珍藏"
FOLD_LABEL = "論語卷一"

# 論語 學而第一 and the opening of 為政第二 (public domain), unpunctuated as in
# woodblock editions.
SAMPLE_TEXT = (
    "學而第一子曰學而時習之不亦說乎有朋自遠方來不亦樂乎人不知而不慍不亦君子乎有子曰其"
    "為人也孝弟而好犯上者鮮矣不好犯上而好作亂者未之有也君子務本本立而道生孝弟也者其為"
    "仁之本與子曰巧言令色鮮矣仁曾子曰吾日三省吾身為人謀而不忠乎與朋友交而不信乎傳不習"
    "乎子曰道千乘之國敬事而信節用而愛人使民以時子曰弟子入則孝出則弟謹而信汎愛眾而親仁"
    "行有餘力則以學文子夏曰賢賢易色事父母能竭其力事君能致其身與朋友交言而有信雖曰未學"
    "吾必謂之學矣子曰君子不重則不威學則不固主忠信無友不如己者過則勿憚改曾子曰慎終追遠"
    "民德歸厚矣子禽問於子貢曰夫子至於是邦也必聞其政求之與抑與之與子貢曰夫子溫良恭儉讓"
    "以得之夫子之求之也其諸異乎人之求之與子曰父在觀其志父沒觀其行三年無改於父之道可謂"
    "孝矣有子曰禮之用和為貴先王之道斯為美小大由之有所不行知和而和不以禮節之亦不可行也"
    "有子曰信近於義言可復也恭近於禮遠恥辱也因不失其親亦可宗也子曰君子食無求飽居無求安"
    "敏於事而慎於言就有道而正焉可謂好學也已子貢曰貧而無諂富而無驕何如子曰可也未若貧而"
    "樂富而好禮者也子貢曰詩云如切如磋如琢如磨其斯之謂與子曰賜也始可與言詩已矣告諸往而"
    "知來者子曰不患人之不己知患不知人也為政第二子曰為政以德譬如北辰居其所而眾星共之子"
    "曰詩三百一言以蔽之曰思無邪子曰道之以政齊之以刑民免而無恥道之以德齊之以禮有恥且格"
    "子曰吾十有五而志于學三十而立四十而不惑五十而知天命六十而耳順七十而從心所欲不踰矩"
)


class FontStyle(str, enum.Enum):
    MING = "ming"  # 明體 / 宋體, the printed woodblock style
    KAI = "kai"  # 楷體, handwritten-looking editions


class FoldColumn(str, enum.Enum):
    """Where the 版心 (fold column) sits on the leaf."""

    NONE = "none"
    LEFT = "left"  # a right-hand half-leaf as photographed in a bound book
    RIGHT = "right"
    CENTRE = "centre"  # a whole unfolded leaf


class FontNotFoundError(ShuyingError, FileNotFoundError):
    """No CJK font is installed where we look for one."""

    def __init__(self, searched: str, problem: str, hint: str = "") -> None:
        self.searched, self.problem, self.hint = searched, problem, hint
        super().__init__(str(Problem(searched, problem, hint=hint)))


@dataclass(frozen=True)
class Glyph:
    """One drawn character and the box of its ink in page pixels."""

    char: str
    box: Box  # x0, y0, x1, y1 (exclusive), after skew


@dataclass(frozen=True)
class RenderedPage:
    """A generated page and its ground truth."""

    image: Image.Image  # RGB
    text: str  # reading order; columns (or lines) joined by "\n"
    glyphs: tuple[Glyph, ...]  # in reading order, same characters as text without "\n"
    skew_deg: float  # counter-clockwise rotation applied to the content
    frame_box: Box  # axis-aligned box of the outer frame, after skew
    fold_text: str = ""  # label printed in the 版心, not part of ``text``


@dataclass(frozen=True)
class _Canvas:
    image: Image.Image
    draw: ImageDraw.ImageDraw
    font: ImageFont.FreeTypeFont
    rng: np.random.Generator
    scale: float  # page width / 1400, for line widths and jitter
    background: tuple[int, int, int]  # fills the corners uncovered by skew


def find_cjk_font(style: FontStyle | str = "ming", search_dirs: tuple[Path, ...] | None = None) -> Path:
    """Return the path of an installed CJK font for ``style``."""
    style = FontStyle(style)
    dirs = tuple(Path(d) for d in (search_dirs if search_dirs is not None else DEFAULT_FONT_DIRS))
    names = _KAI_FONTS if style is FontStyle.KAI else _MING_FONTS
    for rel in names:
        for folder in dirs:
            if (folder / rel).is_file():
                return folder / rel
    for rel in names:  # fonts installed outside the Debian layout
        for folder in (d for d in dirs if d.is_dir()):
            found = sorted(folder.rglob(Path(rel).name))
            if found:
                return found[0]
    searched = ", ".join(str(d) for d in dirs) or "(no folders)"
    hint = "apt-get install fonts-arphic-uming fonts-arphic-ukai fonts-noto-cjk"
    raise FontNotFoundError(searched, f"no CJK font for style '{style.value}'", hint=hint)


def load_cjk_font(size: int, style: FontStyle | str = "ming", font_path: Path | None = None) -> ImageFont.FreeTypeFont:
    """Load a CJK font at ``size`` px, preferring the traditional-character face of a collection."""
    path = font_path or find_cjk_font(style)
    return ImageFont.truetype(str(path), size, index=_face_index(path))


def sample_text_for_page(page_index: int, length: int = 200) -> str:
    """Return ``length`` characters of SAMPLE_TEXT for a page; consecutive pages continue the text."""
    # Each further pass through the text starts 53 characters later, so pages repeat only rarely.
    start = (page_index * length + (page_index * length // len(SAMPLE_TEXT)) * 53) % len(SAMPLE_TEXT)
    repeated = SAMPLE_TEXT * (2 + length // len(SAMPLE_TEXT))
    return repeated[start : start + length]


def render_vertical_page(
    text: str,
    *,
    width: int = 1400,
    height: int = 2000,
    columns: int = 10,
    chars_per_column: int = 20,
    font_path: Path | None = None,
    style: FontStyle | str = "ming",
    skew_deg: float = 0.0,
    seal: bool = False,
    paper: bool = True,
    blur: float = 0.0,
    noise: float = 0.0,
    seed: int = 0,
    fold_column: FoldColumn | bool = True,
) -> RenderedPage:
    """Render woodblock-style vertical text, columns read right to left.

    A "\\n" in ``text`` starts a new column; characters beyond the page's capacity
    are dropped (``RenderedPage.text`` holds what was drawn). ``blur`` is a
    Gaussian radius in pixels and ``noise`` the standard deviation of sensor
    noise as a fraction of full scale. ``fold_column=True`` puts the 版心 at the left.
    """
    _check_layout(width, height, columns, chars_per_column)
    fold_at = _fold_index(columns, _fold_position(fold_column))
    em = min(0.70 * width * 0.83 / (columns + 1), 0.88 * height * 0.82 / chars_per_column)
    canvas = _new_canvas(width, height, em, font_path, style, seed, paper)
    frame = _draw_double_frame(canvas, _frac_box(canvas.image.size, (0.07, 0.09, 0.93, 0.94)))
    inner = _inset(frame, round(canvas.scale * 14))
    slots = _column_slots(inner, columns + (fold_at is not None))
    _draw_column_rules(canvas, inner, slots)
    fold_text = "" if fold_at is None else _draw_fold_column(canvas, slots.pop(fold_at))
    cells = [_cells(s, chars_per_column, vertical=True) for s in reversed(slots)]  # right to left
    lines, glyphs = _draw_text(canvas, text, cells)
    if seal:
        _stamp_seal(canvas, inner)
    return _finish(canvas, "\n".join(lines), glyphs, frame, skew_deg, blur, noise, fold_text)


def render_horizontal_page(
    text: str,
    *,
    width: int = 1400,
    height: int = 2000,
    lines: int = 24,
    chars_per_line: int = 28,
    font_path: Path | None = None,
    style: FontStyle | str = "ming",
    skew_deg: float = 0.0,
    frame: bool = True,
    paper: bool = True,
    blur: float = 0.0,
    noise: float = 0.0,
    seed: int = 0,
) -> RenderedPage:
    """Render Republican-era horizontal print, lines left to right, top to bottom."""
    _check_layout(width, height, chars_per_line, lines)
    em = min(0.92 * width * 0.77 / chars_per_line, height * 0.80 / (lines * 1.3))
    canvas = _new_canvas(width, height, em, font_path, style, seed, paper)
    area = _frac_box(canvas.image.size, (0.09, 0.08, 0.91, 0.93))
    if frame:
        canvas.draw.rectangle(area, outline=INK_RGB, width=max(1, round(canvas.scale * 3)))
    body = _inset(area, round(canvas.scale * 30))
    pitch = (body[3] - body[1]) / lines
    rows = [(body[0], round(body[1] + i * pitch), body[2], round(body[1] + (i + 1) * pitch)) for i in range(lines)]
    cells = [_cells(r, chars_per_line, vertical=False) for r in rows]
    drawn, glyphs = _draw_text(canvas, text, cells)
    return _finish(canvas, "\n".join(drawn), glyphs, area, skew_deg, blur, noise, "")


def _check_layout(width: int, height: int, across: int, down: int) -> None:
    if width < 200 or height < 200 or across < 1 or down < 1:
        raise ValueError(f"cannot lay out {across} x {down} characters on a {width} x {height} page")


def _fold_position(fold_column: FoldColumn | bool) -> FoldColumn:
    if isinstance(fold_column, FoldColumn):
        return fold_column
    return FoldColumn.LEFT if fold_column else FoldColumn.NONE


def _fold_index(columns: int, fold: FoldColumn) -> int | None:
    """Return which slot, counted from the left, holds the 版心."""
    return {FoldColumn.LEFT: 0, FoldColumn.RIGHT: columns, FoldColumn.CENTRE: columns // 2}.get(fold)


def _new_canvas(
    width: int,
    height: int,
    em: float,
    font_path: Path | None,
    style: FontStyle | str,
    seed: int,
    paper: bool,
) -> _Canvas:
    rng = np.random.default_rng(seed)
    background = PAPER_RGB if paper else (255, 255, 255)
    image = _paper(width, height, rng) if paper else Image.new("RGB", (width, height), background)
    font = load_cjk_font(max(8, round(em)), style, font_path)
    return _Canvas(image, ImageDraw.Draw(image), font, rng, width / 1400, background)


def _face_index(path: Path) -> int:
    names: list[str] = []
    for index in range(8):
        try:
            names.append(" ".join(part or "" for part in ImageFont.truetype(str(path), 12, index=index).getname()))
        except OSError:
            break
    for tag in _PREFERRED_FACES:
        for index, name in enumerate(names):
            if tag in name:
                return index
    return 0


def _paper(width: int, height: int, rng: np.random.Generator) -> Image.Image:
    """Warm off-white paper with low-frequency mottling, made at 1/8 scale and scaled up."""
    low = (max(8, width // 8), max(8, height // 8))
    big = cv2.resize(rng.standard_normal((6, 5)).astype(np.float32), low, interpolation=cv2.INTER_CUBIC)
    small = cv2.resize(rng.standard_normal((40, 28)).astype(np.float32), low, interpolation=cv2.INTER_CUBIC)
    mottle = np.clip(128 + (big * 0.5 + small * 0.3) * 40, 0, 255).astype(np.uint8)
    level = Image.fromarray(cv2.resize(mottle, (width, height), interpolation=cv2.INTER_LINEAR))
    # One lookup table per band keeps this fast for 5000 x 7000 pages.
    bands = [level.point([round(min(255, max(0, c + (v - 128) * 0.09))) for v in range(256)]) for c in PAPER_RGB]
    return Image.merge("RGB", bands)


def _frac_box(size: tuple[int, int], frac: tuple[float, float, float, float]) -> Box:
    w, h = size
    return (round(frac[0] * w), round(frac[1] * h), round(frac[2] * w), round(frac[3] * h))


def _inset(box: Box, by: int) -> Box:
    return (box[0] + by, box[1] + by, box[2] - by, box[3] - by)


def _draw_double_frame(canvas: _Canvas, outer: Box) -> Box:
    """Draw 四周雙邊: a thick outer line and a thin inner line; return the outer box."""
    thick, thin = max(2, round(canvas.scale * 9)), max(1, round(canvas.scale * 3))
    canvas.draw.rectangle(outer, outline=INK_RGB, width=thick)
    canvas.draw.rectangle(_inset(outer, thick + round(canvas.scale * 5)), outline=INK_RGB, width=thin)
    return outer


def _column_slots(inner: Box, count: int) -> list[Box]:
    pitch = (inner[2] - inner[0]) / count
    return [(round(inner[0] + i * pitch), inner[1], round(inner[0] + (i + 1) * pitch), inner[3]) for i in range(count)]


def _draw_column_rules(canvas: _Canvas, inner: Box, slots: list[Box]) -> None:
    """Draw 界行, the thin rules between columns."""
    rule = max(1, round(canvas.scale * 2))
    for slot in slots[1:]:
        canvas.draw.line([(slot[0], inner[1]), (slot[0], inner[3])], fill=INK_RGB, width=rule)


def _draw_fold_column(canvas: _Canvas, slot: Box) -> str:
    """Draw the 版心: a black 魚尾 (fish tail) with the book label below it."""
    x0, y0, x1, y1 = slot
    w, h = x1 - x0, y1 - y0
    top = y0 + round(h * 0.22)
    left, right, mid = x0 + w * 0.12, x1 - w * 0.12, (x0 + x1) / 2
    tail = [(left, top), (right, top), (right, top + w * 0.7), (mid, top + w * 0.35), (left, top + w * 0.7)]
    canvas.draw.polygon(tail, fill=INK_RGB)
    rule = max(1, round(canvas.scale * 2))
    canvas.draw.line([(x0, top - w * 0.15), (x1, top - w * 0.15)], fill=INK_RGB, width=rule)
    small = canvas.font.font_variant(size=max(6, round(canvas.font.size * 0.55)))
    step = small.size * 1.2
    for i, ch in enumerate(FOLD_LABEL):
        canvas.draw.text(((x0 + x1) // 2, round(top + w + i * step)), ch, font=small, fill=INK_RGB, anchor="mm")
    return FOLD_LABEL


def _cells(box: Box, count: int, *, vertical: bool) -> list[tuple[int, int]]:
    """Return the centres of ``count`` character cells down a column or along a line."""
    x0, y0, x1, y1 = box
    if vertical:
        return [((x0 + x1) // 2, round(y0 + (i + 0.5) * (y1 - y0) / count)) for i in range(count)]
    return [(round(x0 + (i + 0.5) * (x1 - x0) / count), (y0 + y1) // 2) for i in range(count)]


def _draw_text(canvas: _Canvas, text: str, cells: list[list[tuple[int, int]]]) -> tuple[list[str], list[Glyph]]:
    """Fill ``cells`` (a list of columns or lines) with ``text``; return what was drawn."""
    drawn: list[str] = []
    glyphs: list[Glyph] = []
    paragraphs = [list(p) for p in text.split("\n")]
    for line_cells in cells:
        while paragraphs and not paragraphs[0]:
            paragraphs.pop(0)
        if not paragraphs:
            break
        chars = paragraphs[0][: len(line_cells)]
        del paragraphs[0][: len(line_cells)]
        glyphs.extend(_draw_glyph(canvas, ch, at) for ch, at in zip(chars, line_cells))
        drawn.append("".join(chars))
    if any(paragraphs):
        log.debug("page full: %d characters not drawn", sum(len(p) for p in paragraphs))
    return drawn, glyphs


def _draw_glyph(canvas: _Canvas, char: str, at: tuple[int, int]) -> Glyph:
    # Small per-character offsets and ink variation imitate hand-cut blocks.
    jitter = canvas.rng.normal(0.0, 1.2 * canvas.scale, 2)
    x, y = round(at[0] + jitter[0]), round(at[1] + jitter[1])
    shade = int(canvas.rng.integers(0, 25))
    colour = (INK_RGB[0] + shade, INK_RGB[1] + shade, INK_RGB[2] + shade)
    stroke = max(0, round(canvas.font.size / 90))
    canvas.draw.text((x, y), char, font=canvas.font, fill=colour, anchor="mm", stroke_width=stroke, stroke_fill=colour)
    mask, (dx, dy) = canvas.font.getmask2(char, mode="L", anchor="mm", stroke_width=stroke)
    ink = mask.getbbox() or (0, 0, 0, 0)
    return Glyph(char, (x + dx + ink[0], y + dy + ink[1], x + dx + ink[2], y + dy + ink[3]))


def _stamp_seal(canvas: _Canvas, inner: Box) -> None:
    """Multiply a semi-transparent vermilion 白文 seal over the text."""
    side = round((inner[2] - inner[0]) * 0.16)
    x = int(canvas.rng.integers(inner[0] + side // 4, inner[2] - side - side // 4))
    y = int(canvas.rng.integers(inner[1] + side // 4, inner[3] - side - side // 4))
    stamp = Image.new("L", (side, side), 255)
    draw = ImageDraw.Draw(stamp)
    draw.rectangle((0, 0, side - 1, side - 1), fill=0)
    font = canvas.font.font_variant(size=round(side * 0.40))
    for i, ch in enumerate(SEAL_CHARS):  # read right column first, top to bottom
        cx = round(side * (0.73 if i < 2 else 0.27))
        cy = round(side * (0.28 if i % 2 == 0 else 0.72))
        draw.text((cx, cy), ch, font=font, fill=255, anchor="mm")
    coverage = (255 - np.asarray(stamp, dtype=np.float32)) / 255.0
    coverage *= 0.80 * (0.85 + 0.15 * canvas.rng.random(coverage.shape))  # uneven seal paste
    region = np.asarray(canvas.image.crop((x, y, x + side, y + side)), dtype=np.float32)
    tint = np.asarray(VERMILION_RGB, dtype=np.float32) / 255.0
    blended = region * (1.0 - coverage[..., None] * (1.0 - tint))
    canvas.image.paste(Image.fromarray(blended.astype(np.uint8)), (x, y))


def _finish(
    canvas: _Canvas,
    text: str,
    glyphs: list[Glyph],
    frame: Box,
    skew_deg: float,
    blur: float,
    noise: float,
    fold_text: str,
) -> RenderedPage:
    """Rotate by ``skew_deg`` (counter-clockwise), then blur and add noise as a scanner would."""
    pixels = np.asarray(canvas.image)
    if skew_deg:
        affine, width, height = straightening_affine(-skew_deg, *canvas.image.size)
        matrix = np.array(affine, float).reshape(2, 3)
        pixels = cv2.warpAffine(
            pixels, _pixel_centred(matrix), (width, height), flags=cv2.INTER_CUBIC, borderValue=canvas.background
        )
        glyphs = [Glyph(g.char, _map_box(g.box, matrix)) for g in glyphs]
        frame = _map_box(frame, matrix)
    if blur > 0:
        pixels = cv2.GaussianBlur(pixels, (0, 0), blur)
    if noise > 0:
        pixels = _add_noise(pixels, noise, canvas.rng)
    return RenderedPage(Image.fromarray(pixels), text, tuple(glyphs), float(skew_deg), frame, fold_text)


def _pixel_centred(matrix: np.ndarray) -> np.ndarray:
    """Convert a matrix on pixel-edge coordinates to OpenCV's, where pixel centres are integers."""
    shifted = matrix.copy()
    shifted[:, 2] += 0.5 * (matrix[:, 0] + matrix[:, 1]) - 0.5
    return shifted


def _map_box(box: Box, matrix: np.ndarray) -> Box:
    """Return the axis-aligned box around ``box`` mapped through ``matrix``."""
    x0, y0, x1, y1 = box
    mapped = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]], float) @ matrix.T
    x0, y0 = mapped.min(axis=0)
    x1, y1 = mapped.max(axis=0)
    return (math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1))


def _add_noise(pixels: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    grain = rng.standard_normal(pixels.shape[:2], dtype=np.float32)
    grain *= sigma * 255.0
    noisy = pixels.astype(np.float32)
    noisy += grain[..., None]
    return np.clip(noisy, 0, 255, out=noisy).astype(np.uint8)
