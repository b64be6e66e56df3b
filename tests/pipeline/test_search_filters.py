"""Entity filters in the search index: year:, era:, person:, place:, office:, title:, entity:, with or without text."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import cli
from pipeline import search
from pipeline.entities import BookContext, find_entities, page_text_from_lines
from pipeline.errors import ExitCode
from pipeline.facets import MAX_FILTERS
from storage_config.settings import SETTINGS

CLEAN_ENV = {f"SHUYING_{s.name.upper()}": None for s in SETTINGS}
PAGES = {
    "p0001": ["乾隆四十七年浙江巡撫採進本", "明王肯堂撰證治準繩"],
    "p0002": ["萬曆癸丑翰林院編修", "子曰學而時習之"],
    "p0003": ["子曰學而時習之不亦說乎", "有朋自遠方來"],
}


def index_book(db: Path, item_id: str = "book-1", pages: dict[str, list[str]] = PAGES) -> None:
    texts = [page_text_from_lines(page_id, lines) for page_id, lines in pages.items()]
    entities = [e.as_dict() for page in texts for e in find_entities(page, BookContext(period=(1368, 1800)))
                if e.accepted]
    search.index_item(db, item_id, texts, entities)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "home" / "search.sqlite"
    index_book(path)
    return path


def found(db: Path, query: str) -> list[tuple[str, str]]:
    return [(hit.page_id, hit.text) for hit in search.search(db, query)]


def test_a_year_filter_alone_finds_the_date_and_its_box(db: Path) -> None:
    [hit] = search.search(db, "year:1782")
    assert (hit.item_id, hit.page_id, hit.text) == ("book-1", "p0001", "乾隆四十七年")
    assert hit.boxes == ((40, 0, 80, 240),) and hit.after.startswith("浙江")


@pytest.mark.parametrize(("query", "expected"), [
    ("era:乾隆", [("p0001", "乾隆四十七年")]),
    ("era:万历", [("p0002", "萬曆癸丑")]),  # simplified finds traditional
    ("person:王肯堂", [("p0001", "王肯堂")]),
    ("office:翰林院编修", [("p0002", "翰林院編修")]),
    ("place:浙江", [("p0001", "浙江")]),
    ("entity:date", [("p0001", "乾隆四十七年"), ("p0002", "萬曆癸丑")]),
    ("ENTITY:DATE year:1613", [("p0002", "萬曆癸丑")]),
    ("year:1782 year:1613", []),  # both must be on one page
    ("year:1999", []),
])
def test_filters_alone_return_the_matching_entities(db: Path, query: str, expected: list) -> None:
    assert found(db, query) == expected


def test_text_with_a_filter_is_searched_only_on_pages_with_the_entity(db: Path) -> None:
    assert [p for p, _ in found(db, "學而")] == ["p0002", "p0003"]
    assert found(db, "學而 era:萬曆") == [("p0002", "學而")]
    assert found(db, "era:萬曆 学而 entity:office") == [("p0002", "學而")]
    assert found(db, "學而 year:1782") == []


def test_reindexing_an_item_replaces_its_entities(db: Path) -> None:
    index_book(db, pages={"p0001": ["子曰學而時習之"]})
    assert found(db, "year:1782") == []
    assert found(db, "學而") == [("p0001", "學而")]


def test_an_unknown_name_before_a_colon_is_text_as_before(db: Path) -> None:
    assert found(db, "grams:學而") == []  # the text "grams:學而" is on no page; no SQL column either


@pytest.mark.parametrize(("query", "message"), [
    ("year:一七八二", "is not a year"),
    ("year:17820", "is not a year"),
    ("year:", "give a value"),
    ("entity:dragon", "no such kind"),
    ("person:" + "吳" * 41, "the limit is 40"),
    ("person:吳\x00玉墀", "control character"),
    ("學而\x00", "control character"),
    (" ".join(f"year:{1700 + i}" for i in range(MAX_FILTERS + 1)), "more than 8 filters"),
    (" ".join(f"year:{i}" for i in range(10_000)), "the limit is 200"),
    ("學" * 201, "the limit is 200"),
])
def test_hostile_filters_are_refused_precisely(db: Path, query: str, message: str) -> None:
    with pytest.raises(search.SearchQueryError, match=message) as caught:
        search.search(db, query)
    assert caught.value.exit_code is ExitCode.USAGE


def test_sql_in_a_filter_value_is_only_a_value(db: Path) -> None:
    for query in ("era:乾隆'--", "era:乾隆' OR 1=1 --", "person:%", "person:_", "place:*", 'title:"',
                  "person:吳玉墀);DROP\tTABLE\tentity;--"):
        assert found(db, query) == []
    assert found(db, "year:1782") == [("p0001", "乾隆四十七年")]  # the table is intact


def test_the_cli_takes_filters_and_refuses_a_bad_one_with_a_usage_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    index_book(home / "search.sqlite")
    runner = CliRunner(env=CLEAN_ENV)
    result = runner.invoke(cli.cli, ["--home", str(home), "search", "year:1782"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["book-1\tp0001\t乾隆四十七年\t40,0,80,240"]
    combined = runner.invoke(cli.cli, ["--home", str(home), "search", "學而 era:萬曆"])
    assert combined.stdout.splitlines()[0].startswith("book-1\tp0002\t學而\t")
    bad = runner.invoke(cli.cli, ["--home", str(home), "search", "entity:dragon"])
    assert bad.exit_code == ExitCode.USAGE
    assert bad.stderr.splitlines() == ["Error: filter entity:'dragon': no such kind; use one of date, person, place, "
                                       "office, title, holding, provenance"]
