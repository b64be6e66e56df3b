"""The one clock and the one duration grammar of Shuying.

Times are UTC, to the second where a person reads them (PREMIS events, journals,
reports) and to the microsecond where records must sort in the order they happened
(catalogue events). Durations are written the same way everywhere a command takes one
(``--max-duration``, ``--cycle``, ``--expires``): a number and a unit, repeated.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["DURATION_EXAMPLES", "now", "now_iso", "parse_duration"]

_PIECE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_LONGEST = 100 * 365 * 86400  # beyond a century a duration is a typo, not a plan
DURATION_EXAMPLES = "45s, 90m, 1h30m, 12h, 30d, 2w"


def now(*, precise: bool = False) -> datetime:
    """Return the time in UTC, whole seconds unless ``precise``."""
    moment = datetime.now(UTC)
    return moment if precise else moment.replace(microsecond=0)


def now_iso(*, precise: bool = False) -> str:
    """Return :func:`now` in ISO 8601 (``2026-12-04T18:30:00+00:00``)."""
    return now(precise=precise).isoformat(timespec="microseconds" if precise else "seconds")


def parse_duration(text: str) -> float:
    """Return the seconds in ``45s``, ``90m``, ``1h30m``, ``1.5h``, ``30d`` or ``2w`` (case and outer spaces aside).

    Raises:
        ValueError: not such a duration, not positive, or longer than a century; the same
        message wherever a duration is taken.
    """
    compact = text.strip()
    if not compact or _PIECE.sub("", compact):
        raise ValueError(f"{text!r} is not a duration: give a number and a unit (s, m, h, d, w), "
                         f"e.g. {DURATION_EXAMPLES}")
    seconds = sum(float(number) * _UNIT_SECONDS[unit.lower()] for number, unit in _PIECE.findall(compact))
    if not 0 < seconds <= _LONGEST:
        raise ValueError(f"{text!r} is not a duration between one second and 100 years")
    return seconds
