"""The two package sets of scripts/install-system-packages.sh and the Makefile that uses them:
`make demo` installs the run-time set only, `make test` both; every Tesseract model Shuying can
choose is in the run-time set. The script is run for real with --list (it installs nothing then)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipeline.languages import SUPPORTED, models_for

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts/install-system-packages.sh"
TEST_ONLY = {"chromium", "poppler-utils", "fonts-noto-cjk", "fonts-arphic-ukai", "fonts-dejavu-core", "libmagic1"}


def listed(package_set: str) -> list[str]:
    done = subprocess.run([str(SCRIPT), "--list", package_set], capture_output=True, text=True, check=True)
    return done.stdout.split()


def make_plan(target: str) -> str:
    """What `make -n TARGET` would run, with every stamp considered out of date."""
    return subprocess.run(["make", "-n", "-B", "-C", str(REPO), target], capture_output=True, text=True,
                          check=True).stdout


def test_the_run_time_set_leaves_out_what_only_the_tests_need() -> None:
    runtime = set(listed("runtime"))

    assert not runtime & TEST_ONLY
    assert {"tesseract-ocr", "tesseract-ocr-osd", "fonts-arphic-uming", "python3-venv"} <= runtime


def test_the_test_set_is_the_run_time_set_and_the_test_extras() -> None:
    runtime, test = listed("runtime"), listed("test")

    assert set(runtime) < set(test)
    assert set(test) - set(runtime) == TEST_ONLY
    assert len(test) == len(set(test))


@pytest.mark.parametrize("code", SUPPORTED)
@pytest.mark.parametrize("vertical", [False, True])
def test_every_model_the_pipeline_can_choose_is_installed_at_run_time(code: str, vertical: bool) -> None:
    model = models_for(code, vertical=vertical)

    assert model is not None
    assert "tesseract-ocr-" + model.replace("_", "-") in listed("runtime")


def test_an_unknown_set_is_refused_with_the_usage() -> None:
    done = subprocess.run([str(SCRIPT), "--list", "everything"], capture_output=True, text=True)

    assert done.returncode == 2
    assert "usage:" in done.stderr and "runtime|test" in done.stderr


def test_make_demo_installs_the_run_time_set_without_the_test_extras() -> None:
    plan = make_plan("demo")

    assert "install-system-packages.sh runtime" in plan
    assert "install-system-packages.sh test" not in plan
    assert "pip install --quiet -e ." in plan and "[test]" not in plan


def test_make_test_installs_both_sets_and_the_test_extras() -> None:
    plan = make_plan("test")

    assert "install-system-packages.sh test" in plan
    assert "-e '.[test]'" in plan
    assert "pytest" in plan


def test_a_phase_says_how_long_it_took_and_passes_the_exit_status_on() -> None:
    ok = subprocess.run([str(REPO / "scripts/phase"), "nothing much", "true"], capture_output=True, text=True)
    failed = subprocess.run([str(REPO / "scripts/phase"), "a failure", "sh", "-c", "exit 3"],
                            capture_output=True, text=True)

    assert ok.returncode == 0 and ok.stdout.splitlines()[0] == "==> nothing much"
    assert ok.stdout.splitlines()[-1].startswith("==> nothing much: done in ")
    assert failed.returncode == 3 and "a failure: failed after" in failed.stderr
