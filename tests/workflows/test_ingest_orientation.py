"""A page shot upside down: the access derivative is turned upright and the turn recorded; the master is not."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from PIL import Image

from pipeline.sample_book import write_sample_batch
from storage_config.settings import Settings
from workflows.run import run_ingest


@pytest.mark.slow
def test_an_upside_down_page_is_turned_in_the_derivative_only(tmp_path: Path, settings: Settings) -> None:
    batch = write_sample_batch(tmp_path / "batch", pages=3, width=900, height=1300, item_id="test-book")
    master = batch / "0003.tif"
    with Image.open(master) as shot:
        turned = shot.rotate(180)
        turned.save(master, compression="tiff_lzw", dpi=shot.info.get("dpi", (400, 400)),
                    icc_profile=shot.info.get("icc_profile"))
    before = hashlib.sha256(master.read_bytes()).hexdigest()

    result = run_ingest(batch, settings)

    assert result.ok, result.failures
    pages = settings.work_dir / "test-book/pages"
    records = {p: json.loads((pages / p / "derivative/deskew.json").read_text(encoding="utf-8")) for p in
               ("p0002", "p0003")}
    assert records["p0003"]["orientation"]["turn"] == 180
    assert records["p0002"]["orientation"]["turn"] == 0
    assert "turned 180 deg clockwise (Tesseract OSD" in records["p0003"]["event"]["detail"]
    # The affine maps the master's top-left corner near the derivative's bottom-right.
    a, b, c, d, e, f = records["p0003"]["affine"]
    x, y = a * 0 + b * 0 + c, d * 0 + e * 0 + f
    assert x > 0.9 * records["p0003"]["width"] and y > 0.9 * records["p0003"]["height"]
    text = (pages / "p0003/ocr/text.txt").read_text(encoding="utf-8")
    assert "子曰" in text or "君子" in text  # read upright: the generated 論語 text
    assert hashlib.sha256(master.read_bytes()).hexdigest() == before
