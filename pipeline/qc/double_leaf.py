"""Catch a double leaf captured as one page: two leaves side by side with a central fold.

An uncut woodblock sheet (its 版心 in the middle) or an open book shot whole gives one
master where the book has two canvases. If batch.json does not say so, the item gets
one canvas for two leaves and the wrong leaf count. The finder the derivative step uses
to cut declared spreads (:func:`pipeline.split.find_split`) runs here on the grey QC
analysis copy, shrunk further to the size that step works at, so no master is opened
again and the two steps agree on where the fold is.

Two things must both hold before QC says "double leaf": the finder saw real evidence
(a gutter shadow, a paper gap between two printed frames, or a 版心 at the middle of
the frame) with at least the profile's confidence, and both the image and its printed
area (where the ink is) are at least as wide as tall. Thread-bound leaves are portrait,
so two side by side are landscape. The aspect test keeps a single leaf whose middle text
column is short (it looks like an empty 版心 between two rules) from being flagged, and
the printed area keeps a single page photographed on a wide ground from passing for
two. On the real samples single leaves print 0.5-0.75 times as wide as tall, composites
of two real leaves 1.6-1.8.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.errors import ImageError
from pipeline.qc.model import CheckResult, Status
from pipeline.qc.profile import Profile
from pipeline.split import INK_DELTA, STROKE_WIDTH, Split, find_split

CHECK = "double_leaf"
SPLIT_SIDE = 1000  # px, long side find_split works at (pipeline.derivative.CROP_LONG_SIDE)
INK_MASS = 0.02  # the printed area leaves out this share of the ink on each side (specks, a ruler's marks)
EVIDENCE = frozenset({"fold", "banxin"})  # "least-ink" is find_split's guess when it sees no fold
PAGE_TYPES = frozenset({"page", "blank"})  # those a spread batch splits (pipeline.batch.SPLIT_BY_DEFAULT)
METHOD_NAMES = {"fold": "a fold or gap between two leaves", "banxin": "a 版心 (fold column) in the middle",
                "least-ink": "no fold"}


def check_double_leaf(grey: np.ndarray, page_type: str, profile: Profile, *, declared_split: bool,
                      master_width: int, file: str) -> CheckResult:
    """Warn when an undeclared master looks like two leaves; for a declared spread, report the fold found.

    ``grey`` is the QC analysis copy; positions are reported in master columns
    (``master_width`` wide), as batch.json's ``"split": {"x": …}`` takes them.
    """
    threshold = (f">= {profile.double_leaf_min_confidence:g} confidence of a fold or 版心, "
                 f"width/height >= {profile.double_leaf_min_aspect:g}")
    if page_type not in PAGE_TYPES:
        return CheckResult(CHECK, Status.PASS, None, "n/a", f"not checked for page type '{page_type}'")
    small = _shrink(grey)
    try:
        split = find_split(small).scaled(master_width / small.shape[1], master_width)
    except ImageError as exc:  # a strip too narrow to hold two leaves
        return CheckResult(CHECK, Status.PASS, None, threshold, f"not measured: {exc.problem}")
    value = round(float(split.confidence), 2)
    if declared_split:
        return CheckResult(CHECK, Status.PASS, value, "n/a (declared two leaves)", _declared(split, master_width))
    aspect = min(small.shape[1] / small.shape[0], printed_aspect(small))
    if not looks_double(split, aspect, profile):
        return CheckResult(CHECK, Status.PASS, value, threshold, _single(split, aspect, profile))
    message = (f"{file} looks like a double leaf (two pages with a central fold at x={split.x} of {master_width}, "
               f"found by {METHOD_NAMES[split.method]}, confidence {split.confidence:.2f}): if so, declare it "
               'in batch.json with "split": "auto" (or capture.mode "spread"); otherwise ignore')
    return CheckResult(CHECK, Status.WARN, value, threshold, message)


def looks_double(split: Split, aspect: float, profile: Profile) -> bool:
    """Return whether the fold found is evidence enough, on an image shaped like two leaves."""
    return (split.method in EVIDENCE and split.confidence >= profile.double_leaf_min_confidence
            and aspect >= profile.double_leaf_min_aspect)


def printed_aspect(grey: np.ndarray) -> float:
    """Return width / height of the printed area: where the ink is, not the paper or the ground round it.

    Ink is dark detail narrower than a few strokes (find_split's black-hat), so a dark
    ground or a gutter's shadow is not ink. Without ink the image's own aspect is returned.
    """
    k = max(5, round(grey.shape[1] * STROKE_WIDTH) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    ink = cv2.morphologyEx(cv2.GaussianBlur(grey, (0, 0), 0.8), cv2.MORPH_BLACKHAT, kernel) > INK_DELTA
    if not ink.any():
        return grey.shape[1] / grey.shape[0]
    return _extent(ink.sum(axis=0)) / max(_extent(ink.sum(axis=1)), 1)


def _extent(counts: np.ndarray) -> int:
    """Span of the middle of the ink along one axis, leaving ``INK_MASS`` of it out at each end."""
    cumulative = np.cumsum(counts, dtype=np.float64) / counts.sum()
    return int(np.searchsorted(cumulative, 1 - INK_MASS) - np.searchsorted(cumulative, INK_MASS)) + 1


def _shrink(grey: np.ndarray) -> np.ndarray:
    """Return a ``SPLIT_SIDE`` copy of the analysis image (find_split's working size)."""
    scale = min(1.0, SPLIT_SIDE / max(grey.shape))
    small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else grey
    return np.ascontiguousarray(small)


def _declared(split: Split, master_width: int) -> str:
    if split.method in EVIDENCE:
        return (f"declared two leaves in batch.json; {METHOD_NAMES[split.method]} found at x={split.x} of "
                f"{master_width} (confidence {split.confidence:.2f})")
    return (f"declared two leaves in batch.json; no fold seen on the QC copy (best guess x={split.x} of "
            f"{master_width}): if the derivatives are cut in the wrong place, give \"split\": {{\"x\": …}}")


def _single(split: Split, aspect: float, profile: Profile) -> str:
    if split.method not in EVIDENCE:
        return "one leaf: no central fold or 版心 seen"
    if split.confidence < profile.double_leaf_min_confidence:
        return (f"one leaf: {METHOD_NAMES[split.method]} seen with confidence {split.confidence:.2f} "
                f"< {profile.double_leaf_min_confidence:g}")
    return (f"one leaf: {METHOD_NAMES[split.method]} seen, but narrower than two leaves side by side "
            f"(width/height {aspect:.2f} < {profile.double_leaf_min_aspect:g}, of the print or of the image)")
