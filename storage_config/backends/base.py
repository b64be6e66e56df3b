"""The contract every storage backend meets (filesystem and S3; see tests/storage/test_contract.py).

A stored AIP lives under a *key* (``aips/<item>/<item>.v<N>``) and holds files named
by POSIX paths relative to it. A key is either committed — every file was written,
read back and matched its recorded digests — or absent: readers never see a
half-written AIP. Small immutable *objects* (event records) live beside the AIPs.
An upload a killed process never finished (an S3 multipart upload) is listed by
``incomplete_uploads`` and cleaned up by ``abort_idle_uploads``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

from pipeline.checksums import Digests
from pipeline.errors import StorageError

AIP_ROOT = "aips/"


class NotStoredError(StorageError):
    """A file or object asked for is not in the location."""


@dataclass(frozen=True)
class PendingUpload:
    """An upload started and neither completed nor aborted: its parts are stored (and paid for) but unseen."""

    key: str  # the object it would have become, relative to the location
    upload_id: str
    initiated: datetime  # UTC


class TreeSource(Protocol):
    """Where the files of an AIP being stored come from."""

    def open(self, relpath: str) -> BinaryIO:
        """Open one file of the tree for reading."""
        ...


class LocalTree:
    """A folder on local disk as a TreeSource."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def open(self, relpath: str) -> BinaryIO:
        return open(self.root / safe_relpath(relpath), "rb")


class StoredTree:
    """A committed AIP in another location as a TreeSource."""

    def __init__(self, backend: StorageBackend, key: str) -> None:
        self.backend, self.key = backend, key

    def open(self, relpath: str) -> BinaryIO:
        return self.backend.open_read(self.key, relpath)


class StorageBackend(Protocol):
    """Where AIPs are kept. A committed AIP is never modified or overwritten."""

    name: str

    def check_writable(self) -> None:
        """Raise StorageError naming the fix unless new AIPs can be written here."""
        ...

    def put_tree(self, source: TreeSource | Path, key: str, expected: Mapping[str, Digests]) -> None:
        """Copy every file in ``expected`` from ``source`` to ``key``, verify each read back, then commit.

        ``expected`` maps each file's POSIX path relative to the AIP to the digests
        recorded when it was made. Nothing counts as stored under ``key`` until every
        file verified; a committed ``key`` whose files verify is accepted as already
        stored, and one that differs raises StorageError and is left untouched. An
        interrupted put leaves nothing committed and is resumed by calling it again.
        """
        ...

    def verify_tree(self, key: str, expected: Mapping[str, Digests]) -> list[str]:
        """Re-read the committed copy at ``key``; return every problem (empty when intact)."""
        ...

    def exists(self, key: str) -> bool:
        """Say whether a committed copy exists at ``key``."""
        ...

    def list_tree(self, key: str) -> dict[str, int]:
        """Return the size of every file stored under a committed ``key``."""
        ...

    def list_aips(self) -> list[str]:
        """Return every committed AIP key, sorted."""
        ...

    def open_read(self, key: str, relpath: str) -> BinaryIO:
        """Open one stored file for streaming reads."""
        ...

    def put_object(self, key: str, data: bytes) -> None:
        """Store a small immutable object (an event record) atomically."""
        ...

    def read_object(self, key: str) -> bytes:
        """Return a small object written by put_object."""
        ...

    def list_objects(self, prefix: str) -> list[str]:
        """Return the keys of small objects under ``prefix``, sorted."""
        ...

    def replace_file(self, key: str, relpath: str, source: TreeSource | Path, expected: Digests, *,
                     quarantine: str = "") -> None:
        """Replace (or restore) one file of the committed AIP at ``key`` with verified bytes (audit repair).

        The new bytes are written and checked against ``expected`` before they take the
        file's name, in one atomic step; the file is read back and checked again after.
        With ``quarantine`` (an object key), the bytes being replaced are kept there
        first. Raises StorageError, leaving the old bytes in place, if anything fails
        before the replacement; NotStoredError if ``key`` is not committed here.
        """
        ...

    def quarantine_file(self, key: str, relpath: str, dest: str, *, move: bool) -> bool:
        """Copy (or, with ``move``, move) one stored file to the object key ``dest``; False if it is absent."""
        ...

    def incomplete_uploads(self) -> list[PendingUpload]:
        """Return the uploads into this location that were started and never finished (one cheap listing)."""
        ...

    def abort_idle_uploads(self, before: datetime) -> list[PendingUpload]:
        """Abort every incomplete upload with no activity (start or part) since ``before``; return them.

        ``before`` must lie before the start of any run still writing here: an upload of a
        live run keeps receiving parts, so only those left by a killed process qualify.
        """
        ...


def as_source(source: TreeSource | Path) -> TreeSource:
    """Accept a local folder where a TreeSource is expected."""
    return LocalTree(source) if isinstance(source, Path) else source


def safe_relpath(rel: str) -> Path:
    """Return ``rel`` as a relative Path; refuse absolute paths, '..' and NUL (bagit's _path_is_dangerous)."""
    pure = PurePosixPath(rel)
    if not pure.parts or pure.is_absolute() or ".." in pure.parts or "\x00" in rel or "\\" in rel:
        raise StorageError(f"unsafe storage path {rel!r}")
    return Path(*pure.parts)


def is_aip_key(key: str) -> bool:
    """Say whether ``key`` has the shape ``aips/<item>/<item>.v<N>``."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != AIP_ROOT.rstrip("/"):
        return False
    stem, _, version = parts[2].rpartition(".v")
    return stem == parts[1] and version.isdigit()
