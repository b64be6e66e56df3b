"""Ingest throughput, CPU per task and peak memory, beside the raw OCR engine on the same pages, in one run.

    python benchmarks/ingest.py [--pages 40] [--width 5000] [--height 7000] [--workers 2]
                                [--engines tesseract,ppocr] [--cache DIR] [--keep]
    python benchmarks/ingest.py --big [--big-size 12000x16000]      # one large colour master
    python benchmarks/ingest.py --many 400 [--width 1400 --height 2000]   # memory stays bounded?

Generates a vertical woodblock-style book (a cover, then text pages with the sample
book's skews and noise; benchmarks/qc.py's generator) and caches it in ``--cache``
(default <tmp>/ingest-benchmark-batch-<pages>-<size>), so a re-run skips the rendering.
Then, for each OCR engine in ``--engines``:

1. the raw engine the ingest uses for these pages, at the same parallelism, as a new
   user would run it: Tesseract with the pipeline's ``-l`` and vertical ``--psm`` as one
   process per page, ``--workers`` at a time (xargs -P); or ``RapidOCR()(path)`` in
   ``--workers`` processes, each loading the models once;
2. ``shuying ingest --ocr-engine ENGINE`` (validation, checksums, QC, derivative, OCR,
   METS, AIP, stored copy, manifest) on a fresh home.

For each it prints wall time, pages/minute, CPU seconds per page (the whole process
tree), peak RSS of the tree and of its largest single process, and the machine's load
average before and after; for the ingest also the ratio of its wall time to the raw
engine's, and CPU seconds per page by task. Per-task figures come from the opt-in hook
of workflows/base.py (``SHUYING_TASK_TIMINGS``): every task run appends its wall time,
its process's CPU (Luigi runs each task in a forked process when workers > 1) plus that
of the subprocesses it waited for (Tesseract), and its peak RSS. CPU outside any task
(start-up, Luigi's scheduling and completeness checks) is the tree's total minus theirs.

``--big`` ingests one 12000 x 16000 colour master (576 MB decoded) instead of the book;
``--big-size`` makes it smaller for a quick check. ``--many N`` ingests an N-page book
of ``--width`` x ``--height`` pages (give them small, e.g. 1400 x 2000) and also prints
the tree's RSS when 25, 50, 75 and 100 % of the pages have been read (Ocr tasks done),
to show whether memory grows with the page count. ``--keep`` leaves the ingest homes
(work folders, timings.jsonl) in place and prints where.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.qc import DONE, PPI, generated_batch, render_page
from pipeline.batch import load_batch
from pipeline.ocr import plan_ocr
from pipeline.ocr.tesseract import VERTICAL_PSM
from pipeline.sample_book import batch_document
from workflows.base import TIMINGS_VARIABLE

# Task families, grouped as the pipeline's steps; a family not listed is shown under its own name.
STEPS = {"ValidateBatch": "validate", "ChecksumMasters": "checksum", "PageQC": "QC", "BatchQC": "QC",
         "Derivative": "derivative", "Ocr": "OCR", "OcrReview": "OCR", "BuildMets": "METS", "BuildAip": "AIP",
         "StoreAip": "store", "PublishManifest": "publish"}
STEP_ORDER = ["validate", "checksum", "QC", "derivative", "OCR", "METS", "AIP", "store", "publish"]
SAMPLE_SECONDS = 0.25

# RapidOCR as a new user runs it: RapidOCR() with its defaults, once per process, then one call per page.
RAPIDOCR_POOL = """
import sys
from concurrent.futures import ProcessPoolExecutor

def load():
    global engine
    from rapidocr import RapidOCR
    engine = RapidOCR()

def read(path):
    return len(engine(path).txts or ())

if __name__ == "__main__":
    with ProcessPoolExecutor(int(sys.argv[1]), initializer=load) as pool:
        print(sum(pool.map(read, sys.argv[2:])), "lines")
