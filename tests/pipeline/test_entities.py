"""Entities on page text: dates from the reign table, persons, offices, places, titles, holdings; real ALTO files."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline import ocr
from pipeline.entities import (
    ACCEPT,
    BookContext,
    Entity,
    Kind,
    context_from_batch,
    entities_of_alto,
    find_entities,
    page_text_from_lines,
    period_of_edition,
    reign_table,
    reigns_named,
)
from pipeline.ocr import OcrGlyph, OcrLine, OcrPage

NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
QING = BookContext(period=(1644, 1911))


def found(lines: list[str] | str, context: BookContext = QING) -> list[Entity]:
    return find_entities(page_text_from_lines("p0001", [lines] if isinstance(lines, str) else lines), context)


def of_kind(entities: list[Entity], kind: Kind) -> list[Entity]:
    return [e for e in entities if e.kind is kind]


def date(text: str, context: BookContext = QING) -> Entity:
    (entity,) = of_kind(found(text, context), Kind.DATE)
    return entity


# --- the reign table ---------------------------------------------------------------------

ANCHORS = {"洪武": 1368, "永樂": 1403, "萬曆": 1573, "崇禎": 1628, "順治": 1644, "康熙": 1662, "雍正": 1723,
           "乾隆": 1736, "嘉慶": 1796, "道光": 1821, "咸豐": 1851, "同治": 1862, "光緒": 1875, "宣統": 1909,
           "民國": 1912, "建隆": 960, "紹興": 1131, "至正": 1341, "嘉靖": 1522, "天啓": 1621}


@pytest.mark.parametrize(("name", "year"), ANCHORS.items())
def test_reign_table_has_the_anchor_first_years(name: str, year: int) -> None:
    assert [r.first_year for r in reigns_named(name)] == [year]


def test_reign_lengths_of_the_last_reigns_are_the_known_ones() -> None:
    lengths = {r.name: r.years for r in reign_table()}
    assert (lengths["康熙"], lengths["乾隆"], lengths["光緒"], lengths["宣統"], lengths["民國"]) == (61, 60, 34, 3, 38)


def test_each_reign_starts_the_year_after_or_the_year_the_previous_one_ends() -> None:
    by_dynasty: dict[str, list] = {}
    for reign in reign_table():
        by_dynasty.setdefault(reign.dynasty, []).append(reign)
    for reigns in by_dynasty.values():
        for before, after in itertools.pairwise(reigns):
            assert after.first_year - before.last_year in (0, 1), (before, after)


def test_simplified_and_variant_forms_find_the_same_reign() -> None:
    assert reigns_named("万历") == reigns_named("萬曆")
    assert reigns_named("天啟") == reigns_named("天啓")
    assert [r.dynasty for r in reigns_named("天順")] == ["元", "明"]


# --- dates ---------------------------------------------------------------------------------

def test_reign_year_converts_to_gregorian() -> None:
    entity = date("刻於乾隆四十七年")
    assert (entity.text, entity.value["year"], entity.value["dynasty"], entity.value["regnal_year"]) == (
        "乾隆四十七年", 1782, "清", 47)
    assert entity.accepted and entity.rule == "date:reign-year"


def test_reign_year_with_agreeing_ganzhi_is_surer() -> None:
    plain, with_ganzhi = date("乾隆四十七年"), date("乾隆四十七年壬寅")
    assert with_ganzhi.value["year"] == 1782 and with_ganzhi.value["ganzhi"] == "壬寅"
    assert with_ganzhi.confidence > plain.confidence


def test_reign_and_ganzhi_alone_choose_the_year_in_the_reign() -> None:
    assert date("乾隆壬寅").value["year"] == 1782
    assert date("康熙己未", BookContext(period=(1662, 1722))).value["year"] == 1679


def test_ganzhi_that_twice_falls_in_a_reign_is_not_converted() -> None:
    entity = date("康熙壬寅")  # 1662 and 1722
    assert entity.value["year"] is None and entity.value["candidates"] == [1662, 1722] and not entity.accepted


def test_republican_year_month_and_day() -> None:
    assert date("民國二十年", BookContext(period=(1912, 1949))).value["year"] == 1931
    entity = date("光緒三十四年十月初五日")
    assert (entity.value["year"], entity.value["month"], entity.value["day"]) == (1908, 10, 5)


def test_first_year_first_month_leap_month_and_twenties() -> None:
    assert (date("咸豐元年正月").value["year"], date("咸豐元年正月").value["month"]) == (1851, 1)
    leap = date("道光廿三年閏七月")
    assert (leap.value["year"], leap.value["month"], leap.value["leap_month"]) == (1843, 7, True)


def test_numerals_no_one_writes_give_no_year() -> None:
    assert date("道光二十一年").value["year"] == 1841
    assert of_kind(found(["道光二十十一年", "道光十百年"]), Kind.DATE) == []  # OCR doubled or misread a numeral


def test_simplified_text_matches_the_traditional_table() -> None:
    assert date("万历四十一年").value["year"] == 1613
    assert date("光绪三十四年").value["year"] == 1908


def test_a_lone_nian_or_a_number_without_an_era_is_no_date() -> None:
    assert of_kind(found(["是年大水", "越三十年而書成", "四十七年冬", "年年如此"]), Kind.DATE) == []


def test_a_misread_era_name_gives_no_date() -> None:
    assert of_kind(found(["乾降四十七年", "萬感癸丑進士", "口口四十七年"]), Kind.DATE) == []


def test_a_reign_after_the_books_period_is_kept_doubtful_and_not_converted() -> None:
    entity = date("乾隆四十七年", BookContext(period=(1522, 1566)))
    assert entity.confidence < ACCEPT and entity.value["year"] is None and entity.value["candidates"] == [1782]
    assert "after the book's period" in entity.notes[0]


def test_a_regnal_year_beyond_the_reign_is_not_converted() -> None:
    entity = date("宣統十年")
    assert entity.value["year"] is None and not entity.accepted and "beyond" in entity.notes[0]


def test_an_era_of_two_dynasties_is_chosen_by_the_period_or_a_dynasty_prefix() -> None:
    assert date("天順元年", BookContext(period=(1450, 1500))).value["dynasty"] == "明"
    assert date("天順元年", BookContext(period=(1300, 1340))).value["year"] == 1328
    assert date("至元元年", BookContext(period=(1260, 1368))).value["year"] is None  # 1264 or 1335: ambiguous
    assert date("元至元五年", BookContext(period=(1260, 1368))).value["candidates"] == [1268, 1339]
    assert date("至元三十年", BookContext(period=(1260, 1368))).value["year"] == 1293  # only 世祖's ran 30 years


def test_a_cited_date_before_the_period_is_converted_with_less_confidence() -> None:
    cited, within = date("嘉靖三十一年"), date("乾隆四十七年")
    assert cited.value["year"] == 1552 and cited.accepted and cited.confidence < within.confidence


def test_a_bare_ganzhi_year_needs_a_period_with_one_such_year() -> None:
    assert date("壬寅年", BookContext(period=(1780, 1800))).value["year"] == 1782
    assert date("壬寅年", BookContext(period=(1644, 1911))).value["year"] is None


# --- persons, offices, places ------------------------------------------------------------

def test_bibliographic_formula_and_courtesy_name_and_native_place() -> None:
    entities = found(["明鹿善繼撰善繼字伯順定興人萬曆癸丑進士"])
    persons = of_kind(entities, Kind.PERSON)
    assert [p.text for p in persons] == ["鹿善繼", "善繼字伯順"]
    assert persons[1].value == {"name": "鹿善繼", "courtesy_name": "伯順"}
    assert [p.text for p in of_kind(entities, Kind.PLACE)] == ["定興"]


def test_listed_persons_with_art_names_and_repeats() -> None:
    context = BookContext(period=(1644, 1911), persons=("紀昀",))
    persons = of_kind(found(["紀昀號石雲河間人", "紀昀又撰"], context), Kind.PERSON)
    assert persons[0].value == {"name": "紀昀", "art_name": "石雲"}
    assert [p.rule for p in persons] == ["person:zi-hao", "list:persons"]


def test_a_name_after_an_office_is_kept_for_review_and_not_spread() -> None:
    persons = of_kind(found(["官至知府溫良恭儉", "溫良恭儉讓以得之"]), Kind.PERSON)
    assert [(p.text, p.accepted) for p in persons] == [("溫良恭", False)]


def test_a_name_must_start_with_a_surname() -> None:
    assert of_kind(found("明之所撰"), Kind.PERSON) == []


def test_offices_longest_first_and_bare_ambiguous_words_are_not_offices() -> None:
    offices = of_kind(found(["官至翰林院編修遷禮部尚書", "奉敕編修著尚書要旨"]), Kind.OFFICE)
    assert [o.text for o in offices] == ["翰林院編修", "禮部尚書"]


def test_an_office_that_is_also_a_word_counts_before_a_name() -> None:
    offices = of_kind(found(["拱以翰林編修與檢討陳以勤同爲講官", "當檢討其說"]), Kind.OFFICE)
    assert [(o.text, o.rule) for o in offices] == [("翰林編修", "list:offices"), ("檢討", "office:before-name")]


def test_places_from_the_list_and_ambiguous_names_only_with_a_suffix() -> None:
    places = of_kind(found(["遊於浙江蘇州府", "延平所謂玩物", "知延平府事"]), Kind.PLACE)
    assert [p.text for p in places] == ["浙江", "蘇州府", "延平府"]


def test_simplified_page_matches_traditional_lists() -> None:
    entities = found(["官至太常寺少卿", "游于苏州府", "浙江巡抚"])
    assert [e.text for e in entities if e.kind in (Kind.OFFICE, Kind.PLACE)] == ["太常寺少卿", "苏州府", "浙江", "巡抚"]


# --- titles, holdings, provenance ------------------------------------------------------

def test_quoted_titles_and_the_books_own_title() -> None:
    context = BookContext(titles=("四書大全",))
    titles = of_kind(found(["著有《日知錄》又辨四書大全"], context), Kind.TITLE)
    assert [(t.text, t.rule) for t in titles] == [("日知錄", "title:book-quotes"), ("四書大全", "list:titles")]


def test_a_siku_entry_gives_title_holding_and_provenance() -> None:
    entities = found(["論語類考無卷數浙江吳玉墀家藏本", "明陳士元撰"])
    title, holding, provenance = (of_kind(entities, k)[0] for k in (Kind.TITLE, Kind.HOLDING, Kind.PROVENANCE))
    assert (title.text, title.value["juan"], title.value["juan_count"]) == ("論語類考", "無卷數", None)
    assert holding.text == "浙江吳玉墀家藏本" and holding.value["copy"] == "家藏本"
    assert provenance.value == {"provenance": "浙江吳玉墀", "place": "浙江", "person": "吳玉墀"}
    assert of_kind(entities, Kind.PLACE) == []  # 浙江 is the provenance's


def test_a_siku_entry_sent_by_an_official_and_with_juan_counts() -> None:
    entities = found(["四書大全辨三十八卷附錄六卷江蘇巡撫採進本"])
    title = of_kind(entities, Kind.TITLE)[0]
    assert (title.text, title.value["juan_count"], title.value["juan_more"]) == ("四書大全辨", 38, "附錄六卷")
    assert of_kind(entities, Kind.PROVENANCE)[0].value == {"provenance": "江蘇巡撫", "place": "江蘇", "office": "巡撫"}


def test_an_entry_head_must_start_a_column() -> None:
    assert of_kind(found(["是時書目作十卷浙江吳玉墀家藏本"])[1:], Kind.TITLE) == []
    assert of_kind(found(["其說", "書目作十卷今本止五卷"]), Kind.TITLE) == []


def test_siku_formulas_for_other_books() -> None:
    titles = of_kind(found(["拱有春秋正旨已著錄", "事迹具明史本傳"]), Kind.TITLE)
    assert [t.text for t in titles] == ["春秋正旨", "明史"]


# --- boxes, ALTO, the dictionary ---------------------------------------------------------

def test_boxes_are_the_union_of_the_glyph_boxes_one_per_column() -> None:
    page = page_text_from_lines("p0002", ["序於乾隆四十", "七年"])
    (entity,) = find_entities(page, QING)
    assert entity.text == "乾隆四十七年" and entity.value["year"] == 1782
    first = [b[0] for b in page.boxes[2:6] if b]
    second = [b[0] for b in page.boxes[6:8] if b]
    union = [(min(b[0] for b in bs), min(b[1] for b in bs), max(b[2] for b in bs), max(b[3] for b in bs))
             for bs in (first, second)]
    assert list(entity.boxes) == union


def _alto(folder: Path, columns: list[tuple[str, float]]) -> Path:
    lines = []
    for n, (text, confidence) in enumerate(columns):
        x = 400 - n * 50
        glyphs = tuple(OcrGlyph(ch, (x, 10 + i * 40, x + 36, 46 + i * 40), confidence) for i, ch in enumerate(text))
        lines.append(OcrLine(text, (x, 10, x + 36, 6 + len(text) * 40), confidence, glyphs))
    page = OcrPage.of_lines(500, 1000, tuple(lines), language="chi_tra_vert", vertical=True)
    path = folder / "p0003.xml"
    ocr.to_alto(page, image_file="p0003.jp2", now=NOW).write(str(path), encoding="UTF-8")
    return path


def test_entities_of_a_real_alto_file_keep_page_boxes_and_rule(tmp_path: Path) -> None:
    path = _alto(tmp_path, [("日進直講五卷河南巡撫採進本", 0.99), ("明高拱撰嘉靖三十一年", 0.99)])
    entities = entities_of_alto(path, "p0003", QING)
    assert [(e.kind.value, e.text) for e in entities] == [
        ("title", "日進直講"), ("holding", "河南巡撫採進本"), ("provenance", "河南巡撫"), ("person", "高拱"),
        ("date", "嘉靖三十一年")]
    dated = entities[-1]
    assert dated.page_id == "p0003" and dated.boxes == ((350, 10 + 4 * 40, 386, 46 + 9 * 40),)


def test_a_doubtful_glyph_keeps_a_misread_entity_back(tmp_path: Path) -> None:
    path = _alto(tmp_path, [("明王背堂撰", 0.5)])
    (person,) = entities_of_alto(path, "p0003", QING)
    assert not person.accepted and "confidence 0.50" in person.notes[0]


def test_a_glyph_read_twice_before_a_date_does_not_make_it_doubtful() -> None:
    page = page_text_from_lines("p0004", ["於嘉嘉靖庚申", "明王背堂撰"])
    confidences = [1.0, 0.99, 0.36, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 1.0, 1.0]
    dated, person = find_entities(page, QING, confidences)
    assert dated.text == "嘉靖庚申" and dated.accepted and dated.value["year"] == 1560
    assert person.text == "王背堂" and not person.accepted


def test_as_dict_is_json_ready_and_stable() -> None:
    entity = date("乾隆四十七年")
    assert set(entity.as_dict()) == {"kind", "text", "value", "page_id", "span", "boxes", "confidence", "rule", "notes"}
    assert entity.as_dict()["span"] == [0, 6] and entity.as_dict()["kind"] == "date"


# --- the book's context ------------------------------------------------------------------

def test_period_from_the_edition_statement() -> None:
    assert period_of_edition("清乾隆四十七年刻本") == (1736, 1782)
    assert period_of_edition("明嘉靖刻本") == (1522, 1566)
    assert period_of_edition("民國鉛印本") == (1912, 1949)
    assert period_of_edition("日本刻本") is None


def test_context_from_a_batchs_census_fields(tmp_path: Path) -> None:
    from pipeline.batch import AccessLevel, Batch, Capture, Creator, MaterialType, ScriptDirection
    batch = Batch(tmp_path, "GJ-1", "四書說約無卷數", MaterialType.ANCIENT_BOOK, ScriptDirection.VERTICAL_RL, ("lzh",),
                  AccessLevel.PUBLIC, Capture("s1", "op"), (), creators=(Creator("鹿善繼", "撰", "明"),),
                  edition="清道光刻本")
    context = context_from_batch(batch)
    assert context == BookContext((1821, 1850), ("鹿善繼",), ("四書說約",), "traditional")
    assert context_from_batch(Batch(tmp_path, "GJ-2", "X", MaterialType.ANCIENT_BOOK, ScriptDirection.VERTICAL_RL,
                                    ("lzh",), AccessLevel.PUBLIC, Capture("s1", "op"), (),
                                    creators=(Creator("宋濂", "撰", "明"),))).period == (1368, 1949)
