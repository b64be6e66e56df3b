"""Conservation records: add, amend, list, show and report; every saved revision is a new AIP version.

Saving a revision (from ``shuying repair`` or the staff web form):

1. the record is checked (schema, vocabularies, dates, scope) and every new image is
   probed and fully decoded, then hashed (SHA-256 and SHA-512, like masters);
2. under the workshop lock (``<home>/locks/conservation.lock``), an amendment must still
   be based on the latest revision (else :class:`RevisionConflictError`), the pages
   must be pages of the item (read from the METS of its latest AIP version);
3. the record JSON, the new images and an updated METS (the previous one plus the
   record, see :mod:`pipeline.conservation.mets`, validated against the official XSDs)
   become AIP version N+1 through :func:`workflows.versions.new_version`, which stores
   and replicates it like any other;
4. only then is the revision added to the record index (``<home>/conservation.sqlite``).

A save killed at any step leaves the record either nowhere or everywhere: before step 3
records the version in the catalogue nothing is visible (the scratch files and the staged
bag are swept by the next save); after it, the next conservation command finishes what
was left — it stores a version recorded but stored nowhere from its staged bag, and
indexes the records of versions stored after the last indexed one
(:func:`workflows.conservation_store.reconcile_records`). Adding a record already saved
(a retried add) is refused with the id it was saved as, so a retry never duplicates it.

Paths in the AIP: ``data/conservation/<id>/r<revision>.json`` and
``data/conservation/<id>/r<revision>/<image file>``; an image kept from an earlier
revision keeps its path (and is fetched from the version that stored it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from lxml import etree

from pipeline.atomic import TMP_MARK, remove, sweep_stale
from pipeline.checksums import Digests, digest_file
from pipeline.conservation import (
    ConservationRecord,
    DuplicateRecordError,
    ItemDescription,
    RecordError,
    RecordHistory,
    RevisionConflictError,
    SavedRevision,
    UnknownRecordError,
    Vocabularies,
    add_revision,
    check_pages,
    describe_item,
    load_vocabularies,
    parse_record,
    render_report,
    report_image,
)
from pipeline.errors import StorageError
from pipeline.images import probe_image, verify_decodes
from pipeline.mets import PayloadFile, serialize_mets
from pipeline.validation import parse_xml_safely, validate_xml
from storage_config.settings import Settings
from workflows.archive import Archive, open_archive
from workflows.catalogue_ops import METS_PATH
from workflows.conservation_store import (
    LOCK_TIMEOUT,
    STORE_FILE,
    RecordStore,
    read_verified,
    reconcile_records,
    record_store,
    workshop_lock,
)
from workflows.export import holders
from workflows.replicate import below_policy, replicate_archive
from workflows.versions import new_version

log = logging.getLogger(__name__)

__all__ = ["LOCK_TIMEOUT", "STORE_FILE", "DuplicateRecordError", "Workshop", "add_record", "amend_record",
           "describe", "item_report", "list_items", "list_records", "record_image", "show_record", "vocabularies"]

VOCABULARY_DIR = "vocabularies"
CLI_USER = "command line"
SCRATCH = "conservation"  # <work>/conservation.tmp-<host>-<pid>-<random>: one save's temporary files


@dataclass(frozen=True)
class ItemChoice:
    """An item a record can be made for: every item with an AIP."""

    item_id: str
    description: str
    version: int


def vocabularies(settings: Settings) -> Vocabularies:
    """Return the packaged vocabularies extended by ``<home>/vocabularies/*.json``."""
    return load_vocabularies(settings.home / VOCABULARY_DIR)


def add_record(settings: Settings, item_id: str, data: Mapping[str, Any], images: Mapping[str, Path], *,
               saved_by: str = CLI_USER, document: str = "record", now: datetime | None = None) -> SavedRevision:
    """Check and save a new record for ``item_id`` (``images``: file name in the record -> local file).

    Raises:
        RecordError: the record, its pages or its images are wrong (every problem listed).
        ImageError: an image is not an image or cannot be decoded.
        StorageError: the AIP version could not be made.
    """
    now = now or datetime.now(UTC)
    if data.get("item", item_id) != item_id:
        raise RecordError(document, [f"item: the record names {data['item']!r} but is added to {item_id!r}"])
    record = parse_record({**data, "item": item_id}, vocabularies(settings), document=document, today=now.date())
    supplied = _checked_images(settings, record, images, document)
    with workshop_lock(settings):
        _complete_interrupted(settings, item_id)
        _refuse_duplicate(settings, replace(record, saved_by=saved_by), supplied, document)
        record_id = _store(settings).next_id(now.year)
        return _save(settings, record, supplied, record_id, None, saved_by, document, now)


def amend_record(settings: Settings, record_id: str, data: Mapping[str, Any], images: Mapping[str, Path], *,
                 based_on: int | None = None, saved_by: str = CLI_USER, document: str = "record",
                 now: datetime | None = None) -> SavedRevision:
    """Save a new revision of a record, edited from revision ``based_on`` (default: the document's "revision").

    Raises:
        UnknownRecordError: there is no such record.
        RevisionConflictError: another revision was saved after ``based_on``.
        RecordError, ImageError, StorageError: as :func:`add_record`.
    """
    now = now or datetime.now(UTC)
    _reconciled(settings).history(record_id)  # UnknownRecordError before anything else is checked
    based_on = based_on if based_on is not None else data.get("revision")
    if data.get("id", record_id) != record_id:
        raise RecordError(document, [f"id: the document is record {data['id']!r}, not {record_id!r}"])
    if not isinstance(based_on, int) or isinstance(based_on, bool):
        raise RecordError(document, [('revision: say which revision you edited ("revision": N, as '
                                      f"`shuying repair show {record_id}` prints it)")])
    record = parse_record(data, vocabularies(settings), document=document, today=now.date())
    supplied = _checked_images(settings, record, images, document)
    with workshop_lock(settings):
        _complete_interrupted(settings, record.item_id)
        previous = _store(settings).history(record_id).current
        if previous.record.revision != based_on:
            raise RevisionConflictError(record_id, based_on, previous.record.revision, previous.record.saved_by)
        if previous.record.item_id != record.item_id:
            raise RecordError(document, [(f"item: record {record_id} is about {previous.record.item_id}; "
                                          "a record stays with its item")])
        return _save(settings, record, supplied, record_id, previous.record, saved_by, document, now)


def list_records(settings: Settings, *, item_id: str | None = None, damage: str | None = None,
                 conservator: str | None = None, since: date | None = None) -> list[RecordHistory]:
    """Return the records (of an item) whose current revision has the damage type, conservator, start date."""
    code = _damage_code(settings, damage) if damage else None
    found = []
    for history in _reconciled(settings).histories(item_id):
        record = history.current.record
        if code and code not in {d.type for d in record.damage}:
            continue
        if conservator and conservator.casefold() not in {c.casefold() for c in record.conservators}:
            continue
        if since and record.dates.started < since:
            continue
        found.append(history)
    return found


def show_record(settings: Settings, record_id: str) -> RecordHistory:
    """Return every revision of a record (UnknownRecordError if there is none)."""
    return _reconciled(settings).history(record_id)


def list_items(settings: Settings) -> list[ItemChoice]:
    """Return every item with an AIP, at its latest version."""
    latest: dict[str, ItemChoice] = {}
    for version in open_archive(settings).catalogue.versions():
        latest[version.item_id] = ItemChoice(version.item_id, version.description, version.version)
    return sorted(latest.values(), key=lambda c: c.item_id)


def describe(settings: Settings, item_id: str) -> ItemDescription:
    """Return title, call number and pages of an item, from the METS of its latest AIP version."""
    return describe_item(_current_mets(open_archive(settings), item_id, document=item_id))


def record_image(settings: Settings, record_id: str, path: str, *, max_side: int = 1600) -> bytes:
    """Return an image of a record as a JPEG for screens, read from storage and verified."""
    history = show_record(settings, record_id)
    if path not in {i.path for r in history.revisions for i in r.record.images}:
        raise UnknownRecordError(f"{record_id}/{path}")
    return report_image(_read_payload(open_archive(settings), history.current.record.item_id, path),
                        max_side=max_side)


def item_report(settings: Settings, item_id: str, *, now: datetime | None = None) -> str:
    """Return the self-contained, printable HTML report of every record of an item."""
    archive = open_archive(settings)
    item = describe_item(_current_mets(archive, item_id, document=item_id))
    histories = _reconciled(settings).histories(item_id)
    paths = {i.path for h in histories for i in h.current.record.images}
    images = {path: report_image(_read_payload(archive, item_id, path)) for path in sorted(paths)}
    return render_report(item, histories, images, vocabularies(settings), now=now or datetime.now(UTC))


@dataclass(frozen=True)
class Workshop:
    """The conservation desk the staff web form uses (iiif_server/staff/desk.py describes it)."""

    settings: Settings

    def vocabularies(self) -> Vocabularies:
        return vocabularies(self.settings)

    def items(self) -> list[ItemChoice]:
        return list_items(self.settings)

    def describe(self, item_id: str) -> ItemDescription:
        return describe(self.settings, item_id)

    def add(self, item_id: str, data: Mapping[str, Any], images: Mapping[str, Path], *, saved_by: str) -> SavedRevision:
        return add_record(self.settings, item_id, data, images, saved_by=saved_by, document="form")

    def amend(self, record_id: str, data: Mapping[str, Any], images: Mapping[str, Path], *, based_on: int,
              saved_by: str) -> SavedRevision:
        return amend_record(self.settings, record_id, data, images, based_on=based_on, saved_by=saved_by,
                            document="form")

    def records(self, item_id: str | None = None) -> list[RecordHistory]:
        return list_records(self.settings, item_id=item_id)

    def history(self, record_id: str) -> RecordHistory:
        return show_record(self.settings, record_id)

    def image(self, record_id: str, path: str) -> bytes:
        return record_image(self.settings, record_id, path)

    def report(self, item_id: str) -> str:
        return item_report(self.settings, item_id)


def _save(settings: Settings, record: ConservationRecord, supplied: Mapping[str, tuple[Path, Digests]],
          record_id: str, previous: ConservationRecord | None, saved_by: str, document: str,
          now: datetime) -> SavedRevision:
    archive = open_archive(settings)
    base_version, mets = _latest_mets(archive, record.item_id, document=document)
    check_pages(record, [p.page_id for p in describe_item(mets).pages], document=document)
    revision = previous.revision + 1 if previous else 1
    record, changes = _place_images(record, supplied, previous, record_id, revision, document)
    saved = record.saved(record_id, revision, saved_by, now.isoformat(timespec="seconds"))
    with _scratch(settings) as scratch:
        record_path = f"data/conservation/{record_id}/r{revision}.json"
        changes[record_path] = scratch / "record.json"
        changes[record_path].write_text(json.dumps(saved.as_dict(), ensure_ascii=False, indent=2) + "\n",
                                        encoding="utf-8")
        tree = add_revision(mets, saved, PayloadFile(record_path, digest_file(changes[record_path])),
                            vocabularies(settings), now=now)
        validate_xml(tree, "mets", document=f"{record.item_id}/{METS_PATH} with {record_id} r{revision}")
        changes[METS_PATH] = scratch / "mets.xml"
        changes[METS_PATH].write_bytes(serialize_mets(tree))
        _check_unchanged(archive, record.item_id, base_version)
        version = new_version(settings, record.item_id, changes, f"conservation record {record_id} revision {revision}",
                              now=now)
    result = SavedRevision(saved, version.version)
    _store(settings).append(result, based_on=revision - 1)
    log.info("conservation record %s revision %d saved by %s in %s", record_id, revision, saved_by, version.aip_key)
    return result


def _checked_images(settings: Settings, record: ConservationRecord, images: Mapping[str, Path],
                    document: str) -> dict[str, tuple[Path, Digests]]:
    """Probe, fully decode and hash every supplied image; each must be listed in the record."""
    listed = {i.file for i in record.images}
    unlisted = [name for name in images if name not in listed]
    if unlisted:
        raise RecordError(document, [f"image {name!r} is not listed in the record's images (add "
                                     f'{{"file": "{name}", "role": "before"}} or "after")' for name in unlisted])
    checked = {}
    for name, path in images.items():
        limit = settings.max_megapixels * 1_000_000
        probe_image(path, max_pixels=limit)
        verify_decodes(path, max_pixels=limit)
        checked[name] = (Path(path), digest_file(Path(path)))
    return checked


def _place_images(record: ConservationRecord, supplied: Mapping[str, tuple[Path, Digests]],
                  previous: ConservationRecord | None, record_id: str, revision: int,
                  document: str) -> tuple[ConservationRecord, dict[str, Path]]:
    """Give every image its bag path and digests: new files under r<revision>/, kept ones as they were."""
    kept = {i.file: i for i in previous.images} if previous else {}
    placed, changes, problems = [], {}, []
    for index, image in enumerate(record.images):
        if image.file in supplied:
            source, digests = supplied[image.file]
            path = f"data/conservation/{record_id}/r{revision}/{image.file}"
            placed.append(replace(image, path=path, digests=digests))
            changes[path] = source
        elif image.file in kept and image.digests in (None, kept[image.file].digests):
            placed.append(replace(image, path=kept[image.file].path, digests=kept[image.file].digests))
        else:
            problems.append(f"images[{index}]: no file for {image.file!r}; give it with --image or upload it")
    if problems:
        raise RecordError(document, problems)
    return replace(record, images=tuple(placed)), changes


def _check_unchanged(archive: Archive, item_id: str, base_version: int) -> None:
    # The new METS is built from version base_version's: if another workflow (re-OCR, corrected
    # MODS) made a version since, storing ours would drop its METS changes.
    latest = archive.catalogue.version(item_id).version
    if latest != base_version:
        raise StorageError(f"{item_id}: AIP version {latest} was made while this record was being saved (from "
                           f"version {base_version}); nothing was saved: save the record again")


def _current_mets(archive: Archive, item_id: str, *, document: str) -> etree._ElementTree:
    return _latest_mets(archive, item_id, document=document)[1]


def _latest_mets(archive: Archive, item_id: str, *, document: str) -> tuple[int, etree._ElementTree]:
    """Return the latest AIP version of an item and its METS, read from storage and verified."""
    try:
        version = archive.catalogue.version(item_id)
    except StorageError:
        raise RecordError(document, [f"item: {item_id!r} has no AIP in the archive (ingest it first)"]) from None
    data = read_verified(archive, item_id, version.files[METS_PATH])
    return version.version, parse_xml_safely(data, document=f"{version.aip_key}/{METS_PATH}")


def _read_payload(archive: Archive, item_id: str, path: str) -> bytes:
    entry = archive.catalogue.version(item_id).files.get(path)
    if entry is None:
        raise StorageError(f"{item_id}: {path} is not in the latest AIP version")
    return read_verified(archive, item_id, entry)


def _damage_code(settings: Settings, text: str) -> str:
    damage = vocabularies(settings).damage
    term = damage.find(text)
    if term is None:
        raise RecordError("--damage", [f"unknown {damage.noun} {text!r}; allowed: {damage.allowed()}"])
    return term.code


def _store(settings: Settings) -> RecordStore:
    return record_store(settings)


def _reconciled(settings: Settings) -> RecordStore:
    """The record index, first brought up to the catalogue's latest versions (see reconcile_records)."""
    reconcile_records(settings)
    return record_store(settings)


def _complete_interrupted(settings: Settings, item_id: str) -> None:
    """Finish a killed save: sweep its temporary files; store its AIP version if no location holds it; index it.

    Called under the workshop lock, so no other save is half-way; a version with fewer
    copies than a save makes was left by a killed save (or a location that was down), and
    is copied as `shuying replicate --item` would (from its staged bag if stored nowhere).
    """
    sweep_stale(settings.work_dir / SCRATCH)  # temporary files of a killed save
    archive = open_archive(settings)
    with contextlib.suppress(StorageError):  # an item with no AIP: nothing to finish
        latest = archive.catalogue.version(item_id)
        unstored = not holders(archive, item_id, latest.version)
        if unstored or (archive.config.policy.replicate_on_ingest and below_policy(archive, item_id)):
            log.warning("%s has fewer copies than a save makes: copying it now", latest.aip_key)
            replicate_archive(archive, item=item_id)
    reconcile_records(settings)


def _refuse_duplicate(settings: Settings, record: ConservationRecord, supplied: Mapping[str, tuple[Path, Digests]],
                      document: str) -> None:
    """Refuse a new record identical to a saved revision of its item (same saver, content and image bytes)."""
    candidate = _fingerprint(_place_images(record, supplied, None, "", 1, document)[0])
    for history in _store(settings).histories(record.item_id):
        for saved in history.revisions:
            if _fingerprint(saved.record) == candidate:
                raise DuplicateRecordError(saved)


def _fingerprint(record: ConservationRecord) -> dict[str, Any]:
    data = replace(record, record_id="", revision=0, saved_at="").as_dict()
    data["images"] = [{k: v for k, v in image.items() if k != "path"} for image in data.get("images", [])]
    return data


@contextlib.contextmanager
def _scratch(settings: Settings) -> Iterator[Path]:
    """A folder for one save's temporary files, named as pipeline.atomic names its temporaries.

    So the folder of a save that was killed is removed by the next save (sweep_stale),
    and never mistaken for a live one's.
    """
    base = settings.work_dir / SCRATCH
    base.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(base)
    path = base.with_name(f"{SCRATCH}{TMP_MARK}{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}")
    path.mkdir()
    try:
        yield path
    finally:
        remove(path)
