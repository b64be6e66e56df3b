"""A storage location on a local disk or NAS mount."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import socket
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from pipeline.checksums import ALGORITHMS, Digests, digest_file
from pipeline.atomic import TMP_MARK, sweep_stale
from pipeline.errors import StorageError

COPY_BLOCK = 4 * 1024 * 1024


class FilesystemBackend:
    """AIPs as folders under ``root``: ``<root>/<key>/``."""

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = Path(root)

    def put_tree(self, source: Path, key: str, expected: Mapping[str, Digests]) -> None:
        """Copy, verify and commit ``source`` as ``key`` (see StorageBackend)."""
        final = self._path(key)
        if final.exists():
            problems = self.verify_tree(key, expected)
            if problems:
                raise StorageError(f"{self.name}: {key} already stored and differs; not overwritten: {problems[0]}")
            return
        self._check_writable()
        final.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale(final)  # copies interrupted by a crash: never counted, now removed
        tmp = final.with_name(f"{final.name}{TMP_MARK}{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}")
        try:
            self._copy_all(source, tmp, expected)
            problems = _verify_folder(tmp, expected)
            if problems:
                raise StorageError(f"{self.name}: copy of {key} failed verification: {'; '.join(problems[:3])}")
            os.rename(tmp, final)
            _fsync_dir(final.parent)
        except OSError as exc:
            raise StorageError(_describe_os_error(self.name, key, exc)) from None
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def verify_tree(self, key: str, expected: Mapping[str, Digests]) -> list[str]:
        """Return every problem with the stored copy at ``key``."""
        final = self._path(key)
        if not final.is_dir():
            return [f"{key}: missing"]
        return _verify_folder(final, expected)

    def exists(self, key: str) -> bool:
        return self._path(key).is_dir()

    def open_read(self, key: str, relpath: str) -> BinaryIO:
        return open(self._path(key) / _safe_rel(relpath), "rb")

    def _path(self, key: str) -> Path:
        return self.root / _safe_rel(key)

    def _check_writable(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"{self.name}: cannot create {self.root}: {exc.strerror}") from None
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"{self.name}: {self.root} is not writable")

    def _copy_all(self, source: Path, tmp: Path, expected: Mapping[str, Digests]) -> None:
        for rel in sorted(expected):
            dest = tmp / _safe_rel(rel)
            dest.parent.mkdir(parents=True, exist_ok=True)
            _copy_synced(source / _safe_rel(rel), dest)
        for folder, _dirs, _files in os.walk(tmp):
            _fsync_dir(Path(folder))


def _safe_rel(rel: str) -> Path:
    parts = PurePosixPath(rel).parts
    if not parts or PurePosixPath(rel).is_absolute() or ".." in parts or "\x00" in rel:
        raise StorageError(f"unsafe storage path {rel!r}")
    return Path(*parts)


def _copy_synced(src: Path, dest: Path) -> None:
    with open(src, "rb") as fin, open(dest, "xb") as fout:
        shutil.copyfileobj(fin, fout, COPY_BLOCK)
        fout.flush()
        os.fsync(fout.fileno())
    shutil.copystat(src, dest)


def _verify_folder(folder: Path, expected: Mapping[str, Digests]) -> list[str]:
    """Re-read every file and compare size and both digests; list extra files too."""
    problems = []
    for rel, want in sorted(expected.items()):
        path = folder / _safe_rel(rel)
        if not path.is_file():
            problems.append(f"{rel}: missing")
            continue
        found = digest_file(path)
        if found.size != want.size:
            problems.append(f"{rel}: size {found.size} != {want.size}")
        problems += [f"{rel}: {a} mismatch" for a in ALGORITHMS if getattr(found, a) != getattr(want, a)]
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    problems += [f"{rel}: unexpected file" for rel in sorted(present - set(expected))]
    return problems


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _describe_os_error(name: str, key: str, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"{name}: storage full while writing {key}; nothing was stored (free space and re-run)"
    if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
        return f"{name}: cannot write {key}: {exc.strerror} ({exc.filename})"
    return f"{name}: writing {key} failed: {exc.strerror or exc} ({exc.filename or ''})"
