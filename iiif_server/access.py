"""Who may see what: the one place the server asks before serving published content.

Access tiers (reading-room only, size caps for some items) and authentication will
plug in here as other :class:`AccessPolicy` implementations; today every published
item is open (:class:`OpenAccess`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class Resource(enum.Enum):
    IMAGE = "image"
    INFO = "info"
    MANIFEST = "manifest"
    ALTO = "alto"
    VIEWER = "viewer"


@dataclass(frozen=True)
class AccessRequest:
    """What is asked for, and by whom (as far as the server can tell)."""

    resource: Resource
    item_id: str
    page_id: str = ""
    client: str = ""  # remote address, for reading-room rules


class AccessPolicy(Protocol):
    def check(self, request: AccessRequest) -> None:
        """Return if allowed; raise :class:`~iiif_server.errors.Forbidden` to refuse."""


class OpenAccess:
    """Every published item is public."""

    def check(self, request: AccessRequest) -> None:
        """Allow everything."""
