"""The batch QC report (qc.json): every page's checks, and what to reshoot."""

from __future__ import annotations

from typing import Any

from pipeline.qc import Status

_SEVERITY = {Status.PASS.value: 0, Status.WARN.value: 1, Status.FAIL.value: 2}


def batch_report(item_id: str, pages: list[dict[str, Any]], *, now: str, profile: str = "default") -> dict[str, Any]:
    """Combine per-page QC results (``PageQC.as_dict()``) into the batch report."""
    counts = {status: sum(1 for p in pages if p["status"] == status) for status in _SEVERITY}
    worst = max((p["status"] for p in pages), key=_SEVERITY.__getitem__, default=Status.PASS.value)
    return {
        "item_id": item_id,
        "created": now,
        "profile": profile,
        "status": worst,
        "summary": {"pages": len(pages), **counts},
        "reshoot": [_reshoot_entry(p) for p in pages if p["status"] == Status.FAIL.value],
        "pages": pages,
    }


def _reshoot_entry(page: dict[str, Any]) -> dict[str, Any]:
    reasons = [r["message"] for r in page["results"] if r["status"] == Status.FAIL.value]
    return {"page_id": page["page_id"], "file": page["file"], "reasons": reasons}


def summary_line(report: dict[str, Any]) -> str:
    """Say in one line how the batch did, for the PREMIS event and the CLI."""
    s = report["summary"]
    return f"{s['pages']} pages: {s['pass']} pass, {s['warn']} warn, {s['fail']} fail"
