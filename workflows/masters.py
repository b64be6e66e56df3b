"""Is each master still the file checksummed at ingest? A replaced one is a reshoot, to be declared."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.batch import Batch, Page
from pipeline.checksums import digest_file
from pipeline.errors import ShuyingError
from workflows.base import read_json
from workflows.layout import ItemLayout

__all__ = ["MasterChangedError", "changed_masters", "check_masters_unchanged"]


class MasterChangedError(ShuyingError):
    """A master differs from the one checksummed at ingest."""


def changed_masters(batch: Batch, layout: ItemLayout, pages: Sequence[Page] | None = None) -> list[tuple[str, str]]:
    """Return (page id, description) for each master that is not the file checksummed at ingest.

    Cheap on an unchanged batch: a file whose size and modification time are as recorded
    is taken as unchanged; one whose time moved but size did not is hashed, so a file
    merely touched or copied back is no reshoot.
    """
    if not layout.checksums.is_file():
        return []
    recorded = read_json(layout.checksums)["masters"]
    changed = []
    for page in batch.pages if pages is None else pages:
        entry, path = recorded.get(page.page_id), batch.master_path(page)
        if entry is None:
            continue  # a page added to batch.json: ingest's own checks report it
        stat = path.stat()
        if stat.st_size == entry["size"] and stat.st_mtime_ns == entry.get("mtime_ns", stat.st_mtime_ns):
            continue
        if stat.st_size == entry["size"] and digest_file(path).sha512 == entry["sha512"]:
            continue
        changed.append((page.page_id, f"{page.file} ({page.page_id}) is not the master checksummed at ingest "
                                      f"({entry['size']} bytes then, {stat.st_size} now)"))
    return changed


def check_masters_unchanged(batch: Batch, layout: ItemLayout, pages: Sequence[Page] | None = None) -> None:
    """Raise MasterChangedError, pointing at ``shuying reshoot``, if any master (of ``pages``) was replaced."""
    changed = changed_masters(batch, layout, pages)
    if changed:
        named = " ".join(page_id for page_id, _ in changed)
        raise MasterChangedError(f"{'; '.join(why for _, why in changed)}: if this is a reshoot, run `shuying "
                                 f"reshoot {batch.root} {named} --operator NAME --reason TEXT`; otherwise put "
                                 "the ingested file back")
