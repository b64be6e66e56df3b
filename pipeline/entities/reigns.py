"""The reign-period (年號) table: era names to Gregorian years.

The table is data (``schemas/vocabularies/reign-periods.json``, which names its source)
so a cataloguer can check every row against the printed table. Era names repeat across
dynasties (天順 is 元 1328 and 明 1457; 至元 is used twice within 元), so a name looks up
every reign that bore it and the caller chooses with the book's period.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from pipeline.entities.vocab import VOCABULARY_DIR, EntityDataError, fold, load

__all__ = ["DYNASTIES", "Reign", "dynasty_of_prefix", "dynasty_span", "folded_names", "reign_table", "reigns_named"]

TABLE = "reign-periods"
# Names a text uses for a dynasty before its era name (明嘉靖, 大清乾隆, 皇明萬曆).
DYNASTY_PREFIXES = {"宋": "宋", "元": "元", "明": "明", "清": "清", "大明": "明", "皇明": "明", "大清": "清",
                    "皇清": "清", "大元": "元", "皇宋": "宋", "大宋": "宋", "南明": "南明"}
DYNASTIES = ("宋", "元", "明", "南明", "清", "民國")


@dataclass(frozen=True)
class Reign:
    """One era: 乾隆 of 清 (高宗), 1736 for 60 years."""

    name: str  # traditional form, as in the table
    simplified: str
    dynasty: str
    emperor: str
    first_year: int
    years: int
    variants: tuple[str, ...] = ()

    @property
    def last_year(self) -> int:
        return self.first_year + self.years - 1

    def year(self, regnal: int) -> int:
        """Return the Gregorian year of the era's ``regnal``-th year (元年 is 1)."""
        return self.first_year + regnal - 1

    @property
    def forms(self) -> tuple[str, ...]:
        return (self.name, self.simplified, *self.variants)


@functools.cache
def reign_table() -> tuple[Reign, ...]:
    """Return every reign of the shipped table, in table order (by dynasty, then time).

    Raises:
        EntityDataError: a row lacks a field or has a non-positive length.
    """
    rows = load(TABLE).get("reigns")
    if not isinstance(rows, list) or not rows:
        raise EntityDataError(f"{VOCABULARY_DIR / TABLE}.json: no 'reigns' list")
    return tuple(_reign(row, n) for n, row in enumerate(rows, start=1))


def _reign(row: dict, n: int) -> Reign:
    try:
        reign = Reign(row["name"], row["simplified"], row["dynasty"], row.get("emperor", ""),
                      int(row["first_year"]), int(row["years"]), tuple(row.get("variants", ())))
    except (KeyError, TypeError, ValueError) as exc:
        raise EntityDataError(f"{VOCABULARY_DIR / TABLE}.json: reign {n} ({row!r}): missing or bad {exc}") from None
    if reign.years < 1:
        raise EntityDataError(f"{VOCABULARY_DIR / TABLE}.json: reign {n} ({reign.name}) has {reign.years} years")
    return reign


@functools.cache
def _by_folded_name() -> dict[str, tuple[Reign, ...]]:
    names: dict[str, list[Reign]] = {}
    for reign in reign_table():
        for form in {fold(f) for f in reign.forms}:
            names.setdefault(form, []).append(reign)
    return {name: tuple(found) for name, found in names.items()}


def reigns_named(name: str) -> tuple[Reign, ...]:
    """Return every reign called ``name`` (either script, any listed variant), oldest first."""
    return _by_folded_name().get(fold(name), ())


def folded_names() -> tuple[str, ...]:
    """Return every era name as the rules match it (folded)."""
    return tuple(_by_folded_name())


def dynasty_span(dynasty: str) -> tuple[int, int] | None:
    """Return the first and last year the table gives a dynasty (明 → 1368, 1644), or None if unknown."""
    name = DYNASTY_PREFIXES.get(dynasty, dynasty)
    years = [(r.first_year, r.last_year) for r in reign_table() if fold(r.dynasty) == fold(name)]
    if not years:
        return None
    return min(a for a, _ in years), max(b for _, b in years)


def dynasty_of_prefix(prefix: str) -> str | None:
    """Return the dynasty a prefix such as 大清 or 明 names, or None."""
    folded = {fold(k): v for k, v in DYNASTY_PREFIXES.items()}
    return folded.get(fold(prefix))
