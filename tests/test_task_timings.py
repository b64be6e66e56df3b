"""The opt-in task timings of benchmarks/ingest.py: with SHUYING_TASK_TIMINGS set, every task run
appends one JSON line (task, page, wall, CPU of the process and of the subprocesses it waited for,
peak RSS); unset, nothing is written. Real Luigi tasks on a generated book."""

from __future__ import annotations

import json
from pathlib import Path

import luigi
import pytest

from pipeline.batch import load_batch
from storage_config.settings import Settings
from workflows.base import TIMINGS_VARIABLE
from workflows.ingest import ChecksumMasters
from workflows.run import ingest_task, run_ingest

FIELDS = {"task", "page", "pid", "ok", "wall", "cpu_self", "cpu_children", "maxrss_kib", "children_maxrss_kib"}


def timings(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def checksum_task(batch_dir: Path, settings: Settings) -> ChecksumMasters:
    params = ingest_task(load_batch(batch_dir), settings).param_kwargs
    return ChecksumMasters(**{name: params[name] for name, _ in ChecksumMasters.get_params()})


def test_each_task_run_appends_one_line_with_its_times(small_batch: Path, settings: Settings, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "timings.jsonl"
    monkeypatch.setenv(TIMINGS_VARIABLE, str(path))

    assert luigi.build([checksum_task(small_batch, settings)], local_scheduler=True, no_lock=True)

    lines = timings(path)
    assert [(line["task"], line["page"], line["ok"]) for line in lines] == [
        ("ValidateBatch", "", True), ("ChecksumMasters", "", True)]
    for line in lines:
        assert set(line) == FIELDS
        assert line["wall"] >= 0 and line["cpu_self"] >= 0 and line["cpu_children"] >= 0
        assert line["maxrss_kib"] > 0


def test_nothing_is_written_without_the_variable(small_batch: Path, settings: Settings, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TIMINGS_VARIABLE, raising=False)

    assert luigi.build([checksum_task(small_batch, settings)], local_scheduler=True, no_lock=True)

    assert not list(tmp_path.glob("*.jsonl"))
    assert (settings.work_dir / "test-book/checksums.json").is_file()


def test_a_failed_task_is_recorded_as_not_ok(small_batch: Path, settings: Settings, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "timings.jsonl"
    monkeypatch.setenv(TIMINGS_VARIABLE, str(path))
    (small_batch / "0002.tif").write_bytes(b"not a TIFF")

    assert not luigi.build([checksum_task(small_batch, settings)], local_scheduler=True, no_lock=True)

    assert [(line["task"], line["ok"]) for line in timings(path)] == [("ValidateBatch", False)]


@pytest.mark.slow
def test_a_whole_ingest_records_every_task_and_tesseract_cpu(small_batch: Path, settings: Settings,
                                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "timings.jsonl"
    monkeypatch.setenv(TIMINGS_VARIABLE, str(path))

    assert run_ingest(small_batch, settings, ocr_engine="tesseract").ok

    lines = timings(path)
    assert all(set(line) == FIELDS and line["ok"] for line in lines)
    pages = {"p0001", "p0002", "p0003"}
    assert {line["page"] for line in lines if line["task"] == "Ocr"} == pages
    assert {line["page"] for line in lines if line["task"] == "Derivative"} == pages
    assert {"ValidateBatch", "ChecksumMasters", "BatchQC", "BuildMets", "BuildAip", "StoreAip",
            "PublishManifest"} <= {line["task"] for line in lines}
    # Tesseract runs as a subprocess of the OCR task: its CPU is counted there, as waited-for children.
    text_pages = [line for line in lines if line["task"] == "Ocr" and line["page"] != "p0001"]
    assert all(line["cpu_children"] > 0 and line["children_maxrss_kib"] > 0 for line in text_pages)
