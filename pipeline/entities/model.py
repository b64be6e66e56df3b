"""The entity record every rule returns, and the stable dictionary it is published as.

Entities are found on one page's OCR text and point back at it: the character span in
the page text (as :func:`pipeline.search.read_alto_page` builds it) and the ALTO boxes
of those characters, so a later step can draw them on the canvas (IIIF annotations)
and index them. ``as_dict()`` is that step's contract: its keys are documented in
docs/entities.md and only ever gain new ones.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["ACCEPT", "Box", "Entity", "Found", "Kind"]

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), access-image pixels, as in ALTO
# Below this confidence an entity is a candidate for a reviewer, not a finding: the
# benchmark's precision counts only entities at or above it, and a date below it never
# carries a Gregorian year.
ACCEPT = 0.5


class Kind(str, enum.Enum):
    """What an entity names."""

    DATE = "date"
    PERSON = "person"
    PLACE = "place"
    OFFICE = "office"  # 官名
    TITLE = "title"  # 書名
    HOLDING = "holding"  # the copy a bibliography describes: 浙江吳玉墀家藏本
    PROVENANCE = "provenance"  # where that copy came from: 浙江 吳玉墀, 河南巡撫, 內府


@dataclass(frozen=True)
class Found:
    """What a rule returns: an entity before the page's id, text and boxes are attached."""

    kind: Kind
    start: int
    end: int
    value: Mapping[str, Any] = field(hash=False)
    confidence: float
    rule: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entity:
    """One entity found on a page.

    ``value`` holds the normalised reading (a date's ``year``, ``reign``, ``dynasty``,
    ``regnal_year``, ``month``, ``day``, ``ganzhi``; a person's ``name``, ``courtesy_name``;
    …), never guessed: a key is missing or None when the text does not support it.
    ``start``/``end`` index the page text; ``boxes`` are one union per ALTO line
    (column) the span touches, in reading order.
    """

    kind: Kind
    text: str
    value: Mapping[str, Any] = field(hash=False)
    page_id: str
    start: int
    end: int
    boxes: tuple[Box, ...]
    confidence: float
    rule: str  # the rule or list that found it: "date:reign-year", "list:census-creators" …
    notes: tuple[str, ...] = field(default=())  # why the confidence is low, for a reviewer

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"entity {self.text!r}: confidence {self.confidence} is outside 0..1")
        if not 0 <= self.start < self.end:
            raise ValueError(f"entity {self.text!r}: span {self.start}..{self.end} is empty or negative")
        object.__setattr__(self, "value", MappingProxyType(dict(self.value)))

    @property
    def accepted(self) -> bool:
        """True when the confidence is high enough to publish the entity as found."""
        return self.confidence >= ACCEPT

    def as_dict(self) -> dict[str, Any]:
        """Return the entity as JSON-ready data; the keys are the published contract (docs/entities.md)."""
        return {
            "kind": self.kind.value,
            "text": self.text,
            "value": dict(self.value),
            "page_id": self.page_id,
            "span": [self.start, self.end],
            "boxes": [list(box) for box in self.boxes],
            "confidence": round(self.confidence, 3),
            "rule": self.rule,
            "notes": list(self.notes),
        }
