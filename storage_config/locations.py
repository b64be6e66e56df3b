"""Storage locations, the copy policy and the catalogue, as ``storage.toml`` names them.

The file is checked in two passes: first the mistakes people make (unknown backend,
duplicate name, missing path or bucket, credentials pasted into the file) with a
message that says what to do; then ``schemas/storage.schema.json`` for everything else.
"""

from __future__ import annotations

import enum
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import StorageError
from pipeline.validation import json_errors
from storage_config.backends.base import StorageBackend
from storage_config.backends.filesystem import FilesystemBackend
from storage_config.backends.s3_options import S3Options

HOME_VARIABLE = "${SHUYING_HOME}"
DEFAULT_CATALOGUE = f"{HOME_VARIABLE}/catalogue.sqlite"
# Keys that would put a secret into a file that ends up in a repository.
_SECRET_KEY = re.compile(r"(secret|access_key|password|token|credential)", re.IGNORECASE)


class Role(str, enum.Enum):
    PRIMARY = "primary"
    REPLICA = "replica"


class BackendKind(str, enum.Enum):
    FILESYSTEM = "filesystem"
    S3 = "s3"


BACKENDS = tuple(kind.value for kind in BackendKind)


@dataclass(frozen=True)
class Location:
    name: str
    backend: BackendKind
    role: Role
    offsite: bool
    path: Path | None = None
    create: bool = False
    s3: S3Options | None = None

    def open_backend(self) -> StorageBackend:
        """Return the backend that reads and writes this location."""
        if self.backend is BackendKind.S3 and self.s3 is not None:
            from storage_config.backends.s3 import (
                S3Backend,  # boto3 loads only when S3 is used
            )

            return S3Backend(self.name, self.s3)
        if self.path is None:
            raise StorageError(f"location {self.name!r}: no path")
        return FilesystemBackend(self.name, self.path, create=self.create)

    def describe(self) -> str:
        """Return where the location is, for messages: a folder or an s3:// URL."""
        if self.s3 is not None:
            host = f" at {self.s3.endpoint_url}" if self.s3.endpoint_url else ""
            return f"s3://{self.s3.bucket}/{self.s3.prefix}{host}"
        return str(self.path)


@dataclass(frozen=True)
class Policy:
    """How many verified copies each AIP version needs, and how many of them off-site."""

    min_copies: int = 1
    offsite_copies: int = 0
    replicate_on_ingest: bool = False


@dataclass(frozen=True)
class StorageConfig:
    source: Path
    locations: tuple[Location, ...]
    policy: Policy
    catalogue_url: str

    def location(self, name: str) -> Location:
        """Return the location called ``name``; StorageError lists the known names otherwise."""
        for location in self.locations:
            if location.name == name:
                return location
        known = ", ".join(loc.name for loc in self.locations)
        raise StorageError(f"{self.source}: no location named {name!r}; known: {known}")

    @property
    def primaries(self) -> tuple[Location, ...]:
        return tuple(loc for loc in self.locations if loc.role is Role.PRIMARY)


def load_storage_config(config: Path, *, home: Path) -> StorageConfig:
    """Read and check ``storage.toml``; ``${SHUYING_HOME}`` expands to ``home``."""
    data = _read_toml(Path(config))
    _check_entries(config, data)
    errors = json_errors(data, "storage")
    if errors:
        raise StorageError(f"{config}: {'; '.join(errors[:5])}")
    locations = tuple(_location(entry, home) for entry in data["location"])
    policy = Policy(**data.get("policy", {}))
    _check_policy(config, locations, policy)
    url = str(data.get("catalogue", {}).get("url", DEFAULT_CATALOGUE)).replace(HOME_VARIABLE, str(home))
    return StorageConfig(Path(config), locations, policy, url)


def load_locations(config: Path, *, home: Path) -> list[Location]:
    """Return the locations of ``storage.toml`` (see load_storage_config)."""
    return list(load_storage_config(config, home=home).locations)


def _read_toml(config: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise StorageError(f"{config}: cannot read storage locations: {exc}") from None


def _check_entries(config: Path, data: dict[str, Any]) -> None:
    """Catch the common mistakes with a message that names the fix."""
    entries = data.get("location")
    if not isinstance(entries, list) or not entries:
        raise StorageError(f"{config}: no [[location]] defined")
    for index, entry in enumerate(entries):
        where = f"{config}: location[{index}] ({entry.get('name', 'unnamed')})"
        secrets = sorted(key for key in entry if _SECRET_KEY.search(key))
        if secrets:
            raise StorageError(f"{where}: {', '.join(secrets)} must not be in storage.toml; put credentials in "
                               "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), ~/.aws/credentials "
                               "or a named profile (profile = \"...\")")
        backend = entry.get("backend")
        if backend not in BACKENDS:
            raise StorageError(f"{where}: unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
        needed = "path" if backend == "filesystem" else "bucket"
        if not entry.get(needed):
            raise StorageError(f"{where}: a {backend} location needs {needed} = \"...\"")
    names = [str(entry.get("name")) for entry in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise StorageError(f"{config}: duplicate location name(s): {', '.join(duplicates)} (names must be unique)")


def _check_policy(config: Path, locations: tuple[Location, ...], policy: Policy) -> None:
    if not any(loc.role is Role.PRIMARY for loc in locations):
        raise StorageError(f"{config}: no location has role = \"primary\"")
    if policy.min_copies > len(locations):
        raise StorageError(f"{config}: policy.min_copies = {policy.min_copies} but only "
                           f"{len(locations)} location(s) are defined")
    offsite = sum(1 for loc in locations if loc.offsite)
    if policy.offsite_copies > offsite:
        raise StorageError(f"{config}: policy.offsite_copies = {policy.offsite_copies} but only {offsite} "
                           "location(s) have offsite = true")
    if policy.offsite_copies > policy.min_copies:
        raise StorageError(f"{config}: policy.offsite_copies exceeds policy.min_copies")


def _location(entry: dict[str, Any], home: Path) -> Location:
    name, backend = str(entry["name"]), BackendKind(entry["backend"])
    role, offsite = Role(entry["role"]), bool(entry.get("offsite", False))
    if backend is BackendKind.S3:
        fields = {k: v for k, v in entry.items() if k in S3Options.__dataclass_fields__}
        return Location(name, backend, role, offsite, s3=S3Options(**fields))
    path = Path(str(entry["path"]).replace(HOME_VARIABLE, str(home))).expanduser().absolute()
    return Location(name, backend, role, offsite, path=path, create=bool(entry.get("create", False)))
