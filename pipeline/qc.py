"""Page quality control: is this master fit to keep, or must it be reshot?

``check_page`` runs every check on one master and returns a :class:`PageQC`
whose results a technician can act on one by one. Checks never raise for a bad
image: an unreadable file becomes a FAIL "integrity" result and the other checks
are skipped. Thresholds live in a :class:`Profile`; ``DEFAULT_PROFILE`` follows
FADGI still-image guidelines for bound rare books at the 4-star level.

Pixel checks run on a copy shrunk to ``Profile.analysis_side`` pixels on the long
side, so their values (focus especially) do not depend on capture resolution.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.errors import ImageError
from pipeline.images import ImageInfo, load_page, probe_image, to_numpy, verify_decodes

log = logging.getLogger(__name__)

_CM_PER_INCH = 2.54
_COLOUR_FIX = {
    "cmyk": "CMYK master: re-export the raw capture as RGB (Adobe RGB 1998, eciRGB v2 or sRGB)",
    "palette": "indexed (palette) colour discards tonal detail: re-export as 8- or 16-bit RGB",
}


class Status(str, enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


_SEVERITY = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one page."""

    check: str  # "integrity", "colour_mode", "bit_depth", "icc", "resolution", ...
    status: Status
    value: float | str | None
    threshold: str  # human readable, e.g. ">= 400 ppi"
    message: str  # one line a technician can act on

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value}


@dataclass(frozen=True)
class PageQC:
    """Every check result for one page."""

    page_id: str
    file: str
    results: tuple[CheckResult, ...]

    @property
    def status(self) -> Status:
        """Return the worst status of any check (PASS when there are none)."""
        return max((r.status for r in self.results), key=_SEVERITY.__getitem__, default=Status.PASS)

    def result(self, check: str) -> CheckResult | None:
        """Return the result of one check, or None if it did not run."""
        return next((r for r in self.results if r.check == check), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "page_id": self.page_id,
            "file": self.file,
            "status": self.status.value,
            "results": [r.as_dict() for r in self.results],
        }


@dataclass(frozen=True)
class Profile:
    """QC thresholds for one class of material."""

    # FADGI Technical Guidelines for Digitizing Cultural Heritage Materials (2023),
    # "Bound Volumes: Rare and Special Materials", 4-star: 400 ppi, 8 or 16 bits per
    # channel, colour; sampling frequency within 2%.
    name: str = "fadgi-4star-rare-bound"
    min_ppi: float = 400.0
    ppi_tolerance: float = 0.02
    allowed_bits: tuple[int, ...] = (8, 16)
    allowed_colour_modes: tuple[str, ...] = ("rgb", "grey")
    alpha_status: Status = Status.WARN
    icc_missing_status: Status = Status.WARN
    max_pixels: int = 300_000_000
    # An implied page long side outside this range means the ppi is wrong (cm).
    min_page_cm: float = 5.0
    max_page_cm: float = 120.0
    analysis_side: int = 1500
    # Shares of pixels at 255 / 0 on the luminance of the analysis copy.
    highlight_clip_warn: float = 0.005
    highlight_clip_fail: float = 0.05
    # Shadows only warn: a black capture background may clip without harming the page.
    shadow_clip_warn: float = 0.05
    min_tone_range: float = 60.0  # grey levels between the 0.5th and 99.5th percentiles
    # Edge sharpness (see measure_focus): ~2 for crisp print; ~0.85 at a 3 px blur of a
    # 400 ppi page. Only warns: woodblock ink edges are soft on the paper itself.
    min_focus: float = 1.0
    ink_delta: float = 50.0  # grey levels below the paper that count as ink
    blank_max_ink: float = 0.002  # a "page" with less ink than this looks blank
    # A "blank" leaf may still carry a printed frame (版框) or show-through.
    labelled_blank_max_ink: float = 0.04


DEFAULT_PROFILE = Profile()


def check_page(
    path: str | Path,
    *,
    page_id: str,
    declared_ppi: float | None,
    page_type: str,
    profile: Profile = DEFAULT_PROFILE,
) -> PageQC:
    """Run every QC check on one master; never raises for a bad image."""
    path = Path(path)
    try:
        info = probe_image(path, max_pixels=profile.max_pixels)
        verify_decodes(path, max_pixels=profile.max_pixels)
        grey = _analysis_grey(path, profile.analysis_side)
    except ImageError as exc:
        log.info("%s: integrity check failed: %s", page_id, exc.problem)
        message = f"{exc.problem}: {exc.hint}" if exc.hint else exc.problem
        failed = CheckResult("integrity", Status.FAIL, None, "decodes fully", message)
        return PageQC(page_id, str(path), (failed,))
    results = (
        _integrity_passed(info),
        check_colour_mode(info, profile),
        check_bit_depth(info, profile),
        check_icc(info, profile),
        check_resolution(info, declared_ppi, profile),
        check_dimensions(info, declared_ppi, profile),
        *check_pixels(grey, str(getattr(page_type, "value", page_type)), profile),
    )
    return PageQC(page_id, str(path), results)


