"""Checks that compare a page with the rest of its batch: focus outliers, double shots, gaps.

They run after every page has its own results, on those results and the pages'
contact-sheet thumbnails, so no master is opened twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import cv2
import numpy as np

from pipeline.batch import Page
from pipeline.qc.model import CheckResult, PageQC, Status
from pipeline.qc.page import thumbnail_pixels
from pipeline.qc.profile import Profile
from pipeline.qc.sequence import LabelNumber, file_number, parse_label

_SIGNATURE = (128, 180)  # width, height every thumbnail is compared at
_SHIFT = 6  # px of that size a double shot may move by
_TILES = (4, 6)  # columns, rows: the similarity is the median over these tiles


def check_batch(pages: Sequence[Page], results: Sequence[PageQC], profile: Profile) -> list[PageQC]:
    """Append the batch checks to every page's results (same order as ``pages``)."""
    if len(pages) != len(results):
        raise ValueError(f"{len(pages)} pages but {len(results)} QC results")
    focus = check_focus_consistency(pages, results, profile)
    duplicate = check_duplicates(pages, results, profile)
    sequence = check_sequence(pages, profile)
    return [replace(declared_spread(page, qc), file=page.file).with_results(extra)
            for page, qc, *extra in zip(pages, results, focus, duplicate, sequence)]


def declared_spread(page: Page, qc: PageQC) -> PageQC:
    """Drop a double-leaf warning on a master batch.json declares as two leaves.

    check_page does this itself when told ``split``; this covers a caller that did not
    tell it, so a declared spread never stops the ingest for being a spread.
    """
    result = qc.result("double_leaf")
    if not page.split or result is None or result.status is Status.PASS:
        return qc
    message = f"declared two leaves in batch.json; a central fold was found (confidence {result.value})"
    passed = replace(result, status=Status.PASS, threshold="n/a (declared two leaves)", message=message)
    return replace(qc, results=tuple(passed if r is result else r for r in qc.results))


def check_focus_consistency(pages: Sequence[Page], results: Sequence[PageQC], profile: Profile) -> list[CheckResult]:
    """Flag text pages much softer than the batch's median, even above the absolute floor."""
    values = [_focus(page, qc) for page, qc in zip(pages, results)]
    known = [v for v in values if v is not None]
    if len(known) < profile.focus_batch_min_pages:
        message = f"not compared: fewer than {profile.focus_batch_min_pages} text pages with measurable focus"
        return [CheckResult("focus_consistency", Status.PASS, None, "n/a", message) for _ in pages]
    median = float(np.median(known))
    threshold = f">= {profile.focus_batch_ratio:g} x batch median ({median:.2f})"
    return [_focus_result(value, median, threshold, profile) for value in values]


def _focus(page: Page, qc: PageQC) -> float | None:
    result = qc.result("focus")
    if page.page_type.value != "page" or result is None or not isinstance(result.value, (int, float)):
        return None
    return float(result.value)


def _focus_result(value: float | None, median: float, threshold: str, profile: Profile) -> CheckResult:
    if value is None:
        return CheckResult("focus_consistency", Status.PASS, None, threshold, "not compared (not a measured text page)")
    ratio = value / median
    if ratio >= profile.focus_batch_ratio:
        return CheckResult("focus_consistency", Status.PASS, round(ratio, 3), threshold,
                           f"{ratio:.0%} of the batch's median sharpness")
    message = (f"softer than the rest of the batch: {ratio:.0%} of the median sharpness: "
               "check focus and camera shake, then reshoot")
    return CheckResult("focus_consistency", Status.WARN, round(ratio, 3), threshold, message)


def check_duplicates(pages: Sequence[Page], results: Sequence[PageQC], profile: Profile) -> list[CheckResult]:
    """Flag a text page that looks like the text page captured just before it (a double shot)."""
    threshold = f"similarity to the previous page < {profile.duplicate_similarity:g}"
    found, previous = [], None
    for page, qc in zip(pages, results):
        signature = _signature(qc.thumbnail, _skew(qc)) if page.page_type.value == "page" else None
        if signature is None or previous is None:
            found.append(CheckResult("duplicate", Status.PASS, None, threshold, "no previous text page to compare"))
        else:
            found.append(_duplicate_result(similarity(previous[1], signature), previous[0], threshold, profile))
        if signature is not None:
            previous = (page, signature)
    return found


