"""Read what a stored bag says about itself, and rebuild the catalogue from storage alone.

The same :func:`read_version` describes a bag when ingest stores it and when
``catalogue rebuild`` finds it in a location, so the two catalogues agree row for row.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, unquote, urlparse

from pipeline.checksums import Digests, digest_stream
from pipeline.errors import StorageError
from pipeline.mets import href_of
from pipeline.validation import parse_xml_safely
from pipeline.xmlns import NAMESPACES
from storage_config.backends.base import StorageBackend
from storage_config.catalogue import (
    Catalogue,
    CopyStatus,
    EventRecord,
    FileKind,
    FileRecord,
    VersionRecord,
)
from storage_config.settings import Settings
from workflows.archive import open_archive, read_events

log = logging.getLogger(__name__)

FETCH_SCHEME = "shuying"
METS_PATH = "data/mets.xml"


@dataclass(frozen=True)
class RebuildReport:
    versions: int
    copies: int
    events: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def aip_key(item_id: str, version: int) -> str:
    """Where version ``version`` of an item lives in every location."""
    return f"aips/{item_id}/{item_id}.v{version}"


def fetch_url(item_id: str, version: int, path: str) -> str:
    """Return the fetch.txt URL of a payload file stored under an earlier version's key."""
    return f"{FETCH_SCHEME}://{quote(f'{aip_key(item_id, version)}/{path}', safe='/')}"


def read_version(key: str, open_file: Callable[[str], BinaryIO], sizes: Mapping[str, int]) -> VersionRecord:
    """Describe the bag at ``key`` from its tag files; ``sizes`` lists the files stored under it.

    Raises:
        StorageError: the bag is not a Shuying AIP, or its manifests, fetch.txt and files disagree.
    """
    item_id, version = _split_key(key)
    info = _tag_values(_read_text(open_file, "bag-info.txt"))
    if info.get("External-Identifier") != item_id:
        raise StorageError(f"{key}/bag-info.txt: External-Identifier {info.get('External-Identifier')!r} "
                           f"is not the item {item_id!r} named by the key")
    sha256 = _manifest(_read_text(open_file, "manifest-sha256.txt"))
    sha512 = _manifest(_read_text(open_file, "manifest-sha512.txt"))
    fetched = _fetch_entries(key, open_file, sizes)
    files = {rel: _payload_record(key, rel, sha256, sha512, sizes, fetched, version) for rel in sorted(sha256)}
    for rel in sorted(p for p in sizes if "/" not in p):
        with open_file(rel) as stream:
            files[rel] = FileRecord(rel, FileKind.TAG, digest_stream(stream), version)
    previous = info.get("Shuying-Previous-Version")
    return VersionRecord(item_id, version, key, info.get("External-Description", ""), info.get("Bagging-Date", ""),
                         info.get("Payload-Oxum", ""), int(previous) if previous else None,
                         info.get("Shuying-Version-Reason", ""), files)


def read_local_version(key: str, bag: Path) -> VersionRecord:
    """Describe a bag folder on local disk (see read_version)."""
    sizes = {p.relative_to(bag).as_posix(): p.stat().st_size for p in sorted(bag.rglob("*")) if p.is_file()}
    return read_version(key, lambda rel: open(bag / rel, "rb"), sizes)


def read_stored_version(backend: StorageBackend, key: str) -> VersionRecord:
    """Describe a committed bag in a location (see read_version)."""
    return read_version(key, lambda rel: backend.open_read(key, rel), backend.list_tree(key))


def check_recorded(record: VersionRecord, recorded: Mapping[str, Digests]) -> None:
    """Raise StorageError unless the bag's digests equal those computed at ingest (``recorded``)."""
    wrong = [path for path, digests in sorted(recorded.items())
             if path not in record.files or record.files[path].digests != digests]
    if wrong:
        raise StorageError(f"{record.aip_key}: manifests disagree with the digests computed at ingest for "
                           f"{', '.join(wrong[:5])}; not stored")


