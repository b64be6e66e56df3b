"""Checks that look at pixels: exposure, focus, skew, blank pages and uneven illumination.

They all take the grey analysis copy (long side ``Profile.analysis_side``), so
their values do not depend on capture resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.deskew import estimate_skew
from pipeline.qc.model import CheckResult, Status
from pipeline.qc.profile import Profile

TEXT_TYPES = frozenset({"page"})
PAPER_TYPES = frozenset({"page", "blank"})  # pages whose background is the leaf's paper
SKEW_SEARCH_DEG = 10.0  # wider than deskew's range, so a badly tilted page still measures
SKEW_SIDE = 1000  # px; a tenth of a degree is all QC needs, and this halves the estimator's time
_CELLS = 48  # paper-level grid along the long side for the illumination check


def check_pixels(grey: np.ndarray, page_type: str, profile: Profile, *,
                 bitonal: bool = False) -> tuple[CheckResult, ...]:
    """Run exposure, focus, skew, blank and illumination checks on the analysis copy."""
    ink = ink_coverage(grey, profile.ink_delta)
    return (
        # Tone range matters only where text is expected; a blank leaf is flat by nature.
        check_bitonal_exposure(grey) if bitonal
        else check_exposure(grey, profile, expect_content=page_type in TEXT_TYPES),
        check_focus(grey, profile),
        check_skew(grey, page_type, profile),
        check_blank(ink, page_type, profile),
        check_illumination(grey, page_type, profile),
    )


def check_exposure(grey: np.ndarray, profile: Profile, *, expect_content: bool) -> CheckResult:
    """Check clipped highlights and shadows, and the tone range of a text page."""
    high, low = float(np.mean(grey >= 255)), float(np.mean(grey <= 0))
    lo, hi = np.percentile(grey, [0.5, 99.5])
    value = round(high * 100, 3)
    threshold = f"< {profile.highlight_clip_warn:.1%} highlights at 255"
    status, message = Status.PASS, f"{high:.2%} highlights and {low:.2%} shadows clipped, tone range {hi - lo:.0f}"
    if high >= profile.highlight_clip_warn:
        status = Status.FAIL if high >= profile.highlight_clip_fail else Status.WARN
        message = f"overexposed: {high:.2%} of pixels clipped to white: reduce exposure and reshoot"
    elif low >= profile.shadow_clip_warn:
        status, message = Status.WARN, f"{low:.2%} of pixels clipped to black: check exposure and background"
    elif expect_content and hi - lo < profile.min_tone_range:
        status = Status.WARN
        message = (f"low contrast: tone range {hi - lo:.0f} grey levels < {profile.min_tone_range:g}: "
                   "check lighting and exposure")
    return CheckResult("exposure", status, value, threshold, message)


def check_bitonal_exposure(grey: np.ndarray) -> CheckResult:
    """Record, without judging, the white of a bitonal master: it is clipped to white by nature."""
    white = float(np.mean(grey >= 255))
    return CheckResult("exposure", Status.PASS, round(white * 100, 3), "n/a (bitonal master)",
                       f"not judged on a bitonal master: {white:.2%} of pixels are white by nature")


def check_focus(grey: np.ndarray, profile: Profile) -> CheckResult:
    """Check edge sharpness against the profile's floor; pages without edges are not judged."""
    threshold = f">= {profile.min_focus:g} edge sharpness"
    focus = measure_focus(grey)
    if focus is None:
        return CheckResult("focus", Status.PASS, None, threshold, "no edges to measure focus on")
    if focus < profile.min_focus:
        message = (f"soft focus: edge sharpness {focus:.2f} < {profile.min_focus:g}: "
                   "check focus and camera shake, then reshoot")
        return CheckResult("focus", Status.WARN, round(focus, 3), threshold, message)
    return CheckResult("focus", Status.PASS, round(focus, 3), threshold, f"edge sharpness {focus:.2f}")


def check_skew(grey: np.ndarray, page_type: str, profile: Profile) -> CheckResult:
    """Check how far the page is tilted, from the deskew estimator's angle."""
    threshold = f"|angle| <= {profile.max_skew_warn:g} deg"
    if page_type not in PAPER_TYPES:
        return CheckResult("skew", Status.PASS, None, "n/a", f"not checked for page type '{page_type}'")
    scale = min(1.0, SKEW_SIDE / max(grey.shape))
    small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else grey
    estimate = estimate_skew(small, max_angle=SKEW_SEARCH_DEG)
    if estimate.confidence < profile.min_skew_confidence:
        message = f"skew not measured: too little straight structure (confidence {estimate.confidence:.2f})"
        return CheckResult("skew", Status.PASS, None, threshold, message)
    angle = round(estimate.angle, 2)
    size = abs(angle)
    if size <= profile.max_skew_warn:
        return CheckResult("skew", Status.PASS, angle, threshold, f"skew {angle:+.2f} deg")
    status = Status.FAIL if size > profile.max_skew_fail else Status.WARN
    turn = "counter-clockwise" if angle > 0 else "clockwise"
    message = (f"page tilted {size:.1f} deg {turn}: square the book to the camera and reshoot "
               "(derivatives are deskewed, the master keeps the tilt)")
    return CheckResult("skew", status, angle, threshold, message)


