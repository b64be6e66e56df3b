"""Repair a damaged copy only from bytes that match the catalogue, and keep what it replaces.

For each damaged or missing file, the other locations holding the version are tried in
turn (verified copies first, primaries first): the file is streamed to a local staging
file while both digests are computed, and used only if size, SHA-256 and SHA-512 match
the catalogue. The backend then writes it beside the copy, checks it again, keeps the
damaged bytes in the location's ``quarantine/`` area and replaces the file in one
atomic step, and reads it back (StorageBackend.replace_file). An unexpected file is
moved to quarantine, not deleted. When no location holds good bytes the file is
unrecoverable: nothing is overwritten, the damaged bytes stay where they are and a
copy of them goes to quarantine. Every quarantine gets a ``record.json`` beside it.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

from pipeline.atomic import remove
from pipeline.audit_report import CopyOutcome, FileIssue
from pipeline.clock import now_iso
from pipeline.errors import StorageError
from pipeline.fixity import Finding, FindingKind
from storage_config.backends.base import LocalTree, StoredTree
from storage_config.catalogue import CopyStatus
from storage_config.locations import Location, Role
from workflows import replicate as replication
from workflows.archive import AGENT, Archive, new_event, record_event
from workflows.audit_copy import CopyJob
from workflows.export import copy_and_digest
from workflows.repair_sources import local_sources

log = logging.getLogger(__name__)

QUARANTINE_ROOT = "quarantine"
REPAIRABLE = (FindingKind.MISSING, FindingKind.SIZE, FindingKind.DIGEST)


@dataclass(frozen=True)
class RepairResult:
    outcome: CopyOutcome
    issues: tuple[FileIssue, ...]
    detail: str


def repair_copy(archive: Archive, job: CopyJob, findings: list[Finding], staging: Path) -> RepairResult:
    """Repair what ``findings`` say is wrong with the copy (the caller holds the item lock) and record it."""
    if job.missing_copy:
        return _restore_whole(archive, job, findings)
    area = f"{QUARANTINE_ROOT}/{job.record.item_id}/{now_iso().replace(':', '')[:17]}-{uuid.uuid4().hex[:8]}"
    issues = [_repair_file(archive, job, f, area, staging) if f.kind in REPAIRABLE
              else _quarantine_extra(archive, job, f, area) if f.kind is FindingKind.EXTRA
              else FileIssue(f.path, f.kind.value, f.message) for f in findings]
    issues = _settle_bag_findings(issues)
    kept = [i for i in issues if i.quarantine]
    if kept:
        _write_record(archive, job, area, kept)
    return _record_outcome(archive, job, tuple(issues), area if kept else "")


def candidates(archive: Archive, job: CopyJob) -> list[str]:
    """Other locations holding this version: verified copies first, primaries first, then config order."""
    held = {c.location: c.status for c in archive.catalogue.copies(job.record.item_id)
            if c.version == job.record.version and c.location != job.copy.location}
    order = {loc.name: index for index, loc in enumerate(archive.config.locations)}
    roles = {loc.name: loc.role for loc in archive.config.locations}
    return sorted((name for name in held if name in order),
                  key=lambda n: (held[n] is not CopyStatus.VERIFIED, roles[n] is not Role.PRIMARY, order[n]))


def _repair_file(archive: Archive, job: CopyJob, finding: Finding, area: str, staging: Path) -> FileIssue:
    path, want, key = finding.path, job.expected[finding.path], job.record.aip_key
    backend = archive.backend(job.copy.location)
    folder = staging / uuid.uuid4().hex
    keep_as = f"{area}/{key.rsplit('/', 1)[-1]}/{path}"
    try:
        source, tried = _stage_verified(archive, job, path, folder)
        if source is None:
            kept = finding.kind is not FindingKind.MISSING and backend.quarantine_file(key, path, keep_as, move=False)
            return _unrecoverable(archive, job, finding, tried, keep_as if kept else "")
        damaged = finding.kind is not FindingKind.MISSING
        backend.replace_file(key, path, LocalTree(folder), want, quarantine=keep_as if damaged else "")
    except StorageError as exc:
        return FileIssue(path, finding.kind.value, f"{finding.message}; repair failed: {exc}", "deferred")
    finally:
        remove(folder)
    log.warning("%s: %s/%s repaired from %s", job.copy.location, key, path, source)
    return FileIssue(path, finding.kind.value, finding.message, "repaired", source, keep_as if damaged else "")


def _stage_verified(archive: Archive, job: CopyJob, path: str, folder: Path) -> tuple[str | None, list[str]]:
    """Copy the file from the first source whose bytes match the catalogue to ``folder/path``.

    Other storage locations first, then the work-area bag and the capture folder
    (workflows/repair_sources.py): any bytes whose digests equal the catalogue's heal.
    """
    want, key, tried = job.expected[path], job.record.aip_key, []
    for name in candidates(archive, job):
        try:
            with archive.backend(name).open_read(key, path) as stream:
                found = copy_and_digest(stream, folder / path)
        except StorageError as exc:
            tried.append(f"{name}: {exc}")
            continue
        if found == want:
            return name, tried
        tried.append(f"{name}: does not match the catalogue either")
    for label, source in local_sources(archive, job.record, path):
        with open(source, "rb") as stream:
            found = copy_and_digest(stream, folder / path)
        if found == want:
            return label, tried
        tried.append(f"{label}: does not match the catalogue either")
    return None, tried


def _unrecoverable(archive: Archive, job: CopyJob, finding: Finding, tried: list[str], kept: str) -> FileIssue:
    """Say which sources were read, where the evidence is, and what a person must do now."""
    state = "missing" if finding.kind is FindingKind.MISSING else "damaged"
    sources = [f"{job.copy.location} (this copy): {state}", *tried]
    if not tried:
        sources.append("no other location holds this version (only one copy is kept)")
    return FileIssue(finding.path, finding.kind.value, f"{finding.message}; no location holds bytes matching the "
                     "catalogue", "unrecoverable", quarantine=kept, tried=tuple(sources),
                     next_step=next_step(archive, job, finding.path, kept))


def next_step(archive: Archive, job: CopyJob, path: str, kept: str = "") -> str:
    """The way out when Shuying holds no good copy: restore from a backup kept outside it, then audit again."""
    location, key = archive.config.location(job.copy.location), job.record.aip_key
    if not path:
        return (f"restore the whole of {key} from a backup outside Shuying to {stored_at(location, key)}, then run "
                f"`shuying audit --item {job.record.item_id}`")
    want = job.expected[path]
    others = ", which checks it and repairs the other copies from it" if candidates(archive, job) else ""
    evidence = f"; the damaged bytes are kept in {stored_at(location, kept)}" if kept else ""
    return (f"restore {path} of {key} (SHA-256 {want.sha256}, {want.size} bytes) from a backup outside Shuying to "
            f"{stored_at(location, key, path)}, then run `shuying audit --item {job.record.item_id}`{others}{evidence}")


def stored_at(location: Location, key: str, path: str = "") -> str:
    """Where an object of a location is, for a person: a file path, or an s3:// URL."""
    rel = f"{key}/{path}" if path else key
    if location.s3 is not None:
        return f"s3://{location.s3.bucket}/{location.s3.prefix}{rel}"
    return str(Path(str(location.path)) / rel)


