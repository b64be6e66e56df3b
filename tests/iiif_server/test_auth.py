"""Staff-only items, the login cookie and the IIIF Authorization Flow 2.0 services (probe, token, logout)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from iiif_server.access import AccessLevel, AccessPolicy, read_access_level
from iiif_server.app import create_app
from iiif_server.auth import is_local_path
from iiif_server.config import ServerOptions
from iiif_server.tokens import TokenKind, TokenStore
from pipeline import batch
from storage_config.settings import Settings
from tests.iiif_server.helpers import decode_rgb, publish_grid, write_access

BASE = "http://127.0.0.1:8182"
MESSAGE = re.compile(r"window\.parent\.postMessage\((.*), (\".*\")\);</script>")


@pytest.fixture
def options(tmp_path: Path) -> ServerOptions:
    return ServerOptions(cache_dir=tmp_path / "cache", restricted_max_size=200)


@pytest.fixture
def tokens(settings: Settings, options: ServerOptions) -> TokenStore:
    return TokenStore(options.auth_path(settings.home))


@pytest.fixture
def client(settings: Settings, options: ServerOptions) -> Iterator[TestClient]:
    for item, level in (("open-book", "public"), ("rare-book", "restricted"), ("secret-book", "staff-only")):
        publish_grid(settings.publish_dir, item, "p0001", 600, 400, access_level=level)
        folder = settings.publish_dir / item
        (folder / "manifest.json").write_text(json.dumps({"id": f"{BASE}/iiif/{item}/manifest.json",
                                                          "label": {"en": [item]}}), encoding="utf-8")
        (folder / "alto").mkdir()
        (folder / "alto" / "p0001.xml").write_text("<alto/>", encoding="utf-8")
    with TestClient(create_app(settings, options), raise_server_exceptions=False) as test_client:
        yield test_client


def log_in(client: TestClient, secret: str, **fields: str):
    return client.post("/auth/login", data={"token": secret, **fields}, follow_redirects=False)


def message_of(response) -> tuple[dict, str]:
    match = MESSAGE.search(response.text)
    assert match, response.text
    return json.loads(match.group(1)), json.loads(match.group(2))


STAFF_ONLY_PATHS = ["/iiif/3/{item}~p0001/info.json", "/iiif/3/{item}~p0001/full/max/0/default.jpg",
                    "/iiif/3/{item}~p0001", "/iiif/{item}/manifest.json", "/iiif/{item}/alto/p0001.xml",
                    "/viewer/{item}", "/auth/probe/{item}~p0001"]


@pytest.mark.parametrize("path", STAFF_ONLY_PATHS)
def test_staff_only_items_look_like_nothing_was_ever_published(client: TestClient, path: str) -> None:
    hidden = client.get(path.format(item="secret-book"), follow_redirects=False)
    absent = client.get(path.format(item="never-book"), follow_redirects=False)
    assert hidden.status_code == absent.status_code == 404
    assert hidden.text == absent.text.replace("never-book", "secret-book")


@pytest.mark.parametrize("path", STAFF_ONLY_PATHS[:6])
def test_staff_see_staff_only_items_with_a_token(client: TestClient, tokens: TokenStore, path: str) -> None:
    secret = tokens.create("wang.li", 3600).secret
    response = client.get(path.format(item="secret-book"), headers={"Authorization": f"Bearer {secret}"},
                          follow_redirects=False)
    assert response.status_code in (200, 303)
    if response.status_code == 200:
        assert response.headers["cache-control"].startswith("private")


def test_the_collection_and_index_hide_staff_only_items_from_the_public(client: TestClient,
                                                                        tokens: TokenStore) -> None:
    public = client.get("/iiif/collection.json")
    assert [i["id"].split("/")[-2] for i in public.json()["items"]] == ["open-book", "rare-book"]
    assert public.headers["cache-control"].startswith("public")
    assert "Cookie" in public.headers["vary"]
    assert "secret-book" not in client.get("/").text
    secret = tokens.create("wang.li", 3600).secret
    staff = client.get("/iiif/collection.json", headers={"Authorization": f"Bearer {secret}"})
    assert [i["id"].split("/")[-2] for i in staff.json()["items"]] == ["open-book", "rare-book", "secret-book"]
    assert staff.headers["cache-control"].startswith("private")
    assert "secret-book" in client.get("/", headers={"Authorization": f"Bearer {secret}"}).text


def test_public_items_stay_publicly_cacheable_whatever_the_credentials(client: TestClient) -> None:
    response = client.get("/iiif/3/open-book~p0001/full/max/0/default.jpg", headers={"Authorization": "Bearer x"})
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert "vary" not in response.headers
    assert "service" not in client.get("/iiif/3/open-book~p0001/info.json").json()


def test_login_sets_a_cookie_that_unlocks_full_resolution(client: TestClient, tokens: TokenStore) -> None:
    reduced = decode_rgb(client.get("/iiif/3/rare-book~p0001/full/max/0/default.png").content)
    assert (reduced.width, reduced.height) == (200, 133)
    staff = tokens.create("wang.li", 3600)
    response = log_in(client, staff.secret, next="/viewer/rare-book")
    assert response.status_code == 303
    assert response.headers["location"] == f"{BASE}/viewer/rare-book"
    cookie = response.headers["set-cookie"]
    assert "shuying_session=shy_" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # base_url is http here; https base URLs get Secure
    assert staff.secret not in cookie  # the cookie holds a session token, not the staff token
    full = decode_rgb(client.get("/iiif/3/rare-book~p0001/full/max/0/default.png").content)
    assert (full.width, full.height) == (600, 400)
    assert "wang.li" in client.get("/viewer/rare-book").text  # the corner link says who is logged in
    assert client.get("/iiif/3/secret-book~p0001/info.json").status_code == 200


def test_logout_revokes_the_session(client: TestClient, tokens: TokenStore) -> None:
    log_in(client, tokens.create("wang.li", 3600).secret)
    session_cookie = client.cookies["shuying_session"]
    response = client.get("/auth/logout")
    assert response.status_code == 200 and "Logged out" in response.text
    assert tokens.verify(session_cookie) is None
    client.cookies.set("shuying_session", session_cookie)  # a copy kept by an attacker is useless
    assert client.get("/iiif/3/secret-book~p0001/info.json").status_code == 404


@pytest.mark.parametrize("secret_kind", ["wrong", "revoked", "session"])
def test_login_refuses_bad_tokens(client: TestClient, tokens: TokenStore, secret_kind: str) -> None:
    staff = tokens.create("wang.li", 3600)
    if secret_kind == "wrong":
        secret = "shy_wrong"
    elif secret_kind == "revoked":
        tokens.revoke(staff.record.id)
        secret = staff.secret
    else:  # a session or viewer token cannot mint more sessions
        secret = tokens.create("wang.li", 60, kind=TokenKind.SESSION, parent=staff.record).secret
    response = log_in(client, secret)
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert "revoked" in response.text


def test_login_from_another_site_is_refused(client: TestClient, tokens: TokenStore) -> None:
    secret = tokens.create("wang.li", 3600).secret
    response = client.post("/auth/login", data={"token": secret}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    ok = client.post("/auth/login", data={"token": secret}, headers={"Origin": BASE}, follow_redirects=False)
    assert ok.status_code == 200 and "set-cookie" in ok.headers


@pytest.mark.parametrize("next_path", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "viewer/x",
                                       "/\x0aSet-Cookie:x"])
def test_login_never_redirects_off_the_site(client: TestClient, tokens: TokenStore, next_path: str) -> None:
    response = log_in(client, tokens.create("wang.li", 3600).secret, next=next_path)
    assert response.status_code == 200
    assert "location" not in response.headers
    assert not is_local_path(next_path)


def test_login_pages_cannot_be_framed_and_forms_are_bounded(client: TestClient) -> None:
    page = client.get("/auth/login?origin=https://viewer.example&next=/viewer/x%22%3E%3Cscript%3E")
    assert page.headers["x-frame-options"] == "DENY"
    assert '<script>' not in page.text.split("</form>")[0].split("<form")[1]  # next is escaped
    assert client.post("/auth/login", content=b"token=" + b"x" * 9000,
                       headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 400
    assert client.post("/auth/login", json={"token": "x"}).status_code == 400


def test_an_auth_client_login_window_closes_itself(client: TestClient, tokens: TokenStore) -> None:
    response = log_in(client, tokens.create("wang.li", 3600).secret, origin=BASE)
    assert response.status_code == 200
    assert "window.close()" in response.text


def test_the_token_service_gives_a_logged_in_viewer_a_short_lived_token(client: TestClient,
                                                                        tokens: TokenStore) -> None:
    staff = tokens.create("wang.li", 86400)
    log_in(client, staff.secret)
    page = client.get("/auth/token", params={"messageId": "m1", "origin": BASE})
    message, origin = message_of(page)
    assert origin == BASE
    assert (message["type"], message["messageId"]) == ("AuthAccessToken2", "m1")
    assert message["@context"] == "http://iiif.io/api/auth/2/context.json"
    assert message["expiresIn"] == 3600
    assert page.headers["cache-control"] == "no-store"
    bearer = {"Authorization": f"Bearer {message['accessToken']}"}
    client.cookies.clear()
    probe = client.get("/auth/probe/rare-book~p0001", headers=bearer).json()
    assert probe["status"] == 200
    full = decode_rgb(client.get("/iiif/3/rare-book~p0001/full/max/0/default.png", headers=bearer).content)
    assert full.width == 600
    tokens.revoke(staff.record.id)  # revoking the staff token ends its sessions and viewer tokens
    assert client.get("/auth/probe/rare-book~p0001", headers=bearer).json()["status"] == 401


@pytest.mark.parametrize("params, profile", [({"messageId": "m1", "origin": "https://evil.example"}, "invalidOrigin"),
                                             ({"origin": BASE}, "invalidRequest"),
                                             ({"messageId": "m1", "origin": BASE}, "missingAspect")])
def test_the_token_service_refuses_without_a_token(client: TestClient, params: dict, profile: str) -> None:
    message, _ = message_of(client.get("/auth/token", params=params))
    assert message["type"] == "AuthAccessTokenError2"
    assert message["profile"] == profile
    assert "accessToken" not in message


def test_another_site_gets_no_token_even_for_a_logged_in_user(client: TestClient, tokens: TokenStore) -> None:
    log_in(client, tokens.create("wang.li", 3600).secret)
    message, origin = message_of(client.get("/auth/token", params={"messageId": "m", "origin": "https://evil.example"}))
    assert (message["profile"], origin) == ("invalidOrigin", "https://evil.example")


def test_extra_token_origins_can_be_allowed(settings: Settings, tmp_path: Path) -> None:
    options = ServerOptions(cache_dir=tmp_path / "c", token_origins=("https://viewer.example",))
    staff = TokenStore(options.auth_path(settings.home)).create("wang.li", 3600)
    with TestClient(create_app(settings, options)) as client:
        log_in(client, staff.secret)
        message, _ = message_of(client.get("/auth/token", params={"messageId": "m",
                                                                  "origin": "https://viewer.example"}))
    assert message["type"] == "AuthAccessToken2"


def test_the_probe_tells_anonymous_users_they_see_a_reduced_image(client: TestClient) -> None:
    response = client.get("/auth/probe/rare-book~p0001")
    probe = response.json()
    assert (probe["type"], probe["status"]) == ("AuthProbeResult2", 401)
    assert probe["id"] == f"{BASE}/auth/probe/rare-book~p0001"
    assert "zh-Hant" in probe["heading"] and "en" in probe["note"]
    assert response.headers["access-control-allow-origin"] == "*"
    assert client.get("/auth/probe/open-book~p0001").json()["status"] == 200
    assert client.get("/auth/probe/rare-book~p0002").status_code == 404
    assert client.get("/auth/probe/..%2Fx~p0001").status_code == 404


def test_preflight_allows_the_authorization_header(client: TestClient) -> None:
    response = client.options("/auth/probe/rare-book~p0001", headers={
        "Origin": "https://viewer.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-headers"] == "authorization"


@pytest.mark.parametrize("content, level", [(None, AccessLevel.STAFF_ONLY), ("{}", AccessLevel.STAFF_ONLY),
                                            ("not json", AccessLevel.STAFF_ONLY),
                                            ('{"access_level": "everyone"}', AccessLevel.STAFF_ONLY),
                                            ('{"access_level": "public"}', AccessLevel.PUBLIC),
                                            ('{"access_level": "restricted"}', AccessLevel.RESTRICTED)])
def test_an_unreadable_access_file_means_staff_only(tmp_path: Path, content: str | None, level: AccessLevel) -> None:
    path = tmp_path / "access.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert read_access_level(path) is level


def test_access_level_changes_are_seen_without_a_restart(settings: Settings, tmp_path: Path) -> None:
    publish_grid(settings.publish_dir, "book", "p0001", 300, 200, access_level="public")
    policy = AccessPolicy(settings.publish_dir, TokenStore(tmp_path / "auth.sqlite"))
    assert policy.level("book") is AccessLevel.PUBLIC
    write_access(settings.publish_dir / "book", "staff-only")
    assert policy.level("book") is AccessLevel.STAFF_ONLY
    (settings.publish_dir / "book" / "access.json").unlink()
    (settings.publish_dir / "book" / "access.json").symlink_to(tmp_path / "elsewhere.json")
    (tmp_path / "elsewhere.json").write_text('{"access_level": "public"}', encoding="utf-8")
    assert policy.level("book") is AccessLevel.STAFF_ONLY  # a symlinked access file is not trusted


def test_the_servers_tiers_are_batch_json_access_levels() -> None:
    assert [level.value for level in AccessLevel] == [level.value for level in batch.AccessLevel]
