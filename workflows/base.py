"""What every Shuying task shares: its settings parameters, journal and failure record."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import luigi

from pipeline.atomic import remove, write_json_atomic
from pipeline.batch import Batch, load_batch
from pipeline.errors import ShuyingError
from workflows.identity import (
    Identity,
    make_identity,
    read_stamp_settings,
    remove_stamps,
    rerun_reason,
    stamp_path,
    stamps_of,
    write_stamp,
)
from workflows.layout import ItemLayout

log = logging.getLogger(__name__)

# A benchmark's opt-in (benchmarks/ingest.py): when set to a file, every task run appends one
# JSON line with its wall time, CPU and peak memory. Unset, as in production, nothing is measured.
TIMINGS_VARIABLE = "SHUYING_TASK_TIMINGS"


class ShuyingTask(luigi.Task):
    """Base for ingest tasks: a batch folder plus where outputs go.

    ``batch_dir`` (and a page id, for page tasks) and the settings that can change an
    output (Luigi's significant parameters) name a task; folders, timeouts and the pixel
    guard are operational (insignificant). Whether an output in place was made with the
    settings *in effect* now is told by its stamp (workflows/identity.py): ``output()`` is
    the task's ``product()`` plus a stamp whose name carries the digest of ``identity``.
    """

    batch_dir = luigi.PathParameter(description="The capture batch folder (read-only).")
    work_root = luigi.PathParameter(significant=False, description="Root of per-item work folders.")
    publish_root = luigi.PathParameter(significant=False, description="Root of the IIIF publish area.")
    storage_config = luigi.PathParameter(significant=False, description="Storage locations file.")
    home = luigi.PathParameter(significant=False, description="Data folder; ${SHUYING_HOME} in storage.toml.")
    base_url = luigi.Parameter(description="Public base URL of the IIIF server.")
    organization = luigi.Parameter(default="", description="Fallback holding institution.")
    persistent_id = luigi.Parameter(default="",
                                    description="Template of the item's persistent identifier (pipeline.identifiers).")
    ocr_timeout = luigi.IntParameter(significant=False, default=300, description="Seconds per OCR page.")
    ocr_engine = luigi.Parameter(default="auto",
                                 description="OCR engine: auto (the page's batch.json ocr_engine, else the "
                                 "material's default), tesseract or ppocr.")
    # A decompression-bomb guard: it decides whether a master is opened, never what is made from it.
    max_megapixels = luigi.IntParameter(significant=False, default=300, description="Master size limit.")

    def shared(self) -> dict:
        """Return the settings parameters, to pass on to required tasks."""
        return {name: getattr(self, name) for name in (
            "batch_dir", "work_root", "publish_root", "storage_config", "home", "base_url",
            "organization", "persistent_id", "ocr_timeout", "ocr_engine", "max_megapixels")}

    def batch(self) -> Batch:
        return _batch_at(Path(self.batch_dir))

    @property
    def layout(self) -> ItemLayout:
        return ItemLayout(Path(self.work_root), Path(self.publish_root), self.item_id)

    @property
    def item_id(self) -> str:
        # Read once per task object; load_batch has already been run by the CLI.
        if not hasattr(self, "_item_id"):
            self._item_id = self.batch().item_id
        return self._item_id

    @property
    def step_name(self) -> str:
        page = getattr(self, "page_id", "")
        return f"{self.get_task_family()}{'-' + page if page else ''}"

    def product(self) -> luigi.LocalTarget:
        """The task's own output, at the fixed path workflows/layout.py gives it."""
        raise NotImplementedError

    def identity_settings(self) -> dict[str, str]:
        """The effective settings that change this task's own output (its inputs' come with them)."""
        return {}

    @property
    def identity(self) -> Identity:
        """This task's settings and its inputs' identities, digested (recomputed when batch.json changes)."""
        key = self.identity_key()
        if getattr(self, "_identity", (None, None))[0] != key:
            upstream = [t.identity for t in luigi.task.flatten(self.requires()) if isinstance(t, ShuyingTask)]
            self._identity = (key, make_identity(self.identity_settings(), upstream))
        return self._identity[1]

    def identity_key(self) -> tuple:
        """What effective settings are read from besides the parameters: batch.json (engines, fallbacks)
        and a QC profile file, whose edits change what QC judges by."""
        files = [Path(self.batch_dir) / "batch.json"]
        profile = str(getattr(self, "qc_profile", "") or "")
        if profile and Path(profile).is_file():
            files.append(Path(profile))
        return tuple(_stat_key(path) for path in files)

    def stamp(self) -> luigi.LocalTarget:
        """The record that the product in place was made with this task's identity."""
        return luigi.LocalTarget(str(stamp_path(self.layout.identity, self.step_name, self.identity.digest)))

    def output(self) -> list[luigi.LocalTarget]:
        return [self.product(), self.stamp()]

    def product_complete(self) -> bool:
        """The product is in place (a task may ask for more than its one path)."""
        return self.product().exists()

    def complete(self) -> bool:
        return self.product_complete() and self.stamp().exists()

    def run(self) -> None:
        with task_timing(self.get_task_family(), str(getattr(self, "page_id", ""))):
            self.journal("start")
            self.replace_earlier_output()
            self.execute()
            write_stamp(self.layout.identity, self.step_name, self.identity)

    def replace_earlier_output(self) -> None:
        """Say in the journal why an output in place is made again, then clear the way for the new one.

        The old stamps go first: from here on the product in place may be the old one or
        the new one, and neither may pass for complete until the new stamp is written.
        A folder is removed too, since atomic_path never replaces one.
        """
        product = Path(self.product().path)
        earlier = [p for p in stamps_of(self.layout.identity, self.step_name) if p != Path(self.stamp().path)]
        if earlier:
            newest = max(earlier, key=lambda p: p.stat().st_mtime_ns)
            self.journal("rerun", rerun_reason(read_stamp_settings(newest), self.identity.settings))
        elif product.exists() and not Path(self.stamp().path).exists():
            self.journal("rerun", rerun_reason(None, self.identity.settings))
        remove_stamps(self.layout.identity, self.step_name)
        if product.is_dir():
            remove(product)

    def execute(self) -> None:
        """Do the task's work; subclasses implement this instead of run()."""
        raise NotImplementedError

    def on_failure(self, exception: BaseException) -> str:
        message = str(exception).strip() or type(exception).__name__
        if not isinstance(exception, ShuyingError):
            # Not one of ours: say where it happened, since the text alone may not.
            message = f"{self.step_name}: {type(exception).__name__}: {message}"
        try:
            write_json_atomic(self.layout.failures / f"{self.step_name}.json",
                              {"task": self.step_name, "error": type(exception).__name__, "message": message,
                               "time": now_iso()})
            self.journal("failure", message.splitlines()[0] if message else "")
        except OSError:
            log.exception("could not record the failure of %s", self.step_name)
        return super().on_failure(exception)

    def on_success(self) -> None:
        remove(self.layout.failures / f"{self.step_name}.json")
        self.journal("success")
        return super().on_success()

    def journal(self, event: str, detail: str = "") -> None:
        """Append one line to the item's journal (O_APPEND: lines from many processes never mix)."""
        line = "\t".join([now_iso(), socket.gethostname(), str(os.getpid()), self.step_name, event, detail])
        self.layout.work.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.layout.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line.replace("\n", " ") + "\n").encode("utf-8"))
        finally:
            os.close(fd)


