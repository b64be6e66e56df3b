"""Staff bearer tokens in ``<home>/auth.sqlite``: created, checked, listed and revoked.

A token is ``shy_`` plus 32 random bytes (URL-safe base64); only its SHA-256 is
stored, so a copy of the database gives nobody access. Three kinds share one table:

    staff     made by ``shuying token create`` for a person or a script
    session   made when a staff member logs in on the web page (the cookie)
    viewer    made by the IIIF access-token service for a viewer, from a session

A session or viewer token names its parent and never outlives it; revoking a token
revokes everything issued from it. Several server processes share the file (WAL).
Failed token logins are counted per client address, so /auth/login can throttle them.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import logging
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import DatabaseError, ExitCode, ShuyingError
from pipeline.sqlite_db import Database, connect, translated

log = logging.getLogger(__name__)

TOKEN_PREFIX = "shy_"
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MAX_LIFETIME = 400 * 86400  # a staff token lives at most about a year: rotate, don't forget
PURGE_AFTER = 86400.0  # expired session and viewer rows are deleted a day after they expire
SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id      TEXT PRIMARY KEY,
    hash    TEXT NOT NULL UNIQUE,
    user    TEXT NOT NULL,
    kind    TEXT NOT NULL,
    parent  TEXT,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    revoked REAL,
    note    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS tokens_parent ON tokens (parent);
CREATE TABLE IF NOT EXISTS login_failures (address TEXT NOT NULL, at REAL NOT NULL);
"""
COLUMNS = "id, user, kind, parent, created, expires, revoked, note"
# Not a backup: one would bring back tokens revoked since it was made.
REMEDY = ("delete it (with its -wal and -shm files) and make new tokens with `shuying token create` "
          "(every token and login in it stops working, which is safe)")


