"""The AIP as a BagIt 1.0 bag (RFC 8493), written from digests computed once at ingest.

bagit-python's ``make_bag`` would re-hash every master and moves files around with
``os.chdir``; :func:`write_bag` instead takes the payload in place under ``data/``
and the :class:`~pipeline.checksums.Digests` recorded in checksums.json, so the
manifests state what was checked at the start of ingest, not what happens to be on
disk now. :func:`validate_bag` then re-reads everything with the bagit library,
which is the independent check.

Manifest paths are percent-encoded as RFC 8493 §2.1.3 asks (CR, LF and ``%``);
Chinese and spaces stay as UTF-8. A payload path containing ``%`` is refused:
bagit-python 1.9 decodes only %0D and %0A (LibraryOfCongress/bagit-python#157), so
an RFC-correct ``%25`` would make it report the file missing, and an unencoded ``%``
would break RFC-following readers. Name payload files by page id to stay clear.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import bagit

import pipeline
from pipeline.batch import Batch
from pipeline.checksums import ALGORITHMS, Digests
from pipeline.errors import Problem, ShuyingError

__all__ = ["BAGIT_TXT", "AipError", "bag_info_for", "manifest_path", "validate_bag", "write_bag"]

log = logging.getLogger(__name__)

BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
PAYLOAD_DIR = "data"
TAG_BLOCK_SIZE = 1024 * 1024


class AipError(ShuyingError):
    """An AIP cannot be written as asked; carries every problem found."""

    def __init__(self, bag_dir: str | Path, problems: list[Problem]) -> None:
        self.bag_dir = str(bag_dir)
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{self.bag_dir}: cannot write bag ({len(self.problems)} problems):\n{lines}")


def write_bag(bag_dir: Path, payload: Mapping[str, Digests], bag_info: Mapping[str, str]) -> None:
    """Write the tag files of a bag whose payload is already in ``bag_dir/data``.

    ``payload`` maps each payload file (a POSIX path relative to ``bag_dir``,
    starting with ``data/``) to the digests recorded when it was first seen.

    Raises:
        AipError: a file under data/ is not listed, a listed file is missing or has
            another size, or a path is unsafe or unrepresentable (see module docstring).
    """
    problems = _payload_problems(bag_dir, payload)
    if problems:
        raise AipError(bag_dir, problems)
    paths = sorted(payload)
    (bag_dir / "bagit.txt").write_text(BAGIT_TXT, encoding="utf-8")
    for algorithm in ALGORITHMS:
        lines = [f"{getattr(payload[p], algorithm)}  {manifest_path(p)}\n" for p in paths]
        (bag_dir / f"manifest-{algorithm}.txt").write_text("".join(lines), encoding="utf-8")
    info = {**bag_info, "Payload-Oxum": payload_oxum(payload)}
    (bag_dir / "bag-info.txt").write_text(_tag_file_text(info), encoding="utf-8")
    _write_tagmanifests(bag_dir)
    log.info("wrote bag %s: %d payload files, Payload-Oxum %s", bag_dir, len(paths), info["Payload-Oxum"])


def bag_info_for(batch: Batch, *, now: datetime) -> dict[str, str]:
    """Return the bag-info.txt fields describing ``batch`` (Payload-Oxum is added by write_bag)."""
    info = {
        "Source-Organization": batch.source_organization,
        "External-Identifier": batch.item_id,
        "External-Description": _description(batch),
        "Internal-Sender-Identifier": batch.root.name,
        "Internal-Sender-Description": f"capture station {batch.capture.station_id}, operator {batch.capture.operator}",
        "Bagging-Date": now.date().isoformat(),
        "Bag-Software-Agent": f"shuying {pipeline.__version__}",
    }
    return {label: value for label, value in info.items() if value}


def validate_bag(bag_dir: Path, *, processes: int = 1) -> list[str]:
    """Return every problem bagit finds in the bag at ``bag_dir`` (empty when it is valid).

    Each problem is one line naming the file, e.g.
    ``data/masters/p0001.tif sha256 validation failed: expected="…" found="…"``.
    """
    try:
        bag = bagit.Bag(str(bag_dir))
    except bagit.BagError as error:
        return [f"{bag_dir}: {error}"]
    try:
        bag.validate(processes=processes)
    except bagit.BagValidationError as error:
        return _render(bag, error)
    except bagit.BagError as error:
        return [f"{bag_dir}: {error}"]
    return []


def manifest_path(path: str) -> str:
    """Percent-encode CR, LF and ``%`` in a manifest path (RFC 8493 §2.1.3)."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def payload_oxum(payload: Mapping[str, Digests]) -> str:
    """Return ``<octets>.<files>`` for the payload."""
    return f"{sum(d.size for d in payload.values())}.{len(payload)}"


