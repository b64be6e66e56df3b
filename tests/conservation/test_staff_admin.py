"""Administering staff logins: disable, enable and reset-password, throttled logins, and the append-only staff log."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime

import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

import cli
from iiif_server.access import SESSION_COOKIE, AccessPolicy
from iiif_server.auth import AuthConfig, AuthService
from iiif_server.config import load_server_options
from iiif_server.published import PublishedStore
from iiif_server.staff import AccountStore, Role, StaffLog, accounts_path, log_path, staff_routes
from iiif_server.tokens import TokenStore
from tests.conservation.helpers import ITEM
from tests.conservation.test_staff_web import FORM, PASSWORD, csrf, login, submit
from workflows.conservation import Workshop

NEW_PASSWORD = "a-new-password-2025"


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(archive_settings):
    store = AccountStore(accounts_path(archive_settings.home), log2_n=10)
    for name, role in (("zhang", Role.CONSERVATOR), ("wang", Role.CONSERVATOR)):
        store.add_user(name, role, PASSWORD)
    return archive_settings


@pytest.fixture
def tokens(settings, clock) -> TokenStore:
    return TokenStore(load_server_options(settings).auth_path(settings.home), clock)


@pytest.fixture
def client(settings, tokens, clock) -> Iterator[TestClient]:
    """The /staff form and /auth/login as the server mounts them, on the test's clock."""
    auth = AuthService(PublishedStore(settings.publish_dir), AccessPolicy(settings.publish_dir, tokens), tokens,
                       AuthConfig(settings.base_url, 3600, 600), StaffLog(log_path(settings.home), clock))
    routes = [*staff_routes(settings, Workshop(settings), tokens, clock=clock),
              Route("/auth/login", auth.login, methods=["POST"])]
    with TestClient(Starlette(routes=routes)) as test_client:
        yield test_client


def shuying(settings, *args: str):
    return CliRunner().invoke(cli.cli, ["--home", str(settings.home), *args])


def actions(settings, **filters) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.subject) for e in StaffLog(log_path(settings.home)).entries(**filters)]


def test_disabling_a_user_ends_their_sessions_at_once_and_refuses_new_logins(client, settings, tokens):
    assert login(client, "zhang").status_code == 303
    iiif_cookie = client.cookies[SESSION_COOKIE]
    assert client.get("/staff/records").status_code == 200 and tokens.verify(iiif_cookie) is not None
    result = shuying(settings, "user", "disable", "zhang")
    assert result.exit_code == 0 and "Disabled zhang; ended 2 login(s)" in result.output  # the form's and IIIF's
    after = client.get("/staff/records", follow_redirects=False)
    assert (after.status_code, after.headers["location"]) == (303, "/staff/login?next=%2Fstaff%2Frecords")
    assert tokens.verify(iiif_cookie) is None
    assert login(client, "zhang").status_code == 401
    assert "zhang  conservator    (disabled)" in shuying(settings, "user", "list").output
    assert shuying(settings, "user", "enable", "zhang").exit_code == 0
    assert login(client, "zhang").status_code == 303
    logged = actions(settings, user="zhang")  # the form's clock is the test's, the command line's is real: no order
    assert sorted(logged) == sorted([("zhang", "login", ""), ("command line", "user-disable", "zhang"),
                                     ("command line", "session-ended", "zhang"), ("zhang", "login-failed", ""),
                                     ("command line", "user-enable", "zhang"), ("zhang", "login", "")])


def test_resetting_a_password_ends_the_sessions_and_only_the_new_one_opens(client, settings, tmp_path):
    login(client, "zhang")
    (tmp_path / "pw").write_text(NEW_PASSWORD + "\n", encoding="utf-8")
    result = shuying(settings, "user", "reset-password", "zhang", "--password-file", str(tmp_path / "pw"))
    assert result.exit_code == 0 and "New password for zhang; ended 2 login(s)" in result.output
    assert client.get("/staff/records", follow_redirects=False).status_code == 303
    assert login(client, "zhang").status_code == 401
    assert login(client, "zhang", NEW_PASSWORD).status_code == 303
    assert ("command line", "user-reset-password", "zhang") in actions(settings)


def test_commands_on_an_unknown_user_or_with_a_short_password_fail(settings, tmp_path):
    result = shuying(settings, "user", "disable", "nobody")
    assert result.exit_code == 2 and "no user 'nobody' (see `shuying user list`)" in result.output
    (tmp_path / "pw").write_text("short\n", encoding="utf-8")
    result = shuying(settings, "user", "reset-password", "zhang", "--password-file", str(tmp_path / "pw"))
    assert result.exit_code == 2 and "a password needs at least 10 characters" in result.output


def test_an_account_is_locked_after_five_failures_even_for_the_right_password(client, settings, clock):
    for _ in range(5):
        assert login(client, "zhang", "wrong password").status_code == 401
    locked = login(client, "zhang")
    assert (locked.status_code, locked.headers["retry-after"]) == (429, "60")
    for _ in range(5):
        login(client, "nobody", "wrong password")
    unknown = login(client, "nobody", "wrong password")
    assert (unknown.status_code, unknown.headers["retry-after"]) == (429, "60")
    same = "尝试过多，请稍后再试。Too many attempts; try again later."
    assert same in locked.text and same in unknown.text
    clock.now += 61
    assert login(client, "zhang").status_code == 303
    assert login(client, "zhang", "wrong password").status_code == 401  # the success reset zhang's count
    assert [a for _, a, _ in actions(settings, user="zhang")].count("login-throttled") == 1


