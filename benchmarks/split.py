"""Measure pipeline.split.find_split on real material: composites of real half-leaves, and camera captures.

The woodblock samples are single half-leaves; two of them side by side (butted, with a
paper gap, or with a dark gutter strip between) make a spread whose join is known.
For each composite the table gives the true join x, the x found (full size), the
method and confidence, the dark pixels in the cut's two columns (0 = ink not cut) and
whether x lies in the blank between the two printed frames. The camera captures are
cropped with pipeline.crop.find_page first, as the caller does; they have no ground truth.

Run: .venv/bin/python benchmarks/split.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.crop import find_page
from pipeline.split import Split, find_split

SAMPLES = Path("/work/shared/samples")
WORK_LONG_SIDE = 1000  # px; the caller shrinks a spread to about this before find_split
INK_GREY = 128  # a pixel darker than this in the (near-binary) scans is ink
PAIRS = (("040", "030"), ("060", "050"), ("030", "040"), ("050", "060"))
# How the two half-leaves meet, and the full-size px of paper or dark strip between them.
JOINS = (("butted", 0), ("gap", 60), ("gutter", 60), ("gutter", 30), ("gutter", 120))


def load(name: str) -> np.ndarray:
    """Read a woodblock half-leaf as RGB."""
    return cv2.cvtColor(cv2.imread(str(SAMPLES / "woodblock" / f"page-{name}.png")), cv2.COLOR_BGR2RGB)


def compose(left: np.ndarray, right: np.ndarray, join: str, gap: int) -> tuple[np.ndarray, int]:
    """Put two half-leaves side by side; return the spread and the true join x (middle of any strip)."""
    height = min(left.shape[0], right.shape[0])
    parts = [left[:height], right[:height]]
    if join == "butted":
        return np.concatenate(parts, axis=1), left.shape[1]
    strip = np.empty((height, gap, 3), np.uint8)
    if join == "gap":
        strip[:] = np.median(left[:height, -10:].reshape(-1, 3), axis=0)
    else:
        # A soft dark valley, darkest (grey 40) in the middle, as a gutter photographs.
        profile = 40 + 180 * np.abs(np.linspace(-1.0, 1.0, gap)) ** 1.5
        strip[:] = profile.astype(np.uint8)[None, :, None]
    return np.concatenate([parts[0], strip, parts[1]], axis=1), left.shape[1] + gap // 2


def split_full_size(image: np.ndarray) -> Split:
    """Shrink as the caller does, find the split, and scale it back."""
    factor = max(image.shape[:2]) / WORK_LONG_SIDE
    size = (round(image.shape[1] / factor), round(image.shape[0] / factor))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return find_split(small).scaled(factor, image.shape[1])


def ink_in_column(image: np.ndarray, x: int) -> int:
    """Dark pixels in the columns either side of the cut (x-1 and x)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return int((grey[:, max(0, x - 1) : x + 1] < INK_GREY).sum())


def frame_gap(left: np.ndarray, right: np.ndarray, gap: int) -> tuple[int, int]:
    """The blank between the left leaf's last ink and the right leaf's first ink, in spread x."""
    last = int(np.nonzero((cv2.cvtColor(left, cv2.COLOR_RGB2GRAY) < INK_GREY).sum(axis=0) > 5)[0][-1])
    first = int(np.nonzero((cv2.cvtColor(right, cv2.COLOR_RGB2GRAY) < INK_GREY).sum(axis=0) > 5)[0][0])
    offset = left.shape[1] + gap
    return last + 1, offset + first


def run_composites() -> None:
    print(f"{'composite':<22} {'width':>5} {'join x':>6} {'found x':>7} {'error':>6} {'method':<9} {'conf':>4} "
          f"{'ink px':>6} {'in blank':>8}  blank")
    for left_name, right_name in PAIRS:
        left, right = load(left_name), load(right_name)
        for join, gap in JOINS:
            spread, truth = compose(left, right, join, gap)
            split = split_full_size(spread)
            blank = frame_gap(left, right, gap)
            inside = blank[0] <= split.x <= blank[1]
            # The gutter strip is shadow, not ink: count ink on the same spread with paper there.
            ink = ink_in_column(compose(left, right, "gap", gap)[0] if join == "gutter" else spread, split.x)
            error = (split.x - truth) / spread.shape[1]
            name = f"{left_name}|{right_name} {join} {gap}px"
            print(f"{name:<22} {spread.shape[1]:>5} {truth:>6} {split.x:>7} {error:>+6.1%} "
                  f"{split.method:<9} {split.confidence:>4.2f} {ink:>6} {inside!s:>8}  "
                  f"{blank[0]}-{blank[1]}")
            print(f"    {split.note}")


def run_camera() -> None:
    for path in sorted((SAMPLES / "camera").glob("*.jpg")):
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        factor = max(image.shape[:2]) / 1200
        small = cv2.resize(image, (round(image.shape[1] / factor), round(image.shape[0] / factor)),
                           interpolation=cv2.INTER_AREA)
        crop = find_page(small)
        x, y, w, h = crop.page_box or (0, 0, small.shape[1], small.shape[0])
        page = small[y : y + h, x : x + w]
        split = find_split(page)
        print(f"{path.name}: page_box={crop.page_box} ({crop.note}); split x={split.x} of {w} "
              f"({split.x / w:.1%}) method={split.method} confidence={split.confidence:.2f}")
        print(f"    {split.note}")


if __name__ == "__main__":
    run_composites()
    run_camera()
