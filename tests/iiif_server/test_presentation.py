"""Manifests, ALTO, the top-level Collection and the viewer page, served from a published book."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from iiif_server.app import create_app
from iiif_server.config import ServerOptions
from iiif_server.presentation import build_collection
from iiif_server.viewer import choose_language, viewer_page
from pipeline.validation import json_errors
from storage_config.settings import Settings
from tests.iiif_server.helpers import PublishedBook, publish_book, write_access

BASE = "http://127.0.0.1:8182"


@pytest.fixture
def book(tmp_path: Path, settings: Settings) -> PublishedBook:
    return publish_book(tmp_path, settings, item_id="lunyu-1", pages=2)


def test_manifest_is_served_as_published(client: TestClient, book: PublishedBook, settings: Settings) -> None:
    response = client.get("/iiif/lunyu-1/manifest.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == \
        'application/ld+json;profile="http://iiif.io/api/presentation/3/context.json"'
    assert response.content == (settings.publish_dir / "lunyu-1" / "manifest.json").read_bytes()
    assert response.headers["access-control-allow-origin"] == "*"
    again = client.get("/iiif/lunyu-1/manifest.json", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


def test_manifest_image_services_resolve_on_this_server(client: TestClient, book: PublishedBook) -> None:
    manifest = client.get("/iiif/lunyu-1/manifest.json").json()
    service = manifest["items"][1]["items"][0]["items"][0]["body"]["service"][0]["id"]
    assert service == f"{BASE}/iiif/3/lunyu-1~p0002"
    info = client.get(service.removeprefix(BASE) + "/info.json").json()
    assert info["id"] == service
    assert (info["width"], info["height"]) == (manifest["items"][1]["width"], manifest["items"][1]["height"])


def test_alto_is_served_where_the_manifest_points(client: TestClient, book: PublishedBook) -> None:
    manifest = client.get("/iiif/lunyu-1/manifest.json").json()
    alto_url = manifest["items"][0]["seeAlso"][0]["id"]
    response = client.get(alto_url.removeprefix(BASE))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/xml"
    assert b'<Page ID="p0001"' in response.content


@pytest.mark.parametrize("path", ["/iiif/nothing/manifest.json", "/iiif/lunyu-1/alto/p0009.xml",
                                  "/iiif/lunyu-1/alto/page1.xml", "/viewer/nothing"])
def test_unknown_items_and_pages_are_404(client: TestClient, book: PublishedBook, path: str) -> None:
    assert client.get(path).status_code == 404


def test_collection_lists_every_published_item_and_validates(tmp_path: Path, settings: Settings,
                                                             client: TestClient) -> None:
    publish_book(tmp_path, settings, item_id="book-b", pages=1, width=300, height=400)
    publish_book(tmp_path, settings, item_id="book-a", pages=1, width=300, height=400)
    (settings.publish_dir / "book-c.new").mkdir()  # a publish in progress is not listed
    response = client.get("/iiif/collection.json")
    collection = response.json()
    assert json_errors(collection, "iiif-presentation-3.0") == []
    assert collection["id"] == f"{BASE}/iiif/collection.json"
    assert collection["type"] == "Collection"
    assert [item["id"] for item in collection["items"]] == [
        f"{BASE}/iiif/book-a/manifest.json", f"{BASE}/iiif/book-b/manifest.json"]
    assert collection["items"][0]["label"] == {"zh-Hant": ["論語十卷"], "en": ["The Analects (sample)"]}
    assert collection["items"][0]["thumbnail"][0]["id"].endswith("/full/!200,200/0/default.jpg")
    assert client.get("/iiif/collection.json", headers={"If-None-Match": response.headers["etag"]}).status_code == 304


def test_an_empty_collection_is_still_valid(client: TestClient) -> None:
    collection = client.get("/iiif/collection.json").json()
    assert collection["items"] == []
    assert json_errors(collection, "iiif-presentation-3.0") == []


def test_build_collection_is_pure_and_ordered() -> None:
    manifests = [{"id": "https://x/iiif/b/manifest.json", "label": {"none": ["B"]}},
                 {"id": "https://x/iiif/a/manifest.json"}]
    collection = build_collection(manifests, "https://x")
    assert [i["label"] for i in collection["items"]] == [{"none": ["B"]}, {"none": ["https://x/iiif/a/manifest.json"]}]
    assert json_errors(collection, "iiif-presentation-3.0") == []


def test_viewer_page_loads_local_mirador_with_the_manifest(client: TestClient, book: PublishedBook) -> None:
    response = client.get("/viewer/lunyu-1", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert response.status_code == 200
    page = response.text
    assert '<script src="assets/mirador.min.js"></script>' in page
    sources = re.findall(r'src="([^"]+)"', page)
    assert sources == ["assets/mirador.min.js", "assets/shuying-viewer.js", "assets/reading-panel.js"]  # local only, no CDN
    config = json.loads(page.split('id="shuying-config">')[1].split("</script>")[0])
    assert config == {"manifest": f"{BASE}/iiif/lunyu-1/manifest.json", "language": "zh-CN"}
    assert "<title>論語十卷 · 书影</title>" in page
    assert '<html lang="zh-Hans">' in page


def test_index_links_every_item_to_its_viewer(client: TestClient, book: PublishedBook) -> None:
    page = client.get("/").text
    assert '<a href="viewer/lunyu-1">論語十卷</a>' in page


@pytest.mark.parametrize("requested, accept, expected", [
    ("", "", "zh-TW"),
    ("zh-Hans", "en", "zh-CN"),
    ("", "zh-Hant-TW,en;q=0.5", "zh-TW"),
    ("", "en-US,en;q=0.9", "en"),
    ("", "zh;q=0.9,ja;q=0.8", "ja"),  # bare zh names no script: skipped
    ("", "fr;q=0.1,de;q=0.5", "de"),
    ("", "xx,zh-HK;q=0.2", "zh-TW"),
    ("", "en;q=0", "zh-TW"),
])
def test_language_choice(requested: str, accept: str, expected: str) -> None:
    assert choose_language(requested, accept, "zh-TW") == expected


def test_viewer_page_escapes_what_it_embeds() -> None:
    page = viewer_page("https://x/iiif/a/manifest.json?</script><script>alert(1)", "<b>題</b>", "en")
    assert "</script><script>alert" not in page
    assert "&lt;b&gt;題&lt;/b&gt;" in page


def test_assets_are_served_gzipped_or_plain(settings: Settings, tmp_path: Path) -> None:
    bundle = tmp_path / "mirador.min.js"
    bundle.write_text("var Mirador = {viewer: function () {}};\n" * 100)
    options = ServerOptions(cache_dir=tmp_path / "cache", mirador_js=bundle)
    with TestClient(create_app(settings, options)) as client:
        zipped = client.get("/viewer/assets/mirador.min.js", headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.content == bundle.read_bytes()  # the client un-gzips it
        raw = client.get("/viewer/assets/mirador.min.js", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in raw.headers and raw.content == bundle.read_bytes()
        start = client.get("/viewer/assets/shuying-viewer.js", headers={"Accept-Encoding": "identity"})
        assert b"Mirador.viewer(" in start.content
        assert start.headers["content-type"] == "text/javascript; charset=utf-8"
        assert client.get("/viewer/assets/other.js").status_code == 404


def test_a_missing_mirador_install_is_503_with_the_fix(settings: Settings, tmp_path: Path) -> None:
    options = ServerOptions(cache_dir=tmp_path / "cache", mirador_js=tmp_path / "absent.js")
    with TestClient(create_app(settings, options)) as client:
        response = client.get("/viewer/assets/mirador.min.js")
    assert response.status_code == 503
    assert "npm ci --prefix iiif_server/viewer" in response.text


def test_an_item_called_3_keeps_its_manifest_url(client: TestClient, settings: Settings) -> None:
    # /iiif/3/ is also the Image API prefix; manifest routes are matched first.
    (settings.publish_dir / "3").mkdir(parents=True)
    (settings.publish_dir / "3" / "manifest.json").write_text('{"id": "three"}', encoding="utf-8")
    write_access(settings.publish_dir / "3", "public")
    response = client.get("/iiif/3/manifest.json")
    assert response.status_code == 200
    assert response.json() == {"id": "three"}
