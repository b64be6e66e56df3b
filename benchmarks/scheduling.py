"""Scheduling overhead of an ingest, beside bare Luigi on a graph of the same shape, in one run.

    python benchmarks/scheduling.py [--pages 50,200,500,1000,2000] [--profile PAGES] [--keep]

For each size, generates a batch of tiny masters (64×90 px TIFFs: scheduling never
opens them) and measures, each in a fresh process:

- fresh: ``run_ingest`` (the CLI's path: batch checks, adopting unstamped outputs, then
  Luigi's local scheduler with ``detailed_summary``) from the call until the first
  task's ``run()`` begins (Luigi's ``Event.START``); the child then exits at once;
- re-run: the same call on an item whose every output and stamp is in place (made by a
  setup process: placeholder products, then ``adopt_unstamped``), to its return: the
  "nothing to do" walk, complete() and identity of every task;
- bare Luigi: the same two walks over dummy tasks wired like the ingest graph (3 per
  page + 9), whose ``complete()`` reads no file: False for the fresh walk, "all my
  requirements are complete" for the re-run walk, so Luigi touches every task as ours does.

batch.json loads are counted by a spy around ``pipeline.batch._read_batch_json``, the one
reader every ``load_batch`` goes through; file opens by a spy around ``io.open``. Peak
RSS is the child's own (``ru_maxrss``). ``--profile PAGES`` prints the cProfile top of the
fresh and re-run walks of that size.
"""

from __future__ import annotations

import argparse
import builtins
import cProfile
import io
import json
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import luigi

WIDTH, HEIGHT = 64, 90


# --- the batch ------------------------------------------------------------------------------------


