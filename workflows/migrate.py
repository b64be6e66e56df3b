"""Migrate legacy scans listed in an inventory CSV: stage, ingest, verify, journal, report.

Per item: copy its images into ``<home>/migrate/staging/<item_id>/`` (hashed while
copying, each copy read back and verified, the source only read), write batch.json
with the legacy QC profile, run the ingest, check the checksums it recorded against
the copy's, and delete the staging copy. ``<home>/migrate/<stem>.journal.jsonl``
records every step, one fsynced line each; a re-run skips what it says is ingested
and redoes the rest, which Luigi's completed tasks make cheap and free of duplicates.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pipeline import migrate as inventory
from pipeline import ocr
from pipeline.atomic import atomic_path, fsync_dir, remove, write_json_atomic
from pipeline.checksums import Digests, digest_stream, verify_file
from pipeline.clock import now_iso
from pipeline.errors import BatchError, ShuyingError
from pipeline.migrate import Event, ItemOutcome, ItemPlan
from pipeline.qc import GateRequest, check_request
from pipeline.qc.gate import batch_wide
from storage_config.settings import Settings
from workflows.layout import ItemLayout
from workflows.run import run_ingest

log = logging.getLogger(__name__)

REPORT_FORMAT = "shuying-migrate-report/1"


@dataclass(frozen=True)
class MigrationRequest:
    """How each item is ingested: passed through to ``run_ingest``."""

    workers: int = 1
    scheduler_url: str | None = None
    override_checks: tuple[str, ...] = ()
    accept_warnings: bool = False
    operator: str = ""
    reason: str = ""
    ocr_engine: str = ocr.AUTO

    @property
    def gate(self) -> GateRequest:
        return GateRequest(self.accept_warnings, tuple(batch_wide(c) for c in self.override_checks),
                           self.operator, self.reason)

    def as_dict(self) -> dict:
        return {"workers": self.workers, "scheduler_url": self.scheduler_url or "",
                "override_checks": list(self.override_checks), "accept_warnings": self.accept_warnings,
                "operator": self.operator, "reason": self.reason, "ocr_engine": self.ocr_engine}


@dataclass(frozen=True)
class MigrationPaths:
    """Where one inventory's journal, report and staging copies live."""

    home: Path
    stem: str

    @property
    def folder(self) -> Path:
        return self.home / "migrate"

    @property
    def journal(self) -> Path:
        return self.folder / f"{self.stem}.journal.jsonl"

    @property
    def report(self) -> Path:
        return self.folder / f"{self.stem}.report.json"

    def staging(self, item_id: str) -> Path:
        return self.folder / "staging" / item_id


@dataclass(frozen=True)
class PlannedItem:
    """What a run would do with one row (``--plan``)."""

    line: int
    item_id: str
    folder: str
    action: str  # new, resume, retry, already ingested, refused
    pages: int = 0
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class MigrationReport:
    paths: MigrationPaths
    outcomes: list[ItemOutcome]
    document: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(o.status in ("refused", "failed") for o in self.outcomes)


Progress = Callable[[int, int, ItemOutcome], None]


def plan_migration(inventory_csv: Path, root: Path, settings: Settings) -> list[PlannedItem]:
    """Say what a run would do with each row, writing nothing.

    Raises:
        InventoryError: the inventory cannot be read as a whole.
    """
    paths = MigrationPaths(settings.home, inventory_csv.stem)
    states = _read_states(paths.journal)
    return [_planned(plan, states.get(plan.item_id)) for plan in _plans(inventory_csv, root)]


def run_migration(inventory_csv: Path, root: Path, settings: Settings, request: MigrationRequest = MigrationRequest(),
                  *, on_item: Progress | None = None) -> MigrationReport:
    """Ingest every item of the inventory not yet ingested; return (and write) the report.

    Raises:
        InventoryError: the inventory cannot be read as a whole.
        OverrideError: overrides without --operator and --reason, or naming no check.
        MigrationLockedError: another run holds this inventory's journal.
        OcrError: ``request.ocr_engine`` is unknown.
    """
    # A bad override or engine would be the same for every item: refuse the run, not each item.
    check_request(request.gate, ())
    ocr.choose_engine("other", override=request.ocr_engine)
    plans = _plans(inventory_csv, root)
    paths = MigrationPaths(settings.home, inventory_csv.stem)
    started = now_iso()
    outcomes = []
    with RunJournal(paths.journal) as journal:
        for index, plan in enumerate(plans, start=1):
            outcome = _migrate_item(plan, journal, paths, settings, request)
            outcomes.append(outcome)
            if on_item:
                on_item(index, len(plans), outcome)
    document = {"report_format": REPORT_FORMAT, "inventory": str(inventory_csv.absolute()),
                "root": str(root.absolute()), "started": started, "finished": now_iso(),
                "options": request.as_dict(), "journal": str(paths.journal),
                "totals": inventory.summarise(outcomes), "items": [o.as_dict() for o in outcomes]}
    write_json_atomic(paths.report, document)
    return MigrationReport(paths, outcomes, document)


