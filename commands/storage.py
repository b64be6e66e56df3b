"""Commands of the archive: replicate, export, restore, status and the catalogue."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from commands.common import ExitCode, fail, pass_settings
from storage_config.settings import Settings


def _report_copies(report, location_summary: str) -> None:
    for outcome in report.outcomes:
        if outcome not in report.failures:
            click.echo(str(outcome))
    click.echo(location_summary)
    if not report.ok:
        from workflows.replicate import Outcome

        # A location found unreachable is one line, not one per item skipped after it.
        unreachable = tuple(getattr(report, "unreachable", ()))
        failures = [str(f) for f in report.failures if getattr(f, "outcome", None) is not Outcome.SKIPPED]
        fail([*unreachable, *failures, *(f"below policy: {line}" for line in report.below_policy)],
             ExitCode.COULD_NOT_RUN if unreachable else ExitCode.FAILED)


@click.command()
@click.option("--item", default=None, help="Only this item (every version of it).")
@click.option("--location", default=None, help="Copy everything to this location instead of following the policy.")
@pass_settings
def replicate(settings: Settings, item: str | None, location: str | None) -> None:
    """Bring every AIP version up to the storage policy; each copy is read back and verified.

    Re-running resumes an interrupted replication.

    \b
    Example:
      shuying replicate
      shuying replicate --item GJ-0001 --location offsite
    """
    from workflows import replicate as replication

    report = replication.replicate(settings, item=item, location=location)
    aborted = len(report.aborted_uploads)
    _report_copies(report, f"{len(report.outcomes) - len(report.failures)} copies made or verified, "
                           f"{aborted} incomplete uploads aborted, "
                           f"{report.bytes_copied / 1e6:.1f} MB copied")


@click.command()
@click.argument("item")
@click.argument("dest", type=click.Path(path_type=Path, file_okay=False))
@click.option("--version", "version", type=click.IntRange(min=1), default=None,
              help="AIP version to export (default: the latest).")
@click.option("--location", default=None,
              help="Read only from this location (default: any with a verified copy, primaries first).")
@pass_settings
def export(settings: Settings, item: str, dest: Path, version: int | None, location: str | None) -> None:
    """Write one AIP version as a complete BagIt bag, every file verified against the catalogue.

    \b
    Example:
      shuying export GJ-0001 /tmp/GJ-0001
      shuying export GJ-0001 --version 1 --location offsite /tmp/GJ-0001.v1
    """
    from workflows.export import export as export_bag

    report = export_bag(settings, item, dest, version=version, location=location)
    click.echo(f"Exported {report.aip_key} to {report.dest}: {report.files} files, {report.bytes / 1e6:.1f} MB, "
               f"from {', '.join(report.locations)}; bagit validation passed")


@click.command()
@click.option("--location", required=True, help="The location to rebuild from the others.")
@pass_settings
def restore(settings: Settings, location: str) -> None:
    """Rebuild a lost or damaged location from verified copies elsewhere.

    Copies present and intact are kept; copies present but damaged are reported, never overwritten.

    \b
    Example:
      shuying restore --location primary
    """
    from workflows.replicate import restore as restore_location

    report = restore_location(settings, location)
    _report_copies(report, f"{len(report.outcomes) - len(report.failures)} versions in place in {location}, "
                           f"{report.bytes_copied / 1e6:.1f} MB copied")


@click.command()
@pass_settings
def status(settings: Settings) -> None:
    """Show items, AIP versions, copies per location, and anything below the storage policy.

    \b
    Example:
      shuying status
    """
    from workflows.storage_status import format_status
    from workflows.storage_status import status as archive_status

    report = archive_status(settings)
    for line in report.warnings:
        click.secho(f"warning: {line}", err=True, fg="yellow")
    for line in format_status(report):
        click.echo(line)
    if not report.ok:
        sys.exit(int(ExitCode.FAILED))


@click.group()
def catalogue() -> None:
    """The catalogue of items, AIP versions, files, copies and events.

    \b
    Example:
      shuying catalogue rebuild
    """


@catalogue.command("rebuild")
@pass_settings
def catalogue_rebuild(settings: Settings) -> None:
    """Rebuild the catalogue from what is in storage (bags and event records), then the conservation index.

    The conservation index is derived from the records in the stored AIP versions, so it
    is rebuilt from the new catalogue too (as `shuying repair reindex` does).

    \b
    Example:
      shuying catalogue rebuild
    """
    from workflows.catalogue_ops import rebuild_catalogue
    from workflows.conservation_store import reindex_records

    report = rebuild_catalogue(settings)
    click.echo(f"Catalogue rebuilt: {report.versions} AIP versions, {report.copies} copies, {report.events} events")
    records = reindex_records(settings)
    click.echo(f"Conservation index rebuilt: {records.records} records, {records.revisions} revisions")
    problems = [*report.problems, *(f"conservation index: {p}" for p in records.problems)]
    if problems:
        fail(problems, ExitCode.FAILED)