def check_colour_mode(info: ImageInfo, profile: Profile) -> CheckResult:
    """Check the colour space and that there is no alpha channel."""
    threshold = f"{' or '.join(profile.allowed_colour_modes)}, no alpha"
    mode = info.colour_mode
    if mode not in profile.allowed_colour_modes:
        return CheckResult(
            "colour_mode",
            Status.FAIL,
            mode,
            threshold,
            _COLOUR_FIX.get(
                mode, f"unsupported colour space '{info.interpretation}': re-export as RGB"
            ),
        )
    if info.has_alpha:
        message = (
            "alpha channel present: export without transparency (derivatives flatten it on white)"
        )
        return CheckResult("colour_mode", profile.alpha_status, f"{mode}+alpha", threshold, message)
    return CheckResult("colour_mode", Status.PASS, mode, threshold, f"{mode} colour")


def check_bit_depth(info: ImageInfo, profile: Profile) -> CheckResult:
    """Check bits per sample against the profile."""
    bits = info.bits_per_sample
    threshold = " or ".join(str(b) for b in profile.allowed_bits) + " bits per sample"
    if bits in profile.allowed_bits:
        return CheckResult("bit_depth", Status.PASS, bits, threshold, f"{bits} bits per sample")
    message = f"{bits}-bit samples lose tonal detail: re-export at 8 or 16 bits per channel"
    return CheckResult("bit_depth", Status.FAIL, bits, threshold, message)


def check_icc(info: ImageInfo, profile: Profile) -> CheckResult:
    """Check that an ICC profile is embedded so colour can be managed."""
    if info.has_icc:
        return CheckResult(
            "icc", Status.PASS, "embedded", "embedded profile", "ICC profile embedded"
        )
    message = (
        "no embedded ICC profile: colour cannot be managed; embed the capture profile "
        "(Adobe RGB 1998, eciRGB v2 or sRGB) when exporting"
    )
    return CheckResult("icc", profile.icc_missing_status, "none", "embedded profile", message)


def check_resolution(info: ImageInfo, declared_ppi: float | None, profile: Profile) -> CheckResult:
    """Check the effective resolution (declared, else embedded) and that both agree."""
    threshold = f">= {profile.min_ppi:g} ppi"
    embedded, declared = info.ppi, declared_ppi or None
    effective = declared or embedded
    if effective is None:
        message = (
            "resolution unknown: the file embeds no ppi and none is declared; "
            "set capture.declared_ppi in batch.json"
        )
        return CheckResult("resolution", Status.WARN, None, threshold, message)
    if effective < profile.min_ppi * (1 - profile.ppi_tolerance):
        message = (
            f"effective resolution {effective:g} ppi is below {profile.min_ppi:g} ppi: "
            "reshoot at higher resolution"
        )
        return CheckResult("resolution", Status.FAIL, effective, threshold, message)
    if declared and embedded and abs(embedded - declared) > declared * profile.ppi_tolerance:
        message = (
            f"embedded resolution {embedded:g} ppi disagrees with the declared {declared:g} ppi: "
            "fix the resolution setting in the capture software"
        )
        return CheckResult("resolution", Status.WARN, effective, threshold, message)
    return CheckResult("resolution", Status.PASS, effective, threshold, f"{effective:g} ppi")


def check_dimensions(info: ImageInfo, declared_ppi: float | None, profile: Profile) -> CheckResult:
    """Check that pixel dimensions and resolution imply a plausible page size."""
    threshold = f"page long side {profile.min_page_cm:g}-{profile.max_page_cm:g} cm"
    ppi = declared_ppi or info.ppi
    pixels = f"{info.width}x{info.height} px"
    if not ppi:
        return CheckResult(
            "dimensions", Status.PASS, pixels, threshold, f"{pixels}, physical size unknown"
        )
    width_cm, height_cm = (side / ppi * _CM_PER_INCH for side in (info.width, info.height))
    size = f"{width_cm:.1f} x {height_cm:.1f} cm"
    if profile.min_page_cm <= max(width_cm, height_cm) <= profile.max_page_cm:
        return CheckResult(
            "dimensions", Status.PASS, pixels, threshold, f"{pixels} = {size} at {ppi:g} ppi"
        )
    message = f"{pixels} at {ppi:g} ppi is {size}, implausible for a page: check the declared ppi"
    return CheckResult("dimensions", Status.WARN, pixels, threshold, message)


