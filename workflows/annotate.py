"""Entities at publish, and again over the whole collection: annotation pages and the search index.

At publish (``PublishManifest``, ``shuying reshoot``) :func:`find_entities_of_pages` runs
the rules on each leaf's ALTO with the book's context, and workflows/package.py writes
the accepted ones into the staged item as ``annotations/<page>.json`` (validated as
Presentation 3) and into the search index. ``shuying index`` (:func:`reindex_published`)
does the same from what is published, for one item or all: it needs no batch folder,
because the context is published beside the manifest (``entity-context.json``). It
rewrites each annotation page atomically, adds the canvases' links to a manifest
published before annotations existed, and replaces the item's rows in the index.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.annotations import (
    CONTEXT_FILE,
    accepted,
    annotation_page,
    annotation_page_id,
    context_of_record,
)
from pipeline.atomic import write_bytes_atomic, write_json_atomic
from pipeline.entities import BookContext, Entity, entities_of_alto
from pipeline.errors import BusyError, ShuyingError, ValidationError
from pipeline.manifest import dump_manifest
from pipeline.search import SearchIndexError, read_alto_page
from pipeline.search import index_item as index_text
from pipeline.validation import json_errors
from workflows.archive import pid_lock

__all__ = ["CanvasRef", "IndexedItem", "annotation_pages", "find_entities_of_pages", "reindex_item",
           "reindex_published"]

log = logging.getLogger(__name__)
SCHEMA = "iiif-presentation-3.0"
STAGING_SUFFIXES = (".new", ".old")  # publish_item's staging folders: never indexed


@dataclass(frozen=True)
class CanvasRef:
    """What an annotation page needs of its canvas: the page, the canvas id and the access image's size."""

    page_id: str
    canvas_id: str
    width: int
    height: int


@dataclass(frozen=True)
class IndexedItem:
    """What ``shuying index`` did for one item."""

    item_id: str
    pages: int = 0
    entities: int = 0
    error: str = ""  # why the item could not be indexed; the others are indexed all the same


def find_entities_of_pages(altos: dict[str, Path], context: BookContext) -> dict[str, list[Entity]]:
    """Return each page's entities (all of them; the annotation pages and the index keep the accepted ones)."""
    return {page_id: entities_of_alto(path, page_id, context) for page_id, path in altos.items()}


def annotation_pages(found: dict[str, list[Entity]], canvases: list[CanvasRef], *, item_id: str, base_url: str,
                     language: str) -> dict[str, dict[str, Any]]:
    """Return the AnnotationPage of every canvas whose page was read, each checked against the Presentation 3 schema.

    Raises:
        ValidationError: a page does not validate (a bug: nothing is published).
    """
    pages = {}
    for canvas in canvases:
        if canvas.page_id not in found:
            continue
        page = annotation_page(found[canvas.page_id], canvas_id=canvas.canvas_id, base_url=base_url,
                               page_url=annotation_page_id(base_url, item_id, canvas.page_id), language=language,
                               size=(canvas.width, canvas.height))
        errors = json_errors(page, SCHEMA)
        if errors:
            raise ValidationError(f"{item_id}/annotations/{canvas.page_id}.json", errors)
        pages[canvas.page_id] = page
    return pages


def accepted_dicts(found: dict[str, list[Entity]]) -> list[dict[str, Any]]:
    """Return the accepted entities of every page as the index stores them (``Entity.as_dict()``)."""
    return [e.as_dict() for entities in found.values() for e in accepted(entities)]


def reindex_published(publish_root: Path, index: Path, *, base_url: str, item_id: str | None = None,
                      lock_dir: Path | None = None) -> list[IndexedItem]:
    """Rebuild the index rows and annotation pages of one published item, or of every one.

    An item whose files cannot be read is reported in its :class:`IndexedItem` and the
    others are indexed all the same (bagit's "the rest of the batch proceeds"). With
    ``lock_dir`` each item is done under its ingest lock, so an ingest publishing the same
    item is never read half-swapped; an item being ingested is reported and skipped.

    Raises:
        ShuyingError: ``item_id`` is not published.
        SearchIndexError: the index itself cannot be written (nothing else can be done).
    """
    if item_id is not None:
        if not (publish_root / item_id / "manifest.json").is_file():
            raise ShuyingError(f"{publish_root / item_id}: no published item {item_id!r} (no manifest.json)")
        folders = [publish_root / item_id]
    else:
        folders = published_items(publish_root)
    return [_reindex_or_report(folder, index, base_url, lock_dir) for folder in folders]


