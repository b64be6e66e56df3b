"""Who may see what: every published resource is served only after asking :class:`AccessPolicy`.

Each published item says its tier in ``<publish>/<item>/access.json``
(``{"access_level": "public" | "restricted" | "staff-only"}``, written by the ingest's
publish step from batch.json). An item without a readable access.json is treated as
staff-only: a mistake hides a book instead of exposing it.

    tier         anonymous                               staff (bearer token or login cookie)
    public       everything                              everything
    restricted   images reduced to ``restricted_max``    full resolution
                 px on the long edge; text and metadata
    staff-only   404, as if the item did not exist       everything

Credentials are looked up only for non-public items, so public tiles cost no database
query. Responses that depend on the requester are marked private and vary on
``Authorization`` and ``Cookie`` so no shared cache hands one person's view to another.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import HTTPConnection

from iiif_server.cache import Recent
from iiif_server.tokens import TokenStore

log = logging.getLogger(__name__)

ACCESS_FILE = "access.json"
SESSION_COOKIE = "shuying_session"
PRIVATE_VARY = "Authorization, Cookie"


class AccessLevel(str, enum.Enum):
    """An item's tier: the values of batch.json's ``access_level`` (pipeline.batch.AccessLevel).

    Declared again here so the server does not load the ingest's schema machinery; a test
    keeps the two in step.
    """

    PUBLIC = "public"
    RESTRICTED = "restricted"
    STAFF_ONLY = "staff-only"


class Grant(enum.Enum):
    FULL = "full"  # every pixel and file
    REDUCED = "reduced"  # images no larger than the restricted size; text and metadata as usual
    HIDDEN = "hidden"  # not found


@dataclass(frozen=True)
class Requester:
    """Who is asking: a staff user (with how they proved it) or anonymous (empty user)."""

    user: str = ""
    via: str = ""  # "bearer" or "cookie"
    token_id: str = ""

    @property
    def is_staff(self) -> bool:
        return bool(self.user)


ANONYMOUS = Requester()


@dataclass(frozen=True)
class Decision:
    """The tier of an item and what this requester gets of it."""

    level: AccessLevel
    grant: Grant
    requester: Requester

    @property
    def personal(self) -> bool:
        """Tell whether the response depends on who asks (so shared caches must not keep it)."""
        return self.level is not AccessLevel.PUBLIC


def bearer_token(connection: HTTPConnection) -> str:
    """Return the token of an ``Authorization: Bearer`` header, or ''."""
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class AccessPolicy:
    """Decide per request from the item's tier and the requester's token."""

    def __init__(self, publish_root: Path, tokens: TokenStore, lookup_ttl: float = 0.0) -> None:
        self.publish_root = Path(publish_root)
        self.tokens = tokens
        self._levels: dict[str, tuple[tuple[int, int, int] | None, AccessLevel]] = {}
        self._recent = Recent(lookup_ttl)
        self._lock = threading.Lock()

    def decide(self, connection: HTTPConnection, item_id: str) -> Decision:
        """Return what ``connection``'s requester may see of ``item_id`` (an id already checked as safe)."""
        level = self.level(item_id)
        if level is AccessLevel.PUBLIC:
            return Decision(level, Grant.FULL, ANONYMOUS)
        requester = self.requester(connection)
        return Decision(level, grant_for(level, requester), requester)

    def visible(self, connection: HTTPConnection, item_ids: list[str]) -> tuple[list[str], Requester]:
        """Return the items the requester may know of (staff-only ones only for staff), and who asked."""
        levels = {item_id: self.level(item_id) for item_id in item_ids}
        hidden = any(level is AccessLevel.STAFF_ONLY for level in levels.values())
        requester = self.requester(connection) if hidden else ANONYMOUS
        return [i for i, level in levels.items() if grant_for(level, requester) is not Grant.HIDDEN], requester

    def requester(self, connection: HTTPConnection) -> Requester:
        """Identify the requester from a bearer token, else the login cookie; anonymous if neither is valid."""
        for via, secret in (("bearer", bearer_token(connection)),
                            ("cookie", connection.cookies.get(SESSION_COOKIE, ""))):
            if secret:
                record = self.tokens.verify(secret)
                if record is not None:
                    return Requester(record.user, via, record.id)
                log.info("ignored an unknown, expired or revoked %s token", via)
        return ANONYMOUS

    def level(self, item_id: str) -> AccessLevel:
        """Return the item's tier from its access.json (cached until the file changes)."""
        recent = self._recent.get(item_id)
        if recent is not None:
            return recent
        level = self._read_level(item_id)
        self._recent.put(item_id, level)
        return level

    def _read_level(self, item_id: str) -> AccessLevel:
        path = self.publish_root / item_id / ACCESS_FILE
        try:
            st = os.stat(path, follow_symlinks=False)
            version: tuple[int, int, int] | None = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            if not os.path.isdir(path.parent):
                return AccessLevel.STAFF_ONLY  # no such item: nothing to remember (ids come from clients)
            version = None
        with self._lock:
            cached = self._levels.get(item_id)
        if cached and cached[0] == version:
            return cached[1]
        if version is None:  # logged once per change, not per request
            log.warning("%s is missing: serving %s as staff-only", path, item_id)
        level = read_access_level(path) if version else AccessLevel.STAFF_ONLY
        with self._lock:
            self._levels[item_id] = (version, level)
        return level


def grant_for(level: AccessLevel, requester: Requester) -> Grant:
    """Return what a tier gives a requester."""
    if level is AccessLevel.PUBLIC or requester.is_staff:
        return Grant.FULL
    return Grant.REDUCED if level is AccessLevel.RESTRICTED else Grant.HIDDEN


def read_access_level(path: Path) -> AccessLevel:
    """Read an access.json; anything unreadable counts as staff-only (and is logged)."""
    try:
        if not os.path.isfile(path) or os.path.islink(path):
            raise ValueError("not a regular file")
        return AccessLevel(json.loads(Path(path).read_text(encoding="utf-8"))["access_level"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s: cannot read the access level (%s); serving the item as staff-only", path, exc)
        return AccessLevel.STAFF_ONLY


def private_headers(headers: dict[str, str], max_age: int) -> dict[str, str]:
    """Mark a response that depends on the requester: browsers may keep it, shared caches may not."""
    return {**headers, "Cache-Control": f"private, max-age={max_age}", "Vary": _vary(headers.get("Vary", ""))}


def _vary(existing: str) -> str:
    return f"{existing}, {PRIVATE_VARY}" if existing else PRIVATE_VARY
