"""Generated capture batches with known QC problems, shared by the QC tests (and tests of them).

``write_batch`` renders a vertical woodblock-style book page by page from :class:`Spec`s;
each spec may carry one problem a technician could make at the camera.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pyvips
from PIL import Image, ImageCms

from pipeline.qc import REFERENCE_LAB_D50, Profile, lab_to_srgb8, measure_chart
from pipeline.sample_book import batch_document, page_label
from pipeline.synthetic import (
    PAPER_RGB,
    render_horizontal_page,
    render_vertical_page,
    sample_text_for_page,
)

W, H = 750, 1000  # the long side equals the test profile's analysis side: no resampling
PPI = 400
TEST_PROFILE = Profile(analysis_side=1000)  # ancient-books thresholds on a smaller copy, for speed
CHART_BACKGROUND = (120, 118, 112)


@dataclass(frozen=True)
class Spec:
    """One page to generate: its kind, label, skew and (optionally) one problem."""

    kind: str = "text"  # text, cover, blank, chart
    label: str = ""
    skew: float = 0.0
    problem: str = ""  # blurred, overexposed, cmyk, empty, repeat, tilted, vignetted, colour-shift
    text_index: int = 0  # which stretch of the sample text (a repeat uses the previous page's)


def text_specs(count: int, *, first: int = 0) -> list[Spec]:
    """Return ``count`` clean text pages labelled 卷一 葉一上, 葉一下 … from content index ``first``."""
    skews = (0.4, -0.6, 0.9, -0.3, 0.2, -1.1, 0.7, 0.0)
    return [Spec("text", page_label(first + i), skews[(first + i) % len(skews)], text_index=first + i)
            for i in range(count)]


def write_batch(dest: Path, specs: list[Spec], *, item_id: str = "qc-book") -> Path:
    """Write the pages of ``specs`` as 0001.tif … and a batch.json listing them."""
    dest.mkdir(parents=True, exist_ok=True)
    files = []
    for order, spec in enumerate(specs, start=1):
        name = f"{order:04d}.tif"
        _save(_render(spec, order), spec.problem, dest / name)
        kind = {"text": "page", "chart": "colour-target"}.get(spec.kind, spec.kind)
        files.append((name, spec.label or {"cover": "封面", "chart": "色卡"}.get(spec.kind, "空白"), kind))
    document = batch_document(item_id, files, ppi=PPI)
    (dest / "batch.json").write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    return dest


def _render(spec: Spec, seed: int) -> np.ndarray:
    if spec.kind == "cover":
        cover = np.full((H, W, 3), (46, 58, 92), np.uint8)
        cover[H // 12 : H // 12 + H // 3, W - W // 4 : W - W // 10] = (226, 214, 186)
        return cover
    if spec.kind == "chart":
        return render_chart(shift=spec.problem == "colour-shift")
    if spec.kind == "blank" or spec.problem == "empty":
        return np.asarray(render_horizontal_page("", width=W, height=H, frame=False, noise=0.01, seed=seed).image)
    skew = 4.0 if spec.problem == "tilted" else spec.skew
    # A repeat is the same leaf shot again: same text and layout, new sensor noise, moved a little.
    noise_seed = seed + 100 if spec.problem == "repeat" else seed
    page = render_vertical_page(sample_text_for_page(spec.text_index + 1, 180), width=W, height=H,
                                skew_deg=skew, seed=spec.text_index + 7, noise=0.0)
    pixels = _noisy(np.asarray(page.image), noise_seed)
    return _apply(pixels, spec.problem)


def _noisy(pixels: np.ndarray, seed: int) -> np.ndarray:
    grain = np.random.default_rng(seed).normal(0, 2.5, pixels.shape[:2])[..., None]
    return np.clip(pixels + grain, 0, 255).astype(np.uint8)


def _apply(pixels: np.ndarray, problem: str) -> np.ndarray:
    if problem == "blurred":  # soft, but above the absolute focus floor
        return cv2.GaussianBlur(pixels, (0, 0), 0.6)
    if problem == "overexposed":
        return np.clip(pixels.astype(np.float64) * 1.4, 0, 255).astype(np.uint8)
    if problem == "vignetted":
        return vignette(pixels, 0.12)
    if problem == "repeat":
        return np.roll(pixels, (-5, 7), axis=(0, 1))
    return pixels


def vignette(pixels: np.ndarray, amount: float) -> np.ndarray:
    """Darken towards the corners by ``amount`` (0.12 = corners 12% darker than the centre)."""
    h, w = pixels.shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    radius2 = (((x - w / 2) / (w / 2)) ** 2 + ((y - h / 2) / (h / 2)) ** 2) / 2
    return np.clip(pixels * (1 - amount * radius2)[..., None], 0, 255).astype(np.uint8)


def render_chart(*, shift: bool = False, width: int = W, height: int = H, turns: int = 0) -> np.ndarray:
    """Draw a ColorChecker 24 from the reference Lab values (sRGB), on a grey card.

    ``shift`` adds a white-balance error (red up, blue down); ``turns`` rotates the
    chart by multiples of 90 degrees, as a chart laid down the other way would be.
    """
    colours = lab_to_srgb8(REFERENCE_LAB_D50).astype(np.float64)
    if shift:
        colours = np.clip(colours * (1.14, 1.0, 0.84), 0, 255)
    patch, gap = 78, 14
    chart = np.full((4 * patch + 5 * gap, 6 * patch + 7 * gap, 3), 52, np.uint8)
    for index, colour in enumerate(colours.round().astype(np.uint8)):
        row, col = divmod(index, 6)
        top, left = gap + row * (patch + gap), gap + col * (patch + gap)
        chart[top : top + patch, left : left + patch] = colour
    chart = np.ascontiguousarray(np.rot90(chart, turns))
    page = np.full((height, width, 3), CHART_BACKGROUND, np.uint8)
    top, left = (height - chart.shape[0]) // 2, (width - chart.shape[1]) // 2
    page[top : top + chart.shape[0], left : left + chart.shape[1]] = chart
    return page


def _save(pixels: np.ndarray, problem: str, path: Path) -> None:
    if problem == "cmyk":  # a CMYK export, with its CMYK profile embedded
        image = pyvips.Image.new_from_array(pixels, interpretation="srgb")
        image.icc_export(output_profile="cmyk").copy(xres=PPI / 25.4, yres=PPI / 25.4).write_to_file(str(path))
        return
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="TIFF", compression="tiff_lzw", dpi=(PPI, PPI), icc_profile=icc)
    path.write_bytes(buffer.getvalue())


def test_a_repeat_is_the_previous_leaf_moved_with_new_noise(tmp_path: Path) -> None:
    first = text_specs(1)[0]
    write_batch(tmp_path, [first, Spec("text", page_label(1), first.skew, "repeat", text_index=0)])

    one, two = (np.asarray(Image.open(tmp_path / f"000{i}.tif")).astype(int) for i in (1, 2))
    moved_back = np.roll(two, (5, -7), axis=(0, 1))[20:-20, 20:-20]

    assert (tmp_path / "0001.tif").read_bytes() != (tmp_path / "0002.tif").read_bytes()
    assert np.abs(moved_back - one[20:-20, 20:-20]).mean() < 4  # only the sensor noise differs
    assert np.abs(two - one).mean() > 10  # but the shot moved


def test_the_drawn_chart_reads_back_as_the_reference() -> None:
    measured = measure_chart(render_chart())

    assert measured is not None
    assert measured.mean < 0.5
    assert np.abs(np.asarray(PAPER_RGB) - CHART_BACKGROUND).min() > 50  # the card is not paper
