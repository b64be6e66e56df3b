"""Lossy masters (JPEG, JPEG inside TIFF) under each QC profile, read from real files."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from pipeline.images import probe_image
from pipeline.qc.file_checks import check_compression
from pipeline.qc.model import Status
from pipeline.qc.profile import builtin_profile


def write(path: Path, **options) -> Path:
    Image.new("RGB", (96, 128), (205, 190, 160)).save(path, dpi=(400, 400), **options)
    return path


@pytest.fixture
def masters(tmp_path: Path) -> dict[str, Path]:
    return {
        "jpeg": write(tmp_path / "p1.jpg", quality=95),
        "jpeg-in-tiff": write(tmp_path / "p2.tif", compression="jpeg"),
        "lzw": write(tmp_path / "p3.tif", compression="tiff_lzw"),
        "raw": write(tmp_path / "p4.tif", compression="raw"),
    }


@pytest.mark.parametrize(("profile", "lossy"), [("ancient-books", Status.FAIL), ("republican-documents", Status.WARN),
                                                ("legacy", Status.WARN)])
def test_lossy_masters_are_flagged_by_profile_and_lossless_ones_pass(masters, profile: str, lossy: Status) -> None:
    chosen = builtin_profile(profile)
    results = {kind: check_compression(probe_image(path), chosen) for kind, path in masters.items()}
    assert {kind: r.status for kind, r in results.items()} == {
        "jpeg": lossy, "jpeg-in-tiff": lossy, "lzw": Status.PASS, "raw": Status.PASS}
    assert "lossy master (JPEG file)" in results["jpeg"].message
    assert "lossy master (TIFF with jpeg compression)" in results["jpeg-in-tiff"].message
    assert "export the capture again" in results["jpeg-in-tiff"].message
