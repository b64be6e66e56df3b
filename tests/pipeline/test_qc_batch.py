"""QC of whole generated batches: each problem trips its check on its page and nowhere else,
a clean batch passes with no warnings, the report follows its schema, and the gate decides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.batch import Batch, Page, PageType, load_batch
from pipeline.qc import (
    GateRequest,
    OverrideError,
    PageQC,
    Profile,
    Status,
    builtin_profile,
    check_batch,
    check_page,
    check_request,
    decide,
)
from pipeline.qc.batch_checks import check_focus_consistency, check_sequence
from pipeline.qc.gate import findings
from pipeline.qc.model import CheckResult
from pipeline.qc_report import batch_report
from pipeline.sample_book import page_label, write_sample_batch
from pipeline.validation import json_errors
from tests.pipeline.test_qc_helpers import TEST_PROFILE, Spec, text_specs, write_batch

NOW = "2026-01-01T00:00:00+00:00"
L = page_label
PROBLEM_BOOK = [
    Spec("cover"),
    *text_specs(2),                                         # p0002 葉一上, p0003 葉一下
    Spec("text", L(2), -0.6, "repeat", text_index=1),       # p0004: p0003 shot again
    Spec("text", L(3), -0.5, "blurred", text_index=3),      # p0005: soft, above the focus floor
    Spec("text", L(4), 0.6, "overexposed", text_index=4),   # p0006
    Spec("text", L(8), 0.2, text_index=8),                  # p0007: 葉三上 → 葉五上
    Spec("text", L(9), 0.0, "tilted", text_index=9),        # p0008: 4 degrees
    Spec("text", L(10), -0.4, "vignetted", text_index=10),  # p0009: corners 12% darker
    Spec("text", L(11), 0.5, "cmyk", text_index=11),        # p0010
    Spec("text", L(12), 0.0, "empty", text_index=12),       # p0011: labelled page, nothing on it
    Spec("text", L(13), -0.2, text_index=13),               # p0012
    Spec("chart"),                                          # p0013: accurate ColorChecker
    Spec("chart", problem="colour-shift"),                  # p0014
]
EXPECTED_FINDINGS = {
    ("p0004", "duplicate"): "warn",
    ("p0005", "focus_consistency"): "warn",
    ("p0006", "exposure"): "fail",
    ("p0007", "sequence"): "warn",
    ("p0008", "skew"): "warn",
    ("p0009", "illumination"): "warn",
    ("p0010", "colour_mode"): "fail",
    ("p0011", "blank"): "warn",
    ("p0011", "exposure"): "warn",  # a blank "page" has no tone range either
    ("p0014", "colour_accuracy"): "fail",
}


def run_qc_on(batch: Batch, profile: Profile) -> list[PageQC]:
    results = [check_page(batch.master_path(p), page_id=p.page_id, declared_ppi=batch.capture.declared_ppi,
                          page_type=p.page_type.value, profile=profile) for p in batch.pages]
    return check_batch(batch.pages, results, profile)


@pytest.fixture(scope="module")
def problem_batch(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    return load_batch(write_batch(tmp_path_factory.mktemp("qc") / "problems", PROBLEM_BOOK))


@pytest.fixture(scope="module")
def problem_results(problem_batch: Batch) -> list[PageQC]:
    return run_qc_on(problem_batch, TEST_PROFILE)


@pytest.fixture(scope="module")
def problem_report(problem_batch: Batch, problem_results: list[PageQC]) -> dict:
    return batch_report(problem_batch, problem_results, TEST_PROFILE, now=NOW)


def findings_of(results: list[PageQC]) -> dict[tuple[str, str], str]:
    return {(qc.page_id, r.check): r.status.value for qc in results for r in qc.results if r.status is not Status.PASS}


def result(results: list[PageQC], page_id: str, check: str) -> CheckResult:
    found = next(qc for qc in results if qc.page_id == page_id).result(check)
    assert found is not None, f"{check} did not run on {page_id}"
    return found


def test_each_problem_trips_its_check_on_its_page_and_nowhere_else(problem_results: list[PageQC]) -> None:
    assert findings_of(problem_results) == EXPECTED_FINDINGS


def test_soft_page_among_sharp_ones_is_flagged_though_above_the_focus_floor(problem_results) -> None:
    focus, consistency = result(problem_results, "p0005", "focus"), result(problem_results, "p0005", "focus_consistency")

    assert focus.status is Status.PASS and focus.value > TEST_PROFILE.min_focus  # type: ignore[operator]
    assert isinstance(consistency.value, float) and consistency.value < TEST_PROFILE.focus_batch_ratio
    assert consistency.message.startswith(f"softer than the rest of the batch: {consistency.value:.0%} of the median")
    sharp = [result(problem_results, p, "focus_consistency").value for p in ("p0002", "p0003", "p0012")]
    assert all(0.9 < v < 1.1 for v in sharp)  # type: ignore[operator]


def test_double_shot_names_the_page_it_repeats(problem_results: list[PageQC]) -> None:
    duplicate = result(problem_results, "p0004", "duplicate")

    assert isinstance(duplicate.value, float) and duplicate.value > 0.9
    assert duplicate.message.startswith("looks like the previous page p0003 (卷一 葉一下), similarity ")
    others = [r.value for qc in problem_results for r in qc.results if r.check == "duplicate" and qc.page_id != "p0004"]
    assert max(v for v in others if v is not None) < 0.7


def test_sequence_gap_lists_the_missing_leaves(problem_results: list[PageQC]) -> None:
    gap = result(problem_results, "p0007", "sequence")

    assert gap.value == "卷一 葉三上 → 卷一 葉五上"
    assert gap.message == ("sequence gap after '卷一 葉三上': missing 卷一 葉三下, 卷一 葉四上, 卷一 葉四下? "
                           "Reshoot a skipped leaf, or correct the label")


def test_colour_targets_are_measured_and_only_the_shifted_one_fails(problem_results: list[PageQC]) -> None:
    good, shifted = result(problem_results, "p0013", "colour_accuracy"), result(problem_results, "p0014", "colour_accuracy")

    assert good.status is Status.PASS and good.value < 1.0  # type: ignore[operator]
    assert shifted.status is Status.FAIL and shifted.value >= 5  # type: ignore[operator]
    assert all(qc.result("colour_accuracy") is None for qc in problem_results[:12])


def test_report_follows_its_schema_and_lists_what_to_reshoot_and_review(problem_report: dict) -> None:
    assert json_errors(problem_report, "qc-report") == []
    assert problem_report["status"] == "fail"
    assert problem_report["summary"] == {
        "pages": 14, "pass": 5, "warn": 6, "fail": 3,
        "checks": {"colour_mode": {"warn": 0, "fail": 1}, "exposure": {"warn": 1, "fail": 1},
                   "skew": {"warn": 1, "fail": 0}, "blank": {"warn": 1, "fail": 0},
                   "illumination": {"warn": 1, "fail": 0}, "colour_accuracy": {"warn": 0, "fail": 1},
                   "focus_consistency": {"warn": 1, "fail": 0}, "duplicate": {"warn": 1, "fail": 0},
                   "sequence": {"warn": 1, "fail": 0}}}
    assert [p["page_id"] for p in problem_report["reshoot"]] == ["p0006", "p0010", "p0014"]
    assert problem_report["reshoot"][1] == {
        "page_id": "p0010", "file": "0010.tif", "label": "卷一 葉六下",
        "reasons": ["colour_mode: CMYK master: re-export the raw capture as RGB (Adobe RGB 1998, eciRGB v2 or sRGB)"]}
    assert [p["page_id"] for p in problem_report["review"]] == ["p0004", "p0005", "p0007", "p0008", "p0009", "p0011"]
    assert "thumbnail" not in json.dumps(problem_report)  # thumbnails belong in qc.html, not the AIP
    assert problem_report["profile"]["checks"]["resolution"]["level"] == ""  # TEST_PROFILE has no levels


def test_page_results_survive_a_round_trip_through_json(problem_results: list[PageQC]) -> None:
    for qc in problem_results:
        assert PageQC.from_dict(json.loads(json.dumps(qc.as_dict()))) == qc
    assert problem_results[1].thumbnail.startswith("data:image/jpeg;base64,")


def test_clean_generated_batch_passes_with_no_warnings(tmp_path: Path) -> None:
    batch = load_batch(write_sample_batch(tmp_path / "clean", pages=6, width=900, height=1300, item_id="clean"))
    profile = builtin_profile("ancient-books")

    results = run_qc_on(batch, profile)
    report = batch_report(batch, results, profile, now=NOW)

    assert findings_of(results) == {}
    assert report["status"] == "pass" and report["summary"]["pass"] == 6
    assert result(results, "p0004", "focus_consistency").value is not None  # the batch checks did run
    assert json_errors(report, "qc-report") == []
    assert report["profile"]["checks"]["resolution"] == {
        "level": "FADGI 4-star",
        "basis": "FADGI 4-star: 400 ppi at the size of the original; tolerance from 3-star reproduction scale "
                 "accuracy (+/-2%). An embedded resolution that disagrees with batch.json is a mismatch to "
                 "correct; a master embedding none warns."}


# --- batch checks on page lists alone --------------------------------------------------------


def pages_of(labels: list[str], files: list[str] | None = None) -> list[Page]:
    files = files or [f"{i:04d}.tif" for i in range(1, len(labels) + 1)]
    return [Page(i, f, label, PageType.PAGE) for i, (label, f) in enumerate(zip(labels, files), start=1)]


def sequence_findings(labels: list[str], files: list[str] | None = None) -> dict[str, str]:
    results = check_sequence(pages_of(labels, files), TEST_PROFILE)
    return {f"p{i:04d}": r.message for i, r in enumerate(results, start=1) if r.status is not Status.PASS}


def test_a_new_juan_starts_its_own_sequence() -> None:
    assert sequence_findings(["封面", "卷一 葉一上", "卷一 葉一下", "卷二 葉一上", "卷二 葉一下"]) == {}


def test_repeated_and_backward_labels_are_flagged() -> None:
    assert sequence_findings(["葉一上", "葉一下", "葉一下", "葉一上"]) == {
        "p0003": "same label as the previous page ('葉一下'): a double shot, or a wrong label",
        "p0004": "'葉一上' comes after '葉一下': pages out of order, or a wrong label"}


def test_numbered_pages_and_long_gaps_are_summarised() -> None:
    assert sequence_findings(["第1頁", "第2頁", "第9頁"]) == {
        "p0003": "sequence gap after '第2頁': missing 第3頁, 第4頁, 第5頁, 第6頁 … (6 in all)? "
                 "Reshoot a skipped leaf, or correct the label"}


def test_file_number_gap_is_flagged_but_an_appended_reshoot_is_not() -> None:
    labels = [str(n) for n in range(1, 6)]

    assert sequence_findings(labels, ["0001.tif", "0002.tif", "0004.tif", "0005.tif", "0006.tif"]) == {
        "p0003": "file numbers jump from 0002.tif to 0004.tif: was a capture deleted?"}
    assert sequence_findings(labels, ["0001.tif", "0002.tif", "0101.tif", "0004.tif", "0005.tif"]) == {}


def test_focus_is_not_compared_in_a_small_batch() -> None:
    pages = pages_of(["1", "2", "3"])
    results = [PageQC(p.page_id, p.file, (CheckResult("focus", Status.PASS, v, "", ""),))
               for p, v in zip(pages, (2.0, 2.0, 0.5))]

    found = check_focus_consistency(pages, results, TEST_PROFILE)

    assert {r.status for r in found} == {Status.PASS}
    assert found[2].message == "not compared: fewer than 5 text pages with measurable focus"


# --- the gate ----------------------------------------------------------------------------------


def test_gate_stops_on_failures_and_warnings_by_default(problem_report: dict) -> None:
    decision = decide(problem_report, GateRequest())

    assert not decision.passed
    assert {(f.page_id, f.check) for f in decision.blocking} == set(EXPECTED_FINDINGS)


def test_accepting_warnings_leaves_only_the_failures(problem_report: dict) -> None:
    decision = decide(problem_report, GateRequest(accept_warnings=True, operator="王技師", reason="reviewed"))

    assert [(f.page_id, f.check) for f in decision.blocking] == [
        ("p0006", "exposure"), ("p0010", "colour_mode"), ("p0014", "colour_accuracy")]
    assert len(decision.accepted) == 7


def test_overrides_by_page_id_file_name_or_any_check_let_failures_through(problem_report: dict) -> None:
    request = GateRequest(True, ("p0006:exposure", "0010.tif:colour_mode", "p0014:*"), "王技師",
                          "chart and two pages reviewed with the curator")

    decision = decide(problem_report, request)

    assert decision.passed and decision.blocking == ()
    assert [(f.page_id, f.check) for f in decision.overridden] == [
        ("p0006", "exposure"), ("p0010", "colour_mode"), ("p0014", "colour_accuracy")]
    document = decision.as_dict()
    assert (document["operator"], document["reason"]) == ("王技師", "chart and two pages reviewed with the curator")


def test_profile_may_let_warnings_pass_the_gate(problem_report: dict) -> None:
    decision = decide(problem_report, GateRequest(), warnings_stop=False)

    assert {f.status for f in decision.blocking} == {Status.FAIL}
    assert decision.accepted == ()


def test_overrides_must_name_real_pages_and_checks_and_who_and_why(problem_batch: Batch) -> None:
    with pytest.raises(OverrideError) as error:
        check_request(GateRequest(False, ("p0099:focus", "p0002:sharpness", "nocolon"), "", ""), problem_batch.pages)

    assert str(error.value).splitlines() == [
        ("--override: 'p0099:focus': no page 'p0099' in the batch (use the page id (p0003) or the file name "
         "from batch.json)"),
        ("--override: 'p0002:sharpness': no check 'sharpness' (checks: integrity, compression, colour_mode, "
         "bit_depth, icc, resolution, dimensions, bitonal, exposure, focus, skew, blank, illumination, double_leaf, "
         "colour_accuracy, focus_consistency, duplicate, sequence, or * for all)"),
        "--override: 'nocolon' is not PAGE:CHECK (e.g. p0003:focus)",
        ("--operator/--reason: letting QC findings through needs who and why (give --operator NAME --reason "
         "TEXT; both go into the PREMIS record)"),
    ]


def test_letting_findings_through_needs_an_operator_and_a_reason(problem_batch: Batch) -> None:
    with pytest.raises(OverrideError, match=r"--operator/--reason: letting QC findings through needs who and why"):
        check_request(GateRequest(accept_warnings=True, operator="王技師"), problem_batch.pages)
    check_request(GateRequest(False, ("0004.tif:duplicate",), "王技師", "kept both shots"), problem_batch.pages)


def test_a_batch_wide_override_lets_one_check_through_on_every_page_and_nothing_else(
        problem_report: dict, problem_batch: Batch) -> None:
    found = findings(problem_report)
    check = max({f.check for f in found}, key=lambda c: sum(f.check == c for f in found))
    request = GateRequest(False, (f"*:{check}",), "王技師", "legacy scans, resolution as held")
    check_request(request, problem_batch.pages)

    decision = decide(problem_report, request)

    assert list(decision.overridden) == [f for f in found if f.check == check]
    assert all(f.check != check for f in decision.blocking)
    assert len(decision.overridden) + len(decision.blocking) == len(found)


def test_an_override_of_every_check_on_every_page_is_refused(problem_batch: Batch) -> None:
    with pytest.raises(OverrideError) as error:
        check_request(GateRequest(False, ("*:*",), "王技師", "all"), problem_batch.pages)

    assert str(error.value) == ("--override: '*:*' would let every check of every page through "
                                "(name the check for the whole batch (*:resolution) or the page (p0003:*))")
