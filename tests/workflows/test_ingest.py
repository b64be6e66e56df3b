"""End-to-end ingest with the real Luigi, Tesseract, libvips, bagit and XSDs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree

from pipeline.validation import json_errors, xml_errors
from tests.conftest import tree_digests
from workflows.run import run_ingest

pytestmark = pytest.mark.slow
SHUYING = [sys.executable, "-c", "import cli; cli.main()"]


def journal_events(work_item: Path) -> list[tuple[str, str]]:
    lines = (work_item / "journal.log").read_text(encoding="utf-8").splitlines()
    return [(parts[3], parts[4]) for parts in (line.split("\t") for line in lines)]


def leftovers(home: Path) -> list[str]:
    return [str(p) for p in home.rglob("*") if ".tmp-" in p.name or p.name.endswith((".new", ".old"))]


def test_ingest_produces_valid_aip_mets_and_manifest(small_batch, home):
    before = tree_digests(small_batch)

    # A subprocess, as a technician runs it: Luigi forks its workers, and a fork of this
    # pytest process (whose libvips thread pool earlier tests started) could deadlock.
    run = subprocess.run([*SHUYING, "--home", str(home), "ingest", str(small_batch), "--workers", "2"],
                         capture_output=True, text=True)

    assert run.returncode == 0, run.stderr
    assert "Ingested test-book: 3 pages" in run.stdout
    stored = home / "storage/primary/aips/test-book/test-book.v1"
    check = subprocess.run([str(Path(sys.executable).parent / "bagit.py"), "--validate", str(stored)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    mets = etree.parse(str(stored / "data/mets.xml"))
    assert xml_errors(mets, "mets") == []
    labels = mets.xpath("//mets:structMap[@TYPE='PHYSICAL']//mets:div[@ORDER]/@LABEL",
                        namespaces={"mets": "http://www.loc.gov/METS/"})
    assert labels == ["封面", "卷一 葉一上", "卷一 葉一下"]
    manifest = json.loads((home / "publish/test-book/manifest.json").read_text(encoding="utf-8"))
    assert json_errors(manifest, "iiif-presentation-3.0") == []
    assert manifest["viewingDirection"] == "right-to-left" and manifest["behavior"] == ["paged"]
    assert [c["id"].rsplit("/", 1)[1] for c in manifest["items"]] == ["p0001", "p0002", "p0003"]
    assert sorted(p.name for p in (home / "publish/test-book/images").iterdir()) == ["p0001.tif", "p0002.tif",
                                                                                    "p0003.tif"]
    assert tree_digests(small_batch) == before  # masters untouched
    assert leftovers(home) == []


def test_second_run_recomputes_nothing(small_batch, settings, home):
    assert run_ingest(small_batch, settings).ok
    journal = home / "work/test-book/journal.log"
    size = journal.stat().st_size

    assert run_ingest(small_batch, settings).ok
    assert journal.stat().st_size == size


def test_killed_ingest_resumes_without_recomputing_or_duplicating(tmp_path, home):
    from pipeline.sample_book import write_sample_batch

    batch = write_sample_batch(tmp_path / "batch", pages=6, width=900, height=1300, item_id="kill-book")
    before = tree_digests(batch)
    env = {**os.environ, "SHUYING_HOME": str(home)}
    proc = subprocess.Popen([*SHUYING, "ingest", str(batch)], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = home / "work/kill-book"
    try:
        _wait_for(lambda: (work / "journal.log").exists() and sum(
            1 for step, ev in journal_events(work) if step.startswith("Ocr-") and ev == "success") >= 2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done_before = {step for step, ev in journal_events(work) if ev == "success"}
    assert not (home / "publish/kill-book").exists()  # nothing published from a half-done run

    rerun = subprocess.run([*SHUYING, "ingest", str(batch)], env=env, capture_output=True, text=True)

    assert rerun.returncode == 0, rerun.stderr
    successes = Counter(step for step, ev in journal_events(work) if ev == "success")
    assert all(successes[step] == 1 for step in done_before), successes  # finished work was not redone
    assert all(count == 1 for count in successes.values()), successes  # and nothing ran twice
    assert (home / "publish/kill-book/manifest.json").is_file()
    assert tree_digests(batch) == before
    assert leftovers(home) == []


def test_two_workers_on_a_central_luigid_process_each_page_once(tmp_path, home):
    from pipeline.sample_book import write_sample_batch

    # Six pages, so there is enough work for the second process to join before the first ends.
    small_batch = write_sample_batch(tmp_path / "batch", pages=6, width=900, height=1300, item_id="test-book")
    port = _free_port()
    (tmp_path / "luigid-log").mkdir()
    luigid = subprocess.Popen([str(Path(sys.executable).parent / "luigid"), "--address", "127.0.0.1",
                               "--port", str(port), "--logdir", str(tmp_path / "luigid-log"),
                               "--state-path", str(tmp_path / "luigid.state")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: _port_open(port) or luigid.poll() is not None, timeout=30)
        assert luigid.poll() is None, "luigid did not start"
        env = {**os.environ, "SHUYING_HOME": str(home)}
        command = [*SHUYING, "ingest", str(small_batch), "--scheduler-url", f"http://127.0.0.1:{port}/"]
        workers = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for _ in range(2)]
        outcomes = [w.communicate(timeout=600) for w in workers]
    finally:
        luigid.terminate()
        luigid.wait()

    assert [w.returncode for w in workers] == [0, 0], outcomes
    events = journal_events(home / "work/test-book")
    pids = {line.split("\t")[2] for line in (home / "work/test-book/journal.log").read_text().splitlines()}
    successes = Counter(step for step, ev in events if ev == "success")
    starts = Counter(step for step, ev in events if ev == "start")
    assert {f"Ocr-p000{i}" for i in range(1, 7)} <= set(successes)
    assert all(n == 1 for n in successes.values()) and all(n == 1 for n in starts.values()), (successes, starts)
    assert len(pids) == 2, "both worker processes should have done some of the work"


def _wait_for(condition, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
