"""The logical structure (work > 冊 > 卷 > sections): batch.json ranges, METS LOGICAL map, manifest ranges."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree

from pipeline.batch import load_batch
from pipeline.errors import BatchError
from pipeline.manifest import CanvasSource, build_manifest, image_service_id
from pipeline.mets import MetsFiles, PageFiles, PayloadFile, build_mets
from pipeline.sample_book import write_sample_batch
from pipeline.structure import Division, LeafRef, logical_structure, parse_structure
from pipeline.validation import json_errors, validate_xml
from pipeline.xmlns import NAMESPACES
from tests.pipeline.test_batch import edit_doc, problems_of
from tests.pipeline.test_mets import NOW, digests, make_events

LEAVES = [LeafRef(f"p{i:04d}", label) for i, label in enumerate(["封面", "1a", "1b", "2a", "2b", "3a", "3b"], 1)]
BASE = "https://iiif.example.org"


def entry(label: str, first: str, last: str, kind: str = "juan", **more) -> dict:
    return {"type": kind, "label": label, "first": first, "last": last, **more}


def test_ranges_resolve_to_leaves_in_reading_order_with_nested_sections() -> None:
    sections = [entry("序", "1a", "1b", "preface"), entry("本紀", "2a", "3b", "section")]
    divisions, problems = parse_structure([entry("卷一", "1a", "3b", sections=sections)], LEAVES)
    assert problems == []
    (juan,) = divisions
    assert (juan.kind, juan.label, juan.leaf_ids) == ("juan", "卷一", ("p0002", "p0003", "p0004", "p0005", "p0006",
                                                                      "p0007"))
    assert [(d.label, d.leaf_ids) for d in juan.children] == [("序", ("p0002", "p0003")),
                                                              ("本紀", ("p0004", "p0005", "p0006", "p0007"))]


def test_neighbours_may_share_their_boundary_leaf() -> None:
    divisions, problems = parse_structure([entry("卷一", "1a", "2a"), entry("卷二", "2a", "3b")], LEAVES)
    assert problems == []
    assert [d.leaf_ids[-1] for d in divisions] == ["p0004", "p0007"]
    assert divisions[1].leaf_ids[0] == "p0004"


def test_a_page_id_names_a_leaf_whose_label_is_ambiguous() -> None:
    leaves = [LeafRef("p0001", "1"), LeafRef("p0002", "1"), LeafRef("p0003", "2")]
    _, problems = parse_structure([entry("卷一", "1", "2")], leaves)
    assert [str(p) for p in problems] == [
        "batch.json: structure[0].first: '1' labels 2 leaves (p0001, p0002) (give the page id of the one meant instead)"]
    divisions, problems = parse_structure([entry("卷一", "p0002", "2")], leaves)
    assert problems == [] and divisions[0].leaf_ids == ("p0002", "p0003")


@pytest.mark.parametrize(("entries", "message"), [
    ([entry("卷一", "9a", "3b")], "structure[0].first: no leaf is labelled '9a'"),
    ([entry("卷一", "3a", "1b")], "structure[0]: '卷一' ends (1b) before it begins (3a) in reading order"),
    ([entry("卷一", "1a", "2b"), entry("卷二", "2a", "3b")], "structure: '卷二' (2a–3b) overlaps or precedes '卷一'"),
    ([entry("卷二", "2a", "3b"), entry("卷一", "1a", "1b")], "structure: '卷一' (1a–1b) overlaps or precedes '卷二'"),
    ([entry("卷一", "1a", "2b", sections=[entry("序", "1a", "3a", "preface")])],
     "structure[0].sections[0]: '序' runs outside the division that holds it (leaves 1a–2b)"),
])
def test_bad_ranges_are_refused_naming_the_field(entries: list[dict], message: str) -> None:
    divisions, problems = parse_structure(entries, LEAVES)
    assert divisions == ()
    assert any(message in str(p) for p in problems), [str(p) for p in problems]


def test_the_work_holds_the_volume_only_when_the_batch_is_one_volume_of_several() -> None:
    juan = Division("juan", "卷一", ("p0002",))
    single = logical_structure("論語", ["p0001", "p0002"], [juan])
    assert (single.mets_type, [c.label for c in single.children]) == ("monograph", ["卷一"])
    several = logical_structure("論語", ["p0001", "p0002"], [juan], volume_number=2)
    assert several.mets_type == "multivolume_work"
    assert [(c.mets_type, c.label) for c in several.children] == [("volume", "第2冊")]
    assert several.children[0].children == (juan,)


# --- through batch.json -------------------------------------------------------------------------


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """Cover + six text pages: the sample book gives 卷一 with two sections (學而, 為政)."""
    return write_sample_batch(tmp_path / "sample", pages=7, width=300, height=420, item_id="GJ-0007")


def test_batch_json_structure_loads_against_its_leaves(sample: Path) -> None:
    batch = load_batch(sample)
    (juan,) = batch.structure
    assert (juan.label, juan.leaf_ids[0], juan.leaf_ids[-1]) == ("卷一", "p0002", "p0007")
    assert [c.label for c in juan.children] == ["學而第一", "為政第二"]
    logical = batch.logical
    assert (logical.kind, logical.label) == ("multivolume_work", "論語十卷")  # the sample is 第一冊 of its work
    assert logical.children[0].label == "第一冊"


def test_a_split_image_is_addressed_by_its_leaf_labels(sample: Path) -> None:
    def split_second(doc: dict) -> None:
        doc["pages"][1]["split"] = {"x": 150}
        doc["pages"][1]["leaf_labels"] = ["一上右", "一上左"]
        doc["structure"] = [entry("卷一", "一上左", doc["pages"][-1]["label"])]
    edit_doc(sample, split_second)
    assert load_batch(sample).structure[0].leaf_ids[:2] == ("p0002l", "p0003")


def test_a_bad_structure_in_batch_json_is_one_clear_problem(sample: Path) -> None:
    edit_doc(sample, lambda doc: doc.update(structure=[entry("卷一", "葉九上", "卷一 葉一上")]))
    assert problems_of(sample) == ["batch.json: structure[0].first: no leaf is labelled '葉九上' (give a leaf's "
                                   "label as in pages (3a, 3b for a split image) or its id (p0003r))"]
    edit_doc(sample, lambda doc: doc.update(structure=[{"type": "chapter", "label": "x", "first": "a", "last": "b"}]))
    with pytest.raises(BatchError, match="structure"):
        load_batch(sample)


# --- the same tree in METS and in the manifest ----------------------------------------------------


def files_for(batch) -> MetsFiles:
    return MetsFiles({leaf.page_id: PageFiles(PayloadFile(f"data/masters/{leaf.page_id}.tif", digests(leaf.order)))
                      for leaf in batch.leaves})


def test_mets_logical_map_and_struct_links_follow_the_structure(sample: Path) -> None:
    batch = load_batch(sample)
    mets = build_mets(batch, files_for(batch), make_events(), now=NOW)
    validate_xml(mets, "mets", document="mets.xml")
    ns = NAMESPACES
    logical = mets.find("mets:structMap[@TYPE='LOGICAL']", ns)
    divs = [(d.get("ID"), d.get("TYPE"), d.get("LABEL")) for d in logical.iter(f"{{{ns['mets']}}}div")]
    assert divs == [("LOG_0000", "multivolume_work", "論語十卷"), ("LOG_0001", "volume", "第一冊"),
                    ("LOG_0002", "chapter", "卷一"), ("LOG_0003", "section", "學而第一"),
                    ("LOG_0004", "section", "為政第二")]
    assert logical.find("mets:div", ns).get("DMDID") == "DMD_MODS"
    links: dict[str, list[str]] = {}
    for link in mets.iterfind("mets:structLink/mets:smLink", ns):
        links.setdefault(link.get(f"{{{ns['xlink']}}}from"), []).append(link.get(f"{{{ns['xlink']}}}to"))
    assert links["LOG_0000"] == ["PHYS_0000"]
    assert links["LOG_0003"] == ["PHYS_p0002", "PHYS_p0003", "PHYS_p0004"]
    assert links["LOG_0004"] == ["PHYS_p0005", "PHYS_p0006", "PHYS_p0007"]
    physical = {d.get("ID") for d in mets.iterfind(".//mets:structMap[@TYPE='PHYSICAL']//mets:div", ns)}
    assert {to for targets in links.values() for to in targets} <= physical


def test_manifest_ranges_are_the_logical_divisions_with_matching_ids(sample: Path) -> None:
    batch = load_batch(sample)
    sources = [CanvasSource(leaf, 300, 420, image_service_id(BASE, batch.item_id, leaf)) for leaf in batch.leaves]
    manifest = build_manifest(batch, sources, base_url=BASE)
    assert json_errors(manifest, "iiif-presentation-3.0") == []
    (juan,) = manifest["structures"]
    assert (juan["id"], juan["type"], juan["label"]) == (
        f"{BASE}/iiif/GJ-0007/range/LOG_0002", "Range", {"zh-Hant": ["卷一"]})
    first, second = juan["items"]
    assert first["id"].endswith("/range/LOG_0003") and first["label"] == {"zh-Hant": ["學而第一"]}
    assert [c["id"].rsplit("/", 1)[1] for c in first["items"]] == ["p0002", "p0003", "p0004"]
    assert {c["type"] for c in second["items"]} == {"Canvas"}
    canvases = {c["id"] for c in manifest["items"]}
    assert {c["id"] for c in first["items"] + second["items"]} <= canvases


def test_without_a_structure_the_manifest_has_no_ranges_and_mets_only_the_work(sample: Path) -> None:
    batch = replace(load_batch(sample), structure=(), volume_label="", volume_number=1)
    sources = [CanvasSource(leaf, 300, 420, image_service_id(BASE, batch.item_id, leaf)) for leaf in batch.leaves]
    assert "structures" not in build_manifest(batch, sources, base_url=BASE)
    mets = build_mets(batch, files_for(batch), [], now=NOW)
    logical = mets.findall("mets:structMap[@TYPE='LOGICAL']//mets:div", NAMESPACES)
    assert [(d.get("TYPE"), d.get("LABEL")) for d in logical] == [("monograph", "論語十卷")]
    assert etree.QName(mets.getroot()[-1]).localname == "structLink"
