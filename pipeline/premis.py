"""PREMIS 3 events, agents and file objects: the provenance of an AIP.

Luigi tasks record one :class:`Event` per thing they did (as JSON sidecars, via
:meth:`Event.as_dict`); ``pipeline.mets`` gathers them into the METS amdSec and
:func:`premis_xml` writes a stand-alone ``premis:premis`` document.

Event types come from the Library of Congress vocabulary
https://id.loc.gov/vocabulary/preservation/eventType. How Shuying's steps map onto it:

=========================  ===============================  ==============================
step                       eventType                        eventDetailInformation
=========================  ===============================  ==============================
checksums.json             message digest calculation       "SHA-256 and SHA-512 of master"
batch.json check           validation                       "batch description validation"
page QC                    validation                       "image quality control"
deskew                     creation                         "deskewed derivative <path>"
OCR                        creation                         "OCR text and ALTO <path>"
mets.xml                   metadata extraction/creation     (as the task records it)
AIP bag                    information package creation     "BagIt 1.0 bag"
re-reading a master        fixity check                     "verify against checksums.json"
copy to a location         replication                      "copy to <location>"
=========================  ===============================  ==============================

Deskew and OCR are "creation", not "modification" or "migration": the master is
never changed; each step makes a new object derived from it, and the detail names it.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from pipeline.checksums import Digests
from pipeline.identifiers import agent_uuid
from pipeline.xmlns import NAMESPACES, XSI_SCHEMA_LOCATION, attr, schema_location, tag

__all__ = [
    "Agent",
    "AgentType",
    "Event",
    "EventType",
    "FileObject",
    "Outcome",
    "agent_xml",
    "agents_of",
    "event_xml",
    "object_xml",
    "premis_xml",
]

PREMIS_VERSION = "3.0"
EVENT_TYPE_AUTHORITY = "http://id.loc.gov/vocabulary/preservation/eventType"
HASH_AUTHORITY = "http://id.loc.gov/vocabulary/preservation/cryptographicHashFunctions"
LOCAL = "local"
UUID_TYPE = "UUID"
URN_UUID = "urn:uuid:"
PRONOM = "PRONOM"
FORMAT_REGISTRY_ROLE_AUTHORITY = "http://id.loc.gov/vocabulary/preservation/formatRegistryRole"
# uuid5 namespace for event identifiers derived from an event's content: the same
# event recorded twice gets the same id, so re-runs stay byte-identical.
_EVENT_NAMESPACE = uuid.UUID("1b9f8b0e-4c52-5d3a-9a51-5c1e0a7b3f10")


class EventType(str, enum.Enum):
    """Terms of the LoC preservation eventType vocabulary that Shuying records."""

    CAPTURE = "capture"
    CREATION = "creation"
    FIXITY_CHECK = "fixity check"
    FORMAT_IDENTIFICATION = "format identification"
    INFORMATION_PACKAGE_CREATION = "information package creation"
    INGESTION = "ingestion"
    MESSAGE_DIGEST_CALCULATION = "message digest calculation"
    METADATA_EXTRACTION = "metadata extraction"
    METADATA_MODIFICATION = "metadata modification"
    REPLICATION = "replication"
    VALIDATION = "validation"


class Outcome(str, enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    WARNING = "warning"


class AgentType(str, enum.Enum):
    SOFTWARE = "software"
    PERSON = "person"
    ORGANIZATION = "organization"


@dataclass(frozen=True)
class Agent:
    """Who or what did something: a program with its version, a person, an organisation."""

    name: str
    agent_type: AgentType
    version: str = ""
    role: str = "executing program"  # LoC eventRelatedAgentRole

    @property
    def identifier(self) -> str:
        """Return a stable local identifier, e.g. ``tesseract-5.3.0``."""
        return f"{self.name}-{self.version}" if self.version else self.name

    @property
    def uuid(self) -> str:
        """Return the agent's UUID, derived from its name and version (the same on every machine)."""
        return agent_uuid(self.name, self.version)

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "agent_type": self.agent_type.value, "version": self.version, "role": self.role}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Agent:
        return cls(
            name=str(data["name"]),
            agent_type=AgentType(data["agent_type"]),
            version=str(data.get("version", "")),
            role=str(data.get("role", "executing program")),
        )