def mets_problems(record: VersionRecord, mets: bytes) -> list[str]:
    """List payload files whose SHA-256 in data/mets.xml differs from the bag's manifest."""
    tree = parse_xml_safely(mets, document=f"{record.aip_key}/{METS_PATH}")
    by_href = {href_of(path): f for path, f in record.files.items() if f.kind is FileKind.PAYLOAD}
    problems = []
    for element in tree.iter(f"{{{NAMESPACES['mets']}}}file"):
        if not element.get("CHECKSUM"):
            continue  # access copies on the IIIF server are described, not bagged
        flocat = element.find(f"{{{NAMESPACES['mets']}}}FLocat")
        href = flocat.get(f"{{{NAMESPACES['xlink']}}}href") if flocat is not None else None
        entry = by_href.get(href or "")
        if entry is None:
            problems.append(f"{record.aip_key}/{METS_PATH}: describes {href!r}, which is not in the bag")
        elif element.get("CHECKSUMTYPE") == "SHA-256" and element.get("CHECKSUM") != entry.digests.sha256:
            problems.append(f"{record.aip_key}/{entry.path}: SHA-256 in mets.xml differs from the manifest")
    return problems


def rebuild_catalogue(settings: Settings) -> RebuildReport:
    """Rebuild the catalogue from every reachable location, then swap it in for the old one."""
    archive = open_archive(settings)
    final = archive.catalogue.path
    scratch = Catalogue(str(final.with_name(final.name + ".rebuild")))
    _remove_database(scratch.path)
    scratch.create()
    records, present, problems = _scan_locations(archive)
    for record in sorted(records.values(), key=lambda r: (r.item_id, r.version)):
        scratch.add_version(record)
    events = _scan_events(archive, problems)
    for event in sorted(events.values(), key=lambda e: (e.date_time, e.event_id)):
        scratch.apply_event(event)
    _mark_unproven(scratch, records, present)
    _swap_database(scratch.path, final)
    copies = Catalogue(str(final)).copies()
    log.info("catalogue rebuilt: %d versions, %d copies, %d events", len(records), len(copies), len(events))
    return RebuildReport(len(records), len(copies), len(events), tuple(problems))


def _scan_locations(archive) -> tuple[dict[str, VersionRecord], dict[str, set[str]], list[str]]:
    records: dict[str, VersionRecord] = {}
    present: dict[str, set[str]] = {}
    problems: list[str] = []
    for location in archive.config.locations:
        backend = archive.backend(location)
        try:
            present[location.name] = set(backend.list_aips())
        except StorageError as exc:
            problems.append(f"{location.name}: not scanned: {exc}")
            continue
        for key in sorted(present[location.name] - set(records)):
            try:
                records[key] = _read_checked(backend, key)
            except StorageError as exc:
                problems.append(f"{location.name}: {key}: {exc}")
    return records, present, problems


def _read_checked(backend: StorageBackend, key: str) -> VersionRecord:
    record = read_stored_version(backend, key)
    if METS_PATH in record.stored_files():
        with backend.open_read(key, METS_PATH) as stream:
            problems = mets_problems(record, stream.read())
        if problems:
            raise StorageError("; ".join(problems[:3]))
    return record


def _scan_events(archive, problems: list[str]) -> dict[str, EventRecord]:
    """Merge the event records of every location by event id: each location may hold any of them."""
    events: dict[str, EventRecord] = {}
    for location in archive.config.locations:
        try:
            found = read_events(archive.backend(location))
        except StorageError as exc:
            problems.append(f"{location.name}: events not read: {exc}")
            continue
        for event_id, event in found.items():
            if events.setdefault(event_id, event) != event:
                problems.append(f"{location.name}: event {event_id} differs from the copy in another location; "
                                "the first one read is kept")
    return events


