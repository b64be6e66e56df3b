"""The `shuying` command: one entry point for technicians, archivists and operators.

The commands live in ``commands/``, one module per family; this module assembles them
into one group. Commands parse arguments, call one function in workflows/ or
iiif_server/, and print the result. An error a person can act on (a ShuyingError)
becomes one ``Error:`` line per problem on stderr and the exit code its class names
(:class:`ExitCode`, table in README.md), decided here once rather than by each command.
"""

from __future__ import annotations

from pathlib import Path

import click

from commands import audit, config, conservation, ingest, serving, storage
from commands.common import ExitCode, fail
from pipeline import __version__
from pipeline.errors import ShuyingError
from storage_config.settings import load_settings

__all__ = ["ExitCode", "cli", "main"]


class ShuyingGroup(click.Group):
    """A click group that reports the errors of any subcommand the one way (cf. ClickException)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ShuyingError as exc:
            fail(str(exc).splitlines() or [type(exc).__name__], exc.exit_code)
        except OSError as exc:
            if exc.filename is None:
                raise
            # A file the user named or a folder we write to: the system's words are the clearest.
            fail([f"{exc.filename}: {exc.strerror or exc}"], ExitCode.FAILED)


@click.group(cls=ShuyingGroup)
@click.version_option(__version__, prog_name="shuying")
@click.option("--home", type=click.Path(path_type=Path), default=None,
              help="Data folder (work, storage, publish). Default: $SHUYING_HOME or ./shuying-data.")
@click.option("--config", "config_file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              default=None, help="Settings file (TOML). Default: <home>/shuying.toml if present.")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, config_file: Path | None) -> None:
    """Shuying (书影): digitize, preserve and publish rare books.

    \b
    Example:
      shuying validate /scans/GJ-0001
      shuying ingest /scans/GJ-0001 --workers 2
    """
    try:
        ctx.obj = load_settings(config_file, home=home)
    except ShuyingError as exc:
        raise click.UsageError(str(exc)) from None


for command in (
    ingest.validate, ingest.qc, ingest.ingest, ingest.reshoot, ingest.demo, ingest.migrate,
    storage.replicate, storage.export, storage.restore, storage.status, storage.catalogue,
    audit.audit_command,
    serving.serve_command, serving.token, serving.search, serving.index_command,
    conservation.repair, conservation.user, conservation.staff_log,
    config.config,
):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="shuying", standalone_mode=True)


if __name__ == "__main__":
    main()
