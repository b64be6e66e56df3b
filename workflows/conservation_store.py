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
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from pipeline.conservation.record import (
    RecordHistory,
    RevisionConflictError,
    SavedRevision,
    UnknownRecordError,
    record_from_dict,
)
from pipeline.sqlite_db import Database, session

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
"""
ID_PREFIX = "CR"
# No command rebuilds the index from the AIPs yet (docs/conservation.md, "Not done yet").
REMEDY = ("restore it from a backup (the records themselves are safe in the AIPs, data/conservation/; "
          "no command rebuilds this index from them yet)")


class RecordStore:
    """The revisions table; every method opens, uses and closes one connection."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.database = Database(self.path, "the conservation record index", REMEDY, timeout=60,
                                 isolation_level=None, pragmas=("journal_mode = WAL", "synchronous = FULL"),
                                 schema=SCHEMA)

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
        """Add a revision edited from revision ``based_on`` (0 for a new record).

        Raises:
            RevisionConflictError: revision ``based_on`` is no longer the latest.
        """
        record = saved.record
        text = json.dumps(record.as_dict(), ensure_ascii=False, sort_keys=False)
        with self.connect(write=True) as conn:
            latest = conn.execute("SELECT revision, saved_by FROM revisions WHERE record_id = ? "
                                  "ORDER BY revision DESC LIMIT 1", (record.record_id,)).fetchone()
            if (latest[0] if latest else 0) != based_on or record.revision != based_on + 1:
                raise RevisionConflictError(record.record_id, based_on, latest[0] if latest else 0,
                                            latest[1] if latest else "")
            conn.execute("INSERT INTO revisions VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (record.record_id, record.revision, record.item_id, record.saved_at, record.saved_by,
                          saved.aip_version, text))

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


def _saved(row: tuple[str, int]) -> SavedRevision:
    return SavedRevision(record_from_dict(json.loads(row[0])), int(row[1]))
