"""Build the AIP's ``data/mets.xml`` (METS 1.12.1 with MODS 3.8 and PREMIS 3).

Layout of the document::

    mets         OBJID = the item's persistent identifier (pipeline.identifiers)
    metsHdr      CREATEDATE = now; CREATOR agents: Shuying (software) and the library
    dmdSec       DMD_MODS: the MODS record (pipeline.mods)
    amdSec       techMD TECH_<page> per master, TECH_<file id> per other payload file:
                 premis:object with a UUID, SHA-256/SHA-512 fixity and the PRONOM format
                 digiprovMD EVENT_nnnn per event, AGENT_nnnn per agent (PREMIS 3)
    fileSec      fileGrp MASTER, ALTO, TEXT, METADATA (qc.json, batch.json …)
    structMap    PHYSICAL: div physSequence > one div per page (leaf) in reading order
    structMap    LOGICAL: work > 冊 volume > 卷 juan > sections (pipeline.structure)
    structLink   smLink from every logical div to the page divs it spans (as DFG-Viewer reads it)

No access URL is written: the AIP outlives any server address. Access copies are
found from the persistent identifier (OBJID) in the publish area and the catalogue.

A master that shows two leaves (a spread, an uncut double leaf) is one MASTER file and
two page divs, each pointing at its part of the master with ``mets:area`` (SHAPE RECT,
COORDS x1,y1,x2,y2 in master pixels) and at its own access image, ALTO and text.

Every href is relative to ``data/``, where mets.xml lives, and percent-encoded as a
URI (spaces, ``%`` …) while Chinese characters stay as they are (an IRI). The page
divs' TYPE is "page" for ordinary pages and the page type ("cover", "blank",
"colour-target", "spine") otherwise. Output depends only on the arguments: pass the
clock in as ``now`` and two builds are byte-identical (see :func:`serialize_mets`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from urllib.parse import quote

from lxml import etree

import pipeline
from pipeline.batch import Batch, Leaf, PageType
from pipeline.checksums import Digests
from pipeline.formats import FileFormat
from pipeline.identifiers import object_uuid
from pipeline.mods import MODS_VERSION, build_mods
from pipeline.premis import (
    Agent,
    AgentType,
    Event,
    FileObject,
    agent_xml,
    agents_of,
    event_xml,
    object_xml,
)
from pipeline.structure import Division, div_ids
from pipeline.xmlns import NAMESPACES, XLINK_HREF, XSI_SCHEMA_LOCATION, attr, schema_location, tag

__all__ = [
    "MetsFiles",
    "PageFiles",
    "PayloadFile",
    "build_mets",
    "file_format",
    "href_of",
    "serialize_mets",
    "shuying_agent",
]

PAYLOAD_PREFIX = "data/"
# An explicit table, not the mimetypes module: that one reads /etc/mime.types, so the
# same AIP would get different METS on different machines.
FORMATS: dict[str, tuple[str, str]] = {
    ".tif": ("image/tiff", "TIFF"),
    ".tiff": ("image/tiff", "TIFF"),
    ".jp2": ("image/jp2", "JPEG 2000 JP2"),
    ".jpg": ("image/jpeg", "JPEG"),
    ".jpeg": ("image/jpeg", "JPEG"),
    ".png": ("image/png", "PNG"),
    ".xml": ("application/xml", "XML"),
    ".txt": ("text/plain", "Plain text"),
    ".json": ("application/json", "JSON"),
    ".html": ("text/html", "HTML"),
}
UNKNOWN_FORMAT = ("application/octet-stream", "unknown")


@dataclass(frozen=True)
class PayloadFile:
    """A file inside the bag: its path relative to the bag (``data/…``), digests and PRONOM format."""

    path: str
    digests: Digests
    format: FileFormat | None = None  # None: not identified; the suffix table names it


@dataclass(frozen=True)
class PageFiles:
    """The files of one page (leaf): master (required), ALTO and text (optional).

    ``region`` is the part of the master a leaf of a two-leaf master shows (x1, y1, x2, y2
    in master pixels); None when the page is the whole master.
    """

    master: PayloadFile
    region: tuple[int, int, int, int] | None = None
    alto: PayloadFile | None = None
    text: PayloadFile | None = None


@dataclass(frozen=True)
class MetsFiles:
    """What the METS file section lists: per page (keyed by leaf id, see Batch.leaves) and batch-level files."""

    pages: Mapping[str, PageFiles]
    metadata: tuple[PayloadFile, ...] = field(default=())  # qc.json, batch.json copy …


def shuying_agent() -> Agent:
    """Return the Shuying software agent at the running version."""
    return Agent(name="shuying", agent_type=AgentType.SOFTWARE, version=pipeline.__version__)


def file_format(path: str) -> tuple[str, str]:
    """Return (MIME type, format name) for a file name by its suffix."""
    return FORMATS.get(PurePosixPath(path).suffix.lower(), UNKNOWN_FORMAT)


def build_mets(
    batch: Batch,
    files: MetsFiles,
    events: Iterable[Event],
    *,
    now: datetime,
    creator_agent: Agent | None = None,
) -> etree._ElementTree:
    """Build the METS document for ``batch``; raise ValueError if a page has no master."""
    _check_pages(batch, files)
    software = creator_agent or shuying_agent()
    # Deduplicated by identifier: a task re-run may hand in the same event twice.
    unique = {e.identifier: e for e in events}
    ordered = sorted(unique.values(), key=lambda e: (e.date_time, e.identifier))
    event_ids = {e.identifier: f"EVENT_{i:04d}" for i, e in enumerate(ordered, start=1)}
    root = etree.Element(tag("mets", "mets"), nsmap=_nsmap())
    root.set(XSI_SCHEMA_LOCATION, schema_location("mets", "mods", "premis"))
    root.set("OBJID", batch.pid)
    root.set("LABEL", batch.title)
    root.set("TYPE", "book")
    root.append(_header(batch, software, now))
    root.append(_dmd_sec(batch, now))
    root.append(_amd_sec(batch, files, ordered, event_ids, software))
    root.append(_file_sec(batch, files))
    root.append(_struct_map(batch, files, _events_by_page(batch, files, ordered, event_ids)))
    logical = batch.logical
    root.append(_logical_map(logical))
    root.append(_struct_link(logical))
    return etree.ElementTree(root)


def serialize_mets(tree: etree._ElementTree) -> bytes:
    """Serialise a METS tree as indented UTF-8 with an XML declaration."""
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _check_pages(batch: Batch, files: MetsFiles) -> None:
    missing = [p.page_id for p in batch.leaves if p.page_id not in files.pages]
    if missing:
        raise ValueError(f"{batch.item_id}: no master file given for pages {', '.join(missing)}")
    paths = [f.path for f in _payload_files(files)]
    outside = [p for p in paths if not p.startswith(PAYLOAD_PREFIX)]
    if outside:
        raise ValueError(f"{batch.item_id}: paths must start with 'data/': {', '.join(outside)}")


def _header(batch: Batch, software: Agent, now: datetime) -> etree._Element:
    header = etree.Element(tag("mets", "metsHdr"))
    header.set("CREATEDATE", now.isoformat(timespec="seconds"))
    agent = _sub(header, "agent", ROLE="CREATOR", TYPE="OTHER", OTHERTYPE="SOFTWARE")
    _sub(agent, "name").text = f"{software.name} {software.version}".strip()
    if batch.source_organization:
        organization = _sub(header, "agent", ROLE="CREATOR", TYPE="ORGANIZATION")
        _sub(organization, "name").text = batch.source_organization
    return header


def _dmd_sec(batch: Batch, now: datetime) -> etree._Element:
    dmd = etree.Element(tag("mets", "dmdSec"), ID="DMD_MODS")
    wrap = _sub(dmd, "mdWrap", MDTYPE="MODS", MDTYPEVERSION=MODS_VERSION)
    _sub(wrap, "xmlData").append(build_mods(batch, now=now))
    return dmd


def _amd_sec(
    batch: Batch, files: MetsFiles, events: list[Event], event_ids: Mapping[str, str], software: Agent
) -> etree._Element:
    amd = etree.Element(tag("mets", "amdSec"), ID="AMD")
    objects = _file_objects(batch, files)
    for tech_id, obj in objects.items():
        _md(amd, "techMD", tech_id, "PREMIS:OBJECT", object_xml(obj))
    uuids = _object_uuids(batch, files, objects)
    for event in events:
        _md(amd, "digiprovMD", event_ids[event.identifier], "PREMIS:EVENT", event_xml(event, uuids))
    for index, agent in enumerate(agents_of(events, software), start=1):
        _md(amd, "digiprovMD", f"AGENT_{index:04d}", "PREMIS:AGENT", agent_xml(agent))
    return amd


def _file_objects(batch: Batch, files: MetsFiles) -> dict[str, FileObject]:
    """Every payload file as a PREMIS object, by techMD id: masters by page, the rest by file id."""
    objects = {}
    masters = _masters(batch, files)
    for page in batch.pages:
        objects[f"TECH_{page.page_id}"] = _file_object(batch, page.page_id, masters[page.page_id],
                                                       original_name=page.file)
    for file_id, payload in _other_files(batch, files):
        objects[f"TECH_{file_id}"] = _file_object(batch, payload.path, payload)
    return objects


def _file_object(batch: Batch, object_id: str, payload: PayloadFile, original_name: str = "") -> FileObject:
    found = payload.format
    name = found.name if found and found.known else file_format(payload.path)[1]
    return FileObject(object_id, payload.digests, name, original_name=original_name,
                      uuid=object_uuid(batch.pid, payload.path, payload.digests.sha256),
                      format_version=found.version if found else "", puid=found.puid if found else "")


def _object_uuids(batch: Batch, files: MetsFiles, objects: Mapping[str, FileObject]) -> dict[str, str]:
    """Map what events name (page ids, bag paths, hrefs) to object UUIDs, as _events_by_page keys them."""
    uuids = {obj.object_id: obj.uuid for obj in objects.values()}
    for page_id, master in _masters(batch, files).items():
        uuids.setdefault(master.path, uuids[page_id])
    for leaf in batch.leaves:
        uuids.setdefault(leaf.page_id, uuids[leaf.master.page_id])
    for obj_id, value in list(uuids.items()):
        if obj_id.startswith(PAYLOAD_PREFIX):
            uuids.setdefault(href_of(obj_id), value)
    return uuids


def _other_files(batch: Batch, files: MetsFiles) -> list[tuple[str, PayloadFile]]:
    """The payload files that are not masters, with their METS file ids."""
    found: list[tuple[str, PayloadFile]] = []
    for page in batch.leaves:
        page_files = files.pages[page.page_id]
        if page_files.alto:
            found.append((f"ALTO_{page.page_id}", page_files.alto))
        if page_files.text:
            found.append((f"TEXT_{page.page_id}", page_files.text))
    found += [(f"METADATA_{i:04d}", payload) for i, payload in enumerate(files.metadata, start=1)]
    return found


def _md(amd: etree._Element, section: str, md_id: str, md_type: str, content: etree._Element) -> None:
    element = _sub(amd, section, ID=md_id)
    wrap = _sub(element, "mdWrap", MDTYPE=md_type, MDTYPEVERSION="3.0")
    _sub(wrap, "xmlData").append(content)


def _file_sec(batch: Batch, files: MetsFiles) -> etree._Element:
    file_sec = etree.Element(tag("mets", "fileSec"))
    groups: dict[str, list[etree._Element]] = {"MASTER": [], "ALTO": [], "TEXT": [], "METADATA": []}
    for page_id, master in _masters(batch, files).items():
        groups["MASTER"].append(_payload_file(f"MASTER_{page_id}", master, f"TECH_{page_id}"))
    for file_id, payload in _other_files(batch, files):
        groups[file_id.split("_", 1)[0]].append(_payload_file(file_id, payload, f"TECH_{file_id}"))
    for use, members in groups.items():
        if members:
            group = _sub(file_sec, "fileGrp", USE=use)
            group.extend(members)
    return file_sec


def _masters(batch: Batch, files: MetsFiles) -> dict[str, PayloadFile]:
    """Each master once, by its page id (both leaves of a split master name the same file)."""
    masters: dict[str, PayloadFile] = {}
    for leaf in batch.leaves:
        masters.setdefault(leaf.master.page_id, files.pages[leaf.page_id].master)
    return masters


def _payload_file(file_id: str, payload: PayloadFile, adm_id: str = "") -> etree._Element:
    element = etree.Element(tag("mets", "file"), ID=file_id, MIMETYPE=file_format(payload.path)[0])
    element.set("SIZE", str(payload.digests.size))
    element.set("CHECKSUM", payload.digests.sha256)
    element.set("CHECKSUMTYPE", "SHA-256")
    if adm_id:
        element.set("ADMID", adm_id)
    _flocat(element, href_of(payload.path))
    return element


def _flocat(file_element: etree._Element, href: str) -> None:
    _sub(file_element, "FLocat", LOCTYPE="URL").set(XLINK_HREF, href)


def href_of(bag_path: str) -> str:
    """Turn a bag path (``data/masters/扫描 1.tif``) into an href relative to data/ (an IRI)."""
    relative = bag_path[len(PAYLOAD_PREFIX) :]
    # Percent-encode ASCII that a URI may not carry (space, %, #, ?) and keep
    # non-ASCII as is: xlink:href is an IRI, and 卷一 reads better than %E5%8D%B7%E4%B8%80.
    return "".join(c if ord(c) > 127 else quote(c, safe="/-._~!$&'()*+,;=:@") for c in relative)


def _struct_map(batch: Batch, files: MetsFiles, page_events: Mapping[str, list[str]]) -> etree._Element:
    struct_map = etree.Element(tag("mets", "structMap"), TYPE="PHYSICAL")
    sequence = _sub(struct_map, "div", ID="PHYS_0000", TYPE="physSequence", LABEL=batch.title, DMDID="DMD_MODS")
    if page_events.get(""):
        sequence.set("ADMID", " ".join(page_events[""]))
    for index in range(1, len(files.metadata) + 1):
        _sub(sequence, "fptr", FILEID=f"METADATA_{index:04d}")
    for page in batch.leaves:
        sequence.append(_page_div(page, files.pages[page.page_id], page_events.get(page.page_id, [])))
    return struct_map


def _page_div(page: Leaf, page_files: PageFiles, event_ids: list[str]) -> etree._Element:
    div_type = "page" if page.page_type is PageType.PAGE else page.page_type.value
    div = etree.Element(tag("mets", "div"), ID=f"PHYS_{page.page_id}", TYPE=div_type)
    div.set("ORDER", str(page.order))
    div.set("ORDERLABEL", page.label)
    div.set("LABEL", page.label)
    if event_ids:
        div.set("ADMID", " ".join(event_ids))
    master = _sub(div, "fptr")
    if page_files.region is None:
        master.set("FILEID", f"MASTER_{page.master.page_id}")
    else:
        _sub(master, "area", FILEID=f"MASTER_{page.master.page_id}", SHAPE="RECT",
             COORDS=",".join(str(v) for v in page_files.region))
    for use, present in (("ALTO", page_files.alto), ("TEXT", page_files.text)):
        if present is not None:
            _sub(div, "fptr", FILEID=f"{use}_{page.page_id}")
    return div


def _logical_map(logical: Division) -> etree._Element:
    struct_map = etree.Element(tag("mets", "structMap"), TYPE="LOGICAL")
    ids = div_ids(logical)

    def add(parent: etree._Element, division: Division, order: int) -> None:
        div = _sub(parent, "div", ID=ids[id(division)], TYPE=division.mets_type, LABEL=division.label)
        if division is logical:
            div.set("DMDID", "DMD_MODS")
        else:
            div.set("ORDER", str(order))
        for number, child in enumerate(division.children, start=1):
            add(div, child, number)

    add(struct_map, logical, 0)
    return struct_map


def _struct_link(logical: Division) -> etree._Element:
    """Link the work to the physical sequence and every other logical div to each page it spans."""
    link = etree.Element(tag("mets", "structLink"))
    ids = div_ids(logical)
    for division in logical.walk():
        targets = ["PHYS_0000"] if division is logical else [f"PHYS_{leaf}" for leaf in division.leaf_ids]
        for target in targets:
            sm_link = _sub(link, "smLink")
            sm_link.set(attr("xlink", "from"), ids[id(division)])
            sm_link.set(attr("xlink", "to"), target)
    return link


def _events_by_page(
    batch: Batch, files: MetsFiles, events: list[Event], event_ids: Mapping[str, str]
) -> dict[str, list[str]]:
    """Map page (leaf) id -> XML ids of the events about it; key "" holds batch-level events.

    An event about a master belongs to each leaf cut from it.
    """
    owner: dict[str, list[str]] = {}
    for page in batch.leaves:
        page_files = files.pages[page.page_id]
        payload = [f for f in (page_files.master, page_files.alto, page_files.text) if f is not None]
        keys = [page.page_id, page.master.page_id, *(f.path for f in payload), *(href_of(f.path) for f in payload)]
        for key in dict.fromkeys(keys):
            owner.setdefault(key, []).append(page.page_id)
    all_pages = {p.page_id for p in batch.leaves}
    by_page: dict[str, list[str]] = {}
    for event in events:
        pages = list(dict.fromkeys(leaf for o in event.object_ids for leaf in owner.get(o, ())))
        # An event about every page (capture, checksums, QC of the batch) belongs to the
        # sequence once, not to each of hundreds of page divs.
        if not pages or (len(all_pages) > 1 and set(pages) == all_pages):
            pages = [""]
        for page_id in pages:
            by_page.setdefault(page_id, []).append(event_ids[event.identifier])
    return by_page


def _payload_files(files: MetsFiles) -> list[PayloadFile]:
    per_page = [f for pf in files.pages.values() for f in (pf.alto, pf.text) if f is not None]
    masters = list({pf.master.path: pf.master for pf in files.pages.values()}.values())
    return [*masters, *per_page, *files.metadata]


def _sub(parent: etree._Element, local: str, **attributes: str) -> etree._Element:
    return etree.SubElement(parent, tag("mets", local), **attributes)


def _nsmap() -> dict[str | None, str]:
    # premis must be bound at the root: premis:object carries xsi:type="premis:file".
    return {p: NAMESPACES[p] for p in ("mets", "mods", "premis", "xlink", "xsi")}
