"""Repair from bytes outside storage: the work-area bag, then the capture folder, when every stored copy is bad."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.checksums import digest_file
from pipeline.sample_book import write_sample_batch

pytestmark = pytest.mark.slow
SHUYING = [sys.executable, "-c", "import cli; cli.main()"]


def corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def audit(home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*SHUYING, "--home", str(home), "audit", "--item", "local-book"], capture_output=True,
                          text=True)


def test_a_file_bad_in_every_location_is_healed_from_the_work_area_then_the_capture(tmp_path: Path) -> None:
    batch = write_sample_batch(tmp_path / "batch", pages=2, width=900, height=1300, item_id="local-book")
    home = tmp_path / "home"
    ingest = subprocess.run([*SHUYING, "--home", str(home), "ingest", str(batch)], capture_output=True, text=True)
    assert ingest.returncode == 0, ingest.stderr
    stored = home / "storage/primary/aips/local-book/local-book.v1/data/masters/p0002.tif"
    good = digest_file(stored)

    corrupt(stored)
    healed = audit(home)
    assert healed.returncode == 3, healed.stdout + healed.stderr  # REPAIRED
    assert "work area" in healed.stdout + healed.stderr and "UNRECOVERABLE" not in healed.stdout
    assert digest_file(stored) == good

    shutil.rmtree(home / "work/local-book/aip")
    corrupt(stored)
    healed = audit(home)
    assert healed.returncode == 3, healed.stdout + healed.stderr
    assert f"capture folder ({batch / '0002.tif'})" in healed.stdout + healed.stderr
    assert digest_file(stored) == good

    corrupt(batch / "0002.tif")  # now no intact copy is left anywhere
    corrupt(stored)
    lost = audit(home)
    assert lost.returncode == 4, lost.stdout + lost.stderr  # UNRECOVERABLE, nothing overwritten
    assert "capture folder" in lost.stdout + lost.stderr and "does not match the catalogue either" in lost.stdout
