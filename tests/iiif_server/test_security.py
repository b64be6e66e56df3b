"""Identifiers never reach outside the publish root: raw paths as uvicorn passes them, no client normalising."""

from __future__ import annotations

from pathlib import Path

import pytest

from iiif_server.app import create_app
from iiif_server.config import ServerOptions
from iiif_server.errors import NotFound
from iiif_server.published import PublishedStore, parse_identifier
from storage_config.settings import Settings
from tests.iiif_server.helpers import publish_grid, raw_get, write_access

SECRET = b"TOP SECRET outside the publish root"

TRAVERSALS = [
    b"/iiif/3/..%2F..%2Fsecret~p0001/info.json",
    b"/iiif/3/%2e%2e%2fsecret/info.json",
    b"/iiif/3/%2E%2E%2F%2E%2E%2Fsecret.tif/info.json",
    b"/iiif/3/%2Fetc%2Fpasswd/info.json",
    b"/iiif/3/%2Fetc%2Fpasswd~p0001/full/max/0/default.jpg",
    b"/iiif/3/grid-item~p0001%00/info.json",
    b"/iiif/3/grid-item%00~p0001/info.json",
    b"/iiif/3/grid-item~p0001%00.tif/info.json",
    b"/iiif/3/grid-item~..%2F..%2F..%2Fsecret/info.json",
    b"/iiif/3/grid-item~p0001%2F..%2F..%2Fx/info.json",
    b"/iiif/3/../../secret~p0001/info.json",
    b"/iiif/3/grid-item~p0001/../../../etc/passwd",
    b"/iiif/3/..%5C..%5Csecret~p0001/info.json",
    b"/iiif/3/%c0%ae%c0%ae%2fsecret/info.json",
    b"/iiif/3/~p0001/info.json",
    b"/iiif/3/.hidden~p0001/info.json",
    b"/iiif/3/grid-item.new~p0001/info.json",
    b"/iiif/3/grid-item~p1/info.json",
    b"/iiif/3/grid-item~p0001~p0001/info.json",
    b"/iiif/3/escape~p0001/info.json",
    b"/iiif/3/linked-out~p0001/info.json",
    b"/iiif/grid-item/alto/..%2F..%2Fsecret.xml",
    b"/iiif/grid-item/alto/p0001%00.xml",
    b"/iiif/..%2Fsecret/manifest.json",
    b"/iiif/%2e%2e/manifest.json",
    b"/iiif/linked-out/manifest.json",
    b"/viewer/..%2F..%2Fsecret",
    b"/viewer/assets/..%2F..%2Fapp.py",
    b"/viewer/assets/%2Fetc%2Fpasswd",
]


@pytest.fixture
def app(settings: Settings, options: ServerOptions, tmp_path: Path):
    publish_grid(settings.publish_dir, "grid-item", "p0001", 300, 200)
    outside = tmp_path / "outside"
    publish_grid(outside, "secret", "p0001", 300, 200)
    (outside / "secret.xml").write_bytes(SECRET)
    (outside / "secret" / "manifest.json").write_bytes(SECRET)
    # A symlinked file and a symlinked item folder, both pointing out of the publish root.
    (settings.publish_dir / "escape" / "images").mkdir(parents=True)
    (settings.publish_dir / "escape" / "images" / "p0001.tif").symlink_to(outside / "secret" / "images" / "p0001.tif")
    (settings.publish_dir / "linked-out").symlink_to(outside / "secret")
    # A symlink that stays inside is fine.
    (settings.publish_dir / "alias" / "images").mkdir(parents=True)
    write_access(settings.publish_dir / "alias", "public")
    write_access(settings.publish_dir / "escape", "public")
    (settings.publish_dir / "alias" / "images" / "p0001.tif").symlink_to(
        settings.publish_dir / "grid-item" / "images" / "p0001.tif")
    return create_app(settings, options)


@pytest.mark.parametrize("raw_path", TRAVERSALS, ids=lambda p: p.decode("latin-1"))
def test_traversal_attempts_are_refused_without_leaking(app, raw_path: bytes) -> None:
    status, headers, body = raw_get(app, raw_path)
    assert status in (400, 404)
    assert SECRET not in body
    assert headers["content-type"] == "text/plain; charset=utf-8"


def test_the_same_app_serves_legitimate_paths(app) -> None:
    assert raw_get(app, b"/iiif/3/grid-item~p0001/info.json")[0] == 200
    assert raw_get(app, b"/iiif/3/grid-item%7Ep0001/full/max/0/default.jpg")[0] == 200
    assert raw_get(app, b"/iiif/3/alias~p0001/info.json")[0] == 200  # symlink within the root


@pytest.mark.parametrize("length, status", [(1024, 404), (1025, 414), (100_000, 414)])
def test_overlong_paths_are_414(app, length: int, status: int) -> None:
    prefix = b"/iiif/3/"
    code, headers, body = raw_get(app, prefix + b"a" * (length - len(prefix)))
    assert code == status
    assert headers["access-control-allow-origin"] == "*"
    if status == 414:
        assert body.startswith(b"414 Request-URI Too Long: request path is")


@pytest.mark.parametrize("identifier", ["", "~", "a~", "~p0001", "a~p", "a~P0001", "a/b~p0001", "a~p0001/x",
                                        "-a~p0001", "a" * 129 + "~p0001", "a~p" + "1" * 13, "a\x00~p0001",
                                        "a.old~p0001", "ａ~p0001"])
def test_identifiers_outside_the_pattern_are_not_found(identifier: str) -> None:
    with pytest.raises(NotFound):
        parse_identifier(identifier)


def test_items_are_listed_without_staging_folders_or_outsiders(settings: Settings, app) -> None:
    for name in ("book-a", "book-a.new", "book-b.old", ".hidden", "no-manifest"):
        (settings.publish_dir / name).mkdir()
    for name in ("book-a", "book-a.new", "book-b.old", ".hidden"):
        (settings.publish_dir / name / "manifest.json").write_text("{}")
    assert PublishedStore(settings.publish_dir).item_ids() == ["book-a"]
