"""The catalogue is an index: deleting it and rebuilding from storage gives back the same rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.checksums import Digests
from pipeline.errors import StorageError
from storage_config.catalogue import Catalogue, CopyStatus, EventRecord, FileKind
from tests.storage.helpers import (
    fs_location,
    ingest_bag,
    mets_for,
    new_bucket,
    s3_location,
    sample_files,
    settings_with,
    write_config,
)
from workflows.archive import open_archive
from workflows.catalogue_ops import rebuild_catalogue
from workflows.replicate import replicate
from workflows.versions import new_version


def delete_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@pytest.fixture
def archive_settings(tmp_path, s3_server):
    home = tmp_path / "home"
    config = write_config(tmp_path / "storage.toml", fs_location("primary", home / "primary"),
                          s3_location("offsite", s3_server, new_bucket(s3_server)), min_copies=2, offsite_copies=1)
    return settings_with(home, config)


def test_ingest_records_files_with_their_ingest_digests(archive_settings):
    files = sample_files(1)
    archive = ingest_bag(archive_settings, "book-a", files)

    record = archive.catalogue.version("book-a")
    master = record.files["data/masters/p0001.tif"]
    assert (record.aip_key, record.version, record.description) == ("aips/book-a/book-a.v1", 1, "Test item book-a")
    assert master.kind is FileKind.PAYLOAD and master.stored_in == 1
    assert master.digests.size == 30_000
    assert sorted(p for p, f in record.files.items() if f.kind is FileKind.TAG) == [
        "bag-info.txt", "bagit.txt", "manifest-sha256.txt", "manifest-sha512.txt", "tagmanifest-sha256.txt",
        "tagmanifest-sha512.txt"]
    [copy] = archive.catalogue.copies("book-a")
    assert (copy.location, copy.status) == ("primary", CopyStatus.VERIFIED)
    assert [(e.event_type, e.location, e.outcome) for e in archive.catalogue.events("book-a")] == [
        ("ingestion", "primary", "success")]


def test_rebuild_after_deleting_the_database_equals_the_original(archive_settings, tmp_path):
    ingest_bag(archive_settings, "book-a", sample_files(1))
    ingest_bag(archive_settings, "book-b", sample_files(2))
    assert replicate(archive_settings).ok
    changed = tmp_path / "p0001.txt"
    changed.write_bytes("學而時習之，不亦說乎\n".encode())
    mets = tmp_path / "mets.xml"
    record = open_archive(archive_settings).catalogue.version("book-a")
    digests = {p: f.digests for p, f in record.files.items() if f.kind is FileKind.PAYLOAD and p != "data/mets.xml"}
    digests["data/ocr/p0001.txt"] = Digests(len(changed.read_bytes()), *_sha(changed))
    mets.write_bytes(mets_for(digests))
    new_version(archive_settings, "book-a", {"data/ocr/p0001.txt": changed, "data/mets.xml": mets}, "re-OCR")
    assert replicate(archive_settings).ok
    catalogue = open_archive(archive_settings).catalogue
    original = catalogue.dump()

    delete_database(catalogue.path)
    report = rebuild_catalogue(archive_settings)

    assert report.ok, report.problems
    assert (report.versions, report.copies) == (3, 6)
    assert Catalogue(str(catalogue.path)).dump() == original


def test_rebuild_from_the_replica_alone_marks_the_lost_copies_missing(archive_settings):
    ingest_bag(archive_settings, "book-a", sample_files(1))
    assert replicate(archive_settings).ok
    catalogue = open_archive(archive_settings).catalogue
    original = catalogue.dump()
    shutil.rmtree(archive_settings.home / "primary")
    delete_database(catalogue.path)

    report = rebuild_catalogue(archive_settings)

    rebuilt = Catalogue(str(catalogue.path))
    assert report.ok, report.problems
    assert {t: rebuilt.dump()[t] for t in ("items", "versions", "files")} == {
        t: original[t] for t in ("items", "versions", "files")}
    assert rebuilt.dump()["events"] == original["events"]  # the ingestion event was synced to the replica
    assert {(c.location, c.status) for c in rebuilt.copies()} == {("primary", CopyStatus.MISSING),
                                                                 ("offsite", CopyStatus.VERIFIED)}


def test_rebuild_marks_a_copy_without_events_unverified(tmp_path):
    home = tmp_path / "home"
    config = write_config(tmp_path / "storage.toml", fs_location("primary", home / "primary"),
                          fs_location("nas", home / "nas", role="replica"))
    settings = settings_with(home, config)
    ingest_bag(settings, "book-a", sample_files(1))
    shutil.copytree(home / "primary/aips", home / "nas/aips")  # copied by hand, never verified by Shuying

    rebuild_catalogue(settings)

    copies = {c.location: c for c in Catalogue(str(home / "catalogue.sqlite")).copies()}
    assert copies["primary"].status is CopyStatus.VERIFIED
    assert (copies["nas"].status, copies["nas"].detail) == (
        CopyStatus.UNVERIFIED, "found in storage; no event records its verification")


def test_rebuild_reports_a_bag_whose_manifest_disagrees_with_mets(archive_settings):
    ingest_bag(archive_settings, "book-a", sample_files(1))
    manifest = archive_settings.home / "primary/aips/book-a/book-a.v1/manifest-sha256.txt"
    manifest.write_text(manifest.read_text().replace(manifest.read_text()[:8], "00000000", 1))

    report = rebuild_catalogue(archive_settings)

    assert not report.ok
    assert "primary: aips/book-a/book-a.v1: aips/book-a/book-a.v1/data/" in report.problems[0]
    assert "SHA-256 in mets.xml differs from the manifest" in report.problems[0]


def test_a_version_is_immutable_in_the_catalogue(archive_settings):
    archive = ingest_bag(archive_settings, "book-a", sample_files(1))
    record = archive.catalogue.version("book-a")
    changed = dict(record.files)
    master = changed["data/masters/p0001.tif"]
    changed["data/masters/p0001.tif"] = type(master)(master.path, master.kind, Digests(1, "a" * 64, "b" * 128), 1)

    archive.catalogue.add_version(record)  # the same again: fine
    with pytest.raises(StorageError, match="already recorded with other files or digests"):
        archive.catalogue.add_version(type(record)(**{**record.__dict__, "files": changed}))


def test_events_fold_into_copy_status_in_time_order_whatever_the_arrival_order(tmp_path, archive_settings):
    archive = ingest_bag(archive_settings, "book-a", sample_files(1))
    first = EventRecord("urn:uuid:1", "fixity check", "2030-01-01T00:00:00.000000+00:00", "book-a", 1, "primary",
                        "failure", "audit", "data/masters/p0001.tif: sha256 mismatch")
    later = EventRecord("urn:uuid:2", "fixity check", "2030-02-01T00:00:00.000000+00:00", "book-a", 1, "primary",
                        "success", "audit")

    archive.catalogue.apply_event(later)
    archive.catalogue.apply_event(first)
    archive.catalogue.apply_event(first)  # recorded twice: counted once

    [copy] = archive.catalogue.copies("book-a")
    assert (copy.status, copy.verified_at, copy.checked_at) == (CopyStatus.VERIFIED, later.date_time, later.date_time)
    assert len(archive.catalogue.events("book-a")) == 3


def _sha(path: Path) -> tuple[str, str]:
    from pipeline.checksums import digest_file

    d = digest_file(path)
    return d.sha256, d.sha512
