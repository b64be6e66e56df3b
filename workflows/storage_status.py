"""What the archive holds: items, versions, copies per location, and what is below policy.

Read from the catalogue, apart from one cheap listing per S3 location: the incomplete
multipart uploads a killed transfer left there (``shuying replicate`` aborts them).
``shuying audit`` is what re-reads the copies.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from pipeline.clock import now
from pipeline.errors import StorageError
from storage_config.backends.base import StorageBackend
from storage_config.catalogue import CopyRecord, CopyStatus
from storage_config.locations import Location
from storage_config.policy import policy_warnings
from storage_config.settings import Settings
from workflows.archive import open_archive
from workflows.replicate import UPLOAD_MARGIN, below_policy


@dataclass(frozen=True)
class LocationSummary:
    name: str
    backend: str
    role: str
    offsite: bool
    where: str
    verified: int  # versions with a verified copy here
    verified_bytes: int
    not_verified: int  # copies recorded here in any other state
    incomplete_uploads: int = 0  # started, never completed or aborted (S3 multipart uploads)
    oldest_upload: datetime | None = None  # when the oldest of them was started
    uploads_unchecked: str = ""  # why the uploads could not be listed, if they could not


@dataclass(frozen=True)
class VersionSummary:
    aip_key: str
    item_id: str
    version: int
    files: int
    bytes: int
    reason: str
    copies: tuple[CopyRecord, ...]


@dataclass(frozen=True)
class StatusReport:
    locations: tuple[LocationSummary, ...]
    versions: tuple[VersionSummary, ...]
    below_policy: tuple[str, ...]
    policy: str
    warnings: tuple[str, ...] = ()  # what the configuration cannot survive (storage_config/policy.py)

    @property
    def items(self) -> int:
        return len({v.item_id for v in self.versions})

    @property
    def ok(self) -> bool:
        return not self.below_policy


def status(settings: Settings) -> StatusReport:
    """Summarise the catalogue: every version's copies, per-location totals, policy shortfalls."""
    archive = open_archive(settings)
    copies = archive.catalogue.copies()
    versions = tuple(
        VersionSummary(r.aip_key, r.item_id, r.version, len(r.files), sum(d.size for d in r.stored_files().values()),
                       r.reason, tuple(c for c in copies if (c.item_id, c.version) == (r.item_id, r.version)))
        for r in archive.catalogue.versions())
    sizes = {(v.item_id, v.version): v.bytes for v in versions}
    locations = tuple(_with_uploads(_location_summary(loc, copies, sizes), archive.backend(loc))
                      for loc in archive.config.locations)
    policy = archive.config.policy
    return StatusReport(locations, versions, tuple(below_policy(archive)),
                        f"{policy.min_copies} verified copies, {policy.offsite_copies} off-site",
                        tuple(policy_warnings(archive.config)))


def format_status(report: StatusReport) -> list[str]:
    """Render the report as lines for a terminal."""
    lines = [f"{report.items} items, {len(report.versions)} AIP versions; policy: {report.policy}", "", "Locations:"]
    for loc in report.locations:
        flags = ", ".join([loc.role, loc.backend, *(["off-site"] if loc.offsite else [])])
        lines.append(f"  {loc.name} ({flags}) {loc.where}: {loc.verified} verified versions, "
                     f"{_size(loc.verified_bytes)}" + (f", {loc.not_verified} NOT verified" if loc.not_verified else "")
                     + _uploads_note(loc))
    lines += ["", "Versions:"]
    for v in report.versions:
        copies = ", ".join(f"{c.location}={c.status.value}{' ' + c.verified_at[:19] if c.verified_at else ''}"
                           for c in v.copies) or "no copies"
        lines.append(f"  {v.aip_key}  {v.files} files, {_size(v.bytes)}  [{copies}]")
    if report.below_policy:
        lines += ["", "Below policy:", *(f"  {line}" for line in report.below_policy)]
    if report.warnings:
        lines += ["", "Policy warnings:", *(f"  {line}" for line in report.warnings)]
    return lines


def _location_summary(location: Location, copies: list[CopyRecord],
                      sizes: dict[tuple[str, int], int]) -> LocationSummary:
    here = [c for c in copies if c.location == location.name]
    verified = [c for c in here if c.status is CopyStatus.VERIFIED]
    return LocationSummary(location.name, location.backend.value, location.role.value, location.offsite,
                           location.describe(), len(verified),
                           sum(sizes.get((c.item_id, c.version), 0) for c in verified), len(here) - len(verified))


def _with_uploads(summary: LocationSummary, backend: StorageBackend) -> LocationSummary:
    """Add the location's incomplete uploads; a location that cannot be asked says why, and status goes on."""
    try:
        uploads = backend.incomplete_uploads()
    except StorageError as exc:
        return dataclasses.replace(summary, uploads_unchecked=str(exc))
    oldest = min((u.initiated for u in uploads), default=None)
    return dataclasses.replace(summary, incomplete_uploads=len(uploads), oldest_upload=oldest)


def _uploads_note(loc: LocationSummary) -> str:
    if loc.uploads_unchecked:
        return f"; incomplete uploads not checked ({loc.uploads_unchecked})"
    if not loc.incomplete_uploads or loc.oldest_upload is None:
        return ""
    age = (now() - loc.oldest_upload).total_seconds()
    count = f"{loc.incomplete_uploads} incomplete upload{'s' if loc.incomplete_uploads > 1 else ''}"
    return (f"; {count}, the oldest started {_age(age)} ago "
            f"(`shuying replicate` aborts those idle for {_age(UPLOAD_MARGIN.total_seconds())})")


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{max(seconds, 0):.0f} s"


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"
