"""MODS 3.8 description of a batch (one volume of a rare book), for the METS dmdSec.

How the Chinese rare-book catalogue fields map onto MODS:

==========================  ==========================================================
batch field                 MODS
==========================  ==========================================================
title (题名)                titleInfo/title, xml:lang = title_lang, script from its subtag
creators (著者)             name[@type=personal]: namePart, namePart[@type=date] = dynasty
                            (明, 清 …), displayForm "（明）王守仁", role/roleTerm text (撰)
                            plus a MARC relator code where the role has a clear one
edition (版本)              originInfo/edition; and subject[@displayLabel=版本年代]: temporal
                            "清乾隆" (dynasty and era, or the dated text 乾隆四十七年), with the
                            years it spans as temporal[@encoding=w3cdtf][@point=start|end]
                            (pipeline.entities.period_of_edition); geographic for a place
                            of the shipped list the edition names (清康熙揚州詩局刻本)
binding (装帧)              physicalDescription/form[@type=binding]
juan_count (卷数)           physicalDescription/extent[@unit=juan]
extant (存卷)               physicalDescription/note[@type=extant]
layout (行款)               physicalDescription/note[@type=layout]
annotations (批校题跋)      note[@type=handwritten] (LoC MODS note type), displayLabel 批校题跋
seals (钤印)                note[@type=ownership] (LoC MODS note type), displayLabel 钤印
item_id                     identifier[@type=local]
persistent identifier       identifier[@type=urn|ark|hdl|uri] (pipeline.identifiers)
census_number (普查编号)    identifier[@type=census]
call_number (索书号)        location/shelfLocator, with physicalLocation = source_organization
languages                   language/languageTerm[@type=code][@authority=rfc5646]
access_level                accessCondition[@type="restriction on access"]
volume (册)                 part/detail[@type=volume]: number + caption
==========================  ==========================================================

Subjects come from the census fields only: nothing is read from the OCR text or
guessed, and an edition that names no dynasty or era (示例刻本) gives no subject.
Creators are already ``name`` elements; the census has no subject names.

Notes use the LoC MODS note-type vocabulary ("handwritten", "ownership") rather than
invented types, so other MODS readers understand them; ``displayLabel`` keeps the
Chinese catalogue heading.
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree

import pipeline
from pipeline.batch import Batch, Creator, MaterialType
from pipeline.entities import find_entities, page_text_from_lines, period_of_edition, reign_table
from pipeline.entities.reigns import DYNASTIES
from pipeline.identifiers import scheme_of
from pipeline.xmlns import NAMESPACES, XSI_SCHEMA_LOCATION, schema_location, tag

__all__ = ["MODS_VERSION", "build_mods"]

MODS_VERSION = "3.8"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# Only roles with an unambiguous MARC relator (https://id.loc.gov/vocabulary/relators);
# any other role is kept as text alone rather than guessed.
RELATOR_CODES: dict[str, str] = {
    "撰": "aut",
    "著": "aut",
    "輯": "com",
    "辑": "com",
    "纂": "com",
    "注": "cwt",
    "註": "cwt",
    "箋": "cwt",
    "笺": "cwt",
    "疏": "cwt",
    "譯": "trl",
    "译": "trl",
    "繪": "ill",
    "绘": "ill",
}

GENRES: dict[MaterialType, str] = {
    MaterialType.ANCIENT_BOOK: "古籍",
    MaterialType.REPUBLICAN: "民国文献",
    MaterialType.OTHER: "其他",
}


def build_mods(batch: Batch, *, now: datetime) -> etree._Element:
    """Build the ``mods:mods`` record describing ``batch``."""
    mods = etree.Element(tag("mods", "mods"), nsmap={"mods": NAMESPACES["mods"], "xsi": NAMESPACES["xsi"]})
    mods.set(XSI_SCHEMA_LOCATION, schema_location("mods"))
    mods.set("version", MODS_VERSION)
    _title(mods, batch)
    for creator in batch.creators:
        _name(mods, creator, batch.title_lang)
    _sub(mods, "typeOfResource", "text")
    _sub(mods, "genre", GENRES[batch.material_type]).set("authority", "local")
    if batch.edition:
        _sub(_sub(mods, "originInfo"), "edition", batch.edition)
        _edition_subjects(mods, batch.edition)
    for code in batch.languages:
        term = _sub(_sub(mods, "language"), "languageTerm", code)
        term.set("type", "code")
        term.set("authority", "rfc5646")
    _physical_description(mods, batch)
    _notes(mods, batch)
    _identifiers(mods, batch)
    _location(mods, batch)
    _sub(mods, "accessCondition", batch.access_level.value).set("type", "restriction on access")
    _part(mods, batch)
    _record_info(mods, batch, now)
    return mods


def script_of(language_tag: str) -> str:
    """Return the ISO 15924 script subtag of a BCP 47 tag ("zh-Hant" -> "Hant"), or ""."""
    for subtag in language_tag.split("-")[1:]:
        if len(subtag) == 4 and subtag.isalpha():
            return subtag.title()
    return ""


def _title(mods: etree._Element, batch: Batch) -> None:
    title_info = _sub(mods, "titleInfo")
    _set_language(title_info, batch.title_lang)
    _sub(title_info, "title", batch.title)
    title_en = batch.extra.get("title_en", "")
    if title_en:
        translated = _sub(mods, "titleInfo")
        translated.set("type", "translated")
        translated.set(XML_LANG, "en")
        _sub(translated, "title", title_en)


def _name(mods: etree._Element, creator: Creator, lang: str) -> None:
    name = _sub(mods, "name")
    name.set("type", "personal")
    _set_language(name, lang)
    _sub(name, "namePart", creator.name)
    if creator.period:
        # The dynasty is the only date a rare-book catalogue gives for most authors.
        _sub(name, "namePart", creator.period).set("type", "date")
        _sub(name, "displayForm", f"（{creator.period}）{creator.name}")
    if creator.role:
        role = _sub(name, "role")
        _sub(role, "roleTerm", creator.role).set("type", "text")
        code = RELATOR_CODES.get(creator.role)
        if code:
            term = _sub(role, "roleTerm", code)
            term.set("type", "code")
            term.set("authority", "marcrelator")


def _edition_subjects(mods: etree._Element, edition: str) -> None:
    """Add the 版本's time (era text and years) and places as subjects, when it names them."""
    period = period_of_edition(edition)
    found = [e for e in find_entities(page_text_from_lines("edition", [edition])) if e.accepted]
    places = list(dict.fromkeys(str(e.value["place"]) for e in found if e.kind.value == "place"))
    if period is None and not places:
        return
    subject = _sub(mods, "subject")
    subject.set("displayLabel", "版本年代")
    if period is not None:
        era = edition_era(edition, [e.text for e in found if e.kind.value == "date"])
        if era:
            _sub(subject, "temporal", era).set(XML_LANG, "zh")
        points = [("", period[0])] if period[0] == period[1] else [("start", period[0]), ("end", period[1])]
        for point, year in points:
            temporal = _sub(subject, "temporal", f"{year:04d}")
            temporal.set("encoding", "w3cdtf")
            if point:
                temporal.set("point", point)
    for place in places:
        _sub(subject, "geographic", place).set(XML_LANG, "zh")