@contextlib.contextmanager
def task_timing(family: str, page: str) -> Iterator[None]:
    """Append the wall time, CPU seconds and peak RSS of the enclosed run to ``$SHUYING_TASK_TIMINGS``.

    CPU is this process's user + system time (Luigi runs each task in a process of its own
    when workers > 1) plus that of the subprocesses it waited for (Tesseract). ``maxrss_kib``
    is the process's peak so far: with one worker, Luigi runs every task in one process.
    A line is one O_APPEND write, so lines from parallel workers never mix.
    """
    target = os.environ.get(TIMINGS_VARIABLE)
    if not target:
        yield
        return
    start, own, waited = time.perf_counter(), _rusage(resource.RUSAGE_SELF), _rusage(resource.RUSAGE_CHILDREN)
    ok = False
    try:
        yield
        ok = True
    finally:
        own_now, waited_now = _rusage(resource.RUSAGE_SELF), _rusage(resource.RUSAGE_CHILDREN)
        record = {"task": family, "page": page, "pid": os.getpid(), "ok": ok,
                  "wall": round(time.perf_counter() - start, 3),
                  "cpu_self": round(own_now[0] - own[0], 3), "cpu_children": round(waited_now[0] - waited[0], 3),
                  "maxrss_kib": own_now[1], "children_maxrss_kib": waited_now[1]}
        _append_line(Path(target), json.dumps(record))


