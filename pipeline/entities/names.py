"""Persons, official titles (官名) and places, each found only where a list or a strong pattern says so.

Persons come from the caller's list (著者 from the census first), from the
bibliographic formula "<dynasty><name><role>" (明王肯堂撰) with the name starting with a
surname, from an office followed by a surnamed name (檢討陳以勤; kept for review only,
as such a name is as often ordinary text), and from 字/號 after a
name already known (善繼字伯順 gives 鹿善繼 the courtesy name 伯順). A name once found is
found again where it repeats on the page, and so is the given name of a three-character
name (善繼 for 鹿善繼). Offices and places are matched from shipped lists; place names
that are also words or sobriquets (延平) count only with 府/州/縣/衛 after them, and a
courtesy name followed by "<two characters>人" gives the person's native place.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from pipeline.entities.context import BookContext
from pipeline.entities.model import ACCEPT, Found, Kind
from pipeline.entities.vocab import alternation, fold, load

__all__ = ["find_offices", "find_persons", "find_places", "is_surnamed"]

ROLES = "撰|譔|编|辑|注|著|述|纂|选|订|校"  # folded 著作方式
BIB_DYNASTIES = "国朝|汉|魏|晋|唐|宋|辽|金|元|明|清|隋"
ZI_HAO = {"字": "courtesy_name", "一字": "courtesy_name", "号": "art_name", "自号": "art_name", "别号": "art_name",
          "又号": "art_name"}
PLACE_SUFFIX = "府|州|县|卫"
# An office then a surnamed name (知府溫良…) is often an office then ordinary text: kept for review only.
LISTED, PATTERN, AFTER_OFFICE, REPEAT, GIVEN = 0.9, 0.9, 0.45, 0.85, 0.7
BEFORE_NAME = 0.8  # 檢討 before 陳以勤
PROVINCE, PREFECTURE, NATIVE, REPEAT_PLACE = 0.9, 0.85, 0.8, 0.75
NATIVE_OF = re.compile(r"(\w{2})人")  # 定興人, right after a courtesy name
# Surnames that are also everyday words (於 'at', 時 'time', 公 'duke' …): a pattern-found
# name may not start with one; a listed name may.
WEAK_SURNAMES = frozenset(fold(ch) for ch in "於于時和平家公東後相能通國文明元成經山水章常安樂從那相養空")


@functools.cache
def _surnames() -> tuple[frozenset[str], frozenset[str]]:
    data = load("surnames")
    return frozenset(fold(s) for s in data["single"]), frozenset(fold(s) for s in data["compound"])


def is_surnamed(name: str) -> bool:
    """True when a 2-4 character name (folded) starts with a listed surname and has a given name after it."""
    single, compound = _surnames()
    if name[:1] in WEAK_SURNAMES:
        return False
    if len(name) >= 3 and name[:2] in compound:
        return True
    return name[:1] in single and 2 <= len(name) <= 4


def find_persons(text: str, folded: str, context: BookContext) -> list[Found]:
    """Return the persons on the page (see the module docstring), one entity per mention."""
    found = _listed(text, folded, context.persons) + _bibliographic(text, folded) + _after_office(text, folded)
    names = {f.value["name"] for f in found if f.confidence >= ACCEPT} | set(context.persons)  # not the doubtful
    found += _zi_hao(text, folded, names)
    found += _repeats(text, folded, names, found)
    return found


def _person(start: int, end: int, name: str, confidence: float, rule: str, **extra: str) -> Found:
    return Found(Kind.PERSON, start, end, {"name": name, **extra}, confidence, rule)


def _listed(text: str, folded: str, persons: Iterable[str]) -> list[Found]:
    found = []
    for name in (p for p in persons if len(p) >= 2):
        for m in re.finditer(re.escape(fold(name)), folded):
            found.append(_person(m.start(), m.end(), name, LISTED, "list:persons"))
    return found


def _bibliographic(text: str, folded: str) -> list[Found]:
    """明王肯堂撰: the name between a dynasty and a 著作方式, if it starts with a surname."""
    found = []
    for m in re.finditer(f"(?:{BIB_DYNASTIES})(?P<name>\\w{{2,4}}?)(?P<role>{ROLES})", folded):
        if is_surnamed(m["name"]):
            name = text[m.start("name"):m.end("name")]
            found.append(_person(m.start("name"), m.end("name"), name, PATTERN, "person:dynasty-name-role",
                                 role=text[m.start("role"):m.end("role")]))
    return found


def _after_office(text: str, folded: str) -> list[Found]:
    """檢討陳以勤: an office, then a surname and two characters."""
    found = []
    for m in re.finditer(f"(?P<office>{_office_alternation()})(?P<name>\\w{{3}})", folded):
        if is_surnamed(m["name"]):
            name = text[m.start("name"):m.end("name")]
            office = text[m.start("office"):m.end("office")]
            found.append(_person(m.start("name"), m.end("name"), name, AFTER_OFFICE, "person:after-office",
                                 office=office))
    return found


def _zi_hao(text: str, folded: str, names: set[str]) -> list[Found]:
    """<name>字<two characters>: a courtesy (字) or art (號) name of a person already known."""
    mentions = _mention_forms(names)
    if not mentions:
        return []
    found = []
    pattern = f"(?P<mention>{alternation(mentions)})(?P<kind>{alternation(ZI_HAO)})(?P<alias>\\w{{2}})"
    for m in re.finditer(pattern, folded):
        full = mentions[m["mention"]]
        alias = text[m.start("alias"):m.end("alias")]
        found.append(_person(m.start(), m.end("alias"), full, PATTERN, "person:zi-hao",
                             **{ZI_HAO[m["kind"]]: alias}))
    return found


def _mention_forms(names: set[str]) -> dict[str, str]:
    """Return folded full names and given names (of surname + two-character names), each to its full name."""
    forms: dict[str, str] = {}
    for name in names:
        forms[fold(name)] = name
        if len(name) == 3 and is_surnamed(fold(name)):
            forms.setdefault(fold(name[1:]), name)
    return forms


def _repeats(text: str, folded: str, names: set[str], found: list[Found]) -> list[Found]:
    """Find again, elsewhere on the page, the names found (and given names of three-character names)."""
    taken = [(f.start, f.end) for f in found]
    extra = []
    for form, full in _mention_forms(names).items():
        for m in re.finditer(re.escape(form), folded):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            given = len(form) < len(full)
            extra.append(_person(m.start(), m.end(), full, GIVEN if given else REPEAT,
                                 "person:given-name" if given else "person:repeat"))
            taken.append((m.start(), m.end()))
    return extra


@functools.cache
def _office_alternation() -> str:
    return alternation(load("offices")["terms"])


@functools.cache
def _before_name_alternation() -> str:
    return alternation(load("offices")["before_name"])


def find_offices(text: str, folded: str) -> list[Found]:
    """Return the listed official titles (longest first: 翰林院編修, not 編修).

    A word that is an office only sometimes (檢討 'to review', 尚書 the classic) counts
    right before a surnamed name: 與檢討陳以勤.
    """
    found = [Found(Kind.OFFICE, m.start(), m.end(), {"office": text[m.start():m.end()]}, LISTED, "list:offices")
             for m in re.finditer(_office_alternation(), folded)]
    for m in re.finditer(_before_name_alternation(), folded):
        if is_surnamed(folded[m.end():m.end() + 3]):
            found.append(Found(Kind.OFFICE, m.start(), m.end(), {"office": text[m.start():m.end()]}, BEFORE_NAME,
                               "office:before-name"))
    return found


@functools.cache
def _place_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    data = load("places")
    bare = alternation([*data["provinces"], *data["prefectures"]])
    suffixed = alternation(data["needs_suffix"])
    return re.compile(f"(?P<name>{bare})(?P<suffix>{PLACE_SUFFIX})?"), re.compile(
        f"(?P<name>{suffixed})(?P<suffix>{PLACE_SUFFIX})")


def find_places(text: str, folded: str, persons: list[Found]) -> list[Found]:
    """Return listed provinces and prefectures, and native places after a 字 (字伯順定興人)."""
    provinces = {fold(p) for p in load("places")["provinces"]}
    found = []
    for pattern in _place_patterns():
        for m in pattern.finditer(folded):
            confidence = PROVINCE if m["name"] in provinces else PREFECTURE
            found.append(_place(text, m.start(), m.end(), confidence, "list:places"))
    natives = [n for p in persons if p.rule == "person:zi-hao" and (n := NATIVE_OF.match(folded, p.end))]
    found += [_place(text, n.start(1), n.end(1), NATIVE, "place:native-of") for n in natives]
    for name in {n[1] for n in natives}:  # 大兵攻定興: the native place again, further on
        found += [_place(text, m.start(), m.end(), REPEAT_PLACE, "place:repeat")
                  for m in re.finditer(re.escape(name), folded) if not any(m.start() == n.start(1) for n in natives)]
    return found


def _place(text: str, start: int, end: int, confidence: float, rule: str) -> Found:
    return Found(Kind.PLACE, start, end, {"place": text[start:end]}, confidence, rule)