def _reindex_or_report(folder: Path, index: Path, base_url: str, lock_dir: Path | None) -> IndexedItem:
    lock = contextlib.nullcontext() if lock_dir is None else pid_lock(
        lock_dir / f"ingest-{folder.name}.lock",
        lambda holder: BusyError(f"{folder.name}: an ingest of this item is running ({holder}); run "
                                 f"`shuying index --item {folder.name}` when it has finished"))
    try:
        with lock:
            return reindex_item(folder, index, base_url=base_url)
    except SearchIndexError:
        raise
    except ShuyingError as exc:
        log.warning("could not re-index %s: %s", folder.name, exc)
        return IndexedItem(folder.name, error=str(exc))


def published_items(publish_root: Path) -> list[Path]:
    """Return the folders of published items (with a manifest), sorted, without publish's staging folders."""
    if not publish_root.is_dir():
        return []
    return sorted(p for p in publish_root.iterdir() if p.is_dir() and not p.name.endswith(STAGING_SUFFIXES)
                  and (p / "manifest.json").is_file())


def reindex_item(folder: Path, index: Path, *, base_url: str) -> IndexedItem:
    """Find the entities of one published item again, write its annotation pages and replace it in the index."""
    item_id = folder.name
    manifest = _read_json(folder / "manifest.json")
    context, language = _context(folder)
    canvases = canvas_refs(manifest)
    altos = {c.page_id: folder / "alto" / f"{c.page_id}.xml" for c in canvases
             if (folder / "alto" / f"{c.page_id}.xml").is_file()}
    found = find_entities_of_pages(altos, context)
    for page_id, page in annotation_pages(found, canvases, item_id=item_id, base_url=base_url,
                                          language=language).items():
        write_json_atomic(folder / "annotations" / f"{page_id}.json", page)
    _link_annotations(folder / "manifest.json", manifest, set(found), item_id, base_url)
    entities = accepted_dicts(found)
    index_text(index, item_id, [read_alto_page(path, page_id) for page_id, path in altos.items()], entities)
    log.info("re-indexed %s: %d pages, %d entities", item_id, len(altos), len(entities))
    return IndexedItem(item_id, len(altos), len(entities))


def canvas_refs(manifest: dict[str, Any]) -> list[CanvasRef]:
    """Return the manifest's canvases; a canvas id ends in its page id (``pipeline.manifest.canvas_id``)."""
    return [CanvasRef(str(c["id"]).rsplit("/", 1)[-1], str(c["id"]), int(c["width"]), int(c["height"]))
            for c in manifest.get("items", []) if c.get("type") == "Canvas" and "width" in c]


def _link_annotations(path: Path, manifest: dict[str, Any], page_ids: set[str], item_id: str, base_url: str) -> None:
    """Add the annotation links a manifest published before annotations lacks; leave a linked one untouched."""
    changed = False
    for canvas in manifest.get("items", []):
        page_id = str(canvas.get("id", "")).rsplit("/", 1)[-1]
        if page_id in page_ids and not canvas.get("annotations"):
            canvas["annotations"] = [{"id": annotation_page_id(base_url, item_id, page_id), "type": "AnnotationPage"}]
            changed = True
    if not changed:
        return
    errors = json_errors(manifest, SCHEMA)
    if errors:
        raise ValidationError(f"{path}", errors)
    write_bytes_atomic(path, dump_manifest(manifest).encode("utf-8"))


def _context(folder: Path) -> tuple[BookContext, str]:
    """The context published with the item; an item published before entities has none: the defaults."""
    path = folder / CONTEXT_FILE
    if not path.is_file():
        return context_of_record({})
    try:
        return context_of_record(_read_json(path))
    except ValueError as exc:
        raise ShuyingError(f"{path}: {exc}") from None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ShuyingError(f"{path}: cannot read it: {exc}") from None
    if not isinstance(data, dict):
        raise ShuyingError(f"{path}: not a JSON object")
    return data
