"""The languages Shuying reads, as batch.json declares them (BCP 47), and Tesseract's model for each.

Kept apart from the OCR engines so that loading a batch can refuse a language no model
reads, before any processing, without importing an engine.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CHINESE", "PPOCR_LANGUAGES", "SIMPLIFIED_TAGS", "SUPPORTED", "TesseractModels", "models_for", "primary_subtags"]

CHINESE = frozenset({"lzh", "zh", "zho", "chi", "och", "ltc", "cmn", "yue"})
PPOCR_LANGUAGES = CHINESE | {"en"}  # what PP-OCR's Chinese model reads (it reads Latin letters too)
SIMPLIFIED_TAGS = frozenset({"hans", "cn", "sg", "my"})
FRAKTUR_TAG = "latf"  # ISO 15924 Latin (Fraktur variant): de-Latf is German set in blackletter


@dataclass(frozen=True)
class TesseractModels:
    """Tesseract's models for one language: horizontal, vertical (if trained) and blackletter (if any)."""

    horizontal: str
    vertical: str = ""
    fraktur: str = ""


# Debian 12 packages tesseract-ocr-<model> for each (underscores become hyphens).
# Vertical models exist only for the CJK languages; a vertical Latin or Cyrillic page is
# read with the horizontal model. frk is Tesseract's German Fraktur model.
_MODELS: dict[str, TesseractModels] = {
    "ko": TesseractModels("kor", "kor_vert"),
    "ja": TesseractModels("jpn", "jpn_vert"),
    "en": TesseractModels("eng"),
    "de": TesseractModels("deu", fraktur="frk"),
    "fr": TesseractModels("fra"),
    "ru": TesseractModels("rus"),
    "la": TesseractModels("lat"),
}
# ISO 639-2 codes (bibliographic and terminology) a catalogue may use instead.
_ALIASES = {"kor": "ko", "jpn": "ja", "eng": "en", "deu": "de", "ger": "de", "fra": "fr", "fre": "fr",
            "rus": "ru", "lat": "la"}
SUPPORTED = ("lzh", "zh-Hant", "zh-Hans", *sorted(_MODELS), "de-Latf")


def primary_subtags(code: str) -> tuple[str, set[str]]:
    """Return a BCP 47 tag's primary language (lower case) and its other subtags."""
    primary, *subtags = code.strip().lower().replace("_", "-").split("-")
    return _ALIASES.get(primary, primary), set(subtags)


def models_for(code: str, *, vertical: bool) -> str | None:
    """Return the Tesseract model that reads ``code`` in that direction, or None if none is known."""
    primary, subtags = primary_subtags(code)
    if primary in CHINESE:
        model = "chi_sim" if SIMPLIFIED_TAGS & subtags else "chi_tra"
        return f"{model}_vert" if vertical else model
    models = _MODELS.get(primary)
    if models is None:
        return None
    if FRAKTUR_TAG in subtags and models.fraktur:
        return models.fraktur
    return (models.vertical or models.horizontal) if vertical else models.horizontal