def edition_era(edition: str, dates: list[str]) -> str:
    """Return the 版本's time as written: a dated text (乾隆四十七年), else its dynasty and era (清乾隆), else ""."""
    if dates:
        return dates[0]
    named = [(edition.index(form), -len(form), form) for reign in reign_table() for form in reign.forms
             if form in edition]
    if not named:  # 清刻本: the dynasty alone
        return next((d for d in sorted(DYNASTIES, key=len, reverse=True) if edition.startswith(d)), "")
    start, _, era = min(named)  # the first era written (乾隆 of 清乾隆武英殿, not 隆武), the longest form there
    return edition[:start + len(era)] if start <= 2 else era  # with a leading dynasty: 清乾隆, 大清乾隆


def _physical_description(mods: etree._Element, batch: Batch) -> None:
    physical = _sub(mods, "physicalDescription")
    if batch.binding:
        _sub(physical, "form", batch.binding).set("type", "binding")
    if batch.juan_count:
        _sub(physical, "extent", batch.juan_count).set("unit", "juan")
    _sub(physical, "digitalOrigin", "reformatted digital")
    for note_type, text in (("extant", batch.extant), ("layout", batch.layout)):
        if text:
            _sub(physical, "note", text).set("type", note_type)


def _notes(mods: etree._Element, batch: Batch) -> None:
    for note_type, label, texts in (
        ("handwritten", "批校题跋", batch.annotations),
        ("ownership", "钤印", batch.seals),
    ):
        for text in texts:
            note = _sub(mods, "note", text)
            note.set("type", note_type)
            note.set("displayLabel", label)


def _identifiers(mods: etree._Element, batch: Batch) -> None:
    _sub(mods, "identifier", batch.item_id).set("type", "local")
    _sub(mods, "identifier", batch.pid).set("type", scheme_of(batch.pid))
    if batch.census_number:
        census = _sub(mods, "identifier", batch.census_number)
        census.set("type", "census")
        census.set("displayLabel", "全国古籍普查登记编号")


def _location(mods: etree._Element, batch: Batch) -> None:
    if not (batch.source_organization or batch.call_number):
        return
    location = _sub(mods, "location")
    if batch.source_organization:
        _sub(location, "physicalLocation", batch.source_organization)
    if batch.call_number:
        _sub(location, "shelfLocator", batch.call_number)


def _part(mods: etree._Element, batch: Batch) -> None:
    # A single-volume book needs no "volume 1 of 1"; a label or a later volume does.
    if not batch.volume_label and batch.volume_number <= 1:
        return
    detail = _sub(_sub(mods, "part"), "detail")
    detail.set("type", "volume")
    _sub(detail, "number", str(batch.volume_number))
    if batch.volume_label:
        _sub(detail, "caption", batch.volume_label)


def _record_info(mods: etree._Element, batch: Batch, now: datetime) -> None:
    record = _sub(mods, "recordInfo")
    if batch.source_organization:
        _sub(record, "recordContentSource", batch.source_organization)
    _sub(record, "recordCreationDate", now.isoformat(timespec="seconds")).set("encoding", "w3cdtf")
    _sub(record, "recordOrigin", f"Shuying {pipeline.__version__}, from batch.json")


def _set_language(element: etree._Element, language_tag: str) -> None:
    element.set(XML_LANG, language_tag)
    script = script_of(language_tag)
    if script:
        element.set("script", script)


def _sub(parent: etree._Element, local: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag("mods", local))
    if text is not None:
        element.text = text
    return element
