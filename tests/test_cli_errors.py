"""One error model: each error class names its exit code, and the CLI reports every one the same way."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import cli
from pipeline.errors import ExitCode, ShuyingError

REPO = Path(__file__).resolve().parent.parent
# Errors that never reach the terminal: HTTP answers of the server, and a signal inside hashing.
INTERNAL = {"iiif_server.errors", "pipeline.fixity"}


def _error_classes() -> dict[str, type[ShuyingError]]:
    for package in ("pipeline", "workflows", "iiif_server", "storage_config", "commands"):
        for module in pkgutil.walk_packages([str(REPO / package)], prefix=f"{package}."):
            importlib.import_module(module.name)
    found, todo = {}, [ShuyingError]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__ not in INTERNAL:
                found[sub.__name__] = sub
    return found


def _readme_table() -> dict[str, int]:
    """``{class name: code}`` from README.md's exit-code table."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = {}
    for code, classes in re.findall(r"^\| (\d) \|[^|]*\|([^|]*)\|$", text, flags=re.MULTILINE):
        for name in re.findall(r"`(\w+)`", classes):
            table[name] = int(code)
    return table


def test_every_error_class_is_in_the_readme_table_with_its_own_exit_code() -> None:
    classes, table = _error_classes(), _readme_table()
    assert set(classes) <= set(table), f"not in README's exit-code table: {sorted(set(classes) - set(table))}"
    assert {name: int(classes[name].exit_code) for name in table if name in classes} == \
        {name: code for name, code in table.items() if name in classes}


def test_commands_leave_exit_codes_of_errors_to_the_error_classes() -> None:
    """No command catches an error only to choose its exit code (the defect that hid a NameError in migrate)."""
    mapping = []
    for path in sorted((REPO / "commands").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ExceptHandler):
                calls = {n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
                if calls & {"fail", "exit"}:
                    mapping.append(f"{path.name}:{node.lineno}")
    assert mapping == []


@pytest.fixture()
def run(tmp_path: Path):
    def invoke(*args: str):
        return CliRunner().invoke(cli.cli, ["--home", str(tmp_path / "home"), *args])
    return invoke


def _errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("Error:")]


def test_a_file_the_system_cannot_write_is_one_line_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    result = CliRunner().invoke(cli.cli, ["--home", str(blocker / "home"), "catalogue", "rebuild"])
    assert result.exit_code == ExitCode.FAILED
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    [line] = _errors(result.output)
    assert str(blocker / "home") in line and "Not a directory" in line


def test_the_same_error_class_exits_the_same_way_from_different_commands(run, tmp_path: Path) -> None:
    # An unknown record id is a usage error whether shown or reported.
    shown, reported = run("repair", "show", "CR-2099-0001"), run("repair", "report", "GJ-NONE")
    assert shown.exit_code == reported.exit_code == ExitCode.USAGE, (shown.output, reported.output)
    assert _errors(shown.output) and _errors(reported.output)


def test_an_audit_that_cannot_start_exits_5_and_says_why(run) -> None:
    result = run("audit", "--location", "tape")
    assert result.exit_code == ExitCode.COULD_NOT_RUN
    [line] = _errors(result.output)
    assert "no location named 'tape'" in line
