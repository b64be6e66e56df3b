"""The append-only log of staff actions in ``<home>/staff-log.sqlite``, read with ``shuying log``.

One row per login (and failed or throttled login), logout, session ended by disabling an
account, account change, record save, amendment or sign-off, token creation or
revocation. Passwords and tokens are never written; the client address is. The
database itself refuses to change or delete a row (triggers), so an administrator who
edits the file by hand with sqlite3 gets an error rather than a quietly rewritten past.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.sqlite_db import Database, session

LOG_FILE = "staff-log.sqlite"
COMMAND_LINE = "command line"  # the actor of actions taken with `shuying`
ACTIONS = ("login", "login-failed", "login-throttled", "logout", "session-ended", "user-add", "user-disable",
           "user-enable", "user-reset-password", "record-save", "record-amend", "record-sign-off", "token-create",
           "token-revoke", "tier-change")
SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      REAL NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS entries_at ON entries (at);
CREATE TRIGGER IF NOT EXISTS entries_no_update BEFORE UPDATE ON entries
    BEGIN SELECT RAISE(ABORT, 'the staff log is append-only: rows cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries
    BEGIN SELECT RAISE(ABORT, 'the staff log is append-only: rows cannot be deleted'); END;
"""
# Not a fresh file: that would erase the past this log exists to keep.
REMEDY = "restore it from a backup (a new empty log starts if it is moved away, but the old entries are then lost)"


@dataclass(frozen=True)
class Entry:
    """One logged action: who (``actor``) did what (``action``) to what (``subject``), from where."""

    at: float
    actor: str
    action: str
    subject: str = ""
    address: str = ""
    detail: str = ""

    def as_dict(self) -> dict[str, str | float]:
        return {"at": self.at, "actor": self.actor, "action": self.action, "subject": self.subject,
                "address": self.address, "detail": self.detail}


def log_path(home: Path) -> Path:
    """Return the staff log of a Shuying home."""
    return Path(home) / LOG_FILE


class StaffLog:
    """Append to and read one ``staff-log.sqlite``; several processes may share it (WAL)."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        self.database = Database(self.path, "the staff log", REMEDY, timeout=30, pragmas=("journal_mode = WAL",),
                                 schema=SCHEMA, private=True)  # addresses and who worked when: owner only

    def append(self, actor: str, action: str, subject: str = "", *, address: str = "", detail: str = "") -> Entry:
        """Write one entry now; ``action`` is one of ACTIONS (a typo would make an entry nobody finds)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown staff log action {action!r}")
        entry = Entry(self.clock(), actor, action, subject, address, detail)
        with session(self.database) as db:
            db.execute("INSERT INTO entries (at, actor, action, subject, address, detail) VALUES (?, ?, ?, ?, ?, ?)",
                       (entry.at, actor, action, subject, address, detail))
        return entry

    def entries(self, *, since: float | None = None, user: str | None = None,
                action: str | None = None) -> list[Entry]:
        """Return entries oldest first; ``user`` matches the actor or the subject (a disable names both)."""
        where, args = _filters(since, user, action)
        with session(self.database) as db:
            rows = db.execute(f"SELECT at, actor, action, subject, address, detail FROM entries {where} "
                              "ORDER BY at, id", args).fetchall()
        return [Entry(*row) for row in rows]


def _filters(since: float | None, user: str | None, action: str | None) -> tuple[str, list[str | float]]:
    clauses: list[str] = []
    args: list[str | float] = []
    if since is not None:
        clauses.append("at >= ?")
        args.append(since)
    if user:
        clauses.append("(actor = ? OR subject = ?)")
        args += [user, user]
    if action:
        clauses.append("action = ?")
        args.append(action)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", args


def format_entry(entry: Entry) -> str:
    """One line of ``shuying log``: local time, actor, action, subject, address, detail."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.at))
    return "  ".join(part for part in (when, entry.actor, entry.action, entry.subject, entry.address, entry.detail)
                     if part)


def entries_json(entries: list[Entry]) -> str:
    """The entries as a JSON array (``shuying log --json``)."""
    return json.dumps([entry.as_dict() for entry in entries], ensure_ascii=False, indent=2)

