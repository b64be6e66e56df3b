"""PaddleOCR's PP-OCRv6 Chinese models through ``rapidocr`` 3.x on onnxruntime, on the CPU.

The models (``PP-OCRv6_det_small``, ``PP-OCRv6_rec_small``) ship inside the
``rapidocr`` wheel: nothing is downloaded at run time, and a missing model file is
an error, never a fetch. We use RapidOCR's detector and recogniser directly, not its
whole-page pipeline: our layout steps decide which boxes are text, which are the
版心 or a note, and in what order they are read. Tall boxes go to the recogniser
rotated 90° counter-clockwise, as PP-OCR itself does with vertical text. Character
positions come from the CTC frames each character was decoded from.
"""

from __future__ import annotations

import importlib.metadata
import logging
import math
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.errors import OcrError
from pipeline.ocr.model import Box, Deadline, OcrEngine, ReadChar, ReadLine

__all__ = ["DETECT_MAX_SIDE", "PpOcrEngine"]

log = logging.getLogger(__name__)

PACKAGE = "rapidocr"
MODEL_VERSION = "PP-OCRv6"
BATCH = 6  # crops per recogniser call, as RapidOCR's own default
REC_HEIGHT = 48  # the recogniser's input height (3 x 48 x W)
# Pages are shrunk to this longest side for detection, as RapidOCR does by default:
# the detector was trained on such sizes, and a 5000 px page costs 6x the time.
DETECT_MAX_SIDE = 2000
# A run of blank frames at least this long, where non-blank classes reach this much
# probability at some frame, hides a glyph (see PpOcrEngine._decode).
HIDDEN_MIN_FRAMES = 3
HIDDEN_MIN_PROBABILITY = 0.2
TALL = 1.5  # a detected box this many times taller than wide is a vertical line (RapidOCR's rule)


