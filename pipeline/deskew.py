"""Estimate and remove the skew of a page image.

Sign convention, shared with :mod:`pipeline.synthetic`: an angle ``a > 0`` means
the page content is rotated ``a`` degrees counter-clockwise as seen on screen
(y axis down); rotating the image by ``-a`` (clockwise) straightens it.

The estimate maximises the sharpness of the row and column projection profiles
of the ink. Frame lines (四周雙邊), column rules (界行), columns of vertical text
and lines of horizontal print all give sharp profiles only when they are
axis-aligned, so one criterion serves woodblock and Republican-era pages alike.
A coarse search over the whole range on a small image is refined near the best
angle on a larger one, to a few thousandths of a degree.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np
import pyvips

from pipeline.errors import ImageError

log = logging.getLogger(__name__)

Affine = tuple[float, float, float, float, float, float]

WORK_LONG_SIDE = 2400  # fine search resolution (px, long side); masters are larger
COARSE_LONG_SIDE = 700
COARSE_STEP = 0.1  # degrees
FINE_WINDOW, FINE_STEP = 0.15, 0.01
FINEST_WINDOW, FINEST_STEP = 0.02, 0.002
MIN_INK_PIXELS = 150  # at working resolution; fewer means a blank page
NOISE_SIGMAS = 6.0  # darkness above paper that counts as ink, in noise standard deviations
_BINOMIAL = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)  # a Gaussian of sigma 1 bin


@dataclass(frozen=True)
class SkewEstimate:
    """How far the page content is rotated, counter-clockwise, in degrees."""

    angle: float
    confidence: float  # 0..1; below ~0.5 leave the page as it is
    method: str


@dataclass(frozen=True)
class DeskewResult:
    """A straightened page and the affine map from master to derivative pixels.

    ``affine = (a, b, c, d, e, f)`` maps a master point (x, y) to
    ``(a*x + b*y + c, d*x + e*y + f)`` in the derivative, with pixel centres at
    half-integers (the corner of the image is (0, 0)).
    """

    image: pyvips.Image
    angle_applied: float
    width: int
    height: int
    affine: Affine

    def to_derivative(self, x: float, y: float) -> tuple[float, float]:
        """Map a master point into the derivative."""
        a, b, c, d, e, f = self.affine
        return (a * x + b * y + c, d * x + e * y + f)

    def to_master(self, x: float, y: float) -> tuple[float, float]:
        """Map a derivative point back into the master."""
        a, b, c, d, e, f = self.affine
        det = a * e - b * d
        x, y = x - c, y - f
        return ((e * x - b * y) / det, (a * y - d * x) / det)


def estimate_skew(image: np.ndarray | pyvips.Image, *, max_angle: float = 7.0) -> SkewEstimate:
    """Estimate the skew of a page (grey or RGB numpy array, or pyvips image).

    Angles are searched in ``[-max_angle, max_angle]``. A page without enough
    straight structure (blank, an illustration, a few characters) gets a low
    confidence, and its angle should not be applied.
    """
    if not 0 < max_angle <= 45:
        raise ValueError(f"max_angle must be in (0, 45] degrees, not {max_angle}")
    grey = _working_grey(image)
    ink = _ink_weights(grey)
    if np.count_nonzero(ink) < MIN_INK_PIXELS:
        return SkewEstimate(0.0, 0.0, "projection: no ink found")
    coarse = _resize(ink, COARSE_LONG_SIDE)
    angles = np.arange(-max_angle, max_angle + COARSE_STEP / 2, COARSE_STEP)
    scores = _scores(_Points.of(coarse), angles)
    best = float(angles[int(np.argmax(scores))])
    points = _Points.of(ink)
    best = _refine(points, best, FINE_WINDOW, FINE_STEP)
    best = _refine(points, best, FINEST_WINDOW, FINEST_STEP)
    confidence = _confidence(scores)
    log.debug("skew %.3f deg, confidence %.2f", best, confidence)
    return SkewEstimate(round(best, 4), confidence, "projection-profile")


def deskew(
    image: pyvips.Image,
    estimate: SkewEstimate,
    *,
    min_confidence: float = 0.5,
    background: list[float] | None = None,
) -> DeskewResult:
    """Rotate ``image`` by ``-estimate.angle`` onto a larger canvas filled with paper colour."""
    identity = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    if estimate.confidence < min_confidence or estimate.angle == 0:
        return DeskewResult(image, 0.0, image.width, image.height, identity)
    affine, nw, nh = straightening_affine(estimate.angle, image.width, image.height)
    a, b, c, d, e, f = affine
    fill = background if background is not None else paper_colour(image)
    # libvips puts pixel centres at integers; ``affine`` puts them at half-integers.
    rotated = image.affine(
        [a, b, d, e],
        interpolate=pyvips.Interpolate.new("bicubic"),
        oarea=[0, 0, nw, nh],
        odx=c - 0.5 + 0.5 * (a + b),
        ody=f - 0.5 + 0.5 * (d + e),
        background=fill,
        extend="background",
    )
    log.debug("deskewed by %.3f deg to %d x %d", estimate.angle, nw, nh)
    return DeskewResult(rotated, estimate.angle, nw, nh, affine)


def paper_colour(image: pyvips.Image) -> list[float]:
    """Estimate the paper colour as the per-band median of the brighter half of the border."""
    small = image.resize(min(1.0, 400 / max(image.width, image.height)))
    pixels = small.numpy().reshape(small.height, small.width, small.bands).astype(np.float64)
    edge = max(2, round(min(small.width, small.height) * 0.04))
    border = np.concatenate(
        [pixels[:edge].reshape(-1, small.bands), pixels[-edge:].reshape(-1, small.bands),
         pixels[:, :edge].reshape(-1, small.bands), pixels[:, -edge:].reshape(-1, small.bands)]
    )
    # A scanner bed or a finger can darken part of the border; paper is its brighter half.
    light = border[:, : min(3, small.bands)].mean(axis=1)
    paper = border[light >= np.median(light)]
    return [float(v) for v in np.median(paper, axis=0)]


def straightening_affine(angle: float, width: int, height: int) -> tuple[Affine, int, int]:
    """Return the affine that removes a skew of ``angle`` degrees, centre to centre, and the new canvas size.

    Content is turned ``angle`` degrees clockwise onto a canvas just large enough
    to hold the whole page; ``straightening_affine(-a, ...)`` skews by ``a``.
    """
    r = math.radians(angle)
    cos, sin = math.cos(r), math.sin(r)
    # 1e-6 keeps float error from adding a spurious pixel column.
    nw = math.ceil(width * abs(cos) + height * abs(sin) - 1e-6)
    nh = math.ceil(width * abs(sin) + height * abs(cos) - 1e-6)
    # Clockwise with y down: x' = cos x - sin y, y' = sin x + cos y.
    c = nw / 2 - (cos * width / 2 - sin * height / 2)
    f = nh / 2 - (sin * width / 2 + cos * height / 2)
    return (cos, -sin, c, sin, cos, f), nw, nh


@dataclass(frozen=True)
class _Points:
    """Ink pixels: coordinates about the image centre and their weights."""

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    reach: int  # largest possible |coordinate| after any rotation, in pixels

    @classmethod
    def of(cls, ink: np.ndarray) -> _Points:
        ys, xs = np.nonzero(ink)
        h, w = ink.shape
        # Spread each pixel over its square: without this, bins line up with the pixel
        # grid at exactly 0 degrees and the profile looks sharpest there.
        spread = np.random.default_rng(0).uniform(-0.5, 0.5, (2, len(xs)))
        x = (xs - (w - 1) / 2 + spread[0]).astype(np.float32)
        y = (ys - (h - 1) / 2 + spread[1]).astype(np.float32)
        return cls(x, y, ink[ys, xs].astype(np.float32), math.ceil(math.hypot(w, h) / 2) + 2)


def _working_grey(image: np.ndarray | pyvips.Image) -> np.ndarray:
    """Return a grey uint8 array with the long side at most WORK_LONG_SIDE."""
    if isinstance(image, pyvips.Image):
        scale = WORK_LONG_SIDE / max(image.width, image.height)
        array = (image.resize(scale, kernel="linear") if scale < 1 else image).numpy()
    elif isinstance(image, np.ndarray):
        array = image
    else:
        raise ImageError("<image>", f"cannot estimate the skew of a {type(image).__name__}")
    if array.ndim not in (2, 3) or min(array.shape[:2]) < 16 or (array.ndim == 3 and array.shape[2] > 4):
        raise ImageError("<image>", f"expected a grey or RGB page image, got an array of shape {array.shape}")
    return _to_grey(_resize(array, WORK_LONG_SIDE))


def _to_grey(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    elif array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    if array.ndim == 3 and array.shape[2] >= 3:
        return cv2.cvtColor(np.ascontiguousarray(array[..., :3]), cv2.COLOR_RGB2GRAY)
    return array if array.ndim == 2 else np.ascontiguousarray(array[..., 0])


def _resize(array: np.ndarray, long_side: int) -> np.ndarray:
    scale = long_side / max(array.shape[:2])
    if scale >= 1:
        return array
    size = (max(1, round(array.shape[1] * scale)), max(1, round(array.shape[0] * scale)))
    return cv2.resize(array, size, interpolation=cv2.INTER_AREA)


def _ink_weights(grey: np.ndarray) -> np.ndarray:
    """Return float32 ink weights: darkness below the local paper level, noise removed."""
    h, w = grey.shape
    small = _resize(grey, 160)
    kernel = np.ones((5, 5), np.uint8)
    paper = cv2.blur(cv2.dilate(small, kernel), (5, 5))
    paper = cv2.resize(paper, (w, h), interpolation=cv2.INTER_LINEAR)
    dark = paper.astype(np.float32) - grey.astype(np.float32)
    median = float(np.median(dark))
    sigma = 1.4826 * float(np.median(np.abs(dark - median))) + 1.0
    floor = median + NOISE_SIGMAS * sigma
    return np.where(dark > floor, dark - floor, 0).astype(np.float32)


def _scores(points: _Points, angles: np.ndarray) -> np.ndarray:
    return np.array([_score(points, float(a)) for a in angles])


def _score(points: _Points, angle: float) -> float:
    """Return the sharpness of the column and row profiles after undoing ``angle``."""
    a = math.radians(angle)
    cos, sin = math.cos(a), math.sin(a)
    u = points.x * cos - points.y * sin
    v = points.x * sin + points.y * cos
    return _sharpness(u, points.w, points.reach) + _sharpness(v, points.w, points.reach)


def _sharpness(coord: np.ndarray, weights: np.ndarray, reach: int) -> float:
    """Return the energy of a profile binned with linear interpolation between bins."""
    pos = coord + reach
    index = pos.astype(np.int32)
    frac = pos - index
    size = 2 * reach + 2
    profile = np.bincount(index, weights * (1 - frac), size) + np.bincount(index + 1, weights * frac, size)
    # A little smoothing keeps single text lines from locking onto one stroke edge.
    profile = np.convolve(profile, _BINOMIAL, mode="same")
    return float(np.dot(profile, profile))


def _refine(points: _Points, centre: float, window: float, step: float) -> float:
    """Search ``centre +- window`` in ``step``s and interpolate the peak with a parabola."""
    for _ in range(6):  # follow the peak if it lies on the window's edge
        angles = centre + np.arange(-window, window + step / 2, step)
        scores = _scores(points, angles)
        i = int(np.argmax(scores))
        if 0 < i < len(scores) - 1:
            left, mid, right = scores[i - 1 : i + 2]
            bend = left - 2 * mid + right
            return float(angles[i] + (step * 0.5 * (left - right) / bend if bend < 0 else 0.0))
        centre = float(angles[i])
    return centre


def _confidence(scores: np.ndarray) -> float:
    """Map the coarse curve's peak height over its median to 0..1."""
    peak, base = float(scores.max()), float(np.median(scores))
    if peak <= 0:
        return 0.0
    contrast = (peak - base) / peak
    return round(min(1.0, contrast / 0.25), 3)
