"""Assemble what the per-page tasks made into METS, the AIP, stored copies and a manifest.

These are the bodies of the late Luigi tasks, kept out of workflows/ingest.py so each
task stays a few lines; every file they make goes through workflows/atomic.py.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

from pipeline.annotations import CONTEXT_FILE, annotation_page_id, book_record, text_language
from pipeline.atomic import atomic_path, fsync_dir, remove
from pipeline.bag import AipError, bag_info_for, validate_bag, write_bag
from pipeline.batch import Batch, Leaf, Page
from pipeline.checksums import Digests, digest_file, verify_file
from pipeline.clock import now
from pipeline.entities import Entity, context_from_batch
from pipeline.errors import Problem, StorageError, ValidationError
from pipeline.formats import identify
from pipeline.identifiers import DEFAULT_TEMPLATE
from pipeline.identifiers import persistent_id as make_persistent_id
from pipeline.manifest import (
    CanvasSource,
    build_manifest,
    canvas_id,
    dump_manifest,
    image_service_id,
)
from pipeline.mets import (
    MetsFiles,
    PageFiles,
    PayloadFile,
    build_mets,
    serialize_mets,
    shuying_agent,
)
from pipeline.premis import Event
from pipeline.reshoot import Reshoot, reshoot_event
from pipeline.search import SearchHit, read_alto_page, search
from pipeline.search import index_item as index_text
from pipeline.staff_log import COMMAND_LINE, StaffLog, log_path
from pipeline.validation import json_errors, validate_xml
from storage_config.catalogue import VersionRecord
from workflows import events
from workflows.annotate import (
    CanvasRef,
    IndexedItem,
    accepted_dicts,
    annotation_pages,
    find_entities_of_pages,
    reindex_published,
)
from workflows.archive import open_archive_at
from workflows.catalogue_ops import check_recorded, read_local_version
from workflows.layout import ItemLayout
from workflows.replicate import store_version

MASTERS = "data/masters/"


def master_bag_path(page: Page) -> str:
    """Masters are bagged by page id: any capture file name (spaces, '%', NFD Chinese) stays
    safe for every BagIt tool, and PREMIS originalName keeps the name as captured."""
    return f"{MASTERS}{page.page_id}{Path(page.file).suffix.lower()}"


def read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def master_digests(layout: ItemLayout) -> dict[str, Digests]:
    """The digests ChecksumMasters recorded, by page id."""
    return {pid: Digests.from_dict(e) for pid, e in read_json(layout.checksums)["masters"].items()}


def ocr_files(layout: ItemLayout, page: Leaf) -> dict[str, tuple[Path, str, Digests]]:
    """Map kind (alto, text) to (work file, bag path, digests recorded when OCR wrote it)."""
    record = read_json(layout.ocr(page.page_id) / "ocr.json")
    found = {}
    for kind, name, bag_name in (("alto", "alto.xml", f"{page.page_id}.alto.xml"),
                                 ("text", "text.txt", f"{page.page_id}.txt")):
        if name in record.get("files", {}):
            found[kind] = (layout.ocr(page.page_id) / name, f"data/ocr/{bag_name}",
                           Digests.from_dict(record["files"][name]))
    return found


def metadata_files(batch: Batch, layout: ItemLayout) -> dict[str, Path]:
    """Batch-level payload files by bag path (METS itself is added by the AIP)."""
    return {"data/metadata/batch.json": batch.batch_file, "data/metadata/qc.json": layout.batch_qc}


def item_events(batch: Batch, layout: ItemLayout) -> list[Event]:
    """Every event the tasks recorded for this item, plus capture and package creation."""
    records = [read_json(layout.validation)["event"], read_json(layout.checksums)["event"],
               read_json(layout.batch_qc)["event"]]
    for page in batch.leaves:
        records.append(read_json(layout.derivative(page.page_id) / "deskew.json")["event"])
        ocr = read_json(layout.ocr(page.page_id) / "ocr.json")
        if "event" in ocr:
            records.append(ocr["event"])
    return [events.capture(batch), *reshoot_events(layout), *(Event.from_dict(r) for r in records),
            events.package_creation(batch)]


def read_reshoots(layout: ItemLayout) -> list[Reshoot]:
    """Every reshoot recorded for the item (workflows/reshoot.py), oldest first."""
    if not layout.reshoots.is_file():
        return []
    return [Reshoot.from_dict(r) for r in read_json(layout.reshoots)["reshoots"]]


def reshoot_events(layout: ItemLayout) -> list[Event]:
    """The PREMIS capture event of each reshoot, naming the master it replaced."""
    return [reshoot_event(r, shuying_agent()) for r in read_reshoots(layout)]


def build_item_mets(batch: Batch, layout: ItemLayout, *, organization: str, persistent_id: str = "") -> bytes:
    """Build and validate the item's METS; raise ValidationError with the schema errors.

    Every payload file is identified against PRONOM here, from the work-area file that
    the AIP will copy (already digest-checked by the tasks that made it). No access URL
    goes in: the AIP must not name the server that happens to show it today.
    """
    batch = with_settings(batch, organization=organization, persistent_id=persistent_id)
    digests = master_digests(layout)
    pages = {}
    for page in batch.leaves:
        ocr = ocr_files(layout, page)
        pages[page.page_id] = PageFiles(
            master=_identified(master_bag_path(page.master), digests[page.master.page_id],
                               batch.master_path(page.master)),
            region=leaf_region(layout, page),
            alto=_identified(ocr["alto"][1], ocr["alto"][2], ocr["alto"][0]) if "alto" in ocr else None,
            text=_identified(ocr["text"][1], ocr["text"][2], ocr["text"][0]) if "text" in ocr else None,
        )
    metadata = tuple(_identified(rel, digest_file(path), path) for rel, path in metadata_files(batch, layout).items())
    files = MetsFiles(pages, metadata)
    tree = build_mets(batch, files, [*item_events(batch, layout), _identification_event(files)], now=now())
    validate_xml(tree, "mets", document=f"{batch.item_id}/mets.xml")
    return serialize_mets(tree)


def _identified(bag_path: str, digests: Digests, source: Path) -> PayloadFile:
    return PayloadFile(bag_path, digests, identify(source))


def _identification_event(files: MetsFiles) -> Event:
    payload = list({f.path: f for pf in files.pages.values() for f in (pf.master, pf.alto, pf.text) if f}.values())
    payload += files.metadata
    unknown = tuple(f.path + (" (empty)" if f.digests.size == 0 else "") for f in payload
                    if f.format is not None and not f.format.known)
    return events.format_identification(tuple(f.path for f in payload), unknown)


def leaf_region(layout: ItemLayout, leaf: Leaf) -> tuple[int, int, int, int] | None:
    """The part of its master a split leaf shows (x0, y0, x1, y1, the bounding box of its region); None = all."""
    if not leaf.master.split:
        return None
    corners = read_json(layout.derivative(leaf.page_id) / "deskew.json")["master_region"]
    xs, ys = [round(x) for x, _ in corners], [round(y) for _, y in corners]
    return max(0, min(xs)), max(0, min(ys)), max(xs), max(ys)


def with_settings(batch: Batch, *, organization: str = "", persistent_id: str = "") -> Batch:
    """The batch with the library's fallbacks: holding institution, and a persistent id from the template."""
    if organization and not batch.source_organization:
        batch = replace(batch, source_organization=organization)
    if not batch.persistent_id:
        batch = replace(batch, persistent_id=make_persistent_id(persistent_id or DEFAULT_TEMPLATE, batch.item_id))
    return batch