def test_the_wait_doubles_with_each_further_failure(settings, clock):
    store = AccountStore(accounts_path(settings.home), clock, log2_n=10)
    for _ in range(5):
        store.check_login("zhang", "wrong password", "10.0.0.1")
    assert store.check_login("zhang", PASSWORD, "10.0.0.1").retry_after == 60
    clock.now += 60
    assert store.check_login("zhang", "wrong password", "10.0.0.1").retry_after == 0  # checked, and wrong
    assert store.check_login("zhang", PASSWORD, "10.0.0.1").retry_after == 120


def test_an_address_is_locked_after_twenty_failures_on_any_accounts(settings, clock):
    store = AccountStore(accounts_path(settings.home), clock, log2_n=10)
    for number in range(20):
        assert store.check_login(f"guess{number}", "wrong password", "10.0.0.9").account is None
    assert store.check_login("wang", PASSWORD, "10.0.0.9").retry_after == 60
    assert store.check_login("wang", PASSWORD, "10.0.0.10").account.name == "wang"  # another address may
    clock.now += 61
    assert store.check_login("wang", PASSWORD, "10.0.0.9").account.name == "wang"


def test_token_logins_are_throttled_per_address(client, settings, tokens, clock):
    good = tokens.create("wang", 3600).secret
    for _ in range(20):
        assert client.post("/auth/login", data={"token": "shy_guessed"}).status_code == 401
    locked = client.post("/auth/login", data={"token": good})
    assert (locked.status_code, locked.headers["retry-after"]) == (429, "60")
    clock.now += 61
    assert client.post("/auth/login", data={"token": good}).status_code == 200
    logged = [a for _, a, _ in actions(settings)]
    assert (logged.count("login-failed"), logged.count("login-throttled"), logged[-1]) == (20, 1, "login")


def test_saves_amendments_sign_offs_and_logouts_are_logged(client, settings):
    login(client, "zhang")
    saved = submit(client, f"/staff/records/new?item={ITEM}", FORM)
    record_id = re.search(r"saved=(CR-\d{4}-\d{4})", saved.headers["location"]).group(1)
    assert submit(client, f"/staff/records/{record_id}/amend", {**FORM, "signed_off": "1"}).status_code == 303
    assert submit(client, f"/staff/records/{record_id}/amend", {**FORM, "signed_off": "1",
                                                                 "notes": "补记"}).status_code == 303
    page = client.get("/staff/records")
    client.post("/staff/logout", data={"csrf": csrf(page.text)})
    assert actions(settings, user="zhang") == [
        ("zhang", "login", ""), ("zhang", "record-save", record_id), ("zhang", "record-amend", record_id),
        ("zhang", "record-sign-off", record_id), ("zhang", "record-amend", record_id), ("zhang", "logout", "")]
    entry = StaffLog(log_path(settings.home)).entries(action="login")[0]
    assert entry.address == "testclient" and PASSWORD not in json.dumps(entry.as_dict())


def test_token_commands_and_user_add_are_logged(settings, tmp_path):
    (tmp_path / "pw").write_text(NEW_PASSWORD + "\n", encoding="utf-8")
    assert shuying(settings, "user", "add", "li", "--role", "archivist", "--password-file",
                   str(tmp_path / "pw")).exit_code == 0
    created = shuying(settings, "token", "create", "--user", "li", "--expires", "1d")
    token_id = re.search(r"Token ([0-9a-f]{12}) for li", created.output).group(1)
    assert shuying(settings, "token", "revoke", token_id).exit_code == 0
    assert actions(settings, user="li") == [("command line", "user-add", "li"),
                                            ("command line", "token-create", "li")]
    revoked = StaffLog(log_path(settings.home)).entries(action="token-revoke")
    assert [(e.actor, e.detail) for e in revoked] == [("command line", f"token {token_id}")]


def test_the_database_refuses_to_change_or_delete_a_log_entry(settings):
    StaffLog(log_path(settings.home)).append("zhang", "login", address="10.0.0.1")
    with sqlite3.connect(log_path(settings.home)) as db:
        with pytest.raises(sqlite3.DatabaseError, match="append-only: rows cannot be changed"):
            db.execute("UPDATE entries SET actor = 'someone else'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only: rows cannot be deleted"):
            db.execute("DELETE FROM entries")
    assert actions(settings) == [("zhang", "login", "")]


def test_shuying_log_filters_by_day_user_and_action(settings):
    march = datetime(2025, 3, 10, 9, 0).timestamp()
    times = iter([march - 86400 * 20, march, march + 60])
    staff_log = StaffLog(log_path(settings.home), lambda: next(times))
    staff_log.append("zhang", "login", address="10.0.0.1")
    staff_log.append("zhang", "record-sign-off", "CR-2025-0001", detail="revision 2")
    staff_log.append("command line", "user-disable", "wang")
    everything = shuying(settings, "log")
    assert everything.exit_code == 0 and everything.output.splitlines()[-1] == "3 entries"
    since = shuying(settings, "log", "--since", "2025-03-01").output.splitlines()
    assert since[0] == "2025-03-10 09:00:00  zhang  record-sign-off  CR-2025-0001  revision 2"
    assert since[1].endswith("command line  user-disable  wang") and since[2] == "2 entries"
    as_json = json.loads(shuying(settings, "log", "--user", "wang", "--json").output)
    assert [(e["actor"], e["action"], e["subject"]) for e in as_json] == [("command line", "user-disable", "wang")]
    assert shuying(settings, "log", "--action", "login").output.splitlines()[-1] == "1 entry"
    bad = shuying(settings, "log", "--action", "logon")
    assert bad.exit_code == 2 and "'logon' is not one of login, login-failed" in bad.output
