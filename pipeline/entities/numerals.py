"""Chinese numerals as dates write them, and the sexagenary (干支) cycle of years."""

from __future__ import annotations

import re

__all__ = ["DIGITS", "GANZHI", "NUMERAL_CHARS", "ganzhi_index", "ganzhi_of_year", "parse_number"]

DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
UNITS = {"十": 10, "百": 100}
TENS = {"廿": 20, "卅": 30, "卌": 40}
NUMERAL_CHARS = "".join(DIGITS) + "".join(UNITS) + "".join(TENS) + "两"
NONZERO = "一二三四五六七八九"
ADDITIVE = re.compile(f"(?:(?P<h>[{NONZERO}])百[零〇]?)?(?:(?P<t>[{NONZERO}])?(?P<ten>十)|(?P<tt>[廿卅卌]))?(?P<u>[{NONZERO}])?")
STEMS = "甲乙丙丁戊己庚辛壬癸"
BRANCHES = "子丑寅卯辰巳午未申酉戌亥"
GANZHI = tuple(STEMS[n % 10] + BRANCHES[n % 12] for n in range(60))
# 1984 (and 4 CE) is 甲子, the first of the cycle.
GANZHI_EPOCH = 4


def parse_number(text: str) -> int | None:
    """Return the value of a date numeral (四十七, 廿三, 十, 一百二, 二〇), or None if it is not one.

    Without 十/百 the digits are read positionally (民國二〇 is 20), as Republican print
    sometimes writes them.
    """
    if not text or any(ch not in NUMERAL_CHARS for ch in text):
        return None
    text = text.replace("两", "二")
    if not any(ch in UNITS or ch in TENS for ch in text):
        return int("".join(str(DIGITS[ch]) for ch in text))
    return _additive(text)


def _additive(text: str) -> int | None:
    """Read 四十七, 十, 廿三, 一百零二; None for what no one writes (二十十一, 十百, 四十七七), as OCR doubles make."""
    m = ADDITIVE.fullmatch(text)
    if not m:
        return None
    hundreds = DIGITS[m["h"]] * 100 if m["h"] else 0
    tens = TENS[m["tt"]] if m["tt"] else (DIGITS[m["t"]] if m["t"] else 1) * 10 if m["ten"] else 0
    return hundreds + tens + (DIGITS[m["u"]] if m["u"] else 0)


def ganzhi_index(name: str) -> int | None:
    """Return the place (0 = 甲子) of a stem-branch pair in the 60-cycle, or None if it is not one."""
    return GANZHI.index(name) if name in GANZHI else None


def ganzhi_of_year(year: int) -> str:
    """Return the 干支 of a Gregorian year (1782 → 壬寅); the lunar year starts a few weeks later."""
    return GANZHI[(year - GANZHI_EPOCH) % 60]