class RunJournal:
    """The append-only run journal: one JSON line per event, fsynced before the run goes on.

    The file stays locked (flock) for the run, so a second ``shuying migrate`` of the same
    inventory stops instead of ingesting the same items; the kernel drops the lock when
    the process dies, even by kill -9.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.states: dict[str, dict] = {}
        self._fd = -1

    def __enter__(self) -> RunJournal:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise inventory.MigrationLockedError(
                f"{self.path}: another `shuying migrate` of this inventory is running (wait for it, or stop it)"
            ) from None
        self.states = _read_states(self.path)
        size = os.fstat(self._fd).st_size
        if size and os.pread(self._fd, 1, size - 1) != b"\n":
            os.write(self._fd, b"\n")  # end the line a kill cut short, so the next record starts clean
        fsync_dir(self.path.parent)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)

    def record(self, event: Event, plan: ItemPlan, **details: object) -> None:
        entry = inventory.journal_entry(event, plan, time=now_iso(), **details)
        os.write(self._fd, (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))
        os.fsync(self._fd)
        if not plan.duplicate:
            self.states[plan.item_id] = entry


def _plans(inventory_csv: Path, root: Path) -> list[ItemPlan]:
    return inventory.plan_items(inventory.read_inventory(inventory_csv), root)


def _planned(plan: ItemPlan, state: dict | None) -> PlannedItem:
    row = plan.row
    last = (state or {}).get("event")
    if not plan.duplicate and last == Event.INGESTED.value:
        return PlannedItem(row.line, plan.item_id, row.folder, "already ingested", (state or {}).get("pages", 0))
    if not plan.ok:
        return PlannedItem(row.line, plan.item_id, row.folder, "refused", reasons=tuple(map(str, plan.problems)))
    action = {None: "new", Event.STARTED.value: "resume"}.get(last, "retry")
    return PlannedItem(row.line, plan.item_id, row.folder, action, len(plan.files))


def _migrate_item(plan: ItemPlan, journal: RunJournal, paths: MigrationPaths, settings: Settings,
                  request: MigrationRequest) -> ItemOutcome:
    row = plan.row
    state = journal.states.get(plan.item_id, {})
    if not plan.duplicate and state.get("event") == Event.INGESTED.value:
        remove(paths.staging(plan.item_id))  # left if the last run died between journal and clean-up
        return ItemOutcome(row.line, plan.item_id, row.folder, "skipped", state.get("pages", 0),
                           tuple(state.get("pages_overridden", ())))
    if not plan.ok:
        reasons = tuple(map(str, plan.problems))
        journal.record(Event.REFUSED, plan, reasons=list(reasons), duplicate=plan.duplicate)
        return ItemOutcome(row.line, plan.item_id, row.folder, "refused", reasons=reasons)
    journal.record(Event.STARTED, plan, pages=len(plan.files))
    staging = paths.staging(plan.item_id)
    try:
        outcome = _ingest_staged(plan, staging, settings, request)
    except BatchError as exc:
        outcome = _ended(plan, "refused", [str(p) for p in exc.problems])
    except (ShuyingError, OSError) as exc:
        outcome = _ended(plan, "failed", str(exc).splitlines())
    finally:
        remove(staging)
    event = Event.INGESTED if outcome.status == "ingested" else Event(outcome.status)
    journal.record(event, plan, pages=outcome.pages, pages_overridden=list(outcome.pages_overridden),
                   reasons=list(outcome.reasons))
    return outcome


def _ingest_staged(plan: ItemPlan, staging: Path, settings: Settings, request: MigrationRequest) -> ItemOutcome:
    layout = ItemLayout(settings.work_dir, settings.publish_dir, plan.item_id)
    copied = stage_item(plan, staging)
    mismatches = _recorded_mismatches(layout, copied)
    if mismatches:  # the item id was ingested before from other masters: never mix the two
        return _ended(plan, "failed", [f"{plan.item_id} is already in the work area with other masters: {m}"
                                       for m in mismatches])
    gate = request.gate
    result = run_ingest(staging, settings, workers=request.workers, scheduler_url=request.scheduler_url,
                        accept_warnings=gate.accept_warnings, overrides=gate.overrides, operator=gate.operator,
                        reason=gate.reason, ocr_engine=request.ocr_engine)
    if not result.ok:
        reasons = [line for f in result.failures for line in f["message"].splitlines()]
        return _ended(plan, inventory.failure_status(result.failures),
                      reasons or [f"ingest did not finish ({result.status}); run log: {layout.work / 'luigi.log'}"])
    mismatches = _recorded_mismatches(layout, copied)
    if mismatches or not layout.checksums.is_file():
        return _ended(plan, "failed", mismatches or [f"{layout.checksums}: missing after the ingest"])
    qc_report = json.loads(layout.batch_qc.read_text(encoding="utf-8"))
    return ItemOutcome(plan.row.line, plan.item_id, plan.row.folder, "ingested", len(plan.files),
                       inventory.overridden_pages(qc_report))


def stage_item(plan: ItemPlan, staging: Path) -> dict[str, Digests]:
    """Copy the item's images into ``staging`` and write its batch.json; return each copy's digests."""
    if plan.source is None:
        raise BatchError(list(plan.problems))  # a refused row has no folder to copy
    remove(staging)  # a copy a killed run left half-made
    staging.mkdir(parents=True)
    copied = {name: copy_hashed(plan.source / name, staging / name) for name in plan.files}
    write_json_atomic(staging / "batch.json", inventory.batch_document(plan))
    return copied


def copy_hashed(source: Path, dest: Path) -> Digests:
    """Copy ``source`` to ``dest`` atomically, hashing while copying; the copy is read back and verified."""
    with open(source, "rb") as src, atomic_path(dest) as tmp:
        with open(tmp, "wb") as out:
            digests = digest_stream(_CopyingReader(src, out))
        verify_file(tmp, digests, name=f"{source} (staged copy)")
    return digests


class _CopyingReader:
    """A read-only view of ``source`` that writes every block it hands out to ``sink``."""

    def __init__(self, source: BinaryIO, sink: BinaryIO) -> None:
        self.source, self.sink = source, sink

    def read(self, size: int = -1) -> bytes:
        block = self.source.read(size)
        self.sink.write(block)
        return block


def _recorded_mismatches(layout: ItemLayout, copied: dict[str, Digests]) -> list[str]:
    if not layout.checksums.is_file():
        return []
    recorded = inventory.recorded_masters(json.loads(layout.checksums.read_text(encoding="utf-8")))
    return inventory.checksum_mismatches(recorded, copied)


def _ended(plan: ItemPlan, status: str, reasons: list[str]) -> ItemOutcome:
    return ItemOutcome(plan.row.line, plan.item_id, plan.row.folder, status, len(plan.files), reasons=tuple(reasons))


def _read_states(journal: Path) -> dict[str, dict]:
    if not journal.is_file():
        return {}
    with open(journal, encoding="utf-8", errors="replace") as lines:
        return inventory.item_states(lines)


def plan_lines(planned: list[PlannedItem]) -> list[str]:
    """Describe the plan: one line per row (its reasons indented below), then the counts."""
    lines = []
    for item in planned:
        lines.append(f"line {item.line}\t{item.item_id or '-'}\t{item.action}{_pages(item.pages)}")
        lines += [f"    {reason}" for reason in item.reasons]
    counts = Counter(item.action for item in planned)
    return [*lines, f"{len(planned)} items: " + ", ".join(f"{n} {action}" for action, n in counts.items())]


def progress_line(index: int, total: int, outcome: ItemOutcome) -> str:
    """Describe one finished item: ``[12/200] GJ-0012 ingested (3 pages)``."""
    name = outcome.item_id or f"line {outcome.line}"
    overridden = f", {len(outcome.pages_overridden)} overridden" if outcome.pages_overridden else ""
    detail = _pages(outcome.pages)[:-1] + overridden + ")" if outcome.pages else ""
    return f"[{index}/{total}] {name} {outcome.status}{detail}"


def _pages(count: int) -> str:
    return f" ({count} page{'' if count == 1 else 's'})" if count else ""


__all__ = [
    "MigrationPaths",
    "MigrationReport",
    "MigrationRequest",
    "PlannedItem",
    "RunJournal",
    "copy_hashed",
    "plan_lines",
    "plan_migration",
    "progress_line",
    "run_migration",
    "stage_item",
]
