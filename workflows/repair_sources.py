"""Bytes outside the storage locations that may still heal a damaged stored file.

When every storage location's copy of a file is damaged, two local copies may still be
intact: the bag ingest (or a new version) staged in the work area, kept until someone
removes it, and, for a master, the original in the capture folder ingest read. Either
heals a file only if its digests equal the catalogue's, exactly as a storage copy must,
so using them can never put wrong bytes back.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from storage_config.catalogue import VersionRecord
from workflows.archive import Archive

__all__ = ["local_sources"]

MASTERS = "data/masters/"


def local_sources(archive: Archive, record: VersionRecord, path: str) -> list[tuple[str, Path]]:
    """Return (label, file) for each local file that may hold ``path`` of ``record``: work bag, then capture."""
    found = []
    staged = archive.staged_bag(record.aip_key) / path
    if staged.is_file():
        found.append((f"work area ({staged})", staged))
    capture = _capture_file(archive.work_dir / record.item_id, path)
    if capture is not None and capture.is_file():
        found.append((f"capture folder ({capture})", capture))
    return found


def _capture_file(work_item: Path, path: str) -> Path | None:
    """The original of a master (``data/masters/p0003.tif``), from what ingest recorded in the work area."""
    if not path.startswith(MASTERS):
        return None
    try:
        batch_dir = json.loads((work_item / "validation.json").read_text(encoding="utf-8"))["batch_dir"]
        masters = json.loads((work_item / "checksums.json").read_text(encoding="utf-8"))["masters"]
    except (OSError, ValueError, KeyError):
        return None  # no work area, or one ingested before the capture folder was recorded
    entry = masters.get(PurePosixPath(path).stem)
    return Path(batch_dir) / entry["file"] if entry else None
