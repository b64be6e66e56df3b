"""Run every per-page check on one master: header checks, then pixel checks on a small copy."""

from __future__ import annotations

import base64
import logging
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from pipeline.errors import ImageError
from pipeline.images import ImageInfo, load_page, probe_image, to_numpy, verify_decodes
from pipeline.qc.colour_target import check_colour_target
from pipeline.qc.double_leaf import check_double_leaf
from pipeline.qc.file_checks import (
    check_bit_depth,
    check_colour_mode,
    check_compression,
    check_dimensions,
    check_icc,
    check_integrity_passed,
    check_resolution,
)
from pipeline.qc.model import SEVERITY, CheckResult, PageQC, Relaxation, Status
from pipeline.qc.pixels import check_pixels
from pipeline.qc.profile import DEFAULT_PROFILE, Profile
from pipeline.qc.tone import Tone, check_bitonal, measure_tone

log = logging.getLogger(__name__)

THUMBNAIL_SIDE = 320  # px, long side of the contact-sheet image
THUMBNAIL_QUALITY = 75


def check_page(
    path: str | Path,
    *,
    page_id: str,
    declared_ppi: float | None,
    page_type: str,
    profile: Profile = DEFAULT_PROFILE,
    split: bool = False,
) -> PageQC:
    """Run every QC check on one master; never raises for a bad image.

    Pixel checks run on a copy shrunk on load to ``profile.analysis_side`` pixels
    on the long side (smaller masters are enlarged), so the measures, focus
    especially, do not depend on capture resolution. ``split`` is batch.json's word
    that the master shows two leaves (``Page.split``): the double-leaf check then
    reports the fold it finds instead of warning.
    """
    path = Path(path)
    page_type = str(getattr(page_type, "value", page_type))
    try:
        info = probe_image(path, max_pixels=profile.max_pixels)
        verify_decodes(path, max_pixels=profile.max_pixels)
        rgb = analysis_copy(path, profile.analysis_side)
    except ImageError as exc:
        log.info("%s: integrity check failed: %s", page_id, exc.problem)
        message = f"{exc.problem}: {exc.hint}" if exc.hint else exc.problem
        failed = CheckResult("integrity", Status.FAIL, None, "decodes fully", message)
        return PageQC(page_id, str(path), (failed,))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    tone = measure_tone(path, info, rgb, profile)
    results = [
        *header_results(info, declared_ppi, tone, profile),
        *check_pixels(grey, page_type, profile, bitonal=tone.bitonal),
        check_double_leaf(grey, page_type, profile, declared_split=split,
                          master_width=oriented_width(info, grey.shape), file=path.name),
    ]
    if page_type == "colour-target":
        results.append(check_colour_target(rgb, profile))
    return PageQC(page_id, str(path), tuple(results), thumbnail_uri(rgb))


def header_results(info: ImageInfo, declared_ppi: float | None, tone: Tone, profile: Profile) -> list[CheckResult]:
    """Run the checks on the header and tones; mark those the profile passes only by relaxing its baseline."""
    results = _header_checks(info, declared_ppi, tone, profile)
    if profile.baseline is None:
        return results
    baseline = {r.check: r for r in _header_checks(info, declared_ppi, tone, profile.baseline)}
    return [mark_relaxed(r, baseline.get(r.check), profile) for r in results]


def mark_relaxed(result: CheckResult, baseline: CheckResult | None, profile: Profile) -> CheckResult:
    """Record on ``result`` that the baseline profile would have judged it worse (nothing passes silently)."""
    if baseline is None or profile.baseline is None or SEVERITY[baseline.status] <= SEVERITY[result.status]:
        return result
    relaxation = Relaxation(profile.name, profile.baseline.name, baseline.status, baseline.threshold)
    return replace(result, message=f"{result.message}; {relaxation.describe()}", relaxed=relaxation)


def _header_checks(info: ImageInfo, declared_ppi: float | None, tone: Tone, profile: Profile) -> list[CheckResult]:
    bitonal = check_bitonal(tone, info, profile)
    return [
        check_integrity_passed(info),
        check_compression(info, profile),
        check_colour_mode(info, profile, tone),
        check_bit_depth(info, profile),
        check_icc(info, profile, tone),
        check_resolution(info, declared_ppi, profile),
        check_dimensions(info, declared_ppi, profile),
        *([bitonal] if bitonal else []),
    ]


def oriented_width(info: ImageInfo, shape: tuple[int, ...]) -> int:
    """Return the master's width as the analysis copy shows it (libvips turns by EXIF orientation)."""
    turned = (info.width > info.height) != (shape[1] > shape[0]) and info.width != info.height
    return info.height if turned else info.width


def analysis_copy(path: Path, side: int) -> np.ndarray:
    """Return an 8-bit sRGB copy whose long side is exactly ``side`` pixels."""
    rgb = to_numpy(load_page(path, max_side=side))
    scale = side / max(rgb.shape[:2])
    if abs(scale - 1) > 1e-3:  # smaller masters are enlarged so focus stays comparable
        rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(rgb)


def thumbnail_uri(rgb: np.ndarray) -> str:
    """Return a small JPEG of the page as a data: URI, for the contact sheet."""
    scale = THUMBNAIL_SIDE / max(rgb.shape[:2])
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_QUALITY])
    if not ok:
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii")


def thumbnail_pixels(uri: str) -> np.ndarray | None:
    """Decode a thumbnail data: URI back to a grey array (None if empty or unreadable)."""
    if not uri.startswith("data:image/jpeg;base64,"):
        return None
    data = np.frombuffer(base64.b64decode(uri.partition(",")[2]), dtype=np.uint8)
    grey = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    return grey if grey is not None and grey.size else None
