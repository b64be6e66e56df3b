"""Staff tokens in a real SQLite file: hashed at rest, expiring, revocable with everything issued from them."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from iiif_server.tokens import (
    TokenError,
    TokenKind,
    TokenStore,
    token_hash,
)


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> TokenStore:
    return TokenStore(tmp_path / "home" / "auth.sqlite", clock=clock)


def test_a_token_is_verified_and_only_its_hash_is_stored(store: TokenStore) -> None:
    issued = store.create("wang.li", 30 * 86400, note="reading room")
    assert issued.secret.startswith("shy_") and len(issued.secret) > 40
    record = store.verify(issued.secret)
    assert record is not None
    assert (record.user, record.kind, record.note, record.id) == ("wang.li", TokenKind.STAFF, "reading room",
                                                                  issued.record.id)
    data = b"".join(p.read_bytes() for p in store.path.parent.glob("auth.sqlite*"))
    assert issued.secret.encode() not in data
    assert token_hash(issued.secret).encode() in data
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


@pytest.mark.parametrize("secret", ["", "shy_", "shy_wrong", "not-a-token", "shy_" + "A" * 200])
def test_unknown_tokens_verify_to_none(store: TokenStore, secret: str) -> None:
    store.create("wang.li", 3600)
    assert store.verify(secret) is None


def test_tokens_expire(store: TokenStore, clock: Clock) -> None:
    issued = store.create("wang.li", 7200)
    clock.now += 7199
    assert store.verify(issued.secret) is not None
    clock.now += 1
    assert store.verify(issued.secret) is None


def test_a_child_never_outlives_its_parent(store: TokenStore, clock: Clock) -> None:
    staff = store.create("wang.li", 3600)
    session = store.create("wang.li", 12 * 3600, kind=TokenKind.SESSION, parent=staff.record)
    assert session.record.expires == staff.record.expires
    clock.now += 3600
    assert store.verify(session.secret) is None


def test_revoking_a_token_revokes_everything_issued_from_it(store: TokenStore) -> None:
    staff = store.create("wang.li", 86400)
    other = store.create("wang.li", 86400)
    session = store.create("wang.li", 3600, kind=TokenKind.SESSION, parent=staff.record)
    viewer = store.create("wang.li", 600, kind=TokenKind.VIEWER, parent=session.record)
    assert store.revoke(staff.record.id) == 3
    assert [store.verify(t.secret) for t in (staff, session, viewer)] == [None, None, None]
    assert store.verify(other.secret) is not None
    assert store.revoke(staff.record.id) == 0  # already revoked: nothing more to do


def test_revoking_a_user_revokes_all_their_tokens(store: TokenStore) -> None:
    mine = [store.create("wang.li", 86400) for _ in range(2)]
    theirs = store.create("zhao.min", 86400)
    assert store.revoke_user("wang.li") == 2
    assert all(store.verify(t.secret) is None for t in mine)
    assert store.verify(theirs.secret) is not None
    with pytest.raises(TokenError, match="user 'nobody' has no tokens"):
        store.revoke_user("nobody")


def test_revoking_an_unknown_id_names_the_database(store: TokenStore) -> None:
    with pytest.raises(TokenError) as raised:
        store.revoke("abc123")
    assert str(store.path) in str(raised.value) and "no token with id 'abc123'" in str(raised.value)


def test_listing_shows_active_staff_tokens_newest_first(store: TokenStore, clock: Clock) -> None:
    old = store.create("wang.li", 86400)
    clock.now += 10
    new = store.create("zhao.min", 86400)
    gone = store.create("chen.yu", 86400)
    store.create("zhao.min", 60, kind=TokenKind.SESSION, parent=new.record)
    store.revoke(gone.record.id)
    assert [r.id for r in store.tokens()] == [new.record.id, old.record.id]
    everything = store.tokens(include_inactive=True)
    assert {r.id for r in everything} == {old.record.id, new.record.id, gone.record.id}
    assert next(r for r in everything if r.id == gone.record.id).revoked == clock.now


@pytest.mark.parametrize("user", ["", "a b", "../x", "名字", "x" * 65, "-lead"])
def test_bad_user_names_are_refused(store: TokenStore, user: str) -> None:
    with pytest.raises(TokenError, match="user name"):
        store.create(user, 3600)


@pytest.mark.parametrize("lifetime", [0, -5, 401 * 86400])
def test_lifetimes_are_bounded(store: TokenStore, lifetime: int) -> None:
    with pytest.raises(TokenError, match="lifetime"):
        store.create("wang.li", lifetime)


def test_expired_session_rows_are_purged_when_new_ones_are_made(store: TokenStore, clock: Clock) -> None:
    staff = store.create("wang.li", 30 * 86400)
    store.create("wang.li", 60, kind=TokenKind.SESSION, parent=staff.record)
    clock.now += 2 * 86400
    store.create("wang.li", 60, kind=TokenKind.SESSION, parent=staff.record)
    sessions = store.tokens(include_inactive=True, kinds=(TokenKind.SESSION,))
    assert len(sessions) == 1


def test_two_stores_on_one_file_see_each_others_tokens(tmp_path: Path) -> None:
    first, second = TokenStore(tmp_path / "auth.sqlite"), TokenStore(tmp_path / "auth.sqlite")
    issued = first.create("wang.li", 3600)
    assert second.verify(issued.secret) is not None
    second.revoke(issued.record.id)
    assert first.verify(issued.secret) is None


def test_an_unopenable_database_is_a_token_error(tmp_path: Path) -> None:
    (tmp_path / "auth.sqlite").mkdir()
    with pytest.raises(TokenError, match="cannot open the token database"):
        TokenStore(tmp_path / "auth.sqlite").create("wang.li", 60)
