"""PageQC judges only the bytes ChecksumMasters hashed: a master replaced in between fails the page."""

from __future__ import annotations

import json
import os
from pathlib import Path

import luigi

from pipeline.batch import load_batch
from storage_config.settings import Settings
from workflows.ingest import ChecksumMasters, PageQC
from workflows.run import ingest_task


def _params(batch_dir: Path, settings: Settings, task_class: type[luigi.Task]) -> dict:
    given = ingest_task(load_batch(batch_dir), settings).param_kwargs
    names = {name for name, _ in task_class.get_params()}
    return {name: value for name, value in given.items() if name in names}


def test_a_master_replaced_after_its_checksums_fails_qc_and_leaves_no_finding(small_batch: Path,
                                                                             settings: Settings) -> None:
    """Before: PageQC measured whatever file was there and kept the result (docs promised a check)."""
    assert luigi.build([ChecksumMasters(**_params(small_batch, settings, ChecksumMasters))],
                       local_scheduler=True, no_lock=True)
    master = small_batch / "0002.tif"
    data = bytearray(master.read_bytes())
    data[-1] ^= 0xFF  # the same size, other bytes, a later time
    master.write_bytes(bytes(data))
    os.utime(master, ns=(master.stat().st_atime_ns, master.stat().st_mtime_ns + 10**9))

    qc = PageQC(**_params(small_batch, settings, PageQC), page_id="p0002")
    assert not luigi.build([qc], local_scheduler=True, no_lock=True)

    work = settings.work_dir / "test-book"
    failure = json.loads((work / "failures/PageQC-p0002.json").read_text(encoding="utf-8"))
    assert failure["error"] == "MasterChangedError"
    assert "0002.tif (p0002) is not the master checksummed at ingest" in failure["message"]
    assert "shuying reshoot" in failure["message"]
    assert not (work / "pages/p0002/qc.json").exists() and not qc.complete()
