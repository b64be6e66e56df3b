"""Which engine reads a batch: a default per material, chosen by benchmarks/ocr.py, and overrides."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.errors import OcrError
from pipeline.ocr.model import Engine, OcrEngine, PageLayout
from pipeline.ocr.ppocr import PpOcrEngine
from pipeline.ocr.script import Script, script_of
from pipeline.ocr.tesseract import TesseractEngine, check_languages_installed, choose_languages

__all__ = ["AUTO", "DEFAULT_ENGINES", "OcrPlan", "choose_engine", "choose_layout", "make_engine", "page_override",
           "plan_ocr"]

log = logging.getLogger(__name__)

AUTO = "auto"  # use the default for the batch's material and script
# Keyed by "material_type/script", then by "material_type" (script: traditional,
# simplified, other). From benchmarks/ocr.py (figures in benchmarks/README.md, "OCR"),
# ours with PP-OCRv6 against ours with Tesseract: real woodblock leaves 0.033 against
# 0.358 CER; generated horizontal print, traditional 0.021 against 0.040, simplified
# 0.000 against 0.093. Languages PP-OCR cannot read still go to Tesseract (choose_engine).
DEFAULT_ENGINES: Mapping[str, OcrEngine] = {
    "ancient_book": OcrEngine.PPOCR,
    "republican": OcrEngine.PPOCR,
    "other": OcrEngine.TESSERACT,
}
_CHINESE = {"lzh", "zh", "zho", "chi", "och", "ltc", "cmn", "yue", "en", "eng"}


@dataclass(frozen=True)
class OcrPlan:
    """How a batch's pages are read: engine, Tesseract model, direction and script of the text."""

    engine: OcrEngine
    lang: str  # Tesseract's -l value (kept for the record with PP-OCR too)
    vertical: bool
    script: Script
    layout: PageLayout = PageLayout.ENGINE

    def engine_ready(self) -> Engine:
        """Return the engine, after checking Tesseract has the models (naming the Debian package if not)."""
        if self.engine is OcrEngine.TESSERACT:
            check_languages_installed(self.lang)
        return make_engine(self.engine, self.lang)


def plan_ocr(
    languages: tuple[str, ...],
    script_direction: str,
    material_type: str,
    *,
    override: str | None = None,
    configured: Mapping[str, str] | None = None,
) -> OcrPlan:
    """Return the OCR plan for a batch (or a page whose batch.json entry overrides these)."""
    direction = str(getattr(script_direction, "value", script_direction))
    engine = choose_engine(material_type, languages, override=override, configured=configured)
    vertical = direction == "vertical-rl"
    lang = choose_languages(languages, direction)
    return OcrPlan(engine, lang, vertical, script_of(languages), choose_layout(material_type, vertical))


def page_override(requested: str, page_engine: str = "") -> str:
    """Return the engine override for one page: ``requested`` (``--ocr-engine``) unless it is
    auto, else the page's batch.json ``ocr_engine``, else auto (the configured or default engine)."""
    if requested and requested != AUTO:
        return requested
    return page_engine or AUTO


def choose_layout(material_type: str, vertical: bool) -> PageLayout:
    """Return how pages of a material are laid out: periodicals in blocks, books in columns."""
    material = str(getattr(material_type, "value", material_type))
    if material == "republican":
        return PageLayout.BLOCKS
    return PageLayout.COLUMNS if vertical else PageLayout.ENGINE


def choose_engine(
    material_type: str,
    languages: tuple[str, ...] = (),
    *,
    override: str | None = None,
    configured: Mapping[str, str] | None = None,
) -> OcrEngine:
    """Return the engine for a batch: ``override``, else ``configured``, else DEFAULT_ENGINES.

    ``configured`` and DEFAULT_ENGINES are looked up by "material/script" first, then
    by material. Without an explicit override, pages declaring a language PP-OCR's
    Chinese model cannot read (Korean, Japanese kana) go to Tesseract.
    """
    material = str(getattr(material_type, "value", material_type))
    if override and override != AUTO:
        return _parse(override, "--ocr-engine")
    keys = (f"{material}/{script_of(languages).value}", material)
    choice = next((configured[k] for k in keys if configured and k in configured), AUTO)
    if choice != AUTO:
        engine = _parse(choice, f"ocr engine for {material}")
    else:
        engine = next((DEFAULT_ENGINES[k] for k in keys if k in DEFAULT_ENGINES), OcrEngine.TESSERACT)
    if engine is OcrEngine.PPOCR and not _chinese_only(languages):
        log.info("languages %s include a script PP-OCR's Chinese model cannot read: using Tesseract", languages)
        return OcrEngine.TESSERACT
    return engine


def make_engine(engine: OcrEngine, lang: str) -> Engine:
    """Return a ready engine; ``lang`` is Tesseract's ``-l`` value (PP-OCR has one model)."""
    if engine is OcrEngine.PPOCR:
        return PpOcrEngine()
    return TesseractEngine(lang)


def _parse(value: str, what: str) -> OcrEngine:
    try:
        return OcrEngine(value.strip().lower())
    except ValueError:
        choices = ", ".join([AUTO, *(e.value for e in OcrEngine)])
        raise OcrError(f"{what}: unknown OCR engine '{value}' (choose {choices})") from None


def _chinese_only(languages: tuple[str, ...]) -> bool:
    return all(code.strip().lower().replace("_", "-").split("-")[0] in _CHINESE for code in languages)
