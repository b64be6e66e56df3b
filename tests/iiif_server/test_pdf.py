"""PDF download: a run of leaves with a searchable text layer, read back with poppler's pdftotext and pdfimages."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree
from starlette.testclient import TestClient

from iiif_server.app import create_app
from iiif_server.config import ServerOptions
from iiif_server.errors import BadRequest
from iiif_server.pdf import MAX_LEAVES, Leaf, choose_leaves, pdf_metadata
from iiif_server.tokens import TokenStore
from pipeline.ocr.alto import to_alto
from pipeline.ocr.model import BlockRole, OcrBlock, OcrGlyph, OcrLine, OcrPage
from storage_config.settings import Settings, load_settings
from tests.iiif_server.helpers import PublishedBook, publish_book, write_access

ITEM = "lunyu-1"
WIDTH, HEIGHT = 600, 900
LEAVES = 10
NUMERALS = "一二三四五六七八九十"
GLYPH, STEP = 36, 44  # px: each character's box, and the distance from one to the next down a column


def page_columns(n: int) -> list[str]:
    """The text of leaf ``n`` (1-based), right column first: every leaf's first column names the leaf."""
    return [f"第{NUMERALS[n - 1]}葉子曰學而時習之", "有朋自遠方來不亦樂乎"]


def vertical_alto(columns: list[str], page_number: int) -> bytes:
    """ALTO of right-to-left columns as pipeline.ocr.alto writes it, one String per character."""
    lines = []
    for index, text in enumerate(columns):
        x = 500 - index * 60
        glyphs = tuple(OcrGlyph(ch, (x, 100 + STEP * i, x + GLYPH, 100 + STEP * i + GLYPH), 0.9)
                       for i, ch in enumerate(text))
        lines.append(OcrLine(text, (x, 100, x + GLYPH, 100 + STEP * len(text)), 0.9, glyphs))
    block = OcrBlock(BlockRole.TEXT, (380, 100, 536, 100 + STEP * 10), tuple(lines), vertical=True)
    page = OcrPage(WIDTH, HEIGHT, (block,), vertical=True)
    tree = to_alto(page, image_file="access.tif", now=datetime(2026, 1, 1, tzinfo=UTC),
                   page_number=page_number)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PublishedBook]:
    """A home with a published ten-leaf book whose ALTO has text: made once, copied into each test's home."""
    root = tmp_path_factory.mktemp("pdf")
    settings = load_settings(environ={}, home=str(root / "home"))
    book = publish_book(root, settings, item_id=ITEM, pages=LEAVES, width=WIDTH, height=HEIGHT)
    for n, page_id in enumerate(book.page_ids, start=1):
        (settings.publish_dir / ITEM / "alto" / f"{page_id}.xml").write_bytes(vertical_alto(page_columns(n), n))
    return settings.home, book


@pytest.fixture
def book(published: tuple[Path, PublishedBook], settings: Settings) -> PublishedBook:
    shutil.copytree(published[0], settings.home, dirs_exist_ok=True)
    return published[1]


@pytest.fixture
def restricted_options(tmp_path: Path) -> ServerOptions:
    return ServerOptions(cache_dir=tmp_path / "cache", restricted_max_size=400, lookup_ttl=0.0)


