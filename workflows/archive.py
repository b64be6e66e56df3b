"""The archive as the storage workflows see it: locations, their backends, the catalogue, locks, events.

Every change to the catalogue's copy status is an event, and every event is first
written to storage (``events/<item>/<time>-<uuid>.json``), then applied to the
catalogue. That is what lets ``shuying catalogue rebuild`` reconstruct the catalogue
from storage alone. An item's records are kept wherever the item is (:func:`event_homes`),
so losing any one location loses none of them while another holds the item; a location
that missed a record (it was down) is given it by the next replicate or restore
(:func:`sync_events`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pipeline
from pipeline.clock import now_iso
from pipeline.errors import ExitCode, StorageError
from storage_config.backends.base import StorageBackend
from storage_config.catalogue import Catalogue, EventRecord
from storage_config.locations import Location, StorageConfig, load_storage_config
from storage_config.settings import Settings

log = logging.getLogger(__name__)

EVENTS_ROOT = "events"
AGENT = f"shuying {pipeline.__version__}"


class AlreadyRunningError(StorageError):
    """Another process is storing or replicating the same item."""

    exit_code = ExitCode.COULD_NOT_RUN


@dataclass
class Archive:
    config: StorageConfig
    catalogue: Catalogue
    home: Path
    work_dir: Path
    _backends: dict[str, StorageBackend] = field(default_factory=dict, repr=False)

    def backend(self, location: str | Location) -> StorageBackend:
        """Return the (cached) backend of a location."""
        name = location if isinstance(location, str) else location.name
        if name not in self._backends:
            self._backends[name] = self.config.location(name).open_backend()
        return self._backends[name]

    @property
    def locks(self) -> Path:
        return self.home / "locks"

    def staged_bag(self, record_key: str) -> Path:
        """Where ingest or new_version built the bag for an AIP key (``<work>/<item>/aip/<name>``)."""
        _aips, item_id, name = record_key.split("/")
        return self.work_dir / item_id / "aip" / name


def open_archive(settings: Settings) -> Archive:
    """Read the storage configuration named by ``settings`` and open its catalogue."""
    return open_archive_at(settings.storage_config, home=settings.home, work_dir=settings.work_dir)


def open_archive_at(storage_config: Path, *, home: Path, work_dir: Path | None = None) -> Archive:
    """Open the archive from a storage.toml and the data folder (what Luigi tasks carry)."""
    config = load_storage_config(storage_config, home=home)
    return Archive(config, Catalogue(config.catalogue_url), Path(home), Path(work_dir or Path(home) / "work"))


@contextlib.contextmanager
def item_lock(archive: Archive, item_id: str, *, wait: bool = False) -> Iterator[None]:
    """Hold the item's lock (``<home>/locks/<item>.lock``) so only one process stores or replicates it.

    Raises:
        AlreadyRunningError: ``wait`` is false and another process holds the lock.
    """
    def busy(holder: str) -> Exception:
        return AlreadyRunningError(f"{item_id}: storage or replication already running ({holder}); "
                                   "try again when it ends")

    with pid_lock(archive.locks / f"{item_id}.lock", busy, wait=wait):
        yield


@contextlib.contextmanager
def pid_lock(path: Path, busy: Callable[[str], Exception], *, wait: bool = False) -> Iterator[None]:
    """Hold an flock on ``path`` (released by the kernel if the process dies), noting our pid in it.

    Without ``wait``, a lock held elsewhere raises ``busy(holder)``, holder being what the
    other process wrote ("pid 123 since …").
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.seek(0)
            raise busy(handle.read().strip() or "pid ?") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {now_iso()}")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def new_event(event_type: str, item_id: str, version: int | None, location: str, outcome: str,
              detail: str, outcome_detail: str = "") -> EventRecord:
    """Return an event happening now, with a fresh identifier."""
    return EventRecord(f"urn:uuid:{uuid.uuid4()}", event_type, now_iso(precise=True), item_id, version, location, outcome,
                       detail, outcome_detail, AGENT)


def record_event(archive: Archive, event: EventRecord) -> None:
    """Write the event to every home of the item's history (see event_homes), then to the catalogue."""
    stored = 0
    for name in event_homes(archive, event.item_id, event.location):
        try:
            archive.backend(name).put_object(event_key(event), event_bytes(event))
            stored += 1
        except StorageError as exc:
            log.warning("event %s not written to %s: %s", event.event_id, name, exc)
    if not stored:
        log.warning("event %s is only in the catalogue: no location took it", event.event_id)
    archive.catalogue.apply_event(event)


