"""What a fixity audit found, as values, JSON (schemas/audit-report.schema.json) and one self-contained HTML page.

The HTML page carries its own CSS and no script, image or link to anything else, so it
can be mailed to an archivist or kept beside the JSON for as long as the archive lasts.
"""

from __future__ import annotations

import enum
import html
from dataclasses import dataclass, field
from typing import Any

REPORT_VERSION = "1"


class CopyOutcome(str, enum.Enum):
    INTACT = "intact"  # every file re-read and matched the catalogue
    REPAIRED = "repaired"  # damage found; every damaged file replaced from a verified copy, verified again
    DAMAGED = "damaged"  # damage found and not (yet) repaired: --no-repair, item busy, or repair failed
    UNRECOVERABLE = "unrecoverable"  # some file has no copy anywhere that matches the catalogue
    NOT_CHECKED = "not checked"  # could not be read now (location unreachable): not evidence of damage
    PARTIAL = "partial"  # the time budget ended inside this copy; the next run resumes it


class AuditStatus(str, enum.Enum):
    CLEAN = "clean"
    REPAIRED = "repaired"
    DAMAGED = "damaged"
    UNRECOVERABLE = "unrecoverable"
    INCOMPLETE = "incomplete"  # some copies could not be checked


@dataclass(frozen=True)
class FileIssue:
    """One problem in one copy and what the audit did about it."""

    path: str
    kind: str  # pipeline.fixity.FindingKind value
    message: str
    action: str = "reported"  # reported, repaired, quarantined, unrecoverable, deferred, not checked
    source: str = ""  # the location whose verified bytes replaced the file
    quarantine: str = ""  # where the damaged bytes were kept
    tried: tuple[str, ...] = ()  # unrecoverable: every source read, and what it gave
    next_step: str = ""  # unrecoverable: what a person has to do, with the command to run after


