"""The audit cycle: which copies are due or overdue, and the read rate needed to keep up.

Every copy should be re-read at least once per cycle (``--cycle``, 90 days by default).
A copy is due ``cycle`` after it was last verified and overdue after that; one never
verified is due now. Read from the catalogue only: planning touches no storage.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.audit_report import ScheduledCopy
from storage_config.catalogue import Catalogue
from storage_config.settings import Settings
from workflows.archive import Archive, open_archive

DEFAULT_CYCLE_DAYS = 90.0
CATCH_UP_DAYS = 7.0  # how soon the plan asks to clear what is overdue
SOON_DAYS = 7.0


@dataclass(frozen=True)
class LocationPlan:
    location: str
    copies: int
    bytes: int
    never_verified: int
    overdue: int
    overdue_bytes: int
    due_soon: int  # due within SOON_DAYS
    due_soon_bytes: int
    bytes_per_hour: float  # to read every copy once per cycle
    catch_up_bytes_per_hour: float  # on top, to clear the overdue copies within CATCH_UP_DAYS


@dataclass(frozen=True)
class AuditPlan:
    now: str
    cycle_days: float
    locations: tuple[LocationPlan, ...]
    overdue: tuple[ScheduledCopy, ...]
    last_rate: float | None  # bytes per second measured by the latest audit report, if any

    @property
    def bytes_per_hour(self) -> float:
        return sum(loc.bytes_per_hour + loc.catch_up_bytes_per_hour for loc in self.locations)


def plan(settings: Settings, *, cycle_days: float = DEFAULT_CYCLE_DAYS, location: str | None = None,
         item: str | None = None, report_dir: Path | None = None,
         now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> AuditPlan:
    """Say what is due and overdue against the cycle, and the bytes per hour needed to keep up."""
    archive = open_archive(settings)
    moment = now()
    rows = schedule(archive, cycle_days, moment, location=location, item=item)
    names = [location] if location else [loc.name for loc in archive.config.locations]
    plans = tuple(_location_plan(name, [r for r in rows if r.location == name], cycle_days) for name in names)
    return AuditPlan(moment.isoformat(timespec="seconds"), cycle_days, plans,
                     tuple(r for r in rows if r.days_overdue > 0),
                     last_rate(report_dir or default_report_dir(settings)))


def schedule(archive: Archive, cycle_days: float, now: datetime, *, location: str | None = None,
             item: str | None = None) -> list[ScheduledCopy]:
    """Return every copy with its due date, least recently verified first."""
    sizes = stored_bytes(archive.catalogue)
    cycle = timedelta(days=cycle_days)
    rows = []
    for copy in archive.catalogue.copies_by_verification(location=location, item_id=item):
        verified = _parse(copy.verified_at)
        due = verified + cycle if verified else None
        overdue = (now - due).total_seconds() / 86400 if due else cycle_days
        rows.append(ScheduledCopy(copy.item_id, copy.version, copy.location, sizes.get((copy.item_id, copy.version), 0),
                                  copy.verified_at, due.isoformat(timespec="seconds") if due else "", overdue))
    return rows


def stored_bytes(catalogue: Catalogue) -> dict[tuple[str, int], int]:
    """Return the bytes stored under each version's own key (fetched files live in earlier versions)."""
    if not catalogue.path.exists():
        return {}
    with catalogue.connect() as conn:
        rows = conn.execute("SELECT item_id, version, SUM(size) FROM files WHERE stored_in = version "
                            "GROUP BY item_id, version").fetchall()
    return {(r[0], r[1]): int(r[2] or 0) for r in rows}


def default_report_dir(settings: Settings) -> Path:
    return settings.home / "audit" / "reports"


def last_rate(report_dir: Path) -> float | None:
    """Return the read rate (bytes/s) of the newest JSON report that read something, if any."""
    for path in sorted(Path(report_dir).glob("audit-*.json"), reverse=True):
        try:
            rate = float(json.loads(path.read_text(encoding="utf-8"))["totals"]["bytes_per_second"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if rate > 0:
            return rate
    return None


def format_plan(audit_plan: AuditPlan) -> list[str]:
    """Render the plan as lines for a terminal."""
    lines = [f"Audit plan at {audit_plan.now}: every copy re-read at least every {audit_plan.cycle_days:g} days"]
    for loc in audit_plan.locations:
        lines.append(f"  {loc.location}: {loc.copies} copies, {_gb(loc.bytes)}; overdue {loc.overdue} "
                     f"({_gb(loc.overdue_bytes)}, {loc.never_verified} never verified); due within "
                     f"{SOON_DAYS:g} days {loc.due_soon} ({_gb(loc.due_soon_bytes)})")
        lines.append(f"    needs {_gb(loc.bytes_per_hour)}/hour to keep up"
                     + (f", plus {_gb(loc.catch_up_bytes_per_hour)}/hour for {CATCH_UP_DAYS:g} days to clear the "
                        "overdue copies" if loc.catch_up_bytes_per_hour else ""))
    total = audit_plan.bytes_per_hour
    lines.append(f"Total: {_gb(total)}/hour")
    if audit_plan.last_rate:
        hours = total / (audit_plan.last_rate * 3600)
        lines.append(f"At the last audit's {audit_plan.last_rate / 1e6:.0f} MB/s that is {hours * 24:.1f} hours of "
                     "auditing per day")
    for row in audit_plan.overdue[:20]:
        lines.append(f"  overdue: {row.location}: {row.item_id}.v{row.version} "
                     f"(last verified {row.verified_at[:19] or 'never'}, {row.days_overdue:.0f} days over)")
    if len(audit_plan.overdue) > 20:
        lines.append(f"  … and {len(audit_plan.overdue) - 20} more overdue")
    return lines


def _location_plan(name: str, rows: list[ScheduledCopy], cycle_days: float) -> LocationPlan:
    total = sum(r.bytes for r in rows)
    overdue = [r for r in rows if r.days_overdue > 0]
    soon = [r for r in rows if -SOON_DAYS < r.days_overdue <= 0]
    return LocationPlan(name, len(rows), total, sum(1 for r in rows if not r.verified_at), len(overdue),
                        sum(r.bytes for r in overdue), len(soon), sum(r.bytes for r in soon),
                        total / (cycle_days * 24), sum(r.bytes for r in overdue) / (CATCH_UP_DAYS * 24))


def _parse(stamp: str) -> datetime | None:
    if not stamp:
        return None
    moment = datetime.fromisoformat(stamp)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _gb(count: float) -> str:
    return f"{count / 1e9:.2f} GB" if count >= 1e7 else f"{count / 1e6:.2f} MB"
