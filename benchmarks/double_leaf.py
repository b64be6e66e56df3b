"""Count QC's double-leaf warnings on real single pages and on real two-leaf composites.

QC's ``double_leaf`` check (pipeline/qc/double_leaf.py) must flag a master showing two
leaves that batch.json does not declare, and must not flag a single leaf. Ground truth
comes from construction: every image in /work/shared/samples is one page (alone, and
pasted on dark and light grounds at 1.0-1.5 width/height, as a camera station frames
it); two real woodblock half-leaves side by side (benchmarks/split.py's composites:
butted, paper gap, gutter strips) are one double leaf each, alone and on a dark ground.
There is no reference tool for this check; the figures are the flag counts per group.

Run: .venv/bin/python benchmarks/double_leaf.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import split as composites

from pipeline.qc import DEFAULT_PROFILE
from pipeline.qc.double_leaf import check_double_leaf
from pipeline.qc.page import analysis_copy

ANALYSIS_SIDE = 1500  # QC's analysis copy (profile analysis_side)
GROUNDS = ((40, 1.5), (200, 1.5), (40, 1.0), (40, 1.2))  # grey of the ground, width/height of the frame


def grey_copy(rgb: np.ndarray) -> np.ndarray:
    """The grey analysis copy QC makes of a master this shape."""
    factor = ANALYSIS_SIDE / max(rgb.shape[:2])
    scaled = cv2.resize(rgb, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    return cv2.cvtColor(scaled, cv2.COLOR_RGB2GRAY)


def on_ground(page: np.ndarray, grey: int, aspect: float) -> np.ndarray:
    height, width = page.shape[:2]
    frame_h = int(height * 1.1)
    frame_w = max(int(frame_h * aspect), width + 10)
    canvas = np.full((frame_h, frame_w, 3), grey, np.uint8)
    top, left = (frame_h - height) // 2, (frame_w - width) // 2
    canvas[top:top + height, left:left + width] = page
    return canvas


def flagged(name: str, rgb: np.ndarray) -> bool:
    result = check_double_leaf(grey_copy(rgb), "page", DEFAULT_PROFILE, declared_split=False,
                               master_width=rgb.shape[1], file=name)
    print(f"  {name:44} {result.status.value:4} {result.message[:100]}")
    return result.status.value == "warn"


def main() -> None:
    counts: dict[str, list[int]] = {}

    def count(group: str, name: str, rgb: np.ndarray) -> None:
        tally = counts.setdefault(group, [0, 0])
        tally[0] += 1
        tally[1] += flagged(name, rgb)

    for path in sorted(composites.SAMPLES.glob("*/*.[pj][np]g")):
        page = analysis_copy(path, ANALYSIS_SIDE)
        count("real single pages", path.name, page)
        for grey, aspect in GROUNDS:
            count("real single pages on a ground", f"{path.stem} ground {grey} w/h {aspect}", on_ground(page, grey, aspect))
    for left, right in composites.PAIRS:
        for join, gap in composites.JOINS:
            spread, _ = composites.compose(composites.load(left), composites.load(right), join, gap)
            name = f"{left}|{right} {join} {gap}"
            count("real double leaves", name, spread)
            count("real double leaves on a ground", name, on_ground(spread, 40, spread.shape[1] / spread.shape[0] * 1.05))
    print(f"\n{'group':34} {'flagged':>8} {'of':>4}")
    for group, (total, warned) in counts.items():
        print(f"{group:34} {warned:8d} {total:4d}")


if __name__ == "__main__":
    main()
