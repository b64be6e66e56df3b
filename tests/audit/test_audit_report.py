"""Audit reports: JSON that follows schemas/audit-report.schema.json, a self-contained HTML page that renders in
headless Chromium and lists the repaired file, and the lines and progress bar a terminal shows."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from pipeline.audit_report import (
    AuditProgress,
    progress_bar,
    progress_line,
    render_html,
    summary_lines,
)
from pipeline.validation import json_errors
from tests.audit.helpers import MASTER, flip_bit
from tests.storage.helpers import (
    fs_location,
    ingest_bag,
    sample_files,
    settings_with,
    write_config,
)
from workflows.audit import AuditOptions, audit
from workflows.replicate import replicate

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def repaired(tmp_path):
    """An audit run that repaired a flipped bit in the primary from a filesystem replica."""
    home = tmp_path / "home"
    config = write_config(tmp_path / "storage.toml", fs_location("primary", home / "primary"),
                          fs_location("nas", home / "nas", role="replica"), min_copies=2)
    settings = settings_with(home, config)
    ingest_bag(settings, "book-<a>", sample_files(1))  # markup in an identifier must stay text
    assert replicate(settings).ok
    master = home / "primary/aips/book-<a>/book-<a>.v1" / MASTER
    master.write_bytes(flip_bit(master.read_bytes()))
    return audit(settings, AuditOptions(workers=2, report_dir=tmp_path / "reports"))


def test_json_report_follows_the_schema(repaired):
    data = json.loads(Path(repaired.files["json"]).read_text(encoding="utf-8"))

    assert json_errors(data, "audit-report") == []
    assert data["status"] == "repaired" and data["totals"]["repaired"] == 1 and data["totals"]["intact"] == 1
    [issue] = [i for c in data["copies"] for i in c["issues"]]
    assert (issue["path"], issue["action"], issue["source"]) == (MASTER, "repaired", "nas")
    assert issue["quarantine"].startswith("quarantine/book-<a>/") and issue["quarantine"].endswith(MASTER)


def test_a_broken_report_fails_the_schema(repaired):
    data = json.loads(Path(repaired.files["json"]).read_text(encoding="utf-8"))
    data["copies"][0]["outcome"] = "fine"
    del data["totals"]["bytes"]
    outcomes = "['intact', 'repaired', 'damaged', 'unrecoverable', 'not checked', 'partial']"
    assert json_errors(data, "audit-report") == [f"copies[0].outcome: 'fine' is not one of {outcomes}",
                                                 "totals: 'bytes' is a required property"]


def test_html_report_is_self_contained_and_escapes_text(repaired):
    page = Path(repaired.files["html"]).read_text(encoding="utf-8")

    assert page == render_html(repaired)
    assert not re.search(r"<(script|link|img|iframe)\b|\bsrc=|\bhref=|url\(", page)
    assert "book-&lt;a&gt;" in page and "book-<a>" not in page
    assert "<h2>Repaired (1)</h2>" in page and MASTER in page


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Chromium at /usr/bin/chromium")
def test_html_report_renders_in_headless_chromium_listing_the_repaired_file(repaired, tmp_path):
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}"]
    url = Path(repaired.files["html"]).as_uri()
    shot = tmp_path / "report.png"

    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True).stdout
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1200,900", url], capture_output=True,
                   timeout=120, check=True)

    rows = re.findall(r"<tr>(.*?)</tr>", dom, re.DOTALL)
    assert any(MASTER in row and ">repaired<" in row and ">nas<" in row for row in rows)
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 900)
    assert len(set(image.getdata())) > 10  # text and coloured status, not a blank page
    shutil.rmtree(tmp_path / "chromium", ignore_errors=True)


def test_terminal_lines_name_every_problem(repaired):
    lines = summary_lines(repaired)
    assert lines[0].startswith("REPAIRED: 1 copies had damage, repaired from verified copies. 2 copies, 20 files")
    assert lines[1].startswith(f"  primary: aips/book-<a>/book-<a>.v1/{MASTER}: sha256 mismatch: expected=")
    assert lines[1].endswith("[repaired from nas]")


def test_progress_bar_and_plain_line():
    progress = AuditProgress(bytes_done=500_000_000, bytes_total=2_000_000_000, copies_done=3, copies_total=12,
                             seconds=2.0, current="primary: aips/x/x.v1")
    assert progress_bar(progress, width=20) == ("[#####...............] 500.0 MB / 2.0 GB 250.0 MB/s ETA 0:00:06"
                                                "  copies 3/12")
    assert progress_line(progress) == "3/12 copies, 500.0 MB of 2.0 GB, 250.0 MB/s: primary: aips/x/x.v1"
    assert AuditProgress(0, 10, 0, 1, 0.0).eta is None