def _duplicate_result(score: float, before: Page, threshold: str, profile: Profile) -> CheckResult:
    value = round(score, 3)
    if score < profile.duplicate_similarity:
        return CheckResult("duplicate", Status.PASS, value, threshold, f"differs from {before.page_id}")
    message = (f"looks like the previous page {before.page_id} ({before.label}), similarity {score:.2f}: "
               "a double shot? Delete one, and check that no leaf was skipped")
    return CheckResult("duplicate", profile.duplicate_status, value, threshold, message)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Return how alike two signatures are: the median tile correlation at the best small shift.

    The median over tiles, not one correlation over the page, so that what every
    leaf of a book shares (the 版心 with its 魚尾 and title) does not make two
    different leaves look alike.
    """
    template = a[_SHIFT:-_SHIFT, _SHIFT:-_SHIFT]
    if float(template.std()) < 1e-3 or float(b.std()) < 1e-3:
        return 0.0
    scores = cv2.matchTemplate(b, template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (x, y) = cv2.minMaxLoc(scores)
    moved = b[y : y + template.shape[0], x : x + template.shape[1]]
    tiles = [c for c in (_correlation(ta, tb, template.std(), moved.std())
                         for ta, tb in zip(_tiles(template), _tiles(moved))) if c is not None]
    return float(np.median(tiles)) if len(tiles) >= 4 else float(best)


def _tiles(image: np.ndarray) -> list[np.ndarray]:
    columns, rows = _TILES
    h, w = image.shape
    return [image[r * h // rows : (r + 1) * h // rows, c * w // columns : (c + 1) * w // columns]
            for r in range(rows) for c in range(columns)]


def _correlation(a: np.ndarray, b: np.ndarray, spread_a: float, spread_b: float) -> float | None:
    """Return the correlation of two tiles, or None where either is nearly empty."""
    if a.std() < 0.3 * spread_a or b.std() < 0.3 * spread_b:
        return None
    return float(((a - a.mean()) * (b - b.mean())).mean() / (a.std() * b.std()))


def _skew(qc: PageQC) -> float:
    result = qc.result("skew")
    return float(result.value) if result is not None and isinstance(result.value, (int, float)) else 0.0


def _signature(thumbnail: str, angle: float = 0.0) -> np.ndarray | None:
    """Return the thumbnail's character-scale detail, without lighting, paper tone or layout.

    Pages of one book share their layout (frame, column rules, lines of text at the
    same places), which would make every pair look alike. The page is turned straight
    (by its measured skew) so that row and column means carry that layout, and they
    are removed; what is left is the characters themselves.
    """
    grey = thumbnail_pixels(thumbnail)
    if grey is None:
        return None
    if angle:
        h, w = grey.shape
        turn = cv2.getRotationMatrix2D((w / 2, h / 2), -angle, 1.0)
        grey = cv2.warpAffine(grey, turn, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    small = cv2.resize(grey, _SIGNATURE, interpolation=cv2.INTER_AREA).astype(np.float32)
    detail = cv2.GaussianBlur(small - cv2.GaussianBlur(small, (0, 0), 3), (0, 0), 0.8)
    detail -= detail.mean(axis=1, keepdims=True)
    detail -= detail.mean(axis=0, keepdims=True)
    return detail


def check_sequence(pages: Sequence[Page], profile: Profile) -> list[CheckResult]:
    """Flag gaps, repeats and reversals in the page labels, and gaps in the file numbers."""
    threshold = "labels and file numbers run on without gaps"
    labels = _label_findings(pages)
    files = _file_findings(pages)
    results = []
    for label_problem, file_problem in zip(labels, files):
        problems = [p for p in (label_problem, file_problem) if p]
        if problems:
            value = "; ".join(p[0] for p in problems)
            message = "; ".join(p[1] for p in problems)
            results.append(CheckResult("sequence", profile.sequence_gap_status, value, threshold, message))
        else:
            results.append(CheckResult("sequence", Status.PASS, None, threshold, "in sequence"))
    return results


def _label_findings(pages: Sequence[Page]) -> list[tuple[str, str] | None]:
    """Compare each numbered label with the last numbered label of the same sequence."""
    findings: list[tuple[str, str] | None] = []
    last: tuple[Page, LabelNumber] | None = None
    for page in pages:
        number = parse_label(page.label)
        finding = None
        if number is not None and last is not None and number.follows(last[1]):
            finding = _label_step(last[0].label, last[1], page.label, number)
        findings.append(finding)
        if number is not None:
            last = (page, number)
    return findings


def _label_step(before: str, previous: LabelNumber, label: str, current: LabelNumber) -> tuple[str, str] | None:
    step = current.index - previous.index
    value = f"{before} → {label}"
    if step == 1:
        return None
    if step == 0:
        return value, f"same label as the previous page ('{label}'): a double shot, or a wrong label"
    if step < 0:
        return value, f"'{label}' comes after '{before}': pages out of order, or a wrong label"
    missing = [current.label_at(i) for i in range(previous.index + 1, current.index)]
    shown = ", ".join(missing[:4]) + (f" … ({len(missing)} in all)" if len(missing) > 4 else "")
    return value, f"sequence gap after '{before}': missing {shown}? Reshoot a skipped leaf, or correct the label"


def _file_findings(pages: Sequence[Page]) -> list[tuple[str, str] | None]:
    """Flag a jump in the capture file numbers when the numbering runs on after it.

    A reshoot appended out of order (0004, 0101, 0005) is not a gap: its number
    does not run on into the next page's.
    """
    numbers = [file_number(page.file) for page in pages]
    findings: list[tuple[str, str] | None] = [None]
    for i in range(1, len(pages)):
        before, here = numbers[i - 1], numbers[i]
        after = numbers[i + 1] if i + 1 < len(pages) else None
        gap = (before is not None and here is not None and before[0] == here[0] and here[1] - before[1] > 1
               and (after is None or after[0] != here[0] or after[1] > here[1]))
        findings.append((f"{pages[i - 1].file} → {pages[i].file}",
                         f"file numbers jump from {pages[i - 1].file} to {pages[i].file}: was a capture deleted?")
                        if gap else None)
    return findings