@pytest.fixture
def restricted_client(settings: Settings, restricted_options: ServerOptions):
    with TestClient(create_app(settings, restricted_options), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def staff_token(settings: Settings, restricted_options: ServerOptions) -> str:
    return TokenStore(restricted_options.auth_path(settings.home)).create("wang.li", 3600).secret


def poppler(tmp_path: Path, tool: str, data: bytes, *args: str) -> str:
    """Run a poppler tool on the PDF ``data`` and return what it prints."""
    path = tmp_path / "download.pdf"
    path.write_bytes(data)
    return subprocess.run([tool, *args, str(path), *(["-"] if tool == "pdftotext" else [])],
                          check=True, capture_output=True, text=True).stdout


def page_texts(tmp_path: Path, data: bytes) -> list[str]:
    """The text of each page, as pdftotext lays it out (pages end in a form feed)."""
    return poppler(tmp_path, "pdftotext", data, "-enc", "UTF-8").split("\f")[:-1]


def image_sizes(tmp_path: Path, data: bytes) -> list[tuple[int, int]]:
    """Width and height of every image embedded in the PDF, from ``pdfimages -list``."""
    rows = poppler(tmp_path, "pdfimages", data, "-list").splitlines()[2:]
    return [(int(row.split()[3]), int(row.split()[4])) for row in rows]


def canvas_sizes(book: PublishedBook) -> list[tuple[int, int]]:
    """The published images' sizes (the sample pages differ by a few pixels: each is deskewed)."""
    return [(canvas["width"], canvas["height"]) for canvas in book.manifest["items"]]


def test_a_ten_leaf_pdf_has_every_leafs_text_in_reading_order(client: TestClient, book: PublishedBook,
                                                                tmp_path: Path) -> None:
    response = client.get(f"/iiif/{ITEM}/pdf", params={"from": "p0001", "to": "p0010"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="{ITEM}-p0001-p0010.pdf"'
    texts = page_texts(tmp_path, response.content)
    assert len(texts) == LEAVES
    for n, text in enumerate(texts, start=1):
        assert [line for line in text.splitlines() if line] == page_columns(n)  # right column first
    assert "Pages:           10" in poppler(tmp_path, "pdfinfo", response.content)


def test_a_range_named_by_labels_gives_just_those_leaves(client: TestClient, book: PublishedBook,
                                                         tmp_path: Path) -> None:
    response = client.get(f"/iiif/{ITEM}/pdf", params={"from": "卷一 葉一下", "to": "p0005"})
    assert response.status_code == 200
    assert response.headers["content-disposition"].endswith(f'filename="{ITEM}-p0003-p0005.pdf"')
    assert [text.splitlines()[0] for text in page_texts(tmp_path, response.content)] == \
        [page_columns(n)[0] for n in (3, 4, 5)]


def test_without_a_range_the_whole_volume_comes_with_its_metadata(client: TestClient, book: PublishedBook,
                                                                   tmp_path: Path) -> None:
    response = client.get(f"/iiif/{ITEM}/pdf")
    assert response.status_code == 200
    info = poppler(tmp_path, "pdfinfo", response.content)
    assert re.search(r"^Title:\s+論語十卷$", info, re.M)
    assert re.search(rf"^Subject:\s+{ITEM}: 封面 – 卷一 葉五上", info, re.M)
    assert "Pages:           10" in info
    assert image_sizes(tmp_path, response.content) == canvas_sizes(book)  # smaller than the cap: as published


def test_a_repeated_request_is_answered_not_modified(client: TestClient, book: PublishedBook) -> None:
    first = client.get(f"/iiif/{ITEM}/pdf", params={"to": "p0002"})
    again = client.get(f"/iiif/{ITEM}/pdf", params={"to": "p0002"}, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    other = client.get(f"/iiif/{ITEM}/pdf", params={"to": "p0003"}, headers={"If-None-Match": first.headers["etag"]})
    assert other.status_code == 200


def test_anonymous_users_get_a_restricted_item_with_reduced_images_and_all_its_text(
        restricted_client: TestClient, book: PublishedBook, settings: Settings, staff_token: str,
        tmp_path: Path) -> None:
    write_access(settings.publish_dir / ITEM, "restricted")
    anonymous = restricted_client.get(f"/iiif/{ITEM}/pdf", params={"from": "p0002", "to": "p0004"})
    assert anonymous.status_code == 200
    assert [max(size) for size in image_sizes(tmp_path, anonymous.content)] == [400] * 3  # restricted_max_size
    assert [t.splitlines()[0] for t in page_texts(tmp_path, anonymous.content)] == \
        [page_columns(n)[0] for n in (2, 3, 4)]
    assert "private" in anonymous.headers["cache-control"]
    staff = restricted_client.get(f"/iiif/{ITEM}/pdf", params={"from": "p0002", "to": "p0004"},
                                  headers={"Authorization": f"Bearer {staff_token}"})
    assert image_sizes(tmp_path, staff.content) == canvas_sizes(book)[1:4]
    assert staff.headers["etag"] != anonymous.headers["etag"]


def test_a_staff_only_item_is_not_found_for_anonymous_users_as_if_it_did_not_exist(
        restricted_client: TestClient, book: PublishedBook, settings: Settings, staff_token: str) -> None:
    write_access(settings.publish_dir / ITEM, "staff-only")
    hidden = restricted_client.get(f"/iiif/{ITEM}/pdf", params={"from": "garbage"})
    absent = restricted_client.get("/iiif/no-such-book/pdf", params={"from": "garbage"})
    assert (hidden.status_code, hidden.text) == (absent.status_code, absent.text) == (404, "404 Not Found: not found\n")
    staff = restricted_client.get(f"/iiif/{ITEM}/pdf", params={"to": "p0001"},
                                  headers={"Authorization": f"Bearer {staff_token}"})
    assert staff.status_code == 200


def test_a_leaf_with_broken_or_missing_alto_comes_without_text(client: TestClient, book: PublishedBook,
                                                              settings: Settings, tmp_path: Path) -> None:
    alto = settings.publish_dir / ITEM / "alto"
    (alto / "p0002.xml").write_text("<alto><Layout>", encoding="utf-8")
    (alto / "p0003.xml").unlink()
    response = client.get(f"/iiif/{ITEM}/pdf", params={"from": "p0002", "to": "p0004"})
    assert response.status_code == 200
    assert [text.strip() for text in page_texts(tmp_path, response.content)] == \
        ["", "", "\n".join(page_columns(4))]


def test_unknown_and_unsafe_items_are_not_found(client: TestClient, book: PublishedBook) -> None:
    for path in ("/iiif/no-such-book/pdf", "/iiif/lunyu-1.new/pdf", "/iiif/..%2F..%2Fetc/pdf"):
        assert client.get(path).status_code == 404, path


@pytest.mark.parametrize(("query", "message"), [
    ("from=p0005&to=p0002", "to: to=p0002 comes before from=p0005 in reading order"),
    ("from=p0099", "from: no leaf of this item has the page id or label 'p0099'"),
    ("to=%E5%8D%B7%E4%BA%8C", "to: no leaf of this item has the page id or label '卷二'"),
    ("from=99999999999999999999999999999", "from: no leaf of this item"),
    ("from=p99999999999", "from: no leaf of this item"),
    ("from=..%2F..%2Fmanifest.json", "from: no leaf of this item"),
    ("from=%00%FF%FE", "from: no leaf of this item"),
    ("from=p0001&from=p0002", "from: given 2 times"),
    ("to=" + "x" * 500, "to: is 500 characters long"),
])
def test_bad_ranges_are_refused_with_what_is_wrong(client: TestClient, book: PublishedBook, query: str,
                                                   message: str) -> None:
    response = client.get(f"/iiif/{ITEM}/pdf?{query}")
    assert response.status_code == 400
    assert response.text.startswith(f"400 Bad Request: {message}")


def test_more_leaves_than_a_pdf_holds_are_refused() -> None:
    leaves = [Leaf(f"p{n:04d}", str(n)) for n in range(1, MAX_LEAVES + 11)]
    assert len(choose_leaves(leaves, [("to", f"p{MAX_LEAVES:04d}")])) == MAX_LEAVES
    with pytest.raises(BadRequest, match=f"p0001 to p{MAX_LEAVES + 10:04d} is {MAX_LEAVES + 10} leaves; "
                                         f"a PDF holds at most {MAX_LEAVES}"):
        choose_leaves(leaves, [])


def test_a_label_shared_by_two_leaves_must_be_given_as_a_page_id() -> None:
    leaves = [Leaf("p0001", "封面"), Leaf("p0002", "1"), Leaf("p0003", "封面")]
    with pytest.raises(BadRequest, match="the label '封面' names 2 leaves; give a page id \\(p0001, p0003\\)"):
        choose_leaves(leaves, [("from", "封面")])
    assert choose_leaves(leaves, [("from", "1"), ("to", "p0003")]) == leaves[1:]


def test_the_metadata_carries_title_item_and_persistent_id(book: PublishedBook) -> None:
    pid = next(row["value"]["none"][0] for row in book.manifest["metadata"]
               if row["label"]["en"] == ["Persistent identifier"])
    assert pid.startswith("urn:uuid:")
    metadata = pdf_metadata(book.manifest, ITEM, [Leaf("p0002", "卷一 葉一上"), Leaf("p0003", "卷一 葉一下")])
    assert metadata.title == "論語十卷"
    assert metadata.subject == f"{ITEM}: 卷一 葉一上 – 卷一 葉一下; {pid}"
    assert metadata.keywords == (ITEM, pid)
    assert metadata.author == "（春秋）孔子弟子輯"
    assert metadata.right_to_left and metadata.language == "zh-Hant"