@dataclass(frozen=True)
class Event:
    """One preservation event about one or more objects (page ids or file ids)."""

    event_type: EventType
    date_time: str  # ISO 8601
    detail: str
    outcome: Outcome
    outcome_detail: str = ""
    agents: tuple[Agent, ...] = ()
    object_ids: tuple[str, ...] = ()
    event_id: str = ""

    @property
    def identifier(self) -> str:
        """Return ``event_id``, or a UUID derived from the event's content when none was given."""
        if self.event_id:
            return self.event_id
        key = "\x1f".join(
            [self.event_type.value, self.date_time, self.detail, *self.object_ids, *(a.identifier for a in self.agents)]
        )
        return f"urn:uuid:{uuid.uuid5(_EVENT_NAMESPACE, key)}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.identifier,
            "event_type": self.event_type.value,
            "date_time": self.date_time,
            "detail": self.detail,
            "outcome": self.outcome.value,
            "outcome_detail": self.outcome_detail,
            "agents": [a.as_dict() for a in self.agents],
            "object_ids": list(self.object_ids),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        return cls(
            event_type=EventType(data["event_type"]),
            date_time=str(data["date_time"]),
            detail=str(data.get("detail", "")),
            outcome=Outcome(data["outcome"]),
            outcome_detail=str(data.get("outcome_detail", "")),
            agents=tuple(Agent.from_dict(a) for a in data.get("agents", ())),
            object_ids=tuple(str(o) for o in data.get("object_ids", ())),
            event_id=str(data.get("event_id", "")),
        )


@dataclass(frozen=True)
class FileObject:
    """A file as PREMIS describes it: identifiers, fixity, size, format, original name.

    ``object_id`` is the local identifier events link to (a page id, a bag path);
    ``uuid``, when given, is the primary identifier. ``puid`` is the PRONOM format id.
    """

    object_id: str
    digests: Digests
    format_name: str
    original_name: str = ""
    uuid: str = ""
    format_version: str = ""
    puid: str = ""


def premis_xml(events: Iterable[Event], agents: Iterable[Agent], objects: Iterable[FileObject]) -> etree._Element:
    """Build a PREMIS 3 ``premis:premis`` element: objects, then events, then agents."""
    root = etree.Element(tag("premis", "premis"), nsmap=_nsmap())
    root.set(XSI_SCHEMA_LOCATION, schema_location("premis"))
    root.set("version", PREMIS_VERSION)
    objects = list(objects)
    uuids = {o.object_id: o.uuid for o in objects if o.uuid}
    for child in [*map(object_xml, objects), *(event_xml(e, uuids) for e in events),
                  *map(agent_xml, _unique(agents))]:
        root.append(child)
    return root


def object_xml(obj: FileObject) -> etree._Element:
    """Build a ``premis:object`` of type file with SHA-256 and SHA-512 fixity, size and format."""
    element = etree.Element(tag("premis", "object"), nsmap=_nsmap())
    element.set(attr("xsi", "type"), "premis:file")
    if obj.uuid:
        _identifier(element, "objectIdentifier", UUID_TYPE, obj.uuid)
    _identifier(element, "objectIdentifier", LOCAL, obj.object_id)
    characteristics = _sub(element, "objectCharacteristics")
    _sub(characteristics, "compositionLevel", "0")
    for name, value in (("SHA-256", obj.digests.sha256), ("SHA-512", obj.digests.sha512)):
        fixity = _sub(characteristics, "fixity")
        algorithm = _sub(fixity, "messageDigestAlgorithm", name)
        algorithm.set("authority", "cryptographicHashFunctions")
        algorithm.set("authorityURI", HASH_AUTHORITY)
        _sub(fixity, "messageDigest", value)
    _sub(characteristics, "size", str(obj.digests.size))
    _format(_sub(characteristics, "format"), obj)
    if obj.original_name:
        _sub(element, "originalName", obj.original_name)
    return element


