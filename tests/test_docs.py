"""The docs and the CLI agree (as sqlite-utils' test_docs.py): what the docs name exists, what exists is documented."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import click
import pytest

from cli import cli

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
GLOBAL_OPTIONS = {"--home", "--config", "--help", "--version"}
# `shuying` followed by a command (and a subcommand), up to the end of the code span or line.
MENTION = re.compile(r"\bshuying((?: [a-z][a-z-]*)+)([^`\n|;&]*)")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def _reference_module():
    spec = importlib.util.spec_from_file_location("cli_reference", REPO / "scripts" / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _commands() -> dict[tuple[str, ...], click.Command]:
    return dict(_reference_module().walk(cli))


def _options(command: click.Command) -> set[str]:
    names = {name for p in command.params if isinstance(p, click.Option) for name in [*p.opts, *p.secondary_opts]}
    if isinstance(command, click.Group):  # `shuying repair --help` … and options given after a subcommand
        for sub in command.commands.values():
            names |= _options(sub)
    return names | GLOBAL_OPTIONS


def _mentions() -> list[tuple[str, int, tuple[str, ...], str]]:
    found = []
    for doc in DOCS:
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1):
            for words, rest in MENTION.findall(line):
                found.append((doc.name, number, tuple(words.split()), rest))
    return found


def _resolve(words: tuple[str, ...], commands: dict) -> tuple[str, ...] | None:
    """The longest command path ``words`` starts with; None when the first word is no command."""
    path = ()
    for word in words:
        if (*path, word) in commands:
            path = (*path, word)
        else:
            break
    return path or None


def test_the_reference_is_generated_from_the_cli_as_it_is() -> None:
    assert (REPO / "docs" / "cli.md").read_text(encoding="utf-8") == _reference_module().reference(), \
        "docs/cli.md is out of date: .venv/bin/python scripts/cli_reference.py > docs/cli.md"


def test_every_command_the_docs_name_exists() -> None:
    commands = _commands()
    unknown = [f"{doc}:{n}: shuying {' '.join(words)}" for doc, n, words, _ in _mentions()
               if _resolve(words, commands) is None and words[0] not in {"is", "as", "and", "or", "the"}]
    assert unknown == []


def test_every_option_the_docs_give_a_command_is_one_of_its_options() -> None:
    commands, wrong = _commands(), []
    for doc, n, words, rest in _mentions():
        path = _resolve(words, commands)
        if path is None:
            continue
        given = set(OPTION.findall(" ".join(words[len(path):]) + rest))
        wrong += [f"{doc}:{n}: shuying {' '.join(path)} {option}" for option in sorted(given - _options(commands[path]))]
    assert wrong == []


def test_every_command_and_option_is_documented_in_prose_as_well_as_the_reference() -> None:
    """The reference lists everything; a command no guide or README mentions is one nobody will find."""
    prose = "\n".join(doc.read_text(encoding="utf-8") for doc in DOCS if doc.name != "cli.md")
    missing = [" ".join(path) for path in _commands() if f"shuying {' '.join(path)}" not in prose
               and not any(f"shuying {' '.join(path)} " in line for line in prose.splitlines())]
    assert missing == []


@pytest.mark.parametrize("path", sorted(_commands()), ids=" ".join)
def test_every_option_has_help(path: tuple[str, ...]) -> None:
    command = _commands()[path]
    assert command.help, f"shuying {' '.join(path)} has no help"
    assert [p.name for p in command.params if isinstance(p, click.Option) and not p.help] == []
