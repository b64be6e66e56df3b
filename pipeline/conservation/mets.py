"""Put a conservation record into an item's METS, and read back what the form needs from a METS.

Each saved revision adds, to the METS of the item's previous AIP version::

    amdSec   AMD_<base>            one per revision (<base> = CONS_<record id>_R<revision>)
      techMD     <base>_TECH_n     PREMIS object (SHA-256, SHA-512, size, format) of each new image
      digiprovMD <base>_RECORD     mdRef to data/conservation/<id>/r<revision>.json with its SHA-256;
                                   STATUS "current", earlier revisions' become "superseded"
      digiprovMD <base>_EVENT      PREMIS event "conservation treatment", conservators as
                                   implementer agents, the reviewer as validator
      digiprovMD <base>_AGENT_n    PREMIS agent (person) for each of them
    fileSec  fileGrp USE="CONSERVATION": the before/after images (file USE = before, during, after)
    structMap the page divs (or the whole-book div) get an fptr to each image of theirs and
             the record and event ids in ADMID

The LoC eventType vocabulary has no term for treating the physical book, so the event
type is the local term "conservation treatment" with no authority attributes.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from pipeline.conservation.record import ConservationRecord, Dates, RecordImage
from pipeline.conservation.vocabulary import Vocabularies
from pipeline.identifiers import object_uuid, record_event_uuid
from pipeline.mets import PayloadFile, file_format, href_of
from pipeline.premis import Agent, AgentType, FileObject, agent_xml, object_xml
from pipeline.xmlns import NAMESPACES, XLINK_HREF, tag

__all__ = ["CONSERVATION_GROUP", "EVENT_TYPE", "ItemDescription", "MetsPage", "add_revision", "describe_item",
           "revision_base_id"]

CONSERVATION_GROUP = "CONSERVATION"
EVENT_TYPE = "conservation treatment"
RECORD_MDTYPE = "SHUYING-CONSERVATION"
NS = {"mets": NAMESPACES["mets"], "mods": NAMESPACES["mods"], "premis": NAMESPACES["premis"]}


@dataclass(frozen=True)
class MetsPage:
    page_id: str
    label: str
    order: int


@dataclass(frozen=True)
class ItemDescription:
    """What the METS says about an item that a conservator needs: title, call number, pages."""

    item_id: str
    title: str
    call_number: str
    pages: tuple[MetsPage, ...]


def describe_item(tree: etree._ElementTree) -> ItemDescription:
    """Return the item id, title, call number and pages (in reading order) of a METS document."""
    root = tree.getroot()
    title = root.xpath("string(mets:dmdSec//mods:titleInfo[not(@type)]/mods:title)", namespaces=NS)
    call_number = root.xpath("string(mets:dmdSec//mods:location/mods:shelfLocator)", namespaces=NS)
    divs = root.xpath("mets:structMap[@TYPE='PHYSICAL']/mets:div/mets:div[starts-with(@ID, 'PHYS_')]",
                      namespaces=NS)
    pages = [MetsPage(d.get("ID")[len("PHYS_"):], d.get("LABEL", ""), int(d.get("ORDER", "0"))) for d in divs]
    # The local id is in MODS; OBJID is the persistent identifier (the item id in AIPs written before it was).
    item_id = root.xpath("string(mets:dmdSec//mods:identifier[@type='local'])", namespaces=NS) or root.get("OBJID", "")
    return ItemDescription(item_id, title or root.get("LABEL", ""), call_number,
                           tuple(sorted(pages, key=lambda p: p.order)))


def revision_base_id(record: ConservationRecord) -> str:
    """Return the XML id stem of a saved revision, e.g. ``CONS_CR-2025-0001_R2``."""
    return f"CONS_{record.record_id}_R{record.revision}"


def add_revision(tree: etree._ElementTree, record: ConservationRecord, record_file: PayloadFile,
                 vocabularies: Vocabularies, *, now: datetime) -> etree._ElementTree:
    """Return a copy of ``tree`` describing one more saved revision of a record (see the module doc).

    ``record.images`` must carry their bag paths and digests. Raises ValueError if the
    revision is in the METS already or the METS has no physical structMap.
    """
    root = copy.deepcopy(tree.getroot())
    base = revision_base_id(record)
    if root.xpath("mets:amdSec[@ID=$id]", namespaces=NS, id=f"AMD_{base}"):
        raise ValueError(f"{base}: this revision is in the METS already")
    sequence = _sequence_div(root)
    _supersede(root, record.record_id)
    group = _conservation_group(root)
    known = _object_uuids(root)
    techs, file_ids = _image_files(group, record, base, root.get("OBJID", ""), known)
    amd = _sub(None, "amdSec", ID=f"AMD_{base}")
    amd.extend(techs)
    amd.append(_record_md(base, record_file, now))
    amd.append(_wrapped("digiprovMD", f"{base}_EVENT", "PREMIS:EVENT", _event(record, vocabularies, file_ids, known)))
    for index, agent in enumerate(_agents(record), start=1):
        amd.append(_wrapped("digiprovMD", f"{base}_AGENT_{index}", "PREMIS:AGENT", agent_xml(agent)))
    _after_last(root, ("amdSec", "dmdSec", "metsHdr"), amd)
    _link_structure(root, sequence, record, file_ids, [f"{base}_RECORD", f"{base}_EVENT"])
    header = root.find("mets:metsHdr", NS)
    if header is not None:
        header.set("LASTMODDATE", now.isoformat(timespec="seconds"))
    etree.indent(root, space="  ")  # the added sections indented like the rest
    return etree.ElementTree(root)


def _sequence_div(root: etree._Element) -> etree._Element:
    found = root.xpath("mets:structMap[@TYPE='PHYSICAL']/mets:div", namespaces=NS)
    if not found:
        raise ValueError(f"{root.get('OBJID', 'METS')}: no physical structMap to link the record to")
    return found[0]


def _supersede(root: etree._Element, record_id: str) -> None:
    # Earlier revisions stay in the METS (the record is append-only); they are marked as no longer current.
    for md in root.xpath("mets:amdSec/mets:digiprovMD[@STATUS='current']", namespaces=NS):
        if md.get("ID", "").startswith(f"CONS_{record_id}_R") and md.get("ID", "").endswith("_RECORD"):
            md.set("STATUS", "superseded")


def _conservation_group(root: etree._Element) -> etree._Element:
    file_sec = root.find("mets:fileSec", NS)
    if file_sec is None:
        file_sec = _sub(None, "fileSec")
        _after_last(root, ("amdSec", "dmdSec", "metsHdr"), file_sec)
    group = file_sec.find(f"mets:fileGrp[@USE='{CONSERVATION_GROUP}']", NS)
    return group if group is not None else _sub(file_sec, "fileGrp", USE=CONSERVATION_GROUP)


def _object_uuids(root: etree._Element) -> dict[str, str]:
    """Map the local id of every PREMIS object in the METS (a page id, a file id) to its UUID."""
    found = {}
    for obj in root.iter(tag("premis", "object")):
        ids = {i.findtext("premis:objectIdentifierType", namespaces=NS): i.findtext("premis:objectIdentifierValue",
                                                                                     namespaces=NS)
               for i in obj.findall("premis:objectIdentifier", NS)}
        if ids.get("UUID") and ids.get("local"):
            found[ids["local"]] = ids["UUID"]
    return found


def _image_files(group: etree._Element, record: ConservationRecord, base: str, item_pid: str,
                 known: dict[str, str]) -> tuple[list[etree._Element], dict[str, str]]:
    """Add a file for each image not yet in the group; return their techMDs and every image's file id.

    Each new image's object UUID is added to ``known`` (by file id), for the event's links.
    """
    existing = {f.find("mets:FLocat", NS).get(XLINK_HREF): f.get("ID") for f in group.findall("mets:file", NS)}
    techs, file_ids = [], {}
    for index, image in enumerate(record.images, start=1):
        if href_of(image.path) in existing:
            file_ids[image.path] = existing[href_of(image.path)]
            continue
        if image.digests is None:
            raise ValueError(f"{image.file}: an image needs its digests before it goes into METS")
        file_ids[image.path] = f"{base}_IMG_{index}"
        tech_id = f"{base}_TECH_{index}"
        obj = FileObject(file_ids[image.path], image.digests, file_format(image.path)[1], original_name=image.file,
                         uuid=object_uuid(item_pid, image.path, image.digests.sha256))
        known[obj.object_id] = obj.uuid
        techs.append(_wrapped("techMD", tech_id, "PREMIS:OBJECT", object_xml(obj)))
        group.append(_file(file_ids[image.path], PayloadFile(image.path, image.digests), image,
                           f"{tech_id} {base}_EVENT"))
    return techs, file_ids


def _file(file_id: str, payload: PayloadFile, image: RecordImage, adm_ids: str) -> etree._Element:
    element = _sub(None, "file", ID=file_id, MIMETYPE=file_format(payload.path)[0], USE=image.role.value)
    element.set("SIZE", str(payload.digests.size))
    element.set("CHECKSUM", payload.digests.sha256)
    element.set("CHECKSUMTYPE", "SHA-256")
    element.set("ADMID", adm_ids)
    _sub(element, "FLocat", LOCTYPE="URL").set(XLINK_HREF, href_of(payload.path))
    return element


def _record_md(base: str, record_file: PayloadFile, now: datetime) -> etree._Element:
    md = _sub(None, "digiprovMD", ID=f"{base}_RECORD", STATUS="current", CREATED=now.isoformat(timespec="seconds"))
    ref = _sub(md, "mdRef", LOCTYPE="URL", MDTYPE="OTHER", OTHERMDTYPE=RECORD_MDTYPE, MDTYPEVERSION="1",
               MIMETYPE="application/json", SIZE=str(record_file.digests.size),
               CHECKSUM=record_file.digests.sha256, CHECKSUMTYPE="SHA-256")
    ref.set(XLINK_HREF, href_of(record_file.path))
    ref.set("LABEL", "修复档案 conservation record")
    return md


def _event(record: ConservationRecord, vocabularies: Vocabularies, file_ids: dict[str, str],
           known: dict[str, str]) -> etree._Element:
    """The treatment event, linked by UUID to its people, the pages' masters and the images."""
    event = etree.Element(tag("premis", "event"), nsmap={"premis": NAMESPACES["premis"]})
    _identifier(event, "eventIdentifier", record_event_uuid(record.record_id, record.revision), "UUID")
    _premis(event, "eventType", EVENT_TYPE)
    _premis(event, "eventDateTime", _period(record.dates))
    steps = "; ".join(vocabularies.treatment.label(s.type) for s in record.steps)
    _premis(_premis(event, "eventDetailInformation"), "eventDetail",
            f"修复 {record.record_id} revision {record.revision}: {steps}")
    outcome = _premis(event, "eventOutcomeInformation")
    _premis(outcome, "eventOutcome", "success" if record.dates.finished else "in progress")
    damage = "; ".join(vocabularies.damage.label(d.type) for d in record.damage)
    _premis(_premis(outcome, "eventOutcomeDetail"), "eventOutcomeDetailNote",
            f"before treatment: {vocabularies.grades.label(record.grade)}; {damage}")
    for agent in _agents(record):
        link = _identifier(event, "linkingAgentIdentifier", agent.uuid, "UUID")
        _premis(link, "linkingAgentRole", agent.role)
    objects = [record.item_id] if record.whole_item else list(record.pages)
    for object_id in [*objects, *file_ids.values()]:
        # A leaf of a split master (p0003r) is part of the master object p0003.
        found = known.get(object_id) or known.get(object_id.rstrip("rl"))
        _identifier(event, "linkingObjectIdentifier", *((found, "UUID") if found else (object_id,)))
    return event


