"""The record document: schema, vocabularies, scope and dates, each problem named with its field."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from pipeline.conservation import (
    RecordError,
    check_pages,
    load_vocabularies,
    parse_record,
    record_from_dict,
)
from tests.conservation.helpers import record_doc

TODAY = date(2025, 6, 1)


def parse(doc):
    return parse_record(doc, load_vocabularies(), document="rec.json", today=TODAY)


def problems(doc) -> list[str]:
    with pytest.raises(RecordError) as caught:
        parse(doc)
    assert caught.value.document == "rec.json"
    return caught.value.problems


def test_a_valid_record_round_trips_through_its_json_form():
    record = parse(record_doc())
    assert record.item_id == "repair-book" and record.pages == ("p0002",)
    assert [d.type for d in record.damage] == ["insect_damage", "acidification"]
    assert record.dates.finished == date(2025, 3, 20) and record.materials.repair_paper[0].source == "福建将乐"
    assert record_from_dict(record.as_dict()) == record
    assert record.as_dict()["record_format"] == "shuying-conservation/1"


def test_labels_are_stored_as_codes():
    doc = record_doc()
    doc["condition"]["damage"][0]["type"] = "虫蛀"
    doc["condition"]["grade"] = "三级破损（中度破损）"
    doc["treatment"]["steps"][0]["type"] = "cleaning"
    doc["treatment"]["steps"][1]["type"] = "补洞"
    data = parse(doc).as_dict()
    assert data["condition"]["damage"][0]["type"] == "insect_damage"
    assert data["condition"]["grade"] == "grade_3"
    assert [s["type"] for s in data["treatment"]["steps"]] == ["cleaning", "infilling", "flattening"]


def test_an_unknown_damage_type_lists_the_allowed_ones():
    doc = record_doc()
    doc["condition"]["damage"][0]["type"] = "虫咬"
    [problem] = problems(doc)
    assert problem.startswith("condition.damage[0].type: unknown damage type '虫咬'; allowed: insect_damage "
                              "(虫蛀 insect damage), mould (霉蚀 mould), water_stain (水渍 water stain)")
    assert "fading (褪色 fading)" in problem


def test_an_unknown_treatment_step_and_grade_list_the_allowed_ones():
    doc = record_doc()
    doc["treatment"]["steps"][2]["type"] = "熨平"
    doc["condition"]["grade"] = "六级"
    found = problems(doc)
    assert found[0].startswith("treatment.steps[2].type: unknown treatment step '熨平'; allowed: disbinding (拆书 "
                               "disbinding), cleaning (去污 cleaning)")
    assert "flattening (压平 flattening)" in found[0]
    assert found[1].startswith("condition.grade: unknown damage grade '六级'; allowed: grade_1 (一级破损（特残）")


def test_acidification_needs_the_measured_ph():
    doc = record_doc()
    del doc["condition"]["damage"][1]["ph"]
    assert problems(doc) == ["condition.damage[1].ph: 酸化 acidification needs the measured pH"]


def test_dates_out_of_order_are_refused():
    found = problems(record_doc(dates={"started": "2025-03-20", "finished": "2025-03-03", "reviewed": "2025-03-01"}))
    order = "(order: assessed ≤ started ≤ finished ≤ reviewed)"
    assert found == [f"dates: finished 2025-03-03 is before started 2025-03-20 {order}",
                     f"dates: reviewed 2025-03-01 is before finished 2025-03-03 {order}"]


def test_dates_in_the_future_and_impossible_dates_are_refused():
    assert problems(record_doc(dates={"started": "2025-03-03", "finished": "2025-07-01"})) == [
        "dates.finished: 2025-07-01 is in the future (today is 2025-06-01)"]
    assert problems(record_doc(dates={"started": "2025-02-30"})) == [
        "dates.started: '2025-02-30' is not a calendar date (YYYY-MM-DD)"]


def test_the_scope_is_the_whole_item_or_some_pages():
    assert problems(record_doc(scope={"whole_item": True, "pages": ["p0001"]})) == [
        "scope: both whole_item and pages are given; choose one"]
    assert problems(record_doc(scope={})) == ["scope: give the pages treated, or whole_item: true"]
    doc = record_doc()
    doc["treatment"]["steps"][1]["pages"] = ["p0001"]
    assert problems(doc) == ["treatment.steps[1].pages: p0001 not among scope.pages"]


def test_schema_problems_name_their_field():
    doc = record_doc(conservators=[], hours=-1)
    doc["images"][0]["role"] = "later"
    assert problems(doc) == ["conservators: [] should be non-empty", "hours: -1 is less than the minimum of 0",
                             "images[0].role: 'later' is not one of ['before', 'during', 'after']"]


def test_a_signed_off_record_needs_the_finish_date():
    assert problems(record_doc(signed_off=True, dates={"started": "2025-03-03"})) == [
        "signed_off: a record is signed off when the treatment is finished; give dates.finished"]


def test_pages_must_exist_in_the_item():
    doc = record_doc(scope={"pages": ["p0002", "p0009"]})
    doc["images"][0]["pages"] = ["p0009"]
    with pytest.raises(RecordError) as caught:
        check_pages(parse(doc), ["p0001", "p0002"], document="rec.json")
    assert str(caught.value) == "rec.json: pages p0009 are not in item repair-book (its pages: p0001, p0002)"


def test_the_example_in_the_docs_is_a_valid_record():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "conservation.md").read_text(encoding="utf-8")
    example = json.loads(re.search(r"A minimal record:\n\n```json\n(.*?)```", docs, re.DOTALL).group(1))
    record = parse_record({**example, "item": "GJ-0001"}, load_vocabularies(), document="docs", today=TODAY)
    assert [d.type for d in record.damage] == ["insect_damage", "acidification"]
    assert [s.type for s in record.steps] == ["cleaning", "infilling"]
