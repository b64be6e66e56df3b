"""The QC checks added for skew, lighting and colour, the profiles, and reading page labels."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.errors import ValidationError
from pipeline.qc import (
    BUILTIN_PROFILES,
    DEFAULT_PROFILE,
    REFERENCE_LAB_D50,
    Profile,
    Status,
    builtin_profile,
    delta_e_2000,
    lab_to_srgb8,
    load_profile,
    measure_chart,
    measure_falloff,
    resolve_profile,
    srgb8_to_lab,
)
from pipeline.qc.colour_target import PATCH_NAMES, check_colour_target
from pipeline.qc.pixels import check_illumination, check_skew
from pipeline.qc.profile import PROFILE_DIR, SECTIONS
from pipeline.qc.sequence import chinese_number, file_number, parse_label, to_chinese
from pipeline.synthetic import (
    render_horizontal_page,
    render_vertical_page,
    sample_text_for_page,
)
from pipeline.validation import json_errors
from tests.pipeline.test_qc_helpers import render_chart, vignette

WOODBLOCK_SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "woodblock"


def _grey(pixels: np.ndarray, side: int = 1000) -> np.ndarray:
    grey = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY) if pixels.ndim == 3 else pixels
    scale = side / max(grey.shape)
    return cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def _page(skew: float = 0.0, seed: int = 3) -> np.ndarray:
    page = render_vertical_page(sample_text_for_page(seed, 180), width=750, height=1000, skew_deg=skew,
                                seed=seed, noise=0.01)
    return np.asarray(page.image)


# --- skew ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("angle", "status"), [(0.6, Status.PASS), (-3.5, Status.WARN), (6.5, Status.FAIL)])
def test_skew_is_judged_against_the_profile(angle: float, status: Status) -> None:
    result = check_skew(_grey(_page(angle)), "page", DEFAULT_PROFILE)

    assert result.status is status
    assert result.value == pytest.approx(angle, abs=0.1)
    assert result.threshold == "|angle| <= 2 deg"


def test_tilted_page_says_which_way_and_what_to_do() -> None:
    result = check_skew(_grey(_page(-3.5)), "page", DEFAULT_PROFILE)

    assert result.message == ("page tilted 3.5 deg clockwise: square the book to the camera and reshoot "
                              "(derivatives are deskewed, the master keeps the tilt)")


def test_skew_of_a_cover_or_an_empty_leaf_is_not_judged() -> None:
    cover = check_skew(_grey(_page(4.0)), "cover", DEFAULT_PROFILE)
    paper = np.asarray(render_horizontal_page("", width=750, height=1000, frame=False, noise=0.01).image)
    empty = check_skew(_grey(paper), "blank", DEFAULT_PROFILE)

    assert (cover.status, cover.value, cover.message) == (Status.PASS, None, "not checked for page type 'cover'")
    assert (empty.status, empty.value) == (Status.PASS, None)
    assert empty.message.startswith("skew not measured: too little straight structure")


# --- illumination ------------------------------------------------------------------------------


def test_evenly_lit_generated_pages_pass_illumination() -> None:
    for seed in (1, 2, 3):
        result = check_illumination(_grey(_page(seed=seed)), "page", DEFAULT_PROFILE)
        assert result.status is Status.PASS
        assert isinstance(result.value, float) and result.value < 4  # percent


@pytest.mark.parametrize(("amount", "status"), [(0.10, Status.WARN), (0.25, Status.FAIL)])
def test_vignetted_paper_is_measured_and_flagged(amount: float, status: Status) -> None:
    result = check_illumination(_grey(vignette(_page(), amount)), "page", DEFAULT_PROFILE)

    assert result.status is status
    assert result.value == pytest.approx(amount * 100, abs=2.5)
    assert result.message.startswith(f"uneven lighting: the paper is {result.value / 100:.0%} darker")


def test_light_falling_off_to_one_side_is_uneven_too() -> None:
    page = _page().astype(np.float64) * np.linspace(1.0, 0.88, 750)[None, :, None]

    assert measure_falloff(_grey(page.astype(np.uint8))) == pytest.approx(0.12, abs=0.025)


def test_a_dark_background_around_the_leaf_is_not_taken_for_falloff() -> None:
    page = np.zeros((1100, 850, 3), np.uint8)  # the book on black velvet
    page[50:1050, 50:800] = _page()

    assert measure_falloff(_grey(page)) < 0.04


def test_illumination_of_a_colour_target_is_not_judged() -> None:
    result = check_illumination(_grey(render_chart()), "colour-target", DEFAULT_PROFILE)

    assert (result.status, result.value, result.threshold) == (Status.PASS, None, "n/a")


@pytest.mark.skipif(not WOODBLOCK_SAMPLES.is_dir(), reason="no woodblock samples in shared/")
def test_real_woodblock_scans_are_evenly_lit() -> None:
    for scan in sorted(WOODBLOCK_SAMPLES.glob("*.png")):
        grey = cv2.imread(str(scan), cv2.IMREAD_GRAYSCALE)
        assert check_illumination(_grey(grey), "page", DEFAULT_PROFILE).status is Status.PASS, scan.name


# --- colour accuracy ---------------------------------------------------------------------------


@pytest.mark.parametrize(("lab1", "lab2", "expected"), [
    # Sharma, Wu and Dalal (2005), "The CIEDE2000 color-difference formula", table 1.
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (50.0, 0.0, -2.5), 4.3065),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
])
def test_ciede2000_matches_the_published_test_data(lab1, lab2, expected) -> None:
    assert delta_e_2000(np.array([lab1]), np.array([lab2]))[0] == pytest.approx(expected, abs=1e-4)


def test_srgb_and_lab_conversions_invert_each_other() -> None:
    rgb = np.array([[0, 0, 0], [255, 255, 255], [200, 30, 90], [12, 140, 250]])

    assert np.array_equal(lab_to_srgb8(srgb8_to_lab(rgb)), rgb)
    assert srgb8_to_lab(np.array([[255, 255, 255]]))[0] == pytest.approx([100, 0, 0], abs=0.01)


def test_chart_drawn_from_the_reference_values_measures_delta_e_near_zero() -> None:
    measured = measure_chart(render_chart())

    assert measured is not None
    cyan = PATCH_NAMES.index("cyan")
    # Only cyan lies outside sRGB, so drawing it clips; every other patch is off by rounding only.
    assert np.delete(measured.delta_e, cyan).max() < 0.6
    assert measured.mean < 0.35
    assert check_colour_target(render_chart(), DEFAULT_PROFILE).status is Status.PASS


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_chart_is_read_in_any_orientation(turns: int) -> None:
    measured = measure_chart(render_chart(turns=turns, width=1000, height=1000))

    assert measured is not None and measured.mean < 0.35


def test_chart_is_found_through_sensor_noise_and_a_slight_tilt() -> None:
    chart = render_chart(width=1100, height=1000).astype(np.float64)
    turn = cv2.getRotationMatrix2D((550, 500), 2.0, 1.0)
    tilted = cv2.warpAffine(chart, turn, (1100, 1000), borderMode=cv2.BORDER_REPLICATE)
    noisy = np.clip(tilted + np.random.default_rng(5).normal(0, 8, tilted.shape), 0, 255).astype(np.uint8)

    measured = measure_chart(noisy)

    assert measured is not None and measured.mean < 0.6


def test_colour_shifted_chart_fails_with_the_worst_patch_named() -> None:
    result = check_colour_target(render_chart(shift=True), DEFAULT_PROFILE)

    assert result.status is Status.FAIL
    assert isinstance(result.value, float) and result.value >= DEFAULT_PROFILE.mean_delta_e_fail
    assert result.threshold == "mean ΔE00 < 3 (fail >= 5), max < 10"
    assert result.message.startswith(f"mean ΔE00 {result.value:.2f}, max ")
    assert result.message.endswith(": recalibrate the camera profile and white balance on the chart, then reshoot")


def test_slightly_off_chart_warns_under_ancient_books_and_passes_republican_print() -> None:
    lab = REFERENCE_LAB_D50 + np.array([3.0, 2.0, -2.5])  # a small, even cast
    chart = render_chart()
    colours = lab_to_srgb8(lab)
    for reference, shifted in zip(lab_to_srgb8(REFERENCE_LAB_D50), colours):
        chart[np.all(chart == reference, axis=2)] = shifted

    ancient = check_colour_target(chart, builtin_profile("ancient-books"))
    republican = check_colour_target(chart, builtin_profile("republican-documents"))

    assert ancient.status is Status.WARN and 3 <= ancient.value < 5  # type: ignore[operator]
    assert republican.status is Status.PASS


def test_colour_target_page_without_a_chart_warns() -> None:
    result = check_colour_target(_page(), DEFAULT_PROFILE)

    assert (result.status, result.value) == (Status.WARN, None)
    assert result.message.startswith("no ColorChecker 24 found on this colour-target page")


# --- profiles ----------------------------------------------------------------------------------


def test_profile_defaults_are_the_ancient_books_profile() -> None:
    assert builtin_profile("ancient-books").thresholds() == Profile().thresholds()
    assert DEFAULT_PROFILE.name == "ancient-books"


@pytest.mark.parametrize("name", BUILTIN_PROFILES)
def test_builtin_profiles_are_valid_and_name_a_fadgi_level_for_every_check(name: str) -> None:
    document = json.loads((PROFILE_DIR / f"{name}.json").read_text(encoding="utf-8"))

    assert json_errors(document, "qc-profile") == []
    # A profile that relaxes another names only the checks it changes; it inherits the rest.
    named = set(document["checks"])
    assert named <= set(SECTIONS) if "relaxes" in document else named == set(SECTIONS)
    profile = builtin_profile(name)
    assert set(profile.levels) == set(SECTIONS)
    assert all(level.startswith("FADGI ") or level == "not defined by FADGI" for level in profile.levels.values())
    assert all(profile.basis[check] for check in SECTIONS)


def test_republican_print_follows_fadgi_3_star_general_collections() -> None:
    ancient, republican = builtin_profile("ancient-books"), builtin_profile("republican-documents")

    assert (ancient.min_ppi, republican.min_ppi) == (400, 300)
    assert (ancient.levels["resolution"], republican.levels["resolution"]) == ("FADGI 4-star", "FADGI 3-star")
    assert (ancient.allowed_colour_modes, republican.allowed_colour_modes) == (("rgb",), ("rgb", "grey"))
    assert republican.fadgi_category == "Bound Volumes: General Collections"


def test_profile_is_chosen_by_material_type_name_or_file(tmp_path: Path) -> None:
    document = json.loads((PROFILE_DIR / "republican-documents.json").read_text(encoding="utf-8"))
    document["name"] = "our-newspapers"
    document["checks"]["resolution"]["min_ppi"] = 250
    path = tmp_path / "newspapers.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    assert resolve_profile(None, "republican").name == "republican-documents"
    assert resolve_profile("", "ancient_book").name == "ancient-books"
    assert resolve_profile("", "other").name == "ancient-books"
    assert resolve_profile("republican-documents").min_ppi == 300
    assert (resolve_profile(path).name, resolve_profile(str(path)).min_ppi) == ("our-newspapers", 250)


def test_invalid_profile_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"name": "bad", "checks": {"skew": {"max_skew_warn": "two", "fadgi_stars": None,
                                                                   "basis": "x"}}}), encoding="utf-8")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")

    with pytest.raises(ValidationError, match=r"bad\.json: schema validation failed: checks\.skew\.max_skew_warn"):
        load_profile(path)
    with pytest.raises(ValidationError, match=r"broken\.json: .*cannot read QC profile"):
        load_profile(broken)


# --- page labels and file names as sequences --------------------------------------------------


@pytest.mark.parametrize(("label", "prefix", "number", "side"), [
    ("卷一 葉三上", "卷一 葉", 3, 0),
    ("卷二 葉一百零五下", "卷二 葉", 105, 1),
    ("序 葉十一上", "序 葉", 11, 0),
    ("第12頁", "第", 12, None),
    ("p. 7b", "p. ", 7, 1),
    ("１２", "", 12, None),
])
def test_labels_are_read_as_positions(label: str, prefix: str, number: int, side: int | None) -> None:
    parsed = parse_label(label)

    assert parsed is not None
    assert (parsed.prefix, parsed.number, parsed.side) == (prefix, number, side)


def test_labels_without_a_number_have_no_position() -> None:
    assert parse_label("封面") is None
    assert parse_label("色卡") is None


def test_missing_positions_are_named_in_the_labels_style() -> None:
    leaf = parse_label("卷一 葉三上")
    page = parse_label("第12頁")
    assert leaf is not None and page is not None

    assert [leaf.label_at(i) for i in range(leaf.index + 1, leaf.index + 4)] == ["卷一 葉三下", "卷一 葉四上", "卷一 葉四下"]
    assert page.label_at(13) == "第13頁"


def test_chinese_numerals_round_trip() -> None:
    assert [to_chinese(n) for n in (1, 10, 11, 20, 21, 100, 105, 110, 999)] == [
        "一", "十", "十一", "二十", "二十一", "一百", "一百零五", "一百一十", "九百九十九"]
    assert all(chinese_number(to_chinese(n)) == n for n in range(1, 1000))
    assert chinese_number("一〇五") == 105


def test_file_numbers_are_read_from_the_end_of_the_name() -> None:
    run, number = file_number("scans/IMG_0042.tif") or ("", 0)

    assert number == 42
    assert file_number("scans/IMG_0043.tif") == (run, 43)
    assert file_number("scans/IMG_0043.jpg") != (run, 43)  # another format is another run
    assert file_number("other/IMG_0043.tif") != (run, 43)
    assert file_number("0007.TIF") == (*file_number("0006.tif")[0:1], 7)  # type: ignore[index]
    assert file_number("封面.tif") is None


def test_sample_book_labels_follow_each_other_past_a_hundred_leaves() -> None:
    from pipeline.sample_book import page_label

    labels = [page_label(index) for index in range(400)]  # 200 leaves, 上 and 下

    assert labels[198:200] == ["卷一 葉一百上", "卷一 葉一百下"]
    first = parse_label(labels[0])
    assert first is not None
    assert [first.label_at(first.index + offset) for offset in range(400)] == labels