def write_tiny_batch(dest: Path, pages: int) -> Path:
    """A batch.json of ``pages`` pages (a cover, then text pages) over distinct 64×90 px TIFFs."""
    from PIL import Image

    from pipeline.sample_book import batch_document

    dest.mkdir(parents=True, exist_ok=True)
    files = []
    for index in range(pages):
        name = f"{index + 1:04d}.tif"
        image = Image.new("L", (WIDTH, HEIGHT), 230)
        image.putpixel((index % WIDTH, (index // WIDTH) % HEIGHT), 0)  # no two masters alike
        image.save(dest / name, format="TIFF", dpi=(400, 400))
        files.append((name, "封面", "cover") if index == 0 else (name, f"葉{index}", "page"))
    document = batch_document(f"sched-{pages}", files, ppi=400)
    (dest / "batch.json").write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    return dest


def make_complete(batch_dir: Path, home: Path) -> int:
    """Put a placeholder for every output of the ingest graph, then stamp them as a real run would.

    Returns the number of tasks in the graph.
    """
    from pipeline.atomic import write_json_atomic
    from pipeline.batch import load_batch
    from storage_config.settings import load_settings
    from workflows.base import ShuyingTask, adopt_unstamped, task_graph
    from workflows.ingest import Ocr, page_plan
    from workflows.layout import ItemLayout
    from workflows.run import ingest_task

    settings = load_settings(environ={}, home=str(home))
    batch = load_batch(batch_dir)
    layout = ItemLayout(settings.work_dir, settings.publish_dir, batch.item_id)
    task = ingest_task(batch, settings)
    tasks = list(task_graph(task))
    for each in tasks:
        if not isinstance(each, ShuyingTask):
            continue
        product = Path(each.product().path)
        if product.suffix:  # validation.json, mets.xml …
            product.parent.mkdir(parents=True, exist_ok=True)
            product.write_text("{}", encoding="utf-8")
        else:  # derivative/, ocr/, the AIP folder
            product.mkdir(parents=True, exist_ok=True)
        if isinstance(each, Ocr):  # read by check_ocr_engine once METS exists
            engine = page_plan(batch, batch.leaf(each.page_id), "auto").engine.value
            write_json_atomic(product / "ocr.json", {"engine": engine})
    # check_masters_unchanged compares size and mtime with checksums.json: recorded as they are.
    write_json_atomic(layout.checksums, {"masters": {
        page.page_id: {"file": page.file, "size": batch.master_path(page).stat().st_size, "sha512": "",
                       "mtime_ns": batch.master_path(page).stat().st_mtime_ns} for page in batch.pages}})
    layout.manifest.parent.mkdir(parents=True, exist_ok=True)
    layout.manifest.write_text("{}", encoding="utf-8")
    adopt_unstamped(task, layout)
    return len(tasks)


# --- bare Luigi: the same shape, no files -----------------------------------------------------------


class Bare(luigi.Task):
    """A dummy task of the ingest graph's shape: ``kind`` names its place, ``page`` its page."""

    kind = luigi.Parameter()
    page = luigi.IntParameter(default=0)
    pages = luigi.IntParameter(significant=False)
    done = luigi.BoolParameter(significant=False, default=False)

    def requires(self) -> list[luigi.Task]:
        node = {"pages": self.pages, "done": self.done}

        def each(kind: str) -> list[luigi.Task]:
            return [Bare(kind=kind, page=p, **node) for p in range(1, self.pages + 1)]

        return {
            "root": lambda: [Bare(kind="publish", **node), Bare(kind="review", **node)],
            "publish": lambda: [Bare(kind="store", **node)],
            "store": lambda: [Bare(kind="aip", **node)],
            "aip": lambda: [Bare(kind="mets", **node)],
            "mets": lambda: [Bare(kind="checksums", **node), Bare(kind="batchqc", **node), *each("ocr")],
            "review": lambda: [Bare(kind="batchqc", **node), *each("ocr")],
            "batchqc": lambda: each("pageqc"),
            "pageqc": lambda: [Bare(kind="checksums", **node)],
            "ocr": lambda: [Bare(kind="derivative", page=self.page, **node)],
            "derivative": lambda: [Bare(kind="checksums", **node)],
            "checksums": lambda: [Bare(kind="validate", **node)],
            "validate": lambda: [],
        }[str(self.kind)]()

    def complete(self) -> bool:
        # The re-run floor: complete when every requirement is, as our identity reaches every task.
        return bool(self.done) and all(t.complete() for t in self.requires())

    def run(self) -> None:
        pass


# --- children: one measurement each, in a fresh process ---------------------------------------------


class Spies:
    """Count calls of the real batch.json reader and file opens by kind; both call through."""

    def __init__(self) -> None:
        import pipeline.batch

        self.loads = 0
        self.opens: Counter[str] = Counter()
        real_read, real_open = pipeline.batch._read_batch_json, io.open

        def read_batch_json(folder: Path) -> dict:
            self.loads += 1
            return real_read(folder)

        def counted_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.opens[_kind(str(file))] += 1
            return real_open(file, *args, **kwargs)

        pipeline.batch._read_batch_json = read_batch_json
        # pathlib's read_text/read_bytes open through io.open, the rest through builtins.open.
        io.open = builtins.open = counted_open


def _kind(path: str) -> str:
    name = os.path.basename(path)
    if "/identity/" in path:
        return "stamp"
    return name if name in {"batch.json", "checksums.json", "ingest-request.json", "ocr.json"} else "other"


def child(mode: str, batch_dir: Path, home: Path, pages: int, profile_out: str) -> None:
    """Measure one walk and print its figures as one JSON line (the fresh walks end at Event.START)."""
    spies = Spies() if not mode.startswith("bare") else None
    profiler = cProfile.Profile() if profile_out else None
    started: list[float] = []
    start = time.perf_counter()

    def report(seconds: float, ran: int) -> None:
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile_out)
        print(json.dumps({"mode": mode, "seconds": seconds, "ran": ran,
                          "loads": spies.loads if spies else 0, "opens": dict(spies.opens) if spies else {},
                          "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)

    @luigi.Task.event_handler(luigi.Event.START)
    def first_run(task: luigi.Task) -> None:
        started.append(time.perf_counter())
        if mode.endswith("fresh"):
            report(started[0] - start, 1)
            os._exit(0)  # the work itself is not what is measured

    # Imports are not scheduling: the clock starts once the modules are loaded.
    from storage_config.settings import load_settings
    from workflows.run import run_ingest

    if profiler:
        profiler.enable()
    start = time.perf_counter()
    if mode.startswith("bare"):
        root = Bare(kind="root", pages=pages, done=mode == "bare-rerun")
        luigi.build([root], local_scheduler=True, detailed_summary=True, workers=1, no_lock=True)
    else:
        result = run_ingest(batch_dir, load_settings(environ={}, home=str(home)), workers=1)
        if mode == "rerun" and not result.ok:
            raise SystemExit(f"the re-run did not find the item complete: {result.status}")
    report(time.perf_counter() - start, len(started))


def measure(mode: str, batch_dir: Path, home: Path, pages: int, profile_out: str = "") -> dict:
    """Run one child process; return its figures."""
    command = [sys.executable, __file__, "--child", mode, "--batch", str(batch_dir), "--home", str(home),
               "--pages", str(pages)] + (["--profile-out", profile_out] if profile_out else [])
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"{mode} ({pages} pages) failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


def show_profile(path: str, title: str) -> None:
    print(f"\n--- cProfile: {title} (top 25 by cumulative time) ---")
    stats = pstats.Stats(path)
    stats.sort_stats("cumulative").print_stats(25)


def row(pages: int, tasks: int, ours: dict, bare: dict) -> str:
    opens = ", ".join(f"{k} {v}" for k, v in sorted(ours["opens"].items()) if k != "other")
    return (f"| {pages} | {tasks} | {ours['seconds']:.2f} | {ours['seconds'] / pages * 1000:.1f} | "
            f"{bare['seconds']:.2f} | {ours['seconds'] / bare['seconds']:.1f} | {ours['loads']} | "
            f"{opens or '—'} | {ours['rss_mb']:.0f} ({bare['rss_mb']:.0f}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", default="50,200,500,1000,2000", help="comma-separated batch sizes")
    parser.add_argument("--profile", type=int, default=0, help="print the cProfile top of this size's walks")
    parser.add_argument("--keep", action="store_true", help="keep the generated batches")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--batch", default="", help=argparse.SUPPRESS)
    parser.add_argument("--home", default="", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, Path(args.batch), Path(args.home), int(args.pages), args.profile_out)
        return
    sizes = [int(n) for n in args.pages.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="shuying-sched-"))
    load_before = os.getloadavg()
    tables: dict[str, list[str]] = {"fresh": [], "rerun": []}
    try:
        for pages in sizes:
            batch_dir = write_tiny_batch(tmp / f"b{pages}" / "batch", pages)
            fresh_home, done_home = tmp / f"b{pages}" / "home-fresh", tmp / f"b{pages}" / "home-done"
            profiling = pages == args.profile
            fresh = measure("fresh", batch_dir, fresh_home, pages, str(tmp / "fresh.prof") if profiling else "")
            bare_fresh = measure("bare-fresh", batch_dir, fresh_home, pages)
            tasks = make_complete(batch_dir, done_home)
            rerun = measure("rerun", batch_dir, done_home, pages, str(tmp / "rerun.prof") if profiling else "")
            bare_rerun = measure("bare-rerun", batch_dir, done_home, pages)
            tables["fresh"].append(row(pages, tasks, fresh, bare_fresh))
            tables["rerun"].append(row(pages, tasks, rerun, bare_rerun))
            print(f"{pages} pages: fresh {fresh['seconds']:.2f} s (bare {bare_fresh['seconds']:.2f}), "
                  f"re-run {rerun['seconds']:.2f} s (bare {bare_rerun['seconds']:.2f})", file=sys.stderr)
            if profiling:
                show_profile(str(tmp / "fresh.prof"), f"fresh walk, {pages} pages")
                show_profile(str(tmp / "rerun.prof"), f"re-run walk, {pages} pages")
        load_after = os.getloadavg()
        header = ("| pages | tasks | ours s | ours ms/page | bare Luigi s | ours / bare | batch.json loads | "
                  "other reads | peak RSS MB (bare) |\n|---|---|---|---|---|---|---|---|---|")
        for title, key in (("Fresh run: start to the first task's run()", "fresh"),
                           ("Re-run, nothing to do: start to return", "rerun")):
            print(f"\n{title}\n\n{header}")
            print("\n".join(tables[key]))
        print(f"\nload average: {' '.join(f'{x:.2f}' for x in load_before)} before, "
              f"{' '.join(f'{x:.2f}' for x in load_after)} after ({os.cpu_count()} CPUs)")
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
