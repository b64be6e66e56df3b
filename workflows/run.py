"""Run the ingest workflow for one batch and report the outcome, without printing."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import luigi

from pipeline import ocr
from pipeline.atomic import write_json_atomic
from pipeline.batch import Batch, load_batch
from pipeline.errors import BusyError, ExitCode, OcrError, ShuyingError
from pipeline.qc import GateRequest, check_request, resolve_profile
from storage_config.settings import Settings
from workflows.archive import pid_lock
from workflows.base import adopt_unstamped, clear_settled_failures
from workflows.identity import describe_change, read_stamp_settings, stamps_of
from workflows.ingest import BuildMets, IngestBatch, ShuyingTask, ocr_is_current
from workflows.layout import ItemLayout
from workflows.masters import check_masters_unchanged


class PackagedSettingsError(ShuyingError):
    """A re-run asks for settings that would change an item whose METS is already built."""

    exit_code = ExitCode.USAGE  # refused before any work: the settings asked for, not the batch


@dataclass(frozen=True)
class IngestRequest:
    """The options of an ingest run that change what it makes (workflows/identity.py)."""

    qc_profile: str = ""
    accept_warnings: bool = False
    overrides: tuple[str, ...] = ()
    operator: str = ""
    reason: str = ""
    ocr_engine: str = ocr.AUTO

    def bare(self) -> bool:
        """True when none was given: a re-run of a packaged item then reuses the recorded ones."""
        return not (self.qc_profile or self.accept_warnings or self.overrides) and self.ocr_engine == ocr.AUTO

    def gate(self) -> GateRequest:
        return GateRequest(self.accept_warnings, self.overrides, self.operator, self.reason)

    def as_dict(self) -> dict:
        return {**asdict(self), "overrides": list(self.overrides)}


def _profile_named(qc_profile: str | Path | None) -> str:
    """A profile file as an absolute path (a later run may start elsewhere), a name as it is."""
    return str(Path(qc_profile).absolute()) if qc_profile and Path(qc_profile).is_file() else str(qc_profile or "")


def recorded_request(layout: ItemLayout) -> IngestRequest | None:
    """The options the item's last ingest ran with; None before one (or if the record is unreadable)."""
    try:
        data = json.loads(layout.request.read_text(encoding="utf-8"))
        return IngestRequest(str(data["qc_profile"]), bool(data["accept_warnings"]), tuple(data["overrides"]),
                             str(data["operator"]), str(data["reason"]), str(data["ocr_engine"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class IngestResult:
    batch: Batch
    layout: ItemLayout
    ok: bool
    status: str
    failures: list[dict] = field(default_factory=list)
    ocr_review: dict = field(default_factory=dict)  # ocr-review.json, once every page has been read


def ingest_task(batch: Batch, settings: Settings, *, qc_profile: str = "",
                gate: GateRequest = GateRequest(), ocr_engine: str = ocr.AUTO) -> IngestBatch:
    """Return the wrapper task for ``batch`` with ``settings`` (and the QC gate's inputs) as parameters."""
    return IngestBatch(
        qc_profile=qc_profile,
        accept_warnings=gate.accept_warnings,
        qc_overrides=gate.overrides,
        qc_operator=gate.operator,
        qc_reason=gate.reason,
        batch_dir=str(batch.root.absolute()),
        work_root=str(settings.work_dir),
        publish_root=str(settings.publish_dir),
        storage_config=str(settings.storage_config),
        home=str(settings.home),
        base_url=settings.base_url,
        organization=settings.organization,
        persistent_id=settings.persistent_id,
        ocr_timeout=settings.ocr_timeout,
        ocr_engine=ocr_engine,
        max_megapixels=settings.max_megapixels,
    )


def run_ingest(batch_dir: Path, settings: Settings, *, workers: int = 1,
               scheduler_url: str | None = None, qc_profile: str | Path | None = None,
               accept_warnings: bool = False, overrides: tuple[str, ...] = (), operator: str = "",
               reason: str = "", ocr_engine: str = ocr.AUTO) -> IngestResult:
    """Ingest ``batch_dir``; resume whatever an earlier run left unfinished.

    With ``workers`` > 1 Luigi forks worker processes: call this from a process that has
    not yet run libvips operations (as the CLI does), since a fork of a process with a
    live libvips thread pool can deadlock.

    QC stops the batch before METS, AIP and storage when a check fails (or warns, as the
    profile says) unless ``overrides`` (``PAGE:CHECK``) or ``accept_warnings`` let it
    through; ``operator`` and ``reason`` are then required and go into the PREMIS record.

    ``ocr_engine`` (auto, tesseract, ppocr) reads every page with that engine; with auto,
    a page's batch.json ``ocr_engine`` and then the material's default choose. Pages an
    earlier run read with another engine are read again, as long as METS is not built yet.

    Any other setting that changes an output (the QC profile, what the gate lets through,
    the holding institution, the persistent identifier, the base URL) re-runs the tasks
    whose output it changes and everything made from them (workflows/identity.py); once
    METS is built, a change that would reach it is refused, as a new OCR engine is.

    Raises:
        BatchError: batch.json or the folder cannot be read as a batch.
        OverrideError: an override names no page or check, or lacks operator and reason.
        ValidationError: the QC profile file is invalid.
        OcrError: ``ocr_engine`` is unknown, or would change the OCR of an item already packaged.
        PackagedSettingsError: another setting would change the METS of an item already packaged.
        BusyError: another ingest of the same item is running (without ``scheduler_url``).
    """
    batch = load_batch(batch_dir)
    layout = ItemLayout(settings.work_dir, settings.publish_dir, batch.item_id)
    request = IngestRequest(_profile_named(qc_profile), accept_warnings, tuple(overrides), operator, reason, ocr_engine)
    if layout.mets.exists() and request.bare():
        request = recorded_request(layout) or request  # "run the same command again" without its options
    qc_profile, ocr_engine = request.qc_profile, request.ocr_engine
    gate = request.gate()
    check_request(gate, batch.pages)
    resolve_profile(qc_profile, batch.material_type.value,
                    batch_profile=batch.capture.qc_profile)  # a bad profile file fails now, not mid-run
    check_ocr_engine(batch, layout, ocr_engine)
    check_packaged_settings(ingest_task(batch, settings, qc_profile=str(qc_profile or ""), gate=gate,
                                        ocr_engine=ocr_engine), layout)
    check_masters_unchanged(batch, layout)  # a replaced master is a reshoot, declared as one
    # A shared scheduler hands each task to one process; without one, two runs would race
    # for the same outputs, so the second stops before doing anything.
    with contextlib.nullcontext() if scheduler_url else ingest_lock(settings, batch):
        write_json_atomic(layout.request, request.as_dict())
        return _build(batch, layout, settings, workers, scheduler_url, str(qc_profile or ""), gate, ocr_engine)


def _build(batch: Batch, layout: ItemLayout, settings: Settings, workers: int, scheduler_url: str | None,
           qc_profile: str, gate: GateRequest, ocr_engine: str) -> IngestResult:
    """Run the Luigi build of ``batch`` and read its outcome (the caller holds the ingest lock)."""
    # Luigi's own log (tracebacks included) goes to the item's luigi.log; users see the
    # one-line failure records instead.
    _log_luigi_to(layout.work / "luigi.log")
    luigi.configuration.get_config().set("core", "no_configure_logging", "true")
    options: dict = {"workers": workers, "detailed_summary": True, "no_lock": True}
    if scheduler_url:
        options["scheduler_url"] = scheduler_url
        # With a shared scheduler another process may hold some of our tasks: wait for
        # it instead of giving up, so every process ends with the batch complete.
        luigi.configuration.get_config().set("worker", "keep_alive", "true")
    else:
        options["local_scheduler"] = True
    task = ingest_task(batch, settings, qc_profile=qc_profile, gate=gate, ocr_engine=ocr_engine)
    adopt_unstamped(task, layout)  # an item ingested before outputs were stamped keeps them
    summary = luigi.build([task], **options)
    clear_settled_failures(task, layout)  # tasks done by another run, whose failure record this run never saw
    # Done means published: with a shared scheduler, tasks another process ran show
    # here as NOT_RUN, which is no failure once the manifest exists.
    review = json.loads(layout.ocr_review.read_text(encoding="utf-8")) if layout.ocr_review.is_file() else {}
    done = layout.manifest.exists() and layout.stored.exists()  # published, and stored: never one without the other
    return IngestResult(batch, layout, done, summary.status.name, recorded_failures(layout), review)


@contextlib.contextmanager
def ingest_lock(settings: Settings, batch: Batch) -> Iterator[None]:
    """Hold ``<home>/locks/ingest-<item>.lock`` (flock, released by the kernel if the process dies).

    A file of its own, not the storage lock ``<item>.lock``: StoreAip takes that one inside
    this run, and two flocks on separate opens of one file block each other even in one process.

    Raises:
        BusyError: another process holds it.
    """
    with pid_lock(Path(settings.home) / "locks" / f"ingest-{batch.item_id}.lock",
                  lambda holder: BusyError(busy_message(batch, holder))):
        yield


def busy_message(batch: Batch, holder: str) -> str:
    """Say who holds the item and what to do: one line, as the CLI prints it."""
    return (f"{batch.item_id}: an ingest of this item is already running ({holder}); nothing was done. "
            f"Wait for it to end, then run `shuying ingest {batch.root}` again to finish anything left "
            "(to share one batch between processes, give each the same --scheduler-url)")


def check_ocr_engine(batch: Batch, layout: ItemLayout, ocr_engine: str) -> None:
    """Raise OcrError for an unknown engine, or one that would change the text of a packaged item.

    Luigi does not redo a finished task because an input changed: once mets.xml records
    the OCR files' digests, reading pages again would leave METS and the AIP describing
    the old text, so the run is refused instead.
    """
    ocr.choose_engine(batch.material_type.value, batch.languages, override=ocr_engine)  # unknown → OcrError
    if not layout.mets.exists():
        return
    stale = [p.page_id for p in batch.leaves if layout.ocr(p.page_id).is_dir()
             and not ocr_is_current(layout, batch, p, ocr_engine)]
    if stale:
        shown = ", ".join(stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
        raise OcrError(f"{batch.item_id}: METS is already built from pages read by another engine than the one "
                       f"now chosen ({shown}); a re-run does not change packaged text (choose the engine used "
                       "before, with --ocr-engine or batch.json ocr_engine)")


def check_packaged_settings(task: IngestBatch, layout: ItemLayout) -> None:
    """Raise PackagedSettingsError when ``task``'s settings would change a METS already built.

    METS records the digest of every file it describes and the AIP is built from it; a
    stored AIP takes changes only as a new version (workflows/versions.py), which a re-run
    of ingest does not make. So, as for a new OCR engine (check_ocr_engine), the run is
    refused before anything is redone. Settings that change only the published manifest
    (base_url) pass: publishing again is all they need. An item built before task identity
    (no stamp) passes too; its outputs are adopted as they are.
    """
    if not layout.mets.exists():
        return
    mets = BuildMets(**{name: getattr(task, name) for name, _ in task.get_params()})
    earlier = stamps_of(layout.identity, mets.step_name)
    if not earlier or Path(mets.stamp().path) in earlier:
        return
    change = describe_change(read_stamp_settings(earlier[-1]) or {}, mets.identity.settings)
    raise PackagedSettingsError(
        f"{layout.item_id}: METS is already built with other settings ({change or 'of its inputs'}); a re-run "
        "does not change a packaged item (run again with the settings used before)")


def _log_luigi_to(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    dropped: list[logging.Handler] = []
    for name in ("luigi-interface", "luigi"):
        logger = logging.getLogger(name)
        dropped += [h for h in logger.handlers if isinstance(h, logging.FileHandler) and h not in dropped]
        logger.handlers = [h for h in logger.handlers if not isinstance(h, logging.FileHandler)] + [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
    # The previous item's log file: a run over thousands of items would otherwise keep every one open.
    for old in dropped:
        old.close()


def recorded_failures(layout: ItemLayout) -> list[dict]:
    """Return why each still-failed task failed, as recorded by the task itself."""
    if not layout.failures.is_dir():
        return []
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(layout.failures.glob("*.json"))]


def progress_line(task: luigi.Task) -> str:
    """Describe a finished task as a technician would want to see it."""
    if not isinstance(task, ShuyingTask):
        return ""
    batch = task.batch()
    done = sum(1 for p in batch.leaves if task.layout.ocr(p.page_id).exists())
    return f"[{done}/{len(batch.leaves)} pages] {task.step_name} done"


__all__ = ["IngestRequest", "IngestResult", "PackagedSettingsError", "check_ocr_engine", "check_packaged_settings",
           "ingest_lock", "ingest_task", "progress_line", "recorded_failures", "recorded_request", "run_ingest"]
