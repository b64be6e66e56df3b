"""Staff accounts: scrypt passwords, roles, lock-out after repeated failures, sessions that expire."""

from __future__ import annotations

import sqlite3

import pytest

from iiif_server.staff.accounts import (
    AccountError,
    AccountStore,
    Role,
    check_password,
    hash_password,
)

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path, clock) -> AccountStore:
    return AccountStore(tmp_path / "staff.sqlite", clock, log2_n=10)  # cheap hashes: the tests, not the cost, matter


def test_passwords_are_stored_as_memory_hard_scrypt_hashes():
    stored = hash_password(PASSWORD)
    assert stored.split("$")[:4] == ["scrypt", "15", "8", "1"]  # 2^15 x 128 x 8 bytes = 32 MiB per check
    assert check_password(PASSWORD, stored) and not check_password(PASSWORD + "!", stored)
    assert hash_password(PASSWORD) != stored  # salted
    assert not check_password(PASSWORD, "md5$abc") and not check_password(PASSWORD, "garbage")


def test_the_database_holds_no_password(store, tmp_path):
    store.add_user("zhang", Role.CONSERVATOR, PASSWORD, display_name="张修")
    with sqlite3.connect(tmp_path / "staff.sqlite") as conn:
        dump = "\n".join(conn.iterdump())
    assert PASSWORD not in dump and "scrypt$10$" in dump
    assert (tmp_path / "staff.sqlite").stat().st_mode & 0o077 == 0


def test_accounts_have_roles_and_display_names(store):
    store.add_user("zhang", Role.CONSERVATOR, PASSWORD, display_name="张修")
    store.add_user("li", Role.ARCHIVIST, PASSWORD)
    assert [(a.name, a.role, a.shown_name) for a in store.accounts()] == [
        ("li", Role.ARCHIVIST, "li"), ("zhang", Role.CONSERVATOR, "张修")]
    assert store.account("zhang").can_create and not store.account("li").can_create


@pytest.mark.parametrize(("name", "password", "problem"), [
    ("张修", PASSWORD, "user name '张修' must be 1-64 letters, digits or ._@-"),
    ("zhang", "short", "a password needs at least 10 characters"),
])
def test_bad_accounts_are_refused(store, name, password, problem):
    with pytest.raises(AccountError) as caught:
        store.add_user(name, Role.CONSERVATOR, password)
    assert problem in str(caught.value)


def test_a_name_is_taken_once(store):
    store.add_user("zhang", Role.CONSERVATOR, PASSWORD)
    with pytest.raises(AccountError, match="user 'zhang' exists already"):
        store.add_user("zhang", Role.ADMIN, PASSWORD)


def test_five_wrong_passwords_lock_the_account_for_a_while(store, clock):
    store.add_user("zhang", Role.CONSERVATOR, PASSWORD)
    assert store.authenticate("zhang", PASSWORD).name == "zhang"
    for _ in range(5):
        assert store.authenticate("zhang", "wrong password") is None
    assert store.authenticate("zhang", PASSWORD) is None  # locked, even with the right password
    clock.now += 15 * 60 + 1
    assert store.authenticate("zhang", PASSWORD).name == "zhang"
    assert store.authenticate("nobody", PASSWORD) is None


def test_sessions_expire_and_end(store, clock):
    account = store.add_user("zhang", Role.CONSERVATOR, PASSWORD)
    secret, session = store.start_session(account, 3600)
    assert store.session(secret).account.name == "zhang" and store.session(secret).csrf == session.csrf
    assert store.session("made-up") is None
    clock.now += 3601
    assert store.session(secret) is None
    secret, _ = store.start_session(account, 3600)
    store.end_session(secret)
    assert store.session(secret) is None
