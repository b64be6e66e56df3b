"""One duration grammar and one clock, the same for every command that takes a duration."""

from __future__ import annotations

from datetime import UTC

import pytest
from click.testing import CliRunner

import cli
from pipeline.clock import now, now_iso, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("45s", 45), ("90m", 5400), ("1h30m", 5400), ("1.5h", 5400), ("12h", 43200), ("30d", 30 * 86400),
    ("2w", 14 * 86400), ("90d", 90 * 86400), (" 7D ", 7 * 86400), ("1w2d", 9 * 86400),
])
def test_durations_are_numbers_with_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "d", "-1d", "0d", "1y", "30 d", "fast", "2h-", "1000000000d"])
def test_anything_else_is_refused_with_one_message(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_the_clock_is_utc_to_the_second_unless_asked(monkeypatch) -> None:
    moment = now()
    assert moment.tzinfo is UTC and moment.microsecond == 0
    assert now_iso().endswith("+00:00") and len(now_iso()) == len("2026-12-04T18:30:00+00:00")
    assert "." in now_iso(precise=True)


@pytest.mark.parametrize("text", ["2w", "1h30m", "90d", "1.5d"])
def test_audit_and_token_take_the_same_durations(tmp_path, text: str) -> None:
    """Before: --cycle refused 2w, --expires refused 1h30m and 1.5d."""
    home = ["--home", str(tmp_path / "home")]
    plan = CliRunner().invoke(cli.cli, [*home, "audit", "--plan", "--cycle", text])
    token = CliRunner().invoke(cli.cli, [*home, "token", "create", "--user", "wang.li", "--expires", text])
    assert plan.exit_code == 0, plan.output
    assert token.exit_code == 0, token.output


@pytest.mark.parametrize("text", ["30", "1y"])
def test_audit_and_token_refuse_the_same_durations_the_same_way(tmp_path, text: str) -> None:
    home = ["--home", str(tmp_path / "home")]
    plan = CliRunner().invoke(cli.cli, [*home, "audit", "--plan", "--cycle", text])
    token = CliRunner().invoke(cli.cli, [*home, "token", "create", "--user", "wang.li", "--expires", text])
    assert plan.exit_code == token.exit_code == 2
    message = f"{text!r} is not a duration: give a number and a unit"
    assert message in plan.output and message in token.output
