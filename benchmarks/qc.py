"""QC throughput: `shuying qc` on a generated batch of large pages, in pages per second.

    python benchmarks/qc.py [--pages 100] [--size 5000x7000] [--workers 2] [--cache DIR]

Generates a vertical woodblock-style book (a cover, then text pages with the sample
book's skews and sensor noise) as LZW TIFFs with an sRGB profile at 400 ppi, and
keeps it in a cache folder (default: <tmp>/qc-benchmark-batch-<pages>-<size>) because
rendering 100 pages of 5000 x 7000 takes several minutes; a second run reuses it.
Then runs `shuying qc` on it (every check, including the batch checks and the
contact sheet) and prints the wall time, pages per second and the QC summary.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from PIL import Image, ImageCms

from pipeline.sample_book import SKEWS, batch_document, page_label
from pipeline.synthetic import render_vertical_page, sample_text_for_page

PPI = 400
DONE = ".complete"


def render_page(job: tuple[int, int, int, Path]) -> tuple[str, str, str]:
    """Render and save page ``index``; return (file, label, page type)."""
    index, width, height, folder = job
    name = f"{index + 1:04d}.tif"
    if index == 0:
        image = Image.new("RGB", (width, height), (46, 58, 92))
        image.paste((226, 214, 186), (width - width // 4, height // 12, width - width // 10, height // 3))
        label, kind = "封面", "cover"
    else:
        page = render_vertical_page(sample_text_for_page(index, 180), width=width, height=height,
                                    skew_deg=SKEWS[index % len(SKEWS)], seed=7 + index, noise=0.01)
        image, label, kind = page.image, page_label(index - 1), "page"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buffer = io.BytesIO()
    image.save(buffer, format="TIFF", compression="tiff_lzw", dpi=(PPI, PPI), icc_profile=icc)
    (folder / name).write_bytes(buffer.getvalue())
    return name, label, kind


def generated_batch(folder: Path, pages: int, width: int, height: int, workers: int) -> Path:
    """Return the cached batch folder, generating it first if it is not complete."""
    if (folder / DONE).is_file():
        print(f"using cached batch {folder}")
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        files = list(pool.map(render_page, [(i, width, height, folder) for i in range(pages)]))
    document = batch_document("bench-qc", files, ppi=PPI)
    (folder / "batch.json").write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    (folder / DONE).write_text("", encoding="utf-8")
    print(f"generated {pages} pages of {width}x{height} in {time.perf_counter() - start:.0f} s: {folder}")
    return folder


def run_shuying_qc(batch: Path, workers: int, out: Path, home: Path) -> tuple[float, str]:
    """Run `shuying qc` in a fresh process; return wall seconds and its first output line."""
    command = [sys.executable, "-c", "import cli; cli.main()", "--home", str(home), "qc", str(batch),
               "--workers", str(workers), "--out", str(out)]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1 means a page failed QC, which is still a finished run
        raise SystemExit(f"shuying qc failed ({done.returncode}):\n{done.stderr}")
    return seconds, (done.stdout.splitlines() or [""])[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--size", default="5000x7000", help="WIDTHxHEIGHT in pixels")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=None, help="folder for the generated batch")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    cache = args.cache or Path(tempfile.gettempdir()) / f"qc-benchmark-batch-{args.pages}-{width}x{height}"
    batch = generated_batch(cache, args.pages, width, height, args.workers)
    with tempfile.TemporaryDirectory(prefix="shuying-bench-qc-home-") as home:
        seconds, summary = run_shuying_qc(batch, args.workers, Path(home) / "out", Path(home))
    print(f"shuying qc: {summary}")
    print(f"{args.pages} pages of {width}x{height} px, {args.workers} workers: {seconds:.1f} s, "
          f"{args.pages / seconds:.2f} pages/second ({seconds / args.pages:.2f} s/page)")


if __name__ == "__main__":
    main()
