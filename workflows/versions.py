"""New AIP versions: a stored bag never changes; a change makes version N+1 beside it.

Version N+1 is a *holey bag* (RFC 8493 §2.2.3): its manifests list the whole payload,
but only the files that changed are stored under its key. Every unchanged file is a
line in fetch.txt whose URL names the earlier version that holds the bytes, as
``shuying://aips/<item>/<item>.v<M>/<path>`` — "the same location, that key". So no
master is ever stored twice, in any backend (a server-side S3 copy would still be a
second copy of the bytes), and every version stays verifiable: its own files against
its manifests, the fetched ones against the earlier version they live in. ``shuying
export`` materialises any version into a complete bag that ``bagit.py --validate`` accepts.

Because data/mets.xml records the SHA-256 of every file it describes, a change to any
payload file must come with an updated data/mets.xml, and the new METS must match the
new payload; corrected MODS alone is a change of data/mets.xml only.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pipeline
from pipeline.atomic import atomic_path, remove
from pipeline.bag import BAGIT_TXT, manifest_path
from pipeline.checksums import ALGORITHMS, Digests
from pipeline.errors import StorageError
from storage_config.catalogue import FileKind, VersionRecord
from storage_config.settings import Settings
from workflows.archive import Archive, item_lock, new_event, open_archive, record_event
from workflows.catalogue_ops import (
    METS_PATH,
    aip_key,
    fetch_url,
    mets_problems,
    read_local_version,
)
from workflows.export import copy_and_digest, holders
from workflows.replicate import Outcome, replicate_archive, store_primaries

log = logging.getLogger(__name__)

KEPT_INFO = ("Source-Organization", "External-Identifier", "External-Description", "Internal-Sender-Identifier",
             "Internal-Sender-Description")


def new_version(settings: Settings, item_id: str, changes: Mapping[str, Path], reason: str, *,
                removals: Iterable[str] = (), now: datetime | None = None) -> VersionRecord:
    """Store a new version of ``item_id``: ``changes`` maps bag paths (``data/…``) to new local files.

    The new version is recorded and stored in every primary location, then replicated
    when the policy says replicate_on_ingest.

    Raises:
        StorageError: a path is unsafe, a file is missing, METS does not match the new
            payload, or a primary copy failed (the version stays recorded with its bag
            staged; ``shuying replicate --item ID`` finishes it).
    """
    archive = open_archive(settings)
    removals = tuple(removals)
    with item_lock(archive, item_id, wait=True):
        previous = archive.catalogue.version(item_id)
        _check_changes(previous, changes, removals)
        record = _build(archive, previous, changes, removals, reason, now or datetime.now(UTC))
        record_event(archive, new_event("information package creation", item_id, record.version, "", "success",
                                        f"{record.aip_key} from version {previous.version}: {reason}",
                                        f"{len(changes)} files changed or added, {len(removals)} removed"))
        outcomes = store_primaries(archive, archive.staged_bag(record.aip_key), record)
    failed = [str(o) for o in outcomes if o.outcome is Outcome.FAILED]
    if failed:
        raise StorageError(f"{record.aip_key} recorded but not stored: {'; '.join(failed)}; run "
                           f"`shuying replicate --item {item_id}` when the location is back")
    if archive.config.policy.replicate_on_ingest:
        replicate_archive(archive, item=item_id)
    return record


def _check_changes(previous: VersionRecord, changes: Mapping[str, Path], removals: tuple[str, ...]) -> None:
    problems = []
    for path in [*changes, *removals]:
        parts = path.split("/")
        if not path.startswith("data/") or ".." in parts or "" in parts or "%" in path or "\\" in path:
            problems.append(f"{path}: not a safe payload path under data/ (no '..', '%' or backslash)")
    problems += [f"{path}: {source} is not a file" for path, source in changes.items() if not Path(source).is_file()]
    payload = {p for p, f in previous.files.items() if f.kind is FileKind.PAYLOAD}
    problems += [f"{path}: not in {previous.aip_key}, cannot remove" for path in removals if path not in payload]
    if METS_PATH in removals:
        problems.append(f"{METS_PATH}: every AIP keeps its METS")
    if (set(changes) - {METS_PATH} or removals) and METS_PATH not in changes:
        problems.append(f"{METS_PATH}: records the SHA-256 of every payload file; pass an updated "
                        f"{METS_PATH} with the changed files")
    if not changes and not removals:
        problems.append("nothing changes: no new version made")
    if problems:
        raise StorageError(f"new version of {previous.item_id}: {'; '.join(problems)}")


def _build(archive: Archive, previous: VersionRecord, changes: Mapping[str, Path], removals: tuple[str, ...],
           reason: str, now: datetime) -> VersionRecord:
    """Stage the holey bag for version N+1 and return its record, checked against METS."""
    version = previous.version + 1
    key = aip_key(previous.item_id, version)
    bag = archive.staged_bag(key)
    remove(bag)  # left by an attempt that failed before recording anything
    info = _previous_info(archive, previous)
    with atomic_path(bag, directory=True) as tmp:
        payload = {p: (f.digests, f.stored_in) for p, f in previous.files.items()
                   if f.kind is FileKind.PAYLOAD and p not in removals and p not in changes}
        for path, source in sorted(changes.items()):
            with open(source, "rb") as stream:
                payload[path] = (copy_and_digest(stream, tmp / path), version)
        _write_tag_files(tmp, previous.item_id, version, payload, {
            **{k: v for k, v in info.items() if k in KEPT_INFO}, "Bagging-Date": now.date().isoformat(),
            "Bag-Software-Agent": f"shuying {pipeline.__version__}", "Shuying-AIP-Version": str(version),
            "Shuying-Previous-Version": str(previous.version), "Shuying-Version-Reason": reason})
    record = read_local_version(key, bag)
    problems = mets_problems(record, (bag / METS_PATH).read_bytes()) if METS_PATH in changes else []
    if problems:
        remove(bag)
        raise StorageError(f"new version of {previous.item_id}: {'; '.join(problems[:5])}")
    return record


def _previous_info(archive: Archive, previous: VersionRecord) -> dict[str, str]:
    """Read bag-info.txt of the previous version from a location holding a verified copy."""
    for name in holders(archive, previous.item_id, previous.version):
        try:
            with archive.backend(name).open_read(previous.aip_key, "bag-info.txt") as stream:
                data = stream.read()
        except StorageError as exc:
            log.warning("%s", exc)
            continue
        if hashlib.sha256(data).hexdigest() == previous.files["bag-info.txt"].digests.sha256:
            lines = data.decode("utf-8").splitlines()
            return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in lines) if v}
    raise StorageError(f"{previous.aip_key}: no verified copy of bag-info.txt could be read")


def _write_tag_files(bag: Path, item_id: str, version: int, payload: Mapping[str, tuple[Digests, int]],
                     info: Mapping[str, str]) -> None:
    paths = sorted(payload)
    (bag / "bagit.txt").write_text(BAGIT_TXT, encoding="utf-8")
    for algorithm in ALGORITHMS:
        lines = [f"{getattr(payload[p][0], algorithm)}  {manifest_path(p)}\n" for p in paths]
        (bag / f"manifest-{algorithm}.txt").write_text("".join(lines), encoding="utf-8")
    fetched = [f"{fetch_url(item_id, v, p)} {d.size} {manifest_path(p)}\n"
               for p in paths for d, v in [payload[p]] if v != version]
    if fetched:
        (bag / "fetch.txt").write_text("".join(fetched), encoding="utf-8")
    oxum = f"{sum(d.size for d, _ in payload.values())}.{len(payload)}"
    text = "".join(f"{label}: {' '.join(value.splitlines())}\n" for label, value in {**info, "Payload-Oxum": oxum}.items())
    (bag / "bag-info.txt").write_text(text, encoding="utf-8")
    tag_files = sorted(p.name for p in bag.iterdir() if p.is_file() and not p.name.startswith("tagmanifest-"))
    for algorithm in ALGORITHMS:
        lines = [f"{hashlib.new(algorithm, (bag / n).read_bytes()).hexdigest()}  {n}\n" for n in tag_files]
        (bag / f"tagmanifest-{algorithm}.txt").write_text("".join(lines), encoding="utf-8")
