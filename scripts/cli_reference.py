"""Write docs/cli.md, the reference of every `shuying` command and option, from the CLI itself.

Run after changing a command: ``.venv/bin/python scripts/cli_reference.py > docs/cli.md``;
tests/test_docs.py fails while the file is out of date.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli import cli  # after the repo is on sys.path

HEADER = """# Command reference

Generated from the CLI by `scripts/cli_reference.py`; do not edit by hand. Every command
takes the global options `--home DIR` and `--config FILE` before its name
(`shuying --home /srv/shuying status`). Exit codes: see the table in README.md.
"""


def walk(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command below ``group``, groups before their subcommands, in name order."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from walk(command, (*prefix, name))


def option_line(param: click.Parameter) -> str:
    names = ", ".join(f"`{n}`" for n in [*param.opts, *param.secondary_opts])
    metavar = "" if getattr(param, "is_flag", False) else f" {param.make_metavar(click.Context(click.Command('x')))}"
    help_text = " ".join((getattr(param, "help", "") or "").split())
    default = param.default if getattr(param, "show_default", False) and param.default not in (None, ()) else None
    shown = f" (default: {default})" if default is not None else ""
    return f"- {names}{metavar}: {help_text}{shown}".rstrip()


def help_lines(text: str) -> list[str]:
    """A command's help as Markdown: its prose, and its examples as a shell block."""
    out, in_example = [], False
    for line in inspect.cleandoc(text).splitlines():
        if line.strip() == "\b":
            continue
        if line.startswith("Example:"):
            out += ["", "```sh"]
            in_example = True
            line = line[len("Example:"):]
            if not line.strip():
                continue
        if in_example and line.strip() and not line.startswith(" ") and not line.startswith("Example"):
            out += ["```", ""]
            in_example = False
        out.append(line.strip() if in_example else line.rstrip())
    if in_example:
        while out and not out[-1]:
            out.pop()
        out.append("```")
    return out


def section(path: tuple[str, ...], command: click.Command) -> list[str]:
    arguments = " ".join(p.human_readable_name for p in command.params if isinstance(p, click.Argument))
    lines = [f"## shuying {' '.join(path)}", "", f"`shuying {' '.join(path)}{' [OPTIONS]' if command.params else ''}"
             f"{' ' + arguments if arguments else ''}{' COMMAND' if isinstance(command, click.Group) else ''}`", ""]
    lines += help_lines(command.help or "")
    options = [option_line(p) for p in command.params if isinstance(p, click.Option)]
    return [*lines, "", *(["Options:", "", *options, ""] if options else [])]


def reference() -> str:
    lines = [HEADER]
    for path, command in walk(cli):
        lines += section(path, command)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(reference())
