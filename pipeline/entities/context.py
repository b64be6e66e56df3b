"""What the rules know about the book a page belongs to: its period, its people, its titles.

The batch's census fields (pipeline.batch) give them: the 版本 (edition: 明嘉靖刻本,
清乾隆四十七年刻本, 民國鉛印本) names when the book was made, so dates after it cannot
be on its pages; the 著者 (creators) are the persons most likely named; the 題名
(title, without its 卷數) is a title to find.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.batch import Batch
from pipeline.entities.numerals import NUMERAL_CHARS, parse_number
from pipeline.entities.reigns import (
    DYNASTY_PREFIXES,
    dynasty_of_prefix,
    dynasty_span,
    folded_names,
    reigns_named,
)
from pipeline.entities.vocab import alternation, fold

__all__ = ["DEFAULT_PERIOD", "BookContext", "context_from_batch", "period_of_edition"]

# When the census says nothing about when a book was made: 明 to the end of 民國, the
# span of almost all of the collection. A 元 reading of 天順 is then a cited date and a
# 明 one within the period, so 明 wins; dates after 1949 are never converted.
DEFAULT_PERIOD = (1368, 1949)
JUAN_COUNT = re.compile(f"(?:[{NUMERAL_CHARS}]+|不分|無|无)卷.*$")


@dataclass(frozen=True)
class BookContext:
    """The book's period (first and last year its text may date itself in), persons, titles and script."""

    period: tuple[int, int] = DEFAULT_PERIOD
    persons: tuple[str, ...] = ()  # names to find as they are (著者 first)
    titles: tuple[str, ...] = ()  # titles to find as they are (the book's own)
    script: str = "traditional"  # or "simplified"; the rules match both whatever this says

    def __post_init__(self) -> None:
        if self.period[0] > self.period[1]:
            raise ValueError(f"book period {self.period}: the first year is after the last")


def context_from_batch(batch: Batch) -> BookContext:
    """Return the context the batch's census fields give (see the module docstring)."""
    earliest = [span[0] for c in batch.creators if c.period and (span := dynasty_span(c.period))]
    period = period_of_edition(batch.edition)
    if period is None:
        period = (min(earliest), DEFAULT_PERIOD[1]) if earliest else DEFAULT_PERIOD
    simplified = "zh-Hans" in batch.languages or batch.title_lang == "zh-Hans"
    title = JUAN_COUNT.sub("", batch.title).strip()
    return BookContext(period, tuple(c.name for c in batch.creators), (title,) if len(title) >= 2 else (),
                       "simplified" if simplified else "traditional")


def period_of_edition(edition: str) -> tuple[int, int] | None:
    """Return the years a 版本 statement places the book in, or None when it names no dynasty or era.

    清乾隆四十七年刻本 → (1736, 1782); 明嘉靖刻本 → (1522, 1566); 清刻本 → (1616, 1911).
    """
    folded = fold(edition)
    era = re.search(f"(?P<dynasty>{alternation(DYNASTY_PREFIXES)})?(?P<reign>{alternation(folded_names())})"
                    f"(?:(?P<year>元|[{NUMERAL_CHARS}]{{1,3}})年)?", folded)
    if era:
        return _era_period(era)
    for prefix in [*sorted(DYNASTY_PREFIXES, key=len, reverse=True), "民国"]:
        if folded.startswith(fold(prefix)):
            return dynasty_span(DYNASTY_PREFIXES.get(prefix, "民國"))
    return None


def _era_period(era: re.Match[str]) -> tuple[int, int] | None:
    reigns = reigns_named(era["reign"])
    dynasty = dynasty_of_prefix(era["dynasty"]) if era["dynasty"] else None
    reigns = tuple(r for r in reigns if not dynasty or fold(r.dynasty) == fold(dynasty)) or reigns
    if len(reigns) != 1:
        return None
    reign = reigns[0]
    regnal = 1 if era["year"] == "元" else parse_number(era["year"] or "")
    if regnal and 1 <= regnal <= reign.years:
        return reign.first_year, reign.year(regnal)
    return reign.first_year, reign.last_year
