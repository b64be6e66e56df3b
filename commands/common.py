"""What every command module shares: the settings decorator and how errors reach the terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import NoReturn

import click

from pipeline.errors import ExitCode
from storage_config.settings import Settings

__all__ = ["ExitCode", "fail", "pass_settings", "warn_policy"]

pass_settings = click.make_pass_decorator(Settings)


def fail(problems: Iterable[str], code: ExitCode) -> NoReturn:
    """Print one line per problem to stderr and exit with ``code``."""
    for line in problems:
        click.secho(f"Error: {line}", err=True, fg="red")
    sys.exit(int(code))


def warn_policy(settings: Settings) -> None:
    """Say on stderr what the storage configuration cannot survive (one copy kept, no off-site copy)."""
    from pipeline.errors import StorageError
    from storage_config.locations import load_storage_config
    from storage_config.policy import policy_warnings

    try:
        config = load_storage_config(settings.storage_config, home=settings.home)
    except StorageError:
        return  # the command itself reports a configuration it cannot read
    for line in policy_warnings(config):
        click.secho(f"warning: {line}", err=True, fg="yellow")
