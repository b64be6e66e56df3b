"""QC of a whole batch: ``shuying qc`` at the station, and the ingest's BatchQC task and gate.

Both run the same pipeline functions: ``check_page`` on every master, then
``check_batch``, then the report (qc.json) and the contact sheet (qc.html).
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipeline.atomic import write_bytes_atomic, write_json_atomic
from pipeline.batch import Batch, load_batch
from pipeline.clock import now_iso
from pipeline.qc import (
    GateDecision,
    GateRequest,
    PageQC,
    Profile,
    QcGateError,
    check_batch,
    check_page,
    decide,
    resolve_profile,
)
from pipeline.qc_report import (
    batch_report,
    contact_sheet,
    reading_right_to_left,
    summary_line,
)
from storage_config.settings import Settings
from workflows import events

log = logging.getLogger(__name__)

STATION_QC_DIR = "station-qc"  # <work>/<item>/station-qc/: what `shuying qc` writes


@dataclass(frozen=True)
class QcRunResult:
    """What ``shuying qc`` found and where it wrote it."""

    batch: Batch
    report: dict
    json_path: Path
    html_path: Path

    @property
    def failed(self) -> bool:
        """Return whether any page failed a check."""
        return self.report["status"] == "fail"

    @property
    def summary(self) -> str:
        return summary_line(self.report)


def run_qc(batch_dir: Path, settings: Settings, profile: str | Path | None = None, *,
           workers: int = 1, out_dir: Path | None = None) -> QcRunResult:
    """Check every page of a batch and write qc.json and qc.html (nothing else is touched).

    ``profile`` is a built-in profile name or a profile file; by default the batch's
    material type chooses. Outputs go to ``out_dir``, by default
    ``<work>/<item>/station-qc/``.

    Raises:
        BatchError: batch.json or the folder cannot be read as a batch.
        ValidationError: the profile file is invalid.
    """
    batch = load_batch(batch_dir)
    chosen = resolve_profile(profile, batch.material_type.value, batch_profile=batch.capture.qc_profile)
    pages = check_pages(batch, chosen, workers=workers)
    out = out_dir if out_dir is not None else settings.work_dir / batch.item_id / STATION_QC_DIR
    report, html, _ = batch_outputs(batch, pages, chosen, now=now_iso())
    write_bytes_atomic(out / "qc.html", html.encode("utf-8"))
    write_json_atomic(out / "qc.json", report)
    log.info("%s: %s", batch.item_id, summary_line(report))
    return QcRunResult(batch, report, out / "qc.json", out / "qc.html")


def check_pages(batch: Batch, profile: Profile, *, workers: int = 1) -> list[PageQC]:
    """Run the per-page checks on every master, in ``workers`` processes."""
    jobs = [(str(batch.master_path(p)), p.page_id, batch.capture.declared_ppi, p.page_type.value, p.split, profile)
            for p in batch.pages]
    if workers <= 1 or len(jobs) <= 1:
        return [_check(job) for job in jobs]
    # spawn, not fork: libvips keeps worker threads that a forked child would inherit broken.
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_check, jobs))


def _check(job: tuple[str, str, int, str, bool, Profile]) -> PageQC:
    path, page_id, ppi, page_type, split, profile = job
    return check_page(path, page_id=page_id, declared_ppi=ppi, page_type=page_type, split=split, profile=profile)


def batch_outputs(batch: Batch, pages: list[PageQC], profile: Profile, *, now: str,
                  request: GateRequest | None = None) -> tuple[dict, str, GateDecision | None]:
    """Add the batch checks; return the report, the contact sheet and (if asked) the gate's decision."""
    checked = check_batch(batch.pages, pages, profile)
    report = batch_report(batch, checked, profile, now=now)
    decision = None
    if request is not None:
        decision = decide(report, request, warnings_stop=profile.warnings_stop_ingest)
        report["gate"] = decision.as_dict()
    thumbnails = {qc.page_id: qc.thumbnail for qc in checked}
    return report, contact_sheet(report, thumbnails, right_to_left=reading_right_to_left(batch)), decision


def write_batch_qc(batch: Batch, pages: list[PageQC], profile: Profile, request: GateRequest, *,
                   json_path: Path) -> None:
    """Write qc.html beside ``json_path``, then qc.json, or raise when the gate stops the batch.

    qc.json (the task's output) is written only when the batch may go on, so a
    re-run with overrides decides again.

    Raises:
        QcGateError: a failed check (or a warning, if the profile says so) was not let through.
    """
    report, html, decision = batch_outputs(batch, pages, profile, now=now_iso(), request=request)
    html_path = json_path.with_name("qc.html")
    write_bytes_atomic(html_path, html.encode("utf-8"))
    if decision is not None and not decision.passed:
        raise QcGateError(decision.blocking, str(html_path))
    report["event"] = events.quality_control(batch, report).as_dict()
    write_json_atomic(json_path, report)


def write_ocr_contact_sheet(batch: Batch, report: dict, pages: list[PageQC], ocr_review: dict, *,
                            html_path: Path) -> None:
    """Write qc.html again from the stored QC report, now with each page's OCR review.

    BatchQC writes the contact sheet before any page is read; once OCR has run this
    replaces it, so the technician finds QC findings and OCR doubts on the one sheet.
    """
    thumbnails = {qc.page_id: qc.thumbnail for qc in pages}
    html = contact_sheet(report, thumbnails, right_to_left=reading_right_to_left(batch), ocr_review=ocr_review)
    write_bytes_atomic(html_path, html.encode("utf-8"))
