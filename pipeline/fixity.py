"""Fixity: hash streams against recorded digests, compare inventories, throttle reads.

The audit (workflows/audit.py) and the strict bag check (pipeline/fixity_bag.py) both
read through :func:`hash_stream`: one preallocated buffer per worker, ``readinto`` in
large blocks, every selected algorithm fed from the same block. hashlib releases the
GIL for buffers above 2 KiB, so threads hashing different files run on every core
while memory stays at one buffer per worker whatever the file sizes.
"""

from __future__ import annotations

import enum
import hashlib
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from pipeline.bagit_versions import parse_manifest, rules_for
from pipeline.checksums import ALGORITHMS, Digests
from pipeline.errors import ShuyingError
from pipeline.fixity_text import (
    manifest_algorithm,
    parse_oxum,
    parse_tags,
)

HASH_BLOCK = 1024 * 1024
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*(?:/\s*s)?\s*$", re.IGNORECASE)
_RATE_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


class AuditStopped(ShuyingError):
    """Hashing was asked to stop (time budget reached, or the run is ending)."""


class FindingKind(str, enum.Enum):
    MISSING = "missing"  # the catalogue lists the file; the copy lacks it
    EXTRA = "extra"  # the copy holds a file the catalogue does not list
    SIZE = "size"  # the file has another size than recorded at ingest
    DIGEST = "digest"  # same size, other bytes
    BAG = "bag"  # a tag file says something other than the catalogue (manifest line, Payload-Oxum)
    UNREADABLE = "unreadable"  # could not be read now; not proof of damage


DAMAGE = frozenset({FindingKind.MISSING, FindingKind.EXTRA, FindingKind.SIZE, FindingKind.DIGEST})


@dataclass(frozen=True)
class Finding:
    """One thing wrong with one file of one copy."""

    path: str
    kind: FindingKind
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    @property
    def damaged(self) -> bool:
        """Say whether the file's bytes are wrong (and so need repair)."""
        return self.kind in DAMAGE


@dataclass(frozen=True)
class StreamDigest:
    """What one read of a stream found: its length and a hex digest per algorithm."""

    size: int
    digests: Mapping[str, str]


