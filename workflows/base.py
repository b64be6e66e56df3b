"""What every Shuying task shares: its settings parameters, journal and failure record."""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import luigi

from pipeline.atomic import remove, write_json_atomic
from pipeline.batch import Batch, load_batch
from pipeline.errors import ShuyingError
from workflows.layout import ItemLayout

log = logging.getLogger(__name__)


class ShuyingTask(luigi.Task):
    """Base for ingest tasks: a batch folder plus where outputs go.

    Only ``batch_dir`` (and a page id, for page tasks) identifies a task; the folders
    and URLs are operational settings (luigi's insignificant parameters). The one
    exception is ``Ocr``, whose identity includes the engine asked for.
    """

    batch_dir = luigi.PathParameter(description="The capture batch folder (read-only).")
    work_root = luigi.PathParameter(significant=False, description="Root of per-item work folders.")
    publish_root = luigi.PathParameter(significant=False, description="Root of the IIIF publish area.")
    storage_config = luigi.PathParameter(significant=False, description="Storage locations file.")
    home = luigi.PathParameter(significant=False, description="Data folder; ${SHUYING_HOME} in storage.toml.")
    base_url = luigi.Parameter(significant=False, description="Public base URL of the IIIF server.")
    organization = luigi.Parameter(significant=False, default="", description="Fallback holding institution.")
    persistent_id = luigi.Parameter(significant=False, default="",
                                    description="Template of the item's persistent identifier (pipeline.identifiers).")
    ocr_timeout = luigi.IntParameter(significant=False, default=300, description="Seconds per OCR page.")
    ocr_engine = luigi.Parameter(significant=False, default="auto",
                                 description="OCR engine asked for (--ocr-engine): auto, tesseract or ppocr.")
    max_megapixels = luigi.IntParameter(significant=False, default=300, description="Master size limit.")

    def shared(self) -> dict:
        """Return the settings parameters, to pass on to required tasks."""
        return {name: getattr(self, name) for name in (
            "batch_dir", "work_root", "publish_root", "storage_config", "home", "base_url",
            "organization", "persistent_id", "ocr_timeout", "ocr_engine", "max_megapixels")}

    def batch(self) -> Batch:
        return load_batch(Path(self.batch_dir))

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

    def run(self) -> None:
        self.journal("start")
        self.execute()

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
    for task in _graph(root):
        if isinstance(task, ShuyingTask) and task.step_name in recorded and task.complete():
            remove(recorded.pop(task.step_name))
            cleared.append(task.step_name)
    return cleared


def _graph(root: luigi.Task) -> Iterator[luigi.Task]:
    """Every task ``root`` requires, directly or not, once each."""
    seen: set[str] = set()
    todo = [root]
    while todo:
        task = todo.pop()
        if task.task_id not in seen:
            seen.add(task.task_id)
            yield task
            todo.extend(luigi.task.flatten(task.requires()))


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
