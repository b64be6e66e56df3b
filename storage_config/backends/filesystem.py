"""A storage location on a local disk or NAS mount: AIPs as folders ``<root>/<key>/``.

A put copies into a temporary sibling folder (``<key>.tmp-<host>-<pid>-<random>``),
fsyncs every file and folder, re-reads and hashes every file, and only then renames
the folder into place: the rename is the commit. A crash leaves a temporary that the
next put to the same key sweeps away (pipeline.atomic.sweep_stale), so a filesystem
location has no incomplete uploads to list or abort.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import socket
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from pipeline.atomic import TMP_MARK, fsync_dir, remove, sweep_stale, write_bytes_atomic
from pipeline.checksums import ALGORITHMS, Digests, digest_file
from pipeline.errors import StorageError
from storage_config.backends.base import (
    AIP_ROOT,
    NotStoredError,
    PendingUpload,
    TreeSource,
    as_source,
    is_aip_key,
    safe_relpath,
)

COPY_BLOCK = 4 * 1024 * 1024


class FilesystemBackend:
    """AIPs as folders under ``root``."""

    def __init__(self, name: str, root: Path, *, create: bool = True) -> None:
        self.name = name
        self.root = Path(root)
        self.create = create

    def check_writable(self) -> None:
        """Raise StorageError unless ``root`` exists (or may be created) and takes a file."""
        if not self.root.is_dir():
            self._check_mounted()
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"{self.name}: cannot create {self.root}: {exc.strerror}") from None
        # os.access says yes to root even on a read-only mount: only a real write tells.
        probe = self.root / f".write-probe{TMP_MARK}{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StorageError(f"{self.name}: {self.root} is not writable: {exc.strerror}") from None

    def put_tree(self, source: TreeSource | Path, key: str, expected: Mapping[str, Digests]) -> None:
        """Copy, verify and commit ``source`` as ``key`` (see StorageBackend)."""
        final = self._path(key)
        if final.is_dir():
            problems = self.verify_tree(key, expected)
            if problems:
                raise StorageError(f"{self.name}: {key} already stored and differs; not overwritten: {problems[0]}")
            return
        self.check_writable()
        tmp = final.with_name(f"{final.name}{TMP_MARK}{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}")
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            sweep_stale(final)  # copies interrupted by a crash: never counted, now removed
            self._copy_all(as_source(source), tmp, expected)
            problems = _verify_folder(tmp, expected)
            if problems:
                raise StorageError(f"{self.name}: copy of {key} failed verification: {'; '.join(problems[:3])}")
            os.rename(tmp, final)
            fsync_dir(final.parent)
        except OSError as exc:
            raise StorageError(_describe_os_error(self.name, key, exc)) from None
        finally:
            remove(tmp)

    def verify_tree(self, key: str, expected: Mapping[str, Digests]) -> list[str]:
        """Return every problem with the stored copy at ``key``."""
        final = self._path(key)
        if not final.is_dir():
            return [f"{key}: missing"]
        return _verify_folder(final, expected)

    def exists(self, key: str) -> bool:
        return self._path(key).is_dir()

    def list_tree(self, key: str) -> dict[str, int]:
        folder = self._path(key)
        return {p.relative_to(folder).as_posix(): p.stat().st_size
                for p in sorted(folder.rglob("*")) if p.is_file()}

    def list_aips(self) -> list[str]:
        aips = self.root / AIP_ROOT
        if not aips.is_dir():
            return []
        keys = (p.relative_to(self.root).as_posix() for p in aips.glob("*/*") if p.is_dir())
        return sorted(k for k in keys if is_aip_key(k))

    def open_read(self, key: str, relpath: str) -> BinaryIO:
        try:
            return open(self._path(key) / safe_relpath(relpath), "rb")
        except FileNotFoundError:
            raise NotStoredError(f"{self.name}: {key}/{relpath}: not found") from None
        except OSError as exc:
            raise StorageError(f"{self.name}: cannot read {key}/{relpath}: {exc.strerror}") from None

    def put_object(self, key: str, data: bytes) -> None:
        self._check_mounted()
        try:
            write_bytes_atomic(self._path(key), data)
        except OSError as exc:
            raise StorageError(_describe_os_error(self.name, key, exc)) from None

    def read_object(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotStoredError(f"{self.name}: {key}: not found") from None
        except OSError as exc:
            raise StorageError(f"{self.name}: cannot read {key}: {exc.strerror}") from None

    def list_objects(self, prefix: str) -> list[str]:
        self._check_mounted()
        folder = self._path(prefix)
        if not folder.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in folder.rglob("*")
                      if p.is_file() and TMP_MARK not in p.name)

    def replace_file(self, key: str, relpath: str, source: TreeSource | Path, expected: Digests, *,
                     quarantine: str = "") -> None:
        """Write beside the AIP, verify, keep the old bytes in quarantine (a hard link), rename into place."""
        folder = self._path(key)
        if not folder.is_dir():
            raise NotStoredError(f"{self.name}: {key}: not stored")
        target = folder / safe_relpath(relpath)
        # Beside the AIP folder, named as pipeline.atomic names temporaries: never inside the bag,
        # and swept by the next write to this key if this process dies.
        tmp = folder.with_name(f"{folder.name}{TMP_MARK}{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}")
        try:
            with as_source(source).open(relpath) as stream:
                _copy_synced(stream, tmp)
            problems = _verify_file(tmp, expected, relpath)
            if problems:
                raise StorageError(f"{self.name}: replacement for {key}/{relpath} failed verification: {problems[0]}")
            target.parent.mkdir(parents=True, exist_ok=True)
            if quarantine and target.is_file():
                _keep_bytes(target, self._path(quarantine), link=True)
            os.replace(tmp, target)
            fsync_dir(target.parent)
        except OSError as exc:
            raise StorageError(_describe_os_error(self.name, key, exc)) from None
        finally:
            remove(tmp)
        problems = _verify_file(target, expected, relpath)
        if problems:
            raise StorageError(f"{self.name}: {key}/{relpath} replaced but does not read back: {problems[0]}")

    def quarantine_file(self, key: str, relpath: str, dest: str, *, move: bool) -> bool:
        """Copy, or move by renaming, one stored file into the quarantine area of this location."""
        source = self._path(key) / safe_relpath(relpath)
        if not source.is_file():
            return False
        target = self._path(dest)
        try:
            if move:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.rename(source, target)
                fsync_dir(target.parent)
                fsync_dir(source.parent)
            else:
                _keep_bytes(source, target, link=False)
        except OSError as exc:
            raise StorageError(_describe_os_error(self.name, dest, exc)) from None
        return True

    def incomplete_uploads(self) -> list[PendingUpload]:
        """None: an interrupted put leaves a temporary folder, which the next put to its key removes."""
        return []

    def abort_idle_uploads(self, before: datetime) -> list[PendingUpload]:
        return []

    def _check_mounted(self) -> None:
        """Refuse a missing root that may not be created: an unmounted share, not an empty location.

        Event records are written and listed without check_writable; without this they
        would land on the local disk under the mount point.
        """
        if not self.create and not self.root.is_dir():
            raise StorageError(f"{self.name}: {self.root} does not exist (mount or create it, or set "
                               "create = true for this location in storage.toml)")

    def _path(self, key: str) -> Path:
        return self.root / safe_relpath(key)

    def _copy_all(self, source: TreeSource, tmp: Path, expected: Mapping[str, Digests]) -> None:
        tmp.mkdir()
        for rel in sorted(expected):
            dest = tmp / safe_relpath(rel)
            dest.parent.mkdir(parents=True, exist_ok=True)
            with source.open(rel) as stream:
                _copy_synced(stream, dest)
        for folder, _dirs, _files in os.walk(tmp):
            fsync_dir(Path(folder))


def _copy_synced(stream: BinaryIO, dest: Path) -> None:
    with open(dest, "xb") as fout:
        shutil.copyfileobj(stream, fout, COPY_BLOCK)
        fout.flush()
        os.fsync(fout.fileno())


def _verify_folder(folder: Path, expected: Mapping[str, Digests]) -> list[str]:
    """Re-read every file and compare size and both digests; list extra files too."""
    problems = []
    for rel, want in sorted(expected.items()):
        problems += _verify_file(folder / safe_relpath(rel), want, rel)
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    problems += [f"{rel}: unexpected file" for rel in sorted(present - set(expected))]
    return problems


def _verify_file(path: Path, want: Digests, rel: str) -> list[str]:
    """Re-read one file and compare its size and both digests."""
    if not path.is_file():
        return [f"{rel}: missing"]
    found = digest_file(path)
    problems = [f"{rel}: size {found.size} != {want.size}"] if found.size != want.size else []
    return problems + [f"{rel}: {a} mismatch" for a in ALGORITHMS if getattr(found, a) != getattr(want, a)]


def _keep_bytes(source: Path, target: Path, *, link: bool) -> None:
    """Put the bytes of ``source`` at ``target`` too: a hard link (same bytes) or a synced copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if link:
        try:
            os.link(source, target)
            fsync_dir(target.parent)
            return
        except OSError:
            pass  # another file system, or links not supported: copy instead
    with open(source, "rb") as stream:
        _copy_synced(stream, target)
    fsync_dir(target.parent)


def _describe_os_error(name: str, key: str, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"{name}: storage full while writing {key}; nothing was stored (free space and re-run)"
    if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
        return f"{name}: cannot write {key}: {exc.strerror} ({exc.filename})"
    return f"{name}: writing {key} failed: {exc.strerror or exc} ({exc.filename or ''})"
