"""Opening Shuying's SQLite files, and what a person is told when one of them is broken.

Five stores keep a SQLite file in ``<home>``: the catalogue, the conservation index, the
full-text search index, the staff tokens and the staff accounts. Each opens it with its
own busy timeout, journal and pragmas (:class:`Database` says which); all of them open
it here, so a damaged, locked, read-only or full database reads the same everywhere:
one :class:`~pipeline.errors.DatabaseError` naming the file, what is wrong and what to do,
instead of an ``sqlite3`` traceback.

A damaged file often opens fine and fails at its first query, so errors are translated
both when a file is opened (:func:`connect`) and while it is used (:func:`translated`,
:func:`session`). Constraint and programming errors (``IntegrityError``,
``ProgrammingError``) are the caller's logic, not a broken file, and pass through.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline.errors import DatabaseError

__all__ = ["Database", "DatabaseError", "connect", "database_error", "session", "translated"]

# Primary result codes (https://sqlite.org/rescode.html), keyed to (problem, remedy); {remedy}
# is the store's own way back from a damaged file.
_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_WORDING = {
    sqlite3.SQLITE_NOTADB: ("{what} is not an SQLite database: the file is damaged or was overwritten", "{remedy}"),
    sqlite3.SQLITE_CORRUPT: ("{what} is damaged", "{remedy}"),
    sqlite3.SQLITE_BUSY: ("{what} is locked: another process kept it busy for more than {timeout:g} s",
                          "try again when that process is done"),
    sqlite3.SQLITE_READONLY: ("{what} cannot be written",
                              "make the file, its folder and its file system writable for this user"),
    sqlite3.SQLITE_FULL: ("{what} cannot grow: its disk is full", "free space on that disk and try again"),
    sqlite3.SQLITE_CANTOPEN: ("cannot open {what}", "check that its folder exists and this user may write both"),
    sqlite3.SQLITE_IOERR: ("cannot read or write {what}", "check the disk; if the file is damaged, {remedy}"),
}
_WORDING[sqlite3.SQLITE_LOCKED] = _WORDING[sqlite3.SQLITE_BUSY]
_MISSING_TABLES = ("{what} lacks its tables: the file is empty or is not {what}", "{remedy}")
_OTHER = ("{what} cannot be used", "if the file is damaged, {remedy}")
_OS_WORDING = {
    errno.ENOSPC: _WORDING[sqlite3.SQLITE_FULL],
    errno.EROFS: _WORDING[sqlite3.SQLITE_READONLY],
    errno.EACCES: _WORDING[sqlite3.SQLITE_READONLY],
}


@dataclass(frozen=True)
class Database:
    """One SQLite file and how its store opens it; ``what`` and ``remedy`` go into error messages.

    ``remedy`` is what to do when the file is damaged, as an imperative clause: "run `shuying
    catalogue rebuild` …". ``isolation_level`` is sqlite3's: ``None`` leaves transactions to
    explicit BEGINs, ``"DEFERRED"`` is the module's default implicit transactions.
    """

    path: Path
    what: str  # "the catalogue"
    remedy: str
    timeout: float = 30.0  # seconds to wait for another process's lock
    isolation_level: Literal["DEFERRED", "IMMEDIATE", "EXCLUSIVE"] | None = "DEFERRED"
    pragmas: tuple[str, ...] = ()  # run in order on every open: "journal_mode = WAL", "foreign_keys = ON"
    schema: str = ""  # CREATE … IF NOT EXISTS script run on every open
    private: bool = False  # create the file owner-only (0600) before SQLite does
    error: type[DatabaseError] = DatabaseError  # a subclass a store's callers already catch


def connect(db: Database) -> sqlite3.Connection:
    """Open ``db`` (creating its folder and file), set its pragmas and make its tables.

    Raises:
        DatabaseError: (``db.error``) the file cannot be opened, or is damaged, locked or read-only.
    """
    with translated(db):
        try:
            _create(db)
        except OSError as exc:
            raise _os_error(db, exc) from None
        conn = sqlite3.connect(db.path, timeout=db.timeout, isolation_level=db.isolation_level)
        try:
            for pragma in db.pragmas:
                conn.execute(f"PRAGMA {pragma}")
            if db.schema:
                conn.executescript(db.schema)
        except BaseException:
            conn.close()
            raise
    return conn


@contextmanager
def session(db: Database, *, begin: str = "") -> Iterator[sqlite3.Connection]:
    """Yield a new connection to ``db``; commit when the block ends, roll back if it raises, then close.

    ``begin`` ("IMMEDIATE", "DEFERRED") opens an explicit transaction first: IMMEDIATE takes
    the write lock at once, so a read-check-write block cannot interleave with another writer.
    """
    conn = connect(db)
    with translated(db):
        try:
            if begin:
                conn.execute(f"BEGIN {begin}")
            yield conn
            if conn.in_transaction:
                conn.commit()
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
        finally:
            conn.close()


@contextmanager
def translated(db: Database) -> Iterator[None]:
    """Turn an ``sqlite3`` error from a damaged, locked or unwritable ``db`` into ``db.error``."""
    try:
        yield
    except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
        raise
    except sqlite3.DatabaseError as exc:
        raise database_error(db, exc) from None


def database_error(db: Database, exc: sqlite3.Error) -> DatabaseError:
    """Word an ``sqlite3`` error: the file, what is wrong (with SQLite's own words) and what to do."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # extended codes carry the primary one in the low byte
    detail = str(exc)
    wording = _WORDING.get(code) or (_MISSING_TABLES if detail.startswith("no such table") else _OTHER)
    return _error(db, wording, detail, busy=code in _BUSY_CODES)


def _os_error(db: Database, exc: OSError) -> DatabaseError:
    wording = _OS_WORDING.get(exc.errno or 0, _WORDING[sqlite3.SQLITE_CANTOPEN])
    return _error(db, wording, exc.strerror or str(exc))


def _error(db: Database, wording: tuple[str, str], detail: str, *, busy: bool = False) -> DatabaseError:
    problem, remedy = (text.format(what=db.what, remedy=db.remedy, timeout=db.timeout) for text in wording)
    return db.error(db.path, f"{problem} ({detail})", remedy, busy=busy)


def _create(db: Database) -> None:
    Path(db.path).parent.mkdir(parents=True, exist_ok=True)
    if db.private:
        os.close(os.open(db.path, os.O_CREAT | os.O_RDWR, 0o600))
