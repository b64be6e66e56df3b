"""Identifiers that outlive the host: the item's persistent identifier and PREMIS UUIDs.

An item's persistent identifier comes from a template the library configures
(setting ``persistent_id``), with ``{item_id}`` and ``{uuid}`` as placeholders::

    urn:uuid:{uuid}                              the default: needs no resolver
    ark:/12345/{item_id}                         an ARK under the library's NAAN
    https://hdl.handle.net/20.500.12345/{item_id}  a Handle

``{uuid}`` is a name-based UUID (RFC 4122 version 5) of the item id, so the same item
gets the same identifier on every machine and every re-run, with no register to keep.
PREMIS objects and agents get UUIDs the same way (from what they are), so METS stays
byte-identical across re-runs while a changed file gets a new object identifier.
"""

from __future__ import annotations

import string
import uuid

__all__ = ["DEFAULT_TEMPLATE", "agent_uuid", "check_template", "item_uuid", "object_uuid", "persistent_id",
           "record_event_uuid", "scheme_of"]

DEFAULT_TEMPLATE = "urn:uuid:{uuid}"
PLACEHOLDERS = frozenset({"item_id", "uuid"})
# Fixed namespaces: changing one would change every identifier already preserved.
_ITEM_NAMESPACE = uuid.UUID("6f0d5a53-2f4e-5b8e-9d0c-3b7c1f2a9e41")
_OBJECT_NAMESPACE = uuid.UUID("0b7e3c4a-91d2-5f6e-8a1b-7c2d9e4f5a60")
_AGENT_NAMESPACE = uuid.UUID("c3a1e5d7-2b4f-5e8a-9c6d-1f3b5a7c9e02")
_RECORD_NAMESPACE = uuid.UUID("5d2f8a61-7c3e-5b9a-8e4d-2a6c1f9b3e75")


def item_uuid(item_id: str) -> uuid.UUID:
    """The UUID of an item, derived from its id."""
    return uuid.uuid5(_ITEM_NAMESPACE, item_id)


def check_template(template: str) -> str:
    """Return ``template`` if it names only known placeholders and at least one; else raise ValueError."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ValueError(f"persistent_id template {template!r}: {exc}") from None
    unknown = names - PLACEHOLDERS
    if unknown or not names:
        raise ValueError(f"persistent_id template {template!r} must use {{item_id}} or {{uuid}} and nothing else"
                         + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else ""))
    return template


def persistent_id(template: str, item_id: str) -> str:
    """The item's persistent identifier from the configured template."""
    return check_template(template or DEFAULT_TEMPLATE).format(item_id=item_id, uuid=item_uuid(item_id))


def scheme_of(identifier: str) -> str:
    """The MODS identifier type of a persistent identifier: uri, ark, hdl, urn or local."""
    lowered = identifier.lower()
    if lowered.startswith("ark:") or "/ark:" in lowered:
        return "ark"
    if lowered.startswith("hdl:") or "hdl.handle.net/" in lowered:
        return "hdl"
    if lowered.startswith("urn:"):
        return "urn"
    return "uri" if lowered.startswith(("http://", "https://")) else "local"


def object_uuid(item_pid: str, bag_path: str, sha256: str) -> str:
    """The UUID of one file of one item with this content: a changed file gets a new one."""
    return str(uuid.uuid5(_OBJECT_NAMESPACE, f"{item_pid}\x1f{bag_path}\x1f{sha256}"))


def record_event_uuid(record_id: str, revision: int) -> str:
    """The UUID of the PREMIS event of one saved revision of a conservation record."""
    return str(uuid.uuid5(_RECORD_NAMESPACE, f"{record_id}\x1f{revision}"))


def agent_uuid(name: str, version: str) -> str:
    """The UUID of an agent (a program at a version, a person, an organisation)."""
    return str(uuid.uuid5(_AGENT_NAMESPACE, f"{name}\x1f{version}"))
