"""Storage locations named in ``storage.toml``, and the backend behind each."""

from __future__ import annotations

import enum
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import StorageError
from storage_config.backends.base import StorageBackend
from storage_config.backends.filesystem import FilesystemBackend


class Role(str, enum.Enum):
    PRIMARY = "primary"
    REPLICA = "replica"


@dataclass(frozen=True)
class Location:
    name: str
    backend: str
    role: Role
    offsite: bool
    path: Path

    def open_backend(self) -> StorageBackend:
        """Return the backend that reads and writes this location."""
        if self.backend == "filesystem":
            return FilesystemBackend(self.name, self.path)
        raise StorageError(f"location {self.name!r}: unknown backend {self.backend!r}; known: filesystem")


BACKENDS = ("filesystem",)


def load_locations(config: Path, *, home: Path) -> list[Location]:
    """Read and check the storage locations file; ``${SHUYING_HOME}`` expands to ``home``."""
    try:
        data = tomllib.loads(Path(config).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise StorageError(f"{config}: cannot read storage locations: {exc}") from None
    entries = data.get("location", [])
    if not entries:
        raise StorageError(f"{config}: no [[location]] defined")
    locations = [_location(config, i, entry, home) for i, entry in enumerate(entries)]
    names = [loc.name for loc in locations]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise StorageError(f"{config}: duplicate location name(s): {', '.join(duplicates)}")
    if not any(loc.role is Role.PRIMARY for loc in locations):
        raise StorageError(f"{config}: no location has role = \"primary\"")
    return locations


def _location(config: Path, index: int, entry: dict, home: Path) -> Location:
    where = f"{config}: location[{index}]"
    missing = [key for key in ("name", "backend", "role", "path") if not entry.get(key)]
    if missing:
        raise StorageError(f"{where}: missing {', '.join(missing)}")
    if entry["backend"] not in BACKENDS:
        raise StorageError(f"{where}: unknown backend {entry['backend']!r}; known: {', '.join(BACKENDS)}")
    try:
        role = Role(entry["role"])
    except ValueError:
        raise StorageError(f"{where}: unknown role {entry['role']!r}; known: primary, replica") from None
    path = Path(str(entry["path"]).replace("${SHUYING_HOME}", str(home))).expanduser()
    return Location(name=str(entry["name"]), backend=entry["backend"], role=role,
                    offsite=bool(entry.get("offsite", False)), path=path.absolute())
