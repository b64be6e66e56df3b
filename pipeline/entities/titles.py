"""Book titles, and the holdings and provenances of bibliographic entries.

Titles: text in 《》; the book's own title (from the census); in 四庫總目-style entries,
the entry head at the start of a column, "<title><N>卷" or "<title>無卷數" followed by the
copy described, such as 浙江吳玉墀家藏本 (a holding, whose provenance is 浙江 吳玉墀),
河南巡撫採進本 (provenance 河南巡撫) or 內府藏本 (provenance 內府); and the formulas of
the entries' text: "<name>有<title>已著錄" and "事迹具<history>本傳".

An entry head whose holding OCR did not read (its double-line note misread) still gives
its title, with less confidence, when the 卷 count ends the column.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

from pipeline.entities.model import Found, Kind
from pipeline.entities.names import is_surnamed
from pipeline.entities.numerals import NUMERAL_CHARS, parse_number
from pipeline.entities.vocab import alternation, fold, load

__all__ = ["find_titles"]

QUOTED, ENTRY, ENTRY_NO_HOLDING, FORMULA, LISTED = 0.95, 0.95, 0.7, 0.85, 0.9
SUBMITTERS = "巡抚|总督|布政使|盐政|学政"  # folded: officials who sent copies (採進本)
FIXED_HOLDINGS = ("內府藏本", "內府刊本", "通行本", "永樂大典本", "武英殿刊本")
COPY_KINDS = ("采进本", "家藏本", "永乐大典本", "通行本", "藏本", "刊本")  # folded; the kind of copy, longest first
REGIONS = ("兩江", "兩淮", "閩浙", "兩廣", "湖廣", "陝甘", "雲貴", "四川")


@functools.cache
def _entry_pattern() -> re.Pattern[str]:
    num = f"[{NUMERAL_CHARS}]"
    places = load("places")
    where = alternation([*places["provinces"], *REGIONS])
    office = alternation(load("offices")["terms"])
    holding = (f"(?P<holding>(?P<where>{where})(?:(?P<submitter>{SUBMITTERS})采进本|(?P<who>\\w{{2,4}}?)家藏本)"
               f"|(?P<office>{office})(?P<owner>\\w{{2,4}}?)家藏本"
               f"|(?P<fixed>{alternation(FIXED_HOLDINGS)}))")
    return re.compile(f"(?P<title>\\w{{2,20}}?)(?P<count>{num}{{1,4}}卷|无卷数|不分卷)"
                      f"(?P<more>(?:(?:附录|附|首|末|补遗|续)(?:{num}{{1,3}}卷))*)(?:{holding})?")


def find_titles(text: str, folded: str, line_starts: frozenset[int], titles: Iterable[str]) -> list[Found]:
    """Return titles, holdings and provenances (see the module docstring)."""
    found = _quoted(text, folded) + _listed(text, folded, titles) + _formulas(text, folded)
    for start in sorted(line_starts):
        m = _entry_pattern().match(folded, start)
        if m and not any(start < s < m.end("title") for s in line_starts):  # a head's title is in one column
            found += _entry(text, m, m.end() in line_starts or m.end() == len(folded))
    return found


def _title(text: str, start: int, end: int, confidence: float, rule: str, **extra: Any) -> Found:
    return Found(Kind.TITLE, start, end, {"title": text[start:end], **extra}, confidence, rule)


def _quoted(text: str, folded: str) -> list[Found]:
    return [_title(text, m.start(1), m.end(1), QUOTED, "title:book-quotes")
            for m in re.finditer(r"《([^《》\n]{1,30})》", folded)]


def _listed(text: str, folded: str, titles: Iterable[str]) -> list[Found]:
    found = []
    for title in (t for t in titles if len(t) >= 2):
        found += [_title(text, m.start(), m.end(), LISTED, "list:titles")
                  for m in re.finditer(re.escape(fold(title)), folded)]
    return found


def _formulas(text: str, folded: str) -> list[Found]:
    """拱有春秋正旨已著錄 (an author's other book), 事迹具明史本傳 (his biography's history)."""
    found = [_title(text, m.start(1), m.end(1), FORMULA, "title:already-recorded")
             for m in re.finditer(r"有([^有\n]{2,12}?)已著录", folded)]
    found += [_title(text, m.start(1), m.end(1), FORMULA, "title:biography-in")
              for m in re.finditer(r"事迹具(\w{1,4}[史书])(?:本传|列传)", folded)]
    return found


def _entry(text: str, m: re.Match[str], ends_line: bool) -> list[Found]:
    """One 四庫-style entry head: its title, and its holding and provenance when read."""
    if not m["holding"] and not ends_line:
        return []
    if (m["who"] and not is_surnamed(m["who"])) or (m["owner"] and not is_surnamed(m["owner"])):
        return []
    count = text[m.start("count"):m.end("count")]
    juan = parse_number(count[:-1]) if count.endswith("卷") and count[:-1] != "不分" else None
    extra = {"juan": count, "juan_count": juan}
    if m["more"]:
        extra["juan_more"] = text[m.start("more"):m.end("more")]
    confidence, rule = (ENTRY, "title:entry-head") if m["holding"] else (ENTRY_NO_HOLDING, "title:entry-head-alone")
    found = [_title(text, m.start("title"), m.end("title"), confidence, rule, **extra)]
    if m["holding"]:
        found += _holding(text, m)
    return found


def _holding(text: str, m: re.Match[str]) -> list[Found]:
    def part(name: str) -> str | None:
        return text[m.start(name):m.end(name)] if m[name] else None

    holding = part("holding") or ""
    kind = next(k for k in COPY_KINDS if fold(holding).endswith(k))
    origin = {"place": part("where"), "office": part("submitter") or part("office"),
              "person": part("who") or part("owner"), "institution": "內府" if m["fixed"] and "内府" in m["fixed"] else None}
    origin = {k: v for k, v in origin.items() if v}
    end = m.end("holding") - len(kind)
    found = [Found(Kind.HOLDING, m.start("holding"), m.end("holding"),
                   {"holding": holding, "copy": text[end:m.end("holding")], **origin}, ENTRY, "holding:siku-entry")]
    if origin and end > m.start("holding"):
        found.append(Found(Kind.PROVENANCE, m.start("holding"), end,
                           {"provenance": text[m.start("holding"):end], **origin}, ENTRY, "provenance:siku-entry"))
    return found
