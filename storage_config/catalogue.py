"""The catalogue: an index of items, AIP versions, files with their ingest digests, copies and events.

It is an index, not the source of truth. Everything in it comes from two places that
live in storage: the bags (bag-info.txt, manifests, fetch.txt, tag files) and the event
records written beside them (``events/<item>/…json``). Copy status is a fold over those
events, so ``shuying catalogue rebuild`` can reconstruct it (workflows/catalogue_ops.py).

Plain DB-API (sqlite3 from the standard library) rather than SQLAlchemy: five small
tables, SQL that reads as written, no dependency. The statements keep to what SQLite
and PostgreSQL share (``INSERT … ON CONFLICT``, no AUTOINCREMENT, TEXT/BIGINT), so a
PostgreSQL driver can take the same schema; only SQLite is wired and tested today.
It is opened through pipeline/sqlite_db.py, so a damaged file is one DatabaseError
that names it and says to run ``shuying catalogue rebuild``.
"""

from __future__ import annotations

import contextlib
import enum
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.checksums import Digests
from pipeline.errors import StorageError
from pipeline.sqlite_db import Database, session

SCHEMA_VERSION = "1"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    item_id TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS versions (
    item_id TEXT NOT NULL REFERENCES items (item_id),
    version INTEGER NOT NULL,
    aip_key TEXT NOT NULL UNIQUE,
    bagging_date TEXT NOT NULL,
    payload_oxum TEXT NOT NULL,
    previous INTEGER,
    reason TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (item_id, version)
);
CREATE TABLE IF NOT EXISTS files (
    item_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('payload', 'tag')),
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    sha512 TEXT NOT NULL,
    stored_in INTEGER NOT NULL,
    PRIMARY KEY (item_id, version, path),
    FOREIGN KEY (item_id, version) REFERENCES versions (item_id, version)
);
CREATE TABLE IF NOT EXISTS copies (
    item_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    location TEXT NOT NULL,
    status TEXT NOT NULL,
    verified_at TEXT NOT NULL DEFAULT '',
    checked_at TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (item_id, version, location),
    FOREIGN KEY (item_id, version) REFERENCES versions (item_id, version)
);
CREATE INDEX IF NOT EXISTS copies_least_recently_verified ON copies (location, verified_at);
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    date_time TEXT NOT NULL,
    item_id TEXT NOT NULL,
    version INTEGER,
    location TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    outcome_detail TEXT NOT NULL DEFAULT '',
    agent TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_by_item ON events (item_id, date_time);
"""
# What to do when the file is damaged: everything in it can be read again from storage.
REMEDY = "run `shuying catalogue rebuild` (it rebuilds the catalogue from the bags and event records in storage)"
# Event types (LoC preservation vocabulary) that say a copy was, or was not, found intact.
COPY_EVENTS = ("ingestion", "replication", "fixity check")


class CopyStatus(str, enum.Enum):
    VERIFIED = "verified"  # read back and matched every digest at verified_at
    FAILED = "failed"  # the last attempt to write or check it failed (see detail)
    MISSING = "missing"  # events say it was stored, but the location does not hold it
    UNVERIFIED = "unverified"  # the location holds it, but no event proves it was verified


class FileKind(str, enum.Enum):
    PAYLOAD = "payload"
    TAG = "tag"


@dataclass(frozen=True)
class FileRecord:
    path: str
    kind: FileKind
    digests: Digests
    stored_in: int  # the version whose key holds the bytes (earlier when fetched through fetch.txt)


@dataclass(frozen=True)
class VersionRecord:
    """One AIP version as its bag describes it."""

    item_id: str
    version: int
    aip_key: str
    description: str
    bagging_date: str
    payload_oxum: str
    previous: int | None
    reason: str
    files: Mapping[str, FileRecord] = field(default_factory=dict, compare=False, repr=False)

    def stored_files(self) -> dict[str, Digests]:
        """Files physically under this version's key (not fetched from an earlier one)."""
        return {p: f.digests for p, f in self.files.items() if f.stored_in == self.version}

    def fetched_from(self) -> set[int]:
        """Earlier versions whose keys hold payload this version reuses."""
        return {f.stored_in for f in self.files.values() if f.stored_in != self.version}


