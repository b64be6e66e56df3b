"""QC of migrated legacy scans: bitonal and near-bitonal masters, and the ``legacy`` profile.

A binarised page is white by nature: it must be reported as a bitonal master, never as an
overexposed capture to reshoot. The ``legacy`` profile relaxes ancient-books' resolution and
colour requirements, and every check that passes only because of that says so in qc.json and
on the contact sheet.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.batch import load_batch
from pipeline.images import probe_image
from pipeline.qc import Status, builtin_profile, check_page
from pipeline.qc.tone import measure_tone
from pipeline.sample_book import batch_document, page_label
from pipeline.synthetic import render_vertical_page, sample_text_for_page
from pipeline.validation import json_errors
from storage_config.settings import Settings
from workflows.qc_run import run_qc

LEGACY_PPI = 300
W, H = 900, 1250  # at 300 ppi a 7.6 x 10.6 cm leaf


def binarised_leaf(index: int = 0, *, threshold: int = 150) -> np.ndarray:
    """A woodblock leaf as a legacy scanner binarised it: 0 (ink) and 255 (paper) only."""
    page = render_vertical_page(sample_text_for_page(index, 160), width=W, height=H, columns=8,
                                chars_per_column=16, seed=index, noise=0.01)
    grey = np.asarray(page.image.convert("L"))
    return np.where(grey < threshold, 0, 255).astype(np.uint8)


def save_group4(binary: np.ndarray, path: Path, *, ppi: int = LEGACY_PPI) -> Path:
    """Save as a 1-bit CCITT Group 4 TIFF, as legacy scans were, without an ICC profile."""
    Image.fromarray(binary).convert("1").save(path, format="TIFF", compression="group4", dpi=(ppi, ppi))
    return path


def save_grey(pixels: np.ndarray, path: Path, *, ppi: int = LEGACY_PPI) -> Path:
    """Save as 8-bit greyscale LZW TIFF (a binarised scan saved again as grey)."""
    Image.fromarray(pixels, mode="L").save(path, format="TIFF", compression="tiff_lzw", dpi=(ppi, ppi))
    return path


def write_legacy_batch(dest: Path, pages: int = 3, *, qc_profile: str = "legacy") -> Path:
    """A migrated woodblock book: 1-bit G4 leaves, the last one saved again as 8-bit grey."""
    dest.mkdir(parents=True, exist_ok=True)
    files = []
    for index in range(pages):
        name = f"{index + 1:04d}.tif"
        leaf = binarised_leaf(index)
        (save_grey if index == pages - 1 else save_group4)(leaf, dest / name)
        files.append((name, page_label(index), "page"))
    document = batch_document("legacy-book", files, ppi=LEGACY_PPI)
    if qc_profile:
        document["capture"]["qc_profile"] = qc_profile
    (dest / "batch.json").write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    return dest


def result(qc, check: str):
    found = qc.result(check)
    assert found is not None, f"{check} did not run: {qc.as_dict()}"
    return found


# --- tone: is the master bitonal? -------------------------------------------------------------


def test_a_1_bit_master_is_bitonal_with_its_share_of_black(tmp_path: Path) -> None:
    leaf = binarised_leaf()
    path = save_group4(leaf, tmp_path / "leaf.tif")
    info = probe_image(path)

    tone = measure_tone(path, info, np.stack([leaf] * 3, axis=2), builtin_profile("ancient-books"))

    assert (tone.kind, info.bits_per_sample) == ("bitonal", 1)
    assert tone.black == pytest.approx(np.mean(leaf == 0), abs=0.002)
    assert "1-bit black and white (ccitt" in tone.describe(info)


def test_a_binarised_page_saved_as_8_bit_grey_is_near_bitonal(tmp_path: Path) -> None:
    leaf = binarised_leaf()
    path = save_grey(leaf, tmp_path / "leaf.tif")

    tone = measure_tone(path, probe_image(path), np.stack([leaf] * 3, axis=2), builtin_profile("ancient-books"))

    assert (tone.kind, tone.dark_level, tone.light_level) == ("near-bitonal", 0, 255)
    assert tone.two_tone_share > 0.99


def test_an_overexposed_grey_capture_is_not_taken_for_a_bitonal_one(tmp_path: Path) -> None:
    # Paper clipped to white, but the ink stays grey: a capture to reshoot, not a binarised page.
    page = np.asarray(render_vertical_page(sample_text_for_page(0, 160), width=W, height=H, columns=8,
                                           chars_per_column=16, noise=0.01).image.convert("L"))
    bright = np.clip(page.astype(np.float64) * 1.5 + 60, 0, 255).astype(np.uint8)
    path = save_grey(bright, tmp_path / "bright.tif")

    tone = measure_tone(path, probe_image(path), np.stack([bright] * 3, axis=2), builtin_profile("ancient-books"))

    assert tone.kind == "continuous" and tone.dark_level > 32


# --- a bitonal page under ancient-books and under legacy -----------------------------------------


def test_under_ancient_books_a_bitonal_page_fails_as_bitonal_not_as_overexposed(tmp_path: Path) -> None:
    path = save_group4(binarised_leaf(), tmp_path / "0001.tif")

    qc = check_page(path, page_id="p0001", declared_ppi=LEGACY_PPI, page_type="page", profile=builtin_profile("ancient-books"))

    assert qc.status is Status.FAIL
    colour = result(qc, "colour_mode")
    assert (colour.status, colour.value) == (Status.FAIL, "bitonal")
    assert colour.message.startswith("bitonal master (1-bit black and white")
    assert "--profile legacy" in colour.message
    assert result(qc, "exposure").status is Status.PASS  # white by nature: not judged
    assert result(qc, "exposure").threshold == "n/a (bitonal master)"
    assert result(qc, "icc").status is Status.PASS  # black and white needs no colour profile
    assert all("overexposed" not in r.message for r in qc.results)


def test_under_legacy_a_bitonal_300_ppi_page_passes_and_says_what_was_relaxed(tmp_path: Path) -> None:
    path = save_group4(binarised_leaf(), tmp_path / "0001.tif")

    qc = check_page(path, page_id="p0001", declared_ppi=LEGACY_PPI, page_type="page", profile=builtin_profile("legacy"))

    assert qc.status is Status.PASS, [r.message for r in qc.results if r.status is not Status.PASS]
    relaxed = {r.check: r.relaxed for r in qc.results if r.relaxed}
    assert set(relaxed) == {"colour_mode", "bit_depth", "resolution"}
    assert all((r.profile, r.baseline, r.baseline_status) == ("legacy", "ancient-books", Status.FAIL)
               for r in relaxed.values())
    assert relaxed["resolution"].baseline_threshold == ">= 400 ppi"
    assert result(qc, "resolution").message.endswith("relaxed by profile legacy: fail under ancient-books (>= 400 ppi)")
    assert result(qc, "bitonal").status is Status.PASS


def test_an_inverted_bitonal_page_is_flagged_for_its_conversion(tmp_path: Path) -> None:
    path = save_group4(255 - binarised_leaf(), tmp_path / "0001.tif")

    qc = check_page(path, page_id="p0001", declared_ppi=LEGACY_PPI, page_type="page", profile=builtin_profile("legacy"))

    bitonal = result(qc, "bitonal")
    assert bitonal.status is Status.WARN and "inverted" in bitonal.message


def test_legacy_still_fails_what_no_migration_excuses(tmp_path: Path) -> None:
    # 150 ppi is below even legacy's 300 ppi: relaxed thresholds are still thresholds.
    path = save_group4(binarised_leaf(), tmp_path / "0001.tif", ppi=150)

    qc = check_page(path, page_id="p0001", declared_ppi=150, page_type="page", profile=builtin_profile("legacy"))

    assert (result(qc, "resolution").status, result(qc, "resolution").relaxed) == (Status.FAIL, None)


def test_the_legacy_profile_lists_every_threshold_it_relaxes() -> None:
    legacy = builtin_profile("legacy")

    summary = legacy.as_dict()

    assert summary["relaxes"] == "ancient-books"
    assert summary["checks"]["resolution"]["relaxed"]["min_ppi"] == {"baseline": 400.0, "value": 300}
    assert summary["checks"]["colour_mode"]["relaxed"]["allowed_colour_modes"] == {
        "baseline": ["rgb"], "value": ["rgb", "grey", "bitonal"]}
    assert "exposure" not in legacy.relaxed()  # what it does not relax is ancient-books' own
    assert legacy.highlight_clip_fail == builtin_profile("ancient-books").highlight_clip_fail


# --- the batch: qc.json and qc.html ------------------------------------------------------------


def test_a_legacy_batch_passes_under_its_profile_with_every_relaxation_visible(tmp_path: Path,
                                                                             settings: Settings) -> None:
    batch_dir = write_legacy_batch(tmp_path / "batch")

    outcome = run_qc(batch_dir, settings)

    report = outcome.report
    assert json_errors(report, "qc-report") == []
    assert (report["status"], report["profile"]["name"]) == ("pass", "legacy")  # from batch.json capture.qc_profile
    assert [entry["page_id"] for entry in report["relaxed"]] == ["p0001", "p0002", "p0003"]
    for page in report["pages"]:
        relaxed = {r["check"]: r["relaxed"] for r in page["results"] if "relaxed" in r}
        assert {"colour_mode", "resolution"} <= set(relaxed)
        assert {r["baseline"] for r in relaxed.values()} == {"ancient-books"}
    html = outcome.html_path.read_text(encoding="utf-8")
    assert "Passed only because profile legacy relaxes ancient-books" in html
    assert html.count('<span class="badge bitonal">bitonal master</span>') == 3
    assert "relaxed by profile legacy: fail under ancient-books (&gt;= 400 ppi)" in html


def test_the_same_batch_under_ancient_books_fails_naming_the_bitonal_condition(tmp_path: Path,
                                                                              settings: Settings) -> None:
    batch_dir = write_legacy_batch(tmp_path / "batch", qc_profile="")

    outcome = run_qc(batch_dir, settings)

    report = outcome.report
    assert (report["status"], report["profile"]["name"]) == ("fail", "ancient-books")
    assert [entry["page_id"] for entry in report["reshoot"]] == ["p0001", "p0002", "p0003"]
    reasons = [reason for entry in report["reshoot"] for reason in entry["reasons"]]
    assert sum(reason.startswith("colour_mode: bitonal master") for reason in reasons) == 3
    assert not any(reason.startswith("exposure") for reason in reasons)
    assert load_batch(batch_dir).capture.qc_profile == ""
