"""`shuying config show`: every setting in effect and where it came from, to answer "why is it doing that?"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from commands.common import pass_settings
from storage_config.settings import SettingRow, Settings, env_name


@click.group("config")
def config() -> None:
    """The settings in effect: defaults < settings file < SHUYING_* variables < flags.

    \b
    Example:
      shuying config show
      shuying --home /srv/shuying config show --json
    """


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (name, value, source, variable, help) for scripts.")
@pass_settings
def show(settings: Settings, as_json: bool) -> None:
    """Print each setting in effect and its source.

    Every setting and [server] option is shown. The text is TOML: a line can be copied into shuying.toml as it is. Each line's comment
    says where the value came from: default, the settings file, a SHUYING_* variable, or the
    command line.

    \b
    Example:
      shuying config show
      SHUYING_SERVER_WORKERS=4 shuying config show --json
    """
    from iiif_server.config import SERVER_TABLE, effective_server_options
    from storage_config.settings import effective_settings

    groups = {"": effective_settings(settings), SERVER_TABLE: effective_server_options(settings)}
    if as_json:
        click.echo(json.dumps(_as_json(settings, groups), ensure_ascii=False, indent=2))
        return
    read = settings.config_file or "none (defaults, SHUYING_* variables and flags only)"
    click.echo(f"# Settings in effect. Settings file read: {read}")
    for table, rows in groups.items():
        click.echo(f"\n[{table}]  # variables: {env_name('<name>', table)}" if table
                   else f"# variables: {env_name('<name>')}")
        click.echo("\n".join(_lines(rows)))


def _lines(rows: list[SettingRow]) -> list[str]:
    """Return ``name = value  # source`` lines, the comments aligned."""
    pairs = [(f"{row.name} = {_toml(row.value)}", row.source) for row in rows]
    width = max(len(pair) for pair, _source in pairs)
    return [f"{pair:<{width}}  # {source}" for pair, source in pairs]


def _toml(value: Any) -> str:
    """Return ``value`` written as TOML, so a shown line is a valid settings-file line."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _as_json(settings: Settings, groups: dict[str, list[SettingRow]]) -> dict[str, Any]:
    return {
        "config_file": str(settings.config_file) if settings.config_file else None,
        **{table or "settings": [{"name": row.name, "value": _plain(row.value), "source": row.source,
                                  "variable": env_name(row.name, table), "help": row.help} for row in rows]
           for table, rows in groups.items()},
    }


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    return list(value) if isinstance(value, tuple) else value