def _quarantine_extra(archive: Archive, job: CopyJob, finding: Finding, area: str) -> FileIssue:
    keep_as = f"{area}/{job.record.aip_key.rsplit('/', 1)[-1]}/{finding.path}"
    try:
        moved = archive.backend(job.copy.location).quarantine_file(job.record.aip_key, finding.path, keep_as,
                                                                   move=True)
    except StorageError as exc:
        return FileIssue(finding.path, finding.kind.value, f"{finding.message}; not moved: {exc}", "deferred")
    return FileIssue(finding.path, finding.kind.value, finding.message, "quarantined" if moved else "reported",
                     quarantine=keep_as if moved else "")


def _settle_bag_findings(issues: list[FileIssue]) -> list[FileIssue]:
    """A tag file that said the wrong thing is fixed when its bytes were repaired."""
    repaired = {i.path for i in issues if i.action == "repaired"}
    lost = {i.path for i in issues if i.action == "unrecoverable"}
    return [FileIssue(i.path, i.kind, i.message, "repaired" if i.path in repaired else
                      "unrecoverable" if i.path in lost else i.action)
            if i.kind == FindingKind.BAG.value else i for i in issues]


def _restore_whole(archive: Archive, job: CopyJob, findings: list[Finding]) -> RepairResult:
    record, location = job.record, archive.config.location(job.copy.location)
    verified = [name for name in candidates(archive, job) if _verified(archive, job, name)]
    if not verified:
        tried = [f"{job.copy.location} (this copy): missing",
                 *(f"{name}: no verified copy" for name in candidates(archive, job))]
        issue = FileIssue("", FindingKind.MISSING.value, findings[0].message, "unrecoverable", tried=tuple(tried),
                          next_step=next_step(archive, job, ""))
        return _record_outcome(archive, job, (issue,), "")
    outcome = replication.copy_version(archive, record, location, StoredTree(archive.backend(verified[0]),
                                                                             record.aip_key), "replication")
    if outcome.outcome is replication.Outcome.FAILED:
        issue = FileIssue("", FindingKind.MISSING.value, f"{findings[0].message}; copy failed: {outcome.detail}",
                          "deferred")
        return RepairResult(CopyOutcome.DAMAGED, (issue,), outcome.detail)
    issue = FileIssue("", FindingKind.MISSING.value, findings[0].message, "repaired", verified[0])
    return RepairResult(CopyOutcome.REPAIRED, (issue,), f"copied again from {verified[0]} and verified")