@dataclass(frozen=True)
class CopyAudit:
    item_id: str
    version: int
    location: str
    aip_key: str
    outcome: CopyOutcome
    files: int = 0
    bytes: int = 0
    files_resumed: int = 0
    issues: tuple[FileIssue, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class ScheduledCopy:
    """A copy's place in the audit cycle."""

    item_id: str
    version: int
    location: str
    bytes: int
    verified_at: str  # "" when never verified
    due: str  # "" when due now (never verified)
    days_overdue: float  # > 0 when overdue


@dataclass(frozen=True)
class AuditReport:
    started: str
    finished: str
    seconds: float
    options: dict[str, Any]
    copies: tuple[CopyAudit, ...]
    copies_left: int  # selected but not reached before the time budget
    stopped_at_budget: bool
    overdue: tuple[ScheduledCopy, ...] = ()
    files: dict[str, str] = field(default_factory=dict)  # "json"/"html" → where the report was written
    warnings: tuple[str, ...] = ()  # what the storage policy cannot survive (storage_config/policy.py)

    @property
    def bytes_checked(self) -> int:
        return sum(c.bytes for c in self.copies)

    @property
    def files_checked(self) -> int:
        return sum(c.files for c in self.copies)

    @property
    def throughput(self) -> float:
        """Bytes per second over the whole run."""
        return self.bytes_checked / self.seconds if self.seconds > 0 else 0.0

    @property
    def status(self) -> AuditStatus:
        outcomes = {c.outcome for c in self.copies}
        for outcome, status in ((CopyOutcome.UNRECOVERABLE, AuditStatus.UNRECOVERABLE),
                                (CopyOutcome.DAMAGED, AuditStatus.DAMAGED),
                                (CopyOutcome.NOT_CHECKED, AuditStatus.INCOMPLETE),
                                (CopyOutcome.REPAIRED, AuditStatus.REPAIRED)):
            if outcome in outcomes:
                return status
        return AuditStatus.CLEAN

    def with_outcome(self, outcome: CopyOutcome) -> tuple[CopyAudit, ...]:
        return tuple(c for c in self.copies if c.outcome is outcome)


@dataclass(frozen=True)
class AuditProgress:
    """Where a running audit is: passed to the caller's progress callback."""

    bytes_done: int
    bytes_total: int
    copies_done: int
    copies_total: int
    seconds: float
    current: str = ""  # the copy just finished or being read
    finished_copy: CopyAudit | None = None  # set when a copy has just been finished

    @property
    def rate(self) -> float:
        return self.bytes_done / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far; None before anything was read."""
        if self.rate <= 0:
            return None
        return max(0.0, (self.bytes_total - self.bytes_done) / self.rate)


def report_dict(report: AuditReport) -> dict[str, Any]:
    """Return the report as JSON-ready data (schemas/audit-report.schema.json)."""
    return {
        "report_version": REPORT_VERSION, "status": report.status.value, "started": report.started,
        "finished": report.finished, "seconds": round(report.seconds, 3), "options": report.options,
        "totals": {"copies_checked": sum(1 for c in report.copies if c.outcome is not CopyOutcome.NOT_CHECKED),
                   "copies_left": report.copies_left, "files": report.files_checked, "bytes": report.bytes_checked,
                   "bytes_per_second": round(report.throughput, 1),
                   **{o.name.lower(): len(report.with_outcome(o)) for o in CopyOutcome}},
        "stopped_at_budget": report.stopped_at_budget,
        "copies": [_copy_dict(c) for c in report.copies],
        "overdue": [_scheduled_dict(s) for s in report.overdue],
        "warnings": list(report.warnings),
    }


def render_html(report: AuditReport) -> str:
    """Return the report as one self-contained HTML page (inline CSS, no scripts, no external links)."""
    data = report_dict(report)
    totals = data["totals"]
    title = f"Fixity audit {report.started[:19]} — {report.status.value}"
    parts = [(f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{_e(title)}</title>"
             f"<style>{_CSS}</style></head><body>"),
             f"<h1>{_e(title)}</h1>",
             f"<p class=\"status {_e(report.status.value)}\">{_e(_headline(report))}</p>",
             *(f"<p class=\"warning\">Warning: {_e(w)}</p>" for w in report.warnings),
             _table(["Copies checked", "Files", "Bytes", "Throughput", "Duration", "Left for next run"],
                    [[str(totals["copies_checked"]), str(totals["files"]), _size(report.bytes_checked),
                      f"{_size(report.throughput)}/s", f"{report.seconds:.1f} s", str(report.copies_left)]])]
    for outcome, heading in ((CopyOutcome.UNRECOVERABLE, "Unrecoverable"), (CopyOutcome.DAMAGED, "Damaged, not repaired"),
                             (CopyOutcome.REPAIRED, "Repaired"), (CopyOutcome.NOT_CHECKED, "Could not check")):
        parts += _issue_section(heading, report.with_outcome(outcome))
    parts += _next_steps_section(report.with_outcome(CopyOutcome.UNRECOVERABLE))
    parts += _overdue_section(report.overdue)
    parts.append("<h2>Copies checked</h2>")
    parts.append(_table(["Copy", "Location", "Outcome", "Files", "Bytes", "Detail"],
                        [[c.aip_key, c.location, c.outcome.value, str(c.files), _size(c.bytes), c.detail]
                         for c in report.copies]))
    parts.append(f"<footer>Options: {_e(', '.join(f'{k}={v}' for k, v in report.options.items()))}</footer>")
    return "\n".join(parts) + "\n</body></html>\n"


def summary_lines(report: AuditReport) -> list[str]:
    """Return the lines a terminal shows after a run: the headline, then every problem by file."""
    lines = [_headline(report)]
    for copy in report.copies:
        for issue in copy.issues:
            action = f" [{issue.action}{' from ' + issue.source if issue.source else ''}]"
            lines.append(f"  {copy.location}: {copy.aip_key}/{issue.path}: {issue.message}{action}")
            lines += _next_step_lines(copy, issue)
        if copy.outcome is CopyOutcome.NOT_CHECKED and not copy.issues:
            lines.append(f"  {copy.location}: {copy.aip_key}: not checked: {copy.detail}")
    lines += [f"  overdue: {s.location}: {s.item_id}.v{s.version} ({s.days_overdue:.0f} days)"
              for s in report.overdue[:20]]
    return lines


def progress_bar(progress: AuditProgress, width: int = 30) -> str:
    """Return one terminal line: a bar, bytes done of total, rate and ETA."""
    share = progress.bytes_done / progress.bytes_total if progress.bytes_total else 1.0
    filled = round(min(1.0, share) * width)
    eta = _clock(progress.eta) if progress.eta is not None else "--:--:--"
    return (f"[{'#' * filled}{'.' * (width - filled)}] {_size(progress.bytes_done)} / {_size(progress.bytes_total)} "
            f"{_size(progress.rate)}/s ETA {eta}  copies {progress.copies_done}/{progress.copies_total}")


def progress_line(progress: AuditProgress) -> str:
    """Return a plain line for a log (not a terminal) when a copy is finished."""
    copy = progress.finished_copy
    what = f"{copy.location}: {copy.aip_key} {copy.outcome.value}" if copy else progress.current
    return (f"{progress.copies_done}/{progress.copies_total} copies, {_size(progress.bytes_done)} of "
            f"{_size(progress.bytes_total)}, {_size(progress.rate)}/s: {what}")


def _headline(report: AuditReport) -> str:
    counts = {o: len(report.with_outcome(o)) for o in CopyOutcome}
    text = {
        "unrecoverable": f"UNRECOVERABLE: {counts[CopyOutcome.UNRECOVERABLE]} copies have files with no intact copy "
                         "anywhere; nothing was overwritten, damaged bytes were kept in quarantine",
        "damaged": f"DAMAGED: {counts[CopyOutcome.DAMAGED]} copies have damaged files that were not repaired",
        "incomplete": f"INCOMPLETE: {counts[CopyOutcome.NOT_CHECKED]} copies could not be checked (not evidence "
                      "of damage); the next run checks them first",
        "repaired": f"REPAIRED: {counts[CopyOutcome.REPAIRED]} copies had damage, repaired from verified copies",
        "clean": "CLEAN: every copy checked matches the catalogue",
    }[report.status.value]
    budget = f"; time budget reached, {report.copies_left} copies left for the next run" if report.stopped_at_budget else ""
    return (f"{text}. {len(report.copies)} copies, {report.files_checked} files, {_size(report.bytes_checked)} in "
            f"{report.seconds:.1f} s ({_size(report.throughput)}/s){budget}")


def _next_step_lines(copy: CopyAudit, issue: FileIssue) -> list[str]:
    """For an unrecoverable file: the sources tried, where the damaged bytes are, and what to do next."""
    if issue.action != "unrecoverable":
        return []
    lines = [f"    tried: {'; '.join(issue.tried)}"] if issue.tried else []
    if issue.quarantine:
        lines.append(f"    damaged bytes kept in {copy.location}: {issue.quarantine}")
    return lines + ([f"    next: {issue.next_step}"] if issue.next_step else [])


def _next_steps_section(copies: tuple[CopyAudit, ...]) -> list[str]:
    rows = [[c.location, f"{c.aip_key}/{i.path}", "; ".join(i.tried), i.quarantine, i.next_step]
            for c in copies for i in c.issues if i.action == "unrecoverable"]
    if not rows:
        return []
    return ["<h2>Unrecoverable: what to do next</h2>",
            _table(["Location", "File", "Sources tried", "Damaged bytes kept as", "Next step"], rows)]


def _issue_section(heading: str, copies: tuple[CopyAudit, ...]) -> list[str]:
    if not copies:
        return []
    rows = [[c.location, c.aip_key, i.path, i.message, i.action, i.source, i.quarantine]
            for c in copies for i in c.issues] or [[c.location, c.aip_key, "", c.detail, "", "", ""] for c in copies]
    return [f"<h2>{_e(heading)} ({len(copies)})</h2>",
            _table(["Location", "Copy", "File", "Problem", "Action", "Source", "Quarantine"], rows)]


def _overdue_section(overdue: tuple[ScheduledCopy, ...]) -> list[str]:
    if not overdue:
        return ["<h2>Copies overdue</h2><p>None.</p>"]
    rows = [[s.location, f"{s.item_id}.v{s.version}", s.verified_at or "never", f"{s.days_overdue:.1f}", _size(s.bytes)]
            for s in overdue]
    return [f"<h2>Copies overdue ({len(overdue)})</h2>",
            _table(["Location", "Copy", "Last verified", "Days overdue", "Bytes"], rows)]


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _copy_dict(copy: CopyAudit) -> dict[str, Any]:
    return {"item_id": copy.item_id, "version": copy.version, "location": copy.location, "aip_key": copy.aip_key,
            "outcome": copy.outcome.value, "files": copy.files, "bytes": copy.bytes,
            "files_resumed": copy.files_resumed, "detail": copy.detail,
            "issues": [{**vars(issue), "tried": list(issue.tried)} for issue in copy.issues]}


def _scheduled_dict(item: ScheduledCopy) -> dict[str, Any]:
    return {"item_id": item.item_id, "version": item.version, "location": item.location, "bytes": item.bytes,
            "verified_at": item.verified_at, "due": item.due, "days_overdue": round(item.days_overdue, 2)}


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _size(count: float) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


_CSS = """
body{font:15px/1.45 system-ui,'Noto Sans CJK SC',sans-serif;margin:2em auto;max-width:72em;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;
vertical-align:top;overflow-wrap:anywhere}th{background:#f2f2f2;white-space:nowrap}
.status{padding:.6em .8em;border-radius:4px;font-weight:600}.clean{background:#e3f4e1}.repaired{background:#e1ecf7}
.damaged,.incomplete{background:#fff3cd}.unrecoverable{background:#f8d7da;color:#721c24}
.warning{padding:.4em .8em;border-left:4px solid #c77700;background:#fff8e6}
footer{margin-top:2em;color:#666;font-size:.85em}
"""
