"""Skew estimation accuracy and speed: ours beside the PyPI packages `deskew` and `jdeskew`, same images, one run.

    python benchmarks/deskew.py [--per-kind 30] [--size 1400x2000] [--reference-python PATH] [--cache DIR]

The test set, every page rotated by a known angle spread over [-7, 7] degrees (0 included):

* woodblock     generated vertical pages with the double frame and column rules (seals, blur, noise, 明/楷)
* horizontal    generated Republican-era horizontal print, with and without a frame
* sparse-framed generated framed vertical pages with only 5-30 characters
* sparse-lines  generated unframed horizontal pages with one to three lines of text
* real          the real woodblock scans in ../shared/samples/woodblock/, rotated by known non-zero
                angles (bicubic, canvas grown, corners filled with paper white). A real leaf has no
                single true angle (hand-cut frames and columns disagree by tenths of a degree), so
                each tool is scored on recovering the rotation: the truth is the angle applied plus
                that tool's own estimate on the unrotated scan. (0 degrees would score 0 for every
                tool here; it is in each generated set, where the truth is exact.)

Errors are |estimate - truth| in degrees. ``deskew`` and ``jdeskew`` (and their dependencies)
need not be installed in Shuying's venv: give ``--reference-python`` an interpreter that has
them (see benchmarks/README.md); they then run in a subprocess on the same files. Each tool's
time is for its estimator call on an already-decoded greyscale array.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import cv2
import numpy as np

from pipeline.deskew import estimate_skew, straightening_affine
from pipeline.synthetic import (
    render_horizontal_page,
    render_vertical_page,
    sample_text_for_page,
)

REAL_SCANS = REPO.parent / "shared" / "samples" / "woodblock"
REAL_ANGLES = (-7.0, -4.6, -2.3, -0.7, -0.25, 0.35, 1.8, 3.9, 5.5, 6.95)
KINDS = ("woodblock", "horizontal", "sparse-framed", "sparse-lines")
METHODS = ("ours", "deskew", "jdeskew")

# Runs in the reference interpreter: reads file paths (JSON) on stdin, writes one JSON line
# per file with both tools' angles (converted to our sign: positive = counter-clockwise) and times.
REFERENCE_WORKER = r"""
import json, sys, time
import cv2
from deskew import determine_skew
from jdeskew.estimator import get_angle
for path in json.load(sys.stdin):
    grey = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    t0 = time.perf_counter(); d = determine_skew(grey); t1 = time.perf_counter()
    j = get_angle(grey); t2 = time.perf_counter()
    print(json.dumps({"file": path, "deskew": -float(d or 0.0), "deskew_s": t1 - t0,
                      "jdeskew": -float(j), "jdeskew_s": t2 - t1}), flush=True)
"""


@dataclass(frozen=True)
class Case:
    file: str
    kind: str
    angle: float  # applied rotation, counter-clockwise degrees
    base: str = ""  # for rotated real scans: the unrotated file whose estimate is added


def generate(folder: Path, per_kind: int, width: int, height: int, seed: int) -> list[Case]:
    """Render the generated pages (or reuse them) and return their cases."""
    index_file = folder / "cases.json"
    if index_file.is_file():
        cases = [Case(**c) for c in json.loads(index_file.read_text(encoding="utf-8"))]
        if len([c for c in cases if c.kind in KINDS]) == per_kind * len(KINDS):
            return cases
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cases = []
    for kind in KINDS:
        angles = np.round(rng.uniform(-7, 7, per_kind), 3)
        angles[:: max(1, per_kind // 3)][:2] = 0.0  # 0 degrees is in every kind's set, twice
        for i, angle in enumerate(angles):
            path = folder / f"{kind}-{i:03d}.png"
            cv2.imwrite(str(path), cv2.cvtColor(_render(kind, i, float(angle), width, height, rng), cv2.COLOR_RGB2BGR))
            cases.append(Case(str(path), kind, float(angle)))
    index_file.write_text(json.dumps([c.__dict__ for c in cases]), encoding="utf-8")
    return cases


def _render(kind: str, i: int, angle: float, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    blur, noise, seed = float(rng.uniform(0, 1.5)), float(rng.uniform(0, 0.04)), 1000 + i
    size = {"width": width, "height": height, "skew_deg": angle, "seed": seed, "blur": blur, "noise": noise}
    if kind == "woodblock":
        page = render_vertical_page(sample_text_for_page(i), seal=bool(i % 2), style=("ming", "kai")[i % 2], **size)
    elif kind == "horizontal":
        page = render_horizontal_page(sample_text_for_page(i, 600), frame=bool(i % 2), **size)
    elif kind == "sparse-framed":
        page = render_vertical_page(sample_text_for_page(i, int(rng.integers(5, 30))), **size)
    else:
        page = render_horizontal_page(sample_text_for_page(i, int(rng.integers(28, 84))), frame=False, **size)
    return np.asarray(page.image)


def rotate_real(folder: Path, scans: list[Path]) -> list[Case]:
    """Rotate each real scan by every REAL_ANGLES angle; return cases (and the unrotated bases)."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for scan in scans:
        grey = cv2.imread(str(scan), cv2.IMREAD_GRAYSCALE)
        cases.append(Case(str(scan), "real-base", 0.0))
        for angle in REAL_ANGLES:
            path = folder / f"{scan.stem}-{angle:+.2f}.png"
            cv2.imwrite(str(path), rotate(grey, angle))
            cases.append(Case(str(path), "real", angle, base=str(scan)))
    return cases


