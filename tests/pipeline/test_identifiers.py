"""Persistent identifiers and PREMIS UUIDs; PRONOM formats in the METS amdSec."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from pipeline.errors import ShuyingError
from pipeline.formats import identify
from pipeline.identifiers import check_template, item_uuid, object_uuid, persistent_id, scheme_of
from pipeline.mets import MetsFiles, PageFiles, PayloadFile, build_mets, serialize_mets
from pipeline.validation import validate_xml
from pipeline.xmlns import NAMESPACES
from storage_config.settings import load_settings
from tests.pipeline.test_mets import NOW, digests, make_batch, make_events, make_files

NS = NAMESPACES


def test_the_default_identifier_is_a_stable_urn_uuid_of_the_item_id() -> None:
    first = persistent_id("", "GJ-0001")
    assert first == persistent_id("urn:uuid:{uuid}", "GJ-0001") == f"urn:uuid:{item_uuid('GJ-0001')}"
    assert uuid.UUID(first.removeprefix("urn:uuid:")).version == 5
    assert persistent_id("", "GJ-0002") != first


@pytest.mark.parametrize(("template", "expected", "scheme"), [
    ("ark:/12345/{item_id}", "ark:/12345/GJ-0001", "ark"),
    ("https://hdl.handle.net/20.500.12345/{item_id}", "https://hdl.handle.net/20.500.12345/GJ-0001", "hdl"),
    ("https://n2t.net/ark:/12345/{item_id}", "https://n2t.net/ark:/12345/GJ-0001", "ark"),
    ("https://lib.example.org/id/{item_id}", "https://lib.example.org/id/GJ-0001", "uri"),
])
def test_a_configured_template_makes_the_library_s_scheme(template: str, expected: str, scheme: str) -> None:
    assert persistent_id(template, "GJ-0001") == expected
    assert scheme_of(expected) == scheme


@pytest.mark.parametrize("template", ["ark:/12345/{itemid}", "ark:/12345/fixed", "ark:/{item_id", "{0}"])
def test_a_bad_template_is_refused_naming_it(template: str) -> None:
    with pytest.raises(ValueError, match="persistent_id template"):
        check_template(template)


def test_a_bad_template_in_the_settings_file_stops_at_load(tmp_path: Path) -> None:
    (tmp_path / "shuying.toml").write_text('persistent_id = "ark:/12345/{id}"\n', encoding="utf-8")
    with pytest.raises(ShuyingError, match=r"setting persistent_id: .*unknown: id"):
        load_settings(home=tmp_path, environ={})
    settings = load_settings(home=tmp_path, environ={"SHUYING_PERSISTENT_ID": "ark:/12345/{item_id}"})
    assert settings.persistent_id == "ark:/12345/{item_id}"


def test_an_object_uuid_changes_with_the_content_and_not_with_the_run() -> None:
    one = object_uuid("ark:/1/x", "data/masters/p0001.tif", "a" * 64)
    assert one == object_uuid("ark:/1/x", "data/masters/p0001.tif", "a" * 64)
    assert one != object_uuid("ark:/1/x", "data/masters/p0001.tif", "b" * 64)
    assert one != object_uuid("ark:/1/y", "data/masters/p0001.tif", "a" * 64)


# --- in METS ----------------------------------------------------------------------------------


def test_mets_names_the_item_by_its_persistent_id_and_carries_no_access_url(tmp_path: Path) -> None:
    batch = replace(make_batch(tmp_path), persistent_id="ark:/12345/jlpl-0001")
    mets = build_mets(batch, make_files(batch), make_events(), now=NOW)
    assert mets.getroot().get("OBJID") == "ark:/12345/jlpl-0001"
    assert mets.findtext(".//mods:identifier[@type='ark']", namespaces=NS) == "ark:/12345/jlpl-0001"
    assert mets.findtext(".//mods:identifier[@type='local']", namespaces=NS) == "jlpl-0001"
    text = serialize_mets(mets).decode("utf-8")
    assert "http://127.0.0.1" not in text and "/iiif/3/" not in text
    assert not mets.findall(".//mets:fileGrp[@USE='ACCESS']", NS)


def test_every_payload_file_is_a_premis_object_with_a_uuid_events_link_to(tmp_path: Path) -> None:
    batch = make_batch(tmp_path)
    mets = build_mets(batch, make_files(batch), make_events(), now=NOW)
    validate_xml(mets, "mets", document="mets.xml")
    files = mets.findall(".//mets:fileSec//mets:file", NS)
    tech = {t.get("ID"): t for t in mets.findall(".//mets:techMD", NS)}
    assert files and all(f.get("ADMID") in tech for f in files)
    uuids = {}
    for tech_id, element in tech.items():
        value = element.findtext(".//premis:objectIdentifier[premis:objectIdentifierType='UUID']/"
                                 "premis:objectIdentifierValue", namespaces=NS)
        uuids[tech_id] = str(uuid.UUID(value))
    assert len(set(uuids.values())) == len(tech)
    # The QC event names page p0002 and the OCR event the master's bag path: both now link p0002's UUID.
    links = {e.findtext("premis:eventDetailInformation/premis:eventDetail", namespaces=NS):
             [v.text for v in e.findall("premis:linkingObjectIdentifier/premis:linkingObjectIdentifierValue", NS)]
             for e in mets.iter(f"{{{NS['premis']}}}event")}
    assert links["image quality control"] == [uuids["TECH_p0002"]]
    assert links["OCR text and ALTO data/ocr/p0002.alto.xml"] == [uuids["TECH_p0002"]]
    assert links["SHA-256 and SHA-512 of masters"] == ["jlpl-0001"]  # the item is no file object: stays local
    event_ids = mets.findall(".//premis:eventIdentifier/premis:eventIdentifierType", NS)
    assert {e.text for e in event_ids} == {"UUID"}


def test_pronom_formats_identified_from_real_files_land_in_premis(tmp_path: Path) -> None:
    batch = make_batch(tmp_path)
    tiff, alto = tmp_path / "master.tif", tmp_path / "p0002.alto.xml"
    Image.new("L", (64, 64), 200).save(tiff, compression="raw")
    alto.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#"/>\n',
                    encoding="utf-8")
    files = make_files(batch)
    pages = dict(files.pages)
    pages["p0002"] = PageFiles(master=PayloadFile("data/masters/扫描 002.tif", digests(2), identify(tiff)),
                               alto=PayloadFile("data/ocr/p0002.alto.xml", digests(102), identify(alto)))
    mets = build_mets(batch, MetsFiles(pages, files.metadata), make_events(), now=NOW)
    validate_xml(mets, "mets", document="mets.xml")
    master = mets.find(".//mets:techMD[@ID='TECH_p0002']//premis:format", NS)
    assert master.findtext("premis:formatRegistry/premis:formatRegistryName", namespaces=NS) == "PRONOM"
    assert master.findtext("premis:formatRegistry/premis:formatRegistryKey", namespaces=NS) == identify(tiff).puid
    assert identify(tiff).puid.startswith("fmt/")
    assert master.findtext("premis:formatDesignation/premis:formatName", namespaces=NS) == identify(tiff).name
    alto_format = mets.find(".//mets:techMD[@ID='TECH_ALTO_p0002']//premis:format", NS)
    assert alto_format.findtext(".//premis:formatRegistryKey", namespaces=NS) == identify(alto).puid
    # A file given no identification keeps the suffix table's name and no registry entry.
    cover = mets.find(".//mets:techMD[@ID='TECH_p0001']//premis:format", NS)
    assert cover.find("premis:formatRegistry", NS) is None
    assert cover.findtext(".//premis:formatName", namespaces=NS) == "TIFF"