"""


@dataclass
class Measured:
    """What one run cost: wall and CPU seconds (whole tree), peak RSS (MiB) and RSS over time."""

    wall: float
    cpu: float
    peak_tree_mib: int
    peak_process_mib: int
    timeline: list[tuple[float, int, int]] = field(default_factory=list)  # (seconds, tree MiB, pages done)


def process_table() -> tuple[dict[int, list[int]], dict[int, int]]:
    """Return children by parent pid and VmRSS (KiB) by pid, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        pid = int(fields["Pid"])
        children.setdefault(int(fields["PPid"]), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    return children, rss


def tree_rss_kib(root_pid: int) -> dict[int, int]:
    """Return VmRSS (KiB) of a process and each of its descendants."""
    children, rss = process_table()
    found, stack = {}, [root_pid]
    while stack:
        pid = stack.pop()
        found[pid] = rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return found


def run_measured(command: list[str], *, progress: Callable[[], int] | None = None, **kwargs) -> Measured:
    """Run ``command``, sampling its process tree's RSS; raise SystemExit if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(command, **kwargs)
    peaks: dict[int, int] = {}
    timeline: list[tuple[float, int, int]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            sizes = tree_rss_kib(proc.pid)
            for pid, kib in sizes.items():
                peaks[pid] = max(peaks.get(pid, 0), kib)
            timeline.append((time.perf_counter() - start, sum(sizes.values()) // 1024, progress() if progress else 0))
            time.sleep(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        tail = (stderr or b"").decode("utf-8", "replace").strip().splitlines()[-15:]
        raise SystemExit(f"{' '.join(command[:3])} … failed with exit code {proc.returncode}\n" + "\n".join(tail))
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Measured(wall, cpu, max((t[1] for t in timeline), default=0),
                    max(peaks.values(), default=0) // 1024, timeline)


def raw_tesseract(masters: list[Path], lang: str, workers: int) -> Measured:
    """Raw Tesseract on every master, one process per page, ``workers`` at a time."""
    command = ["xargs", "-0", "-P", str(workers), "-I{}", "tesseract", "{}", "-", "-l", lang, "--psm", VERTICAL_PSM]
    listing = subprocess.Popen(["printf", "%s\\0", *map(str, masters)], stdout=subprocess.PIPE)
    measured = run_measured(command, stdin=listing.stdout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    listing.wait()
    return measured


def raw_rapidocr(masters: list[Path], workers: int) -> Measured:
    """RapidOCR with its defaults on every master, in ``workers`` processes loading the models once each."""
    return run_measured([sys.executable, "-c", RAPIDOCR_POOL, str(workers), *map(str, masters)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def shuying_ingest(batch: Path, home: Path, engine: str, workers: int) -> tuple[Measured, list[dict]]:
    """``shuying ingest`` of ``batch`` into a fresh ``home``; return its figures and task timings."""
    timings = home / "timings.jsonl"
    home.mkdir(parents=True)
    leaves = len(load_batch(batch).leaves)
    command = [sys.executable, "-c", "import cli; cli.main()", "--home", str(home), "ingest", str(batch),
               "--workers", str(workers), "--ocr-engine", engine]
    env = {**os.environ, TIMINGS_VARIABLE: str(timings)}
    measured = run_measured(command, progress=lambda: pages_read(timings), cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if pages_read(timings) < leaves:
        print(f"warning: only {pages_read(timings)} of {leaves} pages were read")
    return measured, read_timings(timings)


def read_timings(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def pages_read(path: Path) -> int:
    """Count the Ocr tasks done so far (the last task of a page)."""
    try:
        return sum('"task": "Ocr"' in line and '"ok": true' in line for line in path.read_text().splitlines())
    except OSError:
        return 0


def cpu_by_step(timings: list[dict]) -> dict[str, float]:
    """Sum each step's CPU seconds (the task's process plus the subprocesses it waited for)."""
    steps: dict[str, float] = {}
    for line in timings:
        step = STEPS.get(line["task"], line["task"])
        steps[step] = steps.get(step, 0.0) + line["cpu_self"] + line["cpu_children"]
    return steps


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def big_batch(folder: Path, width: int, height: int) -> Path:
    """Return a cached one-page batch: a text page of ``width`` x ``height`` in colour."""
    if (folder / DONE).is_file():
        print(f"using cached batch {folder}")
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    name, label, kind = render_page((1, width, height, folder))
    (folder / "batch.json").write_text(json.dumps(batch_document("bench-big", [(name, label, kind)], ppi=PPI),
                                                  ensure_ascii=False, indent=2), encoding="utf-8")
    (folder / DONE).write_text("", encoding="utf-8")
    print(f"generated one {width}x{height} page in {time.perf_counter() - start:.0f} s: {folder}")
    return folder


def print_run(label: str, pages: int, measured: Measured, load: tuple[str, str]) -> None:
    print(f"  {label:<24}{measured.wall:>8.1f}{pages / measured.wall * 60:>10.1f}{measured.cpu / pages:>9.1f}"
          f"{measured.peak_tree_mib:>10}{measured.peak_process_mib:>10}   {load[0]} → {load[1]}")


def print_steps(timings: list[dict], measured: Measured, pages: int) -> None:
    """Print CPU seconds per page by step, and the largest peak RSS of one task's process."""
    steps = cpu_by_step(timings)
    order = STEP_ORDER + sorted(set(steps) - set(STEP_ORDER))
    outside = measured.cpu - sum(steps.values())
    print("  CPU s/page by task: " + ", ".join(f"{s} {steps.get(s, 0.0) / pages:.2f}" for s in order)
          + f"; outside tasks {outside / pages:.2f}")
    if timings:
        top = max(timings, key=lambda t: max(t["maxrss_kib"], t["children_maxrss_kib"]))
        print(f"  peak RSS of one task's process: {top['maxrss_kib'] // 1024} MiB ({top['task']} {top['page']}; "
              f"its largest subprocess {top['children_maxrss_kib'] // 1024} MiB)")