def _agents(record: ConservationRecord) -> list[Agent]:
    people = [Agent(name, AgentType.PERSON, role="implementer") for name in record.conservators]
    if record.reviewer and record.reviewer not in record.conservators:
        people.append(Agent(record.reviewer, AgentType.PERSON, role="validator"))
    return people


def _period(dates: Dates) -> str:
    # ISO 8601 time interval; an open end ("2025-03-01/..", EDTF) while the treatment goes on.
    return f"{dates.started.isoformat()}/{dates.finished.isoformat() if dates.finished else '..'}"


def _link_structure(root: etree._Element, sequence: etree._Element, record: ConservationRecord,
                    file_ids: dict[str, str], adm_ids: list[str]) -> None:
    divs = {d.get("ID"): d for d in sequence.findall("mets:div", NS)}
    scope = [sequence] if record.whole_item else [divs[f"PHYS_{p}"] for p in record.pages if f"PHYS_{p}" in divs]
    for div in scope:
        div.set("ADMID", " ".join(dict.fromkeys([*div.get("ADMID", "").split(), *adm_ids])))
    for image in record.images:
        targets = [divs[f"PHYS_{p}"] for p in image.pages if f"PHYS_{p}" in divs] or scope
        for div in targets:
            _add_fptr(div, file_ids[image.path])


