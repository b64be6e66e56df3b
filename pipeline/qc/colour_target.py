"""Colour accuracy from an X-Rite ColorChecker 24 capture: CIEDE2000 against the reference values.

The chart is found in the page as a 4 x 6 grid of uniform, equal-sized squares (the
black patch may merge with the chart's black surround, so the grid is inferred from
the patches found), in any of its four orientations; the orientation whose colours
best match the reference is taken. Colours are measured on the sRGB analysis copy
(the master's embedded profile has been applied), converted to CIELAB D50 with the
ICC sRGB matrix. Only the cyan patch lies slightly outside sRGB.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.qc.model import CheckResult, Status
from pipeline.qc.profile import Profile

log = logging.getLogger(__name__)

# X-Rite ColorChecker Classic, "November 2014 edition and newer", CIELAB D50 / 2 degrees,
# row by row from dark skin (top left, with the grey row at the bottom).
REFERENCE_LAB_D50 = np.array([
    (37.54, 14.37, 14.92), (64.66, 19.27, 17.50), (49.32, -3.82, -22.54),
    (43.46, -12.74, 22.72), (54.94, 9.61, -24.79), (70.48, -32.26, -0.37),
    (62.73, 35.83, 56.50), (39.43, 10.75, -45.17), (50.57, 48.64, 16.67),
    (30.10, 22.54, -20.87), (71.77, -24.13, 58.19), (71.51, 18.24, 67.37),
    (28.37, 15.42, -49.80), (54.38, -39.72, 32.27), (42.43, 51.05, 28.62),
    (81.80, 2.67, 80.41), (50.63, 51.28, -14.12), (49.57, -29.71, -28.32),
    (95.19, -1.03, 2.93), (81.29, -0.57, 0.44), (66.89, -0.75, -0.06),
    (50.76, -0.13, 0.14), (35.63, -0.46, -0.48), (20.64, 0.07, -0.46),
])
PATCH_NAMES = (
    "dark skin", "light skin", "blue sky", "foliage", "blue flower", "bluish green",
    "orange", "purplish blue", "moderate red", "purple", "yellow green", "orange yellow",
    "blue", "green", "red", "yellow", "magenta", "cyan",
    "white 9.5", "neutral 8", "neutral 6.5", "neutral 5", "neutral 3.5", "black 2",
)
ROWS, COLS = 4, 6
D50_WHITE = np.array([0.96422, 1.0, 0.82521])
# sRGB (IEC 61966-2-1) to XYZ, Bradford-adapted to D50 as in the ICC sRGB profile.
SRGB_TO_XYZ_D50 = np.array([
    [0.4360747, 0.3850649, 0.1430804],
    [0.2225045, 0.7168786, 0.0606169],
    [0.0139322, 0.0971045, 0.7141733],
])


@dataclass(frozen=True)
class ChartMeasurement:
    """The 24 measured patch colours and their CIEDE2000 from the reference."""

    lab: np.ndarray  # 24 x 3, CIELAB D50, in reference order
    delta_e: np.ndarray  # 24

    @property
    def mean(self) -> float:
        return float(self.delta_e.mean())

    @property
    def worst_patch(self) -> int:
        return int(np.argmax(self.delta_e))


def check_colour_target(rgb: np.ndarray, profile: Profile) -> CheckResult:
    """Find a ColorChecker 24 on a colour-target page and check its colour accuracy."""
    threshold = (f"mean ΔE00 < {profile.mean_delta_e_warn:g} (fail >= {profile.mean_delta_e_fail:g}), "
                 f"max < {profile.max_delta_e_warn:g}")
    measured = measure_chart(rgb)
    if measured is None:
        message = ("no ColorChecker 24 found on this colour-target page: photograph the whole chart, "
                   "square to the camera and evenly lit, or correct the page type")
        return CheckResult("colour_accuracy", Status.WARN, None, threshold, message)
    mean, worst = measured.mean, measured.worst_patch
    peak = float(measured.delta_e[worst])
    summary = f"mean ΔE00 {mean:.2f}, max {peak:.2f} (patch {worst + 1}, {PATCH_NAMES[worst]})"
    status = Status.PASS
    if mean >= profile.mean_delta_e_fail:
        status = Status.FAIL
    elif mean >= profile.mean_delta_e_warn or peak >= profile.max_delta_e_warn:
        status = Status.WARN
    if status is not Status.PASS:
        summary += ": recalibrate the camera profile and white balance on the chart, then reshoot"
    return CheckResult("colour_accuracy", status, round(mean, 2), threshold, summary)


def measure_chart(rgb: np.ndarray) -> ChartMeasurement | None:
    """Locate the chart in an 8-bit sRGB image and measure its patches; None if not found."""
    grid = _find_grid(rgb)
    if grid is None:
        return None
    samples = _sample_grid(rgb, *grid)
    best: ChartMeasurement | None = None
    for candidate in _orientations(samples):
        lab = srgb8_to_lab(candidate.reshape(-1, 3))
        delta = delta_e_2000(lab, REFERENCE_LAB_D50)
        if best is None or delta.mean() < best.mean:
            best = ChartMeasurement(lab, delta)
    return best


def srgb8_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Convert 8-bit sRGB values (N x 3) to CIELAB D50."""
    v = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    xyz = linear @ SRGB_TO_XYZ_D50.T / D50_WHITE
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


