"""Saving records: each revision is a new, replicated AIP version; bad input changes nothing."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from datetime import date
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from iiif_server.app import create_app
from pipeline.conservation import RecordError, RevisionConflictError, UnknownRecordError
from pipeline.errors import ImageError, StorageError
from pipeline.validation import parse_xml_safely, validate_xml
from pipeline.xmlns import NAMESPACES
from storage_config.catalogue import CopyStatus
from tests.conservation.helpers import ITEM, record_doc, write_image
from workflows.archive import open_archive
from workflows.conservation import add_record, amend_record, item_report, list_records, show_record

NS = NAMESPACES


def stored(settings, version: int) -> Path:
    return settings.home / "storage" / "primary" / "aips" / ITEM / f"{ITEM}.v{version}"


def versions(settings) -> list[int]:
    return [v.version for v in open_archive(settings).catalogue.versions(ITEM)]


def add(settings, tmp_path: Path, **changes):
    image = write_image(tmp_path / "upload" / "before-p0002.jpg")
    return add_record(settings, ITEM, record_doc(**changes), {"before-p0002.jpg": image}, saved_by="zhang")


def test_a_record_becomes_the_next_aip_version(archive_settings, tmp_path):
    saved = add(archive_settings, tmp_path)
    record = saved.record
    assert (record.record_id[:3], record.revision, saved.aip_version) == ("CR-", 1, 2)
    bag = stored(archive_settings, 2)
    assert sorted(p.relative_to(bag).as_posix() for p in (bag / "data").rglob("*") if p.is_file()) == [
        f"data/conservation/{record.record_id}/r1.json", f"data/conservation/{record.record_id}/r1/before-p0002.jpg",
        "data/mets.xml"]
    assert json.loads((bag / f"data/conservation/{record.record_id}/r1.json").read_text()) == record.as_dict()
    image = (bag / f"data/conservation/{record.record_id}/r1/before-p0002.jpg").read_bytes()
    assert record.images[0].digests.sha512 == hashlib.sha512(image).hexdigest()
    assert "data/masters/p0001.tif" in (bag / "fetch.txt").read_text()  # masters are not stored again
    version = open_archive(archive_settings).catalogue.version(ITEM)
    assert version.reason == f"conservation record {record.record_id} revision 1"
    copies = {c.location: c.status for c in open_archive(archive_settings).catalogue.copies(ITEM) if c.version == 2}
    assert copies == {"primary": CopyStatus.VERIFIED, "replica": CopyStatus.VERIFIED}


def test_the_new_mets_validates_against_the_official_xsds_and_matches_the_bag(archive_settings, tmp_path):
    record = add(archive_settings, tmp_path).record
    bag = stored(archive_settings, 2)
    tree = parse_xml_safely(bag / "data/mets.xml")
    validate_xml(tree, "mets")
    manifest = dict(line.split("  ", 1)[::-1] for line in (bag / "manifest-sha256.txt").read_text().splitlines())
    ref = tree.find(".//mets:mdRef", NS)
    assert ref.get("CHECKSUM") == manifest[f"data/conservation/{record.record_id}/r1.json"]
    image = tree.find(".//mets:fileGrp[@USE='CONSERVATION']/mets:file", NS)
    assert image.get("CHECKSUM") == manifest[f"data/conservation/{record.record_id}/r1/before-p0002.jpg"]
    assert tree.find(".//mets:fileGrp[@USE='MASTER']", NS) is not None  # everything ingest described is kept


def test_an_amendment_is_a_new_revision_and_keeps_the_history(archive_settings, tmp_path):
    first = add(archive_settings, tmp_path).record
    data = first.as_dict() | {"notes": "补记：书根水渍未处理", "signed_off": True}
    second = amend_record(archive_settings, first.record_id, data, {}, saved_by="zhang")
    assert (second.record.revision, second.aip_version) == (2, 3)
    history = show_record(archive_settings, first.record_id)
    assert [r.record.revision for r in history.revisions] == [1, 2]
    assert history.revisions[0].record == first and history.current.record.notes == "补记：书根水渍未处理"
    version = open_archive(archive_settings).catalogue.version(ITEM)
    assert version.files[f"data/conservation/{first.record_id}/r1.json"].stored_in == 2
    assert version.files[f"data/conservation/{first.record_id}/r1/before-p0002.jpg"].stored_in == 2
    assert version.files[f"data/conservation/{first.record_id}/r2.json"].stored_in == 3
    tree = parse_xml_safely(stored(archive_settings, 3) / "data/mets.xml")
    validate_xml(tree, "mets")
    assert tree.xpath("//mets:digiprovMD[@STATUS]/@STATUS", namespaces=NS) == ["superseded", "current"]


def test_amending_a_record_that_does_not_exist_is_refused(archive_settings):
    with pytest.raises(UnknownRecordError) as caught:
        amend_record(archive_settings, "CR-2025-0099", record_doc(revision=1), {})
    assert str(caught.value) == "no conservation record 'CR-2025-0099' (see `shuying repair list`)"
    assert versions(archive_settings) == [1]


def test_a_stale_amendment_gets_a_conflict_and_saves_nothing(archive_settings, tmp_path):
    first = add(archive_settings, tmp_path).record
    amend_record(archive_settings, first.record_id, first.as_dict() | {"notes": "甲"}, {}, saved_by="zhang")
    with pytest.raises(RevisionConflictError) as caught:
        amend_record(archive_settings, first.record_id, first.as_dict() | {"notes": "乙"}, {}, saved_by="wang")
    assert str(caught.value).startswith(f"{first.record_id}: edited from revision 1, but revision 2 was saved "
                                        "since (by zhang); nothing was saved")
    assert versions(archive_settings) == [1, 2, 3]


def test_two_conservators_saving_the_same_record_at_once_one_gets_a_conflict(archive_settings, tmp_path):
    first = add(archive_settings, tmp_path).record
    start, outcomes = threading.Barrier(2), {}

    def save(name: str) -> None:
        start.wait()
        try:
            outcomes[name] = amend_record(archive_settings, first.record_id, first.as_dict() | {"notes": name}, {},
                                          saved_by=name).record.revision
        except RevisionConflictError as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=save, args=(name,)) for name in ("zhao", "qian")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    winners = [n for n, o in outcomes.items() if o == 2]
    losers = [o for o in outcomes.values() if isinstance(o, RevisionConflictError)]
    assert len(winners) == 1 and len(losers) == 1 and losers[0].current == 2
    assert show_record(archive_settings, first.record_id).current.record.notes == winners[0]
    assert versions(archive_settings) == [1, 2, 3]


def test_pages_not_in_the_item_are_refused(archive_settings, tmp_path):
    with pytest.raises(RecordError) as caught:
        add(archive_settings, tmp_path, scope={"pages": ["p0002", "p0007"]})
    assert caught.value.problems == ["pages p0007 are not in item repair-book (its pages: p0001, p0002)"]
    assert versions(archive_settings) == [1]


def test_an_image_that_is_not_an_image_is_refused(archive_settings, tmp_path):
    fake = tmp_path / "before-p0002.jpg"
    fake.write_text("not a photograph", encoding="utf-8")
    with pytest.raises(ImageError) as caught:
        add_record(archive_settings, ITEM, record_doc(), {"before-p0002.jpg": fake})
    assert caught.value.problem.startswith("not a recognised image format")
    assert versions(archive_settings) == [1]


def test_images_must_match_the_record_list(archive_settings, tmp_path):
    extra = write_image(tmp_path / "after.png")
    with pytest.raises(RecordError) as caught:
        add_record(archive_settings, ITEM, record_doc(), {"after.png": extra})
    assert caught.value.problems == [('image \'after.png\' is not listed in the record\'s images (add {"file": '
                                      '"after.png", "role": "before"} or "after")')]
    with pytest.raises(RecordError) as caught:
        add_record(archive_settings, ITEM, record_doc(), {})
    assert caught.value.problems == ["images[0]: no file for 'before-p0002.jpg'; give it with --image or upload it"]


def test_a_record_for_an_item_not_in_the_archive_is_refused(archive_settings):
    with pytest.raises(RecordError) as caught:
        add_record(archive_settings, "no-such-book", record_doc(item="no-such-book", images=[]), {})
    assert caught.value.problems == ["item: 'no-such-book' has no AIP in the archive (ingest it first)"]


def test_records_are_listed_by_damage_conservator_and_date(archive_settings, tmp_path):
    a = add(archive_settings, tmp_path).record
    b = add_record(archive_settings, ITEM, record_doc(
        conservators=["王补"], images=[], dates={"started": "2025-05-02"},
        condition={"damage": [{"type": "mould", "extent": "封面霉斑"}], "grade": "grade_4"}), {}).record
    def ids(**filters):
        return [h.record_id for h in list_records(archive_settings, **filters)]

    assert ids() == [a.record_id, b.record_id]
    assert ids(damage="霉蚀") == [b.record_id] and ids(damage="insect_damage") == [a.record_id]
    assert ids(conservator="张修") == [a.record_id]
    assert ids(since=date(2025, 5, 1)) == [b.record_id]
    assert ids(item_id="other-book") == []
    with pytest.raises(RecordError, match=r"unknown damage type '虫咬'; allowed: insect_damage \(虫蛀"):
        list_records(archive_settings, damage="虫咬")


def test_revisions_are_append_only_in_the_index(archive_settings, tmp_path):
    add(archive_settings, tmp_path)
    with sqlite3.connect(archive_settings.home / "conservation.sqlite") as conn:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE revisions SET saved_by = 'someone'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM revisions")


def test_the_report_is_self_contained_html(archive_settings, tmp_path):
    record = add(archive_settings, tmp_path).record
    html = item_report(archive_settings, ITEM)
    assert html.startswith("<!DOCTYPE html>") and f'id="{record.record_id}"' in html
    assert "虫蛀 insect damage" in html and "福建将乐" in html and "三级破损（中度破损）" in html
    assert html.count('src="data:image/jpeg;base64,') == 1
    assert "http://" not in html and "https://" not in html


def test_the_public_manifest_shows_no_conservation_details(archive_settings, tmp_path):
    add(archive_settings, tmp_path)
    with TestClient(create_app(archive_settings)) as client:
        manifest = client.get(f"/iiif/{ITEM}/manifest.json")
        staff = client.get("/staff/records", follow_redirects=False)
    assert manifest.status_code == 200
    for detail in ("CR-", "张修", "李审", "conservation", "修复", "虫蛀"):
        assert detail not in manifest.text
    assert staff.status_code == 404  # no desk given: the staff pages are not there at all


def test_a_version_made_meanwhile_is_not_overwritten_race_injected(archive_settings, tmp_path, monkeypatch):
    from workflows import conservation

    real = conservation._check_unchanged

    def another_version_first(archive, item_id, base_version):
        # Simulates a re-OCR storing version 2 between our METS read and our new_version.
        mets = stored(archive_settings, 1) / "data/mets.xml"
        conservation.new_version(archive_settings, ITEM, {"data/mets.xml": mets}, "corrected MODS")
        real(archive, item_id, base_version)

    monkeypatch.setattr(conservation, "_check_unchanged", another_version_first)
    with pytest.raises(StorageError, match="AIP version 2 was made while this record was being saved"):
        add(archive_settings, tmp_path)
    assert versions(archive_settings) == [1, 2] and list_records(archive_settings) == []
