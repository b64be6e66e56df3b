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
# "bitonal" runs only on bitonal and near-bitonal masters, "colour_accuracy" only on colour targets.
# "double_leaf" looks for two leaves in one master (an undeclared spread).
PAGE_CHECKS = (
    "integrity", "compression", "colour_mode", "bit_depth", "icc", "resolution", "dimensions", "bitonal",
    "exposure", "focus", "skew", "blank", "illumination", "double_leaf", "colour_accuracy",
)
BATCH_CHECKS = ("focus_consistency", "duplicate", "sequence")
CHECKS = PAGE_CHECKS + BATCH_CHECKS


def worst(statuses: Iterable[Status]) -> Status:
    """Return the most severe status (PASS when there are none)."""
    return max(statuses, key=SEVERITY.__getitem__, default=Status.PASS)


@dataclass(frozen=True)
class Relaxation:
    """A check that passed (or only warned) because the profile relaxed its baseline's threshold."""

    profile: str  # the profile that relaxed it, e.g. "legacy"
    baseline: str  # the profile it relaxes, e.g. "ancient-books"
    baseline_status: Status  # what the baseline would have said
    baseline_threshold: str

    def as_dict(self) -> dict[str, str]:
        return {**asdict(self), "baseline_status": self.baseline_status.value}

    def describe(self) -> str:
        return (f"relaxed by profile {self.profile}: {self.baseline_status.value} under {self.baseline} "
                f"({self.baseline_threshold})")


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one page."""

    check: str  # one of CHECKS
    status: Status
    value: float | str | None
    threshold: str  # human readable, e.g. ">= 400 ppi"
    message: str  # one line a technician can act on
    relaxed: Relaxation | None = None

    def as_dict(self) -> dict[str, Any]:
        document = {**asdict(self), "status": self.status.value}
        if self.relaxed is None:
            del document["relaxed"]
        else:
            document["relaxed"] = self.relaxed.as_dict()
        return document

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        relaxed = data.get("relaxed")
        if relaxed is not None:
            relaxed = Relaxation(relaxed["profile"], relaxed["baseline"], Status(relaxed["baseline_status"]),
                                 relaxed["baseline_threshold"])
        return cls(data["check"], Status(data["status"]), data["value"], data["threshold"], data["message"],
                   relaxed)


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
