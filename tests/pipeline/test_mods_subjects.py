"""MODS subjects from the census fields only: the 版本's era and years, and a place it names; valid MODS 3.8."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree

from pipeline.mets import build_mets
from pipeline.validation import validate_xml
from tests.pipeline.test_mets import NOW, NS, make_batch, make_events, make_files


def subjects(tmp_path: Path, edition: str) -> list[etree._Element]:
    batch = replace(make_batch(tmp_path), edition=edition)
    mets = build_mets(batch, make_files(batch), make_events(), now=NOW)
    validate_xml(mets, "mets", document="mets.xml")  # the wrapper schema checks the MODS 3.8 inside
    return mets.findall(".//mods:mods/mods:subject", NS)


def temporals(subject: etree._Element) -> list[tuple[str | None, str | None, str | None]]:
    return [(t.get("encoding"), t.get("point"), t.text) for t in subject.findall("mods:temporal", NS)]


@pytest.mark.parametrize(("edition", "expected"), [
    ("清乾隆四十七年刻本", [(None, None, "清乾隆四十七年"), ("w3cdtf", "start", "1736"), ("w3cdtf", "end", "1782")]),
    ("清乾隆武英殿刻本", [(None, None, "清乾隆"), ("w3cdtf", "start", "1736"), ("w3cdtf", "end", "1795")]),
    ("明嘉靖刻本", [(None, None, "明嘉靖"), ("w3cdtf", "start", "1522"), ("w3cdtf", "end", "1566")]),
    ("清刻本", [(None, None, "清"), ("w3cdtf", "start", "1616"), ("w3cdtf", "end", "1911")]),
    ("民國鉛印本", [(None, None, "民國"), ("w3cdtf", "start", "1912"), ("w3cdtf", "end", "1949")]),
])
def test_the_edition_gives_a_temporal_subject_with_its_years(tmp_path: Path, edition: str, expected: list) -> None:
    [subject] = subjects(tmp_path, edition)
    assert subject.get("displayLabel") == "版本年代"
    assert temporals(subject) == expected
    assert subject.find("mods:temporal", NS).get("{http://www.w3.org/XML/1998/namespace}lang") == "zh"


def test_a_place_the_edition_names_is_a_geographic_subject(tmp_path: Path) -> None:
    [subject] = subjects(tmp_path, "清康熙揚州詩局刻本")
    assert [g.text for g in subject.findall("mods:geographic", NS)] == ["揚州"]
    assert temporals(subject)[0] == (None, None, "清康熙")


@pytest.mark.parametrize("edition", ["示例刻本", "刻本", "舊抄本"])
def test_an_edition_that_names_no_time_or_place_gives_no_subject(tmp_path: Path, edition: str) -> None:
    assert subjects(tmp_path, edition) == []


def test_nothing_else_becomes_a_subject(tmp_path: Path) -> None:
    # Creators (清 紀昀) stay names; the title (欽定四庫全書總目) and notes give no subject.
    [subject] = subjects(tmp_path, "清乾隆武英殿刻本")
    assert [child.tag.split("}")[1] for child in subject] == ["temporal", "temporal", "temporal"]