@dataclass(frozen=True)
class CopyRecord:
    item_id: str
    version: int
    location: str
    status: CopyStatus
    verified_at: str
    checked_at: str
    detail: str


@dataclass(frozen=True)
class EventRecord:
    """A PREMIS-style event about an item, a version, and possibly one location's copy."""

    event_id: str
    event_type: str
    date_time: str
    item_id: str
    version: int | None
    location: str
    outcome: str
    detail: str = ""
    outcome_detail: str = ""
    agent: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventRecord:
        values = {name: data.get(name, "") for name in cls.__dataclass_fields__}
        values["version"] = None if data.get("version") in (None, "") else int(data["version"])
        return cls(**values)


class Catalogue:
    """The catalogue database; every method opens, uses and closes one connection."""

    def __init__(self, url: str) -> None:
        self.path = sqlite_path(url)
        self.database = Database(self.path, "the catalogue", REMEDY, timeout=60, isolation_level=None,
                                 pragmas=("foreign_keys = ON", "synchronous = FULL"))

    @contextlib.contextmanager
    def connect(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """Yield a connection; with ``write`` the block is one IMMEDIATE transaction.

        Raises:
            DatabaseError: the file is damaged, locked or cannot be written; the message says to rebuild it.
        """
        with session(self.database, begin="IMMEDIATE" if write else "") as conn:
            yield conn

    def create(self) -> None:
        """Create the tables if missing (WAL journal: readers never block the writer)."""
        with self.connect() as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(SCHEMA)
            conn.execute("INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO NOTHING",
                         (SCHEMA_VERSION,))

    def add_version(self, record: VersionRecord) -> None:
        """Record a version and its files; recording the same version again is a no-op.

        Raises:
            StorageError: the catalogue already holds this version with other files or digests.
        """
        self.create()
        with self.connect(write=True) as conn:
            known = _files(conn, record.item_id, record.version)
            if known:
                if known != dict(record.files):
                    raise StorageError(f"catalogue: {record.aip_key} is already recorded with other files or "
                                       "digests; a stored version is immutable (make a new version)")
                return
            conn.execute("INSERT INTO items VALUES (?, ?) ON CONFLICT (item_id) DO NOTHING",
                         (record.item_id, record.description))
            conn.execute("INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (record.item_id, record.version, record.aip_key, record.bagging_date,
                          record.payload_oxum, record.previous, record.reason))
            conn.executemany("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
                (record.item_id, record.version, f.path, f.kind.value, f.digests.size, f.digests.sha256,
                 f.digests.sha512, f.stored_in) for f in record.files.values()])

    def apply_event(self, event: EventRecord) -> None:
        """Record an event and fold it into the copy it is about (idempotent by event_id)."""
        self.create()
        with self.connect(write=True) as conn:
            inserted = conn.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
                tuple(event.as_dict().values())).rowcount
            if inserted and event.location and event.event_type in COPY_EVENTS and conn.execute(
                    "SELECT 1 FROM versions WHERE item_id = ? AND version = ?", (event.item_id, event.version),
            ).fetchone():  # a version whose bag a rebuild could not read keeps its events, but no copy row
                _fold_copy_event(conn, event)

    def set_copy_status(self, item_id: str, version: int, location: str, status: CopyStatus, detail: str) -> None:
        """Record what a look at the location found, where no event says it (used by rebuild)."""
        with self.connect(write=True) as conn:
            conn.execute("INSERT INTO copies (item_id, version, location, status, detail) VALUES (?, ?, ?, ?, ?) "
                         "ON CONFLICT (item_id, version, location) DO UPDATE SET status = excluded.status, "
                         "detail = excluded.detail", (item_id, version, location, status.value, detail))

    def versions(self, item_id: str | None = None) -> list[VersionRecord]:
        """Return every version (of one item), with its files, oldest first."""
        if not self.path.exists():
            return []
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT v.item_id, v.version, v.aip_key, i.description, v.bagging_date, v.payload_oxum, v.previous, "
                "v.reason FROM versions v JOIN items i USING (item_id) WHERE ? IS NULL OR v.item_id = ? "
                "ORDER BY v.item_id, v.version", (item_id, item_id)).fetchall()
            return [VersionRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                                  files=_files(conn, row[0], row[1])) for row in rows]

    def version(self, item_id: str, version: int | None = None) -> VersionRecord:
        """Return one version (the latest when ``version`` is None); StorageError if unknown."""
        found = [v for v in self.versions(item_id) if version is None or v.version == version]
        if not found:
            what = f"version {version} of item {item_id!r}" if version else f"item {item_id!r}"
            raise StorageError(f"catalogue {self.path}: no {what} (run `shuying catalogue rebuild` if it was lost)")
        return found[-1]

    def copies(self, item_id: str | None = None) -> list[CopyRecord]:
        if not self.path.exists():
            return []
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM copies WHERE ? IS NULL OR item_id = ? "
                                "ORDER BY item_id, version, location", (item_id, item_id)).fetchall()
        return [CopyRecord(r[0], r[1], r[2], CopyStatus(r[3]), r[4], r[5], r[6]) for r in rows]

    def copies_by_verification(self, *, location: str | None = None, item_id: str | None = None) -> list[CopyRecord]:
        """Return copies least recently verified first (never verified first): the fixity audit's order."""
        if not self.path.exists():
            return []
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM copies WHERE (? IS NULL OR location = ?) AND (? IS NULL OR item_id = ?) "
                                "ORDER BY verified_at, checked_at, item_id, version, location",
                                (location, location, item_id, item_id)).fetchall()
        return [CopyRecord(r[0], r[1], r[2], CopyStatus(r[3]), r[4], r[5], r[6]) for r in rows]

    def events(self, item_id: str | None = None) -> list[EventRecord]:
        if not self.path.exists():
            return []
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM events WHERE ? IS NULL OR item_id = ? ORDER BY date_time, event_id",
                                (item_id, item_id)).fetchall()
        return [EventRecord(*row) for row in rows]

    def dump(self) -> dict[str, list[tuple]]:
        """Return every row of every table, sorted: what a rebuild must reproduce."""
        with self.connect() as conn:
            return {table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
                    for table in ("items", "versions", "files", "copies", "events")}


