"""Which way up a page is: Tesseract's orientation and script detection (OSD) on a small copy.

A page photographed upside down, or a landscape spread shot sideways, reads as
nonsense to either OCR engine, and a researcher would see it turned in the viewer.
OSD judges orientation from the glyphs themselves, so it works for vertical and
horizontal text alike (PP-OCR's recogniser reads CJK lines turned by 90° as
readily as upright ones, so its confidence cannot tell those two apart). The turn
found is applied to the access derivative, never to the master.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np
import pytesseract
import pyvips
from PIL import Image

from pipeline.deskew import Affine

__all__ = ["MIN_CONFIDENCE", "Orientation", "compose", "detect_orientation", "turn_affine", "upright"]

log = logging.getLogger(__name__)

# OSD's orientation confidence below which a page is left as it is. On upright,
# turned and upside-down test pages (generated and real woodblock leaves, CJK and
# Latin, 200x300 to 1200x1500 px) the right turn scored 3.2 to 24; pages with no
# text (illustrations) scored 0.1 to 0.4.
MIN_CONFIDENCE = 2.0
WORK_LONG_SIDE = 1600  # OSD needs glyphs, not pixels; a 5000 px master costs 10x as much
TIMEOUT = 30  # seconds


@dataclass(frozen=True)
class Orientation:
    """The clockwise turn (0, 90, 180, 270) that makes a page upright, and how sure OSD was."""

    turn: int
    confidence: float
    script: str = ""  # the script OSD saw (Han, Latin, Hangul...), "" when it could not tell
    note: str = ""  # why the page was left as it is, when it was

    def as_dict(self) -> dict[str, object]:
        return {"turn": self.turn, "confidence": round(self.confidence, 2), "script": self.script,
                "method": "tesseract-osd", "note": self.note}


def detect_orientation(grey: np.ndarray, *, min_confidence: float = MIN_CONFIDENCE) -> Orientation:
    """Return the turn that makes ``grey`` (a uint8 page) upright; 0 unless OSD is sure."""
    small = _shrunk(grey)
    try:
        found = pytesseract.image_to_osd(Image.fromarray(small), config="--psm 0",
                                         output_type=pytesseract.Output.DICT, timeout=TIMEOUT)
    except pytesseract.TesseractError as exc:  # "Too few characters": blank pages, pictures
        return Orientation(0, 0.0, note=f"orientation not detected: {_reason(exc)}")
    except RuntimeError as exc:  # pytesseract's timeout
        return Orientation(0, 0.0, note=f"orientation not detected: {exc}")
    turn, confidence, script = int(found["rotate"]) % 360, float(found["orientation_conf"]), str(found["script"])
    if confidence < min_confidence:
        return Orientation(0, confidence, script, f"orientation unsure ({confidence:.2f} < {min_confidence:g})")
    log.debug("OSD: turn %d, confidence %.2f, script %s", turn, confidence, script)
    return Orientation(turn, confidence, script)


def upright(image: pyvips.Image) -> tuple[pyvips.Image, Orientation]:
    """Return ``image`` turned upright (a new image; the input is untouched) and the orientation found."""
    scale = min(1.0, WORK_LONG_SIDE / max(image.width, image.height))
    small = (image.resize(scale, kernel="linear") if scale < 1 else image).colourspace("b-w")
    grey = small.extract_band(0).cast("uchar").numpy()
    orientation = detect_orientation(np.ascontiguousarray(grey))
    if orientation.turn:
        image = image.rot(f"d{orientation.turn}")  # libvips turns clockwise, losslessly
    return image, orientation


def turn_affine(turn: int, width: int, height: int) -> Affine:
    """Return the map of a point of a ``width`` x ``height`` image onto the image turned ``turn``° clockwise."""
    maps: dict[int, Affine] = {
        0: (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
        90: (0.0, -1.0, float(height), 1.0, 0.0, 0.0),
        180: (-1.0, 0.0, float(width), 0.0, -1.0, float(height)),
        270: (0.0, 1.0, 0.0, -1.0, 0.0, float(width)),
    }
    return maps[turn % 360]


def compose(outer: Affine, inner: Affine) -> Affine:
    """Return the affine that applies ``inner`` first, then ``outer``."""
    a, b, c, d, e, f = outer
    p, q, r, s, t, u = inner
    return (a * p + b * s, a * q + b * t, a * r + b * u + c, d * p + e * s, d * q + e * t, d * r + e * u + f)


def _shrunk(grey: np.ndarray) -> np.ndarray:
    scale = WORK_LONG_SIDE / max(grey.shape[:2])
    if scale >= 1:
        return np.ascontiguousarray(grey)
    size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA)


def _reason(exc: pytesseract.TesseractError) -> str:
    message = str(exc.message if hasattr(exc, "message") else exc)
    return "too little text" if "Too few characters" in message else message.strip().splitlines()[-1][:120]
