"""The disaster drill: ingest real items with an S3 replica, lose the primary, restore it, lose nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import cli
from pipeline.audit_report import AuditStatus
from pipeline.sample_book import write_sample_batch
from storage_config.catalogue import Catalogue, CopyStatus
from tests.audit.helpers import MASTER, flip_bit
from tests.storage.helpers import (
    fs_location,
    ingest_bag,
    new_bucket,
    s3_location,
    sample_files,
    settings_with,
    write_config,
)
from tests.storage.test_versions import reocr
from workflows.archive import open_archive, read_events
from workflows.audit import AuditOptions, audit
from workflows.catalogue_ops import rebuild_catalogue
from workflows.export import export
from workflows.replicate import Outcome, replicate, restore
from workflows.run import run_ingest
from workflows.storage_status import status

pytestmark = pytest.mark.slow
ITEMS = ("drill-a", "drill-b")


def test_disaster_drill_primary_lost_and_restored_from_s3(tmp_path, s3_server):
    home = tmp_path / "home"
    config = write_config(tmp_path / "storage.toml", fs_location("primary", home / "storage/primary"),
                          s3_location("offsite", s3_server, new_bucket(s3_server)), min_copies=2, offsite_copies=1,
                          replicate_on_ingest=True)
    settings = settings_with(home, config)
    for item_id in ITEMS:
        batch = write_sample_batch(tmp_path / item_id, pages=2, width=600, height=900, item_id=item_id)
        result = run_ingest(batch, settings)
        assert result.ok, result.failures
    assert status(settings).ok  # the replica was written through ingest
    catalogue = open_archive(settings).catalogue
    before = catalogue.dump()

    shutil.rmtree(home / "storage/primary")  # the disaster
    report = restore(settings, "primary")

    assert report.ok, [str(o) for o in report.failures]
    assert sorted((o.item_id, o.outcome) for o in report.outcomes) == [(i, Outcome.COPIED) for i in ITEMS]
    archive = open_archive(settings)
    for record in archive.catalogue.versions():
        for location in ("primary", "offsite"):  # every file, both locations, against the catalogue
            assert archive.backend(location).verify_tree(record.aip_key, record.stored_files()) == []
        check = subprocess.run([str(Path(sys.executable).parent / "bagit.py"), "--validate",
                                str(home / "storage/primary" / record.aip_key)], capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stderr
    assert {c.status for c in archive.catalogue.copies()} == {CopyStatus.VERIFIED}
    assert {t: catalogue.dump()[t] for t in ("items", "versions", "files")} == {
        t: before[t] for t in ("items", "versions", "files")}

    # Lose the catalogue too: storage alone tells the whole story again.
    after_restore = catalogue.dump()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{catalogue.path}{suffix}").unlink(missing_ok=True)
    assert rebuild_catalogue(settings).ok
    assert Catalogue(str(catalogue.path)).dump() == after_restore

    exported = export(settings, "drill-a", tmp_path / "export")
    assert (exported.dest / "data/mets.xml").is_file() and exported.files == len(before["files"]) // 2


DRILL_ITEMS = tuple(f"drill-{n}" for n in range(1, 10))


def _rot(settings, server, bucket: str, location: str, item_id: str) -> None:
    """Flip one bit of a stored master from outside Shuying, as a failing disk would."""
    key = f"aips/{item_id}/{item_id}.v1/{MASTER}"
    if location == "primary":
        path = settings.home / "storage/primary" / key
        path.write_bytes(flip_bit(path.read_bytes()))
        return
    client = server.client()
    data = client.get_object(Bucket=bucket, Key=f"shuying/{key}")["Body"].read()
    client.put_object(Bucket=bucket, Key=f"shuying/{key}", Body=flip_bit(data))


def _cli(settings, *args: str):
    result = CliRunner().invoke(cli.cli, ["--home", str(settings.home), *args],
                                env={"SHUYING_STORAGE_CONFIG": str(settings.storage_config)})
    assert result.exit_code == 0, result.output
    return result


def test_disaster_drill_keeps_every_event_of_every_location(tmp_path, s3_server):
    """9 items, bit rot repaired, the primary lost and restored, the catalogue lost and rebuilt: no event lost."""
    home, bucket = tmp_path / "home", new_bucket(s3_server)
    config = write_config(tmp_path / "storage.toml", fs_location("primary", home / "storage/primary"),
                          s3_location("offsite", s3_server, bucket), min_copies=2, offsite_copies=1)
    settings = settings_with(home, config)
    for n, item_id in enumerate(DRILL_ITEMS, start=1):
        ingest_bag(settings, item_id, sample_files(n))
    assert replicate(settings).ok
    reocr(settings, tmp_path, "drill-1")  # a second version: an event with no location
    assert replicate(settings).ok
    for staged in settings.work_dir.glob("*/aip"):  # repairs come from the other copy only
        shutil.rmtree(staged)
    for location, item_id in (("primary", "drill-2"), ("primary", "drill-3"), ("offsite", "drill-4")):
        _rot(settings, s3_server, bucket, location, item_id)
    audited = audit(settings, AuditOptions(workers=2, report_dir=home / "reports"))
    assert audited.status is AuditStatus.REPAIRED
    catalogue = open_archive(settings).catalogue
    before = catalogue.events()
    assert {e.location for e in before} == {"primary", "offsite", ""}
    assert {e.event_type for e in before if e.location == "primary"} == {"ingestion", "fixity check", "replication"}

    shutil.rmtree(home / "storage/primary")  # the disaster
    _cli(settings, "restore", "--location", "primary")
    after_restore = catalogue.events()
    assert set(before) <= set(after_restore)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{catalogue.path}{suffix}").unlink(missing_ok=True)
    _cli(settings, "catalogue", "rebuild")

    rebuilt = Catalogue(str(catalogue.path)).events()
    # 9 ingestions and replications, 3 for version 2 (package creation, ingestion, replication), 20 fixity
    # checks (3 failed) and 3 repairs by the audit; then 10 copies back into the primary by the restore.
    assert (len(before), len(after_restore), len(rebuilt)) == (44, 54, 54)
    assert rebuilt == after_restore  # every field: id, type, time, item, version, location, outcome, detail, agent
    archive = open_archive(settings)
    for location in ("primary", "offsite"):  # and every location holds the whole history again
        assert read_events(archive.backend(location)) == {e.event_id: e for e in rebuilt}
