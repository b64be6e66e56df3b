"""Two ingests of one batch at once: one works, the other stops at once naming who holds the item.

Real `shuying ingest` processes on a generated batch, as two technicians would start them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from pipeline.sample_book import write_sample_batch

pytestmark = pytest.mark.slow
SHUYING = [sys.executable, "-c", "import cli; cli.main()"]


def _successes(work_item: Path) -> Counter:
    lines = (work_item / "journal.log").read_text(encoding="utf-8").splitlines()
    return Counter(parts[3] for parts in (line.split("\t") for line in lines) if parts[4] == "success")


def test_second_ingest_of_the_same_batch_stops_at_once_and_a_rerun_succeeds(tmp_path):
    home = tmp_path / "home"
    batch = write_sample_batch(tmp_path / "batch", pages=4, width=900, height=1300, item_id="lock-book")
    env = {**os.environ, "SHUYING_HOME": str(home)}
    runs = [subprocess.Popen([*SHUYING, "ingest", str(batch)], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [(*run.communicate(timeout=600), run.returncode) for run in runs]
    outcomes = [(code, out, err) for out, err, code in outcomes]

    assert sorted(code for code, _out, _err in outcomes) == [0, 5], outcomes  # 5: could not run (busy)
    [(_, out, _)] = [o for o in outcomes if o[0] == 0]
    [(_, busy_out, busy_err)] = [o for o in outcomes if o[0] == 5]
    assert "Ingested lock-book: 4 pages" in out
    assert "Directory not empty" not in busy_err + out
    [line] = [text for text in busy_err.splitlines() if not text.startswith("warning: ")]  # no traceback
    assert line.startswith("Error: lock-book: an ingest of this item is already running (pid "), line
    assert "--scheduler-url" in line and busy_out == ""
    assert all(n == 1 for n in _successes(home / "work/lock-book").values())  # nothing was done twice

    rerun = subprocess.run([*SHUYING, "ingest", str(batch)], env=env, capture_output=True, text=True)

    assert rerun.returncode == 0, rerun.stderr
    assert "Ingested lock-book: 4 pages" in rerun.stdout
    assert list((home / "work/lock-book").glob("failures/*.json")) == []


def test_failure_record_of_a_task_completed_elsewhere_is_cleared_by_the_next_run(tmp_path):
    """A record left by a failed attempt goes once the task is complete, even if this run did not run it."""
    home = tmp_path / "home"
    batch = write_sample_batch(tmp_path / "batch", pages=2, width=700, height=1000, item_id="stale-book")
    env = {**os.environ, "SHUYING_HOME": str(home)}
    first = subprocess.run([*SHUYING, "ingest", str(batch)], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    # As left by a process that lost a race for this task's output to one that then finished it.
    stale = home / "work/stale-book/failures/Derivative-p0002.json"
    stale.parent.mkdir(exist_ok=True)
    stale.write_text('{"task": "Derivative-p0002", "error": "OSError", "message": "Derivative-p0002: OSError: '
                     '[Errno 39] Directory not empty", "time": "2026-01-01T00:00:00+00:00"}\n', encoding="utf-8")

    again = subprocess.run([*SHUYING, "ingest", str(batch)], env=env, capture_output=True, text=True)

    assert again.returncode == 0, again.stderr
    assert list(stale.parent.glob("*.json")) == []
