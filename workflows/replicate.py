"""Store, replicate and restore AIP versions so every one meets the copy policy.

A copy counts only when the backend has read every file back and matched the
digests recorded at ingest; then an event (ingestion or replication, success) is
written to storage and folded into the catalogue. A failed copy leaves nothing
committed, is recorded as a failure event, and the next run starts it again; that run
also aborts the S3 multipart uploads the failed one left behind, and gives every
location the event records it missed.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pipeline.clock import now
from pipeline.errors import StorageError, UnreachableError
from storage_config.backends.base import LocalTree, StoredTree, TreeSource
from storage_config.catalogue import CopyStatus, VersionRecord
from storage_config.locations import Location, Role
from storage_config.settings import Settings
from workflows.archive import (
    AlreadyRunningError,
    Archive,
    item_lock,
    new_event,
    open_archive,
    record_event,
    sync_events,
)

log = logging.getLogger(__name__)

# An incomplete upload idle (no start, no part) for this long before a run began belongs to
# no live run: a transfer sends a part every few seconds, or minutes on the slowest link.
UPLOAD_MARGIN = timedelta(hours=1)


class Outcome(str, enum.Enum):
    COPIED = "copied"  # written, read back, verified
    VERIFIED = "verified"  # already there; read back and verified now
    FAILED = "failed"
    SKIPPED = "skipped"  # not tried: the location was unreachable earlier in this run


@dataclass(frozen=True)
class CopyOutcome:
    item_id: str
    version: int | None
    location: str
    outcome: Outcome
    detail: str = ""
    bytes: int = 0
    unreachable: UnreachableError | None = None  # the location that could not be reached, if that was why

    def __str__(self) -> str:
        version = f".v{self.version}" if self.version is not None else ""
        return f"{self.item_id}{version} → {self.location}: {self.outcome.value}{': ' + self.detail if self.detail else ''}"


@dataclass(frozen=True)
class ReplicationReport:
    outcomes: tuple[CopyOutcome, ...]
    below_policy: tuple[str, ...]
    unreachable: tuple[str, ...] = ()  # one line per location given up on in this run
    aborted_uploads: tuple[str, ...] = ()  # one line per incomplete upload of a killed run aborted by this one

    @property
    def failures(self) -> tuple[CopyOutcome, ...]:
        """Copies not made: failed, or skipped because their location was unreachable."""
        return tuple(o for o in self.outcomes if o.outcome in (Outcome.FAILED, Outcome.SKIPPED))

    @property
    def ok(self) -> bool:
        return not self.failures and not self.below_policy and not self.unreachable

    @property
    def bytes_copied(self) -> int:
        return sum(o.bytes for o in self.outcomes if o.outcome is Outcome.COPIED)


def store_version(archive: Archive, bag: Path, record: VersionRecord) -> ReplicationReport:
    """Store a new version from a local bag in every primary location, then replicate if the policy says so.

    Raises:
        StorageError: a primary copy (or, with replicate_on_ingest, the policy) could not be made;
            copies already made stay recorded and a re-run completes the rest.
    """
    with item_lock(archive, record.item_id, wait=True):
        outcomes = store_primaries(archive, bag, record)
    failed = [str(o) for o in outcomes if o.outcome is Outcome.FAILED]
    if failed:
        raise StorageError("; ".join(failed))
    if archive.config.policy.replicate_on_ingest:
        report = replicate_archive(archive, item=record.item_id)
        if not report.ok:
            raise StorageError("; ".join([*map(str, report.failures), *report.below_policy]))
        outcomes += report.outcomes
    return ReplicationReport(tuple(outcomes), tuple(below_policy(archive, record.item_id)))


def store_primaries(archive: Archive, bag: Path, record: VersionRecord) -> list[CopyOutcome]:
    """Record the version and copy it from ``bag`` to every primary location (the caller holds the lock)."""
    archive.catalogue.add_version(record)
    return [copy_version(archive, record, location, LocalTree(bag), "ingestion")
            for location in archive.config.primaries]


def replicate(settings: Settings, item: str | None = None, location: str | None = None, *,
              idle_before: datetime | None = None) -> ReplicationReport:
    """Bring every AIP version (of ``item``) to the policy's copy count, or copy it to ``location``.

    First aborts the incomplete uploads idle since ``idle_before`` (default: UPLOAD_MARGIN
    before now) in the locations written; last, copies missing event records everywhere.
    """
    return replicate_archive(open_archive(settings), item=item, location=location, idle_before=idle_before)


def replicate_archive(archive: Archive, *, item: str | None = None, location: str | None = None,
                      idle_before: datetime | None = None) -> ReplicationReport:
    """Replicate within an open archive (see replicate)."""
    target = archive.config.location(location) if location else None
    aborted = abort_leftover_uploads(archive, [target] if target else archive.config.locations, idle_before)
    outcomes: list[CopyOutcome] = []
    down: dict[str, UnreachableError] = {}  # a location is tried until its first connection failure
    for item_id, versions in _by_item(archive, item).items():
        try:
            with item_lock(archive, item_id):
                for record in versions:
                    for loc in [target] if target else policy_targets(archive, record):
                        if loc.name not in _verified_locations(archive, record):
                            outcomes.append(_attempt(archive, record, loc, down))
        except AlreadyRunningError as exc:
            outcomes.append(CopyOutcome(item_id, None, location or "*", Outcome.FAILED, str(exc)))
    sync_events(archive, item)
    return ReplicationReport(tuple(outcomes), tuple(below_policy(archive, item)),
                             tuple(unreachable_lines(outcomes, down)), tuple(aborted))


def abort_leftover_uploads(archive: Archive, locations: Iterable[Location],
                           idle_before: datetime | None = None) -> list[str]:
    """Abort the incomplete uploads a killed run left in ``locations``; one line for each, also logged.

    Only uploads idle since ``idle_before`` (default: UPLOAD_MARGIN before now), so a
    concurrent run's transfer is never cut off. A location that cannot be asked is skipped.
    """
    cutoff = idle_before or now(precise=True) - UPLOAD_MARGIN
    lines = []
    for location in locations:
        try:
            aborted = archive.backend(location).abort_idle_uploads(cutoff)
        except StorageError as exc:
            log.warning("%s: incomplete uploads not cleaned up: %s", location.name, exc)
            continue
        for upload in aborted:
            lines.append(f"{location.name}: aborted the incomplete upload of {upload.key} (started "
                         f"{upload.initiated.isoformat(timespec='seconds')}), left by an interrupted run")
            log.warning("%s", lines[-1])
    return lines


def _attempt(archive: Archive, record: VersionRecord, target: Location,
             down: dict[str, UnreachableError]) -> CopyOutcome:
    """Replicate one version unless its target already failed to connect in this run; note a new failure."""
    if target.name in down:
        return CopyOutcome(record.item_id, record.version, target.name, Outcome.SKIPPED,
                           f"not tried: {target.name} unreachable earlier in this run")
    outcome = _replicate_version(archive, record, target)
    if outcome.unreachable is not None:
        down.setdefault(outcome.unreachable.location, outcome.unreachable)
    return outcome


def unreachable_lines(outcomes: Iterable[CopyOutcome], down: dict[str, UnreachableError]) -> list[str]:
    """One line per location given up on: its endpoint, why, and how many items it did not get."""
    lines = []
    for name, error in down.items():
        items = {o.item_id for o in outcomes if o.location == name and o.outcome is not Outcome.COPIED
                 and o.outcome is not Outcome.VERIFIED}
        lines.append(f"{name}: endpoint {error.endpoint} unreachable ({error.reason}); {len(items)} items not "
                     "replicated, run `shuying replicate` again when it is back")
    return lines


def restore(settings: Settings, location: str) -> ReplicationReport:
    """Rebuild a lost or damaged location from the others: every version it should hold, verified."""
    archive = open_archive(settings)
    target = archive.config.location(location)
    archive.backend(target).check_writable()
    aborted = abort_leftover_uploads(archive, [target])
    outcomes = []
    for item_id, versions in _by_item(archive, None).items():
        held = {c.version for c in archive.catalogue.copies(item_id) if c.location == target.name}
        try:
            with item_lock(archive, item_id):
                for record in versions:
                    if record.version in held or target.role is Role.PRIMARY:
                        outcomes.append(_restore_version(archive, record, target))
        except AlreadyRunningError as exc:
            outcomes.append(CopyOutcome(item_id, None, target.name, Outcome.FAILED, str(exc)))
    sync_events(archive)  # the records the lost location held are in every other one
    return ReplicationReport(tuple(outcomes), tuple(below_policy(archive)), aborted_uploads=tuple(aborted))


def copy_version(archive: Archive, record: VersionRecord, location: Location, source: TreeSource,
                 event_type: str) -> CopyOutcome:
    """Put one version into one location and record the outcome as an event."""
    expected = record.stored_files()
    size = sum(d.size for d in expected.values())
    missing = _missing_bases(archive, record, location)
    try:
        if missing:
            raise StorageError(f"needs {', '.join(missing)} in {location.name} first (fetch.txt refers to it)")
        archive.backend(location).put_tree(source, record.aip_key, expected)
    except StorageError as exc:
        record_event(archive, new_event(event_type, record.item_id, record.version, location.name, "failure",
                                        f"copy of {record.aip_key} to {location.name}", str(exc)))
        return CopyOutcome(record.item_id, record.version, location.name, Outcome.FAILED, str(exc),
                           unreachable=exc if isinstance(exc, UnreachableError) else None)
    record_event(archive, new_event(
        event_type, record.item_id, record.version, location.name, "success",
        f"copy of {record.aip_key} to {location.name} ({location.describe()}): {len(expected)} files, {size} bytes "
        "read back; size, SHA-256 and SHA-512 match the catalogue"))
    log.info("%s: %s stored and verified (%d bytes)", location.name, record.aip_key, size)
    return CopyOutcome(record.item_id, record.version, location.name, Outcome.COPIED, bytes=size)


def policy_targets(archive: Archive, record: VersionRecord) -> list[Location]:
    """Choose locations to copy to until the version has min_copies, offsite_copies of them off-site."""
    policy = archive.config.policy
    have = _verified_locations(archive, record)
    targets = [loc for loc in archive.config.primaries if loc.name not in have]  # primaries hold every version
    chosen = [loc for loc in archive.config.locations if loc.name in have] + targets
    candidates = [loc for loc in archive.config.locations if loc.name not in have and loc not in targets]
    candidates.sort(key=lambda loc: not loc.offsite)  # stable: off-site first, then config order
    for loc in candidates:
        offsite_short = sum(1 for c in chosen if c.offsite) < policy.offsite_copies
        if len(chosen) >= policy.min_copies and not offsite_short:
            break
        chosen.append(loc)
        targets.append(loc)
    return targets


def below_policy(archive: Archive, item: str | None = None) -> list[str]:
    """Describe every version with too few verified copies, or too few off-site."""
    policy = archive.config.policy
    offsite = {loc.name for loc in archive.config.locations if loc.offsite}
    problems = []
    for record in archive.catalogue.versions(item):
        have = _verified_locations(archive, record)
        if len(have) < policy.min_copies or len(have & offsite) < policy.offsite_copies:
            problems.append(f"{record.aip_key}: {len(have)} verified copies ({len(have & offsite)} off-site); "
                            f"policy needs {policy.min_copies} ({policy.offsite_copies} off-site)")
    return problems


def _replicate_version(archive: Archive, record: VersionRecord, target: Location) -> CopyOutcome:
    source = _source_for(archive, record, exclude=target.name)
    if source is not None:
        tree: TreeSource = StoredTree(archive.backend(source), record.aip_key)
    elif archive.staged_bag(record.aip_key).is_dir():
        # Never stored anywhere yet (a primary was down at ingest): the staged bag is
        # the source; put_tree checks every byte against the catalogue all the same.
        tree = LocalTree(archive.staged_bag(record.aip_key))
    else:
        return CopyOutcome(record.item_id, record.version, target.name, Outcome.FAILED,
                           "no location holds a verified copy to copy from")
    return copy_version(archive, record, target, tree, "replication")


def _restore_version(archive: Archive, record: VersionRecord, target: Location) -> CopyOutcome:
    backend = archive.backend(target)
    try:
        present = backend.exists(record.aip_key)
    except StorageError as exc:
        return CopyOutcome(record.item_id, record.version, target.name, Outcome.FAILED, str(exc))
    if not present:
        return _replicate_version(archive, record, target)
    problems = backend.verify_tree(record.aip_key, record.stored_files())
    outcome = "failure" if problems else "success"
    detail = "; ".join(problems[:5])
    record_event(archive, new_event("fixity check", record.item_id, record.version, target.name, outcome,
                                    f"restore: {record.aip_key} present in {target.name}, re-read", detail))
    if problems:
        return CopyOutcome(record.item_id, record.version, target.name, Outcome.FAILED,
                           f"present but damaged, not overwritten (repair with shuying audit): {detail}")
    return CopyOutcome(record.item_id, record.version, target.name, Outcome.VERIFIED)


def _source_for(archive: Archive, record: VersionRecord, *, exclude: str) -> str | None:
    """Pick a location with a verified copy: primaries first, then the others, in config order."""
    have = _verified_locations(archive, record) - {exclude}
    ordered = sorted(archive.config.locations, key=lambda loc: loc.role is not Role.PRIMARY)
    return next((loc.name for loc in ordered if loc.name in have), None)


def _verified_locations(archive: Archive, record: VersionRecord) -> set[str]:
    return {c.location for c in archive.catalogue.copies(record.item_id)
            if c.version == record.version and c.status is CopyStatus.VERIFIED}


def _missing_bases(archive: Archive, record: VersionRecord, location: Location) -> list[str]:
    """Earlier versions this one fetches payload from that are not verified in ``location``."""
    verified = {c.version for c in archive.catalogue.copies(record.item_id)
                if c.location == location.name and c.status is CopyStatus.VERIFIED}
    return [f"{record.item_id}.v{v}" for v in sorted(record.fetched_from() - verified)]


def _by_item(archive: Archive, item: str | None) -> dict[str, list[VersionRecord]]:
    versions = archive.catalogue.versions(item)
    if item and not versions:
        raise StorageError(f"catalogue {archive.catalogue.path}: no item {item!r}")
    grouped: dict[str, list[VersionRecord]] = {}
    for record in versions:
        grouped.setdefault(record.item_id, []).append(record)
    return grouped
