"""Entities as Web Annotations: one AnnotationPage per canvas, valid Presentation 3, targets on the canvas."""

from __future__ import annotations

import jsonschema
import pytest

import schemas
from pipeline.annotations import annotation_page, annotation_page_id, book_record, context_of_record
from pipeline.batch import load_batch
from pipeline.entities import BookContext, find_entities, page_text_from_lines
from pipeline.facets import entity_facets, identifying_facet
from pipeline.manifest import CanvasSource, build_manifest, image_service_id
from pipeline.sample_book import write_sample_batch
from pipeline.validation import json_errors

BASE = "https://books.example.org"
CANVAS = f"{BASE}/iiif/book-1/canvas/p0001"
LINES = ["乾隆四十七年浙江巡撫採進本", "明王肯堂撰證治準繩", "翰林院編修陳以勤字逸甫"]
SIZE = (160, 800)  # four 40 px columns: page_text_from_lines' made-up boxes fit inside


def page(lines: list[str] = LINES, size: tuple[int, int] = SIZE) -> dict:
    entities = find_entities(page_text_from_lines("p0001", lines), BookContext(period=(1368, 1800)))
    return annotation_page(entities, canvas_id=CANVAS, page_url=annotation_page_id(BASE, "book-1", "p0001"),
                           base_url=BASE, language="zh-Hant", size=size)


def xywh(annotation: dict) -> tuple[int, ...]:
    target, _, fragment = annotation["target"].partition("#xywh=")
    assert target == CANVAS
    return tuple(int(v) for v in fragment.split(","))


def test_the_page_validates_against_the_presentation_3_schema() -> None:
    built = page()
    assert json_errors(built, "iiif-presentation-3.0") == []
    schema = schemas.load_json_schema("iiif-presentation-3.0")
    assert list(jsonschema.Draft7Validator(schema).iter_errors(built)) == []
    for annotation in built["items"]:  # each annotation alone too (the schema's Annotation class)
        assert json_errors(annotation, "iiif-presentation-3.0") == []


def test_each_accepted_entity_is_one_annotation_numbered_under_the_page() -> None:
    built = page()
    assert built["id"] == f"{BASE}/iiif/book-1/annotations/p0001.json"
    assert built["type"] == "AnnotationPage"
    assert [a["id"] for a in built["items"]] == [f"{BASE}/iiif/book-1/annotations/p0001/{n}"
                                                 for n in range(1, len(built["items"]) + 1)]
    texts = [a["body"][0]["value"] for a in built["items"]]
    assert "乾隆四十七年" in texts and "王肯堂" in texts and "翰林院編修" in texts
    assert "陳以勤" not in texts  # found after an office: 0.45, kept for review, not published


def test_a_date_identifies_its_year_browse_page_with_a_zh_label() -> None:
    [date] = [a for a in page()["items"] if a["body"][1]["value"] == "date"]
    assert date["motivation"] == "identifying"
    assert date["body"][0] == {"type": "TextualBody", "value": "乾隆四十七年", "format": "text/plain",
                               "language": "zh-Hant", "purpose": "tagging"}
    assert date["body"][1] == {"type": "TextualBody", "value": "date", "purpose": "classifying"}
    assert date["body"][2] == {"id": f"{BASE}/browse/year/1782", "type": "Text", "format": "text/html",
                               "purpose": "identifying", "label": {"zh": ["乾隆四十七年 (1782)"]}}


def test_a_name_links_to_its_url_encoded_browse_page() -> None:
    [person] = [a for a in page()["items"] if a["body"][0]["value"] == "王肯堂"]
    assert person["motivation"] == "identifying"
    assert person["body"][2]["id"] == f"{BASE}/browse/person/%E7%8E%8B%E8%82%AF%E5%A0%82"
    assert person["body"][2]["label"] == {"zh": ["王肯堂"]}


def test_a_provenance_has_no_browse_page_of_its_own_and_is_only_tagged() -> None:
    entity = {"kind": "provenance", "text": "浙江巡撫", "value": {"provenance": "浙江巡撫", "place": "浙江",
                                                                  "office": "巡撫"}}
    assert identifying_facet(entity) is None
    assert entity_facets(entity) == [("entity", "provenance"), ("place", "浙江"), ("office", "巡撫")]


def test_a_date_without_a_year_is_not_identifying() -> None:
    entity = {"kind": "date", "text": "天順元年", "value": {"reign": "天順", "year": None}}
    assert identifying_facet(entity) is None
    assert ("era", "天順") in entity_facets(entity)


def test_every_target_lies_inside_the_canvas_even_when_a_box_overhangs() -> None:
    for size in (SIZE, (100, 300)):  # the second is smaller than the made-up boxes: they are cut to it
        for annotation in page(size=size)["items"]:
            x, y, w, h = xywh(annotation)
            assert 0 <= x and 0 <= y and w >= 1 and h >= 1
            assert x + w <= size[0] and y + h <= size[1], annotation["target"]


def test_a_target_is_the_union_of_the_entitys_boxes() -> None:
    # 二十字 columns of 40 px: the date is the first six cells of the rightmost column.
    [date] = [a for a in page()["items"] if a["body"][1]["value"] == "date"]
    assert xywh(date) == (80, 0, 40, 240)


def test_a_page_without_entities_is_an_empty_valid_page() -> None:
    built = page(["子曰學而時習之不亦說乎"])
    assert built["items"] == [] and json_errors(built, "iiif-presentation-3.0") == []


def test_the_manifest_links_each_canvas_to_its_annotation_page(tmp_path) -> None:
    batch = load_batch(write_sample_batch(tmp_path / "b", pages=2, width=300, height=400, item_id="book-1"))
    url = annotation_page_id(BASE, "book-1", batch.leaves[1].page_id)
    canvases = [CanvasSource(batch.leaves[0], 300, 400, image_service_id(BASE, "book-1", batch.leaves[0])),
                CanvasSource(batch.leaves[1], 300, 400, image_service_id(BASE, "book-1", batch.leaves[1]), "", url)]
    manifest = build_manifest(batch, canvases, base_url=BASE)
    assert json_errors(manifest, "iiif-presentation-3.0") == []
    assert "annotations" not in manifest["items"][0]  # a canvas that was not read links nothing
    assert manifest["items"][1]["annotations"] == [{"id": url, "type": "AnnotationPage"}]


@pytest.mark.parametrize("record", [{}, {"period": [1736, 1782], "persons": ["吳玉墀"], "language": "zh-Hans"}])
def test_the_published_context_gives_the_same_context_back(tmp_path, record: dict) -> None:
    context, language = context_of_record(record)
    assert context.period == tuple(record.get("period", BookContext().period))
    assert language == record.get("language", "zh-Hant")
    batch = load_batch(write_sample_batch(tmp_path / "b", pages=1, width=200, height=300))
    again, _ = context_of_record(book_record(batch))
    assert again.period == BookContext().period or again.period[0] <= again.period[1]


def test_a_damaged_context_record_is_refused() -> None:
    with pytest.raises(ValueError, match="is not two years"):
        context_of_record({"period": "乾隆"})
