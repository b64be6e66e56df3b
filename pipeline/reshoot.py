"""A reshoot: a master replaced by a new capture, recorded before anything is redone.

A technician replaces a page's image in the batch folder (same name) and says who and
why; the record keeps the digests of the master it replaces and of the new one, each
computed once, when the reshoot is recorded (the earliest point the new capture is
known). The PREMIS event is a ``capture`` about the page, naming the operator as
implementer and the replaced master's SHA-256 and size, so the AIP says what was
replaced even when the old bytes are not in it (before storage nothing keeps them; after
storage the earlier AIP version does).

``done`` is the AIP version the reshoot reached (0: not yet stored): a reshoot run
again after a crash carries on with the pending records, and one already done is not
made twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pipeline.checksums import Digests
from pipeline.premis import Agent, AgentType, Event, EventType, Outcome

__all__ = ["Reshoot", "reshoot_event"]


@dataclass(frozen=True)
class Reshoot:
    """One replaced master of one item."""

    page_id: str
    file: str
    replaced: Digests
    digests: Digests
    operator: str
    reason: str
    date: str  # ISO 8601, when the reshoot was recorded
    done: int = 0  # the AIP version that holds the new master; 0 while pending

    def finished(self, version: int) -> Reshoot:
        return replace(self, done=version)

    def as_dict(self) -> dict[str, Any]:
        return {"page_id": self.page_id, "file": self.file, "replaced": self.replaced.as_dict(),
                "digests": self.digests.as_dict(), "operator": self.operator, "reason": self.reason,
                "date": self.date, "done": self.done}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reshoot:
        return cls(str(data["page_id"]), str(data["file"]), Digests.from_dict(data["replaced"]),
                   Digests.from_dict(data["digests"]), str(data["operator"]), str(data["reason"]),
                   str(data["date"]), int(data.get("done", 0)))


def reshoot_event(reshoot: Reshoot, software: Agent) -> Event:
    """The PREMIS capture event of the new master, naming the one it replaces."""
    operator = Agent(reshoot.operator, AgentType.PERSON, role="implementer")
    old = reshoot.replaced
    detail = (f"reshoot of {reshoot.page_id} ({reshoot.file}): new master SHA-256 {reshoot.digests.sha256} "
              f"({reshoot.digests.size} bytes) replaces SHA-256 {old.sha256} ({old.size} bytes)")
    return Event(EventType.CAPTURE, reshoot.date, detail, Outcome.SUCCESS, f"reason: {reshoot.reason}",
                 agents=(operator, software), object_ids=(reshoot.page_id,))