def sqlite_path(url: str) -> Path:
    """Return the database file of a catalogue URL (a path or ``sqlite:///path``)."""
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):]).absolute()  # sqlite:////abs/path is absolute, as in SQLAlchemy
    if "://" in url:
        raise StorageError(f"catalogue url {url!r}: only SQLite (a path or sqlite:///path) is supported so far")
    return Path(url).expanduser().absolute()


def _files(conn: sqlite3.Connection, item_id: str, version: int) -> dict[str, FileRecord]:
    rows = conn.execute("SELECT path, kind, size, sha256, sha512, stored_in FROM files "
                        "WHERE item_id = ? AND version = ? ORDER BY path", (item_id, version))
    return {r[0]: FileRecord(r[0], FileKind(r[1]), Digests(r[2], r[3], r[4]), r[5]) for r in rows}


def _fold_copy_event(conn: sqlite3.Connection, event: EventRecord) -> None:
    # Events may arrive out of order (a rebuild reads them location by location):
    # only a later check changes the status; a success always advances verified_at.
    ok = event.outcome == "success"
    status = CopyStatus.VERIFIED if ok else CopyStatus.FAILED
    conn.execute(
        "INSERT INTO copies VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (item_id, version, location) DO UPDATE SET "
        "status = CASE WHEN excluded.checked_at >= copies.checked_at THEN excluded.status ELSE copies.status END, "
        "detail = CASE WHEN excluded.checked_at >= copies.checked_at THEN excluded.detail ELSE copies.detail END, "
        "verified_at = CASE WHEN excluded.verified_at > copies.verified_at THEN excluded.verified_at "
        "ELSE copies.verified_at END, "
        "checked_at = CASE WHEN excluded.checked_at > copies.checked_at THEN excluded.checked_at "
        "ELSE copies.checked_at END",
        (event.item_id, event.version, event.location, status.value, event.date_time if ok else "",
         event.date_time, event.outcome_detail if not ok else ""))
