"""Message digests, computed once per file in a single read (bagit-python's model)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pipeline.errors import FixityError

ALGORITHMS = ("sha256", "sha512")
BLOCK_SIZE = 1024 * 1024  # large reads: hashing, not syscalls, should be the bound


@dataclass(frozen=True)
class Digests:
    """Size and digests of one file, as recorded when it was first seen."""

    size: int
    sha256: str
    sha512: str

    def as_dict(self) -> dict[str, int | str]:
        return {"size": self.size, "sha256": self.sha256, "sha512": self.sha512}

    @classmethod
    def from_dict(cls, data: dict) -> Digests:
        return cls(size=int(data["size"]), sha256=str(data["sha256"]), sha512=str(data["sha512"]))


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def digest_stream(stream: Readable) -> Digests:
    """Feed every hasher from one read loop over ``stream``."""
    hashers = [hashlib.new(name) for name in ALGORITHMS]
    size = 0
    while block := stream.read(BLOCK_SIZE):
        size += len(block)
        for hasher in hashers:
            hasher.update(block)
    sha256, sha512 = (h.hexdigest() for h in hashers)
    return Digests(size=size, sha256=sha256, sha512=sha512)


def digest_file(path: Path) -> Digests:
    """Compute size, SHA-256 and SHA-512 of a file in one pass."""
    with open(path, "rb") as stream:
        return digest_stream(stream)


def verify_file(path: Path, expected: Digests, *, name: str | None = None) -> None:
    """Raise FixityError unless ``path`` still has the recorded size and digests."""
    found = digest_file(path)
    label = name or str(path)
    if found.size != expected.size:
        raise FixityError(label, "size", str(expected.size), str(found.size))
    for algorithm in ALGORITHMS:
        if getattr(found, algorithm) != getattr(expected, algorithm):
            raise FixityError(label, algorithm, getattr(expected, algorithm), getattr(found, algorithm))
