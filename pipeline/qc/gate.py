"""The QC gate: whether a batch may go to storage, and who let a flagged page through.

Every failed check stops the ingest unless a person overrides it (``PAGE:CHECK``, or
``*:CHECK`` for one check on every page: ``--override-check CHECK``);
every warning stops it too when the profile says so, unless a person accepts the
warnings. Whoever overrides or accepts must give a name and a reason; both are
recorded in qc.json and in the PREMIS event for QC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.batch import Page
from pipeline.errors import ExitCode, Problem, ShuyingError
from pipeline.qc.model import CHECKS, Status

ANY_CHECK = "*"
ANY_PAGE = "*"  # *:resolution lets one check through on every page (a legacy batch scanned at 300 ppi)


class QcGateError(ShuyingError):
    """QC stopped the ingest before storage; lists what stopped it and how to go on."""

    def __init__(self, blocking: Sequence[Finding], contact_sheet: str) -> None:
        self.blocking, self.contact_sheet = tuple(blocking), contact_sheet
        head = (f"QC stopped the ingest before storage: {len(self.blocking)} check(s) not passed "
                f"(contact sheet: {contact_sheet})")
        lines = [head]
        lines += [f"{f.page_id} ({f.file}) {f.check} {f.status.value}: {f.message}" for f in self.blocking]
        lines.append("Reshoot and re-run, or let them through with --override PAGE:CHECK, --override-check CHECK "
                     "(every page) or --accept-warnings, and --operator NAME --reason TEXT")
        super().__init__("\n".join(lines))


class OverrideError(ShuyingError):
    """An override names no page or check of the batch, or lacks who and why."""

    exit_code = ExitCode.USAGE

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Override:
    """Let one check (or every check, ``*``) of one page (or of every page, ``*``) through the gate."""

    page: str  # page id (p0003), the file name as listed in batch.json, or * for every page
    check: str

    @classmethod
    def parse(cls, spec: str) -> Override:
        """Read ``PAGE:CHECK``; the last colon separates them (file names may hold colons)."""
        page, sep, check = spec.strip().rpartition(":")
        if not sep or not page or not check:
            raise OverrideError([Problem("--override", f"'{spec}' is not PAGE:CHECK", hint="e.g. p0003:focus")])
        return cls(page, check)

    def covers(self, finding: Finding) -> bool:
        """Return whether this override lets ``finding`` through."""
        return self.page in (ANY_PAGE, finding.page_id, finding.file) and self.check in (ANY_CHECK, finding.check)


def batch_wide(check: str) -> str:
    """Return the override spec that lets ``check`` through on every page (``--override-check``)."""
    return f"{ANY_PAGE}:{check.strip()}"


@dataclass(frozen=True)
class GateRequest:
    """What the person running the ingest allowed, and who they are."""

    accept_warnings: bool = False
    overrides: tuple[str, ...] = ()  # PAGE:CHECK
    operator: str = ""
    reason: str = ""

    @property
    def lets_through(self) -> bool:
        return self.accept_warnings or bool(self.overrides)


@dataclass(frozen=True)
class Finding:
    """One check on one page that did not pass."""

    page_id: str
    file: str
    check: str
    status: Status
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"page_id": self.page_id, "file": self.file, "check": self.check,
                "status": self.status.value, "message": self.message}


@dataclass(frozen=True)
class GateDecision:
    """Which findings stop the batch, and which a person let through."""

    passed: bool
    blocking: tuple[Finding, ...]
    overridden: tuple[Finding, ...]
    accepted: tuple[Finding, ...]  # warnings let through by accept_warnings
    request: GateRequest

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "accept_warnings": self.request.accept_warnings,
                "overrides": list(self.request.overrides), "operator": self.request.operator,
                "reason": self.request.reason, "blocking": [f.as_dict() for f in self.blocking],
                "overridden": [f.as_dict() for f in self.overridden],
                "accepted_warnings": [f.as_dict() for f in self.accepted]}


def check_request(request: GateRequest, pages: Sequence[Page]) -> None:
    """Refuse overrides that name no page or check, and letting anything through anonymously.

    Raises:
        OverrideError: listing every problem.
    """
    problems = []
    names = {p.page_id for p in pages} | {p.file for p in pages}
    for spec in request.overrides:
        try:
            override = Override.parse(spec)
        except OverrideError as exc:
            problems.extend(exc.problems)
            continue
        if override.page == ANY_PAGE and override.check == ANY_CHECK:
            problems.append(Problem("--override", f"'{spec}' would let every check of every page through",
                                    hint="name the check for the whole batch (*:resolution) or the page (p0003:*)"))
            continue
        if override.page not in names and override.page != ANY_PAGE:
            problems.append(Problem("--override", f"'{spec}': no page '{override.page}' in the batch",
                                    hint="use the page id (p0003) or the file name from batch.json"))
        if override.check not in CHECKS and override.check != ANY_CHECK:
            problems.append(Problem("--override", f"'{spec}': no check '{override.check}'",
                                    hint=f"checks: {', '.join(CHECKS)}, or * for all"))
    if request.lets_through and not (request.operator.strip() and request.reason.strip()):
        problems.append(Problem("--operator/--reason", "letting QC findings through needs who and why",
                                hint="give --operator NAME --reason TEXT; both go into the PREMIS record"))
    if problems:
        raise OverrideError(problems)


def findings(report: dict[str, Any]) -> list[Finding]:
    """Return every check of the report that did not pass, in page order."""
    return [Finding(page["page_id"], page["file"], result["check"], Status(result["status"]), result["message"])
            for page in report["pages"] for result in page["results"] if result["status"] != Status.PASS.value]


def decide(report: dict[str, Any], request: GateRequest, *, warnings_stop: bool = True) -> GateDecision:
    """Sort the report's findings into those that stop the batch and those let through."""
    overrides = [Override.parse(spec) for spec in request.overrides]
    blocking, overridden, accepted = [], [], []
    for finding in findings(report):
        if any(o.covers(finding) for o in overrides):
            overridden.append(finding)
        elif finding.status is Status.WARN and (request.accept_warnings or not warnings_stop):
            if request.accept_warnings:
                accepted.append(finding)
        else:
            blocking.append(finding)
    return GateDecision(not blocking, tuple(blocking), tuple(overridden), tuple(accepted), request)
