"""What a killed run leaves in storage: incomplete S3 multipart uploads (aborted by the next run, shown by
status) and event records a location missed (copied to it by the next run, merged by a rebuild)."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime

from pipeline.clock import now
from storage_config.catalogue import Catalogue
from tests.storage.helpers import (
    fs_location,
    ingest_bag,
    new_bucket,
    s3_location,
    sample_files,
    settings_with,
    write_config,
)
from workflows.archive import open_archive, read_events
from workflows.catalogue_ops import rebuild_catalogue
from workflows.replicate import replicate
from workflows.storage_status import format_status, status

PREFIX = "shuying/"


def _start_upload(client, bucket: str, key: str) -> str:
    """Start a multipart upload and send one part, as a transfer killed mid-file leaves it."""
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    client.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=b"x" * 1024)
    return upload


def _next_second() -> datetime:
    """Wait for the clock to enter a new second and return it: S3 gives part times in whole seconds."""
    start = now()
    while now() == start:
        time.sleep(0.05)
    return now()


def _uploads(client, bucket: str) -> list[str]:
    return sorted(u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", ()))


def test_replicate_aborts_uploads_left_by_a_killed_run_and_status_shows_what_remains(tmp_path, s3_server):
    home, bucket, client = tmp_path / "home", new_bucket(s3_server), s3_server.client()
    config = write_config(tmp_path / "storage.toml", fs_location("primary", home / "primary"),
                          s3_location("offsite", s3_server, bucket), min_copies=2, offsite_copies=1)
    settings = settings_with(home, config)
    ingest_bag(settings, "book-a", sample_files(1))
    killed = f"{PREFIX}aips/book-a/book-a.v1/data/masters/p0001.tif"
    _start_upload(client, bucket, killed)
    _start_upload(client, bucket, "elsewhere/not-ours.tif")  # outside the location's prefix: not ours to abort
    run_started = _next_second()
    live = f"{PREFIX}aips/book-b/book-b.v1/data/masters/p0001.tif"
    _start_upload(client, bucket, live)  # a concurrent run's transfer, active after this run began

    report = replicate(settings, idle_before=run_started)

    assert report.ok
    [line] = report.aborted_uploads
    assert re.fullmatch(r"offsite: aborted the incomplete upload of aips/book-a/book-a.v1/data/masters/p0001.tif "
                        r"\(started \S+\), left by an interrupted run", line), line
    assert _uploads(client, bucket) == ["elsewhere/not-ours.tif", live]
    summary = {loc.name: loc for loc in status(settings).locations}
    assert (summary["offsite"].incomplete_uploads, summary["primary"].incomplete_uploads) == (1, 0)
    [offsite] = [text for text in format_status(status(settings)) if text.startswith("  offsite ")]
    assert re.search(r"; 1 incomplete upload, the oldest started \d+ (s|min|h|d) ago "
                     r"\(`shuying replicate` aborts those idle for 1 h\)$", offsite), offsite

    assert replicate(settings).aborted_uploads == ()  # the live one is idle for less than the margin
    assert _uploads(client, bucket) == ["elsewhere/not-ours.tif", live]


def test_status_says_when_the_uploads_cannot_be_listed(tmp_path, s3_server):
    home = tmp_path / "home"
    config = write_config(tmp_path / "storage.toml", fs_location("primary", home / "primary"),
                          s3_location("offsite", s3_server, "no-such-bucket"))
    [_, offsite] = format_status(status(settings_with(home, config)))[3:5]
    assert offsite.endswith("; incomplete uploads not checked (offsite: listing incomplete multipart uploads: "
                            f"bucket 'no-such-bucket' does not exist at {s3_server.endpoint})"), offsite


def _two_disks(tmp_path):
    home = tmp_path / "home"
    config = write_config(tmp_path / "storage.toml", fs_location("primary", home / "primary"),
                          fs_location("nas", home / "nas", role="replica"), min_copies=2)
    return settings_with(home, config)


def test_every_event_is_kept_in_every_location_and_a_missed_one_is_copied_back(tmp_path):
    settings = _two_disks(tmp_path)
    ingest_bag(settings, "book-a", sample_files(1))
    assert replicate(settings).ok
    archive = open_archive(settings)
    everything = {e.event_id: e for e in archive.catalogue.events()}
    assert read_events(archive.backend("primary")) == read_events(archive.backend("nas")) == everything
    [ingestion] = [e for e in everything.values() if e.event_type == "ingestion"]
    stem = ingestion.event_id.rsplit(":", 1)[-1]
    [nas_copy] = (settings.home / "nas/events/book-a").glob(f"*-{stem}.json")
    [primary_copy] = (settings.home / "primary/events/book-a").glob(f"*-{stem}.json")
    original = nas_copy.read_bytes()
    nas_copy.unlink()  # nas was down when the event was written
    [replication] = [e for e in everything.values() if e.event_type == "replication"]
    for copy in (settings.home / "primary/events/book-a", settings.home / "nas/events/book-a"):
        [found] = copy.glob(f"*-{replication.event_id.rsplit(':', 1)[-1]}.json")
        found.unlink()  # no location took it: only the catalogue has it

    assert replicate(settings).outcomes == ()

    assert nas_copy.read_bytes() == primary_copy.read_bytes() == original
    assert read_events(archive.backend("primary")) == read_events(archive.backend("nas")) == everything


def test_rebuild_merges_the_events_of_every_location_once_and_names_a_copy_that_differs(tmp_path):
    settings = _two_disks(tmp_path)
    ingest_bag(settings, "book-a", sample_files(1))
    assert replicate(settings).ok
    catalogue = open_archive(settings).catalogue
    events = catalogue.events()
    [altered] = (settings.home / "nas/events/book-a").glob(f"*-{events[0].event_id.rsplit(':', 1)[-1]}.json")
    record = json.loads(altered.read_bytes())
    altered.write_text(json.dumps({**record, "outcome": "failure"}), encoding="utf-8")

    report = rebuild_catalogue(settings)

    assert report.events == len(events) and Catalogue(str(catalogue.path)).events() == events
    assert report.problems == (f"nas: event {events[0].event_id} differs from the copy in another location; "
                               "the first one read is kept",)


def test_no_event_record_is_written_under_the_mount_point_of_an_unmounted_share(tmp_path):
    home, share = tmp_path / "home", tmp_path / "mnt/nas"
    config = write_config(tmp_path / "storage.toml", fs_location("primary", home / "primary"),
                          fs_location("nas", share, role="replica", create=False), min_copies=2)
    settings = settings_with(home, config)
    ingest_bag(settings, "book-a", sample_files(1))

    [failure] = replicate(settings).failures

    assert failure.detail.endswith("mnt/nas does not exist (mount or create it, or set create = true for this "
                                   "location in storage.toml)")
    assert not share.exists()
    failed = [e for e in open_archive(settings).catalogue.events() if e.outcome == "failure"]
    assert [e.location for e in failed] == ["nas"]  # recorded in the catalogue and the primary all the same
    assert failed[0].event_id in read_events(open_archive(settings).backend("primary"))
