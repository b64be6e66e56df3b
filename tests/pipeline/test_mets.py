"""METS/MODS/PREMIS: built from a Batch, validated against the bundled wrapper XSD."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

import pipeline
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
from pipeline.checksums import Digests
from pipeline.errors import ValidationError
from pipeline.mets import MetsFiles, PageFiles, PayloadFile, build_mets, href_of, serialize_mets
from pipeline.premis import Agent, AgentType, Event, EventType, FileObject, Outcome, premis_xml
from pipeline.validation import validate_xml, xml_errors
from pipeline.xmlns import NAMESPACES

NS = {**NAMESPACES, "xml": "http://www.w3.org/XML/1998/namespace"}
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone(timedelta(hours=8)))
TESSERACT = Agent("tesseract", AgentType.SOFTWARE, "5.3.0")
SHUYING = Agent("shuying", AgentType.SOFTWARE, pipeline.__version__)
OPERATOR = Agent("张三", AgentType.PERSON, role="implementer")


def digests(seed: int) -> Digests:
    return Digests(size=1000 + seed, sha256=f"{seed:064x}", sha512=f"{seed:0128x}")


def make_batch(tmp_path: Path) -> Batch:
    pages = (
        Page(1, "封面.tif", "封面", PageType.COVER),
        Page(2, "扫描 002.tif", "卷一 葉一上"),
        Page(3, "扫描 003.tif", "卷一 葉一下"),
        Page(4, "target.tif", "色卡", PageType.COLOUR_TARGET),
    )
    return Batch(
        root=tmp_path / "batch-2024-05-01",
        item_id="jlpl-0001",
        title="欽定四庫全書總目",
        material_type=MaterialType.ANCIENT_BOOK,
        script_direction=ScriptDirection.VERTICAL_RL,
        languages=("lzh", "zh-Hant"),
        access_level=AccessLevel.RESTRICTED,
        capture=Capture(station_id="cam-2", operator="张三"),
        pages=pages,
        call_number="善 1234",
        census_number="220000-0101-0001234",
        juan_count="二百卷",
        creators=(Creator("紀昀", "纂", "清"), Creator("某甲", "校")),
        edition="清乾隆武英殿刻本",
        annotations=("清某某朱筆批校",),
        seals=("吉林省圖書館藏書印", "某某珍藏"),
        binding="线装",
        extant="存卷一至十",
        layout="半葉十行，行二十一字，白口，四周雙邊",
        volume_number=2,
        volume_label="第二冊",
        source_organization="吉林省图书馆",
    )


def make_files(batch: Batch) -> MetsFiles:
    pages = {}
    for page in batch.pages:
        has_text = page.page_type is PageType.PAGE
        pages[page.page_id] = PageFiles(
            master=PayloadFile(f"data/masters/{page.file}", digests(page.order)),
            alto=PayloadFile(f"data/ocr/{page.page_id}.alto.xml", digests(100 + page.order)) if has_text else None,
            text=PayloadFile(f"data/ocr/{page.page_id}.txt", digests(200 + page.order)) if has_text else None,
        )
    metadata = (PayloadFile("data/qc.json", digests(300)), PayloadFile("data/batch.json", digests(301)))
    return MetsFiles(pages=pages, metadata=metadata)


def make_events() -> list[Event]:
    return [
        Event(
            EventType.MESSAGE_DIGEST_CALCULATION,
            "2024-05-01T09:00:00+08:00",
            "SHA-256 and SHA-512 of masters",
            Outcome.SUCCESS,
            agents=(SHUYING,),
            object_ids=("jlpl-0001",),
        ),
        Event(
            EventType.VALIDATION,
            "2024-05-01T09:10:00+08:00",
            "image quality control",
            Outcome.WARNING,
            "sharpness 0.41 below 0.5",
            agents=(SHUYING, OPERATOR),
            object_ids=("p0002",),
        ),
        Event(
            EventType.CREATION,
            "2024-05-01T09:20:00+08:00",
            "OCR text and ALTO data/ocr/p0002.alto.xml",
            Outcome.SUCCESS,
            agents=(TESSERACT,),
            object_ids=("data/masters/扫描 002.tif",),
        ),
    ]


@pytest.fixture
def batch(tmp_path: Path) -> Batch:
    return make_batch(tmp_path)


@pytest.fixture
def mets(batch: Batch) -> etree._ElementTree:
    return build_mets(batch, make_files(batch), make_events(), now=NOW)


def test_mets_validates_against_the_wrapper_schema(mets: etree._ElementTree) -> None:
    validate_xml(mets, "mets", document="mets.xml")
    # and once more after a round trip through bytes, as it will be read from the AIP
    assert xml_errors(etree.fromstring(serialize_mets(mets)), "mets") == []


def test_two_builds_are_byte_identical_whatever_the_event_order(batch: Batch) -> None:
    first = serialize_mets(build_mets(batch, make_files(batch), make_events(), now=NOW))
    second = serialize_mets(build_mets(batch, make_files(batch), list(reversed(make_events())), now=NOW))
    assert first == second
    later = serialize_mets(build_mets(batch, make_files(batch), make_events(), now=NOW + timedelta(seconds=1)))
    assert later != first


def test_chinese_text_is_written_as_utf8_not_character_references(mets: etree._ElementTree) -> None:
    data = serialize_mets(mets)
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert "卷一 葉一上".encode() in data
    assert b"&#" not in data


def test_a_page_div_with_an_unknown_attribute_fails_validation(mets: etree._ElementTree) -> None:
    div = mets.find(".//mets:div[@TYPE='page']", NS)
    div.set("PAGETYPE", "page")
    with pytest.raises(ValidationError) as caught:
        validate_xml(mets, "mets", document="mets.xml")
    assert caught.value.document == "mets.xml"
    assert any("PAGETYPE" in e and "not allowed" in e for e in caught.value.errors)


def test_a_mets_without_structmap_fails_validation(mets: etree._ElementTree) -> None:
    root = mets.getroot()
    for struct_map in root.findall("mets:structMap", NS):
        root.remove(struct_map)
    errors = xml_errors(mets, "mets")
    assert any("structMap" in e for e in errors)


def test_invalid_embedded_mods_is_caught_by_the_wrapper(mets: etree._ElementTree) -> None:
    mods = mets.find(".//mods:mods", NS)
    etree.SubElement(mods, f"{{{NS['mods']}}}dynasty").text = "清"
    assert any("dynasty" in e for e in xml_errors(mets, "mets"))


def test_header_names_the_software_and_the_library(mets: etree._ElementTree) -> None:
    header = mets.find("mets:metsHdr", NS)
    assert header.get("CREATEDATE") == "2024-05-01T12:00:00+08:00"
    names = [(a.get("TYPE"), a.findtext("mets:name", namespaces=NS)) for a in header.findall("mets:agent", NS)]
    assert names == [("OTHER", f"shuying {pipeline.__version__}"), ("ORGANIZATION", "吉林省图书馆")]


def test_pages_appear_in_reading_order_with_labels_types_and_all_their_files(mets: etree._ElementTree) -> None:
    sequence = mets.find("mets:structMap[@TYPE='PHYSICAL']/mets:div[@TYPE='physSequence']", NS)
    divs = sequence.findall("mets:div", NS)
    assert [(d.get("ORDER"), d.get("TYPE"), d.get("LABEL")) for d in divs] == [
        ("1", "cover", "封面"),
        ("2", "page", "卷一 葉一上"),
        ("3", "page", "卷一 葉一下"),
        ("4", "colour-target", "色卡"),
    ]
    assert divs[1].get("ORDERLABEL") == "卷一 葉一上"
    assert [f.get("FILEID") for f in divs[1].findall("mets:fptr", NS)] == [
        "MASTER_p0002",
        "ALTO_p0002",
        "TEXT_p0002",
    ]
    assert [f.get("FILEID") for f in divs[0].findall("mets:fptr", NS)] == ["MASTER_p0001"]
    assert [f.get("FILEID") for f in sequence.findall("mets:fptr", NS)] == ["METADATA_0001", "METADATA_0002"]


def test_file_section_carries_sizes_checksums_and_relative_hrefs(mets: etree._ElementTree) -> None:
    groups = [g.get("USE") for g in mets.findall(".//mets:fileGrp", NS)]
    assert groups == ["MASTER", "ALTO", "TEXT", "METADATA"]
    master = mets.find(".//mets:file[@ID='MASTER_p0002']", NS)
    assert (master.get("MIMETYPE"), master.get("SIZE"), master.get("CHECKSUMTYPE")) == ("image/tiff", "1002", "SHA-256")
    assert master.get("CHECKSUM") == digests(2).sha256
    href = master.find("mets:FLocat", NS).get(f"{{{NS['xlink']}}}href")
    assert href == "masters/扫描%20002.tif"


@pytest.mark.parametrize(
    ("bag_path", "href"),
    [
        ("data/masters/p0001.tif", "masters/p0001.tif"),
        ("data/masters/扫描 001.tif", "masters/扫描%20001.tif"),
        ("data/masters/100%.tif", "masters/100%25.tif"),
        ("data/masters/a#b?.tif", "masters/a%23b%3F.tif"),
    ],
)
def test_href_is_relative_to_data_and_uri_escaped(bag_path: str, href: str) -> None:
    assert href_of(bag_path) == href


def test_mods_describes_the_rare_book(mets: etree._ElementTree) -> None:
    mods = mets.find(".//mods:mods", NS)
    title_info = mods.find("mods:titleInfo", NS)
    assert title_info.get(f"{{{NS['xml']}}}lang") == "zh-Hant" and title_info.get("script") == "Hant"
    assert title_info.findtext("mods:title", namespaces=NS) == "欽定四庫全書總目"
    first, second = mods.findall("mods:name", NS)
    assert [p.text for p in first.findall("mods:namePart", NS)] == ["紀昀", "清"]
    assert first.find("mods:namePart[@type='date']", NS).text == "清"
    assert first.findtext("mods:displayForm", namespaces=NS) == "（清）紀昀"
    assert [t.text for t in first.findall("mods:role/mods:roleTerm", NS)] == ["纂", "com"]
    assert [t.text for t in second.findall("mods:role/mods:roleTerm", NS)] == ["校"]  # no guessed code
    assert mods.findtext("mods:originInfo/mods:edition", namespaces=NS) == "清乾隆武英殿刻本"
    physical = mods.find("mods:physicalDescription", NS)
    assert physical.findtext("mods:form[@type='binding']", namespaces=NS) == "线装"
    assert physical.findtext("mods:extent", namespaces=NS) == "二百卷"
    assert physical.findtext("mods:note[@type='layout']", namespaces=NS) == "半葉十行，行二十一字，白口，四周雙邊"
    assert physical.findtext("mods:note[@type='extant']", namespaces=NS) == "存卷一至十"
    assert [n.text for n in mods.findall("mods:note[@type='ownership']", NS)] == ["吉林省圖書館藏書印", "某某珍藏"]
    assert mods.findtext("mods:note[@type='handwritten']", namespaces=NS) == "清某某朱筆批校"
    assert mods.findtext("mods:identifier[@type='local']", namespaces=NS) == "jlpl-0001"
    assert mods.findtext("mods:identifier[@type='census']", namespaces=NS) == "220000-0101-0001234"
    assert mods.findtext("mods:location/mods:shelfLocator", namespaces=NS) == "善 1234"
    assert [t.text for t in mods.findall("mods:language/mods:languageTerm[@authority='rfc5646']", NS)] == [
        "lzh",
        "zh-Hant",
    ]
    assert mods.findtext("mods:accessCondition[@type='restriction on access']", namespaces=NS) == "restricted"
    assert mods.findtext("mods:part/mods:detail[@type='volume']/mods:number", namespaces=NS) == "2"
    assert mods.findtext("mods:part/mods:detail[@type='volume']/mods:caption", namespaces=NS) == "第二冊"


def test_events_are_linked_to_their_pages_and_the_batch(mets: etree._ElementTree) -> None:
    def event_type(md_id: str) -> str:
        return mets.findtext(f".//mets:digiprovMD[@ID='{md_id}']//premis:eventType", namespaces=NS)

    sequence = mets.find(".//mets:div[@TYPE='physSequence']", NS)
    assert [event_type(i) for i in sequence.get("ADMID").split()] == ["message digest calculation"]
    page_two = mets.find(".//mets:div[@ID='PHYS_p0002']", NS)
    # the QC event names the page id, the OCR event the master's path: both land on p0002
    assert [event_type(i) for i in page_two.get("ADMID").split()] == ["validation", "creation"]
    assert mets.find(".//mets:div[@ID='PHYS_p0003']", NS).get("ADMID") is None
    outcome = mets.find(".//premis:event[premis:eventType='validation']//premis:eventOutcome", NS)
    assert outcome.text == "warning"


def test_an_event_about_every_page_is_linked_once_from_the_sequence(batch: Batch) -> None:
    every_page = tuple(p.page_id for p in batch.pages)
    capture = Event(
        EventType.CAPTURE, "2024-04-30", "station cam-2", Outcome.SUCCESS, agents=(OPERATOR,), object_ids=every_page
    )
    two_pages = Event(
        EventType.FIXITY_CHECK, "2024-05-01T11:00:00+08:00", "re-read", Outcome.SUCCESS, object_ids=("p0001", "p0004")
    )
    tree = build_mets(batch, make_files(batch), [capture, two_pages], now=NOW)
    sequence = tree.find(".//mets:div[@TYPE='physSequence']", NS)
    assert sequence.get("ADMID") == "EVENT_0001"
    assert [d.get("ADMID") for d in sequence.findall("mets:div", NS)] == ["EVENT_0002", None, None, "EVENT_0002"]
    assert xml_errors(tree, "mets") == []


def test_agents_and_master_fixity_are_in_the_amdsec(mets: etree._ElementTree) -> None:
    agents = {
        a.findtext("premis:agentIdentifier[premis:agentIdentifierType='local']/premis:agentIdentifierValue",
                   namespaces=NS)
        for a in mets.findall(".//premis:agent", NS)
    }
    assert agents == {SHUYING.identifier, "tesseract-5.3.0", "张三"}
    # Every event links its agents by the UUID the agent is described with.
    described = {v.text for v in mets.findall(".//premis:agentIdentifierValue", NS)}
    links = {v.text for v in mets.findall(".//premis:linkingAgentIdentifierValue", NS)}
    assert links and links <= described
    master = mets.find(".//mets:techMD[@ID='TECH_p0002']//premis:object", NS)
    fixity = {
        f.findtext("premis:messageDigestAlgorithm", namespaces=NS): f.findtext("premis:messageDigest", namespaces=NS)
        for f in master.findall(".//premis:fixity", NS)
    }
    assert fixity == {"SHA-256": digests(2).sha256, "SHA-512": digests(2).sha512}
    assert master.findtext("premis:originalName", namespaces=NS) == "扫描 002.tif"
    assert mets.find(".//mets:file[@ID='MASTER_p0002']", NS).get("ADMID") == "TECH_p0002"


def test_a_page_without_a_master_is_refused(batch: Batch) -> None:
    files = make_files(batch)
    pages = {k: v for k, v in files.pages.items() if k != "p0003"}
    with pytest.raises(ValueError, match="p0003"):
        build_mets(batch, MetsFiles(pages=pages, metadata=files.metadata), [], now=NOW)


def test_the_same_event_handed_in_twice_is_recorded_once(batch: Batch) -> None:
    events = make_events()
    tree = build_mets(batch, make_files(batch), [*events, events[1]], now=NOW)
    assert len(tree.findall(".//premis:event", NS)) == 3
    assert xml_errors(tree, "mets") == []


def test_event_survives_a_json_round_trip_with_a_stable_identifier() -> None:
    event = make_events()[1]
    copy = Event.from_dict(json.loads(json.dumps(event.as_dict(), ensure_ascii=False)))
    assert copy.identifier == event.identifier
    assert copy.identifier.startswith("urn:uuid:")
    assert (copy.event_type, copy.outcome, copy.agents, copy.object_ids) == (
        EventType.VALIDATION,
        Outcome.WARNING,
        (SHUYING, OPERATOR),
        ("p0002",),
    )
    assert Event(EventType.VALIDATION, event.date_time, "other detail", Outcome.SUCCESS).identifier != event.identifier
    assert Event(EventType.FIXITY_CHECK, "t", "", Outcome.SUCCESS, event_id="evt-1").identifier == "evt-1"


def test_unknown_event_type_from_json_is_refused() -> None:
    data = {**make_events()[0].as_dict(), "event_type": "ocr"}
    with pytest.raises(ValueError, match="ocr"):
        Event.from_dict(data)


def test_premis_document_validates_and_links_agents() -> None:
    master = FileObject("p0001", digests(1), "TIFF", original_name="封面.tif")
    document = premis_xml(make_events(), [SHUYING, TESSERACT, SHUYING], [master])
    assert xml_errors(document, "premis") == []
    assert [a.findtext("premis:agentName", namespaces=NS) for a in document.findall("premis:agent", NS)] == [
        "shuying",
        "tesseract",
    ]
    links = document.findall(".//premis:linkingAgentIdentifier/premis:linkingAgentIdentifierValue", NS)
    assert [link.text for link in links] == [SHUYING.uuid, SHUYING.uuid, OPERATOR.uuid, TESSERACT.uuid]
    assert document.find(".//premis:size", NS).text == "1001"


def test_a_split_master_is_one_file_and_two_page_divs_each_pointing_at_its_region(batch: Batch) -> None:
    split = replace(batch, pages=tuple(replace(p, split=True) if p.order == 2 else p for p in batch.pages))
    files = make_files(batch)
    master = files.pages["p0002"].master
    pages = {k: v for k, v in files.pages.items() if k != "p0002"}
    for leaf_id, region in (("p0002r", (2400, 0, 4800, 3500)), ("p0002l", (0, 0, 2400, 3500))):
        pages[leaf_id] = PageFiles(master=master, region=region,
                                   alto=PayloadFile(f"data/ocr/{leaf_id}.alto.xml", digests(len(leaf_id) + 500)))
    events = [*make_events(), Event(EventType.CREATION, "2024-05-01T09:30:00+08:00", "access derivative",
                                    Outcome.SUCCESS, agents=(SHUYING,), object_ids=("p0002l",))]

    mets = build_mets(split, MetsFiles(pages=pages, metadata=files.metadata), events, now=NOW)

    validate_xml(mets, "mets", document="mets.xml")
    ns = NAMESPACES
    assert len(mets.xpath("//mets:fileGrp[@USE='MASTER']/mets:file[@ID='MASTER_p0002']", namespaces=ns)) == 1
    divs = mets.xpath("//mets:structMap[@TYPE='PHYSICAL']/mets:div/mets:div", namespaces=ns)
    assert [(d.get("ID"), d.get("ORDER"), d.get("LABEL")) for d in divs] == [
        ("PHYS_p0001", "1", "封面"), ("PHYS_p0002r", "2", "卷一 葉一上a"), ("PHYS_p0002l", "3", "卷一 葉一上b"),
        ("PHYS_p0003", "4", "卷一 葉一下"), ("PHYS_p0004", "5", "色卡")]
    areas = [(a.get("FILEID"), a.get("SHAPE"), a.get("COORDS")) for a in mets.xpath("//mets:area", namespaces=ns)]
    assert areas == [("MASTER_p0002", "RECT", "2400,0,4800,3500"), ("MASTER_p0002", "RECT", "0,0,2400,3500")]
    left = divs[2]
    assert left.xpath("mets:fptr/@FILEID", namespaces=ns) == ["ALTO_p0002l"]
    # The derivative event of the left leaf is on its div only; the QC event about the master on both leaves.
    event_of = {d.get("ID"): d.get("ADMID", "").split() for d in divs}
    derivative_event = mets.xpath("//mets:digiprovMD[.//premis:eventDetailInformation or .//premis:eventType]"
                                  "[contains(., 'access derivative')]/@ID", namespaces=ns)[0]
    assert derivative_event in event_of["PHYS_p0002l"] and derivative_event not in event_of["PHYS_p0002r"]
    qc_event = mets.xpath("//mets:digiprovMD[contains(., 'image quality control')]/@ID", namespaces=ns)[0]
    assert qc_event in event_of["PHYS_p0002r"] and qc_event in event_of["PHYS_p0002l"]
