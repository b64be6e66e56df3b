"""The contract every storage backend meets (filesystem now; S3 through the same shape)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO, Protocol

from pipeline.checksums import Digests


class StorageBackend(Protocol):
    """Where AIPs are kept. A stored AIP is immutable once committed."""

    name: str

    def put_tree(self, source: Path, key: str, expected: Mapping[str, Digests]) -> None:
        """Copy the folder ``source`` to ``key``, verify every file read back, then commit.

        ``expected`` maps each file's POSIX path relative to ``source`` to the digests
        recorded when it was made. Nothing is visible under ``key`` until every file
        verified; an existing ``key`` whose files verify is accepted as already stored.
        """
        ...

    def verify_tree(self, key: str, expected: Mapping[str, Digests]) -> list[str]:
        """Return every problem with the stored copy at ``key`` (empty when intact)."""
        ...

    def exists(self, key: str) -> bool:
        """Say whether a committed copy exists at ``key``."""
        ...

    def open_read(self, key: str, relpath: str) -> BinaryIO:
        """Open one stored file for reading."""
        ...
