"""Staff accounts, passwords and login sessions in ``<home>/staff.sqlite``.

Passwords are stored as scrypt hashes (memory-hard: N=2^15, r=8 takes 32 MiB and about
0.1 s per try), with the parameters in the stored string so they can be raised later.
A session is a random secret in a cookie; only its SHA-256 is stored, with its expiry
and the CSRF token of its forms. Failed logins are throttled per account and per client
address (iiif_server/staff/throttle.py). Accounts are made with ``shuying user add``; disabling
one or resetting its password ends its sessions at once.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import hashlib
import hmac
import logging
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from iiif_server.staff.throttle import ACCOUNT_THROTTLE, ADDRESS_THROTTLE, Throttle
from pipeline.errors import ExitCode, ShuyingError
from pipeline.sqlite_db import Database, session

log = logging.getLogger(__name__)

USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")  # the same names as staff tokens (tokens.py)
MIN_PASSWORD = 10
SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P = 15, 8, 1
SCRYPT_MAXMEM = 64 * 1024 * 1024
FAILURE_WINDOW = max(ACCOUNT_THROTTLE.window, ADDRESS_THROTTLE.window)  # failures older than this are deleted
SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    display_name TEXT NOT NULL,
    password TEXT NOT NULL,
    created REAL NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    hash TEXT PRIMARY KEY,
    name TEXT NOT NULL REFERENCES accounts (name),
    created REAL NOT NULL,
    expires REAL NOT NULL,
    csrf TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS failures (name TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS address_failures (address TEXT NOT NULL, at REAL NOT NULL);
"""
REMEDY = ("restore it from a backup, or delete it (with its -wal and -shm files) and make the accounts again "
          "with `shuying user add`")


class Role(str, enum.Enum):
    TECHNICIAN = "technician"  # sees records
    CONSERVATOR = "conservator"  # makes records; amends their own and others' unsigned ones
    ARCHIVIST = "archivist"  # sees records and reports
    ADMIN = "admin"  # everything, including others' signed-off records


ROLE_LABELS = {Role.TECHNICIAN: "技术员 technician", Role.CONSERVATOR: "修复师 conservator",
               Role.ARCHIVIST: "档案员 archivist", Role.ADMIN: "管理员 admin"}