def rotate(grey: np.ndarray, angle: float) -> np.ndarray:
    """Rotate content ``angle`` degrees counter-clockwise onto a grown canvas filled with paper white."""
    if angle == 0:
        return grey.copy()
    affine, width, height = straightening_affine(-angle, grey.shape[1], grey.shape[0])
    matrix = np.array(affine, float).reshape(2, 3)
    matrix[:, 2] += 0.5 * (matrix[:, 0] + matrix[:, 1]) - 0.5  # pixel centres at integers, as OpenCV has them
    paper = int(np.percentile(grey, 90))
    return cv2.warpAffine(grey, matrix, (width, height), flags=cv2.INTER_CUBIC, borderValue=paper)


def run_ours(cases: list[Case]) -> dict[str, tuple[float, float, float]]:
    """Return file -> (angle, seconds, confidence) for our estimator."""
    found = {}
    for case in cases:
        grey = cv2.imread(case.file, cv2.IMREAD_GRAYSCALE)
        start = time.perf_counter()
        estimate = estimate_skew(grey)
        found[case.file] = (estimate.angle, time.perf_counter() - start, estimate.confidence)
    return found


def run_reference(cases: list[Case], python: str) -> dict[str, dict]:
    """Run deskew and jdeskew in ``python`` on the same files; return file -> their results."""
    files = json.dumps([c.file for c in cases])
    done = subprocess.run([python, "-c", REFERENCE_WORKER], input=files, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(
            f"{python} cannot run deskew and jdeskew:\n{done.stderr.strip().splitlines()[-1]}\n"
            "Install them, e.g.: python3 -m venv /tmp/deskew-ref && "
            "/tmp/deskew-ref/bin/pip install deskew jdeskew opencv-python-headless\n"
            "then pass --reference-python /tmp/deskew-ref/bin/python")
    return {row["file"]: row for row in map(json.loads, done.stdout.splitlines())}


def errors_by_method(cases: list[Case], ours: dict, reference: dict) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """Return method -> kind -> [(absolute error, seconds)]; real scans are scored on the rotation."""
    estimates = {f: {"ours": o[0], "deskew": reference[f]["deskew"], "jdeskew": reference[f]["jdeskew"]}
                 for f, o in ours.items()}
    seconds = {f: {"ours": o[1], "deskew": reference[f]["deskew_s"], "jdeskew": reference[f]["jdeskew_s"]}
               for f, o in ours.items()}
    table: dict[str, dict[str, list[tuple[float, float]]]] = {m: {} for m in METHODS}
    for case in cases:
        if case.kind == "real-base":
            continue
        for method in METHODS:
            truth = case.angle + (estimates[case.base][method] if case.base else 0.0)
            error = abs(estimates[case.file][method] - truth)
            table[method].setdefault(case.kind, []).append((error, seconds[case.file][method]))
    return table


def report(table: dict[str, dict[str, list[tuple[float, float]]]], low_confidence: int, total: int) -> None:
    kinds = list(next(iter(table.values())))
    print(f"{'set':<14}{'n':>5}  {'method':<8}{'median':>9}{'p95':>9}{'max':>9}{'s/page':>9}")
    for kind in ["all", *kinds]:
        for method in METHODS:
            rows = [r for k in kinds for r in table[method][k]] if kind == "all" else table[method][kind]
            errors = np.array([e for e, _ in rows])
            seconds = float(np.mean([s for _, s in rows]))
            print(f"{kind if method == 'ours' else '':<14}{len(rows) if method == 'ours' else '':>5}  {method:<8}"
                  f"{np.median(errors):>9.4f}{np.percentile(errors, 95):>9.4f}{errors.max():>9.4f}{seconds:>9.3f}")
    print(f"(errors in degrees; our confidence was below 0.5 on {low_confidence} of {total} pages, "
          "which the pipeline leaves unrotated)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=30, help="generated pages per kind")
    parser.add_argument("--size", default="1400x2000", help="generated page WIDTHxHEIGHT")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--real", type=Path, default=REAL_SCANS, help="folder of real scans (*.png)")
    parser.add_argument("--reference-python", default=sys.executable,
                        help="interpreter with deskew and jdeskew installed (default: this one)")
    parser.add_argument("--cache", type=Path, default=None, help="folder for the generated set")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    folder = args.cache or Path(tempfile.gettempdir()) / f"deskew-benchmark-set-{args.per_kind}-{width}x{height}"
    cases = generate(folder, args.per_kind, width, height, args.seed)
    scans = sorted(args.real.glob("*.png")) if args.real.is_dir() else []
    cases += rotate_real(folder / "real", scans)
    print(f"{len([c for c in cases if c.kind != 'real-base'])} pages ({args.per_kind} per generated kind, "
          f"{len(scans)} real scans x {len(REAL_ANGLES)} angles), angles in [-7, 7]; set in {folder}")
    reference = run_reference(cases, args.reference_python)
    ours = run_ours(cases)
    table = errors_by_method(cases, ours, reference)
    measured = [c for c in cases if c.kind != "real-base"]
    report(table, sum(1 for c in measured if ours[c.file][2] < 0.5), len(measured))
    for scan in scans:
        print(f"{scan.name} unrotated: ours {ours[str(scan)][0]:+.3f}, deskew {reference[str(scan)]['deskew']:+.3f}, "
              f"jdeskew {reference[str(scan)]['jdeskew']:+.3f} degrees")


if __name__ == "__main__":
    main()
