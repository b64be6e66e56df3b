"""Is a master bitonal? 1-bit masters are; an 8-bit page whose histogram is two spikes nearly is.

Legacy scans were often binarised (1-bit, CCITT G4) or binarised and saved again as
8-bit grey or RGB. Such a page is white and black by nature, so exposure clipping
says nothing about it; QC judges it as a bitonal master instead (``check_bitonal``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvips

from pipeline.images import ImageInfo
from pipeline.qc.model import CheckResult, Status
from pipeline.qc.profile import Profile

log = logging.getLogger(__name__)

SPIKE_HALF_WIDTH = 4  # grey levels either side of a spike that still belong to it (JPEG ringing, noise)
MIN_SPIKE_GAP = 100  # grey levels between the two tones: ink and paper, not two shades of paper
PURE_TONE = 5  # levels from 0 or 255 that a lone spike must lie within to be binarised white or black
# A binarised page's ink is black; an overexposed capture clips only the paper and its
# ink stays grey, so two spikes count as bitonal only with the dark one this near black.
MAX_DARK_TONE = 32
MIN_LIGHT_TONE = 247  # and the light one this near white: a clean page on cream paper is not binarised
MAX_GREY_SPREAD = 24  # channel spread (max - min) below which an RGB pixel is grey
MAX_COLOURED_SHARE = 0.01  # an RGB master with more coloured pixels than this is a colour capture

CONTINUOUS, BITONAL, NEAR_BITONAL = "continuous", "bitonal", "near-bitonal"


@dataclass(frozen=True)
class Tone:
    """How many tones a master holds: continuous, bitonal (1-bit) or near-bitonal (two spikes)."""

    kind: str = CONTINUOUS
    two_tone_share: float = 0.0  # share of pixels on the two spikes
    dark_level: int = 0
    light_level: int = 255
    black: float = 0.0  # share of pixels on the dark side

    @property
    def bitonal(self) -> bool:
        return self.kind != CONTINUOUS

    def describe(self, info: ImageInfo) -> str:
        """Say what the master is, e.g. '1-bit black and white (ccitt-fax4), 14.8% black'."""
        if self.kind == BITONAL:
            compression = f" ({info.compression})" if info.compression else ""
            return f"1-bit black and white{compression}, {self.black:.1%} black"
        return (f"{info.bits_per_sample}-bit {info.colour_mode} holding two tones (levels {self.dark_level} and "
                f"{self.light_level}, {self.two_tone_share:.1%} of pixels), {self.black:.1%} black")


def measure_tone(path: Path, info: ImageInfo, rgb: np.ndarray, profile: Profile) -> Tone:
    """Return whether the master is bitonal; reads the full master only for grey-looking 8-bit pages.

    ``rgb`` is the analysis copy: it tells colour captures apart cheaply, but its
    resampling blurs the two spikes, so their share is counted on the master itself.
    """
    if info.bits_per_sample == 1:
        histogram = master_histogram(path)
        return Tone(BITONAL, 1.0, black=_share(histogram, 0, 128)) if histogram is not None else Tone(BITONAL)
    if info.bits_per_sample != 8 or info.colour_mode not in ("grey", "rgb"):
        return Tone()
    if info.colour_mode == "rgb" and coloured_share(rgb) > MAX_COLOURED_SHARE:
        return Tone()
    histogram = master_histogram(path)
    if histogram is None:
        return Tone()
    dark, light, share = two_spikes(histogram)
    if share < profile.near_bitonal_share or dark > MAX_DARK_TONE or light < MIN_LIGHT_TONE:
        return Tone(CONTINUOUS, share, dark, light)
    return Tone(NEAR_BITONAL, share, dark, light, black=_share(histogram, 0, (dark + light) // 2 + 1))


def coloured_share(rgb: np.ndarray) -> float:
    """Return the share of pixels whose channels differ by more than MAX_GREY_SPREAD."""
    spread = rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2)
    return float(np.mean(spread > MAX_GREY_SPREAD))


def two_spikes(histogram: np.ndarray) -> tuple[int, int, float]:
    """Return the dark and light spike levels and the share of pixels on them.

    A blank leaf of a binarised batch is one spike at pure white; it counts as two
    tones whose black one is empty. One spike anywhere else is paper, not two tones.
    """
    counts = histogram.astype(np.float64)
    first = int(counts.argmax())
    others = counts.copy()
    others[max(0, first - MIN_SPIKE_GAP + 1) : first + MIN_SPIKE_GAP] = 0
    second = int(others.argmax()) if others.any() else (0 if first > 127 else 255)
    if not others.any() and PURE_TONE < first < 255 - PURE_TONE:
        return min(first, second), max(first, second), 0.0
    share = sum(_share(counts, level - SPIKE_HALF_WIDTH, level + SPIKE_HALF_WIDTH + 1) for level in (first, second))
    return min(first, second), max(first, second), share


def master_histogram(path: Path) -> np.ndarray | None:
    """Return the 256-bin grey histogram of the whole master, in one sequential read."""
    try:
        image = pyvips.Image.new_from_file(str(path), access="sequential", revalidate=True)  # see images.py
        if image.hasalpha():
            image = image.flatten(background=255)
        if image.bands >= 3:
            image = image.colourspace("b-w")
        if image.format != "uchar":
            image = image.cast("uchar")
        return np.asarray(image[0].hist_find().numpy()).ravel()
    except pyvips.Error as exc:  # the integrity check has decoded it already; do not stop QC here
        log.warning("%s: grey histogram failed, judged as continuous tone: %s", path, exc)
        return None


def check_bitonal(tone: Tone, info: ImageInfo, profile: Profile) -> CheckResult | None:
    """Judge a bitonal master as such: a page mostly black was binarised too dark or inverted."""
    if not tone.bitonal:
        return None
    threshold = f"<= {profile.bitonal_max_black:.0%} black"
    value = round(tone.black * 100, 3)
    if tone.black > profile.bitonal_max_black:
        message = (f"bitonal master {tone.describe(info)}: binarised too dark or with black and white inverted; "
                   "check the conversion")
        return CheckResult("bitonal", Status.WARN, value, threshold, message)
    return CheckResult("bitonal", Status.PASS, value, threshold, f"bitonal master: {tone.describe(info)}")


def _share(counts: np.ndarray, start: int, stop: int) -> float:
    total = float(counts.sum())
    return float(counts[max(0, start) : max(0, stop)].sum()) / total if total else 0.0
