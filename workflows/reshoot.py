"""``shuying reshoot``: replace masters of an item and redo only what depends on them.

Before storage, the replaced pages' QC, derivatives and OCR are removed, with the
batch-level outputs built from them (batch QC, OCR review, METS, the work AIP), and the
ingest runs again: Luigi redoes exactly those tasks. After storage, the same outputs are
rebuilt up to METS, then the changed files (the new master, its OCR, qc.json, METS) go
into a new AIP version beside the old one (workflows/versions.py: the stored version
never changes) and the item is indexed and published again.

Each step can be killed and the command run again: the reshoot record (pipeline/reshoot.py)
is written before any output is removed, and a pending record is carried on, never
recorded twice. ``shuying ingest`` notices a replaced file (workflows/masters.py) and sends
the technician here instead of failing later on a digest mismatch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import luigi

from pipeline import ocr
from pipeline.atomic import remove, write_json_atomic
from pipeline.batch import Batch, Page, load_batch
from pipeline.checksums import Digests, digest_file
from pipeline.errors import BatchError, ExitCode, ShuyingError
from pipeline.intake import duplicate_problems, master_problems
from pipeline.qc import GateRequest
from pipeline.reshoot import Reshoot
from storage_config.catalogue import FileKind, VersionRecord
from storage_config.settings import Settings
from workflows.archive import open_archive
from workflows.base import read_json
from workflows.ingest import BuildMets, OcrReview
from workflows.layout import ItemLayout
from workflows.package import (
    index_item,
    master_bag_path,
    metadata_files,
    ocr_files,
    publish_item,
    read_reshoots,
)
from workflows.run import (
    IngestRequest,
    IngestResult,
    ingest_lock,
    ingest_task,
    recorded_failures,
    recorded_request,
    run_ingest,
)
from workflows.versions import new_version

__all__ = ["ReshootError", "ReshootResult", "describe", "reshoot"]


class ReshootError(ShuyingError):
    """A reshoot cannot be made as asked (unknown page, unchanged file, no operator …)."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class ReshootResult:
    batch: Batch
    layout: ItemLayout
    reshoots: tuple[Reshoot, ...]
    version: int  # the AIP version holding the new masters; 0 if not stored (see ingest)
    ingest: IngestResult | None = None  # before storage: the ingest run that redid the pages

    @property
    def ok(self) -> bool:
        return self.version > 0


def reshoot(batch_dir: Path, settings: Settings, names: list[str], *, operator: str, reason: str,
            workers: int = 1, qc_profile: str | Path | None = None, accept_warnings: bool = False,
            overrides: tuple[str, ...] = (), ocr_engine: str = ocr.AUTO) -> ReshootResult:
    """Record the new captures of the pages ``names`` (page ids or file names) and redo what depends on them.

    Raises:
        ReshootError: no operator or reason, a page is unknown or unchanged, the item was
            never ingested, or it holds conservation records (see docs/batch-format.md).
        BatchError: a new master is unreadable or repeats another page.
    """
    if not operator.strip() or not reason.strip():
        raise ReshootError("a reshoot needs who and why: give --operator NAME --reason TEXT (both go into PREMIS)")
    batch = load_batch(batch_dir)
    layout = ItemLayout(settings.work_dir, settings.publish_dir, batch.item_id)
    if not layout.checksums.is_file():
        raise ReshootError(f"{batch.item_id}: not ingested yet, so there is nothing to reshoot: run "
                           f"`shuying ingest {batch_dir}` with the new images in place")
    pages = [_page_named(batch, name) for name in dict.fromkeys(names)]
    gate = _as_ingested(layout, IngestRequest(str(qc_profile or ""), accept_warnings, tuple(overrides),
                                              operator, reason, ocr_engine))
    with ingest_lock(settings, batch):  # no ingest of the item may run while its outputs are removed
        previous = _stored_version(settings, layout)
        pending = _record(batch, layout, pages, operator, reason, settings)
        _invalidate(batch, layout, [r.page_id for r in pending], stored=previous is not None)
        if previous is not None:
            return _new_version(batch, layout, settings, previous, pending, workers, gate)
    result = run_ingest(batch_dir, settings, workers=workers, **gate)  # takes the lock itself
    version = 1 if result.ok and layout.stored.is_file() else 0
    return ReshootResult(batch, layout, _finish(layout, pending, version), version, result)