def event_homes(archive: Archive, item_id: str, also: str = "") -> list[str]:
    """Where an item's event records are kept: every primary and every location holding (or given) a copy.

    Not only the location an event is about: a fixity check of the primary kept only in
    the primary would be lost with it (the disaster drill). Not every location either: one
    that holds nothing of the item has no use for its history, and is not asked to take it.
    """
    names = {loc.name for loc in archive.config.primaries} | {c.location for c in archive.catalogue.copies(item_id)}
    return [loc.name for loc in archive.config.locations if loc.name in names or loc.name == also]


def event_key(event: EventRecord) -> str:
    stamp = event.date_time.replace("-", "").replace(":", "").replace("+0000", "Z")
    return f"{EVENTS_ROOT}/{event.item_id}/{stamp}-{event.event_id.rsplit(':', 1)[-1]}.json"


def event_bytes(event: EventRecord) -> bytes:
    return json.dumps(event.as_dict(), ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")


def read_events(backend: StorageBackend, item_id: str | None = None) -> dict[str, EventRecord]:
    """Return the events stored in a location (for one item), by event id."""
    prefix = f"{EVENTS_ROOT}/{item_id}" if item_id else EVENTS_ROOT
    events = {}
    for key in backend.list_objects(prefix):
        try:
            event = EventRecord.from_dict(json.loads(backend.read_object(key)))
        except (ValueError, TypeError) as exc:
            raise StorageError(f"{backend.name}: {key}: not a readable event record: {exc}") from None
        events[event.event_id] = event
    return events


def sync_events(archive: Archive, item_id: str | None = None) -> int:
    """Give every reachable home of an item's history the records (of ``item_id``) it lacks; return how many.

    A key names its item, time and event id, so comparing the locations' key listings
    finds what is missing without reading a record. The bytes are copied from a location
    that holds them, or, for an event no location took when it happened, from the catalogue.
    """
    held = _event_keys(archive, item_id)
    known = {event_key(e): e for e in archive.catalogue.events(item_id)}
    homes = _homes_by_item(archive, item_id)
    primaries = {loc.name for loc in archive.config.primaries}
    every = set(known).union(*held.values())
    written = 0
    for name, keys in held.items():
        for key in sorted(k for k in every - keys if name in homes.get(k.split("/")[1], primaries)):
            written += _copy_event(archive, key, name, held, known)
    if written:
        log.info("%d event records copied to the locations that lacked them", written)
    return written


def _homes_by_item(archive: Archive, item_id: str | None) -> dict[str, set[str]]:
    """event_homes for every item with a copy recorded (an item without one: the primaries)."""
    homes: dict[str, set[str]] = {}
    for copy in archive.catalogue.copies(item_id):
        homes.setdefault(copy.item_id, {loc.name for loc in archive.config.primaries}).add(copy.location)
    return homes


def _event_keys(archive: Archive, item_id: str | None) -> dict[str, set[str]]:
    """The event record keys each reachable location holds (unreachable ones are left out)."""
    prefix = f"{EVENTS_ROOT}/{item_id}" if item_id else EVENTS_ROOT
    held = {}
    for location in archive.config.locations:
        try:
            held[location.name] = set(archive.backend(location).list_objects(prefix))
        except StorageError as exc:
            log.warning("event records in %s not listed: %s", location.name, exc)
    return held


def _copy_event(archive: Archive, key: str, target: str, held: dict[str, set[str]],
                known: dict[str, EventRecord]) -> bool:
    """Write one event record into ``target``; False (with a warning) if no copy could be read or written."""
    try:
        data = _event_data(archive, key, held, known)
        archive.backend(target).put_object(key, data)
    except StorageError as exc:
        log.warning("event record %s not copied to %s: %s", key, target, exc)
        return False
    held[target].add(key)
    return True


def _event_data(archive: Archive, key: str, held: dict[str, set[str]], known: dict[str, EventRecord]) -> bytes:
    for name in (name for name, keys in held.items() if key in keys):
        try:
            return archive.backend(name).read_object(key)
        except StorageError as exc:
            log.warning("event record %s not read from %s: %s", key, name, exc)
    if key in known:
        return event_bytes(known[key])
    raise StorageError(f"{key}: no location could give the record, and the catalogue does not hold it")
