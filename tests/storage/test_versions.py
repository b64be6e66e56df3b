"""Versioned AIPs as holey bags: nothing unchanged is stored twice, every version exports as a valid bag."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.checksums import digest_file
from pipeline.errors import StorageError
from storage_config.catalogue import FileKind
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
from workflows.export import export
from workflows.replicate import replicate
from workflows.versions import new_version

BAGIT = [str(Path(sys.executable).parent / "bagit.py"), "--validate"]


@pytest.fixture
def settings(tmp_path, s3_server):
    home = tmp_path / "home"
    config = write_config(tmp_path / "storage.toml", fs_location("primary", home / "primary"),
                          s3_location("offsite", s3_server, new_bucket(s3_server)), min_copies=2, offsite_copies=1)
    return settings_with(home, config)


def reocr(settings, tmp_path, item_id: str = "book-a", text: str = "學而時習之，不亦說乎\n"):
    """Make version 2 with a corrected OCR text, a new conservation record, and the METS that describes them."""
    record = open_archive(settings).catalogue.version(item_id)
    new_text, report, mets = tmp_path / "p0001.txt", tmp_path / "conservation.json", tmp_path / "mets.xml"
    new_text.write_bytes(text.encode("utf-8"))
    report.write_text('{"treatment": "旧书修复: 脱酸"}', encoding="utf-8")
    digests = {p: f.digests for p, f in record.files.items() if f.kind is FileKind.PAYLOAD and p != "data/mets.xml"}
    digests.update({"data/ocr/p0001.txt": digest_file(new_text), "data/conservation/2025-1.json": digest_file(report)})
    mets.write_bytes(mets_for(digests))
    changes = {"data/ocr/p0001.txt": new_text, "data/conservation/2025-1.json": report, "data/mets.xml": mets}
    return new_version(settings, item_id, changes, "re-OCR with chi_tra_vert; conservation record")


def test_new_version_stores_only_what_changed(settings, tmp_path, s3_server):
    ingest_bag(settings, "book-a", sample_files(1))
    assert replicate(settings).ok

    record = reocr(settings, tmp_path)
    assert replicate(settings).ok

    assert (record.version, record.previous, record.reason) == (2, 1, "re-OCR with chi_tra_vert; conservation record")
    assert record.files["data/masters/p0001.tif"].stored_in == 1
    assert record.files["data/ocr/p0001.txt"].stored_in == 2
    stored = sorted(open_archive(settings).backend("primary").list_tree("aips/book-a/book-a.v2"))
    assert stored == ["bag-info.txt", "bagit.txt", "data/conservation/2025-1.json", "data/mets.xml",
                      "data/ocr/p0001.txt", "fetch.txt", "manifest-sha256.txt", "manifest-sha512.txt",
                      "tagmanifest-sha256.txt", "tagmanifest-sha512.txt"]
    assert sorted(open_archive(settings).backend("offsite").list_tree("aips/book-a/book-a.v2")) == stored
    fetch = (settings.home / "primary/aips/book-a/book-a.v2/fetch.txt").read_text(encoding="utf-8")
    assert "shuying://aips/book-a/book-a.v1/data/masters/p0001.tif 30000 data/masters/p0001.tif\n" in fetch
    info = (settings.home / "primary/aips/book-a/book-a.v2/bag-info.txt").read_text(encoding="utf-8")
    payload = [f.digests.size for f in record.files.values() if f.kind is FileKind.PAYLOAD]
    assert "Shuying-AIP-Version: 2\nShuying-Previous-Version: 1\n" in info
    assert info.endswith(f"Payload-Oxum: {sum(payload)}.5\n") and len(payload) == 5


@pytest.mark.parametrize("location", ["primary", "offsite"])
def test_every_version_exports_as_a_bag_that_bagit_validates(settings, tmp_path, location):
    files = sample_files(1)
    ingest_bag(settings, "book-a", files)
    assert replicate(settings).ok
    reocr(settings, tmp_path)
    assert replicate(settings).ok

    v2 = export(settings, "book-a", tmp_path / "out-v2", location=location)
    v1 = export(settings, "book-a", tmp_path / "out-v1", version=1, location=location)

    for report in (v1, v2):
        check = subprocess.run([*BAGIT, str(report.dest)], capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stderr
        assert report.locations == (location,)
    assert not (v2.dest / "fetch.txt").exists()
    assert (v2.dest / "data/masters/p0001.tif").read_bytes() == files["data/masters/p0001.tif"]
    assert (v2.dest / "data/ocr/p0001.txt").read_text(encoding="utf-8") == "學而時習之，不亦說乎\n"
    assert (v1.dest / "data/ocr/p0001.txt").read_bytes() == files["data/ocr/p0001.txt"]
    assert not (v1.dest / "data/conservation").exists()


def test_export_takes_a_damaged_file_from_the_next_location(settings, tmp_path):
    files = sample_files(1)
    ingest_bag(settings, "book-a", files)
    assert replicate(settings).ok
    master = settings.home / "primary/aips/book-a/book-a.v1/data/masters/p0001.tif"
    damaged = bytearray(master.read_bytes())
    damaged[100] ^= 0x01
    master.write_bytes(bytes(damaged))

    report = export(settings, "book-a", tmp_path / "out")

    assert report.locations == ("offsite", "primary")
    assert (report.dest / "data/masters/p0001.tif").read_bytes() == files["data/masters/p0001.tif"]


def test_export_fails_loudly_when_no_copy_is_intact_and_leaves_nothing(settings, tmp_path):
    ingest_bag(settings, "book-a", sample_files(1))
    (settings.home / "primary/aips/book-a/book-a.v1/data/masters/p0002.tif").write_bytes(b"rotten")

    with pytest.raises(StorageError, match=r"aips/book-a/book-a.v1/data/masters/p0002.tif: no intact copy found "
                                           r"\(primary: .* does not match the catalogue \(size 6, expected 20000\)\)"):
        export(settings, "book-a", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("out")] == []


def test_export_refuses_an_existing_folder(settings, tmp_path):
    ingest_bag(settings, "book-a", sample_files(1))
    (tmp_path / "out").mkdir()
    with pytest.raises(StorageError, match="out: already exists; export into a new folder"):
        export(settings, "book-a", tmp_path / "out")


def test_a_changed_file_needs_an_updated_mets(settings, tmp_path):
    ingest_bag(settings, "book-a", sample_files(1))
    new_text = tmp_path / "p0001.txt"
    new_text.write_text("新", encoding="utf-8")

    with pytest.raises(StorageError, match=r"data/mets\.xml: records the SHA-256 of every payload file; pass an "
                                           r"updated data/mets\.xml with the changed files"):
        new_version(settings, "book-a", {"data/ocr/p0001.txt": new_text}, "re-OCR")
    assert [v.version for v in open_archive(settings).catalogue.versions("book-a")] == [1]


def test_a_mets_that_does_not_describe_the_new_payload_is_refused(settings, tmp_path):
    ingest_bag(settings, "book-a", sample_files(1))
    new_text, stale_mets = tmp_path / "p0001.txt", tmp_path / "mets.xml"
    new_text.write_text("新", encoding="utf-8")
    stale_mets.write_bytes((settings.home / "primary/aips/book-a/book-a.v1/data/mets.xml").read_bytes())

    with pytest.raises(StorageError, match=r"aips/book-a/book-a.v2/data/ocr/p0001.txt: SHA-256 in mets.xml "
                                           "differs from the manifest"):
        new_version(settings, "book-a", {"data/ocr/p0001.txt": new_text, "data/mets.xml": stale_mets}, "re-OCR")
    assert [v.version for v in open_archive(settings).catalogue.versions("book-a")] == [1]
    assert not open_archive(settings).backend("primary").exists("aips/book-a/book-a.v2")


@pytest.mark.parametrize("path", ["../evil", "data/../../x", "bagit.txt", "data/a%20b.txt"])
def test_unsafe_change_paths_are_refused(settings, tmp_path, path):
    ingest_bag(settings, "book-a", sample_files(1))
    source = tmp_path / "f"
    source.write_bytes(b"x")
    with pytest.raises(StorageError, match="not a safe payload path under data/"):
        new_version(settings, "book-a", {path: source, "data/mets.xml": source}, "test")