def print_quartiles(measured: Measured, pages: int) -> None:
    """Print the tree's RSS when a quarter, half, three quarters and all pages were read."""
    parts = []
    for quarter in (1, 2, 3, 4):
        due = (pages * quarter + 3) // 4
        reached = [t for t in measured.timeline if t[2] >= due]
        upto = [t[1] for t in measured.timeline if not reached or t[0] <= reached[0][0]]
        at = f"{reached[0][1]} MiB at {reached[0][0]:.0f} s" if reached else "not reached"
        parts.append(f"{quarter * 25}% ({due} pages): {at}, peak so far {max(upto, default=0)} MiB")
    print("  tree RSS as pages are read: " + "; ".join(parts))


def compare(batch: Path, engines: list[str], workers: int, keep: Path | None, quartiles: bool) -> None:
    """Run each engine raw and through the ingest on ``batch``, printing the figures."""
    loaded = load_batch(batch)
    masters = [loaded.master_path(page) for page in loaded.pages]
    pages = len(masters)
    print(f"{pages} pages, workers {workers}; columns: wall s, pages/min, CPU s/page, peak RSS MiB of the "
          "tree and of its largest process, load average before → after")
    for engine in engines:
        plan = plan_ocr(loaded.languages, loaded.script_direction.value, loaded.material_type.value, override=engine)
        print(f"{engine}:")
        load_before = load_average()
        if engine == "tesseract":
            raw, label = raw_tesseract(masters, plan.lang, workers), f"raw tesseract --psm {VERTICAL_PSM}"
        else:
            raw, label = raw_rapidocr(masters, workers), "raw RapidOCR()"
        print_run(label, pages, raw, (load_before, load_average()))
        home = Path(tempfile.mkdtemp(prefix=f"shuying-bench-ingest-{engine}-", dir=keep))
        load_before = load_average()
        ours, timings = shuying_ingest(batch, home / "home", engine, workers)
        print_run("shuying ingest", pages, ours, (load_before, load_average()))
        print(f"  ratio ours/raw: wall {ours.wall / raw.wall:.2f}, CPU {ours.cpu / raw.cpu:.2f}")
        print_steps(timings, ours, pages)
        if quartiles:
            print_quartiles(ours, len(loaded.leaves))
        if keep:
            print(f"  kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


def size(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split("x"))
    return width, height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--width", type=int, default=5000)
    parser.add_argument("--height", type=int, default=7000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--engines", default="tesseract,ppocr", help="comma-separated: tesseract, ppocr")
    parser.add_argument("--cache", type=Path, help="folder for the generated batch (kept between runs)")
    parser.add_argument("--keep", action="store_true", help="keep the ingest homes and timings")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--big", action="store_true", help="one large colour master instead of the book")
    mode.add_argument("--many", type=int, metavar="N", help="an N-page book, with RSS as pages are read")
    parser.add_argument("--big-size", type=size, default=(12000, 16000), metavar="WxH")
    args = parser.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if unknown := set(engines) - {"tesseract", "ppocr"}:
        parser.error(f"--engines: unknown {', '.join(sorted(unknown))} (use tesseract, ppocr)")
    tmp = Path(tempfile.gettempdir())
    if args.big:
        width, height = args.big_size
        batch = big_batch(args.cache or tmp / f"ingest-benchmark-big-{width}x{height}", width, height)
    else:
        pages = args.many or args.pages
        cache = args.cache or tmp / f"ingest-benchmark-batch-{pages}-{args.width}x{args.height}"
        batch = generated_batch(cache, pages, args.width, args.height, args.workers)
    keep = Path(tempfile.mkdtemp(prefix="shuying-bench-ingest-kept-")) if args.keep else None
    compare(batch, engines, args.workers, keep, quartiles=bool(args.many))


if __name__ == "__main__":
    main()
