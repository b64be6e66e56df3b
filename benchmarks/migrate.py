"""Migration at scale: `shuying migrate` over N tiny items, watching memory and file descriptors.

    python benchmarks/migrate.py [--items 100] [--pages 1] [--checkpoints 10,100,200,500,1000,2000]
                                 [--workers 1] [--cache DIR] [--home DIR] [--keep]

Generates a legacy tree of N items (``--pages`` vertical woodblock-style pages each,
640 x 900 px LZW TIFF at 300 ppi, the smallest the legacy profile passes without
overrides) and its inventory CSV, kept in a cache folder (default:
<tmp>/migrate-benchmark-<pages>p) so a longer run reuses the items of a shorter one.
Ten distinct pages are rendered once; items hard-link them (the source is only read).
Then runs the migration in this process (the workflow API, as `shuying migrate` does)
and prints, after the item counts in ``--checkpoints`` and at the end: RSS and peak RSS
(VmRSS, VmHWM from /proc/self/status), open file descriptors and items per minute
(overall and since the previous checkpoint). A run whose RSS and descriptors stay flat
from checkpoint to checkpoint can go on for the 2000-item goal and beyond.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from PIL import ImageCms

from pipeline.migrate import COLUMN_NAMES
from pipeline.synthetic import render_vertical_page, sample_text_for_page
from storage_config.settings import load_settings
from workflows.migrate import MigrationRequest, run_migration

PPI = 300
SIZE = (640, 900)
VARIANTS = 10
DONE = ".complete"


def render_variants(folder: Path) -> list[Path]:
    """Render the distinct pages every item links to (once per cache folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    paths = []
    for index in range(VARIANTS):
        path = folder / f"variant-{index}.tif"
        if not path.is_file():
            page = render_vertical_page(sample_text_for_page(index + 1, 180), width=SIZE[0], height=SIZE[1],
                                        seed=11 + index, noise=0.01)
            buffer = io.BytesIO()
            page.image.save(buffer, format="TIFF", compression="tiff_lzw", dpi=(PPI, PPI), icc_profile=icc)
            path.write_bytes(buffer.getvalue())
        paths.append(path)
    return paths


def generated_tree(cache: Path, items: int, pages: int) -> tuple[Path, Path]:
    """Return (ROOT, inventory) with at least ``items`` item folders, generating what is missing."""
    root, variants = cache / "root", render_variants(cache / "variants")
    start = time.perf_counter()
    for index in range(items):
        folder = root / f"{index // 1000:02d}" / f"LB-{index:05d}"
        if (folder / DONE).is_file():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        for page in range(pages):
            target = folder / f"scan_{page + 1}.tif"
            if not target.exists():
                os.link(variants[(index + page) % VARIANTS], target)
        (folder / DONE).write_text("", encoding="utf-8")
    inventory = cache / f"bench-{items}.csv"
    write_inventory(inventory, items)
    print(f"legacy tree ready: {items} items x {pages} pages in {root} ({time.perf_counter() - start:.0f} s)",
          flush=True)
    return root, inventory


def write_inventory(path: Path, items: int) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMN_NAMES)
        writer.writeheader()
        for index in range(items):
            writer.writerow({"item_id": f"LB-{index:05d}", "folder": f"{index // 1000:02d}/LB-{index:05d}",
                             "title": f"論語十卷 (benchmark {index})", "material_type": "ancient_book",
                             "languages": "lzh;zh-Hant", "script_direction": "vertical-rl",
                             "declared_ppi": str(PPI), "access_level": "public"})


def process_figures() -> dict[str, float]:
    """RSS and peak RSS in MB, and open file descriptors, of this process."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return {"rss_mb": fields["VmRSS"], "peak_mb": fields["VmHWM"], "fds": len(os.listdir("/proc/self/fd"))}


class Checkpoints:
    """Print the figures after the given item counts and at the end."""

    def __init__(self, counts: set[int], total: int) -> None:
        self.counts, self.total = counts | {total}, total
        self.start = self.last_time = time.perf_counter()
        self.last_count, self.statuses = 0, {}
        print(f"{'items':>6} {'RSS MB':>8} {'peak MB':>8} {'fds':>5} {'items/min':>10} {'(since last)':>12}  "
              "statuses", flush=True)

    def __call__(self, index: int, total: int, outcome) -> None:
        self.statuses[outcome.status] = self.statuses.get(outcome.status, 0) + 1
        if outcome.status in ("refused", "failed"):
            print(f"  item {index} {outcome.item_id} {outcome.status}: {'; '.join(outcome.reasons)[:300]}", flush=True)
        if index not in self.counts:
            return
        now = time.perf_counter()
        figures = process_figures()
        overall = index / (now - self.start) * 60
        recent = (index - self.last_count) / (now - self.last_time) * 60
        self.last_count, self.last_time = index, now
        shown = ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items()))
        print(f"{index:>6} {figures['rss_mb']:>8.1f} {figures['peak_mb']:>8.1f} {figures['fds']:>5} "
              f"{overall:>10.2f} {recent:>12.2f}  {shown}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--pages", type=int, default=1, help="pages per item")
    parser.add_argument("--checkpoints", default="10,100,200,500,1000,1500,2000")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=None, help="where the legacy tree is kept between runs")
    parser.add_argument("--home", type=Path, default=None, help="Shuying home (default: a fresh temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the Shuying home afterwards")
    args = parser.parse_args()
    cache = args.cache or Path(tempfile.gettempdir()) / f"migrate-benchmark-{args.pages}p"
    root, inventory = generated_tree(cache, args.items, args.pages)
    home = args.home or Path(tempfile.mkdtemp(prefix="migrate-benchmark-home-"))
    settings = load_settings(environ={}, home=str(home))
    print(f"home {home}; before the run: {process_figures()}", flush=True)
    checkpoints = Checkpoints({int(c) for c in args.checkpoints.split(",") if c}, args.items)
    start = time.perf_counter()
    report = run_migration(inventory, root, settings, MigrationRequest(workers=args.workers), on_item=checkpoints)
    minutes = (time.perf_counter() - start) / 60
    print(f"done: {report.document['totals']} in {minutes:.1f} min; report {report.paths.report}", flush=True)
    if not args.keep and args.home is None:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
