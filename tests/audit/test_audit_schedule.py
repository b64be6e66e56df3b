"""Scheduling for scale: least recently verified first, a time budget and resume, an S3 server that stops
mid-audit, an audit killed mid-run, and the plan of what is due."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.audit_report import AuditStatus, CopyOutcome
from storage_config.catalogue import CopyStatus
from tests.audit.helpers import stored_book, two_site
from tests.storage.helpers import (
    fs_location,
    ingest_bag,
    sample_files,
    settings_with,
    write_config,
)
from workflows.archive import open_archive
from workflows.audit import AuditBusyError, AuditOptions, audit
from workflows.audit_plan import format_plan, plan

MB = 1024 * 1024
REPO = Path(__file__).resolve().parents[2]


def set_verified(settings, when: dict[tuple[str, str], datetime]) -> None:
    """Pretend copies were last verified at the given times ((item, location) → time)."""
    with open_archive(settings).catalogue.connect(write=True) as conn:
        for (item_id, location), moment in when.items():
            conn.execute("UPDATE copies SET verified_at = ?, checked_at = ? WHERE item_id = ? AND location = ?",
                         (moment.isoformat(), moment.isoformat(), item_id, location))


def one_site(tmp_path: Path, books: dict[str, tuple[int, ...]]):
    home = tmp_path / "home"
    settings = settings_with(home, write_config(tmp_path / "storage.toml", fs_location("primary", home / "primary")))
    for seed, (item_id, sizes) in enumerate(sorted(books.items()), 1):
        ingest_bag(settings, item_id, sample_files(seed, sizes))
    return settings


def test_least_recently_verified_copies_come_first(tmp_path):
    settings = one_site(tmp_path, {"book-a": (1000,), "book-b": (1000,), "book-c": (1000,)})
    base = datetime(2025, 1, 1, tzinfo=UTC)
    set_verified(settings, {("book-a", "primary"): base + timedelta(days=20), ("book-b", "primary"): base,
                            ("book-c", "primary"): base + timedelta(days=10)})

    report = audit(settings, AuditOptions(workers=1, report_dir=tmp_path / "reports"))

    assert [c.item_id for c in report.copies] == ["book-b", "book-c", "book-a"]
    assert all(c.outcome is CopyOutcome.INTACT for c in report.copies)


def test_time_budget_stops_the_run_and_the_next_run_continues(tmp_path):
    settings = one_site(tmp_path, {"book-a": (2000,), "book-b": (2000,), "book-c": (2000,)})
    now = [0.0]

    def jump_after_first_copy(progress):
        if progress.finished_copy is not None:
            now[0] += 7200  # the budget ends as soon as one copy is done

    options = AuditOptions(workers=1, max_duration=3600, report_dir=tmp_path / "reports")
    first = audit(settings, options, on_progress=jump_after_first_copy, clock=lambda: now[0])

    assert first.stopped_at_budget and first.copies[0].outcome is CopyOutcome.INTACT
    done = {c.item_id for c in first.copies if c.outcome is CopyOutcome.INTACT}
    assert first.copies_left == 3 - len(done) > 0
    assert first.status is AuditStatus.CLEAN  # stopping at the budget is normal scheduling, not a failure

    second = audit(settings, AuditOptions(workers=1, report_dir=tmp_path / "reports"))
    assert {c.item_id for c in second.copies[:3 - len(done)]} == {"book-a", "book-b", "book-c"} - done
    assert not second.stopped_at_budget and second.copies_left == 0


def test_s3_server_stopping_mid_audit_is_not_checked_not_damage_and_resumes(tmp_path, own_s3_server):
    site = two_site(tmp_path, own_s3_server, read_timeout=1, connect_timeout=1, max_attempts=1)
    stored_book(site, sizes=(3 * MB, 3 * MB, 3 * MB, 3 * MB))
    seen, paused = [], threading.Event()

    def pause_after_a_file(progress):
        seen.append(progress.bytes_done)
        if progress.bytes_done > 3.2 * MB and not paused.is_set():
            os.kill(own_s3_server.process.pid, signal.SIGSTOP)  # the server hangs mid-audit
            paused.set()

    options = site.options(location="offsite", workers=1, max_rate=4 * MB)
    try:
        report = audit(site.settings, options, on_progress=pause_after_a_file)
    finally:
        os.kill(own_s3_server.process.pid, signal.SIGCONT)

    assert paused.is_set() and report.status is AuditStatus.INCOMPLETE
    [copy] = report.copies
    assert copy.outcome is CopyOutcome.NOT_CHECKED and "offsite" in copy.detail
    assert all(i.action == "not checked" for i in copy.issues)
    archive = open_archive(site.settings)
    assert {c.location: c.status for c in archive.catalogue.copies("book-a")}["offsite"] is CopyStatus.VERIFIED
    assert [e for e in archive.catalogue.events("book-a") if e.event_type == "fixity check"] == []

    again = audit(site.settings, site.options(location="offsite", workers=1))
    [copy] = again.copies
    assert again.status is AuditStatus.CLEAN and copy.outcome is CopyOutcome.INTACT
    assert copy.files_resumed >= 1 and copy.files + copy.files_resumed == 12


def test_an_audit_killed_mid_run_resumes_where_it_stopped(tmp_path):
    settings = one_site(tmp_path, {"book-a": (2 * MB,) * 6})
    code = (
        "import sys\n"
        "from storage_config.settings import load_settings\n"
        "from workflows.audit import AuditOptions, audit\n"
        f"settings = load_settings(environ={{}}, home={str(settings.home)!r}, storage_config={str(settings.storage_config)!r})\n"
        "def show(p):\n"
        "    print(p.bytes_done, flush=True)\n"
        f"audit(settings, AuditOptions(workers=1, max_rate=2 * {MB}, report_dir={str(tmp_path / 'reports')!r}), "
        "on_progress=show)\n")
    process = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        for line in process.stdout:
            if int(line) > 4.5 * MB:  # two of the six masters verified, or nearly
                break
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(30)
    assert process.returncode == -signal.SIGKILL

    report = audit(settings, AuditOptions(workers=1, report_dir=tmp_path / "reports"))

    [copy] = report.copies
    assert copy.outcome is CopyOutcome.INTACT and 1 <= copy.files_resumed <= 5
    assert copy.files + copy.files_resumed == 14
    [event] = [e for e in open_archive(settings).catalogue.events("book-a") if e.event_type == "fixity check"]
    assert event.outcome == "success" and "verified earlier in this cycle by an interrupted run" in event.detail
    assert not list((settings.home / "audit" / "resume").rglob("*.jsonl"))  # the journal is gone once done


def test_a_second_audit_of_the_same_location_is_refused(tmp_path):
    settings = one_site(tmp_path, {"book-a": (1000,)})
    started, release = threading.Event(), threading.Event()

    def hold(progress):
        started.set()
        release.wait(30)

    thread = threading.Thread(target=audit, args=(settings, AuditOptions(workers=1, report_dir=tmp_path / "r")),
                              kwargs={"on_progress": hold})
    thread.start()
    try:
        assert started.wait(30)
        with pytest.raises(AuditBusyError, match=r"an audit of primary is already running \(pid \d+ since "):
            audit(settings, AuditOptions(workers=1, report_dir=tmp_path / "r"))
    finally:
        release.set()
        thread.join(30)


def test_plan_shows_due_and_overdue_copies_and_the_rate_needed(tmp_path):
    settings = one_site(tmp_path, {"book-a": (600_000,), "book-b": (300_000,)})
    now = datetime(2025, 6, 1, tzinfo=UTC)
    set_verified(settings, {("book-a", "primary"): now - timedelta(days=100),
                            ("book-b", "primary"): now - timedelta(days=85)})

    result = plan(settings, cycle_days=90, now=lambda: now)

    [primary] = result.locations
    sizes = {r.item_id: sum(d.size for d in r.stored_files().values())
             for r in open_archive(settings).catalogue.versions()}
    assert (primary.copies, primary.overdue, primary.due_soon) == (2, 1, 1)
    assert (primary.overdue_bytes, primary.due_soon_bytes) == (sizes["book-a"], sizes["book-b"])
    assert primary.bytes_per_hour == pytest.approx(sum(sizes.values()) / (90 * 24))
    assert primary.catch_up_bytes_per_hour == pytest.approx(sizes["book-a"] / (7 * 24))
    [overdue] = result.overdue
    assert (overdue.item_id, round(overdue.days_overdue)) == ("book-a", 10)
    lines = format_plan(result)
    assert lines[0] == "Audit plan at 2025-06-01T00:00:00+00:00: every copy re-read at least every 90 days"
    assert "  overdue: primary: book-a.v1 (last verified 2025-02-21T00:00:00, 10 days over)" in lines
