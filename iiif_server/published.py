"""Find published files from request identifiers, never outside the publish root.

The ingest publishes (see ``workflows/layout.py``)::

    <publish>/<item_id>/manifest.json
    <publish>/<item_id>/images/<page_id>.tif     Image API identifier "<item_id>~<page_id>"
    <publish>/<item_id>/alto/<page_id>.xml

Names are checked against strict patterns first, so ``..``, slashes, NUL bytes and
absolute paths never reach the file system; then the joined path is resolved with
``realpath`` and must still lie inside the publish root (bagit's
``_path_is_dangerous``), which also stops symlinks pointing out. Anything that fails
is reported as "not found": a client cannot tell a forbidden path from a missing one.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from iiif_server.cache import Recent
from iiif_server.errors import NotFound

log = logging.getLogger(__name__)

ITEM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
PAGE_ID = re.compile(r"p\d{4,12}[rl]?")  # a leaf of a two-leaf master ends in r or l
IDENTIFIER_SEPARATOR = "~"
# publish_item() stages "<item>.new" and swaps the old version out to "<item>.old".
STAGING_SUFFIXES = (".new", ".old")


@dataclass(frozen=True)
class PageRef:
    item_id: str
    page_id: str

    @property
    def identifier(self) -> str:
        return f"{self.item_id}{IDENTIFIER_SEPARATOR}{self.page_id}"


@dataclass(frozen=True)
class SourceFile:
    """A published file and the version it had when looked up (changes when it is republished)."""

    path: Path
    version: tuple[int, int, int, int]  # device, inode, size, mtime in ns
    mtime: float
    size: int


def is_item_id(name: str) -> bool:
    """Tell whether ``name`` can be a published item's id (staging folders cannot)."""
    return bool(ITEM_ID.fullmatch(name)) and not name.endswith(STAGING_SUFFIXES)


def parse_identifier(identifier: str) -> PageRef:
    """Split an Image API identifier ``<item_id>~<page_id>``; anything else is not found."""
    item_id, separator, page_id = identifier.partition(IDENTIFIER_SEPARATOR)
    if not separator or not is_item_id(item_id) or not PAGE_ID.fullmatch(page_id):
        raise NotFound(f"no image {_shown(identifier)}", "identifier")
    return PageRef(item_id, page_id)


class PublishedStore:
    """Read-only access to the publish area."""

    def __init__(self, root: Path, lookup_ttl: float = 0.0) -> None:
        self.root = Path(root)
        # Resolving a path (realpath, stat) is a tenth of a cached tile's cost: reuse it for a moment.
        self._recent = Recent(lookup_ttl)

    def page_image(self, page: PageRef) -> SourceFile:
        """Return the pyramid TIFF of a page."""
        return self._file(*image_parts(page))

    def manifest(self, item_id: str) -> SourceFile:
        """Return an item's manifest.json."""
        self.check_item(item_id)
        return self._file(item_id, "manifest.json")

    def alto(self, item_id: str, page_id: str) -> SourceFile:
        """Return a page's ALTO file."""
        self.check_item(item_id)
        if not PAGE_ID.fullmatch(page_id):
            raise NotFound(f"no page {_shown(page_id)}", "page")
        return self._file(item_id, "alto", f"{page_id}.xml")

    def annotations(self, item_id: str, page_id: str) -> SourceFile:
        """Return a page's annotation page (its entities, workflows/annotate.py)."""
        self.check_item(item_id)
        if not PAGE_ID.fullmatch(page_id):
            raise NotFound(f"no page {_shown(page_id)}", "page")
        return self._file(item_id, "annotations", f"{page_id}.json")

    def item_ids(self) -> list[str]:
        """List every published item (a folder with a manifest), sorted."""
        try:
            with os.scandir(self.root) as entries:
                names = [e.name for e in entries if is_item_id(e.name) and e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return []
        return sorted(name for name in names if os.path.isfile(os.path.join(self.root, name, "manifest.json")))

    def check_item(self, item_id: str) -> None:
        """Refuse (as not found) a name that cannot be an item id, before it reaches the file system."""
        if not is_item_id(item_id):
            raise NotFound(f"no item {_shown(item_id)}", "item")

    def _file(self, *parts: str) -> SourceFile:
        found = self._recent.get(parts)
        if found is None:
            found = self._resolve(*parts)
            self._recent.put(parts, found)
        return found

    def _resolve(self, *parts: str) -> SourceFile:
        root = os.path.realpath(self.root)
        real = os.path.realpath(os.path.join(root, *parts))
        if os.path.commonpath([root, real]) != root:
            log.warning("refused %s: resolves outside the publish root to %s", "/".join(parts), real)
            raise missing(*parts)
        try:
            st = os.stat(real)
        except (FileNotFoundError, NotADirectoryError):
            raise missing(*parts) from None
        if not stat.S_ISREG(st.st_mode):
            raise missing(*parts)
        return SourceFile(Path(real), (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns), st.st_mtime, st.st_size)


def missing(*parts: str) -> NotFound:
    """Return the error for a file that is not there; items hidden from the requester get the same one."""
    # The parts name where files live on this server: logged by callers if at all, never sent.
    return NotFound("not found")


def image_parts(page: PageRef) -> tuple[str, str, str]:
    """Return the path parts of a page's pyramid below the publish root."""
    return page.item_id, "images", f"{page.page_id}.tif"


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")
