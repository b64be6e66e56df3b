"""Page QC on synthetic woodblock-like pages drawn here (frame, column rules, strokes)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import pyvips
from PIL import Image

from pipeline.batch import PageType
from pipeline.qc import (
    DEFAULT_PROFILE,
    CheckResult,
    PageQC,
    Profile,
    Status,
    builtin_profile,
    check_page,
    measure_focus,
)

PAPER = (226, 214, 196)
INK = (42, 38, 40)
ALL_CHECKS = [
    "integrity",
    "compression",
    "colour_mode",
    "bit_depth",
    "icc",
    "resolution",
    "dimensions",
    "exposure",
    "focus",
    "skew",
    "blank",
    "illumination",
    "double_leaf",
]


def _page(width: int = 1200, height: int = 1700, *, text: bool = True, seed: int = 1) -> np.ndarray:
    """Draw an RGB page: paper grain, a double frame, column rules and stroke 'characters'."""
    rng = np.random.default_rng(seed)
    grain = rng.normal(0, 3, (height, width, 1))
    page = np.clip(np.full((height, width, 3), PAPER, np.float64) + grain, 0, 255).astype(np.uint8)
    if not text:
        return page
    margin, columns = width // 12, 9
    cv2.rectangle(page, (margin, margin), (width - margin, height - margin), INK, width // 300)
    inner = margin + width // 80
    cv2.rectangle(page, (inner, inner), (width - inner, height - inner), INK, 1)
    pitch = (width - 2 * margin) / columns
    for column in range(columns):
        left = int(margin + column * pitch)
        cv2.line(page, (left, margin), (left, height - margin), INK, 1)
        top = margin + width // 40
        while top < height - margin - pitch:
            for _ in range(rng.integers(3, 7)):
                ends = (
                    left + pitch * rng.uniform(0.2, 0.8, 2),
                    top + pitch * rng.uniform(0.1, 0.8, 2),
                )
                start, end = (int(ends[0][0]), int(ends[1][0])), (int(ends[0][1]), int(ends[1][1]))
                cv2.line(page, start, end, INK, max(2, width // 400))
            top += int(pitch * 0.95)
    return page


def _save(
    pixels: np.ndarray, path: Path, *, ppi: float | None = 400, profile: str | None = "srgb"
) -> Path:
    image = pyvips.Image.new_from_array(pixels, interpretation="srgb")
    options: dict[str, object] = {"profile": profile} if profile else {}
    if ppi:
        image = image.copy(xres=ppi / 25.4, yres=ppi / 25.4)
    image.write_to_file(str(path), **options)
    return path


def _qc(
    path: Path,
    *,
    declared_ppi: float | None = 400,
    page_type: str = "page",
    profile: Profile = DEFAULT_PROFILE,
) -> PageQC:
    return check_page(
        path, page_id="p0001", declared_ppi=declared_ppi, page_type=page_type, profile=profile
    )


def _result(qc: PageQC, check: str) -> CheckResult:
    result = qc.result(check)
    assert result is not None, f"{check} did not run: {qc.as_dict()}"
    return result


def test_clean_page_passes_every_check(tmp_path: Path) -> None:
    qc = _qc(_save(_page(), tmp_path / "p0001.tif"))

    assert [r.check for r in qc.results] == ALL_CHECKS
    assert {r.check: r.status for r in qc.results} == {c: Status.PASS for c in ALL_CHECKS}
    assert qc.status is Status.PASS
    assert _result(qc, "resolution").value == 400
    assert _result(qc, "focus").value > DEFAULT_PROFILE.min_focus  # type: ignore[operator]


def test_blurred_copy_has_lower_focus_and_warns(tmp_path: Path) -> None:
    page = _page()
    sharp = _qc(_save(page, tmp_path / "sharp.tif"))
    blurred = _qc(_save(cv2.GaussianBlur(page, (0, 0), 3), tmp_path / "blurred.tif"))

    sharp_focus, blurred_focus = _result(sharp, "focus").value, _result(blurred, "focus").value
    assert isinstance(sharp_focus, float) and isinstance(blurred_focus, float)
    assert blurred_focus < sharp_focus / 2
    assert _result(blurred, "focus").status is Status.WARN
    assert _result(blurred, "focus").message.startswith("soft focus: edge sharpness ")


def test_focus_does_not_depend_on_capture_resolution() -> None:
    small, large = _page(1200, 1700), _page(2400, 3400)

    small_focus, large_focus = measure_focus(_grey(small)), measure_focus(_grey(large))

    assert small_focus is not None and large_focus is not None
    assert large_focus == pytest.approx(small_focus, rel=0.25)


def _grey(pixels: np.ndarray, side: int = 1500) -> np.ndarray:
    grey = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    scale = side / max(grey.shape)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(grey, None, fx=scale, fy=scale, interpolation=interpolation)


def test_overexposed_page_fails_exposure(tmp_path: Path) -> None:
    bright = np.clip(_page().astype(np.float64) * 1.4, 0, 255).astype(np.uint8)

    exposure = _result(_qc(_save(bright, tmp_path / "bright.tif")), "exposure")

    assert exposure.status is Status.FAIL
    assert exposure.message.startswith("overexposed: ")
    assert exposure.message.endswith("of pixels clipped to white: reduce exposure and reshoot")
    assert isinstance(exposure.value, float) and exposure.value > 5  # percent clipped


def test_low_contrast_page_warns(tmp_path: Path) -> None:
    flat = (_page().astype(np.float64) * 0.15 + 180).astype(np.uint8)

    exposure = _result(_qc(_save(flat, tmp_path / "flat.tif")), "exposure")

    assert exposure.status is Status.WARN
    assert exposure.message.startswith("low contrast: tone range ")


def test_blank_page_labelled_page_warns(tmp_path: Path) -> None:
    qc = _qc(_save(_page(text=False), tmp_path / "blank.tif"))

    blank = _result(qc, "blank")
    assert blank.status is Status.WARN
    assert blank.message == (
        "page looks blank (ink coverage 0.00%): check the capture or set page_type to 'blank'"
    )
    assert _result(qc, "focus").status is Status.PASS  # nothing to judge focus on
    assert qc.status is Status.WARN


def test_blank_page_labelled_blank_passes_and_text_labelled_blank_warns(tmp_path: Path) -> None:
    blank = _qc(_save(_page(text=False), tmp_path / "blank.tif"), page_type="blank")
    text = _qc(_save(_page(), tmp_path / "text.tif"), page_type=PageType.BLANK)

    assert _result(blank, "blank").status is Status.PASS
    assert _result(text, "blank").status is Status.WARN
    assert _result(text, "blank").message.startswith("page labelled blank has content")


def test_cover_is_not_checked_for_blankness(tmp_path: Path) -> None:
    qc = _qc(_save(_page(text=False), tmp_path / "cover.tif"), page_type=PageType.COVER)

    assert _result(qc, "blank").message == "not checked for page type 'cover'"
    assert _result(qc, "blank").status is Status.PASS


def test_low_resolution_fails_with_a_reshoot_message(tmp_path: Path) -> None:
    qc = _qc(_save(_page(), tmp_path / "p.tif", ppi=300), declared_ppi=300)

    resolution = _result(qc, "resolution")
    assert (resolution.status, resolution.value, resolution.threshold) == (
        Status.FAIL,
        300,
        ">= 400 ppi",
    )
    assert resolution.message == (
        "effective resolution 300 ppi is below 400 ppi: reshoot at higher resolution"
    )


def test_embedded_ppi_disagreeing_with_declared_warns_with_both_page_sizes(tmp_path: Path) -> None:
    resolution = _result(_qc(_save(_page(), tmp_path / "p.tif", ppi=72)), "resolution")

    assert resolution.status is Status.WARN
    assert resolution.message == (
        "resolution mismatch: the master embeds 72 ppi but batch.json declares 400 ppi "
        "(at 72 ppi the page is 42.3 x 60.0 cm; at 400 ppi the page is 7.6 x 10.8 cm): correct "
        "capture.declared_ppi in batch.json, or the capture software's resolution setting if 400 ppi is right"
    )


def test_a_mismatch_fails_when_the_declared_resolution_is_too_low(tmp_path: Path) -> None:
    resolution = _result(_qc(_save(_page(), tmp_path / "p.tif", ppi=600), declared_ppi=300), "resolution")

    assert (resolution.status, resolution.value) == (Status.FAIL, 300)
    assert resolution.message.startswith("resolution mismatch: the master embeds 600 ppi but batch.json declares 300")


def test_a_master_embedding_no_resolution_warns_even_when_batch_json_declares_one(tmp_path: Path) -> None:
    resolution = _result(_qc(_save(_page(), tmp_path / "p.tif", ppi=None)), "resolution")

    assert (resolution.status, resolution.value) == (Status.WARN, 400)
    assert resolution.message.startswith("no embedded resolution: only batch.json records 400 ppi")


def test_unknown_resolution_warns_and_embedded_ppi_is_used_when_none_declared(
    tmp_path: Path,
) -> None:
    unknown = _qc(_save(_page(), tmp_path / "none.tif", ppi=None), declared_ppi=None)
    embedded = _qc(_save(_page(), tmp_path / "600.tif", ppi=600), declared_ppi=0)

    assert _result(unknown, "resolution").status is Status.WARN
    assert _result(unknown, "resolution").message.startswith("resolution unknown:")
    assert _result(embedded, "resolution").status is Status.PASS
    assert _result(embedded, "resolution").value == 600


def test_implausible_page_size_warns(tmp_path: Path) -> None:
    tiny = _qc(_save(_page(300, 420), tmp_path / "tiny.tif"))

    dimensions = _result(tiny, "dimensions")
    assert dimensions.status is Status.WARN
    assert dimensions.message == (
        "300x420 px at 400 ppi is 1.9 x 2.7 cm, implausible for a page: check the declared ppi"
    )


def test_missing_icc_profile_warns(tmp_path: Path) -> None:
    icc = _result(_qc(_save(_page(), tmp_path / "p.tif", profile=None)), "icc")

    assert icc.status is Status.WARN
    assert icc.message.startswith("no embedded ICC profile: colour cannot be managed")


def test_cmyk_master_fails_colour_mode(tmp_path: Path) -> None:
    rgb = pyvips.Image.new_from_array(_page(), interpretation="srgb")
    path = tmp_path / "cmyk.tif"
    rgb.icc_export(output_profile="cmyk").copy(xres=400 / 25.4, yres=400 / 25.4).write_to_file(
        str(path)
    )

    qc = _qc(path)

    assert _result(qc, "colour_mode").status is Status.FAIL
    assert _result(qc, "colour_mode").value == "cmyk"
    assert _result(qc, "colour_mode").message.startswith("CMYK master: re-export")
    assert qc.status is Status.FAIL


def test_palette_png_fails_colour_mode(tmp_path: Path) -> None:
    path = tmp_path / "pal.png"
    Image.fromarray(_page()).quantize(16).save(path, dpi=(400, 400))

    colour = _result(_qc(path), "colour_mode")

    assert (colour.status, colour.value) == (Status.FAIL, "palette")


def test_alpha_channel_warns(tmp_path: Path) -> None:
    path = tmp_path / "rgba.png"
    Image.fromarray(_page()).convert("RGBA").save(path, dpi=(400, 400))

    colour = _result(_qc(path), "colour_mode")

    assert (colour.status, colour.value) == (Status.WARN, "rgb+alpha")


def test_16_bit_grey_passes_for_republican_print_and_1_bit_fails(tmp_path: Path) -> None:
    grey = cv2.cvtColor(_page(), cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
    deep_path = tmp_path / "grey16.tif"
    pyvips.Image.new_from_array(grey, interpretation="grey16").copy(
        xres=400 / 25.4, yres=400 / 25.4
    ).write_to_file(str(deep_path))
    bilevel_path = tmp_path / "bw.tif"
    Image.fromarray(grey < 30000).convert("1").save(bilevel_path, dpi=(400, 400))

    republican = builtin_profile("republican-documents")
    deep, bilevel = _qc(deep_path, profile=republican), _qc(bilevel_path, profile=republican)

    assert (_result(deep, "bit_depth").status, _result(deep, "bit_depth").value) == (
        Status.PASS,
        16,
    )
    assert _result(deep, "colour_mode").status is Status.PASS
    # FADGI rare and special bound volumes are captured in colour at every star level.
    ancient = _qc(deep_path, profile=builtin_profile("ancient-books"))
    assert (_result(ancient, "colour_mode").status, _result(ancient, "colour_mode").value) == (
        Status.FAIL,
        "grey",
    )
    assert (_result(bilevel, "bit_depth").status, _result(bilevel, "bit_depth").value) == (
        Status.FAIL,
        1,
    )


def test_truncated_master_fails_integrity_and_skips_other_checks(tmp_path: Path) -> None:
    path = tmp_path / "cut.tif"
    Image.fromarray(_page()).save(path, dpi=(400, 400))  # Pillow puts the IFD first
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    qc = _qc(path)

    assert [r.check for r in qc.results] == ["integrity"]
    assert qc.status is Status.FAIL
    assert qc.results[0].message.startswith("truncated or corrupt: decoding failed between rows")


def test_unreadable_files_fail_integrity_without_raising(tmp_path: Path) -> None:
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    mislabelled = tmp_path / "p.tif"
    Image.fromarray(_page(120, 170)).save(mislabelled, format="JPEG")

    assert _qc(empty).results[0].message == "empty file (0 bytes): copy the file again"
    assert (
        _qc(mislabelled)
        .results[0]
        .message.startswith("mislabelled: content is JPEG but the name ends in .tif")
    )


def test_chinese_file_name_with_space_is_checked(tmp_path: Path) -> None:
    qc = _qc(_save(_page(), tmp_path / "卷一 葉三上.tif"))

    assert qc.file == str(tmp_path / "卷一 葉三上.tif")
    assert qc.status is Status.PASS


def test_page_qc_as_dict_is_json_ready_and_reports_the_worst_status(tmp_path: Path) -> None:
    qc = _qc(_save(_page(), tmp_path / "p.tif", profile=None))

    document = json.loads(json.dumps(qc.as_dict()))

    assert document["page_id"] == "p0001"
    assert document["status"] == "warn"
    icc = next(r for r in document["results"] if r["check"] == "icc")
    assert icc == {
        "check": "icc",
        "status": "warn",
        "value": "none",
        "threshold": "embedded profile",
        "message": icc["message"],
    }


def test_empty_page_qc_passes() -> None:
    assert PageQC("p0001", "x.tif", ()).status is Status.PASS
