"""Ingest of station captures with the ground round the page: the access image is cropped to the
page, the manifest's canvases have the cropped size, and METS records the crop."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import pyvips
from lxml import etree
from PIL import Image, ImageCms

from pipeline.checksums import digest_file
from pipeline.crop import MARGIN
from pipeline.sample_book import batch_document
from pipeline.synthetic_capture import render_capture
from storage_config.settings import Settings
from workflows.run import run_ingest

PREMIS = {"premis": "http://www.loc.gov/premis/v3"}
SKEW = -1.2


def save_master(rgb: np.ndarray, path: Path) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="TIFF", compression="tiff_lzw", dpi=(400, 400), icc_profile=icc)
    path.write_bytes(buffer.getvalue())


def skewed(rgb: np.ndarray, angle: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
    return cv2.warpAffine(rgb, matrix, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


@pytest.fixture
def capture_batch(tmp_path: Path) -> tuple[Path, list[tuple[int, int, int, int]]]:
    """Two leaves shot on a camera stand: on black cloth (skewed), and on a white bed beside a colour target."""
    dest = tmp_path / "captures"
    dest.mkdir()
    dark = render_capture("dark", size=(1800, 1500), seed=11)
    light = render_capture("light", target=True, size=(1800, 1500), seed=12)
    save_master(skewed(dark.image, SKEW), dest / "0001.tif")
    save_master(light.image, dest / "0002.tif")
    document = batch_document("crop-book", [("0001.tif", "卷一 葉一上", "page"), ("0002.tif", "卷一 葉一下", "page")],
                              ppi=400)
    (dest / "batch.json").write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    return dest, [dark.page_box, light.page_box]


@pytest.mark.slow
def test_captures_are_cropped_to_the_page_and_the_canvases_have_the_cropped_size(
        capture_batch: tuple[Path, list[tuple[int, int, int, int]]], settings: Settings) -> None:
    batch_dir, page_boxes = capture_batch
    before = {p.name: digest_file(p).sha256 for p in batch_dir.glob("*.tif")}

    result = run_ingest(batch_dir, settings, accept_warnings=True, operator="王芳",
                        reason="test captures: generated ground")

    assert result.ok, result.failures
    manifest = json.loads((settings.publish_dir / "crop-book/manifest.json").read_text(encoding="utf-8"))
    canvases = manifest["items"]
    for page_id, canvas, (_, _, page_w, page_h) in zip(("p0001", "p0002"), canvases, page_boxes):
        access = pyvips.Image.new_from_file(str(settings.publish_dir / f"crop-book/images/{page_id}.tif"))
        assert (canvas["width"], canvas["height"]) == (access.width, access.height)
        margin = MARGIN * max(page_w, page_h)
        assert abs(access.width - (page_w + 2 * margin)) <= 0.02 * page_w
        assert abs(access.height - (page_h + 2 * margin)) <= 0.02 * page_h
        record = json.loads((settings.work_dir / f"crop-book/pages/{page_id}/derivative/deskew.json")
                            .read_text(encoding="utf-8"))
        assert record["crop"]["applied"] and (record["width"], record["height"]) == (access.width, access.height)
        assert len(record["master_region"]) == 4
    assert {p.name: digest_file(p).sha256 for p in batch_dir.glob("*.tif")} == before  # masters untouched
    mets = etree.parse(str(settings.home / "storage/primary/aips/crop-book/crop-book.v1/data/mets.xml"))
    details = mets.xpath("//premis:eventDetail[starts-with(., 'access derivative')]/text()", namespaces=PREMIS)
    assert len(details) == 2
    assert all("cropped to the page (" in d and "master region" in d for d in details)
    assert sorted(d.split("cropped to the page (")[1].split(" ground")[0] for d in details) == ["dark", "light"]
    angles = sorted(float(d.split("deskew estimated ")[1].split(" deg")[0]) for d in details)
    assert angles[0] == pytest.approx(SKEW, abs=0.1)