def lab_to_srgb8(lab: np.ndarray) -> np.ndarray:
    """Convert CIELAB D50 (N x 3) to 8-bit sRGB, clipping colours outside the gamut."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[:, 0] + 16) / 116
    f = np.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], axis=1)
    xyz = np.where(f > 6 / 29, f ** 3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * D50_WHITE
    linear = np.clip(xyz @ np.linalg.inv(SRGB_TO_XYZ_D50).T, 0, 1)
    v = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.round(v * 255).astype(np.uint8)


def delta_e_2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """Return CIEDE2000 colour differences between rows of two N x 3 CIELAB arrays (Sharma 2005)."""
    (l1, a1, b1), (l2, a2, b2) = np.asarray(lab1, float).T, np.asarray(lab2, float).T
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar**7 / (c_bar**7 + 25.0**7)))
    a1, a2 = a1 * (1 + g), a2 * (1 + g)
    c1, c2 = np.hypot(a1, b1), np.hypot(a2, b2)
    h1, h2 = np.degrees(np.arctan2(b1, a1)) % 360, np.degrees(np.arctan2(b2, a2)) % 360
    chroma = c1 * c2
    dh = np.where(chroma == 0, 0.0, (h2 - h1 + 180) % 360 - 180)
    d_l, d_c = l2 - l1, c2 - c1
    d_h = 2 * np.sqrt(chroma) * np.sin(np.radians(dh / 2))
    l_bar, c_bar = (l1 + l2) / 2, (c1 + c2) / 2
    h_sum = h1 + h2
    h_bar = np.where(chroma == 0, h_sum, np.where(np.abs(h1 - h2) <= 180, h_sum / 2,
                                                  np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)))
    t = (1 - 0.17 * np.cos(np.radians(h_bar - 30)) + 0.24 * np.cos(np.radians(2 * h_bar))
         + 0.32 * np.cos(np.radians(3 * h_bar + 6)) - 0.20 * np.cos(np.radians(4 * h_bar - 63)))
    d_theta = 30 * np.exp(-(((h_bar - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(c_bar**7 / (c_bar**7 + 25.0**7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / np.sqrt(20 + (l_bar - 50) ** 2)
    s_c, s_h = 1 + 0.045 * c_bar, 1 + 0.015 * c_bar * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return np.sqrt((d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2 + r_t * (d_c / s_c) * (d_h / s_h))


def _find_grid(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Return the column centres, row centres and patch side of a 4 x 6 (or 6 x 4) grid."""
    patches = _uniform_squares(rgb)
    if len(patches) < 12:
        return None
    side = float(np.median(patches[:, 2]))
    columns, rows = _cluster(patches[:, 0], side), _cluster(patches[:, 1], side)
    if sorted((len(columns), len(rows))) != [ROWS, COLS]:
        log.debug("colour target: %d x %d grid of %d squares, not 4 x 6", len(columns), len(rows), len(patches))
        return None
    return columns, rows, side


def _uniform_squares(rgb: np.ndarray) -> np.ndarray:
    """Return (x, y, side) of the flat, square, equal-sized regions that could be patches."""
    smooth = cv2.GaussianBlur(rgb.astype(np.float32), (0, 0), 1.5)
    gradient = np.zeros(rgb.shape[:2], np.float32)
    for c in range(3):
        gradient += np.hypot(cv2.Sobel(smooth[..., c], cv2.CV_32F, 1, 0), cv2.Sobel(smooth[..., c], cv2.CV_32F, 0, 1))
    # Flat means no stronger than sensor noise: most of a chart capture is flat, so the
    # median gradient is the noise's.
    flat = (gradient < 12 + 3 * float(np.median(gradient))).astype(np.uint8)
    count, _, stats, centres = cv2.connectedComponentsWithStats(flat, connectivity=4)
    area_min = rgb.shape[0] * rgb.shape[1] * 2e-4
    found = []
    for i in range(1, count):
        w, h, area = stats[i][cv2.CC_STAT_WIDTH], stats[i][cv2.CC_STAT_HEIGHT], stats[i][cv2.CC_STAT_AREA]
        if area >= area_min and 0.6 < w / h < 1.6 and area >= 0.7 * w * h:
            found.append((centres[i][0], centres[i][1], float(np.sqrt(area))))
    if not found:
        return np.zeros((0, 3))
    squares = np.array(found)
    # Keep the most common size: the 24 patches are alike, other flat regions are not.
    sizes = squares[:, 2]
    support = [np.sum(np.abs(sizes - s) < 0.25 * s) for s in sizes]
    mode = sizes[int(np.argmax(support))]
    return squares[np.abs(sizes - mode) < 0.25 * mode]


def _cluster(values: np.ndarray, side: float) -> np.ndarray:
    """Group coordinates that lie within half a patch of each other; return the group means."""
    ordered = np.sort(values)
    groups = np.split(ordered, np.nonzero(np.diff(ordered) > side / 2)[0] + 1)
    return np.array([g.mean() for g in groups])


def _sample_grid(rgb: np.ndarray, columns: np.ndarray, rows: np.ndarray, side: float) -> np.ndarray:
    """Return the mean colour of the central half of each grid cell, rows x columns x 3."""
    half = max(1, round(side / 4))
    samples = np.zeros((len(rows), len(columns), 3))
    for j, y in enumerate(rows):
        for i, x in enumerate(columns):
            cy, cx = round(y), round(x)
            samples[j, i] = rgb[cy - half : cy + half + 1, cx - half : cx + half + 1].reshape(-1, 3).mean(axis=0)
    return samples


def _orientations(samples: np.ndarray) -> list[np.ndarray]:
    """Return the grid in every orientation that makes it 4 rows by 6 columns."""
    turns = (0, 2) if samples.shape[:2] == (ROWS, COLS) else (1, 3)
    return [np.rot90(samples, k) for k in turns]