def _format(element: etree._Element, obj: FileObject) -> None:
    designation = _sub(element, "formatDesignation")
    _sub(designation, "formatName", obj.format_name)
    if obj.format_version:
        _sub(designation, "formatVersion", obj.format_version)
    if obj.puid:
        registry = _sub(element, "formatRegistry")
        _sub(registry, "formatRegistryName", PRONOM)
        _sub(registry, "formatRegistryKey", obj.puid)
        role = _sub(registry, "formatRegistryRole", "specification")
        role.set("authority", "formatRegistryRole")
        role.set("authorityURI", FORMAT_REGISTRY_ROLE_AUTHORITY)


def event_xml(event: Event, object_uuids: Mapping[str, str] | None = None) -> etree._Element:
    """Build a ``premis:event`` linking its agents by UUID and its objects by UUID where known.

    ``object_uuids`` maps the local ids events record (page ids, bag paths) to the
    UUIDs of the objects described beside the event; others stay local identifiers.
    """
    element = etree.Element(tag("premis", "event"), nsmap=_nsmap())
    _identifier(element, "eventIdentifier", *_typed(event.identifier))
    event_type = _sub(element, "eventType", event.event_type.value)
    event_type.set("authority", "eventType")
    event_type.set("authorityURI", EVENT_TYPE_AUTHORITY)
    _sub(element, "eventDateTime", event.date_time)
    if event.detail:
        _sub(_sub(element, "eventDetailInformation"), "eventDetail", event.detail)
    outcome = _sub(element, "eventOutcomeInformation")
    _sub(outcome, "eventOutcome", event.outcome.value)
    if event.outcome_detail:
        _sub(_sub(outcome, "eventOutcomeDetail"), "eventOutcomeDetailNote", event.outcome_detail)
    for agent in event.agents:
        link = _identifier(element, "linkingAgentIdentifier", UUID_TYPE, agent.uuid)
        _sub(link, "linkingAgentRole", agent.role)
    known = object_uuids or {}
    for object_id in event.object_ids:
        if object_id in known:
            _identifier(element, "linkingObjectIdentifier", UUID_TYPE, known[object_id])
        else:
            _identifier(element, "linkingObjectIdentifier", LOCAL, object_id)
    return element


def _typed(identifier: str) -> tuple[str, str]:
    """Split ``urn:uuid:…`` into PREMIS type UUID and the bare UUID; anything else is local."""
    if identifier.startswith(URN_UUID):
        return UUID_TYPE, identifier[len(URN_UUID):]
    return LOCAL, identifier


def agent_xml(agent: Agent) -> etree._Element:
    """Build a ``premis:agent`` with name, type and (for software) version."""
    element = etree.Element(tag("premis", "agent"), nsmap=_nsmap())
    _identifier(element, "agentIdentifier", UUID_TYPE, agent.uuid)
    _identifier(element, "agentIdentifier", LOCAL, agent.identifier)
    _sub(element, "agentName", agent.name)
    _sub(element, "agentType", agent.agent_type.value)
    if agent.version:
        _sub(element, "agentVersion", agent.version)
    return element


def agents_of(events: Iterable[Event], *extra: Agent) -> list[Agent]:
    """Return the distinct agents of ``events`` plus ``extra``, sorted by identifier."""
    return sorted(_unique([*extra, *(a for e in events for a in e.agents)]), key=lambda a: a.identifier)


def _unique(agents: Iterable[Agent]) -> list[Agent]:
    # Agents are keyed by identifier: the same program acting in two roles is one agent.
    seen: dict[str, Agent] = {}
    for agent in agents:
        seen.setdefault(agent.identifier, agent)
    return list(seen.values())


def _identifier(parent: etree._Element, name: str, id_type: str, value: str) -> etree._Element:
    """Append a PREMIS identifier container (``<name>Type`` + ``<name>Value``)."""
    # linkingAgentIdentifier -> linkingAgentIdentifierType / linkingAgentIdentifierValue
    element = _sub(parent, name)
    _sub(element, f"{name}Type", id_type)
    _sub(element, f"{name}Value", value)
    return element


def _sub(parent: etree._Element, local: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag("premis", local))
    if text is not None:
        element.text = text
    return element


def _nsmap() -> dict[str, str]:
    return {"premis": NAMESPACES["premis"], "xsi": NAMESPACES["xsi"]}
