"""The soak's measurements: the server's RSS and open files from /proc, and latency figures per kind."""

from __future__ import annotations

import math
import os
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.soak.load import Answer


@dataclass(frozen=True)
class Sample:
    """The server process at one moment: seconds into the load, resident memory and open descriptors."""

    at: float
    rss_kib: int
    fds: int


def rss_kib(pid: int) -> int:
    """Return the process's resident set size (VmRSS, KiB) from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/status has no VmRSS line: is {pid} a zombie?")


def fd_count(pid: int) -> int:
    """Return how many file descriptors the process holds open (entries of /proc/<pid>/fd)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def children(pid: int) -> list[int]:
    """Return the process's child pids (every thread's children file)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text(encoding="ascii") if (task / "children").exists() else ""
        found.extend(int(child) for child in text.split())
    return found


def serving_pid(pid: int) -> int:
    """Return the process that answers requests: ``pid`` itself, or its worker if it forked one."""
    workers = children(pid)
    return workers[-1] if workers else pid


class Sampler:
    """A thread that samples one process's RSS and descriptors every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float, start: float) -> None:
        self.pid, self.interval, self.start = pid, interval, start
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self.take()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.take()

    def take(self) -> Sample:
        """Record one sample now and return it."""
        sample = Sample(round(time.monotonic() - self.start, 2), rss_kib(self.pid), fd_count(self.pid))
        self.samples.append(sample)
        return sample

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.take()


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of already sorted values (the value at or above ``fraction``)."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_row(answers: list[Answer]) -> dict[str, Any]:
    """Return count, statuses and p50/p95/p99/max latency in milliseconds for one kind's answers."""
    seconds = sorted(answer.seconds for answer in answers)
    statuses = Counter(str(answer.status) for answer in answers)
    return {"requests": len(seconds), "statuses": dict(sorted(statuses.items())),
            **{name: round(percentile(seconds, q) * 1000, 1) for name, q in
               (("p50_ms", 0.50), ("p95_ms", 0.95), ("p99_ms", 0.99))},
            "max_ms": round(seconds[-1] * 1000, 1)}


def latency_table(answers: list[Answer]) -> dict[str, dict[str, Any]]:
    """Return one latency row per kind, and an ``all`` row over every answer."""
    kinds = sorted({answer.kind for answer in answers})
    table = {kind: latency_row([a for a in answers if a.kind == kind]) for kind in kinds}
    table["all"] = latency_row(answers)
    return table


def memory_figures(samples: list[Sample], warm_up: float) -> dict[str, Any]:
    """Return RSS and descriptor figures: at start, at the end of warm-up (the baseline), max after it, at end."""
    after = [sample for sample in samples if sample.at >= warm_up]
    baseline = after[0]
    return {"rss_start_kib": samples[0].rss_kib, "rss_baseline_kib": baseline.rss_kib,
            "rss_max_after_warm_up_kib": max(s.rss_kib for s in after), "rss_end_kib": samples[-1].rss_kib,
            "fds_start": samples[0].fds, "fds_baseline": baseline.fds,
            "fds_max_after_warm_up": max(s.fds for s in after), "fds_end": samples[-1].fds,
            "samples": [asdict(sample) for sample in samples]}


def format_table(table: dict[str, dict[str, Any]], seconds: float) -> str:
    """Render the latency table as Markdown, with requests per second over the load's duration."""
    lines = ["| kind | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | statuses |",
             "|---|---|---|---|---|---|---|---|"]
    for kind, row in table.items():
        statuses = ", ".join(f"{code}: {n}" for code, n in row["statuses"].items())
        lines.append(f"| {kind} | {row['requests']} | {row['requests'] / seconds:.1f} | {row['p50_ms']} | "
                     f"{row['p95_ms']} | {row['p99_ms']} | {row['max_ms']} | {statuses} |")
    return "\n".join(lines)
