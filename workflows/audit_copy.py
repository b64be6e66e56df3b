"""One copy under audit: what to read, reading one file, and what the reads add up to.

A copy is checked against the catalogue, never against itself: the inventory against
the files recorded at ingest (missing, extra, wrong size), every stored file's bytes
against its recorded digests (tag files included, so a manifest rewritten to match an
altered master is caught twice), and what the tag files say (manifest lines, tag
manifests, Payload-Oxum) against the catalogue. Payload files verified before a run
was stopped are journalled in ``<home>/audit/resume/`` so the next run goes on from there.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from pipeline.checksums import Digests
from pipeline.errors import StorageError
from pipeline.fixity import (
    HASH_BLOCK,
    AuditStopped,
    Finding,
    FindingKind,
    RateLimiter,
    compare_digests,
    compare_inventory,
    compare_tag_files,
    hash_stream,
)
from storage_config.backends.base import NotStoredError, StorageBackend
from storage_config.catalogue import CopyRecord, FileKind, VersionRecord

log = logging.getLogger(__name__)

TAG_TEXT_LIMIT = 64 * 1024 * 1024  # tag files larger than this are hashed but not parsed


@dataclass(frozen=True)
class FileResult:
    path: str
    size: int
    findings: tuple[Finding, ...] = ()
    text: bytes | None = None  # a tag file's bytes, for comparing what it says with the catalogue
    not_checked: str = ""  # why it could not be read now (not evidence of damage)
    stopped: bool = False  # the run ended while it was being read


@dataclass
class CopyJob:
    """A copy while its files are being read (filled in by the scheduler as results come back)."""

    copy: CopyRecord
    record: VersionRecord
    expected: dict[str, Digests]
    to_read: list[str]
    resumed: frozenset[str] = frozenset()
    findings: list[Finding] = field(default_factory=list)
    texts: dict[str, bytes] = field(default_factory=dict)
    not_checked: list[str] = field(default_factory=list)
    stopped: bool = False
    pending: int = 0
    files_read: int = 0
    bytes_read: int = 0
    missing_copy: bool = False

    @property
    def label(self) -> str:
        return f"{self.copy.location}: {self.record.aip_key}"

    @property
    def done(self) -> bool:
        return not self.to_read and not self.pending

    def add(self, result: FileResult) -> None:
        """Fold one file's result into the copy."""
        self.pending -= 1
        if result.not_checked:
            self.not_checked.append(f"{result.path}: {result.not_checked}")
        elif result.stopped:
            self.stopped = True
        else:
            self.files_read += 1
            self.bytes_read += result.size
            self.findings += result.findings
            if result.text is not None:
                self.texts[result.path] = result.text

    def bag_findings(self) -> list[Finding]:
        """Compare the tag files read with the catalogue (manifests, tag manifests, Payload-Oxum)."""
        payload = {p: f.digests for p, f in self.record.files.items() if f.kind is FileKind.PAYLOAD}
        tags = {p: f.digests for p, f in self.record.files.items() if f.kind is FileKind.TAG}
        return compare_tag_files(self.texts, payload, tags, self.record.payload_oxum)


def prepare_copy(backend: StorageBackend, copy: CopyRecord, record: VersionRecord, resumed: frozenset[str]) -> CopyJob:
    """List the copy and compare its inventory with the catalogue; StorageError if the location cannot be read."""
    expected = record.stored_files()
    job = CopyJob(copy, record, expected, [], resumed)
    if not backend.exists(record.aip_key):
        job.missing_copy = True
        job.findings.append(Finding("", FindingKind.MISSING, f"{record.aip_key}: the whole copy is missing"))
        return job
    present = backend.list_tree(record.aip_key)
    job.findings += compare_inventory({p: d.size for p, d in expected.items()}, present)
    readable = [p for p in expected if present.get(p) == expected[p].size]
    tags = {p for p, f in record.files.items() if f.kind is FileKind.TAG}
    job.to_read = sorted((p for p in readable if p in tags or p not in resumed), key=lambda p: -expected[p].size)
    job.resumed = frozenset(p for p in resumed if p in readable and p not in tags)
    return job


@dataclass(frozen=True)
class Reader:
    """Reads files of one location for the worker threads (one buffer per thread)."""

    backend: StorageBackend
    algorithms: tuple[str, ...]
    limiter: RateLimiter | None
    on_bytes: Callable[[int], None]
    should_stop: Callable[[], bool]
    buffers: threading.local = field(default_factory=threading.local)

    def read(self, key: str, path: str, expected: Digests, is_tag: bool) -> FileResult:
        """Read one stored file and compare it with the catalogue (runs in a worker thread)."""
        buffer = self.buffers.__dict__.setdefault("buffer", bytearray(HASH_BLOCK))
        text = None
        try:
            with self.backend.open_read(key, path) as stream:
                if is_tag and expected.size <= TAG_TEXT_LIMIT:
                    text = stream.read()  # small; parsed afterwards
                    found = hash_stream(io.BytesIO(text), self.algorithms)
                    self.on_bytes(len(text))
                else:
                    found = hash_stream(stream, self.algorithms, buffer=buffer, limiter=self.limiter,
                                        on_bytes=self.on_bytes, should_stop=self.should_stop)
        except NotStoredError:
            return FileResult(path, 0, (Finding(path, FindingKind.MISSING, "missing"),))
        except AuditStopped:
            return FileResult(path, 0, stopped=True)
        except (StorageError, OSError) as exc:
            return FileResult(path, 0, not_checked=str(exc))
        return FileResult(path, found.size, tuple(compare_digests(path, found, expected)), text)


class ResumeJournal:
    """Payload files of one copy verified by a run that did not finish the copy (one JSON line each)."""

    def __init__(self, root: Path, copy: CopyRecord) -> None:
        self.path = root / copy.location / f"{copy.item_id}.v{copy.version}.jsonl"

    def load(self, *, now: datetime, window: timedelta, algorithms: tuple[str, ...]) -> frozenset[str]:
        """Return the files verified within ``window`` with at least ``algorithms``; empty otherwise."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
            head = json.loads(lines[0])
            started = datetime.fromisoformat(head["started"])
        except (OSError, ValueError, KeyError, IndexError):
            return frozenset()
        if now - started > window or not set(algorithms) <= set(head.get("algorithms", ())):
            return frozenset()
        paths = set()
        for line in lines[1:]:
            try:
                paths.add(json.loads(line)["path"])
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a kill: that file is simply read again
        return frozenset(paths)

    def start(self, *, now: datetime, algorithms: tuple[str, ...], keep: bool) -> None:
        """Begin a journal (or keep the loaded one, whose start time still counts)."""
        if keep and self.path.is_file():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"started": now.isoformat(), "algorithms": list(algorithms)}) + "\n",
                             encoding="utf-8")

    def add(self, path: str) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"path": path}, ensure_ascii=False) + "\n")

    def finish(self) -> None:
        self.path.unlink(missing_ok=True)
