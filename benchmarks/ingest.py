"""Ingest throughput and peak memory, beside raw Tesseract on the same pages, in one run.

    python benchmarks/ingest.py [--pages 40] [--width 5000] [--height 7000] [--workers 2]

Generates a batch of vertical woodblock-style pages, then (1) runs raw
`tesseract -l chi_tra_vert --psm 3` on every page with the same parallelism, and (2)
runs `shuying ingest` (validation, checksums, QC, deskew, pyramid, OCR, METS, AIP,
storage, manifest) on a fresh home. Prints pages/minute, the ratio of our wall time
to raw Tesseract's, and peak resident memory (summed over the process tree). The
figure that matters is the ratio: these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.sample_book import write_sample_batch


def tree_rss_kib(root_pid: int) -> int:
    """Sum VmRSS over a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        pid, ppid = int(fields["Pid"]), int(fields["PPid"])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def run_measured(command: list[str], **kwargs) -> tuple[float, int]:
    """Run a command; return wall seconds and peak tree RSS in MiB."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, **kwargs)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_kib(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    done.set()
    sampler.join()
    if code != 0:
        raise SystemExit(f"{command[0]} failed with exit code {code}")
    return time.perf_counter() - start, peak // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--width", type=int, default=5000)
    parser.add_argument("--height", type=int, default=7000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shuying-bench-") as tmp:
        tmp_path = Path(tmp)
        t0 = time.perf_counter()
        batch = write_sample_batch(tmp_path / "batch", pages=args.pages, width=args.width, height=args.height,
                                   item_id="bench-book")
        print(f"generated {args.pages} pages of {args.width}x{args.height} px in {time.perf_counter() - t0:.0f} s")
        pages = sorted(batch.glob("*.tif"))
        tess_cmd = ["sh", "-c", f"ls {batch}/*.tif | xargs -P {args.workers} -I{{}} "
                    "tesseract {} - -l chi_tra_vert --psm 3 > /dev/null 2>&1"]
        tess_s, tess_mib = run_measured(tess_cmd)
        home = tmp_path / "home"
        ours_cmd = [sys.executable, "-c", "import cli; cli.main()", "--home", str(home), "ingest", str(batch),
                    "--workers", str(args.workers)]
        ours_s, ours_mib = run_measured(ours_cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(home, ignore_errors=True)
    n = len(pages)
    print(f"{'':28}{'pages/min':>10}{'wall s':>9}{'peak RSS MiB':>14}")
    print(f"{'raw tesseract --psm 3':28}{n / tess_s * 60:>10.1f}{tess_s:>9.1f}{tess_mib:>14}")
    print(f"{'shuying ingest (full)':28}{n / ours_s * 60:>10.1f}{ours_s:>9.1f}{ours_mib:>14}")
    print(f"ratio (shuying wall / raw tesseract wall), workers={args.workers}: {ours_s / tess_s:.2f}")


if __name__ == "__main__":
    main()