def _add_fptr(div: etree._Element, file_id: str) -> None:
    if div.xpath("mets:fptr[@FILEID=$id]", namespaces=NS, id=file_id):
        return
    fptr = _sub(None, "fptr", FILEID=file_id)
    # METS divType: mptr*, fptr*, then child divs — an fptr goes before the first child div.
    first_div = div.find("mets:div", NS)
    if first_div is None:
        div.append(fptr)
    else:
        first_div.addprevious(fptr)


def _after_last(root: etree._Element, names: Iterable[str], element: etree._Element) -> None:
    for name in names:
        found = root.findall(f"mets:{name}", NS)
        if found:
            found[-1].addnext(element)
            return
    root.insert(0, element)


def _wrapped(section: str, md_id: str, md_type: str, content: etree._Element) -> etree._Element:
    element = _sub(None, section, ID=md_id)
    wrap = _sub(element, "mdWrap", MDTYPE=md_type, MDTYPEVERSION="3.0")
    _sub(wrap, "xmlData").append(content)
    return element


def _sub(parent: etree._Element | None, local: str, **attributes: str) -> etree._Element:
    if parent is None:
        return etree.Element(tag("mets", local), **attributes)
    return etree.SubElement(parent, tag("mets", local), **attributes)


def _identifier(parent: etree._Element, name: str, value: str, id_type: str = "local") -> etree._Element:
    element = _premis(parent, name)
    _premis(element, f"{name}Type", id_type)
    _premis(element, f"{name}Value", value)
    return element


def _premis(parent: etree._Element, local: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag("premis", local))
    if text is not None:
        element.text = text
    return element
