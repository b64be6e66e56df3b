"""Replication of many items against an S3 endpoint nobody answers: asked once, the rest skipped, resumed later."""

from __future__ import annotations

import logging
import socket

from storage_config.catalogue import CopyStatus
from tests.storage.helpers import (
    S3Server,
    fs_location,
    ingest_bag,
    s3_location,
    sample_files,
    settings_with,
    write_config,
)
from workflows.archive import open_archive
from workflows.replicate import Outcome, replicate

ITEMS = ("book-a", "book-b", "book-c", "book-d")


def _closed_port() -> int:
    """A port on 127.0.0.1 that was just free: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_dead_endpoint_is_asked_once_other_locations_proceed_and_a_later_run_resumes(tmp_path, caplog):
    home = tmp_path / "home"
    dead = S3Server(_closed_port(), {})
    config = write_config(tmp_path / "storage.toml", fs_location("primary", home / "primary"),
                          fs_location("nas", tmp_path / "nas", role="replica"),
                          s3_location("offsite", dead, "bucket-x", connect_timeout=1, max_attempts=2),
                          min_copies=3, offsite_copies=1)
    settings = settings_with(home, config)
    for seed, item in enumerate(ITEMS):
        ingest_bag(settings, item, sample_files(seed))

    with caplog.at_level(logging.WARNING, logger="storage_config.backends.s3"):
        report = replicate(settings)

    offsite = [o for o in report.outcomes if o.location == "offsite"]
    assert [o.outcome for o in offsite] == [Outcome.FAILED] + [Outcome.SKIPPED] * (len(ITEMS) - 1)
    assert f"cannot reach {dead.endpoint}" in offsite[0].detail
    asked = [r for r in caplog.records if "unreachable" in r.getMessage() and r.getMessage().startswith("offsite:")]
    assert len(asked) == 1  # one connection failure, then no further attempt in this run
    [line] = report.unreachable
    assert line.startswith(f"offsite: endpoint {dead.endpoint} unreachable (")
    assert line.endswith(f"; {len(ITEMS)} items not replicated, run `shuying replicate` again when it is back")
    assert {o.item_id for o in report.outcomes if o.location == "nas" and o.outcome is Outcome.COPIED} == set(ITEMS)
    assert not report.ok

    dead.start()  # the endpoint is back, on the same port
    try:
        dead.client().create_bucket(Bucket="bucket-x")
        again = replicate(settings)
    finally:
        dead.stop()

    assert again.ok, [str(o) for o in again.failures]
    assert sorted(o.item_id for o in again.outcomes if o.location == "offsite" and o.outcome is Outcome.COPIED) \
        == sorted(ITEMS)
    catalogue = open_archive(settings).catalogue
    assert all({c.location: c.status for c in catalogue.copies(item)}["offsite"] is CopyStatus.VERIFIED
               for item in ITEMS)