def _rusage(who: int) -> tuple[float, int]:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss  # ru_maxrss is in KiB on Linux


def _append_line(path: Path, line: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode("utf-8"))
        finally:
            os.close(fd)
    except OSError:
        log.warning("could not append task timings to %s", path, exc_info=True)


class PageTask(ShuyingTask):
    page_id = luigi.Parameter(description="Page id (p0001 …) in reading order.")

    def page(self):
        return self.batch().page(self.page_id)


def clear_settled_failures(root: luigi.Task, layout: ItemLayout) -> list[str]:
    """Remove the failure records of tasks below ``root`` that are complete now; return their step names.

    ``on_success`` removes a task's own record, but a task that another run finished after
    this one failed it (or whose output a later run finds in place) never runs again, so
    without this its record would outlive the problem.
    """
    if not layout.failures.is_dir():
        return []
    recorded = {p.stem: p for p in layout.failures.glob("*.json")}
    cleared = []
    for task in task_graph(root):
        if isinstance(task, ShuyingTask) and task.step_name in recorded and task.complete():
            remove(recorded.pop(task.step_name))
            cleared.append(task.step_name)
    return cleared


def task_graph(root: luigi.Task) -> Iterator[luigi.Task]:
    """Every task ``root`` requires, directly or not, once each."""
    seen: set[str] = set()
    todo = [root]
    while todo:
        task = todo.pop()
        if task.task_id not in seen:
            seen.add(task.task_id)
            yield task
            todo.extend(luigi.task.flatten(task.requires()))


def adopt_unstamped(root: luigi.Task, layout: ItemLayout) -> list[str]:
    """Stamp the outputs of an item ingested before task identity existed; return their step names.

    Such an item has outputs and no ``identity/`` folder. Taking its outputs as made with
    today's settings is what every run did before, and spares a re-run of a whole stored
    item (OCR, AIP, storage) for want of a record. Once the folder exists nothing is adopted,
    so an output whose stamp a re-run removed is never taken back.
    """
    if layout.identity.exists():
        return []
    adopted = []
    for task in task_graph(root):
        if isinstance(task, ShuyingTask) and task.product_complete():
            write_stamp(layout.identity, task.step_name, task.identity, adopted=True)
            adopted.append(task.step_name)
    return adopted


_BATCHES_KEPT = 4
_batches: dict[Path, tuple[tuple, Batch]] = {}


def _batch_at(folder: Path) -> Batch:
    """load_batch, read again only when batch.json or the folder's list of files changed.

    Every task asks for the batch, and the identity of a task over a 300-page book asks
    once per page; parsing and checking batch.json each time made that seconds. A Batch
    is frozen, and holds nothing a folder's mtime and batch.json's stat would not show.
    """
    key = (_stat_key(folder / "batch.json"), _stat_key(folder))
    cached = _batches.pop(folder, None)
    if cached is None or cached[0] != key:
        cached = (key, load_batch(folder))
    _batches[folder] = cached  # most recent last; a migration over thousands of items keeps a few
    while len(_batches) > _BATCHES_KEPT:
        del _batches[next(iter(_batches))]
    return cached[1]


def _stat_key(path: Path) -> tuple:
    try:
        stat = path.stat()
    except OSError:
        return (str(path), None)
    return (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size)


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