def check_pixels(grey: np.ndarray, page_type: str, profile: Profile) -> tuple[CheckResult, ...]:
    """Run the checks that look at pixels: exposure, focus and blank detection."""
    ink = ink_coverage(grey, profile.ink_delta)
    return (
        # Tone range matters only where text is expected; a blank leaf is flat by nature.
        check_exposure(grey, profile, expect_content=page_type == "page"),
        check_focus(grey, profile),
        check_blank(ink, page_type, profile),
    )


def check_exposure(grey: np.ndarray, profile: Profile, *, expect_content: bool) -> CheckResult:
    """Check clipped highlights and shadows, and the tone range of a text page."""
    high, low = float(np.mean(grey >= 255)), float(np.mean(grey <= 0))
    lo, hi = np.percentile(grey, [0.5, 99.5])
    value = round(high * 100, 3)
    threshold = f"< {profile.highlight_clip_warn:.1%} highlights at 255"
    status, message = (
        Status.PASS,
        f"{high:.2%} highlights and {low:.2%} shadows clipped, tone range {hi - lo:.0f}",
    )
    if high >= profile.highlight_clip_warn:
        status = Status.FAIL if high >= profile.highlight_clip_fail else Status.WARN
        message = f"overexposed: {high:.2%} of pixels clipped to white: reduce exposure and reshoot"
    elif low >= profile.shadow_clip_warn:
        status, message = (
            Status.WARN,
            f"{low:.2%} of pixels clipped to black: check exposure and background",
        )
    elif expect_content and hi - lo < profile.min_tone_range:
        status = Status.WARN
        message = (
            f"low contrast: tone range {hi - lo:.0f} grey levels < {profile.min_tone_range:g}: "
            "check lighting and exposure"
        )
    return CheckResult("exposure", status, value, threshold, message)


def check_focus(grey: np.ndarray, profile: Profile) -> CheckResult:
    """Check edge sharpness; pages without edges are not judged."""
    threshold = f">= {profile.min_focus:g} edge sharpness"
    focus = measure_focus(grey)
    if focus is None:
        return CheckResult("focus", Status.PASS, None, threshold, "no edges to measure focus on")
    if focus < profile.min_focus:
        message = (
            f"soft focus: edge sharpness {focus:.2f} < {profile.min_focus:g}: "
            "check focus and camera shake, then reshoot"
        )
        return CheckResult("focus", Status.WARN, round(focus, 3), threshold, message)
    return CheckResult(
        "focus", Status.PASS, round(focus, 3), threshold, f"edge sharpness {focus:.2f}"
    )


def check_blank(ink: float, page_type: str, profile: Profile) -> CheckResult:
    """Warn when a content page looks blank, or a page labelled blank has content."""
    value = round(ink * 100, 3)
    if page_type == "page":
        threshold = f">= {profile.blank_max_ink:.1%} ink"
        if ink < profile.blank_max_ink:
            message = (
                f"page looks blank (ink coverage {ink:.2%}): "
                "check the capture or set page_type to 'blank'"
            )
            return CheckResult("blank", Status.WARN, value, threshold, message)
        return CheckResult("blank", Status.PASS, value, threshold, f"ink coverage {ink:.2%}")
    if page_type == "blank":
        threshold = f"<= {profile.labelled_blank_max_ink:.1%} ink"
        if ink > profile.labelled_blank_max_ink:
            message = (
                f"page labelled blank has content (ink coverage {ink:.2%}): "
                "check the page order or page_type"
            )
            return CheckResult("blank", Status.WARN, value, threshold, message)
        return CheckResult("blank", Status.PASS, value, threshold, f"ink coverage {ink:.2%}")
    return CheckResult(
        "blank", Status.PASS, value, "n/a", f"not checked for page type '{page_type}'"
    )


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


def _analysis_grey(path: Path, side: int) -> np.ndarray:
    """Return the luminance of a copy whose long side is exactly ``side`` pixels."""
    rgb = to_numpy(load_page(path, max_side=side))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    scale = side / max(grey.shape)
    if scale != 1:  # smaller masters are enlarged so focus stays comparable
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    return grey


def _integrity_passed(info: ImageInfo) -> CheckResult:
    size = f"{info.width}x{info.height}"
    detail = f"{info.format.upper()} {size}, {info.bits_per_sample}-bit {info.colour_mode}"
    compression = f", {info.compression}" if info.compression else ""
    return CheckResult(
        "integrity",
        Status.PASS,
        f"{info.width}x{info.height}",
        "decodes fully",
        f"decodes fully: {detail}{compression}",
    )
