"""`shuying repair reindex`: the record index is derived from the AIPs and rebuilt from them exactly."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from storage_config.settings import Settings
from tests.conservation.helpers import ITEM, record_doc, write_image
from tests.conservation.test_conservation_crash import shuying
from workflows.catalogue_ops import rebuild_catalogue
from workflows.conservation import add_record, amend_record, list_records
from workflows.conservation_store import STORE_FILE, record_store, reindex_records


def index_files(settings: Settings) -> list[Path]:
    return sorted(settings.home.glob(f"{STORE_FILE}*"))


@pytest.fixture
def filled(archive_settings: Settings, tmp_path: Path) -> dict[str, list[tuple]]:
    """Two records of ITEM, one amended (3 revisions in AIP versions 2-4); return the index's rows."""
    image = write_image(tmp_path / "upload" / "before-p0002.jpg")
    first = add_record(archive_settings, ITEM, record_doc(), {"before-p0002.jpg": image}, saved_by="zhang").record
    add_record(archive_settings, ITEM, record_doc(images=[], conservators=["王补"]), {}, saved_by="wang")
    amend_record(archive_settings, first.record_id, first.as_dict() | {"notes": "补记", "signed_off": True}, {},
                 saved_by="zhang")
    return record_store(archive_settings).dump()


def test_reindex_after_deleting_the_index_reproduces_it_exactly(archive_settings, filled):
    assert len(filled["revisions"]) == 3 and filled["indexed"] == [(ITEM, 4)]
    for path in index_files(archive_settings):
        path.unlink()

    report = reindex_records(archive_settings)

    assert (report.items, report.records, report.revisions, report.ok) == (1, 2, 3, True)
    assert record_store(archive_settings).dump() == filled
    assert [p.name for p in index_files(archive_settings)] == [STORE_FILE]  # no temporary left beside it


def test_a_damaged_index_names_reindex_and_reindex_repairs_it(archive_settings, filled):
    for path in index_files(archive_settings):
        path.unlink()
    (archive_settings.home / STORE_FILE).write_bytes(b"not a database, overwritten by accident\n" * 100)

    broken = shuying(archive_settings, "repair", "list", ITEM)
    assert broken.returncode != 0
    assert "shuying repair reindex" in broken.stderr and STORE_FILE in broken.stderr

    repaired = shuying(archive_settings, "repair", "reindex")

    assert repaired.returncode == 0, repaired.stderr
    assert repaired.stdout == "Indexed 2 record(s), 3 revision(s) of 1 item(s)\n"
    assert record_store(archive_settings).dump() == filled
    assert len(list_records(archive_settings, item_id=ITEM)) == 2


def test_a_killed_reindex_leaves_the_old_index_and_the_next_one_sweeps_its_file(archive_settings, filled):
    killed = shuying(archive_settings, "repair", "reindex", step="reindex-filled")

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert record_store(archive_settings).dump() == filled
    assert any(".tmp-" in p.name for p in index_files(archive_settings))  # the new index, never swapped in

    again = shuying(archive_settings, "repair", "reindex")

    assert again.returncode == 0, again.stderr
    assert record_store(archive_settings).dump() == filled
    assert not any(".tmp-" in p.name for p in index_files(archive_settings))


def test_an_index_behind_the_catalogue_catches_up_when_records_are_listed(archive_settings, filled, tmp_path):
    """As after a save killed between storing its AIP version and indexing it: the next look indexes it."""
    stale = tmp_path / "stale.sqlite"
    for path in index_files(archive_settings):
        path.unlink()
    reindex_records(archive_settings)
    (archive_settings.home / STORE_FILE).rename(stale)  # keep this index; make one more record
    image = write_image(tmp_path / "upload2" / "before-p0002.jpg", colour=(10, 200, 30))
    add_record(archive_settings, ITEM, record_doc(notes="第三件"), {"before-p0002.jpg": image}, saved_by="zhang")
    after = record_store(archive_settings).dump()
    for path in index_files(archive_settings):
        path.unlink()
    stale.rename(archive_settings.home / STORE_FILE)  # the index as it was before the third record

    assert len(list_records(archive_settings, item_id=ITEM)) == 3
    assert record_store(archive_settings).dump() == after


def test_reindex_after_a_catalogue_rebuild_reproduces_the_index(archive_settings, filled):
    """What `shuying catalogue rebuild` does when the whole home is lost but the storage locations are not."""
    for path in index_files(archive_settings):
        path.unlink()
    assert rebuild_catalogue(archive_settings).ok

    assert reindex_records(archive_settings).ok
    assert record_store(archive_settings).dump() == filled
