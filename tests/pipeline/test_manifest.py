"""IIIF Presentation 3 manifest: valid against the official JSON Schema, in reading order."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

import schemas
from pipeline.batch import (
    AccessLevel,
    Batch,
    Capture,
    Creator,
    MaterialType,
    Page,
    PageType,
    ScriptDirection,
)
from pipeline.manifest import CanvasSource, build_manifest, dump_manifest, image_service_id
from pipeline.validation import json_errors

BASE = "https://iiif.example.org"
SCHEMA = "iiif-presentation-3.0"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any attempt to open a socket: the builder must never fetch info.json."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted while building a manifest")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def make_batch(tmp_path: Path, direction: ScriptDirection = ScriptDirection.VERTICAL_RL) -> Batch:
    pages = (
        Page(1, "封面.tif", "封面", PageType.COVER),
        Page(2, "扫描 002.tif", "卷一 葉一上"),
        Page(3, "扫描 003.tif", "卷一 葉一下"),
        Page(4, "blank.tif", "護葉", PageType.BLANK),
        Page(5, "target.tif", "色卡", PageType.COLOUR_TARGET),
    )
    return Batch(
        root=tmp_path,
        item_id="jlpl-0001",
        title="欽定四庫全書總目",
        material_type=MaterialType.ANCIENT_BOOK,
        script_direction=direction,
        languages=("lzh",),
        access_level=AccessLevel.PUBLIC,
        capture=Capture(station_id="cam-2", operator="张三"),
        pages=pages,
        call_number="善 1234",
        census_number="220000-0101-0001234",
        creators=(Creator("紀昀", "纂", "清"), Creator("陸錫熊", "纂", "清")),
        edition="清乾隆武英殿刻本",
        binding="线装",
        layout="半葉十行，行二十一字",
        volume_label="第二冊",
        source_organization="吉林省图书馆",
        extra={"title_en": "Annotated Catalogue of the Complete Imperial Library"},
    )


def make_sources(batch: Batch) -> list[CanvasSource]:
    sources = [
        CanvasSource(
            page=page,
            width=3000 + page.order,
            height=4500,
            image_service_id=image_service_id(BASE, batch.item_id, page),
            alto_url=f"{BASE}/ocr/{batch.item_id}/{page.page_id}.alto.xml" if page.page_type is PageType.PAGE else "",
        )
        for page in batch.pages
    ]
    return list(reversed(sources))  # the builder, not the caller, puts them in order


@pytest.fixture
def manifest(tmp_path: Path) -> dict:
    batch = make_batch(tmp_path)
    return build_manifest(batch, make_sources(batch), base_url=BASE)


def test_manifest_validates_against_the_iiif_schema(manifest: dict) -> None:
    schema = schemas.load_json_schema(SCHEMA)
    assert list(jsonschema.Draft7Validator(schema).iter_errors(manifest)) == []
    assert json_errors(json.loads(dump_manifest(manifest)), SCHEMA) == []


def test_schema_check_would_catch_a_broken_manifest(manifest: dict) -> None:
    broken = {**manifest, "viewingDirection": "vertical-rl"}
    assert json_errors(broken, SCHEMA) != []


def test_ids_labels_and_reading_direction(manifest: dict) -> None:
    assert manifest["@context"] == "http://iiif.io/api/presentation/3/context.json"
    assert manifest["id"] == f"{BASE}/iiif/jlpl-0001/manifest.json"
    assert list(manifest)[:4] == ["@context", "id", "type", "label"]
    assert manifest["label"] == {
        "zh-Hant": ["欽定四庫全書總目"],
        "en": ["Annotated Catalogue of the Complete Imperial Library"],
    }
    assert manifest["viewingDirection"] == "right-to-left"
    assert manifest["behavior"] == ["paged"]
    assert manifest["requiredStatement"]["value"] == {"zh": ["吉林省图书馆"]}


def test_horizontal_batches_read_left_to_right(tmp_path: Path) -> None:
    batch = make_batch(tmp_path, ScriptDirection.HORIZONTAL_LR)
    manifest = build_manifest(batch, make_sources(batch), base_url=BASE)
    assert manifest["viewingDirection"] == "left-to-right"


def test_canvases_are_in_reading_order_with_page_labels(manifest: dict) -> None:
    canvases = manifest["items"]
    assert [c["id"] for c in canvases] == [f"{BASE}/iiif/jlpl-0001/canvas/p{i:04d}" for i in range(1, 6)]
    assert [c["label"] for c in canvases] == [
        {"zh-Hant": ["封面"]},
        {"zh-Hant": ["卷一 葉一上"]},
        {"zh-Hant": ["卷一 葉一下"]},
        {"zh-Hant": ["護葉"]},
        {"zh-Hant": ["色卡"]},
    ]
    assert [c["width"] for c in canvases] == [3001, 3002, 3003, 3004, 3005]


def test_each_canvas_paints_its_image_service(manifest: dict) -> None:
    canvas = manifest["items"][1]
    service_id = f"{BASE}/iiif/3/jlpl-0001~p0002"
    annotation = canvas["items"][0]["items"][0]
    assert annotation["motivation"] == "painting"
    assert annotation["target"] == canvas["id"]
    assert annotation["body"] == {
        "id": f"{service_id}/full/max/0/default.jpg",
        "type": "Image",
        "height": 4500,
        "width": 3002,
        "service": [{"id": service_id, "type": "ImageService3", "profile": "level2"}],
        "format": "image/jpeg",
    }
    assert canvas["thumbnail"] == [
        {"id": f"{service_id}/full/!200,200/0/default.jpg", "type": "Image", "format": "image/jpeg"}
    ]
    assert canvas["seeAlso"] == [
        {
            "id": f"{BASE}/ocr/jlpl-0001/p0002.alto.xml",
            "type": "Dataset",
            "format": "application/xml",
            "profile": "http://www.loc.gov/standards/alto/v4/alto.xsd",
        }
    ]


def test_only_the_colour_target_is_non_paged(manifest: dict) -> None:
    behaviors = [c.get("behavior") for c in manifest["items"]]
    assert behaviors == [None, None, None, None, ["non-paged"]]
    assert "seeAlso" not in manifest["items"][0]  # no ALTO for the cover


def test_metadata_pairs_are_labelled_in_chinese_and_english(manifest: dict) -> None:
    pairs = {m["label"]["en"][0]: (m["label"]["zh-Hant"][0], m["value"]) for m in manifest["metadata"]}
    assert list(pairs) == ["Title", "Creator", "Edition", "Binding", "Layout", "Call number", "Census number", "Volume",
                           "Persistent identifier"]
    assert pairs["Creator"] == ("著者", {"zh": ["（清）紀昀纂；（清）陸錫熊纂"]})
    assert pairs["Call number"] == ("索書號", {"none": ["善 1234"]})
    assert pairs["Volume"] == ("冊", {"zh": ["第二冊"]})


def test_empty_catalogue_fields_are_left_out(tmp_path: Path) -> None:
    batch = replace(make_batch(tmp_path), creators=(), edition="", census_number="", source_organization="")
    manifest = build_manifest(batch, make_sources(batch), base_url=BASE)
    labels = [m["label"]["en"][0] for m in manifest["metadata"]]
    assert "Creator" not in labels and "Edition" not in labels and "Census number" not in labels
    assert "requiredStatement" not in manifest
    assert json_errors(manifest, SCHEMA) == []


def test_dump_is_stable_utf8_json(tmp_path: Path, manifest: dict) -> None:
    batch = make_batch(tmp_path)
    again = build_manifest(batch, make_sources(batch), base_url=BASE + "/")
    text = dump_manifest(manifest)
    assert dump_manifest(again) == text
    assert "欽定四庫全書總目" in text and "\\u" not in text
    assert text.endswith("}\n")
