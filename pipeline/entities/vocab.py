"""Shipped word lists, and the folding that lets one list match both scripts.

Every rule matches on the page text folded character by character to simplified
(:func:`pipeline.search.fold`: same length, so a match's span is a span on the page),
and every list is folded the same way. 乾隆 and 乾隆, 萬曆 and 万历, 浙江巡撫 and
浙江巡抚 are then one string, whichever script the page or the list is in.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import schemas
from pipeline.errors import ShuyingError
from pipeline.search import fold as _search_fold

__all__ = ["VOCABULARY_DIR", "EntityDataError", "alternation", "fold", "load"]

VOCABULARY_DIR = schemas.SCHEMA_DIR / "vocabularies"


class EntityDataError(ShuyingError):
    """A shipped entity list is missing or malformed (a packaging fault, not the user's)."""


@functools.cache
def _converter() -> object:
    from pipeline.search import _converter as make
    return make()


def fold(text: str) -> str:
    """Return ``text`` folded as the rules see it: NFC, case-folded, simplified, one character per character."""
    return _search_fold(text, _converter())


def load(name: str) -> dict[str, Any]:
    """Return ``schemas/vocabularies/<name>.json`` parsed.

    Raises:
        EntityDataError: the file is missing or is not a JSON object.
    """
    return _load(VOCABULARY_DIR / f"{name}.json")


@functools.cache
def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EntityDataError(f"{path}: cannot read the entity list: {exc}") from None
    if not isinstance(data, dict):
        raise EntityDataError(f"{path}: the entity list is not a JSON object")
    return data


def alternation(words: Iterable[str]) -> str:
    """Return a regex group matching any of the folded ``words``, longest first (翰林院編修 before 編修)."""
    folded = sorted({fold(w) for w in words if w}, key=lambda w: (-len(w), w))
    if not folded:
        return "(?!)"
    return "(?:" + "|".join(re.escape(w) for w in folded) + ")"
