"""After reading: rule residue kept out of the text, and a reason for every page left without text."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.ocr.layout import CleanPage
from pipeline.ocr.model import OcrBlock, OcrGlyph, OcrLine, OcrRegion, RegionKind, mean, union

__all__ = ["mostly_latin", "why_empty", "without_residue"]

# What broken column rules and frame fragments read as. Strokes are never text. A dash
# is: the Chinese dash (破折號) is two em dashes, so on a periodical only a lone dash is
# residue, and on a woodblock column (unpunctuated) every dash, dot and hash is.
STROKE_MARKS = frozenset("_＿|｜丨‖¦")
DASHES = frozenset("—―－-─━")
WOODBLOCK_MARKS = frozenset("~～·•#＃")
# Stray commas and stops come from rule dashes beside a glyph; printed 句讀 are read
# surely. A line of nothing but punctuation is residue on any page.
PUNCTUATION = frozenset("，、。．.,;；:：・·「」『』")
SURE_PUNCTUATION = 0.8
# A page whose column reading is mostly Latin letters and digits is not vertical Chinese
# (a Western title leaf or bookplate in a Chinese book): the columns cut it into nonsense.
LATIN_SHARE = 0.5
# Ink in at least this many glyph-sized shapes looks like text (an illustration's strokes
# are few and large).
TEXT_LIKE_SHAPES = 30


def without_residue(blocks: list[OcrBlock], *, woodblock: bool) -> list[OcrBlock]:
    """Drop glyphs that are rule residue, and lines and blocks left empty by it."""
    kept = []
    for block in blocks:
        lines = tuple(line for line in (_line_without_residue(ln, woodblock) for ln in block.lines) if line)
        if lines:
            kept.append(OcrBlock(block.role, union(line.box for line in lines), lines, block.vertical))
    return kept


def mostly_latin(blocks: list[OcrBlock]) -> bool:
    """True when most glyphs read are ASCII letters and digits."""
    chars = [ch for block in blocks for line in block.lines for g in line.glyphs for ch in g.char]
    return bool(chars) and sum(ch.isascii() and ch.isalnum() for ch in chars) >= LATIN_SHARE * len(chars)


def why_empty(clean: CleanPage) -> tuple[str, bool, tuple[OcrRegion, ...]]:
    """Return why a page with ink yielded no text: (reason, ink unread, regions found).

    Many glyph-sized shapes mean text went unread (a reviewer must look); a few large
    ones are a picture, marked as an illustration region.
    """
    ink = clean.text_ink | clean.solid
    if not ink.any():
        return "no text: only rules and frame lines", False, ()
    height, width = ink.shape
    count, _, stats, _ = cv2.connectedComponentsWithStats(clean.text_ink.astype(np.uint8), connectivity=8)
    heights, widths = stats[1:count, cv2.CC_STAT_HEIGHT], stats[1:count, cv2.CC_STAT_WIDTH]
    glyph_sized = int(np.sum((heights < 0.08 * height) & (widths < 0.08 * width) & (heights > 0.004 * height)))
    if glyph_sized >= TEXT_LIKE_SHAPES:
        return f"ink that looks like text ({glyph_sized} glyph-sized shapes) but nothing was read", True, ()
    ys, xs = np.nonzero(ink)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return "no text: the ink is an illustration", False, (OcrRegion(RegionKind.ILLUSTRATION, box),)


def _line_without_residue(line: OcrLine, woodblock: bool) -> OcrLine | None:
    glyphs = tuple(g for i, g in enumerate(line.glyphs) if not _residue(line.glyphs, i, woodblock))
    if not glyphs or all(g.char in PUNCTUATION for g in glyphs):
        return None
    if len(glyphs) == len(line.glyphs):
        return line
    text = (" " if " " in line.text else "").join(g.char for g in glyphs)  # words stay apart
    return OcrLine(text, union(g.box for g in glyphs), mean(g.confidence for g in glyphs), glyphs, line.note)


def _residue(glyphs: tuple[OcrGlyph, ...], index: int, woodblock: bool) -> bool:
    chars = glyphs[index].char
    if chars and all(ch in STROKE_MARKS for ch in chars):
        return True
    if chars and all(ch in DASHES for ch in chars):
        return woodblock or not _doubled(glyphs, index)
    if woodblock and chars and all(ch in WOODBLOCK_MARKS for ch in chars):
        return True
    return woodblock and chars in PUNCTUATION and glyphs[index].confidence < SURE_PUNCTUATION


def _doubled(glyphs: tuple[OcrGlyph, ...], index: int) -> bool:
    """True when a dash is one of a pair (——), or was read as a pair."""
    neighbours = [glyphs[j].char for j in (index - 1, index + 1) if 0 <= j < len(glyphs)]
    return len(glyphs[index].char) > 1 or any(n and all(ch in DASHES for ch in n) for n in neighbours)