def _as_ingested(layout: ItemLayout, asked: IngestRequest) -> dict[str, Any]:
    """The ingest options for the reshoot: the item's own (its profile, engine, findings let through) and the new.

    Without them the pages not reshot would be judged again by the default profile, and an
    item read with --ocr-engine tesseract read again by the material's default engine.
    """
    before = recorded_request(layout) or IngestRequest()
    lets_through = asked.accept_warnings or bool(asked.overrides)
    chosen = IngestRequest(asked.qc_profile or before.qc_profile, asked.accept_warnings or before.accept_warnings,
                           tuple(dict.fromkeys([*before.overrides, *asked.overrides])),
                           asked.operator if lets_through or not before.operator else before.operator,
                           asked.reason if lets_through or not before.reason else before.reason,
                           asked.ocr_engine if asked.ocr_engine != ocr.AUTO else before.ocr_engine)
    return {name: getattr(chosen, name) for name in ("qc_profile", "accept_warnings", "overrides", "operator",
                                                     "reason", "ocr_engine")}


def _page_named(batch: Batch, name: str) -> Page:
    found = [p for p in batch.pages if name in (p.page_id, p.file)]
    if not found:
        raise ReshootError(f"{batch.item_id}: no page {name!r} (give the page id, e.g. p0003, or the file name "
                           "from batch.json)")
    return found[0]


def _stored_version(settings: Settings, layout: ItemLayout) -> VersionRecord | None:
    """The item's latest stored version, or None before storage; refuse one holding conservation records."""
    if not layout.stored.is_file():
        return None
    previous = open_archive(settings).catalogue.version(layout.item_id)
    records = sorted(p for p in previous.files if p.startswith("data/conservation/"))
    if records:
        raise ReshootError(f"{previous.aip_key} holds conservation records ({records[0]} …): a reshoot would "
                           "rebuild its METS without them, so it is refused; nothing was changed")
    return previous


def _record(batch: Batch, layout: ItemLayout, pages: list[Page], operator: str, reason: str,
            settings: Settings) -> list[Reshoot]:
    """Record each page's new master (once), then carry the new digests into checksums.json."""
    checksums = read_json(layout.checksums)
    existing = read_reshoots(layout)
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    pending: list[Reshoot] = []
    for page in pages:
        current = digest_file(batch.master_path(page))
        earlier = [r for r in existing if r.page_id == page.page_id and r.digests == current]
        if earlier and not earlier[-1].done:
            pending.append(earlier[-1])  # recorded by a run that did not finish
            continue
        _check_new(batch, page, current, Digests.from_dict(checksums["masters"][page.page_id]), earlier, settings)
        record = Reshoot(page.page_id, page.file, Digests.from_dict(checksums["masters"][page.page_id]), current,
                         operator, reason, now)
        existing.append(record)
        pending.append(record)
    _check_duplicates(batch, checksums, pending)
    write_json_atomic(layout.reshoots, {"reshoots": [r.as_dict() for r in existing]})
    for record in pending:
        path = batch.master_path(batch.page(record.page_id))
        checksums["masters"][record.page_id] = {"file": record.file, **record.digests.as_dict(),
                                                "mtime_ns": os.stat(path).st_mtime_ns}
    write_json_atomic(layout.checksums, checksums)
    return pending


def _check_new(batch: Batch, page: Page, current: Digests, recorded: Digests, earlier: list[Reshoot],
               settings: Settings) -> None:
    if earlier:
        raise ReshootError(f"{page.file} ({page.page_id}) is unchanged since its reshoot of {earlier[-1].date} "
                           f"(AIP version {earlier[-1].done}): nothing to do")
    if current == recorded:
        raise ReshootError(f"{page.file} ({page.page_id}) is the master already ingested (same SHA-256): replace "
                           "the file in the batch folder with the new capture first")
    problems = master_problems(replace(batch, pages=(page,)), max_pixels=settings.max_megapixels * 1_000_000)
    if problems:
        raise BatchError(problems)


