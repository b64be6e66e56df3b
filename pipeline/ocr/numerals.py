"""Chinese numerals in the 版心: the leaf number printed at the foot of the fold column."""

from __future__ import annotations

import re

__all__ = ["chinese_number", "leaf_number"]

_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_NUMERAL = "〇零一二兩三四五六七八九十百千"
# The leaf number closes the fold text; "卷三十七" before it is the juan, not the leaf.
_TRAILING = re.compile(f"(?<!卷)(?<![{_NUMERAL}])([{_NUMERAL}]+)$")


def chinese_number(text: str) -> int | None:
    """Return the value of a Chinese numeral (三十七, 一百二, 一〇五), or None if ``text`` is not one."""
    if not text or any(ch not in _DIGITS and ch not in _UNITS for ch in text):
        return None
    if not any(ch in _UNITS for ch in text):  # positional, as leaf numbers are often cut: 一〇五
        return int("".join(str(_DIGITS[ch]) for ch in text))
    total, digit = 0, None
    for ch in text:
        if _DIGITS.get(ch) == 0:  # 一百零五: the zero only marks a skipped place
            continue
        if ch in _DIGITS:
            if digit is not None:  # two digits running: not a well-formed numeral
                return None
            digit = _DIGITS[ch]
        else:
            total += (1 if digit is None else digit) * _UNITS[ch]
            digit = None
    return total + (digit or 0)


def leaf_number(fold_text: str) -> int | None:
    """Return the leaf number at the end of a 版心's text, or None when it ends otherwise.

    Where the reader kept a gap between the 卷 and the leaf number ("卷三十七 二十"),
    the last word alone is looked at.
    """
    words = fold_text.split()
    match = _TRAILING.search(words[-1]) if words else None
    return chinese_number(match.group(1)) if match else None
