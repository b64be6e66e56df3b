"""After reading: rule residue kept out of the text, and a reason for every page left without text."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.ocr.layout import CleanPage
from pipeline.ocr.model import OcrBlock, OcrGlyph, OcrLine, OcrRegion, RegionKind, mean, union

__all__ = ["mostly_latin", "why_empty", "without_residue"]

# What broken column rules and frame fragments read as. None of them is a character of
# a woodblock text; in periodicals the dash (——) is punctuation, so only vertical
# woodblock columns lose those.
STROKE_MARKS = frozenset("_＿|｜丨‖¦")
DASH_MARKS = frozenset("—―－-~～·•#＃")
# Stray commas and stops come from rule dashes beside a glyph; printed 句讀 are read surely.
PUNCTUATION = frozenset("，、。．.,;；:：")
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
    glyphs = tuple(g for g in line.glyphs if not _residue(g, woodblock))
    if not glyphs or all(g.char in PUNCTUATION for g in glyphs):
        return None
    if len(glyphs) == len(line.glyphs):
        return line
    text = "".join(g.char for g in glyphs) if woodblock else _respaced(line.text, line.glyphs, glyphs)
    return OcrLine(text, union(g.box for g in glyphs), mean(g.confidence for g in glyphs), glyphs, line.note)


def _residue(glyph: OcrGlyph, woodblock: bool) -> bool:
    if glyph.char and all(ch in STROKE_MARKS for ch in glyph.char):
        return True
    if not woodblock:
        return False
    if all(ch in DASH_MARKS for ch in glyph.char):
        return True
    return glyph.char in PUNCTUATION and glyph.confidence < SURE_PUNCTUATION


def _respaced(text: str, before: tuple[OcrGlyph, ...], after: tuple[OcrGlyph, ...]) -> str:
    """Rebuild a line's text from the glyphs kept, with one space where the line had a space."""
    if " " not in text:
        return "".join(g.char for g in after)
    return " ".join(g.char for g in after)
