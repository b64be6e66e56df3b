"""Reign-era dates (年號紀年) and 干支 years, converted to Gregorian years where the text allows.

A date needs an era name from the table followed by a regnal year (乾隆四十七年,
乾隆元年) or a 干支 (乾隆壬寅, 萬曆癸丑); a month (正月, 閏三月, 冬月) and a day
(初五日, 廿三日, 朔) may follow. Nothing else is a date: a lone 年, a number and 年
without an era, or an era name OCR misread (萬感) find nothing, so noisy pages do not
invent dates.

An era name may belong to several reigns (天順 is 元 1328 and 明 1457). The candidates
are narrowed by a dynasty written before it (明天順), by the 干支, and by the book's
period (:class:`~pipeline.entities.context.BookContext`): a book cannot name a year after
it was made, so such a reading is outside the period, reported with a low confidence and
no year. A reading within the period wins over one before it; one before it (a cited
date, as 四庫總目 cites 明 dates) is converted when it is the only one. Whenever the
choice is not unique, the entity keeps its candidates and no year.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from pipeline.entities.context import BookContext
from pipeline.entities.model import Found, Kind
from pipeline.entities.numerals import GANZHI, NUMERAL_CHARS, ganzhi_of_year, parse_number
from pipeline.entities.reigns import (
    DYNASTY_PREFIXES,
    Reign,
    dynasty_of_prefix,
    folded_names,
    reigns_named,
)
from pipeline.entities.vocab import alternation, fold

__all__ = ["find_dates"]

IN_PERIOD = 0.95
CITED = 0.85  # before the book's period: a date the book quotes
GANZHI_AGREES = 0.04  # added when a regnal year and its 干支 agree
GANZHI_ONLY = 0.6  # a bare 干支年 placed by the period alone
DOUBTFUL = 0.25  # kept for a reviewer, no year: outside the period, ambiguous, inconsistent
MONTHS = {"正": 1, "冬": 11, "腊": 12}  # folded: 臘 → 腊
DAYS = {"朔": 1, "望": 15}


@dataclass(frozen=True)
class Reading:
    """One way to read a date: a reign, a regnal year, a Gregorian year."""

    reign: Reign
    regnal: int
    year: int


@functools.cache
def _date_pattern() -> re.Pattern[str]:
    num = f"[{NUMERAL_CHARS}]"
    ganzhi = alternation(GANZHI)
    return re.compile(
        f"(?P<dynasty>{alternation(DYNASTY_PREFIXES)})?(?P<reign>{alternation(folded_names())})"
        f"(?:(?P<year>元|{num}{{1,4}})年(?:(?:岁次|岁在)?(?P<gz_after>{ganzhi}))?|(?P<gz>{ganzhi})(?:年|岁)?)"
        f"(?:(?P<leap>闰)?(?P<month>正|冬|腊|{num}{{1,3}})月"
        f"(?:(?P<day>初{num}{{1,2}}|{num}{{1,3}})日|(?P<day_named>朔|望))?)?"
    )


@functools.cache
def _ganzhi_year_pattern() -> re.Pattern[str]:
    return re.compile(f"(?:岁次|岁在)?(?P<gz>{alternation(GANZHI)})(?:年|岁)")


def find_dates(folded: str, context: BookContext) -> list[Found]:
    """Return the dates in ``folded`` (page text folded by :func:`~pipeline.entities.vocab.fold`)."""
    # A numeral no one writes (二十十一: OCR doubled a character) makes no date at all.
    found = [_reign_date(m, context) for m in _date_pattern().finditer(folded)
             if not m["year"] or m["year"] == "元" or parse_number(m["year"]) is not None]
    taken = [(f.start, f.end) for f in found]
    for m in _ganzhi_year_pattern().finditer(folded):
        if not any(a <= m.start() < b for a, b in taken):
            found.append(_ganzhi_date(m, context))
    return sorted(found, key=lambda f: f.start)


def _reign_date(m: re.Match[str], context: BookContext) -> Found:
    """Read one era-name match: narrow the candidates, then convert or say why not."""
    candidates = reigns_named(m["reign"])
    dynasty = dynasty_of_prefix(m["dynasty"]) if m["dynasty"] else None
    if dynasty:
        candidates = tuple(r for r in candidates if fold(r.dynasty) == fold(dynasty)) or candidates
    regnal = 1 if m["year"] == "元" else parse_number(m["year"] or "")
    ganzhi = m["gz_after"] or m["gz"]
    readings = _readings(candidates, regnal, ganzhi)
    value: dict[str, Any] = {"reign": candidates[0].name, "regnal_year": regnal, "ganzhi": ganzhi,
                             **_month_day(m)}
    confidence, notes, chosen = _choose(readings, candidates, regnal, ganzhi, context)
    value.update(_reading_value(chosen, readings))
    rule = "date:reign-year" if m["year"] else "date:reign-ganzhi"
    return Found(Kind.DATE, m.start(), m.end(), _clean(value), confidence, rule, notes)


def _readings(candidates: tuple[Reign, ...], regnal: int | None, ganzhi: str | None) -> list[Reading]:
    """Return every (reign, year) the era, regnal year and 干支 allow together."""
    readings = []
    for reign in candidates:
        years = [regnal] if regnal is not None else range(1, reign.years + 1)
        for n in years:
            if not 1 <= n <= reign.years:
                continue
            if ganzhi and ganzhi_of_year(reign.year(n)) != ganzhi:
                continue
            readings.append(Reading(reign, n, reign.year(n)))
    return readings


def _choose(readings: list[Reading], candidates: tuple[Reign, ...], regnal: int | None, ganzhi: str | None,
            context: BookContext) -> tuple[float, tuple[str, ...], Reading | None]:
    """Return the confidence, the notes for a reviewer, and the one reading chosen (or None)."""
    if not readings:
        return DOUBTFUL, (_why_none(candidates, regnal, ganzhi),), None
    start, end = context.period
    possible = [r for r in readings if r.year <= end]
    if not possible:
        return DOUBTFUL, (f"after the book's period ({start}-{end}): not converted",), None
    within = [r for r in possible if r.year >= start]
    pool, confidence = (within, IN_PERIOD) if within else (possible, CITED)
    if len(pool) > 1:
        years = ", ".join(f"{r.reign.dynasty}{r.reign.name} {r.year}" for r in pool)
        return DOUBTFUL, (f"ambiguous: {years}",), None
    bonus = GANZHI_AGREES if ganzhi and regnal is not None else 0.0
    notes = () if within else (f"before the book's period ({start}-{end}): a cited date",)
    return min(1.0, confidence + bonus), notes, pool[0]


def _why_none(candidates: tuple[Reign, ...], regnal: int | None, ganzhi: str | None) -> str:
    longest = max(r.years for r in candidates)
    if regnal is not None and not 1 <= regnal <= longest:
        return f"regnal year {regnal} is beyond the era's {longest} years"
    if regnal is not None and ganzhi:
        return f"{ganzhi} does not agree with regnal year {regnal}"
    return f"no year of the era is {ganzhi}"


def _reading_value(chosen: Reading | None, readings: list[Reading]) -> dict[str, Any]:
    if chosen is None:
        return {"year": None, "candidates": sorted({r.year for r in readings})}
    return {"year": chosen.year, "reign": chosen.reign.name, "dynasty": chosen.reign.dynasty,
            "emperor": chosen.reign.emperor, "regnal_year": chosen.regnal,
            "ganzhi": ganzhi_of_year(chosen.year)}


def _month_day(m: re.Match[str]) -> dict[str, Any]:
    if not m["month"]:
        return {}
    month = MONTHS.get(m["month"]) or parse_number(m["month"])
    day = DAYS.get(m["day_named"] or "") or parse_number((m["day"] or "").removeprefix("初"))
    return {"month": month if month and month <= 12 else None, "leap_month": bool(m["leap"]),
            "day": day if day and day <= 30 else None}


def _ganzhi_date(m: re.Match[str], context: BookContext) -> Found:
    """A 干支年 without an era: placed only when the book's period holds one such year."""
    start, end = context.period
    years = [y for y in range(start, end + 1) if ganzhi_of_year(y) == m["gz"]]
    value: dict[str, Any] = {"ganzhi": m["gz"], "year": years[0] if len(years) == 1 else None}
    if len(years) == 1:
        return Found(Kind.DATE, m.start(), m.end(), value, GANZHI_ONLY, "date:ganzhi-period")
    note = f"{len(years)} {m['gz']} years in the book's period ({start}-{end})"
    return Found(Kind.DATE, m.start(), m.end(), {**value, "candidates": years}, DOUBTFUL, "date:ganzhi", (note,))


def _clean(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not None or k == "year"}

