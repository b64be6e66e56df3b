"""The disaster drill: ingest real items with an S3 replica, lose the primary, restore it, lose nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.sample_book import write_sample_batch
from storage_config.catalogue import Catalogue, CopyStatus
from tests.storage.helpers import (
    fs_location,
    new_bucket,
    s3_location,
    settings_with,
    write_config,
)
from workflows.archive import open_archive
from workflows.catalogue_ops import rebuild_catalogue
from workflows.export import export
from workflows.replicate import Outcome, restore
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
