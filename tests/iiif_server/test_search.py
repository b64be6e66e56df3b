"""Content Search 1.0 and 2.0 and autocomplete over a real index built from ALTO by pipeline.search."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from iiif_server.config import ServerOptions
from pipeline.search import index_item, read_alto_page
from storage_config.settings import Settings, load_settings
from tests.iiif_server.helpers import PublishedBook, publish_book, write_access

BASE = "http://127.0.0.1:8182"
# Two columns of a vertical page, read right to left: each character a String 40x40 px.
COLUMNS = [("學而時習之不亦說乎", 500), ("有朋自遠方來", 440)]
ALTO = """<?xml version="1.0" encoding="UTF-8"?>
<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#"><Layout><Page ID="p0002" WIDTH="600" HEIGHT="900"
PHYSICAL_IMG_NR="2"><PrintSpace>{lines}</PrintSpace></Page></Layout></alto>
"""


def alto_page(columns: list[tuple[str, int]], size: int = 40, top: int = 100) -> str:
    """ALTO of vertical columns (text, left edge), one String per character, each ``size`` px square."""
    lines = []
    for text, x in columns:
        strings = "".join(f'<String CONTENT="{ch}" HPOS="{x}" VPOS="{top + size * i}" WIDTH="{size}" '
                          f'HEIGHT="{size}"/>' for i, ch in enumerate(text))
        lines.append(f'<TextBlock><TextLine HPOS="{x}" VPOS="{top}" WIDTH="{size}" HEIGHT="{size * len(text)}">'
                     f"{strings}</TextLine></TextBlock>")
    return ALTO.format(lines="".join(lines))


@pytest.fixture(scope="module")
def indexed_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PublishedBook]:
    """A home with one published, indexed book: made once, copied into each test's home."""
    root = tmp_path_factory.mktemp("search")
    settings = load_settings(environ={}, home=str(root / "home"))
    book = publish_book(root, settings, item_id="lunyu-1", pages=2)
    alto = settings.publish_dir / "lunyu-1" / "alto" / "p0002.xml"
    alto.write_text(alto_page(COLUMNS), encoding="utf-8")
    index_item(ServerOptions().search_path(settings.home), "lunyu-1", [read_alto_page(alto, "p0002")])
    return settings.home, book


@pytest.fixture
def book(indexed_home: tuple[Path, PublishedBook], settings: Settings) -> PublishedBook:
    shutil.copytree(indexed_home[0], settings.home, dirs_exist_ok=True)
    return indexed_home[1]


def canvas(page_id: str) -> str:
    return f"{BASE}/iiif/lunyu-1/canvas/{page_id}"


def test_a_simplified_query_finds_the_traditional_text_with_its_box(client: TestClient, book: PublishedBook) -> None:
    response = client.get("/iiif/lunyu-1/search/1", params={"q": "学而"})
    assert response.status_code == 200
    result = response.json()
    assert result["@context"] == ["http://iiif.io/api/presentation/2/context.json",
                                  "http://iiif.io/api/search/1/context.json"]
    assert result["@type"] == "sc:AnnotationList"
    assert result["within"] == {"@type": "sc:Layer", "total": 1}
    [annotation] = result["resources"]
    assert annotation["on"] == f"{canvas('p0002')}#xywh=500,100,40,80"  # 學 and 而, one column
    assert annotation["resource"] == {"@type": "cnt:ContentAsText", "chars": "學而"}
    # Nothing precedes 學而 on the page, so there is no "before"; "after" is the next 12 characters.
    assert result["hits"] == [{"@type": "search:Hit", "annotations": [annotation["@id"]], "match": "學而",
                               "after": "時習之不亦說乎有朋自遠方"}]


def test_a_phrase_across_two_columns_has_a_box_in_each(client: TestClient, book: PublishedBook) -> None:
    result = client.get("/iiif/lunyu-1/search/1", params={"q": "說乎有朋"}).json()
    assert [r["on"].split("#")[1] for r in result["resources"]] == ["xywh=500,380,40,80", "xywh=440,100,40,80"]
    assert result["hits"][0]["annotations"] == [r["@id"] for r in result["resources"]]
    assert result["hits"][0]["match"] == "說乎有朋"


def test_hits_point_at_canvases_of_the_manifest(client: TestClient, book: PublishedBook) -> None:
    manifest = client.get("/iiif/lunyu-1/manifest.json").json()
    service = next(s for s in manifest["service"] if s.get("profile") == "http://iiif.io/api/search/1/search")
    path = urlsplit(service["@id"]).path
    result = client.get(path, params={"q": "朋自"}).json()
    canvases = {c["id"] for c in manifest["items"]}
    assert result["resources"] and all(r["on"].split("#")[0] in canvases for r in result["resources"])
    for annotation in result["resources"]:
        x, y, w, h = map(int, annotation["on"].split("xywh=")[1].split(","))
        page = next(c for c in manifest["items"] if c["id"] == annotation["on"].split("#")[0])
        assert 0 <= x and 0 <= y and x + w <= page["width"] and y + h <= page["height"]