class TokenError(ShuyingError):
    """A token cannot be created or revoked as asked."""

    exit_code = ExitCode.USAGE

    def __init__(self, path: Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class TokenDatabaseError(DatabaseError, TokenError):
    """``auth.sqlite`` is damaged, locked or unwritable."""


class TokenKind(enum.Enum):
    STAFF = "staff"
    SESSION = "session"
    VIEWER = "viewer"


@dataclass(frozen=True)
class TokenRecord:
    """What the database knows about a token (never the secret)."""

    id: str
    user: str
    kind: TokenKind
    parent: str | None
    created: float
    expires: float
    revoked: float | None
    note: str = ""

    def active(self, now: float) -> bool:
        """Tell whether the token grants access at ``now``."""
        return self.revoked is None and now < self.expires


@dataclass(frozen=True)
class IssuedToken:
    """A new token: the secret is shown once and never stored."""

    secret: str
    record: TokenRecord


def token_hash(secret: str) -> str:
    """Return the stored form of a token."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class TokenStore:
    """The token table of one ``auth.sqlite``; safe to share between threads and processes."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        # Created owner-only: the hashes are not secrets, but who has tokens is nobody else's business.
        # WAL stays consistent; a power cut may lose the newest tokens, never a revocation (_durable).
        self.database = Database(self.path, "the token database", REMEDY, timeout=10,
                                 pragmas=("journal_mode=WAL", "synchronous=NORMAL"), schema=SCHEMA, private=True,
                                 error=TokenDatabaseError)
        self._local = threading.local()

    def create(self, user: str, lifetime: float, *, kind: TokenKind = TokenKind.STAFF,
               parent: TokenRecord | None = None, note: str = "") -> IssuedToken:
        """Make a token for ``user`` valid for ``lifetime`` seconds (never beyond its parent)."""
        if not USER_NAME.fullmatch(user):
            raise TokenError(self.path, f"user name {user!r} must be 1-64 letters, digits or ._@-")
        if not 0 < lifetime <= MAX_LIFETIME:
            raise TokenError(self.path, f"lifetime must be between 1 second and {MAX_LIFETIME // 86400} days")
        now = self.clock()
        expires = min(now + lifetime, parent.expires) if parent else now + lifetime
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = TokenRecord(secrets.token_hex(6), user, kind, parent.id if parent else None, now, expires,
                             None, note)
        with self._transaction() as db:
            if kind is not TokenKind.STAFF:
                db.execute("DELETE FROM tokens WHERE kind != ? AND expires < ?", (TokenKind.STAFF.value,
                                                                                  now - PURGE_AFTER))
            db.execute(f"INSERT INTO tokens ({COLUMNS}, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (*_row(record), token_hash(secret)))
        log.info("token %s (%s) created for %s", record.id, kind.value, user)
        return IssuedToken(secret, record)

    def verify(self, secret: str) -> TokenRecord | None:
        """Return the record of an active token, or None for an unknown, expired or revoked one."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
            return None
        with translated(self.database):
            row = self._db().execute(f"SELECT {COLUMNS} FROM tokens WHERE hash = ?", (token_hash(secret),)).fetchone()
        record = _record(row) if row else None
        return record if record and record.active(self.clock()) else None

    def revoke(self, token_id: str) -> int:
        """Revoke a token and every token issued from it; return how many were revoked."""
        with self._durable() as db:
            if db.execute("SELECT 1 FROM tokens WHERE id = ?", (token_id,)).fetchone() is None:
                raise TokenError(self.path, f"no token with id {token_id!r} (see `shuying token list`)")
            return self._revoke_tree(db, [token_id])

    def revoke_user(self, user: str) -> int:
        """Revoke every token of ``user``; return how many were revoked."""
        with self._durable() as db:
            ids = [row[0] for row in db.execute("SELECT id FROM tokens WHERE user = ?", (user,))]
            if not ids:
                raise TokenError(self.path, f"user {user!r} has no tokens")
            return self._revoke_tree(db, ids)

    def revoke_sessions(self, user: str) -> int:
        """Revoke the web logins of ``user`` and their viewer tokens (not staff tokens); return how many."""
        with self._durable() as db:
            ids = [row[0] for row in db.execute("SELECT id FROM tokens WHERE user = ? AND kind = ? AND revoked IS NULL",
                                                (user, TokenKind.SESSION.value))]
            return self._revoke_tree(db, ids) if ids else 0

    def failed_logins(self, address: str, window: float) -> list[float]:
        """Return when logins from ``address`` failed in the last ``window`` seconds."""
        with translated(self.database):
            rows = self._db().execute("SELECT at FROM login_failures WHERE address = ? AND at > ?",
                                      (address, self.clock() - window)).fetchall()
        return [row[0] for row in rows]

    def record_failed_login(self, address: str, keep: float) -> None:
        """Count a failed login from ``address``; forget failures older than ``keep`` seconds."""
        now = self.clock()
        with self._transaction() as db:
            db.execute("DELETE FROM login_failures WHERE at < ?", (now - keep,))
            db.execute("INSERT INTO login_failures VALUES (?, ?)", (address, now))

    def tokens(self, *, include_inactive: bool = False, kinds: tuple[TokenKind, ...] = (TokenKind.STAFF,)
               ) -> list[TokenRecord]:
        """List tokens of ``kinds``, newest first; active ones only unless asked."""
        marks = ",".join("?" * len(kinds))
        with translated(self.database):
            rows = self._db().execute(f"SELECT {COLUMNS} FROM tokens WHERE kind IN ({marks}) ORDER BY created DESC",
                                      [kind.value for kind in kinds]).fetchall()
        records = [_record(row) for row in rows]
        now = self.clock()
        return records if include_inactive else [r for r in records if r.active(now)]

    def _revoke_tree(self, db: sqlite3.Connection, ids: list[str]) -> int:
        marks = ",".join("?" * len(ids))
        tree = [row[0] for row in db.execute(f"""
            WITH RECURSIVE tree(id) AS (SELECT id FROM tokens WHERE id IN ({marks})
                UNION SELECT tokens.id FROM tokens JOIN tree ON tokens.parent = tree.id)
            SELECT id FROM tree""", ids)]
        marks = ",".join("?" * len(tree))
        cursor = db.execute(f"UPDATE tokens SET revoked = ? WHERE id IN ({marks}) AND revoked IS NULL",
                            (self.clock(), *tree))
        log.info("revoked %d token(s) from %s", cursor.rowcount, ", ".join(ids))
        return cursor.rowcount

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction on this thread's connection: committed, or rolled back if the block raises."""
        db = self._db()
        with translated(self.database), db:
            yield db

    @contextlib.contextmanager
    def _durable(self) -> Iterator[sqlite3.Connection]:
        """A transaction synced to disk before it returns: a revocation must survive a power cut."""
        db = self._db()
        with translated(self.database):
            db.execute("PRAGMA synchronous=FULL")
            try:
                with db:
                    yield db
            finally:
                db.execute("PRAGMA synchronous=NORMAL")

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.database)
            self._local.db = db
        return db


def _row(record: TokenRecord) -> tuple:
    return (record.id, record.user, record.kind.value, record.parent, record.created, record.expires,
            record.revoked, record.note)


def _record(row: tuple) -> TokenRecord:
    token_id, user, kind, parent, created, expires, revoked, note = row
    return TokenRecord(token_id, user, TokenKind(kind), parent, created, expires, revoked, note)
