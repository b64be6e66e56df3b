"""Where saved conservation records are looked up: ``<home>/conservation.sqlite``, append-only.

One row per saved revision, holding the exact JSON preserved in the AIP. Rows are
never updated or deleted (triggers refuse it): an amendment is a new row, and the
history is every row of a record. The AIPs are the record of truth; this is the
index that lists and filters them quickly.

No lost updates: an amendment names the revision it was edited from, and the row for
the next revision is only written if that is still the latest (checked in the same
IMMEDIATE transaction; the primary key refuses a second row for the same revision).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.atomic import atomic_path
from pipeline.checksums import Digests
from pipeline.conservation.record import (
    RecordError,
    RecordHistory,
    RevisionConflictError,
    SavedRevision,
    UnknownRecordError,
    record_from_dict,
)
from pipeline.errors import StorageError
from pipeline.sqlite_db import Database, session
from storage_config.catalogue import FileRecord
from storage_config.settings import Settings
from workflows.archive import Archive, open_archive
from workflows.catalogue_ops import aip_key
from workflows.export import holders

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS revisions (
    record_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    item_id TEXT NOT NULL,
    saved_at TEXT NOT NULL,
    saved_by TEXT NOT NULL,
    aip_version INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (record_id, revision)
);
CREATE INDEX IF NOT EXISTS revisions_by_item ON revisions (item_id, record_id);
CREATE TRIGGER IF NOT EXISTS revisions_no_update BEFORE UPDATE ON revisions
    BEGIN SELECT RAISE(ABORT, 'conservation revisions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS revisions_no_delete BEFORE DELETE ON revisions
    BEGIN SELECT RAISE(ABORT, 'conservation revisions are append-only'); END;
CREATE TABLE IF NOT EXISTS indexed (
    item_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);
"""
STORE_FILE = "conservation.sqlite"
LOCK_TIMEOUT = 600.0  # seconds a save waits for another to finish storing its AIP version
RECORD_PATH = re.compile(r"data/conservation/([^/]+)/r([1-9][0-9]*)\.json")
ID_PREFIX = "CR"
REMEDY = ("run `shuying repair reindex` (it rebuilds this index from the records in the AIPs, "
          "data/conservation/)")
WAL = ("journal_mode = WAL", "synchronous = FULL")
SCRATCH = ("journal_mode = DELETE", "synchronous = OFF")  # a reindex's new file: fsynced once, as a whole


