"""Keep recognised text in the script of the page (traditional or simplified) with OpenCC.

PP-OCR's Chinese model mixes the two scripts and answers 静, 黄, 陈 for 靜, 黃, 陳.
A character is mapped only when it cannot belong to the page's script: for
traditional pages, when Big5 cannot encode it; for simplified pages, when GB2312
cannot. So 云, 后, 于 or 余, which are also traditional characters (and common in
classical text), are never "corrected" into 雲, 後, 於 or 餘.
"""

from __future__ import annotations

import enum
import logging

from pipeline.errors import OcrError
from pipeline.languages import CHINESE as _CHINESE
from pipeline.languages import SIMPLIFIED_TAGS as _SIMPLIFIED_TAGS

__all__ = ["Script", "ScriptMapper", "script_of"]

log = logging.getLogger(__name__)

_PACKAGE = "opencc"


class Script(str, enum.Enum):
    TRADITIONAL = "traditional"
    SIMPLIFIED = "simplified"
    OTHER = "other"  # no mapping


def script_of(languages: tuple[str, ...]) -> Script:
    """Return the Chinese script a batch declares: simplified only where a tag says so."""
    for code in languages or ("lzh",):
        primary, *subtags = code.strip().lower().replace("_", "-").split("-")
        if primary in _CHINESE:
            return Script.SIMPLIFIED if _SIMPLIFIED_TAGS & set(subtags) else Script.TRADITIONAL
    return Script.OTHER


class ScriptMapper:
    """Map characters foreign to ``script`` into it, one character at a time.

    ``guarded=False`` maps every character OpenCC would change (the benchmark's
    comparison); the default maps only characters the script's legacy encoding lacks.
    """

    def __init__(self, script: Script, *, guarded: bool = True) -> None:
        self.script = script
        self.guarded = guarded
        self._converter = _converter(script) if script is not Script.OTHER else None
        self._codec = "big5" if script is Script.TRADITIONAL else "gb2312"
        self._seen: dict[str, str] = {}

    def map_text(self, text: str) -> str:
        """Return ``text`` with each character mapped (same length: characters map one to one)."""
        return "".join(self.map_char(ch) for ch in text)

    def map_char(self, ch: str) -> str:
        """Return the character in the page's script (``ch`` itself when it belongs or has no mapping)."""
        if self._converter is None or len(ch) != 1:
            return ch
        if ch not in self._seen:
            self._seen[ch] = self._convert(ch)
        return self._seen[ch]

    def _convert(self, ch: str) -> str:
        if self.guarded and _encodable(ch, self._codec):
            return ch
        converted = self._converter.convert(ch) if self._converter else ch
        return converted if len(converted) == 1 else ch


def _converter(script: Script):  # -> opencc.OpenCC, untyped upstream
    try:
        import opencc
    except ImportError:
        raise OcrError(
            f"mapping OCR output to {script.value} characters needs the {_PACKAGE} package (pip install {_PACKAGE})"
        ) from None
    return opencc.OpenCC("s2t" if script is Script.TRADITIONAL else "t2s")


def _encodable(ch: str, codec: str) -> bool:
    try:
        ch.encode(codec)
    except UnicodeEncodeError:
        return False
    return True