def _check_duplicates(batch: Batch, checksums: dict, pending: list[Reshoot]) -> None:
    digests = {pid: Digests.from_dict(e) for pid, e in checksums["masters"].items()}
    digests.update({r.page_id: r.digests for r in pending})
    problems = duplicate_problems(batch, digests)
    if problems:
        raise BatchError(problems)


def _invalidate(batch: Batch, layout: ItemLayout, page_ids: list[str], *, stored: bool) -> None:
    """Remove what was made from the replaced masters, so Luigi makes it again."""
    for page_id in page_ids:
        remove(layout.page_qc(page_id))
        for leaf in (leaf for leaf in batch.leaves if leaf.master.page_id == page_id):
            remove(layout.derivative(leaf.page_id))
            remove(layout.ocr(leaf.page_id))
    for path in (layout.batch_qc, layout.batch_qc.with_name("qc.html"), layout.ocr_review, layout.mets):
        remove(path)
    if not stored:
        remove(layout.aip)  # built from the old master and never stored


def _new_version(batch: Batch, layout: ItemLayout, settings: Settings, previous: VersionRecord,
                 pending: list[Reshoot], workers: int, gate: dict) -> ReshootResult:
    task = ingest_task(batch, settings, qc_profile=str(gate["qc_profile"] or ""),
                       gate=_gate(gate), ocr_engine=gate["ocr_engine"])
    params = {name: getattr(task, name) for name, _ in task.get_params()}
    luigi.build([BuildMets(**params), OcrReview(**params)], workers=workers, local_scheduler=True,
                detailed_summary=True, no_lock=True)
    review = read_json(layout.ocr_review) if layout.ocr_review.is_file() else {}
    result = IngestResult(batch, layout, layout.mets.is_file(), "", recorded_failures(layout), review)
    if not result.ok:
        return ReshootResult(batch, layout, tuple(pending), 0, result)
    pages = ", ".join(f"{r.page_id} ({r.file})" for r in pending)
    record = new_version(settings, batch.item_id, _changed_files(batch, layout, previous),
                         f"reshoot of {pages} by {pending[0].operator}: {pending[0].reason}")
    write_json_atomic(layout.stored, {"item_id": batch.item_id, "aip": record.aip_key.rsplit("/", 1)[1],
                                      "version": record.version, "files": len(record.files),
                                      "reshoot": [r.page_id for r in pending]})
    index_item(batch, layout, home=settings.home)
    publish_item(batch, layout, base_url=settings.base_url, persistent_id=settings.persistent_id,
                 home=settings.home)
    return ReshootResult(batch, layout, _finish(layout, pending, record.version), record.version, result)


def _gate(gate: dict) -> GateRequest:
    return GateRequest(gate["accept_warnings"], tuple(gate["overrides"]), gate["operator"], gate["reason"])


def _changed_files(batch: Batch, layout: ItemLayout, previous: VersionRecord) -> dict[str, Path]:
    """Bag path -> work file for every payload file whose digests differ from the stored version's."""
    candidates: dict[str, Path] = {master_bag_path(p): batch.master_path(p) for p in batch.pages}
    for leaf in batch.leaves:
        candidates.update({rel: source for source, rel, _ in ocr_files(layout, leaf).values()})
    candidates.update({**metadata_files(batch, layout), "data/mets.xml": layout.mets})
    stored = {p: f.digests for p, f in previous.files.items() if f.kind is FileKind.PAYLOAD}
    return {rel: source for rel, source in candidates.items() if stored.get(rel) != digest_file(source)}


def _finish(layout: ItemLayout, pending: list[Reshoot], version: int) -> tuple[Reshoot, ...]:
    """Mark the pending reshoots as held by ``version`` (nothing when it is 0)."""
    if not version:
        return tuple(pending)
    done = {(r.page_id, r.digests.sha512) for r in pending}
    records = [r.finished(version) if (r.page_id, r.digests.sha512) in done and not r.done else r
               for r in read_reshoots(layout)]
    write_json_atomic(layout.reshoots, {"reshoots": [r.as_dict() for r in records]})
    return tuple(r.finished(version) for r in pending)


def describe(result: ReshootResult) -> str:
    """One line for the technician."""
    pages = ", ".join(r.page_id for r in result.reshoots)
    return f"Reshot {result.batch.item_id}: {pages} now in {result.layout.item_id}.v{result.version}"

