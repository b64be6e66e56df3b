"""A record in METS: its own amdSec with the record, a PREMIS treatment event and agents, images linked to pages."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from lxml import etree

from pipeline.batch import load_batch
from pipeline.checksums import Digests
from pipeline.conservation import add_revision, describe_item, load_vocabularies, parse_record
from pipeline.mets import MetsFiles, PageFiles, PayloadFile, build_mets, serialize_mets
from pipeline.premis import Agent, AgentType
from pipeline.sample_book import write_sample_batch
from pipeline.validation import parse_xml_safely, validate_xml
from pipeline.xmlns import NAMESPACES
from tests.conservation.helpers import ITEM, record_doc

NS = NAMESPACES
NOW = datetime(2025, 4, 1, 9, 30, tzinfo=UTC)
BASE = "CONS_CR-2025-0001_R1"


def digests(seed: int) -> Digests:
    return Digests(1000 + seed, f"{seed:064x}", f"{seed:0128x}")


@pytest.fixture(scope="module")
def ingest_mets(tmp_path_factory) -> etree._ElementTree:
    """The METS ingest would write for a two-page sample book (digests made up)."""
    folder = tmp_path_factory.mktemp("mets")
    batch = load_batch(write_sample_batch(folder / "batch", pages=2, width=300, height=450, item_id=ITEM))
    pages = {p.page_id: PageFiles(PayloadFile(f"data/masters/{p.page_id}.tif", digests(p.order)))
             for p in batch.pages}
    tree = build_mets(batch, MetsFiles(pages), [], now=NOW)
    return parse_xml_safely(serialize_mets(tree))


def saved_record(revision: int = 1, **changes):
    record = parse_record(record_doc(**changes), load_vocabularies(), document="r.json", today=date(2025, 4, 1))
    image = replace(record.images[0], path="data/conservation/CR-2025-0001/r1/before-p0002.jpg", digests=digests(7))
    return replace(record, images=(image,)).saved("CR-2025-0001", revision, "zhang", NOW.isoformat())


def add(tree, record):
    record_file = PayloadFile(f"data/conservation/CR-2025-0001/r{record.revision}.json", digests(20 + record.revision))
    return add_revision(tree, record, record_file, load_vocabularies(), now=NOW)


def test_the_new_mets_validates_and_holds_the_record(ingest_mets):
    tree = add(ingest_mets, saved_record())
    validate_xml(parse_xml_safely(serialize_mets(tree)), "mets")
    amd = tree.find(f"mets:amdSec[@ID='AMD_{BASE}']", NS)
    assert [e.get("ID") for e in amd] == [f"{BASE}_TECH_1", f"{BASE}_RECORD", f"{BASE}_EVENT", f"{BASE}_AGENT_1",
                                          f"{BASE}_AGENT_2"]
    ref = amd.find("mets:digiprovMD/mets:mdRef", NS)
    assert (ref.get(f"{{{NS['xlink']}}}href"), ref.get("CHECKSUM"), ref.get("OTHERMDTYPE")) == (
        "conservation/CR-2025-0001/r1.json", digests(21).sha256, "SHUYING-CONSERVATION")
    assert amd.find("mets:digiprovMD", NS).get("STATUS") == "current"
    assert tree.getroot().find("mets:metsHdr", NS).get("LASTMODDATE") == "2025-04-01T09:30:00+00:00"


def test_the_treatment_event_names_the_conservators_and_the_pages(ingest_mets):
    tree = add(ingest_mets, saved_record())
    event = tree.find(f".//mets:digiprovMD[@ID='{BASE}_EVENT']//premis:event", NS)
    assert event.findtext("premis:eventType", namespaces=NS) == "conservation treatment"
    assert event.findtext("premis:eventDateTime", namespaces=NS) == "2025-03-03/2025-03-20"
    assert event.findtext(".//premis:eventDetail", namespaces=NS) == \
        "修复 CR-2025-0001 revision 1: 去污 cleaning; 补洞 infilling; 压平 flattening"
    agents = [(a.findtext("premis:linkingAgentIdentifierValue", namespaces=NS),
               a.findtext("premis:linkingAgentRole", namespaces=NS))
              for a in event.findall("premis:linkingAgentIdentifier", NS)]
    people = [Agent("张修", AgentType.PERSON), Agent("李审", AgentType.PERSON)]
    assert agents == [(people[0].uuid, "implementer"), (people[1].uuid, "validator")]
    objects = [o.findtext("premis:linkingObjectIdentifierValue", namespaces=NS)
               for o in event.findall("premis:linkingObjectIdentifier", NS)]
    # Linked by UUID: the page to its master's PREMIS object, the image to its own.
    uuid_of = {}
    for obj in tree.iter(f"{{{NS['premis']}}}object"):
        ids = {i.findtext("premis:objectIdentifierType", namespaces=NS): i.findtext("premis:objectIdentifierValue",
                                                                                     namespaces=NS)
               for i in obj.findall("premis:objectIdentifier", NS)}
        uuid_of[ids["local"]] = ids["UUID"]
    assert objects == [uuid_of["p0002"], uuid_of[f"{BASE}_IMG_1"]]
    assert {t.text for t in event.iter(f"{{{NS['premis']}}}eventIdentifierType")} == {"UUID"}
    names = tree.xpath(f"//mets:digiprovMD[starts-with(@ID, '{BASE}_AGENT')]//premis:agentName/text()", namespaces=NS)
    assert names == ["张修", "李审"]


def test_images_have_their_own_file_group_linked_to_the_affected_page(ingest_mets):
    tree = add(ingest_mets, saved_record())
    [image] = tree.findall(".//mets:fileGrp[@USE='CONSERVATION']/mets:file", NS)
    assert (image.get("ID"), image.get("USE"), image.get("CHECKSUM"), image.get("ADMID")) == (
        f"{BASE}_IMG_1", "before", digests(7).sha256, f"{BASE}_TECH_1 {BASE}_EVENT")
    page = tree.find(".//mets:div[@ID='PHYS_p0002']", NS)
    assert page.xpath("mets:fptr/@FILEID", namespaces=NS)[-1] == f"{BASE}_IMG_1"
    assert page.get("ADMID").split()[-2:] == [f"{BASE}_RECORD", f"{BASE}_EVENT"]
    cover = tree.find(".//mets:div[@ID='PHYS_p0001']", NS)
    assert f"{BASE}_IMG_1" not in cover.xpath("mets:fptr/@FILEID", namespaces=NS)


def test_a_whole_item_record_links_to_the_book_div_before_its_page_divs(ingest_mets):
    tree = add(ingest_mets, saved_record(scope={"whole_item": True}))
    validate_xml(parse_xml_safely(serialize_mets(tree)), "mets")
    sequence = tree.find(".//mets:structMap/mets:div", NS)
    children = [etree.QName(c).localname + ":" + (c.get("FILEID") or c.get("ID")) for c in sequence]
    assert children == [f"fptr:{BASE}_IMG_1", "div:PHYS_p0001", "div:PHYS_p0002"]
    assert f"{BASE}_EVENT" in sequence.get("ADMID").split()


def test_an_amendment_supersedes_the_earlier_revision_and_reuses_its_image_file(ingest_mets):
    first = add(ingest_mets, saved_record())
    second = add(first, saved_record(revision=2, notes="补记"))
    validate_xml(parse_xml_safely(serialize_mets(second)), "mets")
    statuses = {md.get("ID"): md.get("STATUS") for md in second.iterfind(".//mets:digiprovMD[@STATUS]", NS)}
    assert statuses == {f"{BASE}_RECORD": "superseded", "CONS_CR-2025-0001_R2_RECORD": "current"}
    assert len(second.findall(".//mets:fileGrp[@USE='CONSERVATION']/mets:file", NS)) == 1
    assert second.find(".//mets:amdSec[@ID='AMD_CONS_CR-2025-0001_R2']/mets:techMD", NS) is None
    with pytest.raises(ValueError, match="in the METS already"):
        add(second, saved_record(revision=2))


def test_describe_item_reads_title_call_number_and_pages(ingest_mets):
    item = describe_item(ingest_mets)
    assert (item.item_id, item.title, item.call_number) == (ITEM, "論語十卷", "善 000001")
    assert [(p.page_id, p.label) for p in item.pages] == [("p0001", "封面"), ("p0002", "卷一 葉一上")]


def test_the_input_tree_is_not_changed(ingest_mets):
    before = serialize_mets(ingest_mets)
    add(ingest_mets, saved_record())
    assert serialize_mets(ingest_mets) == before
