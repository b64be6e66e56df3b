"""``shuying audit``: re-read stored copies against the catalogue, repair from verified copies, report.

Copies are taken least recently verified first. Files are read in large blocks by a
pool of threads (hashlib releases the GIL, so they hash on every core); each location
gets at most ``2 × workers`` reads in flight and one buffer per thread, so memory is
flat whatever the file sizes. A time budget stops the run between blocks; files
already verified are journalled and the next run carries on (workflows/audit_copy.py).
A location that stops answering is reported as "not checked", never as damage.
Damage is recorded as a PREMIS "fixity check" failure, then repaired under the item's
lock (workflows/audit_repair.py). Each run writes a JSON and an HTML report.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.atomic import write_bytes_atomic
from pipeline.audit_report import (
    AuditProgress,
    AuditReport,
    CopyAudit,
    CopyOutcome,
    FileIssue,
    render_html,
    report_dict,
)
from pipeline.clock import now_iso
from pipeline.errors import ExitCode, StorageError
from pipeline.fixity import Finding, RateLimiter
from pipeline.fixity_bag import BagCheck, check_bag
from storage_config.catalogue import CopyRecord, FileKind
from storage_config.policy import policy_warnings
from storage_config.settings import Settings
from workflows.archive import (
    AlreadyRunningError,
    Archive,
    item_lock,
    open_archive,
)
from workflows.audit_copy import (
    CopyJob,
    FileResult,
    Reader,
    ResumeJournal,
    prepare_copy,
)
from workflows.audit_holey import resolve_from_storage
from workflows.audit_plan import (
    DEFAULT_CYCLE_DAYS,
    default_report_dir,
    schedule,
    stored_bytes,
)
from workflows.audit_repair import record_check, repair_copy

log = logging.getLogger(__name__)

ProgressCallback = Callable[[AuditProgress], None]
TICK_SECONDS = 0.5


class AuditNotRunError(StorageError):
    """The audit could not start: its configuration, catalogue or selection cannot be used."""

    exit_code = ExitCode.COULD_NOT_RUN


class AuditBusyError(StorageError):
    """Another audit is already reading one of the locations."""

    exit_code = ExitCode.COULD_NOT_RUN


@dataclass(frozen=True)
class AuditOptions:
    location: str | None = None
    item: str | None = None
    max_duration: float | None = None  # seconds
    max_rate: float | None = None  # bytes per second, all reads together
    workers: int = 2
    algorithms: tuple[str, ...] = ("sha256",)
    repair: bool = True
    cycle_days: float = DEFAULT_CYCLE_DAYS
    report_dir: Path | None = None
    resume_days: float = 7.0  # files verified by an unfinished run count this long

    def as_dict(self) -> dict[str, Any]:
        return {"location": self.location or "", "item": self.item or "", "max_duration": self.max_duration,
                "max_rate": self.max_rate, "workers": self.workers, "algorithms": list(self.algorithms),
                "repair": self.repair, "cycle_days": self.cycle_days}


def audit(settings: Settings, options: AuditOptions = AuditOptions(), *, on_progress: ProgressCallback | None = None,
          now: Callable[[], datetime] = lambda: datetime.now(UTC),
          clock: Callable[[], float] = time.monotonic) -> AuditReport:
    """Audit the selected copies, repair what can be repaired, write the reports and return the result.

    Raises:
        AuditNotRunError: the configuration or catalogue cannot be read, or the selection is empty.
        AuditBusyError: another audit holds a location.
    """
    try:
        archive, copies = _selected_copies(settings, options)
    except StorageError as exc:
        raise AuditNotRunError(str(exc)) from exc
    started = now()
    with _audit_locks(archive, sorted({c.location for c in copies})):
        run = _Run(archive, options, copies, on_progress, now, clock)
        results = run.execute()
    finished = now()
    overdue = [s for s in schedule(archive, options.cycle_days, finished, location=options.location,
                                   item=options.item) if s.days_overdue > 0]
    report = AuditReport(started.isoformat(timespec="seconds"), finished.isoformat(timespec="seconds"),
                         run.seconds, options.as_dict(), tuple(results), run.copies_left, run.stopped_at_budget,
                         tuple(overdue), warnings=tuple(policy_warnings(archive.config)))
    return write_reports(report, options.report_dir or default_report_dir(settings), finished)


def _selected_copies(settings: Settings, options: AuditOptions) -> tuple[Archive, list]:
    archive = open_archive(settings)
    copies = archive.catalogue.copies_by_verification(location=options.location, item_id=options.item)
    if options.location:
        archive.config.location(options.location)  # an unknown name is an error, not an empty audit
    if options.item and not copies:
        raise StorageError(f"catalogue {archive.catalogue.path}: no copies of item {options.item!r}")
    return archive, copies


def audit_bag(path: Path, *, workers: int = 2, max_rate: float | None = None,
              settings: Settings | None = None) -> BagCheck:
    """Check any bag on disk by the rules of the BagIt version it declares (pipeline/fixity_bag.py).

    fetch.txt entries naming files of our own AIP versions are looked up in our storage
    (``settings``), never fetched from anywhere (workflows/audit_holey.py).
    """
    limiter = RateLimiter(max_rate) if max_rate else None
    check = check_bag(Path(path), workers=workers, limiter=limiter)
    return resolve_from_storage(check, settings, workers=workers, limiter=limiter)


def write_reports(report: AuditReport, report_dir: Path, when: datetime) -> AuditReport:
    """Write ``audit-<time>.json`` and ``.html`` into ``report_dir``; return the report naming them."""
    stem = report_dir / f"audit-{when.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    files = {"json": f"{stem}.json", "html": f"{stem}.html"}
    final = AuditReport(**{**vars(report), "files": files})
    write_bytes_atomic(Path(files["json"]), (json.dumps(report_dict(final), ensure_ascii=False, indent=1) + "\n")
                       .encode("utf-8"))
    write_bytes_atomic(Path(files["html"]), render_html(final).encode("utf-8"))
    return final


@contextlib.contextmanager
def _audit_locks(archive: Archive, locations: list[str]) -> Iterator[None]:
    """Hold ``<home>/locks/audit-<location>.lock`` for every location read, so two audits never overlap."""
    archive.locks.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        for name in locations:
            handle = stack.enter_context(open(archive.locks / f"audit-{name}.lock", "a+", encoding="utf-8"))
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                raise AuditBusyError(f"an audit of {name} is already running ({handle.read().strip() or 'pid ?'}); "
                                     "try again when it ends") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} since {now_iso()}")
            handle.flush()
        yield


@dataclass
class _Run:
    """One audit run: feeds file reads to the thread pool, folds results, finishes copies."""

    archive: Archive
    options: AuditOptions
    copies: list[CopyRecord]
    on_progress: ProgressCallback | None
    now: Callable[[], datetime]
    clock: Callable[[], float]
    queue: deque[CopyRecord] = field(init=False)
    active: list[CopyJob] = field(default_factory=list)
    futures: dict[Future[FileResult], CopyJob] = field(default_factory=dict)
    results: list[CopyAudit] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)
    journals: dict[int, ResumeJournal] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    stopped_at_budget: bool = False
    copies_left: int = 0
    seconds: float = 0.0

    def __post_init__(self) -> None:
        self.queue = deque(self.copies)
        sizes = stored_bytes(self.archive.catalogue)
        self.bytes_total = sum(sizes.get((c.item_id, c.version), 0) for c in self.copies)
        self.bytes_done = 0
        self._count_lock = threading.Lock()
        self.readers: dict[str, Reader] = {}
        self.limiter = RateLimiter(self.options.max_rate) if self.options.max_rate else None
        self.started = self.clock()
        self.last_tick = 0.0

    def execute(self) -> list[CopyAudit]:
        """Run until every selected copy is finished or the time budget is spent."""
        with ThreadPoolExecutor(max_workers=max(1, self.options.workers)) as pool:
            while True:
                self._fill(pool)
                if not self.futures and not self._finish_ready():
                    break
                done, _ = wait(self.futures, timeout=TICK_SECONDS, return_when=FIRST_COMPLETED)
                for future in done:
                    self._fold(self.futures.pop(future), future.result())
                self._finish_ready()
                self._check_budget()
                self._tick()
        self.copies_left = len(self.queue) + sum(1 for r in self.results if r.outcome is CopyOutcome.PARTIAL)
        self.seconds = self.clock() - self.started
        return self.results

    def _fill(self, pool: ThreadPoolExecutor) -> None:
        while len(self.futures) < 2 * max(1, self.options.workers) and not self.stop.is_set():
            job = self._next_job()
            if job is None:
                return
            path = job.to_read.pop(0)
            if job.copy.location in self.unreachable:
                job.not_checked.append(f"{path}: {self.unreachable[job.copy.location]}")
                job.to_read.clear()
                continue
            job.pending += 1
            is_tag = job.record.files[path].kind is FileKind.TAG
            future = pool.submit(self._reader(job.copy.location).read, job.record.aip_key, path, job.expected[path],
                                 is_tag)
            self.futures[future] = job

    def _next_job(self) -> CopyJob | None:
        for job in self.active:
            if job.to_read:
                return job
        while self.queue:
            prepared = self._prepare(self.queue.popleft())
            if prepared is not None:
                self.active.append(prepared)
                if prepared.to_read:
                    return prepared
        return None

    def _prepare(self, copy: CopyRecord) -> CopyJob | None:
        label = f"{copy.location}: {copy.item_id}.v{copy.version}"
        if copy.location in self.unreachable:
            self._not_checked(copy, self.unreachable[copy.location])
            return None
        try:
            self.archive.config.location(copy.location)
            record = self.archive.catalogue.version(copy.item_id, copy.version)
            journal = ResumeJournal(self.archive.home / "audit" / "resume", copy)
            resumed = journal.load(now=self.now(), window=timedelta(days=self.options.resume_days),
                                   algorithms=self.options.algorithms)
            job = prepare_copy(self.archive.backend(copy.location), copy, record, resumed)
        except StorageError as exc:
            log.warning("%s: not checked: %s", label, exc)
            self.unreachable[copy.location] = str(exc)
            self._not_checked(copy, str(exc))
            return None
        journal.start(now=self.now(), algorithms=self.options.algorithms, keep=bool(job.resumed))
        self.bytes_total -= sum(job.expected[p].size for p in job.resumed)  # not read again
        self.journals[id(job)] = journal
        log.debug("%s: %d files to read, %d resumed", label, len(job.to_read), len(job.resumed))
        return job

    def _reader(self, location: str) -> Reader:
        if location not in self.readers:
            self.readers[location] = Reader(self.archive.backend(location), self.options.algorithms, self.limiter,
                                            self._count, lambda: self.stop.is_set() or location in self.unreachable)
        return self.readers[location]

    def _count(self, size: int) -> None:
        with self._count_lock:
            self.bytes_done += size

    def _fold(self, job: CopyJob, result: FileResult) -> None:
        job.add(result)
        if result.not_checked and job.copy.location not in self.unreachable:
            self._probe(job)
        elif not result.findings and not result.not_checked and not result.stopped and result.text is None:
            self.journals[id(job)].add(result.path)

    def _probe(self, job: CopyJob) -> None:
        """After a failed read, ask the location once: if it does not answer, skip its other copies."""
        try:
            self.archive.backend(job.copy.location).exists(job.record.aip_key)
        except StorageError as exc:
            self.unreachable[job.copy.location] = str(exc)

    def _finish_ready(self) -> bool:
        ready = [job for job in self.active if job.done]
        for job in ready:
            self.active.remove(job)
            self.results.append(self._finish(job))
            self._tick(finished=self.results[-1])
        return bool(ready)

    def _finish(self, job: CopyJob) -> CopyAudit:
        journal = self.journals.pop(id(job))
        findings = job.findings + (job.bag_findings() if not job.missing_copy else [])
        if job.not_checked or job.stopped:
            return self._unfinished(job, findings)
        journal.finish()
        record_check(self.archive, job, findings, self.options.algorithms)
        if not findings:
            return self._audit(job, CopyOutcome.INTACT)
        if not self.options.repair:
            return self._audit(job, CopyOutcome.DAMAGED, [FileIssue(f.path, f.kind.value, f.message) for f in findings],
                               "not repaired (--no-repair)")
        return self._repair(job, findings)

    def _repair(self, job: CopyJob, findings: list[Finding]) -> CopyAudit:
        try:
            with item_lock(self.archive, job.record.item_id):
                result = repair_copy(self.archive, job, findings, self.archive.home / "audit" / "staging")
        except AlreadyRunningError as exc:
            issues = [FileIssue(f.path, f.kind.value, f.message, "deferred") for f in findings]
            return self._audit(job, CopyOutcome.DAMAGED, issues, f"repair deferred: {exc}")
        return self._audit(job, result.outcome, list(result.issues), result.detail)

    def _unfinished(self, job: CopyJob, findings: list[Finding]) -> CopyAudit:
        """A copy not read to the end: damage seen so far is reported, nothing else is concluded."""
        damage = [f for f in findings if f.damaged]
        if damage:
            record_check(self.archive, job, damage, self.options.algorithms)
        issues = [FileIssue(f.path, f.kind.value, f.message) for f in damage]
        if job.copy.location in self.unreachable and not job.not_checked:
            job.not_checked.append(f"{job.record.aip_key}: {self.unreachable[job.copy.location]}")
        if job.not_checked:
            issues += [FileIssue(line.split(": ", 1)[0], "unreadable", line.split(": ", 1)[-1], "not checked")
                       for line in job.not_checked[:20]]
            outcome = CopyOutcome.DAMAGED if any(i.action == "reported" for i in issues) else CopyOutcome.NOT_CHECKED
            return self._audit(job, outcome, issues, f"could not read everything: {job.not_checked[0]}")
        outcome = CopyOutcome.DAMAGED if issues else CopyOutcome.PARTIAL
        return self._audit(job, outcome, issues, "time budget reached; the next run resumes here")

    def _not_checked(self, copy: CopyRecord, why: str) -> None:
        key = f"aips/{copy.item_id}/{copy.item_id}.v{copy.version}"
        self.results.append(CopyAudit(copy.item_id, copy.version, copy.location, key, CopyOutcome.NOT_CHECKED,
                                      detail=why))
        self._tick(finished=self.results[-1])

    def _audit(self, job: CopyJob, outcome: CopyOutcome, issues: list[FileIssue] | None = None,
               detail: str = "") -> CopyAudit:
        log.info("%s: %s%s", job.label, outcome.value, f" ({detail})" if detail else "")
        return CopyAudit(job.record.item_id, job.record.version, job.copy.location, job.record.aip_key, outcome,
                         job.files_read, job.bytes_read, len(job.resumed), tuple(issues or ()), detail)

    def _check_budget(self) -> None:
        budget = self.options.max_duration
        if budget is not None and not self.stop.is_set() and self.clock() - self.started >= budget:
            log.info("time budget of %.0f s reached; stopping, the next run resumes", budget)
            self.stop.set()
            self.stopped_at_budget = True
            for job in self.active:
                if job.to_read:
                    job.to_read.clear()
                    job.stopped = True

    def _tick(self, finished: CopyAudit | None = None) -> None:
        moment = self.clock()
        if self.on_progress is None or (finished is None and moment - self.last_tick < TICK_SECONDS):
            return
        self.last_tick = moment
        current = finished.aip_key if finished else (self.active[0].label if self.active else "")
        self.on_progress(AuditProgress(self.bytes_done, self.bytes_total, len(self.results), len(self.copies),
                                       moment - self.started, current, finished))