def _mark_unproven(catalogue: Catalogue, records: Mapping[str, VersionRecord],
                   present: Mapping[str, set[str]]) -> None:
    """Say where storage and events disagree: held but never verified, or verified but gone."""
    copies = {(c.item_id, c.version, c.location): c for c in catalogue.copies()}
    for location, keys in present.items():
        for key in keys & set(records):
            record = records[key]
            if (record.item_id, record.version, location) not in copies:
                catalogue.set_copy_status(record.item_id, record.version, location, CopyStatus.UNVERIFIED,
                                          "found in storage; no event records its verification")
    by_key = {(r.item_id, r.version): key for key, r in records.items()}
    for item_id, version, location in copies:
        if location in present and by_key.get((item_id, version)) not in present[location]:
            catalogue.set_copy_status(item_id, version, location, CopyStatus.MISSING,
                                      f"events record a copy, but {location} does not hold it")


def _swap_database(new: Path, final: Path) -> None:
    with Catalogue(str(new)).connect() as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode = DELETE")
    _remove_database(final, keep_main=True)
    os.replace(new, final)


def _remove_database(path: Path, *, keep_main: bool = False) -> None:
    for suffix in ("-wal", "-shm", "-journal") if keep_main else ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _split_key(key: str) -> tuple[str, int]:
    parts = key.split("/")
    stem, _, version = parts[-1].rpartition(".v") if len(parts) == 3 else ("", "", "")
    if parts[0] != "aips" or stem != parts[1] or not version.isdigit():
        raise StorageError(f"{key}: not an AIP key (aips/<item>/<item>.v<N>)")
    return parts[1], int(version)


def _read_text(open_file: Callable[[str], BinaryIO], name: str) -> str:
    with open_file(name) as stream:
        return stream.read().decode("utf-8")


def _tag_values(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    label = ""
    for line in text.splitlines():
        if line[:1].isspace() and label:  # RFC 8493 §2.2.2: folded continuation line
            values[label] += " " + line.strip()
        elif ":" in line:
            label, _, value = line.partition(":")
            label = label.strip()
            values[label] = value.strip()
    return values


def _manifest(text: str) -> dict[str, str]:
    entries = {}
    for line in text.splitlines():
        digest, _, rel = line.strip().partition(" ")
        if rel:
            entries[_decode(rel.strip())] = digest.lower()
    return entries


def _decode(path: str) -> str:
    return path.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def _fetch_entries(key: str, open_file: Callable[[str], BinaryIO],
                   sizes: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """Map each fetched payload path to (version holding it, length) from fetch.txt."""
    if "fetch.txt" not in sizes:
        return {}
    entries = {}
    for line in _read_text(open_file, "fetch.txt").splitlines():
        url, length, rel = line.split(None, 2)
        parsed, rel = urlparse(url), _decode(rel)
        target = f"{parsed.netloc}{unquote(parsed.path)}"
        if parsed.scheme != FETCH_SCHEME or not target.endswith(f"/{rel}"):
            raise StorageError(f"{key}/fetch.txt: {url} does not point at {rel} in an earlier version")
        entries[rel] = (_split_key(target[: -len(rel) - 1])[1], int(length))
    return entries


def _payload_record(key: str, rel: str, sha256: Mapping[str, str], sha512: Mapping[str, str],
                    sizes: Mapping[str, int], fetched: Mapping[str, tuple[int, int]], version: int) -> FileRecord:
    if rel not in sha512:
        raise StorageError(f"{key}: {rel} is in manifest-sha256.txt but not in manifest-sha512.txt")
    if rel in fetched:
        stored_in, size = fetched[rel]
    elif rel in sizes:
        stored_in, size = version, sizes[rel]
    else:
        raise StorageError(f"{key}: {rel} is in the manifests but neither stored nor in fetch.txt")
    return FileRecord(rel, FileKind.PAYLOAD, Digests(size, sha256[rel], sha512[rel]), stored_in)
