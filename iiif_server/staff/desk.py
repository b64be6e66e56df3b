"""What the staff pages need from the conservation workflow, as a Protocol.

The server may not import workflows/ (they import Luigi and storage); whoever builds
the app passes in an object with these methods — ``workflows.conservation.Workshop``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from pipeline.conservation import ItemDescription, RecordHistory, SavedRevision, Vocabularies


class ItemChoice(Protocol):
    """An item offered for a new record; read-only, so a frozen dataclass is one."""

    @property
    def item_id(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def version(self) -> int: ...


class ConservationDesk(Protocol):
    """Records and items as the staff form sees them; every method may block (run it in a thread)."""

    def vocabularies(self) -> Vocabularies: ...

    def items(self) -> Sequence[ItemChoice]: ...

    def describe(self, item_id: str) -> ItemDescription: ...

    def add(self, item_id: str, data: Mapping[str, Any], images: Mapping[str, Path], *,
            saved_by: str) -> SavedRevision: ...

    def amend(self, record_id: str, data: Mapping[str, Any], images: Mapping[str, Path], *, based_on: int,
              saved_by: str) -> SavedRevision: ...

    def records(self, item_id: str | None = None) -> list[RecordHistory]: ...

    def history(self, record_id: str) -> RecordHistory: ...

    def image(self, record_id: str, path: str) -> bytes: ...

    def report(self, item_id: str) -> str: ...