def check_blank(ink: float, page_type: str, profile: Profile) -> CheckResult:
    """Warn when a content page looks blank, or a page labelled blank has content."""
    value = round(ink * 100, 3)
    if page_type == "page":
        threshold = f">= {profile.blank_max_ink:.1%} ink"
        if ink < profile.blank_max_ink:
            message = f"page looks blank (ink coverage {ink:.2%}): check the capture or set page_type to 'blank'"
            return CheckResult("blank", Status.WARN, value, threshold, message)
        return CheckResult("blank", Status.PASS, value, threshold, f"ink coverage {ink:.2%}")
    if page_type == "blank":
        threshold = f"<= {profile.labelled_blank_max_ink:.1%} ink"
        if ink > profile.labelled_blank_max_ink:
            message = f"page labelled blank has content (ink coverage {ink:.2%}): check the page order or page_type"
            return CheckResult("blank", Status.WARN, value, threshold, message)
        return CheckResult("blank", Status.PASS, value, threshold, f"ink coverage {ink:.2%}")
    return CheckResult("blank", Status.PASS, value, "n/a", f"not checked for page type '{page_type}'")


def check_illumination(grey: np.ndarray, page_type: str, profile: Profile) -> CheckResult:
    """Check that the paper is evenly lit, from the brightest to the darkest part of the leaf."""
    threshold = f"< {profile.max_falloff_warn:.0%} fall-off across the paper"
    if page_type not in PAPER_TYPES:
        return CheckResult("illumination", Status.PASS, None, "n/a", f"not checked for page type '{page_type}'")
    falloff = measure_falloff(grey)
    if falloff is None:
        return CheckResult("illumination", Status.PASS, None, threshold, "too little bare paper to judge lighting")
    value = round(falloff * 100, 2)
    if falloff < profile.max_falloff_warn:
        return CheckResult("illumination", Status.PASS, value, threshold, f"paper brightness varies {falloff:.1%}")
    status = Status.FAIL if falloff >= profile.max_falloff_fail else Status.WARN
    message = (f"uneven lighting: the paper is {falloff:.0%} darker at its dimmest than at its brightest: "
               "even out the lights (or check for a vignetting lens) and reshoot")
    return CheckResult("illumination", status, value, threshold, message)


def measure_focus(grey: np.ndarray) -> float | None:
    """Return edge sharpness: Laplacian spread on edges over the tone range.

    Dividing by the tone range makes faded ink score like fresh ink, and
    measuring only near edges makes a sparse page score like a dense one.
    Returns None when the image has no edges (a blank page).
    """
    grey = grey.astype(np.float32)
    lo, hi = np.percentile(grey, [0.5, 99.5])
    tone_range = float(hi - lo)
    if tone_range < 20:
        return None
    gradient = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    edges = cv2.dilate((gradient > 0.5 * tone_range).astype(np.uint8), np.ones((3, 3), np.uint8))
    if edges.mean() < 0.001:
        return None
    laplacian = cv2.Laplacian(grey, cv2.CV_32F, ksize=3)
    return float(laplacian[edges.astype(bool)].std() / tone_range)


def ink_coverage(grey: np.ndarray, ink_delta: float = 50.0) -> float:
    """Return the share of pixels clearly darker than the paper (the median tone)."""
    smoothed = cv2.medianBlur(grey.astype(np.uint8), 3)  # drop paper grain and sensor noise
    paper = float(np.median(smoothed))
    return float(np.mean(smoothed < paper - ink_delta))


def measure_falloff(grey: np.ndarray) -> float | None:
    """Return how much darker the dimmest paper is than the brightest, as a share (0..1).

    The paper level of each cell of a coarse grid is a high percentile of its pixels
    (ink is darker); cells that are not paper (background, a cover, a black 魚尾) and
    stains are dropped, and a smooth quadratic surface fitted to the rest gives the
    lighting. Returns None when too little of the image is bare paper.
    """
    levels, ys, xs = _paper_levels(grey)
    paper = levels >= 0.6 * np.percentile(levels, 95)
    if paper.mean() < 0.4:
        return None
    keep = paper.copy()
    for _ in range(2):  # refit without the cells the surface does not explain (stains, seals)
        fit = _fit_quadratic(xs[keep], ys[keep], levels[keep])
        residual = levels - _quadratic(fit, xs, ys)
        spread = 1.4826 * float(np.median(np.abs(residual[keep]))) + 0.5
        keep = paper & (np.abs(residual) < 3 * spread)
    surface = _quadratic(fit, xs[paper], ys[paper])
    top = float(surface.max())
    return max(0.0, (top - float(surface.min())) / top) if top > 0 else None


def _paper_levels(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the 90th-percentile level of each grid cell and the cell centres (0..1)."""
    cell = max(4, max(grey.shape) // _CELLS)
    rows, cols = grey.shape[0] // cell, grey.shape[1] // cell
    blocks = grey[: rows * cell, : cols * cell].reshape(rows, cell, cols, cell).swapaxes(1, 2)
    levels = np.percentile(blocks.reshape(rows, cols, -1), 90, axis=2).astype(np.float64)
    ys, xs = np.mgrid[0:rows, 0:cols]
    return levels.ravel(), ((ys + 0.5) / rows).ravel(), ((xs + 0.5) / cols).ravel()


def _fit_quadratic(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    terms = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)
    coefficients, *_ = np.linalg.lstsq(terms, z, rcond=None)
    return coefficients


def _quadratic(c: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return c[0] + c[1] * x + c[2] * y + c[3] * x * x + c[4] * x * y + c[5] * y * y
