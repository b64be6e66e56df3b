"""Atomic outputs: nothing half-written is ever visible under a final name.

A task writes into a temporary sibling (``<final>.tmp-<host>-<pid>-<random>``), every
file and folder is fsynced, and one ``rename`` makes it visible. Luigi's ``complete()``
is just ``exists()``, so this is what lets a killed run be re-run safely. Temporaries
left by a process that died are swept on the next write to the same target.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.errors import DiskFullError

TMP_MARK = ".tmp-"


@contextlib.contextmanager
def atomic_path(final: Path, *, directory: bool = False, needed: int | None = None) -> Iterator[Path]:
    """Yield a temporary path; on clean exit fsync it and rename it to ``final``.

    On an exception the temporary is removed and ``final`` is left as it was.
    An existing ``final`` folder is never replaced: callers decide what an existing
    output means (Luigi treats it as done).

    Raises:
        DiskFullError: the disk of ``final`` ran out of space (or quota); ``needed`` bytes,
            when the caller knows them, go into the message.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(final)
    tmp = final.with_name(f"{final.name}{TMP_MARK}{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}")
    if directory:
        tmp.mkdir()
    try:
        yield tmp
        fsync_tree(tmp)
        os.replace(tmp, final) if not directory else os.rename(tmp, final)
        fsync_dir(final.parent)
    except BaseException as exc:
        remove(tmp)
        if is_disk_full(exc):
            raise disk_full(final, needed) from exc
        raise


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def disk_full(final: Path, needed: int | None) -> DiskFullError:
    """Describe a full disk at ``final``'s folder, measured after the temporary is gone."""
    folder = final.parent
    with contextlib.suppress(OSError):
        return DiskFullError(folder, shutil.disk_usage(folder).free, needed, final.name)
    return DiskFullError(folder, 0, needed, final.name)


def write_bytes_atomic(final: Path, data: bytes) -> None:
    """Write ``data`` to ``final`` atomically."""
    with atomic_path(final, needed=len(data)) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(final: Path, obj: Any) -> None:
    """Write ``obj`` as pretty UTF-8 JSON to ``final`` atomically."""
    text = json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False) + "\n"
    write_bytes_atomic(final, text.encode("utf-8"))


def fsync_tree(path: Path) -> None:
    """fsync a file, or every file and folder below ``path``."""
    if path.is_dir():
        for root, _dirs, files in os.walk(path):
            for name in files:
                _fsync_file(Path(root) / name)
            fsync_dir(Path(root))
    elif path.exists():
        _fsync_file(path)


def fsync_dir(path: Path) -> None:
    """fsync a folder so a rename inside it survives a power cut."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sweep_stale(final: Path) -> list[Path]:
    """Remove temporaries of ``final`` left by processes on this host that have died."""
    removed: list[Path] = []
    prefix = f"{final.name}{TMP_MARK}"
    if not final.parent.is_dir():
        return removed
    for candidate in final.parent.iterdir():
        if candidate.name.startswith(prefix) and _owner_is_dead(candidate.name[len(prefix):]):
            remove(candidate)
            removed.append(candidate)
    return removed


def _owner_is_dead(tag: str) -> bool:
    parts = tag.rsplit("-", 2)  # host-pid-random; the host name may itself hold dashes
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False  # another host's temporary: not ours to judge
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def remove(path: Path) -> None:
    """Remove a file or folder if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
