"""A bounded on-disk cache of rendered images (Cantaloupe's derivative cache, made atomic).

Entries are keyed by the normalised request (canonical path plus the source file's
version), so a republished page never serves old pixels and equivalent URLs share
one entry. An entry is written to a temporary file beside its final name and renamed
into place: a reader sees a complete image or nothing (Cantaloupe's
``CompletableOutputStream.complete()`` rule). Several server processes may share the
folder; eviction is by total size, oldest-used first, and a hit refreshes the entry's
mtime at most once per :data:`TOUCH_INTERVAL` so hits cost no writes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TOUCH_INTERVAL = 600.0  # seconds between mtime refreshes of an entry that keeps being hit
STALE_TEMP_AGE = 3600.0  # temp files this old were left by a killed writer
LOW_WATER = 0.8  # eviction goes down to this fraction of the limit, so it runs rarely


@dataclass(frozen=True)
class CacheStats:
    entries: int
    bytes: int


class DerivativeCache:
    """Rendered images on disk under ``root``, at most about ``max_bytes`` in total."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._written_since_check = 0
        self._lock = threading.Lock()

    @staticmethod
    def key(*parts: str) -> str:
        """Return a stable file-name-safe key for a normalised request."""
        return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()

    def get(self, key: str) -> bytes | None:
        """Return the cached bytes for ``key``, or None."""
        if self.max_bytes <= 0:
            return None  # caching is off: entries left from an earlier run are not used either
        path = self._path(key)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
                mtime = os.fstat(handle.fileno()).st_mtime
        except FileNotFoundError:
            return None
        if not data:  # a crash can leave an empty file behind a rename; treat it as a miss
            return None
        if time.time() - mtime > TOUCH_INTERVAL:
            self._touch(path)
        return data

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically; evict old entries when over the limit."""
        if self.max_bytes <= 0 or len(data) > self.max_bytes:
            return
        path = self._path(key)
        temp = ""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temp, path)
        except OSError as exc:
            log.warning("derivative cache: cannot store %s: %s", path, exc)
            if temp:
                _unlink(Path(temp))
            return
        self._account(len(data))

    def stats(self) -> CacheStats:
        """Count entries and bytes now on disk."""
        entries = list(self._entries())
        return CacheStats(len(entries), sum(size for _, size, _ in entries))

    def evict(self) -> int:
        """Remove oldest entries until the cache is under the low-water mark; return bytes freed."""
        entries = sorted(self._entries(), key=lambda entry: entry[2])
        total = sum(size for _, size, _ in entries)
        if total <= self.max_bytes:
            return 0
        target, freed = self.max_bytes * LOW_WATER, 0
        for path, size, _ in entries:
            if total - freed <= target:
                break
            if _unlink(path):
                freed += size
        log.info("derivative cache: evicted %d bytes from %s", freed, self.root)
        return freed

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / key[2:]

    def _account(self, size: int) -> None:
        # Scanning the folder is O(entries), so do it after each tenth of the limit written.
        with self._lock:
            self._written_since_check += size
            due = self._written_since_check >= self.max_bytes / 10
            if due:
                self._written_since_check = 0
        if due:
            self.evict()

    def _entries(self) -> Iterator[tuple[Path, int, float]]:
        """Yield (path, size, mtime) of every entry; remove stale temp files on the way."""
        now = time.time()
        for folder in _scandir(self.root):
            for entry in _scandir(Path(folder.path)):
                try:
                    stat = entry.stat()
                except FileNotFoundError:
                    continue
                if entry.name.startswith(".tmp-"):
                    if now - stat.st_mtime > STALE_TEMP_AGE:
                        _unlink(Path(entry.path))
                    continue
                yield Path(entry.path), stat.st_size, stat.st_mtime

    @staticmethod
    def _touch(path: Path) -> None:
        try:
            os.utime(path)
        except OSError:
            pass  # evicted meanwhile by another process: nothing to refresh


class MemoryCache:
    """The most recently used rendered images in this process, at most ``max_bytes`` in total.

    In front of the disk cache: a warm tile costs a dictionary lookup instead of an
    open, a read and a stat. Each server process has its own.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        """Return the bytes for ``key``, or None."""
        with self._lock:
            data = self._entries.get(key)
            if data is not None:
                self._entries.move_to_end(key)
            return data

    def put(self, key: str, data: bytes) -> None:
        """Keep ``data``, dropping the least recently used entries beyond the limit."""
        if len(data) > self.max_bytes // 8:  # a few huge images must not flush every tile
            return
        with self._lock:
            old = self._entries.pop(key, None)
            self._bytes += len(data) - (len(old) if old is not None else 0)
            self._entries[key] = data
            while self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= len(dropped)


class Lru:
    """At most ``capacity`` values, the least recently used dropped first; safe to share between threads."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """Return the value for ``key``, or None."""
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        """Keep ``value`` for ``key``."""
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.capacity:
                self._values.popitem(last=False)


class Recent:
    """Values remembered for ``ttl`` seconds: for lookups that may be a second stale (0 turns it off)."""

    def __init__(self, ttl: float, capacity: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self.clock = clock
        self._values: dict[Hashable, tuple[float, Any]] = {}

    def get(self, key: Hashable) -> Any:
        """Return the value stored for ``key`` less than ``ttl`` ago, or None."""
        entry = self._values.get(key)
        if entry is None or entry[0] < self.clock():
            return None
        return entry[1]

    def put(self, key: Hashable, value: Any) -> None:
        """Remember ``value`` for ``ttl`` seconds."""
        if self.ttl <= 0:
            return
        if len(self._values) >= self.capacity:
            self._values.clear()  # cheaper than tracking age; everything is re-looked-up within a second
        self._values[key] = (self.clock() + self.ttl, value)


def _scandir(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as entries:
            return [entry for entry in entries if not entry.is_symlink()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