def test_search_2_answers_an_annotation_page(client: TestClient, book: PublishedBook) -> None:
    manifest = client.get("/iiif/lunyu-1/manifest.json").json()
    service = next(s for s in manifest["service"] if s.get("type") == "SearchService2")
    result = client.get(urlsplit(service["id"]).path, params={"q": "說乎有朋"}).json()
    assert result["@context"] == "http://iiif.io/api/search/2/context.json"
    assert result["type"] == "AnnotationPage"
    assert result["partOf"]["total"] == 1
    assert [i["target"] for i in result["items"]] == [f"{canvas('p0002')}#xywh=500,380,40,80",
                                                      f"{canvas('p0002')}#xywh=440,100,40,80"]
    assert all(i["motivation"] == "painting" and i["body"]["value"] == "說乎有朋" for i in result["items"])
    quotes = result["annotations"][0]["items"]
    assert [q["target"]["source"] for q in quotes] == [i["id"] for i in result["items"]]
    assert quotes[0]["target"]["selector"] == [{"type": "TextQuoteSelector", "exact": "說乎有朋",
                                                "prefix": "學而時習之不亦", "suffix": "自遠方來"}]


@pytest.mark.parametrize("query", ['"說乎有朋"', "「說乎 有朋」", "說乎 有朋"])
def test_quoted_phrases_and_several_terms_are_found(client: TestClient, book: PublishedBook, query: str) -> None:
    result = client.get("/iiif/lunyu-1/search/1", params={"q": query}).json()
    matches = [(h["match"], h.get("before", ""), h.get("after", "")) for h in result["hits"]]
    if " " in query and "「" not in query:  # two terms: each is a hit, in reading order
        assert matches == [("說乎", "學而時習之不亦", "有朋自遠方來"), ("有朋", "學而時習之不亦說乎", "自遠方來")]
    else:
        assert matches == [("說乎有朋", "學而時習之不亦", "自遠方來")]


def test_every_term_must_be_on_the_page(client: TestClient, book: PublishedBook) -> None:
    assert client.get("/iiif/lunyu-1/search/2", params={"q": "学而 君子"}).json()["items"] == []
    hits = client.get("/iiif/lunyu-1/search/2", params={"q": "学而 远方"}).json()["items"]
    assert [h["body"]["value"] for h in hits] == ["學而", "遠方"]


@pytest.mark.parametrize("query", ['學而 OR 君子', 'NEAR(學而 有朋, 5)', '學而*', '"', '""""', "' OR 1=1 --",
                                   "grams:學而", "%00學而"])
def test_query_syntax_is_searched_as_text(client: TestClient, book: PublishedBook, query: str) -> None:
    for version in ("1", "2"):
        response = client.get(f"/iiif/lunyu-1/search/{version}", params={"q": query})
        assert response.status_code == 200
    result = client.get("/iiif/lunyu-1/search/1", params={"q": query}).json()
    assert all(h["match"] in ("學而", "有朋") for h in result["hits"]), result["hits"]


@pytest.mark.parametrize("version", ["1", "2"])
def test_autocomplete_offers_the_printed_form(client: TestClient, book: PublishedBook, version: str) -> None:
    result = client.get(f"/iiif/lunyu-1/autocomplete/{version}", params={"q": "远方"}).json()
    if version == "1":
        assert result["@type"] == "search:TermList"
        [term] = result["terms"]
        assert (term["match"], term["count"]) == ("遠方", 1)
        assert parse_qs(urlsplit(term["url"]).query) == {"q": ["遠方"]}
    else:
        assert result["type"] == "TermPage"
        assert result["items"] == [{"value": "遠方", "total": 1}]


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "學"}, {"q": " 學 "}, {"q": "不在書中"}])
def test_short_missing_and_absent_queries_have_no_hits(client: TestClient, book: PublishedBook, params) -> None:
    response = client.get("/iiif/lunyu-1/search/1", params=params)
    assert response.status_code == 200
    assert response.json()["within"]["total"] == 0 and response.json()["resources"] == []


def test_unsupported_parameters_are_reported_as_ignored(client: TestClient, book: PublishedBook) -> None:
    result = client.get("/iiif/lunyu-1/search/1", params={"q": "學而", "motivation": "painting", "user": "x"}).json()
    assert result["within"]["ignored"] == ["motivation", "user"]
    assert result["within"]["total"] == 1


def test_a_staff_only_item_cannot_be_searched_anonymously(client: TestClient, book: PublishedBook,
                                                          settings: Settings) -> None:
    write_access(settings.publish_dir / "lunyu-1", "staff-only")
    hidden = client.get("/iiif/lunyu-1/search/1", params={"q": "學而"})
    absent = client.get("/iiif/nothing/search/1", params={"q": "學而"})
    assert hidden.status_code == absent.status_code == 404
    assert client.get("/iiif/lunyu-1/autocomplete/1", params={"q": "學而"}).status_code == 404


def test_a_restricted_item_is_searchable_but_private(client: TestClient, book: PublishedBook,
                                                     settings: Settings) -> None:
    write_access(settings.publish_dir / "lunyu-1", "restricted")
    response = client.get("/iiif/lunyu-1/search/2", params={"q": "學而"})
    assert response.json()["partOf"]["total"] == 1
    assert response.headers["cache-control"].startswith("private")


def test_an_item_without_an_index_has_no_hits(client: TestClient, tmp_path: Path, settings: Settings) -> None:
    publish_book(tmp_path, settings, item_id="unindexed", pages=1)
    assert client.get("/iiif/unindexed/search/1", params={"q": "學而"}).json()["within"]["total"] == 0
    assert client.get("/iiif/../search/1", params={"q": "學而"}).status_code == 404
