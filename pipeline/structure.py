"""The logical structure of a volume: work > 冊 volume > 卷 juan > sections.

batch.json may carry ``structure``: the divisions a cataloguer marks, each a range of
leaves given by the labels of its first and last leaf (or their page ids), with
``sections`` inside::

    "structure": [
      {"type": "preface", "label": "序", "first": "1a", "last": "2b"},
      {"type": "juan", "label": "卷一", "first": "3a", "last": "20b",
       "sections": [{"type": "section", "label": "本紀第一", "first": "3a", "last": "9b"}]}
    ]

:func:`parse_structure` resolves the ranges against the batch's leaves;
:func:`logical_structure` wraps them in the work and volume divisions. The METS
logical structMap (pipeline.mets) and the manifest's ranges (pipeline.manifest) are
both written from that one tree, so a METS consumer (DFG-Viewer, Kitodo) and a IIIF
viewer show the same table of contents.

Two neighbouring divisions may share their boundary leaf (卷二 often begins on the
leaf where 卷一 ends); any other overlap, a range that runs backwards, or a section
outside its juan is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from pipeline.errors import Problem

__all__ = ["DIVISION_TYPES", "Division", "LeafRef", "div_ids", "logical_structure", "parse_structure"]

# Division type in batch.json -> METS div TYPE, from the DFG-Viewer structure set
# (https://dfg-viewer.de/en/structural-data-set): what DFG-Viewer and Kitodo know.
DIVISION_TYPES: dict[str, str] = {
    "juan": "chapter",  # 卷
    "section": "section",  # 篇, 部, 門 …
    "preface": "preface",  # 序
    "contents": "contents",  # 目錄
    "illustration": "illustration",  # 圖
    "colophon": "colophon",  # 牌記, 刊記
    "postface": "section",  # 跋, 後序: the structure set has no own term
}
WORK_TYPE = "monograph"
MULTIVOLUME_TYPE = "multivolume_work"
VOLUME_TYPE = "volume"
FIELD = "structure"


@dataclass(frozen=True)
class Division:
    """One node of the logical structure: its kind, label, leaves (ids, reading order) and children."""

    kind: str
    label: str
    leaf_ids: tuple[str, ...]
    children: tuple[Division, ...] = ()

    @property
    def mets_type(self) -> str:
        return DIVISION_TYPES.get(self.kind, self.kind)

    def walk(self) -> list[Division]:
        """This division and every division below it, depth first in document order."""
        return [self, *(d for child in self.children for d in child.walk())]


@dataclass(frozen=True)
class LeafRef:
    """What a structure entry can point at: a leaf's id and label, and its place in reading order."""

    page_id: str
    label: str


def parse_structure(entries: Sequence[dict], leaves: Sequence[LeafRef]) -> tuple[tuple[Division, ...], list[Problem]]:
    """Resolve batch.json's ``structure`` against the leaves; return the divisions and every problem."""
    problems: list[Problem] = []
    divisions = _divisions(entries, leaves, FIELD, (0, len(leaves) - 1), problems)
    return (divisions if not problems else ()), problems


def logical_structure(title: str, leaf_ids: Sequence[str], divisions: Sequence[Division], *,
                      volume_label: str = "", volume_number: int = 1) -> Division:
    """Wrap the batch's divisions in the work and, for one volume of several, the 冊 division."""
    everything = tuple(leaf_ids)
    if not volume_label and volume_number <= 1:
        return Division(WORK_TYPE, title, everything, tuple(divisions))
    volume = Division(VOLUME_TYPE, volume_label or f"第{volume_number}冊", everything, tuple(divisions))
    return Division(MULTIVOLUME_TYPE, title, everything, (volume,))


def div_ids(logical: Division) -> dict[int, str]:
    """XML ids of the divisions, keyed by ``id()`` of each: LOG_0000 for the work, then depth first.

    The METS logical divs and the manifest's ranges both take their ids from here, so they match.
    """
    return {id(division): f"LOG_{index:04d}" for index, division in enumerate(logical.walk())}


def _divisions(entries: Sequence[dict], leaves: Sequence[LeafRef], where: str, bounds: tuple[int, int],
               problems: list[Problem]) -> tuple[Division, ...]:
    found: list[tuple[int, int, Division]] = []
    for index, entry in enumerate(entries):
        field = f"{where}[{index}]"
        span = _span(entry, leaves, field, problems)
        if span is None:
            continue
        first, last = span
        if first < bounds[0] or last > bounds[1]:
            problems.append(Problem("batch.json", f"{entry['label']!r} runs outside the division that holds it "
                                    f"(leaves {leaves[bounds[0]].label}–{leaves[bounds[1]].label})", field=field))
            continue
        children = _divisions(entry.get("sections", []), leaves, f"{field}.sections", span, problems)
        ids = tuple(leaf.page_id for leaf in leaves[first:last + 1])
        found.append((first, last, Division(entry["type"], entry["label"], ids, children)))
    problems += _overlaps(found, leaves, where)
    return tuple(division for _, _, division in found)


def _span(entry: dict, leaves: Sequence[LeafRef], field: str, problems: list[Problem]) -> tuple[int, int] | None:
    first = _find_leaf(entry["first"], leaves, f"{field}.first", problems)
    last = _find_leaf(entry["last"], leaves, f"{field}.last", problems)
    if first is None or last is None:
        return None
    if first > last:
        problems.append(Problem("batch.json", f"{entry['label']!r} ends ({entry['last']}) before it begins "
                                f"({entry['first']}) in reading order", field=field))
        return None
    return first, last


def _find_leaf(name: str, leaves: Sequence[LeafRef], field: str, problems: list[Problem]) -> int | None:
    """Index of the leaf with this page id, else with this label; a problem if none or several."""
    by_id = [i for i, leaf in enumerate(leaves) if leaf.page_id == name]
    matches = by_id or [i for i, leaf in enumerate(leaves) if leaf.label == name]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        problems.append(Problem("batch.json", f"no leaf is labelled {name!r}", field=field,
                                hint="give a leaf's label as in pages (3a, 3b for a split image) or its id (p0003r)"))
    else:
        ids = ", ".join(leaves[i].page_id for i in matches)
        problems.append(Problem("batch.json", f"{name!r} labels {len(matches)} leaves ({ids})", field=field,
                                hint="give the page id of the one meant instead"))
    return None


def _overlaps(found: list[tuple[int, int, Division]], leaves: Sequence[LeafRef], where: str) -> list[Problem]:
    """Siblings must be in reading order and may share only a boundary leaf."""
    problems = []
    for (first_a, last_a, a), (first_b, last_b, b) in pairwise(found):
        if first_b < last_a:
            problems.append(Problem("batch.json", f"{b.label!r} ({leaves[first_b].label}–{leaves[last_b].label}) "
                                    f"overlaps or precedes {a.label!r} ({leaves[first_a].label}–"
                                    f"{leaves[last_a].label})", field=where,
                                    hint="list divisions in reading order; neighbours may share one boundary leaf"))
    return problems