def _payload_problems(bag_dir: Path, payload: Mapping[str, Digests]) -> list[Problem]:
    data_dir = bag_dir / PAYLOAD_DIR
    if not data_dir.is_dir():
        return [Problem(str(data_dir), "payload folder does not exist", hint="copy the payload into data/ first")]
    on_disk = {p.relative_to(bag_dir).as_posix() for p in data_dir.rglob("*") if p.is_file() or p.is_symlink()}
    problems = [Problem(p, "is under data/ but not in the payload list") for p in sorted(on_disk - set(payload))]
    for path in sorted(payload):
        problem = _path_problem(bag_dir, path) or _file_problem(bag_dir / path, payload[path], path in on_disk)
        if problem:
            problems.append(Problem(path, problem))
    return problems


def _path_problem(bag_dir: Path, path: str) -> str:
    if not path.startswith(f"{PAYLOAD_DIR}/") or "\\" in path or path.startswith("/"):
        return "is not a POSIX path under data/"
    if ".." in path.split("/"):
        return "contains '..'"
    if "%" in path:
        return "contains '%', which bagit-python cannot read back from an RFC 8493 manifest (rename the file)"
    root = os.path.realpath(bag_dir / PAYLOAD_DIR)
    if os.path.commonpath([root, os.path.realpath(bag_dir / path)]) != root:
        return "points outside data/ (symbolic link?)"
    return ""


def _file_problem(file: Path, digests: Digests, present: bool) -> str:
    if not present or not file.is_file():
        return "is in the payload list but missing from data/"
    size = file.stat().st_size
    if size != digests.size:
        return f"is {size} bytes on disk but {digests.size} bytes were recorded at ingest"
    return ""


def _tag_file_text(info: Mapping[str, str]) -> str:
    # A tag value may not contain a line break (RFC 8493 §2.2.2 allows folding, but
    # nothing we write is long enough to need it).
    return "".join(f"{label}: {' '.join(str(value).splitlines())}\n" for label, value in info.items())


def _write_tagmanifests(bag_dir: Path) -> None:
    tag_files = sorted(
        p.relative_to(bag_dir).as_posix()
        for p in bag_dir.rglob("*")
        if p.is_file() and p.relative_to(bag_dir).parts[0] != PAYLOAD_DIR and not p.name.startswith("tagmanifest-")
    )
    for algorithm in ALGORITHMS:
        lines = [f"{_file_digest(bag_dir / name, algorithm)}  {manifest_path(name)}\n" for name in tag_files]
        (bag_dir / f"tagmanifest-{algorithm}.txt").write_text("".join(lines), encoding="utf-8")


def _file_digest(path: Path, algorithm: str) -> str:
    # Tag files are a few kilobytes and were just written by us: hashing them here is
    # not the "recompute the masters" that this module avoids.
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        while block := stream.read(TAG_BLOCK_SIZE):
            hasher.update(block)
    return hasher.hexdigest()


def _description(batch: Batch) -> str:
    parts = [batch.title, batch.edition, batch.volume_label]
    return " ".join(p for p in parts if p)


def _render(bag: bagit.Bag, error: bagit.BagValidationError) -> list[str]:
    """Render a bagit failure as one line per problem, adding what bagit stopped before."""
    # Sorted: bagit's algorithm order follows a set (hashlib.algorithms_guaranteed).
    details = sorted(str(d) for d in error.details)
    if details and any(isinstance(d, bagit.ChecksumMismatch) for d in error.details):
        return details
    # bagit stops at the first failing stage: a Payload-Oxum mismatch hides which files
    # are missing or extra, and an incomplete bag is never checksummed. Report both.
    problems = details or [str(error.message)]
    if not details:
        problems += _completeness_problems(bag)
    return problems + sorted(_fixity_problems(bag))


def _completeness_problems(bag: bagit.Bag) -> list[str]:
    only_in_manifest, only_on_disk = bag.compare_manifests_with_fs()
    missing = [str(bagit.FileMissing(p)) for p in sorted(only_in_manifest)]
    return missing + [str(bagit.UnexpectedFile(p)) for p in sorted(only_on_disk)]


def _fixity_problems(bag: bagit.Bag) -> list[str]:
    problems = []
    for rel_path, expected in sorted(bag.entries.items()):
        full = os.path.join(bag.path, rel_path)
        if not os.path.isfile(full):
            continue
        for algorithm, digest, _name, _size in bagit.generate_manifest_lines(full, sorted(expected)):
            if expected[algorithm].lower() != digest:
                problems.append(str(bagit.ChecksumMismatch(rel_path, algorithm, expected[algorithm].lower(), digest)))
    return problems