def assemble_aip(batch: Batch, layout: ItemLayout, *, organization: str) -> None:
    """Stage masters (verified before and after copying), OCR, metadata and METS as a bag."""
    digests = master_digests(layout)
    with atomic_path(layout.aip, directory=True) as bag:
        payload: dict[str, Digests] = {}
        for page in batch.pages:
            rel = master_bag_path(page)
            payload[rel] = _copy_verified(batch.master_path(page), bag / rel, digests[page.page_id], page.file)
        for leaf in batch.leaves:
            for source, rel, recorded in ocr_files(layout, leaf).values():
                payload[rel] = _copy_verified(source, bag / rel, recorded, rel)
        for rel, source in {**metadata_files(batch, layout), "data/mets.xml": layout.mets}.items():
            payload[rel] = _copy_verified(source, bag / rel, digest_file(source), rel)
        write_bag(bag, payload, bag_info_for(with_settings(batch, organization=organization), now=now()))
        problems = validate_bag(bag)
        if problems:
            raise AipError(layout.aip, [Problem(layout.aip_name, p) for p in problems])


def _copy_verified(source: Path, dest: Path, expected: Digests, name: str) -> Digests:
    """Copy a file, checking the source before and the copy after against ``expected``."""
    verify_file(source, expected, name=name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    verify_file(dest, expected, name=name)
    return expected


def store_aip(batch: Batch, layout: ItemLayout, storage_config: Path, *, home: Path) -> dict:
    """Put the AIP in every primary location, each copy verified by reading it back, and record it
    in the catalogue; replicas too when the storage policy says replicate_on_ingest."""
    archive = open_archive_at(storage_config, home=home)
    record = read_local_version(layout.aip_key, layout.aip)
    check_recorded(record, ingest_digests(batch, layout))  # the catalogue holds ingest's digests, not just the bag's
    stored = archive.catalogue.versions(batch.item_id)
    same = [v for v in stored if v.version == record.version and v.files == record.files]
    if stored and not same:  # a re-ingest (work/ removed) of an item already stored; same = resume a copy
        return _already_stored(batch, layout, stored[-1])
    report = store_version(archive, layout.aip, record)
    return {"item_id": batch.item_id, "aip": layout.aip_name, "files": len(record.files),
            "bytes": sum(f.digests.size for f in record.files.values()),
            "copies": [{"location": o.location, "key": layout.aip_key, "outcome": o.outcome.value}
                       for o in report.outcomes], "below_policy": list(report.below_policy)}


def _already_stored(batch: Batch, layout: ItemLayout, latest: VersionRecord) -> dict:
    """Accept a re-ingest whose masters are those stored; refuse one with other masters (a reshoot)."""
    masters = master_digests(layout)
    other = [page.page_id for page in batch.pages
             if getattr(latest.files.get(master_bag_path(page)), "digests", None) != masters[page.page_id]]
    if other:
        raise StorageError(f"{batch.item_id} is already stored as {latest.aip_key} with other masters for "
                           f"{', '.join(other)}: nothing was stored; if these are reshoots, run `shuying reshoot "
                           f"{batch.root} {' '.join(other)} --operator NAME --reason TEXT`")
    return {"item_id": batch.item_id, "aip": latest.aip_key.rsplit("/", 1)[1], "version": latest.version,
            "files": len(latest.files), "already_stored": True, "copies": [], "below_policy": []}


def ingest_digests(batch: Batch, layout: ItemLayout) -> dict[str, Digests]:
    """The digests ingest computed for masters and OCR files, by bag path."""
    masters = master_digests(layout)
    found = {master_bag_path(page): masters[page.page_id] for page in batch.pages}
    for leaf in batch.leaves:
        found.update({rel: digests for _source, rel, digests in ocr_files(layout, leaf).values()})
    return found


def search_index(home: Path) -> Path:
    """Where the full-text index of every published item lives."""
    return home / "search.sqlite"


def item_entities(batch: Batch, layout: ItemLayout) -> dict[str, list[Entity]]:
    """Find the entities of every leaf with OCR text, with the context the batch's census fields give."""
    return find_entities_of_pages(_altos(batch, layout), context_from_batch(batch))


def _altos(batch: Batch, layout: ItemLayout) -> dict[str, Path]:
    return {page.page_id: alto[0] for page in batch.leaves if (alto := ocr_files(layout, page).get("alto"))}


def index_item(batch: Batch, layout: ItemLayout, *, home: Path,
               entities: dict[str, list[Entity]] | None = None) -> int:
    """Put the item's OCR text (from its ALTO) and accepted entities in the search index; return the pages indexed."""
    found = item_entities(batch, layout) if entities is None else entities
    pages = [read_alto_page(path, page_id) for page_id, path in _altos(batch, layout).items()]
    return index_text(search_index(home), batch.item_id, pages, accepted_dicts(found))


def search_items(home: Path, query: str, *, item_id: str | None = None, limit: int = 100) -> list[SearchHit]:
    """Find a phrase in the OCR text of published items (simplified or traditional)."""
    return search(search_index(home), query, item_id=item_id, limit=limit)


def reindex(publish_root: Path, home: Path, *, base_url: str, item_id: str | None = None) -> list[IndexedItem]:
    """Rebuild the search index (text and entities) and the annotation pages of published items (`shuying index`)."""
    return reindex_published(publish_root, search_index(home), base_url=base_url, item_id=item_id,
                             lock_dir=Path(home) / "locks")  # the ingest lock (workflows/run.ingest_lock)


def publish_item(batch: Batch, layout: ItemLayout, *, base_url: str, persistent_id: str = "",
                 entities: dict[str, list[Entity]] | None = None, home: Path | None = None) -> None:
    """Publish access images, ALTO, entity annotations and the manifest for the viewer, all at once.

    With ``home``, a change of the item's access tier from what was published before is
    written to the staff log (``shuying log``): who may see a rare book is a staff action.
    """
    batch = with_settings(batch, persistent_id=persistent_id)
    found = item_entities(batch, layout) if entities is None else entities
    canvases = []
    new = layout.publish.with_name(layout.publish.name + ".new")
    remove(new)  # left by a run killed between staging and swapping
    with atomic_path(new, directory=True) as staged:
        for page in batch.leaves:
            info = read_json(layout.derivative(page.page_id) / "deskew.json")
            _link_or_copy(layout.derivative(page.page_id) / "access.tif", staged / "images" / f"{page.page_id}.tif")
            alto = ocr_files(layout, page).get("alto")
            alto_url = ""
            if alto:
                _link_or_copy(alto[0], staged / "alto" / f"{page.page_id}.xml")
                alto_url = f"{base_url}/iiif/{batch.item_id}/alto/{page.page_id}.xml"
            canvases.append(CanvasSource(page, info["width"], info["height"],
                                         image_service_id(base_url, batch.item_id, page), alto_url,
                                         annotation_page_id(base_url, batch.item_id, page.page_id) if alto else ""))
        _write_annotations(batch, canvases, found, staged, base_url)
        manifest = build_manifest(batch, canvases, base_url=base_url)
        errors = json_errors(manifest, "iiif-presentation-3.0")
        if errors:
            raise ValidationError(f"{batch.item_id}/manifest.json", errors)
        (staged / "manifest.json").write_text(dump_manifest(manifest), encoding="utf-8")
        # The IIIF server's access tier (iiif_server/access.py); without it the item is served staff-only.
        (staged / "access.json").write_text(json.dumps({"access_level": batch.access_level.value}) + "\n",
                                            encoding="utf-8")
    earlier = _published_tier(layout.publish)
    _swap_in(new, layout.publish)
    if home is not None and earlier is not None and earlier != batch.access_level.value:
        StaffLog(log_path(home)).append(COMMAND_LINE, "tier-change", batch.item_id,
                                        detail=f"{earlier} -> {batch.access_level.value} (batch.json, at publish)")


def _published_tier(folder: Path) -> str | None:
    """The access level the item is published with now; None when not published (or unreadable)."""
    try:
        return str(json.loads((folder / "access.json").read_text(encoding="utf-8"))["access_level"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_annotations(batch: Batch, canvases: list[CanvasSource], found: dict[str, list[Entity]], staged: Path,
                       base_url: str) -> None:
    """Write each read canvas's AnnotationPage and the book's entity context (for `shuying index`) into the stage."""
    refs = [CanvasRef(c.page.page_id, canvas_id(base_url, batch.item_id, c.page), c.width, c.height) for c in canvases]
    pages = annotation_pages(found, refs, item_id=batch.item_id, base_url=base_url, language=text_language(batch))
    for page_id, page in pages.items():
        path = staged / "annotations" / f"{page_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(page, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (staged / CONTEXT_FILE).write_text(json.dumps(book_record(batch), ensure_ascii=False, indent=2) + "\n",
                                       encoding="utf-8")


def _link_or_copy(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, dest)
    except OSError:
        shutil.copyfile(source, dest)


def _swap_in(new: Path, final: Path) -> None:
    """Replace ``final`` with ``new``; the old version is moved aside, then removed."""
    old = final.with_name(final.name + ".old")
    remove(old)
    if final.exists():
        os.rename(final, old)
    os.rename(new, final)
    fsync_dir(final.parent)
    remove(old)