class RateLimiter:
    """Keep reads under ``rate`` bytes per second across threads (a token bucket with a small burst)."""

    def __init__(self, rate: float, *, burst_seconds: float = 0.25, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, not {rate}")
        self.rate, self.burst = float(rate), burst_seconds
        self._clock, self._sleep = clock, sleep
        self._next = clock()
        self._lock = threading.Lock()

    def acquire(self, count: int) -> None:
        """Wait until ``count`` more bytes may be read."""
        with self._lock:
            now = self._clock()
            start = max(self._next, now - self.burst)
            self._next = start + count / self.rate
            delay = self._next - now - self.burst
        if delay > 0:
            self._sleep(delay)  # outside the lock: other threads book their own slots meanwhile


RFC_8493 = rules_for((1, 0))  # our own AIPs are BagIt 1.0 bags


def hash_stream(stream: BinaryIO, algorithms: Sequence[str], *, buffer: bytearray | None = None,
                limiter: RateLimiter | None = None, on_bytes: Callable[[int], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> StreamDigest:
    """Read ``stream`` to its end in large blocks and return its size and digests.

    Raises:
        AuditStopped: ``should_stop`` said so between two blocks.
    """
    hashers = [hashlib.new(name) for name in algorithms]
    view = memoryview(buffer if buffer is not None else bytearray(HASH_BLOCK))
    size = 0
    while True:
        if should_stop is not None and should_stop():
            raise AuditStopped("stopped before the end of the file")
        if limiter is not None:
            limiter.acquire(len(view))
        count = stream.readinto(view)  # type: ignore[attr-defined]
        if not count:
            break
        size += count
        for hasher in hashers:
            hasher.update(view[:count])
        if on_bytes is not None:
            on_bytes(count)
    return StreamDigest(size, {name: h.hexdigest() for name, h in zip(algorithms, hashers)})


def compare_digests(path: str, found: StreamDigest, expected: Digests) -> list[Finding]:
    """Compare what a read found with the digests recorded at ingest."""
    if found.size != expected.size:
        return [Finding(path, FindingKind.SIZE, f"size {found.size} bytes, recorded {expected.size}")]
    wrong = [name for name in ALGORITHMS if name in found.digests and found.digests[name] != getattr(expected, name)]
    return [Finding(path, FindingKind.DIGEST, f"{name} mismatch: expected=\"{getattr(expected, name)}\" "
                                              f"found=\"{found.digests[name]}\"") for name in wrong]


def compare_inventory(expected: Mapping[str, int], present: Mapping[str, int]) -> list[Finding]:
    """List files missing from ``present``, extra in it, or of another size (path → size maps)."""
    findings = [Finding(p, FindingKind.MISSING, "missing") for p in sorted(set(expected) - set(present))]
    findings += [Finding(p, FindingKind.EXTRA, "not in the catalogue (unexpected file)")
                 for p in sorted(set(present) - set(expected))]
    findings += [Finding(p, FindingKind.SIZE, f"size {present[p]} bytes, recorded {expected[p]}")
                 for p in sorted(set(expected) & set(present)) if present[p] != expected[p]]
    return findings


def compare_tag_files(texts: Mapping[str, bytes], payload: Mapping[str, Digests], tags: Mapping[str, Digests],
                      oxum: str) -> list[Finding]:
    """Compare what a stored bag's tag files say with the catalogue: manifest lines, tag manifests, Payload-Oxum.

    ``texts`` holds the tag files as read now; ``payload`` and ``tags`` the catalogue's
    digests for the version's whole payload (fetched files too) and its tag files;
    ``oxum`` the Payload-Oxum the catalogue recorded.
    """
    findings = []
    for name, raw in sorted(texts.items()):
        kind = manifest_algorithm(name)
        if kind is not None and kind[1] in ALGORITHMS:
            listed = payload if kind[0] == "manifest" else {p: d for p, d in tags.items()
                                                            if not p.startswith("tagmanifest-")}
            entries, _ = parse_manifest(name, raw.decode("utf-8", errors="replace"), kind[1], RFC_8493, ())
            findings += _manifest_findings(name, entries, {p: getattr(d, kind[1]) for p, d in listed.items()})
    if "bag-info.txt" in texts:
        findings += _oxum_findings(texts["bag-info.txt"], payload, oxum)
    return findings


def _manifest_findings(name: str, entries: Mapping[str, str], recorded: Mapping[str, str]) -> list[Finding]:
    findings = [Finding(name, FindingKind.BAG, f"does not list {p}, which the catalogue records")
                for p in sorted(set(recorded) - set(entries))]
    findings += [Finding(name, FindingKind.BAG, f"lists {p}, which the catalogue does not record")
                 for p in sorted(set(entries) - set(recorded))]
    findings += [Finding(name, FindingKind.BAG, f"gives {p} another digest than the catalogue recorded at ingest")
                 for p in sorted(set(entries) & set(recorded)) if entries[p] != recorded[p]]
    return findings


def _oxum_findings(raw: bytes, payload: Mapping[str, Digests], oxum: str) -> list[Finding]:
    tags, _ = parse_tags("bag-info.txt", raw.decode("utf-8", errors="replace"))
    values = [value for label, value in tags if label == "Payload-Oxum"]
    computed = (sum(d.size for d in payload.values()), len(payload))
    if not values:
        return [Finding("bag-info.txt", FindingKind.BAG, "has no Payload-Oxum")]
    if parse_oxum(values[0]) != computed or (oxum and values[0] != oxum):
        return [Finding("bag-info.txt", FindingKind.BAG, f"Payload-Oxum {values[0]}; the catalogue records "
                                                         f"{oxum or 'none'} and its files add up to "
                                                         f"{computed[0]}.{computed[1]}")]
    return []


def algorithms_for(choice: str) -> tuple[str, ...]:
    """Return the algorithms an ``--algorithm`` choice (sha256, sha512, both) names."""
    if choice == "both":
        return ALGORITHMS
    if choice in ALGORITHMS:
        return (choice,)
    raise ValueError(f"unknown algorithm {choice!r}; choose sha256, sha512 or both")


def parse_rate(text: str) -> float:
    """Return the bytes per second in ``200MB/s``, ``1.5GB/s``, ``500KiB/s`` (KB = 1000 bytes, KiB = 1024)."""
    match = _RATE.match(text)
    if not match or match.group(2).lower() in ("i", "ib") or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a rate (examples: 200MB/s, 1.5GB/s, 500KiB/s)")
    unit = match.group(2).lower()
    base = 1024 if "i" in unit else 1000
    return float(match.group(1)) * base ** _RATE_POWERS[unit[:1] if unit[:1] != "b" else ""]
