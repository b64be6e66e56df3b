"""The faults of issue 6, each on the filesystem primary and on the S3 replica: found, repaired from the
other copy only when its bytes match the catalogue, recorded, and the damaged bytes kept in quarantine."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.audit_report import AuditStatus, CopyOutcome
from storage_config.catalogue import CopyStatus
from tests.audit.helpers import MASTER, Site, flip_bit, stored_book, two_site
from workflows.archive import open_archive, read_events
from workflows.audit import audit
from workflows.replicate import replicate

LOCATIONS = ("primary", "offsite")  # filesystem, S3
OTHER = {"primary": "offsite", "offsite": "primary"}
BAGIT = str(Path(sys.executable).parent / "bagit.py")


@pytest.fixture
def site(tmp_path, s3_server) -> Site:
    site = two_site(tmp_path, s3_server)
    stored_book(site)
    return site


def copy_status(site: Site, location: str) -> CopyStatus:
    return {c.location: c.status for c in open_archive(site.settings).catalogue.copies("book-a")}[location]


def events_of(site: Site, location: str) -> list[tuple[str, str]]:
    """(event type, outcome) of every event about ``location``, in order, from the catalogue."""
    return [(e.event_type, e.outcome) for e in open_archive(site.settings).catalogue.events("book-a")
            if e.location == location]


def assert_intact(site: Site, location: str) -> None:
    archive = open_archive(site.settings)
    record = archive.catalogue.version("book-a")
    assert archive.backend(location).verify_tree(record.aip_key, record.stored_files()) == []
    assert copy_status(site, location) is CopyStatus.VERIFIED


def assert_repaired(site: Site, location: str, report, paths: list[str]) -> None:
    [copy] = report.with_outcome(CopyOutcome.REPAIRED)
    assert (report.status, copy.location) == (AuditStatus.REPAIRED, location)
    assert sorted({i.path for i in copy.issues if i.action == "repaired"}) == sorted(paths)
    assert {i.source for i in copy.issues if i.action == "repaired" and i.kind != "bag"} == {OTHER[location]}
    assert_intact(site, location)
    assert events_of(site, location)[-2:] == [("fixity check", "failure"), ("replication", "success")]
    stored = read_events(open_archive(site.settings).backend(location), "book-a")  # the item's log in storage
    assert {(e.event_type, e.outcome) for e in stored.values()} >= {("fixity check", "failure"),
                                                                    ("replication", "success")}


def damaged_kept(site: Site, location: str, rel: str) -> bytes:
    """The bytes quarantined for ``rel``, checking the record beside them names the file."""
    kept = site.quarantine(location)
    [record] = [json.loads(v) for k, v in kept.items() if k.endswith("/record.json")]
    assert rel in [f["path"] for f in record["files"]] and record["location"] == location
    [data] = [v for k, v in kept.items() if k.endswith(f"/book-a.v1/{rel}")]
    return data


@pytest.mark.parametrize("location", LOCATIONS)
def test_a_flipped_bit_in_a_master_is_repaired_from_the_other_copy(site, location):
    good = site.read(location, MASTER)
    site.write(location, MASTER, flip_bit(good))

    report = audit(site.settings, site.options())

    assert_repaired(site, location, report, [MASTER])
    [issue] = [i for c in report.copies for i in c.issues]
    assert issue.kind == "digest" and issue.message.startswith('sha256 mismatch: expected="'
                                                               f'{hashlib.sha256(good).hexdigest()}"')
    assert site.read(location, MASTER) == good
    assert damaged_kept(site, location, MASTER) == flip_bit(good)
    assert copy_status(site, OTHER[location]) is CopyStatus.VERIFIED


@pytest.mark.parametrize("location", LOCATIONS)
def test_a_truncated_file_is_repaired(site, location):
    good = site.read(location, MASTER)
    site.write(location, MASTER, good[:1000])

    report = audit(site.settings, site.options())

    assert_repaired(site, location, report, [MASTER])
    assert [i.message for c in report.copies for i in c.issues] == ["size 1000 bytes, recorded 30000"]
    assert site.read(location, MASTER) == good and damaged_kept(site, location, MASTER) == good[:1000]


@pytest.mark.parametrize("location", LOCATIONS)
def test_a_deleted_file_is_restored(site, location):
    good = site.read(location, MASTER)
    site.delete(location, MASTER)

    report = audit(site.settings, site.options())

    assert_repaired(site, location, report, [MASTER])
    assert [(i.kind, i.message, i.quarantine) for c in report.copies for i in c.issues] == [("missing", "missing", "")]
    assert site.read(location, MASTER) == good


@pytest.mark.parametrize("location", LOCATIONS)
def test_an_extra_file_is_moved_to_quarantine_not_deleted(site, location):
    site.write(location, "data/masters/p0099.tif", b"left by someone")

    report = audit(site.settings, site.options())

    [copy] = report.with_outcome(CopyOutcome.REPAIRED)
    assert [(i.path, i.kind, i.action) for i in copy.issues] == [("data/masters/p0099.tif", "extra", "quarantined")]
    assert site.read(location, "data/masters/p0099.tif") is None
    assert damaged_kept(site, location, "data/masters/p0099.tif") == b"left by someone"
    assert_intact(site, location)


@pytest.mark.parametrize("location", LOCATIONS)
def test_a_manifest_rewritten_to_match_an_altered_master_is_caught(site, location):
    good, manifest = site.read(location, MASTER), site.read(location, "manifest-sha256.txt")
    altered = flip_bit(good)
    site.write(location, MASTER, altered)
    site.write(location, "manifest-sha256.txt", manifest.replace(hashlib.sha256(good).hexdigest().encode(),
                                                                 hashlib.sha256(altered).hexdigest().encode()))

    report = audit(site.settings, site.options())

    assert_repaired(site, location, report, [MASTER, "manifest-sha256.txt"])
    [copy] = report.with_outcome(CopyOutcome.REPAIRED)
    assert ("manifest-sha256.txt", "bag", f"gives {MASTER} another digest than the catalogue recorded at ingest",
            "repaired") in [(i.path, i.kind, i.message, i.action) for i in copy.issues]
    assert (site.read(location, MASTER), site.read(location, "manifest-sha256.txt")) == (good, manifest)


@pytest.mark.parametrize("location", LOCATIONS)
def test_an_edited_bag_info_is_caught_and_restored(site, location):
    info = site.read(location, "bag-info.txt")
    site.write(location, "bag-info.txt", info.replace(b"Test item book-a", b"Test item book-b"))

    report = audit(site.settings, site.options())

    assert_repaired(site, location, report, ["bag-info.txt"])
    assert site.read(location, "bag-info.txt") == info


@pytest.mark.parametrize("location", LOCATIONS)
def test_no_repair_reports_only(site, location):
    damaged = flip_bit(site.read(location, MASTER))
    site.write(location, MASTER, damaged)

    report = audit(site.settings, site.options(repair=False))

    assert report.status is AuditStatus.DAMAGED
    [copy] = report.with_outcome(CopyOutcome.DAMAGED)
    assert [(i.path, i.action) for i in copy.issues] == [(MASTER, "reported")]
    assert site.read(location, MASTER) == damaged and site.quarantine(location) == {}
    assert copy_status(site, location) is CopyStatus.FAILED
    assert events_of(site, location)[-1] == ("fixity check", "failure")


def test_damage_in_both_copies_is_unrecoverable_and_nothing_is_overwritten(site):
    good = site.read("primary", MASTER)
    damaged = {"primary": flip_bit(good, 100), "offsite": flip_bit(good, 200)}
    for location, data in damaged.items():
        site.write(location, MASTER, data)

    report = audit(site.settings, site.options())

    assert report.status is AuditStatus.UNRECOVERABLE
    assert sorted(c.location for c in report.with_outcome(CopyOutcome.UNRECOVERABLE)) == ["offsite", "primary"]
    for location, data in damaged.items():
        assert site.read(location, MASTER) == data  # nothing overwritten
        assert damaged_kept(site, location, MASTER) == data  # and a copy of the evidence kept
        assert copy_status(site, location) is CopyStatus.FAILED
        [copy] = [c for c in report.copies if c.location == location]
        [issue] = copy.issues
        assert issue.action == "unrecoverable" and "no location holds bytes matching the catalogue" in issue.message
        [last] = [e for e in open_archive(site.settings).catalogue.events("book-a") if e.location == location][-1:]
        assert (last.event_type, last.outcome) == ("replication", "failure")
        assert last.outcome_detail.startswith(f"UNRECOVERABLE: {MASTER}: no location holds bytes matching")


def test_a_repaired_primary_still_validates_with_bagit(site):
    site.write("primary", MASTER, flip_bit(site.read("primary", MASTER)))
    assert audit(site.settings, site.options()).status is AuditStatus.REPAIRED
    bag = site.settings.home / "primary" / site.key()
    check = subprocess.run([BAGIT, "--validate", str(bag)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    assert not list(bag.parent.glob("*.tmp-*"))  # no temporary left beside the AIP


def test_a_clean_audit_records_a_fixity_check_per_copy(site):
    report = audit(site.settings, site.options())

    assert report.status is AuditStatus.CLEAN
    assert sorted((c.location, c.outcome, c.files) for c in report.copies) == [
        ("offsite", CopyOutcome.INTACT, 10), ("primary", CopyOutcome.INTACT, 10)]
    assert report.bytes_checked == 2 * sum(d.size for d in open_archive(site.settings).catalogue.version(
        "book-a").stored_files().values())
    for location in LOCATIONS:
        [event] = [e for e in open_archive(site.settings).catalogue.events("book-a")
                   if e.location == location and e.event_type == "fixity check"]
        assert event.outcome == "success" and "match the catalogue" in event.detail


def test_a_holey_version_audits_clean_and_its_fetched_master_is_checked_in_version_1(site, tmp_path):
    from tests.storage.test_versions import reocr

    reocr(site.settings, tmp_path)
    assert replicate(site.settings).ok
    site.write("offsite", MASTER, flip_bit(site.read("offsite", MASTER)))  # stored under v1, fetched by v2

    report = audit(site.settings, site.options())

    outcomes = sorted((c.location, c.version, c.outcome.value) for c in report.copies)
    assert outcomes == [("offsite", 1, "repaired"), ("offsite", 2, "intact"), ("primary", 1, "intact"),
                        ("primary", 2, "intact")]
    assert site.read("offsite", MASTER) == site.read("primary", MASTER)
    assert_intact(site, "offsite")  # the latest version, v2, in full