def _verified(archive: Archive, job: CopyJob, name: str) -> bool:
    return any(c.location == name and c.version == job.record.version and c.status is CopyStatus.VERIFIED
               for c in archive.catalogue.copies(job.record.item_id))


def _write_record(archive: Archive, job: CopyJob, area: str, kept: list[FileIssue]) -> None:
    record = {"item_id": job.record.item_id, "version": job.record.version, "location": job.copy.location,
              "aip_key": job.record.aip_key, "date_time": now_iso(precise=True), "agent": AGENT,
              "files": [{"path": i.path, "problem": i.message, "action": i.action, "kept_as": i.quarantine,
                         "replaced_from": i.source} for i in kept]}
    try:
        archive.backend(job.copy.location).put_object(f"{area}/record.json",
                                                      json.dumps(record, ensure_ascii=False, indent=1).encode())
    except StorageError as exc:
        log.error("%s: quarantine record %s/record.json not written: %s", job.copy.location, area, exc)


def _record_outcome(archive: Archive, job: CopyJob, issues: tuple[FileIssue, ...], area: str) -> RepairResult:
    """Record the repair as a PREMIS replication event (success, or failure naming what is lost)."""
    key, location = job.record.aip_key, job.copy.location
    lost = [i.path or key for i in issues if i.action == "unrecoverable"]
    unsettled = [i.path or key for i in issues if i.action in ("deferred", "reported")]
    fixed = [i for i in issues if i.action in ("repaired", "quarantined")]
    where = f"; damaged bytes kept in {location}:{area}" if area else ""
    if fixed and not lost and not unsettled:
        sources = sorted({i.source for i in fixed if i.source})
        detail = (f"repair of {key} in {location}: {', '.join(i.path for i in fixed)} replaced with bytes from "
                  f"{', '.join(sources) or 'nowhere (moved out)'} that match the catalogue, written atomically and "
                  f"read back{where}")
        record_event(archive, new_event("replication", job.record.item_id, job.record.version, location, "success",
                                        detail))
        return RepairResult(CopyOutcome.REPAIRED, issues, detail)
    text = (f"UNRECOVERABLE: {', '.join(lost)}: no location holds bytes matching the catalogue; nothing overwritten"
            if lost else f"not repaired: {', '.join(unsettled)}") + where
    record_event(archive, new_event("replication", job.record.item_id, job.record.version, location, "failure",
                                    f"repair of {key} in {location}", text))
    return RepairResult(CopyOutcome.UNRECOVERABLE if lost else CopyOutcome.DAMAGED, issues, text)


def record_check(archive: Archive, job: CopyJob, findings: list[Finding], algorithms: tuple[str, ...]) -> None:
    """Record the audit of one copy as a PREMIS fixity check event (in storage and the catalogue)."""
    key, location, names = job.record.aip_key, job.copy.location, " and ".join(a.upper() for a in algorithms)
    if not findings:
        resumed = f"; {len(job.resumed)} more verified earlier in this cycle by an interrupted run" if job.resumed else ""
        detail = (f"audit: {job.files_read} files, {job.bytes_read} bytes of {key} in {location} re-read; sizes and "
                  f"{names} match the catalogue; manifests, tag manifests and Payload-Oxum agree{resumed}")
        record_event(archive, new_event("fixity check", job.record.item_id, job.record.version, location, "success",
                                        detail))
        return
    shown = "; ".join(str(f) for f in findings[:20]) + (f"; and {len(findings) - 20} more" if len(findings) > 20 else "")
    record_event(archive, new_event("fixity check", job.record.item_id, job.record.version, location, "failure",
                                    f"audit: {key} in {location} re-read against the catalogue ({names})", shown))
