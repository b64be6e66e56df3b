"""What QC reports: a status per check, per page, with the measured value and the threshold."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any


class Status(str, enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


SEVERITY = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2}

# Every check, in the order a page's results list them. The batch checks come last:
# they compare a page with its neighbours and with the batch.
PAGE_CHECKS = (
    "integrity", "colour_mode", "bit_depth", "icc", "resolution", "dimensions",
    "exposure", "focus", "skew", "blank", "illumination", "colour_accuracy",
)
BATCH_CHECKS = ("focus_consistency", "duplicate", "sequence")
CHECKS = PAGE_CHECKS + BATCH_CHECKS


def worst(statuses: Iterable[Status]) -> Status:
    """Return the most severe status (PASS when there are none)."""
    return max(statuses, key=SEVERITY.__getitem__, default=Status.PASS)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one page."""

    check: str  # one of CHECKS
    status: Status
    value: float | str | None
    threshold: str  # human readable, e.g. ">= 400 ppi"
    message: str  # one line a technician can act on

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(data["check"], Status(data["status"]), data["value"], data["threshold"], data["message"])


@dataclass(frozen=True)
class PageQC:
    """Every check result for one page, and its contact-sheet thumbnail."""

    page_id: str
    file: str
    results: tuple[CheckResult, ...]
    thumbnail: str = ""  # data: URI of a small JPEG, "" when the page could not be read

    @property
    def status(self) -> Status:
        """Return the worst status of any check (PASS when there are none)."""
        return worst(r.status for r in self.results)

    def result(self, check: str) -> CheckResult | None:
        """Return the result of one check, or None if it did not run."""
        return next((r for r in self.results if r.check == check), None)

    def with_results(self, extra: Iterable[CheckResult]) -> PageQC:
        """Return a copy with more results appended."""
        return replace(self, results=self.results + tuple(extra))

    def as_dict(self, *, thumbnail: bool = True) -> dict[str, Any]:
        document = {
            "page_id": self.page_id,
            "file": self.file,
            "status": self.status.value,
            "results": [r.as_dict() for r in self.results],
        }
        if thumbnail and self.thumbnail:
            document["thumbnail"] = self.thumbnail
        return document

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PageQC:
        results = tuple(CheckResult.from_dict(r) for r in data["results"])
        return cls(data["page_id"], data["file"], results, data.get("thumbnail", ""))
