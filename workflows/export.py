"""Export one AIP version as a complete, valid bag, from any location holding a verified copy.

Every file is streamed from storage and hashed as it is written; a file whose bytes do
not match the catalogue is fetched from the next location instead. A version stored as
a holey bag (fetch.txt pointing at an earlier version's payload) is materialised: the
fetched files are copied in, fetch.txt is left out and the tag manifests lose its line.
The result is checked with bagit-python (the same check as ``bagit.py --validate``)
before it is renamed into place.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pipeline.atomic import atomic_path
from pipeline.bag import validate_bag
from pipeline.checksums import ALGORITHMS, BLOCK_SIZE, Digests
from pipeline.errors import StorageError
from storage_config.catalogue import CopyStatus
from storage_config.locations import Role
from storage_config.settings import Settings
from workflows.archive import Archive, open_archive

log = logging.getLogger(__name__)

FETCH_TXT = "fetch.txt"


@dataclass(frozen=True)
class ExportReport:
    aip_key: str
    dest: Path
    files: int
    bytes: int
    locations: tuple[str, ...]  # where the bytes came from


def export(settings: Settings, item_id: str, dest: Path, *, version: int | None = None,
           location: str | None = None) -> ExportReport:
    """Write version ``version`` (default: the latest) of ``item_id`` to ``dest`` as a complete bag.

    Raises:
        StorageError: ``dest`` exists, the item or version is unknown, or some file has no
            copy that matches the catalogue (every location tried is named).
    """
    archive = open_archive(settings)
    record = archive.catalogue.version(item_id, version)
    dest = Path(dest).absolute()
    if dest.exists():
        raise StorageError(f"{dest}: already exists; export into a new folder")
    used: set[str] = set()
    with atomic_path(dest, directory=True) as tmp:
        for path, entry in sorted(record.files.items()):
            if path == FETCH_TXT:
                continue
            key = archive.catalogue.version(item_id, entry.stored_in).aip_key
            candidates = [location] if location else holders(archive, item_id, entry.stored_in)
            used.add(_fetch_verified(archive, candidates, key, path, tmp / path, entry.digests))
        if FETCH_TXT in record.files:
            _drop_fetch_lines(tmp)
        problems = validate_bag(tmp)
        if problems:
            raise StorageError(f"{dest}: exported bag does not validate: {'; '.join(problems[:5])}")
    size = sum(f.digests.size for f in record.files.values() if f.path != FETCH_TXT)
    log.info("exported %s to %s from %s", record.aip_key, dest, ", ".join(sorted(used)))
    return ExportReport(record.aip_key, dest, len(record.files) - (FETCH_TXT in record.files), size,
                        tuple(sorted(used)))


def copy_and_digest(stream: BinaryIO, dest: Path) -> Digests:
    """Copy ``stream`` to a new file ``dest``, hashing it on the way (one pass)."""
    hashers = [hashlib.new(name) for name in ALGORITHMS]
    size = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as out:
        while block := stream.read(BLOCK_SIZE):
            size += len(block)
            for hasher in hashers:
                hasher.update(block)
            out.write(block)
    sha256, sha512 = (h.hexdigest() for h in hashers)
    return Digests(size, sha256, sha512)


def holders(archive: Archive, item_id: str, version: int) -> list[str]:
    """Locations with a verified copy of a version: primaries first, then config order."""
    verified = {c.location for c in archive.catalogue.copies(item_id)
                if c.version == version and c.status is CopyStatus.VERIFIED}
    ordered = sorted(archive.config.locations, key=lambda loc: loc.role is not Role.PRIMARY)
    return [loc.name for loc in ordered if loc.name in verified]


def _fetch_verified(archive: Archive, candidates: list[str], key: str, path: str, dest: Path,
                    expected: Digests) -> str:
    """Copy one file from the first location whose bytes match ``expected``; return that location."""
    problems = []
    for name in candidates:
        try:
            with archive.backend(name).open_read(key, path) as stream:
                found = copy_and_digest(stream, dest)
        except StorageError as exc:
            problems.append(str(exc))
            continue
        if found == expected:
            return name
        problems.append(f"{name}: {key}/{path}: does not match the catalogue (size {found.size}, "
                        f"expected {expected.size})")
        log.warning("%s", problems[-1])
    tried = "; ".join(problems) or "no location holds a verified copy"
    raise StorageError(f"{key}/{path}: no intact copy found ({tried})")


def _drop_fetch_lines(bag: Path) -> None:
    """Remove fetch.txt from the tag manifests of a materialised bag (RFC 8493 §2.2.3)."""
    for algorithm in ALGORITHMS:
        manifest = bag / f"tagmanifest-{algorithm}.txt"
        if manifest.is_file():
            lines = manifest.read_text(encoding="utf-8").splitlines(keepends=True)
            manifest.write_text("".join(line for line in lines if line.rstrip("\r\n").split(" ", 1)[-1].strip() != FETCH_TXT),
                                encoding="utf-8")