class PpOcrEngine:
    """PP-OCRv6 detection and recognition (Chinese, simplified and traditional) via rapidocr."""

    name = OcrEngine.PPOCR

    def __init__(self, *, threads: int = 0, models: tuple[Path, Path] | None = None) -> None:
        """``models`` (detector, recogniser ONNX files) replaces the wheel's PP-OCRv6 pair; the
        benchmark uses it to compare earlier PP-OCR releases on the same code path."""
        try:
            from rapidocr import RapidOCR
        except ImportError:
            raise OcrError(f"the PP-OCR engine needs the {PACKAGE} package (pip install {PACKAGE})") from None
        folder = Path(sys.modules["rapidocr"].__file__ or "").parent / "models"
        det, rec = models or (folder / _MODEL_FILES[0], folder / _MODEL_FILES[1])
        params: dict[str, Any] = {"Global.log_level": "error", "Global.model_root_dir": str(folder)}
        if models:
            params |= {"Det.model_path": str(det), "Rec.model_path": str(rec)}
        if threads:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = threads
        missing = [str(path) for path in (det, rec) if not path.is_file()]
        if missing:
            raise OcrError(f"PP-OCR model files not found: {', '.join(missing)} (reinstall {PACKAGE})")
        try:
            ocr = RapidOCR(params=params)
            self._det = ocr._load_det_model()
            self._rec = ocr._load_rec_model()
        except Exception as exc:  # rapidocr raises bare Exceptions for config and model problems
            raise OcrError(f"cannot load the PP-OCR models from {folder}: {exc}") from exc
        self._characters: list[str] = list(self._rec.postprocess_op.character)
        self.model = f"{det.stem}+{rec.stem}"

    @property
    def characters(self) -> frozenset[str]:
        """The characters the recogniser can output (its dictionary)."""
        return frozenset(c for c in self._characters[1:] if c.strip())

    def version(self) -> str:
        return f"{importlib.metadata.version(PACKAGE)} (onnxruntime {importlib.metadata.version('onnxruntime')})"

    def read_columns(self, crops: list[np.ndarray], deadline: Deadline) -> list[list[ReadChar]]:
        """Read vertical crops top to bottom; positions are crop rows."""
        return self._recognise([np.rot90(crop) for crop in crops], deadline)

    def read_lines(self, crops: list[np.ndarray], deadline: Deadline) -> list[list[ReadChar]]:
        """Read horizontal crops left to right; positions are crop columns."""
        return self._recognise(crops, deadline)

    def detect(self, grey: np.ndarray, deadline: Deadline) -> list[Box]:
        """Return the boxes of the text lines (or columns) on a grey page, in page pixels, unordered."""
        deadline.remaining()
        height, width = grey.shape
        scale = min(1.0, DETECT_MAX_SIDE / max(height, width))
        small = grey if scale == 1.0 else cv2.resize(grey, (round(width * scale), round(height * scale)),
                                                     interpolation=cv2.INTER_AREA)
        try:
            found = self._det(cv2.cvtColor(small, cv2.COLOR_GRAY2BGR))
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise OcrError(f"{deadline.page}: PP-OCR detection failed: {exc}") from exc
        quads = found.boxes if found.boxes is not None else []
        boxes = [_bounds(np.asarray(quad, dtype=float) / scale, grey.shape) for quad in quads]
        return [b for b in boxes if b[2] > b[0] and b[3] > b[1]]

    def read_page(self, grey: np.ndarray, deadline: Deadline, *, vertical: bool) -> list[ReadLine]:
        """Detect text boxes, read each, and order them right to left (vertical) or top down."""
        boxes = self.detect(grey, deadline)
        tall = [(b[3] - b[1]) >= TALL * (b[2] - b[0]) for b in boxes]
        crops = [np.rot90(grey[y0:y1, x0:x1]) if t else grey[y0:y1, x0:x1] for (x0, y0, x1, y1), t in zip(boxes, tall)]
        reads = self._recognise(crops, deadline, spaces=True)
        lines = [_page_line(box, chars, t) for box, chars, t in zip(boxes, reads, tall) if chars]
        key = (lambda ln: (-ln.box[2], ln.box[1])) if vertical else (lambda ln: (ln.box[1], ln.box[0]))
        return sorted(lines, key=key)

    def _recognise(self, crops: list[np.ndarray], deadline: Deadline, *, spaces: bool = False) -> list[list[ReadChar]]:
        """Recognise horizontal crops in batches of similar width; positions are crop columns.

        ``spaces`` keeps the spaces between words (as ReadChar " "), for alphabetic lines.
        """
        order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1] / max(1, crops[i].shape[0]))
        results: list[list[ReadChar]] = [[] for _ in crops]
        for first in range(0, len(order), BATCH):
            deadline.remaining()
            indices = [i for i in order[first : first + BATCH] if min(crops[i].shape[:2]) > 0]
            if not indices:
                continue
            for index, chars in zip(indices, self._recognise_batch([crops[i] for i in indices], deadline)):
                results[index] = chars if spaces else [c for c in chars if c.char != " "]
        return results

    def _recognise_batch(self, crops: list[np.ndarray], deadline: Deadline) -> list[list[ReadChar]]:
        ratio = max(320 / REC_HEIGHT, *(c.shape[1] / max(1, c.shape[0]) for c in crops))
        images = [cv2.cvtColor(np.ascontiguousarray(c), cv2.COLOR_GRAY2BGR) for c in crops]
        batch = np.stack([self._rec.resize_norm_img(image, ratio) for image in images]).astype(np.float32)
        try:
            predictions = self._rec.session(batch)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise OcrError(f"{deadline.page}: PP-OCR recognition failed: {exc}") from exc
        stride = batch.shape[3] / predictions.shape[1]  # input pixels per CTC frame
        return [
            self._decode(frames, stride * crop.shape[1] / _resized_width(crop, ratio))
            for frames, crop in zip(predictions, crops)
        ]

    def _decode(self, frames: np.ndarray, scale: float) -> list[ReadChar]:
        """Greedy CTC decoding that keeps, per character, its frames and their mean probability.

        A glyph the model has no class for (a rare traditional form) can decode as a
        run of blanks in which a near form still shows: such a run gets its best
        non-blank class.
        """
        best, probability = frames.argmax(axis=1), frames.max(axis=1)
        chars: list[ReadChar] = []
        start = 0
        for t in range(1, len(best) + 1):
            if t < len(best) and best[t] == best[start]:
                continue
            index = int(best[start])
            if index == 0 and chars and t < len(best):  # between glyphs, not in the margins
                index = self._hidden_glyph(frames[start:t])
            if index and index < len(self._characters) and (self._characters[index].strip() or _between(chars, t, best)):
                confidence = float(frames[start:t, index].max() if best[start] == 0 else probability[start:t].mean())
                chars.append(ReadChar(self._characters[index], confidence, start * scale, t * scale))
            start = t
        return chars

    @staticmethod
    def _hidden_glyph(blanks: np.ndarray) -> int:
        """Return the class a run of blank frames most likely hides, or 0 (blank) if none."""
        if len(blanks) < HIDDEN_MIN_FRAMES:
            return 0
        ink = 1.0 - blanks[:, 0]
        if ink.max() < HIDDEN_MIN_PROBABILITY:
            return 0
        return int(blanks[:, 1:].sum(axis=0).argmax()) + 1


_MODEL_FILES = (f"{MODEL_VERSION}_det_small.onnx", f"{MODEL_VERSION}_rec_small.onnx")


def _between(chars: list[ReadChar], t: int, best: np.ndarray) -> bool:
    """True when a space decoded at frame ``t`` stands between two characters, not at an end."""
    return bool(chars) and chars[-1].char != " " and t < len(best)


def _resized_width(crop: np.ndarray, ratio: float) -> float:
    """Return the width RapidOCR's resize gives ``crop`` inside a batch padded to ``ratio``."""
    return min(REC_HEIGHT * ratio, math.ceil(REC_HEIGHT * crop.shape[1] / max(1, crop.shape[0])))


def _bounds(quad: np.ndarray, shape: tuple[int, ...]) -> Box:
    xs, ys = quad[:, 0], quad[:, 1]
    height, width = shape[:2]
    return (
        max(0, int(np.floor(xs.min()))),
        max(0, int(np.floor(ys.min()))),
        min(width, int(np.ceil(xs.max()))),
        min(height, int(np.ceil(ys.max()))),
    )


def _page_line(box: Box, chars: list[ReadChar], tall: bool) -> ReadLine:
    offset = box[1] if tall else box[0]
    moved = tuple(ReadChar(c.char, c.confidence, c.start + offset, c.end + offset) for c in chars)
    return ReadLine(box, moved, tall)
