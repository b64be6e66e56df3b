"""OCR: recognise page text with Tesseract or PP-OCR, write ALTO 4.4 and plain text.

``from pipeline import ocr`` gives the whole public API; the submodules are
layout (columns, notes, 版心), glyphs (boxes from ink), the engines (tesseract,
ppocr), script (OpenCC mapping), recognise (the page pipeline) and alto.
"""

from __future__ import annotations

from pipeline.ocr.alto import to_alto, to_text
from pipeline.ocr.engines import (
    AUTO,
    DEFAULT_ENGINES,
    OcrPlan,
    choose_engine,
    make_engine,
    plan_ocr,
)
from pipeline.ocr.model import (
    FLOW_ROLES,
    LOW_GLYPH_CONFIDENCE,
    REVIEW_THRESHOLD,
    Binarisation,
    BlockRole,
    Engine,
    OcrBlock,
    OcrEngine,
    OcrGlyph,
    OcrLine,
    OcrPage,
    OcrRegion,
    PageLayout,
    Preprocessing,
    RegionKind,
)
from pipeline.ocr.recognise import recognise_page
from pipeline.ocr.script import Script, ScriptMapper, script_of
from pipeline.ocr.tesseract import check_languages_installed, choose_languages

__all__ = [
    "AUTO",
    "DEFAULT_ENGINES",
    "FLOW_ROLES",
    "LOW_GLYPH_CONFIDENCE",
    "REVIEW_THRESHOLD",
    "Binarisation",
    "BlockRole",
    "Engine",
    "OcrBlock",
    "OcrEngine",
    "OcrGlyph",
    "OcrLine",
    "OcrPage",
    "OcrPlan",
    "OcrRegion",
    "PageLayout",
    "Preprocessing",
    "RegionKind",
    "Script",
    "ScriptMapper",
    "check_languages_installed",
    "choose_engine",
    "choose_languages",
    "make_engine",
    "plan_ocr",
    "recognise_page",
    "script_of",
    "to_alto",
    "to_text",
]
