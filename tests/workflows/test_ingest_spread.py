"""Ingest of a spread batch: an open book on a camera stand and an uncut double leaf (版心 in the
middle) each become two canvases, right leaf first, both pointing into one master."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import pyvips
from lxml import etree
from PIL import Image, ImageCms

from pipeline.checksums import digest_file
from pipeline.sample_book import batch_document
from pipeline.synthetic_capture import render_capture, render_double_leaf
from pipeline.xmlns import NAMESPACES
from storage_config.settings import Settings
from workflows.run import run_ingest

ITEM = "spread-book"


def save_master(rgb: np.ndarray, path: Path) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="TIFF", compression="tiff_lzw", dpi=(400, 400), icc_profile=icc)
    path.write_bytes(buffer.getvalue())


@pytest.fixture
def spread_batch(tmp_path: Path) -> tuple[Path, dict[str, float]]:
    """An open book on black cloth and an uncut double leaf, in a batch whose capture.mode is spread."""
    dest = tmp_path / "captures"
    dest.mkdir()
    book = render_capture("dark", spread=True, size=(1900, 1300), seed=21)
    sheet = render_double_leaf(width=1700, height=1150, seed=4)
    save_master(book.image, dest / "open book.tif")
    save_master(sheet.image, dest / "筒子頁.tif")
    document = batch_document(ITEM, [("open book.tif", "1", "page"), ("筒子頁.tif", "2", "page")], ppi=400)
    document["capture"]["mode"] = "spread"
    (dest / "batch.json").write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    folds = {"p0001": book.page_box[0] + book.page_box[2] // 2, "p0002": sheet.fold_x}
    return dest, folds


@pytest.mark.slow
def test_each_two_leaf_master_becomes_two_canvases_right_first_pointing_into_one_master(
        spread_batch: tuple[Path, dict[str, float]], settings: Settings) -> None:
    batch_dir, folds = spread_batch
    before = {p.name: digest_file(p).sha256 for p in batch_dir.glob("*.tif")}

    result = run_ingest(batch_dir, settings, accept_warnings=True, operator="王芳", reason="test spreads")

    assert result.ok, result.failures
    manifest = json.loads((settings.publish_dir / f"{ITEM}/manifest.json").read_text(encoding="utf-8"))
    canvases = manifest["items"]
    assert [c["id"].rsplit("/", 1)[1] for c in canvases] == ["p0001r", "p0001l", "p0002r", "p0002l"]
    assert [c["label"]["none" if "none" in c["label"] else "zh-Hant"][0] for c in canvases] == ["1a", "1b", "2a", "2b"]
    for canvas in canvases:
        leaf_id = canvas["id"].rsplit("/", 1)[1]
        access = pyvips.Image.new_from_file(str(settings.publish_dir / f"{ITEM}/images/{leaf_id}.tif"))
        assert (canvas["width"], canvas["height"]) == (access.width, access.height)
        record = json.loads((settings.work_dir / f"{ITEM}/pages/{leaf_id}/derivative/deskew.json")
                            .read_text(encoding="utf-8"))
        fold = folds[leaf_id[:-1]]
        xs = [x for x, _ in record["master_region"]]
        # The right leaf starts at the fold, the left one ends there (within 1 % of the master's width).
        edge = min(xs) if leaf_id.endswith("r") else max(xs)
        assert edge == pytest.approx(fold, abs=0.01 * 1900), (leaf_id, record["split"])
        assert record["split"]["method"] == ("fold" if leaf_id.startswith("p0001") else "banxin")
    assert {p.name: digest_file(p).sha256 for p in batch_dir.glob("*.tif")} == before  # masters untouched

    aip = settings.home / f"storage/primary/aips/{ITEM}/{ITEM}.v1/data"
    assert sorted(p.name for p in (aip / "masters").iterdir()) == ["p0001.tif", "p0002.tif"]
    assert sorted(p.name for p in (aip / "ocr").glob("*.alto.xml")) == [
        "p0001l.alto.xml", "p0001r.alto.xml", "p0002l.alto.xml", "p0002r.alto.xml"]
    mets = etree.parse(str(aip / "mets.xml"))
    areas = mets.xpath("//mets:div[@TYPE='page']/mets:fptr/mets:area", namespaces=NAMESPACES)
    assert [(a.getparent().getparent().get("ID"), a.get("FILEID")) for a in areas] == [
        ("PHYS_p0001r", "MASTER_p0001"), ("PHYS_p0001l", "MASTER_p0001"),
        ("PHYS_p0002r", "MASTER_p0002"), ("PHYS_p0002l", "MASTER_p0002")]
    details = mets.xpath("//premis:eventDetail[starts-with(., 'access derivative')]/text()", namespaces=NAMESPACES)
    assert sum("right leaf of a two-leaf image cut at x=" in d for d in details) == 2