class AccountError(ShuyingError):
    """An account cannot be made, changed or used as asked."""

    exit_code = ExitCode.USAGE

    def __init__(self, path: Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class Account:
    name: str
    role: Role
    display_name: str
    created: float
    disabled: bool = False

    @property
    def shown_name(self) -> str:
        return self.display_name or self.name

    @property
    def can_create(self) -> bool:
        """Tell whether this account may make conservation records."""
        return self.role in (Role.CONSERVATOR, Role.ADMIN)


@dataclass(frozen=True)
class LoginAttempt:
    """The answer to a login: the account, or None and how long to wait (0 if merely wrong)."""

    account: Account | None
    retry_after: float = 0.0


@dataclass(frozen=True)
class Session:
    account: Account
    created: float
    expires: float
    csrf: str


def hash_password(password: str, *, log2_n: int = SCRYPT_LOG2_N) -> str:
    """Return the stored form of a password: ``scrypt$<log2 N>$<r>$<p>$<salt>$<hash>``."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, log2_n, SCRYPT_R, SCRYPT_P)
    return "$".join(["scrypt", str(log2_n), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)])


def check_password(password: str, stored: str) -> bool:
    """Tell whether ``password`` matches a stored hash (in constant time)."""
    try:
        scheme, log2_n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        found = _scrypt(password, base64.b64decode(salt), int(log2_n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(found, base64.b64decode(digest))


class AccountStore:
    """Accounts, sessions and failed logins of one ``staff.sqlite``."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time, *,
                 log2_n: int = SCRYPT_LOG2_N) -> None:
        self.path = Path(path)
        self.clock = clock
        self.log2_n = log2_n
        self._dummy = ""
        self.database = Database(self.path, "the staff accounts", REMEDY, timeout=30,
                                 pragmas=("journal_mode = WAL",), schema=SCHEMA,
                                 private=True)  # password hashes: owner only

    def add_user(self, name: str, role: Role, password: str, *, display_name: str = "") -> Account:
        """Make an account; AccountError for a bad or taken name or a short password."""
        if not USER_NAME.fullmatch(name):
            raise AccountError(self.path, f"user name {name!r} must be 1-64 letters, digits or ._@- "
                                          "(a display name may be Chinese: --display-name)")
        self._check_password(password)
        account = Account(name, role, display_name.strip(), self.clock())
        with self._db() as db:
            if db.execute("SELECT 1 FROM accounts WHERE name = ?", (name,)).fetchone():
                raise AccountError(self.path, f"user {name!r} exists already")
            db.execute("INSERT INTO accounts VALUES (?, ?, ?, ?, ?, 0)", (name, role.value, account.display_name,
                                                                          hash_password(password, log2_n=self.log2_n),
                                                                          account.created))
        log.info("staff account %s (%s) created", name, role.value)
        return account

    def account(self, name: str) -> Account | None:
        """Return an account by name, or None."""
        with self._db() as db:
            row = db.execute("SELECT name, role, display_name, created, disabled FROM accounts WHERE name = ?",
                             (name,)).fetchone()
        return _account(row) if row else None

    def accounts(self) -> list[Account]:
        """Return every account, by name."""
        with self._db() as db:
            rows = db.execute("SELECT name, role, display_name, created, disabled FROM accounts ORDER BY name")
            return [_account(row) for row in rows]

    def authenticate(self, name: str, password: str) -> Account | None:
        """Return the account if the password is right; None otherwise (also while it is locked)."""
        return self.check_login(name, password).account

    def check_login(self, name: str, password: str, address: str = "") -> LoginAttempt:
        """Check a login from a client ``address``; while the account or address is locked, say how long to wait.

        A locked attempt looks the same whether the account exists or not, and is not checked.
        """
        now = self.clock()
        with self._db() as db:
            row = db.execute("SELECT password FROM accounts WHERE name = ? AND disabled = 0", (name,)).fetchone()
            wait = max(_wait(db, ACCOUNT_THROTTLE, "failures", "name", name, now),
                       _wait(db, ADDRESS_THROTTLE, "address_failures", "address", address, now) if address else 0.0)
        if wait > 0:
            log.info("staff login of %r from %s refused: locked for %.0f s", name, address or "?", wait)
            return LoginAttempt(None, wait)
        # An unknown name costs the same scrypt as a known one: timing tells nothing.
        matched = check_password(password, row[0] if row else self._dummy_hash())
        if row and matched:
            with self._db() as db:
                db.execute("DELETE FROM failures WHERE name = ?", (name,))
            return LoginAttempt(self.account(name))
        self._record_failure(name, address, now)
        log.info("staff login refused for %r from %s", name, address or "?")
        return LoginAttempt(None)

    def set_disabled(self, name: str, disabled: bool) -> int:
        """Disable or enable an account; disabling ends its sessions. Return how many sessions ended."""
        with self._db() as db:
            self._require(db, name)
            db.execute("UPDATE accounts SET disabled = ? WHERE name = ?", (int(disabled), name))
            ended = db.execute("DELETE FROM sessions WHERE name = ?", (name,)).rowcount if disabled else 0
        log.info("staff account %s %s", name, "disabled" if disabled else "enabled")
        return ended

    def reset_password(self, name: str, password: str) -> int:
        """Give an account a new password and end its sessions; return how many ended."""
        self._check_password(password)
        stored = hash_password(password, log2_n=self.log2_n)
        with self._db() as db:
            self._require(db, name)
            db.execute("UPDATE accounts SET password = ? WHERE name = ?", (stored, name))
            db.execute("DELETE FROM failures WHERE name = ?", (name,))
            ended = db.execute("DELETE FROM sessions WHERE name = ?", (name,)).rowcount
        log.info("staff account %s: password reset", name)
        return ended

    def start_session(self, account: Account, lifetime: float) -> tuple[str, Session]:
        """Open a session for ``account``; return its secret (for the cookie) and the session."""
        secret = secrets.token_urlsafe(32)
        session = Session(account, self.clock(), self.clock() + lifetime, secrets.token_urlsafe(32))
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE expires < ?", (session.created,))
            db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)", (_sha256(secret), account.name,
                                                                      session.created, session.expires, session.csrf))
        return secret, session

    def session(self, secret: str) -> Session | None:
        """Return the live session of a cookie secret; None if unknown, expired or its account disabled."""
        if not secret or len(secret) > 100:
            return None
        with self._db() as db:
            row = db.execute("SELECT a.name, a.role, a.display_name, a.created, a.disabled, s.created, s.expires, "
                             "s.csrf FROM sessions s JOIN accounts a USING (name) WHERE s.hash = ?",
                             (_sha256(secret),)).fetchone()
        if row is None or row[6] <= self.clock() or row[4]:
            return None
        return Session(_account(row[:5]), row[5], row[6], row[7])

    def end_session(self, secret: str) -> None:
        """Close a session (log out)."""
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE hash = ?", (_sha256(secret),))

    def _record_failure(self, name: str, address: str, now: float) -> None:
        with self._db() as db:
            db.execute("DELETE FROM failures WHERE at < ?", (now - FAILURE_WINDOW,))
            db.execute("DELETE FROM address_failures WHERE at < ?", (now - FAILURE_WINDOW,))
            db.execute("INSERT INTO failures VALUES (?, ?)", (name, now))
            if address:
                db.execute("INSERT INTO address_failures VALUES (?, ?)", (address, now))

    def _require(self, db: sqlite3.Connection, name: str) -> None:
        if not db.execute("SELECT 1 FROM accounts WHERE name = ?", (name,)).fetchone():
            raise AccountError(self.path, f"no user {name!r} (see `shuying user list`)")

    def _check_password(self, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise AccountError(self.path, f"a password needs at least {MIN_PASSWORD} characters")

    def _dummy_hash(self) -> str:
        if not self._dummy:
            self._dummy = hash_password(secrets.token_urlsafe(16), log2_n=self.log2_n)
        return self._dummy

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with session(self.database) as db:
            yield db


def _account(row: tuple) -> Account:
    return Account(row[0], Role(row[1]), row[2], row[3], bool(row[4]))


def _wait(db: sqlite3.Connection, throttle: Throttle, table: str, column: str, key: str, now: float) -> float:
    """Seconds ``key`` must wait, from its failures in ``table`` (a name or an address)."""
    rows = db.execute(f"SELECT at FROM {table} WHERE {column} = ? AND at > ?", (key, now - throttle.window))
    return throttle.retry_after([row[0] for row in rows], now)


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**log2_n, r=r, p=p, maxmem=SCRYPT_MAXMEM,
                          dklen=32)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
