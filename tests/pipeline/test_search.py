"""The full-text index: SQLite FTS5 on character bigrams, read from real ALTO files."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from pipeline import ocr, search
from pipeline.ocr import OcrGlyph, OcrLine, OcrPage
from pipeline.synthetic import FoldColumn, render_vertical_page

NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def _column(text: str, x: int, top: int = 10, step: int = 40) -> OcrLine:
    glyphs = tuple(OcrGlyph(ch, (x, top + i * step, x + 36, top + i * step + 36), 0.9) for i, ch in enumerate(text))
    return OcrLine(text, (x, top, x + 36, top + len(text) * step - 4), 0.9, glyphs)


def _write_alto(folder: Path, name: str, lines: tuple[OcrLine, ...], vertical: bool = True) -> Path:
    page = OcrPage.of_lines(400, 600, lines, language="chi_tra_vert", vertical=vertical)
    path = folder / f"{name}.xml"
    ocr.to_alto(page, image_file=f"images/{name}.tif", now=NOW).write(str(path), encoding="UTF-8")
    return path


@pytest.fixture
def index(tmp_path: Path) -> Path:
    # Two columns read right to left: 學而時 | 習之不亦說乎 — 時習 runs across the break.
    p1 = _write_alto(tmp_path, "p0001", (_column("學而時", 300), _column("習之不亦說乎", 250)))
    p2 = _write_alto(tmp_path, "p0002", (_column("有朋自遠方來", 300),))
    db = tmp_path / "home" / "search.sqlite"
    pages = [search.read_alto_page(p1, "p0001"), search.read_alto_page(p2, "p0002")]
    assert search.index_item(db, "lunyu", pages) == 2
    return db


def test_a_phrase_across_a_column_break_is_found_with_a_box_per_column(index: Path) -> None:
    hits = search.search(index, "時習")
    assert hits == [search.SearchHit("lunyu", "p0001", "時習", ((300, 90, 336, 126), (250, 10, 286, 46)),
                                     before="學而", after="之不亦說乎")]


def test_a_longer_phrase_gets_the_union_of_its_glyph_boxes(index: Path) -> None:
    (hit,) = search.search(index, "不亦說乎")
    assert (hit.page_id, hit.text, hit.boxes) == ("p0001", "不亦說乎", ((250, 90, 286, 246),))


def test_a_simplified_query_finds_traditional_text(index: Path) -> None:
    assert [(h.page_id, h.text) for h in search.search(index, "学而")] == [("p0001", "學而")]
    assert [(h.page_id, h.text) for h in search.search(index, "不亦说")] == [("p0001", "不亦說")]
    assert [h.text for h in search.search(index, "远方来")] == ["遠方來"]


def test_whitespace_in_a_query_is_ignored(index: Path) -> None:
    assert [h.text for h in search.search(index, " 有 朋 ")] == ["有朋"]


def test_nothing_found_and_other_items_filtered_out(index: Path, tmp_path: Path) -> None:
    other = _write_alto(tmp_path, "q0001", (_column("學而不思則罔", 300),))
    search.index_item(index, "other", [search.read_alto_page(other, "p0001")])
    assert [h.item_id for h in search.search(index, "學而")] == ["lunyu", "other"]
    assert [h.item_id for h in search.search(index, "學而", item_id="other")] == ["other"]
    assert search.search(index, "温故知新") == []


def test_reindexing_an_item_replaces_its_pages(index: Path, tmp_path: Path) -> None:
    new = _write_alto(tmp_path, "p0001b", (_column("溫故而知新", 300),))
    search.index_item(index, "lunyu", [search.read_alto_page(new, "p0001")])
    assert search.search(index, "時習") == []
    assert [h.text for h in search.search(index, "温故")] == ["溫故"]
    with sqlite3.connect(index) as conn:
        assert conn.execute("SELECT count(*) FROM page").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM page_grams").fetchone() == (1,)


def test_a_query_must_have_two_characters(index: Path) -> None:
    with pytest.raises(search.SearchError, match=r"^query '學 ': give at least 2 characters$"):
        search.search(index, "學 ")


def test_no_index_yet_finds_nothing(tmp_path: Path) -> None:
    assert search.search(tmp_path / "missing.sqlite", "學而") == []


def test_unreadable_alto_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "p0003.xml"
    bad.write_text("<alto", encoding="utf-8")
    with pytest.raises(search.SearchError, match=r"p0003\.xml: cannot read ALTO"):
        search.read_alto_page(bad, "p0003")


def test_words_of_horizontal_pages_are_separated(tmp_path: Path) -> None:
    words = OcrLine(
        "Lun yu", (10, 10, 90, 30), 0.9, (OcrGlyph("Lun", (10, 10, 40, 30), 0.9), OcrGlyph("yu", (50, 10, 90, 30), 0.9))
    )
    page = search.read_alto_page(_write_alto(tmp_path, "p0009", (words,), vertical=False), "p0009")
    assert page.text == "Lun yu"
    assert page.boxes[3] is None and page.boxes[4] == ((50, 10, 90, 30), 0)


def test_recognised_page_is_found_where_it_was_printed(tmp_path: Path) -> None:
    # End to end: Tesseract reads a generated page; the box of a phrase across a
    # column break must cover where those glyphs were drawn.
    page = render_vertical_page(
        "子曰學而時習\n之不亦說乎有",
        width=500,
        height=700,
        columns=3,
        chars_per_column=6,
        fold_column=FoldColumn.NONE,
        seed=2,
    )
    result = ocr.recognise_page(np.asarray(page.image), lang="chi_tra_vert", vertical=True)
    alto = tmp_path / "p0001.xml"
    ocr.to_alto(result, image_file="images/p0001.tif", now=NOW).write(str(alto), encoding="UTF-8")
    db = tmp_path / "search.sqlite"
    search.index_item(db, "demo", [search.read_alto_page(alto, "p0001")])
    (hit,) = search.search(db, "习之")
    drawn = {g.char: g.box for g in page.glyphs}
    assert hit.page_id == "p0001" and len(hit.boxes) == 2
    for box, char in zip(hit.boxes, "習之"):
        assert np.max(np.abs(np.subtract(box, drawn[char]))) <= 4


def test_the_fold_column_is_searchable_but_no_phrase_runs_from_the_text_into_it(tmp_path: Path) -> None:
    # Flow: a note block (read second in ALTO order) between two text columns; the 版心
    # stands beside the flow. ALTO order puts the 版心 first, the ReadingOrder last.
    text = ocr.OcrBlock(ocr.BlockRole.TEXT, (300, 10, 336, 126), (_column("學而時", 300),), True)
    note = ocr.OcrBlock(ocr.BlockRole.NOTE, (250, 10, 286, 46), (_column("習之", 250),), True)
    fold = ocr.OcrBlock(ocr.BlockRole.FOLD, (360, 10, 396, 126), (_column("論語卷", 360),), True)
    page = OcrPage(400, 600, (text, note, fold), vertical=True)
    path = tmp_path / "p0001.xml"
    ocr.to_alto(page, image_file="images/p0001.tif", now=NOW).write(str(path), encoding="UTF-8")
    read = search.read_alto_page(path, "p0001")
    assert read.text == "學而時習之\n論語卷"
    db = tmp_path / "search.sqlite"
    search.index_item(db, "lunyu", [read])
    assert [h.text for h in search.search(db, "時習")] == ["時習"]
    assert [h.text for h in search.search(db, "論語")] == ["論語"]
    assert search.search(db, "之論") == []


def test_a_quoted_phrase_is_one_term(index: Path) -> None:
    for query in ('"時習之"', "「時 習 之」", "“時習之”", '"時習之'):
        assert [(h.page_id, h.text) for h in search.search(index, query)] == [("p0001", "時習之")], query


def test_every_space_separated_term_must_be_on_the_page(index: Path) -> None:
    both = search.search(index, "学而 说乎")
    assert [(h.page_id, h.text) for h in both] == [("p0001", "學而"), ("p0001", "說乎")]
    assert search.search(index, "学而 远方") == []  # each is found, but on different pages
    assert [h.text for h in search.search(index, '"有朋" 远方')] == ["有朋", "遠方"]


def test_hits_carry_the_text_before_and_after_them(index: Path) -> None:
    (hit,) = search.search(index, "不亦")
    assert (hit.before, hit.text, hit.after) == ("學而時習之", "不亦", "說乎")
    (hit,) = search.search(index, "自遠")
    assert (hit.before, hit.after) == ("有朋", "方來")


@pytest.mark.parametrize("query", ['學而 OR 有朋', 'NEAR(學而 有朋)', '學而*', 'grams:學而', '"學而" AND "', "'; DROP TABLE page; --",
                                   '學"而', '^學而'])
def test_query_syntax_is_only_text(index: Path, query: str) -> None:
    hits = search.search(index, query)  # no SearchError from FTS5: every term is a quoted literal
    assert all(h.text in ("學而",) for h in hits) or hits == []


def test_query_terms() -> None:
    assert search.query_terms(" 有 朋 ") == ("有朋",)
    assert search.query_terms('學而 "君子 不器" 學而') == ("学而", "君子不器")
    with pytest.raises(search.SearchError):
        search.query_terms('"" 。')
