"""A full disk under the work area is one line naming the folder and the space, not a raw OS error."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.atomic import write_bytes_atomic
from pipeline.errors import DiskFullError
from pipeline.sample_book import write_sample_batch

SHUYING = [sys.executable, "-c", "import cli; cli.main()"]


@pytest.fixture
def small_disk(tmp_path: Path):
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True,
                             check=False)
    if mounted.returncode:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_a_write_too_big_for_the_disk_names_folder_free_and_needed(small_disk):
    with pytest.raises(DiskFullError) as caught:
        write_bytes_atomic(small_disk / "work/item/mets.xml", os.urandom(3_000_000))

    assert caught.value.__cause__.errno == errno.ENOSPC
    message = str(caught.value)
    assert message.startswith(f"{small_disk / 'work/item'}: disk full (1.0 MB free, about 3.0 MB needed for mets.xml)")
    assert message.endswith("free space or set --home/SHUYING_HOME to a larger disk")
    assert list((small_disk / "work/item").iterdir()) == []  # the partial temporary is gone


@pytest.mark.slow
def test_ingest_onto_a_full_disk_says_so_in_one_line(tmp_path, small_disk):
    batch = write_sample_batch(tmp_path / "batch", pages=2, width=900, height=1300, item_id="full-book")

    run = subprocess.run([*SHUYING, "--home", str(small_disk), "ingest", str(batch)], capture_output=True, text=True)

    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if line.startswith("Error: ")]
    assert errors and all("disk full (" in line and "--home/SHUYING_HOME" in line for line in errors), run.stderr
    assert "Errno 28" not in run.stderr and "No space left" not in run.stderr
