"""Judge our own holey AIP versions complete from storage: ``shuying audit --bag`` on version N+1.

Version N+1 lists every unchanged file in fetch.txt as
``shuying://aips/<item>/<item>.v<M>/<path>`` (workflows/versions.py). Such an entry is
satisfied when one of our configured locations holds that file of version M and its
bytes match both the catalogue and the bag's own manifests (and fetch.txt's length).
Only our storage is read, never the URL: an entry with any other URL (a third-party
holey bag) stays "not fetched", so that bag stays incomplete.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

from pipeline.errors import StorageError
from pipeline.fixity import RateLimiter, hash_stream
from pipeline.fixity_bag import BagCheck, PendingFetch, ResolvedFetch, with_resolution
from pipeline.fixity_text import path_danger
from storage_config.catalogue import CopyStatus, FileRecord, VersionRecord
from storage_config.locations import Role
from storage_config.settings import Settings
from workflows.archive import Archive, open_archive
from workflows.catalogue_ops import FETCH_SCHEME, aip_key

CATALOGUE_ALGORITHMS = ("sha256", "sha512")


@dataclass(frozen=True)
class _Plan:
    """Where to look for one entry's bytes and what they must hash to."""

    entry: PendingFetch
    key: str  # the AIP key whose folder holds the bytes
    expected: Mapping[str, str]  # algorithm → digest: the catalogue's and the bag manifests'
    size: int
    locations: tuple[str, ...]


def resolve_from_storage(check: BagCheck, settings: Settings | None, *, workers: int = 2,
                         limiter: RateLimiter | None = None) -> BagCheck:
    """Return ``check`` with each of our own unfetched entries resolved from storage or named as unresolved."""
    ours = [p for p in check.unfetched if target_of(p) is not None]
    if not ours:
        return check
    try:
        if settings is None:
            raise StorageError("no storage configuration given")
        archive = open_archive(settings)
    except StorageError as exc:
        return with_resolution(check, (), {p.path: f"our storage cannot be read: {exc}" for p in ours})
    plans, unresolved = _plan(archive, ours)
    for name in sorted({n for plan in plans for n in plan.locations}):
        archive.backend(name)  # opened once here, not by several threads at once

    def read(plan: _Plan) -> tuple[str | None, str]:
        return _read_matching(archive, plan, limiter)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        outcomes = list(pool.map(read, plans))
    resolved = [ResolvedFetch(p.entry.path, p.entry.url, where) for p, (where, _) in zip(plans, outcomes) if where]
    unresolved.update({p.entry.path: why for p, (where, why) in zip(plans, outcomes) if not where})
    return with_resolution(check, resolved, unresolved)


def target_of(entry: PendingFetch) -> tuple[str, int] | None:
    """Return (item, version) when the entry's URL names the same file of one of our AIP versions."""
    parsed = urlparse(entry.url)
    if parsed.scheme != FETCH_SCHEME or path_danger(entry.path) or not entry.path.startswith("data/"):
        return None
    target = f"{parsed.netloc}{unquote(parsed.path)}"
    if not target.endswith(f"/{entry.path}"):
        return None
    parts = target[: -len(entry.path) - 1].split("/")
    stem, _, version = parts[-1].rpartition(".v") if len(parts) == 3 else ("", "", "")
    if parts[0] != "aips" or stem != parts[1] or not version.isdigit():
        return None
    if aip_key(stem, int(version)) != "/".join(parts):
        return None
    return stem, int(version)


def _plan(archive: Archive, ours: list[PendingFetch]) -> tuple[list[_Plan], dict[str, str]]:
    """Match each entry with the catalogue; what cannot match is unresolved before any byte is read."""
    plans, unresolved = [], {}
    records: dict[tuple[str, int], VersionRecord] = {}
    holders: dict[tuple[str, int], tuple[str, ...]] = {}
    for entry in ours:
        item_id, version = target_of(entry) or ("", 0)
        try:
            record = _cached(records, (item_id, version), archive.catalogue.version)
            found = record.files.get(entry.path)
            problem = _disagreement(entry, found, record.aip_key)
            if found is not None and not problem:
                holder = _cached(records, (item_id, found.stored_in), archive.catalogue.version)
                where = _cached(holders, (item_id, found.stored_in),
                                lambda item, version: tuple(_locations(archive, item, version)))
                plans.append(_Plan(entry, holder.aip_key, _expected(entry, found), found.digests.size, where))
                continue
        except StorageError as exc:
            problem = str(exc)
        unresolved[entry.path] = problem
    return plans, unresolved


def _cached(cache: dict, key: tuple[str, int], make: Callable[[str, int], Any]) -> Any:
    """Ask the catalogue once per version, not once per file (a holey bag may list hundreds)."""
    if key not in cache:
        cache[key] = make(*key)
    return cache[key]


def _disagreement(entry: PendingFetch, found: FileRecord | None, key: str) -> str:
    """Say how the bag's manifests or fetch.txt disagree with the catalogue about the file; "" if they agree."""
    if found is None:
        return f"{key}/{entry.path}: not in the catalogue"
    for algorithm in CATALOGUE_ALGORITHMS:
        want, listed = getattr(found.digests, algorithm), entry.digests.get(algorithm)
        if listed is not None and listed != want:
            return f"{key}/{entry.path}: manifest-{algorithm}.txt says {listed}, the catalogue {want}"
    if entry.length is not None and entry.length != found.digests.size:
        return f"{key}/{entry.path}: fetch.txt says {entry.length} bytes, the catalogue {found.digests.size}"
    return ""


def _expected(entry: PendingFetch, found: FileRecord) -> dict[str, str]:
    """The catalogue's digests plus any other manifest algorithm this Python can compute."""
    extra = {a: d for a, d in entry.digests.items() if a in hashlib.algorithms_available}
    return {**extra, **{a: getattr(found.digests, a) for a in CATALOGUE_ALGORITHMS}}


def _locations(archive: Archive, item_id: str, version: int) -> list[str]:
    """Configured locations recording a copy of the version: verified first, primaries first, then config order."""
    status = {c.location: c.status for c in archive.catalogue.copies(item_id) if c.version == version}
    ordered = [loc for loc in archive.config.locations if loc.name in status]
    ordered.sort(key=lambda loc: (status[loc.name] is not CopyStatus.VERIFIED, loc.role is not Role.PRIMARY))
    return [loc.name for loc in ordered]


def _read_matching(archive: Archive, plan: _Plan, limiter: RateLimiter | None) -> tuple[str | None, str]:
    """Return the first location whose bytes match, or None and what every location tried gave."""
    tried = []
    for name in plan.locations:
        try:
            with archive.backend(name).open_read(plan.key, plan.entry.path) as stream:
                found = hash_stream(stream, sorted(plan.expected), limiter=limiter)
        except StorageError as exc:
            tried.append(str(exc))  # backends name themselves
            continue
        except OSError as exc:
            tried.append(f"{name}: cannot read {plan.key}/{plan.entry.path}: {exc.strerror or exc}")
            continue
        wrong = sorted(a for a, d in plan.expected.items() if found.digests[a] != d)
        if found.size != plan.size:
            tried.append(f"{name}: {found.size} bytes, the catalogue says {plan.size}")
        elif wrong:
            tried.append(f"{name}: {' and '.join(wrong)} {'does' if len(wrong) == 1 else 'do'} not match the catalogue")
        else:
            return name, ""
    where = "; ".join(tried) or "no location holds a copy"
    return None, f"{plan.key}/{plan.entry.path}: {where}"