class RecordStore:
    """The revisions table; every method opens, uses and closes one connection."""

    def __init__(self, path: Path, *, scratch: bool = False) -> None:
        self.path = Path(path)
        self.database = Database(self.path, "the conservation record index", REMEDY, timeout=60,
                                 isolation_level=None, pragmas=SCRATCH if scratch else WAL, schema=SCHEMA)

    @contextlib.contextmanager
    def connect(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """Yield a connection with the tables in place; with ``write`` the block is one IMMEDIATE transaction.

        Raises:
            DatabaseError: the file is damaged, locked or cannot be written.
        """
        with session(self.database, begin="IMMEDIATE" if write else "") as conn:
            yield conn

    def next_id(self, year: int) -> str:
        """Return the next free record id of ``year``: CR-2025-0001, CR-2025-0002 …"""
        prefix = f"{ID_PREFIX}-{year:04d}-"
        with self.connect() as conn:
            rows = conn.execute("SELECT DISTINCT record_id FROM revisions WHERE record_id LIKE ?", (prefix + "%",))
            numbers = [int(r[0][len(prefix):]) for r in rows if r[0][len(prefix):].isdigit()]
        return f"{prefix}{max(numbers, default=0) + 1:04d}"

    def append(self, saved: SavedRevision, *, based_on: int) -> None:
        """Add a revision edited from revision ``based_on`` (0 for a new record), stored in AIP version aip_version.

        The item counts as indexed up to that version. The same row already there is fine: a
        reconcile run by another command found the version first.

        Raises:
            RevisionConflictError: revision ``based_on`` is no longer the latest.
        """
        record = saved.record
        with self.connect(write=True) as conn:
            if _row(conn, record.record_id, record.revision) == _values(saved):
                _mark_indexed(conn, record.item_id, saved.aip_version)
                return
            latest = conn.execute("SELECT revision, saved_by FROM revisions WHERE record_id = ? "
                                  "ORDER BY revision DESC LIMIT 1", (record.record_id,)).fetchone()
            if (latest[0] if latest else 0) != based_on or record.revision != based_on + 1:
                raise RevisionConflictError(record.record_id, based_on, latest[0] if latest else 0,
                                            latest[1] if latest else "")
            conn.execute("INSERT INTO revisions VALUES (?, ?, ?, ?, ?, ?, ?)", _values(saved))
            _mark_indexed(conn, record.item_id, saved.aip_version)

    def add_found(self, item_id: str, version: int, found: list[SavedRevision]) -> None:
        """Index revisions read from the AIPs (those already indexed are kept) and mark the item indexed to ``version``."""
        with self.connect(write=True) as conn:
            conn.executemany("INSERT INTO revisions VALUES (?, ?, ?, ?, ?, ?, ?) "
                             "ON CONFLICT (record_id, revision) DO NOTHING", [_values(s) for s in found])
            _mark_indexed(conn, item_id, version)

    def indexed(self) -> dict[str, int]:
        """Return, per item, the latest AIP version whose records are all indexed."""
        with self.connect() as conn:
            return dict(conn.execute("SELECT item_id, version FROM indexed").fetchall())

    def known(self, item_id: str) -> set[tuple[str, int]]:
        """Return (record id, revision) of every indexed revision of an item."""
        with self.connect() as conn:
            return set(conn.execute("SELECT record_id, revision FROM revisions WHERE item_id = ?", (item_id,)))

    def dump(self) -> dict[str, list[tuple]]:
        """Return every row of both tables, sorted: what a reindex must reproduce."""
        with self.connect() as conn:
            return {table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
                    for table in ("revisions", "indexed")}

    def latest_revision(self, record_id: str) -> int:
        """Return the number of the latest revision of a record; 0 if there is none."""
        with self.connect() as conn:
            row = conn.execute("SELECT MAX(revision) FROM revisions WHERE record_id = ?", (record_id,)).fetchone()
        return row[0] or 0

    def history(self, record_id: str) -> RecordHistory:
        """Return every revision of a record, oldest first; UnknownRecordError if there is none."""
        with self.connect() as conn:
            rows = conn.execute("SELECT record, aip_version FROM revisions WHERE record_id = ? ORDER BY revision",
                                (record_id,)).fetchall()
        if not rows:
            raise UnknownRecordError(record_id)
        return RecordHistory(tuple(_saved(row) for row in rows))

    def histories(self, item_id: str | None = None) -> list[RecordHistory]:
        """Return the history of every record (of one item), by record id."""
        with self.connect() as conn:
            rows = conn.execute("SELECT record_id, record, aip_version FROM revisions WHERE ? IS NULL OR item_id = ? "
                                "ORDER BY record_id, revision", (item_id, item_id)).fetchall()
        grouped: dict[str, list[SavedRevision]] = {}
        for record_id, text, aip_version in rows:
            grouped.setdefault(record_id, []).append(_saved((text, aip_version)))
        return [RecordHistory(tuple(revisions)) for revisions in grouped.values()]


def record_text(saved: SavedRevision) -> str:
    """The JSON the index keeps of a revision: the same text whether saved now or read back from its AIP."""
    return json.dumps(saved.record.as_dict(), ensure_ascii=False, sort_keys=False)


def _values(saved: SavedRevision) -> tuple[str, int, str, str, str, int, str]:
    record = saved.record
    return (record.record_id, record.revision, record.item_id, record.saved_at, record.saved_by, saved.aip_version,
            record_text(saved))


def _row(conn: sqlite3.Connection, record_id: str, revision: int) -> tuple | None:
    return conn.execute("SELECT * FROM revisions WHERE record_id = ? AND revision = ?", (record_id, revision)).fetchone()


def _mark_indexed(conn: sqlite3.Connection, item_id: str, version: int) -> None:
    conn.execute("INSERT INTO indexed VALUES (?, ?) ON CONFLICT (item_id) DO UPDATE SET "
                 "version = MAX(version, excluded.version)", (item_id, version))


def _saved(row: tuple[str, int]) -> SavedRevision:
    return SavedRevision(record_from_dict(json.loads(row[0])), int(row[1]))


@dataclass(frozen=True)
class ReindexReport:
    """What a reindex found: items looked at, records and revisions indexed, records it could not read."""

    items: int
    records: int
    revisions: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def record_store(settings: Settings) -> RecordStore:
    return RecordStore(settings.home / STORE_FILE)


def reconcile_records(settings: Settings) -> int:
    """Index the records of AIP versions stored after the last one indexed; return how many revisions were added.

    Cheap when nothing changed: one query on the catalogue, one on the index. A version
    whose records cannot be read yet stays unindexed and is tried again next time.
    """
    archive = open_archive(settings)
    store = record_store(settings)
    latest = latest_versions(archive)
    indexed = store.indexed() if latest else {}
    behind = {item: version for item, version in latest.items() if indexed.get(item, 0) < version}
    added, problems = index_versions(archive, store, behind)
    for problem in problems:
        log.warning("conservation records not indexed yet: %s", problem)
    return added


def reindex_records(settings: Settings) -> ReindexReport:
    """Rebuild the record index from every item's latest AIP version and swap it in atomically.

    Runs under the workshop lock, so no record is saved meanwhile; the old index is never
    opened (it may be the damaged file being replaced) and stays in place until the swap.
    """
    archive = open_archive(settings)
    final = settings.home / STORE_FILE
    with workshop_lock(settings), atomic_path(final) as tmp:
        scratch = RecordStore(tmp, scratch=True)
        latest = latest_versions(archive)
        revisions, problems = index_versions(archive, scratch, latest)
        records = len({row[0] for row in scratch.dump()["revisions"]})
        for suffix in ("-wal", "-shm"):  # the old file's journal must not be applied to the new one
            Path(f"{final}{suffix}").unlink(missing_ok=True)
    log.info("conservation index rebuilt: %d items, %d records, %d revisions", len(latest), records, revisions)
    return ReindexReport(len(latest), records, revisions, tuple(problems))


def latest_versions(archive: Archive) -> dict[str, int]:
    """Return the latest AIP version of every item in the catalogue (one query)."""
    if not archive.catalogue.path.exists():
        return {}
    with archive.catalogue.connect() as conn:
        return dict(conn.execute("SELECT item_id, MAX(version) FROM versions GROUP BY item_id").fetchall())


def index_versions(archive: Archive, store: RecordStore, versions: Mapping[str, int]) -> tuple[int, list[str]]:
    """Index every record revision in the payload of each item's version not yet in ``store``.

    Returns the number of revisions added and the items whose records could not be read
    (those are not marked indexed).
    """
    added, problems = 0, []
    for item_id, version in sorted(versions.items()):
        try:
            found = _missing_revisions(archive, store, item_id, version)
        except (StorageError, RecordError, ValueError) as exc:
            problems.append(f"{aip_key(item_id, version)}: {exc}")
            continue
        store.add_found(item_id, version, found)
        added += len(found)
    return added, problems


def _missing_revisions(archive: Archive, store: RecordStore, item_id: str, version: int) -> list[SavedRevision]:
    """Read, from storage, the record revisions listed in a version's payload that the index lacks."""
    files = archive.catalogue.version(item_id, version).files
    known = store.known(item_id)
    found = []
    for path, entry in sorted(files.items(), key=lambda kv: _record_key(kv[0])):
        match = RECORD_PATH.fullmatch(path)
        if match and (match[1], int(match[2])) not in known:
            data = json.loads(read_verified(archive, item_id, entry).decode("utf-8"))
            record = record_from_dict(data)
            if (record.record_id, record.revision, record.item_id) != (match[1], int(match[2]), item_id):
                raise StorageError(f"{path}: holds {record.record_id} r{record.revision} of {record.item_id}")
            found.append(SavedRevision(record, entry.stored_in))
    return found


def _record_key(path: str) -> tuple[str, int]:
    match = RECORD_PATH.fullmatch(path)
    return (match[1], int(match[2])) if match else ("", 0)


def read_verified(archive: Archive, item_id: str, entry: FileRecord) -> bytes:
    """Read a file from the first location whose copy matches the catalogue's SHA-256.

    A version recorded but not yet stored anywhere (a save killed while copying) is read
    from the bag staged for it, checked the same way.
    """
    key = aip_key(item_id, entry.stored_in)
    for name in holders(archive, item_id, entry.stored_in):
        try:
            with archive.backend(name).open_read(key, entry.path) as stream:
                data = stream.read()
        except StorageError as exc:
            log.warning("%s", exc)
            continue
        if _digests(data) == entry.digests:
            return data
        log.warning("%s: %s/%s does not match the catalogue", name, key, entry.path)
    staged = archive.staged_bag(key) / entry.path
    if staged.is_file() and _digests(data := staged.read_bytes()) == entry.digests:
        return data
    raise StorageError(f"{key}/{entry.path}: no location holds an intact verified copy")


def _digests(data: bytes) -> Digests:
    return Digests(len(data), hashlib.sha256(data).hexdigest(), hashlib.sha512(data).hexdigest())


@contextlib.contextmanager
def workshop_lock(settings: Settings) -> Iterator[None]:
    """Let one save (or reindex) at a time allocate ids, check revisions and make AIP versions."""
    path = settings.home / "locks" / "conservation.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + LOCK_TIMEOUT
    with open(path, "a+", encoding="utf-8") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StorageError(f"{path}: another conservation record has been saving for "
                                       f"{LOCK_TIMEOUT:.0f} s; try again later") from None
                time.sleep(0.2)
        try:
            handle.truncate(0)
            handle.write(f"pid {os.getpid()}\n")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
