"""Browse by entity (/browse), the annotation pages route and the Content Search entity filters, tiers included."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from iiif_server.config import ServerOptions
from iiif_server.tokens import TokenStore
from pipeline.annotations import annotation_page, annotation_page_id
from pipeline.entities import BookContext, find_entities, page_text_from_lines
from pipeline.search import index_item
from storage_config.settings import Settings
from tests.iiif_server.helpers import publish_book

BASE = "http://127.0.0.1:8182"
HOSTILE_TITLE = "《<script>alert(1)</script>》"


def publish_with_entities(tmp_path: Path, settings: Settings, item_id: str, lines: list[str],
                          access_level: str = "public", title: str = "") -> None:
    """Publish a two-page book whose p0002 has ``lines`` as its text: index, annotation page, manifest link."""
    publish_book(tmp_path, settings, item_id=item_id, pages=2, access_level=access_level)
    folder = settings.publish_dir / item_id
    text = page_text_from_lines("p0002", lines)
    entities = [e for e in find_entities(text, BookContext(period=(1368, 1800))) if e.accepted]
    index_item(ServerOptions().search_path(settings.home), item_id, [text], [e.as_dict() for e in entities])
    url = annotation_page_id(BASE, item_id, "p0002")
    page = annotation_page(entities, canvas_id=f"{BASE}/iiif/{item_id}/canvas/p0002", page_url=url,
                           base_url=BASE, language="zh-Hant", size=(600, 900))
    (folder / "annotations").mkdir()
    (folder / "annotations" / "p0002.json").write_text(json.dumps(page, ensure_ascii=False), encoding="utf-8")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["items"][1]["annotations"] = [{"id": url, "type": "AnnotationPage"}]
    if title:
        manifest["label"] = {"zh-Hant": [title]}
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


@pytest.fixture
def collection(tmp_path: Path, settings: Settings) -> Settings:
    publish_with_entities(tmp_path, settings, "open-book", ["乾隆四十七年浙江", "明王肯堂撰" + HOSTILE_TITLE],
                          title="<b>證治準繩</b>")
    publish_with_entities(tmp_path, settings, "vault-book", ["乾隆四十七年", "萬曆癸丑"], access_level="staff-only")
    return settings


@pytest.fixture
def staff(settings: Settings, options: ServerOptions) -> dict[str, str]:
    token = TokenStore(options.auth_path(settings.home)).create("wang.li", 3600).secret
    return {"Authorization": f"Bearer {token}"}


def browse_json(client: TestClient, path: str, **headers: str) -> dict:
    response = client.get(path, params={"format": "json"}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_year_page_lists_each_page_with_a_viewer_link(client: TestClient, collection: Settings) -> None:
    body = browse_json(client, "/browse/year/1782")
    assert body["facet"] == "year" and body["value"] == "1782"
    [item] = body["items"]
    assert (item["item_id"], item["label"]) == ("open-book", "<b>證治準繩</b>")
    [page] = item["pages"]
    assert page["page_id"] == "p0002" and page["texts"] == ["乾隆四十七年"]
    assert page["canvas"] == f"{BASE}/iiif/open-book/canvas/p0002"
    assert page["viewer"] == f"{BASE}/viewer/open-book?canvas={quote(page['canvas'], safe='')}"
    opened = client.get(page["viewer"].removeprefix(BASE))  # the viewer opens at that canvas
    assert opened.status_code == 200 and page["canvas"] in opened.text


def test_a_staff_only_item_is_listed_only_for_staff(client: TestClient, collection: Settings,
                                                   staff: dict[str, str]) -> None:
    anonymous = browse_json(client, "/browse/year/1782")
    assert [i["item_id"] for i in anonymous["items"]] == ["open-book"]
    assert client.get("/browse/era/萬曆").status_code == 404  # only in the staff-only book: as if not there
    seen = browse_json(client, "/browse/year/1782", **staff)
    assert [i["item_id"] for i in seen["items"]] == ["open-book", "vault-book"]
    response = client.get("/browse/era/%E8%90%AC%E6%9B%86", params={"format": "json"}, headers=staff)
    assert response.status_code == 200 and response.headers["cache-control"].startswith("private")


def test_the_index_counts_only_what_the_requester_may_see(client: TestClient, collection: Settings,
                                                         staff: dict[str, str]) -> None:
    anonymous = browse_json(client, "/browse")["facets"]
    assert [(v["value"], v["pages"], v["items"]) for v in anonymous["year"]] == [("1782", 1, 1)]
    assert [v["value"] for v in anonymous["era"]] == ["乾隆"]
    assert anonymous["person"][0]["url"] == f"{BASE}/browse/person/{quote('王肯堂')}"
    seen = browse_json(client, "/browse", **staff)["facets"]
    assert [(v["value"], v["pages"], v["items"]) for v in seen["year"]] == [("1613", 1, 1), ("1782", 2, 2)]


def test_html_is_escaped_and_in_chinese(client: TestClient, collection: Settings) -> None:
    index = client.get("/browse")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert "年號 Era" in index.text and "<script>" not in index.text
    page = client.get("/browse/year/1782", headers={"Accept": "text/html"})
    assert "&lt;b&gt;證治準繩&lt;/b&gt;" in page.text and "<b>" not in page.text
    assert f'href="{BASE}/viewer/open-book?canvas=http%3A%2F%2F127.0.0.1%3A8182%2Fiiif%2Fopen-book%2Fcanvas%2Fp0002"' \
        in page.text
    titles = browse_json(client, "/browse")["facets"]["title"]
    [title] = [t for t in titles if "script" in t["value"]]
    escaped = client.get(title["url"].removeprefix(BASE))
    assert escaped.status_code == 200 and "<script>" not in escaped.text and "&lt;script&gt;" in escaped.text


def test_json_is_chosen_by_the_accept_header_too(client: TestClient, collection: Settings) -> None:
    response = client.get("/browse/person/王肯堂", headers={"Accept": "application/json"})
    assert response.headers["content-type"] == "application/json"
    assert response.json()["items"][0]["pages"][0]["texts"] == ["王肯堂"]


@pytest.mark.parametrize(("path", "status"), [
    ("/browse/dragon/1782", 404), ("/browse/entity/person", 404), ("/browse/year/abc", 400),
    ("/browse/year/17820", 400), ("/browse/person/" + "吳" * 41, 400), ("/browse/person/%00", 400),
    ("/browse/person/%20", 400), ("/browse/person/' OR 1=1 --", 400), ("/browse/year/1999", 404),
    ("/browse/person/" + "x" * 2000, 414),
])
def test_bad_browse_requests_are_refused_never_500(client: TestClient, collection: Settings, path: str,
                                                   status: int) -> None:
    assert client.get(path).status_code == status


def test_browse_without_an_index_is_empty(client: TestClient) -> None:
    assert browse_json(client, "/browse")["facets"]["year"] == []
    assert client.get("/browse/year/1782").status_code == 404


def test_annotation_pages_are_served_with_the_tiers_of_alto(client: TestClient, collection: Settings,
                                                            staff: dict[str, str]) -> None:
    response = client.get("/iiif/open-book/annotations/p0002.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/ld+json")
    page = response.json()
    assert page["id"] == f"{BASE}/iiif/open-book/annotations/p0002.json"
    assert {a["body"][0]["value"] for a in page["items"]} >= {"乾隆四十七年", "王肯堂"}
    assert client.get("/iiif/vault-book/annotations/p0002.json").status_code == 404
    assert client.get("/iiif/vault-book/alto/p0002.xml").status_code == 404
    assert client.get("/iiif/vault-book/annotations/p0002.json", headers=staff).status_code == 200
    for path in ("/iiif/open-book/annotations/p0001.json", "/iiif/open-book/annotations/..%2Fmanifest.json",
                 "/iiif/open-book/annotations/entity-context.json"):
        assert client.get(path).status_code == 404


@pytest.mark.parametrize("version", ["1", "2"])
def test_content_search_takes_the_entity_filters(client: TestClient, collection: Settings, version: str) -> None:
    response = client.get(f"/iiif/open-book/search/{version}", params={"q": "year:1782"})
    assert response.status_code == 200
    body = response.json()
    if version == "1":
        assert [h["match"] for h in body["hits"]] == ["乾隆四十七年"]
        assert body["resources"][0]["on"].startswith(f"{BASE}/iiif/open-book/canvas/p0002#xywh=")
    else:
        assert [a["body"]["value"] for a in body["items"]] == ["乾隆四十七年"]
    text = client.get(f"/iiif/open-book/search/{version}", params={"q": "王肯堂 era:乾隆"})
    assert text.status_code == 200


@pytest.mark.parametrize("query", ["year:abc", "entity:dragon", "person:" + "吳" * 41, "year:1782\x00",
                                   " ".join(["year:1782"] * 9), " ".join(f"year:{i}" for i in range(2000)),
                                   "學" * 201])
def test_hostile_filters_get_400_from_content_search(client: TestClient, collection: Settings, query: str) -> None:
    for version in ("1", "2"):
        response = client.get(f"/iiif/open-book/search/{version}", params={"q": query})
        assert response.status_code == 400, (query[:40], response.text)
        assert response.text.startswith("400 Bad Request: q: ")
    autocomplete = client.get("/iiif/open-book/autocomplete/1", params={"q": query})
    assert autocomplete.status_code == 400
