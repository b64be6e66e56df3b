"""The `shuying` command: one entry point for technicians, archivists and operators.

Commands parse arguments, call one function in workflows/ or iiif_server/, and print
the result. Errors become one line per problem on stderr and an exit code from
:class:`ExitCode`.
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path

import click

from pipeline import __version__
from pipeline.errors import BatchError, ShuyingError
from storage_config.settings import Settings, load_settings


class ExitCode(enum.IntEnum):
    OK = 0
    FAILED = 1  # the work ran and something in it failed (a page, a check)
    USAGE = 2  # bad arguments or configuration (a bad batch is FAILED: the work could not be done)


pass_settings = click.make_pass_decorator(Settings)


@click.group()
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


def fail(problems: list[str], code: ExitCode) -> None:
    """Print one line per problem to stderr and exit with ``code``."""
    for line in problems:
        click.secho(f"Error: {line}", err=True, fg="red")
    sys.exit(int(code))


@cli.command()
@click.argument("batch_dir", type=click.Path(path_type=Path, file_okay=False))
@pass_settings
def validate(settings: Settings, batch_dir: Path) -> None:
    """Check a batch folder: batch.json and every image, without processing.

    \b
    Example:
      shuying validate /scans/GJ-0001
    """
    from pipeline.batch import load_batch
    from pipeline.intake import batch_problems

    try:
        batch = load_batch(batch_dir)
    except BatchError as exc:
        fail([str(p) for p in exc.problems], ExitCode.FAILED)
    problems = batch_problems(batch, max_pixels=settings.max_megapixels * 1_000_000)
    if problems:
        fail([str(p) for p in problems], ExitCode.FAILED)
    click.echo(f"{batch_dir}: valid batch, item {batch.item_id}, {len(batch.pages)} pages")


@cli.command()
@click.argument("batch_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Tasks run in parallel (processes).")
@click.option("--scheduler-url", default=None, help="Central luigid, e.g. http://127.0.0.1:8082/. "
              "Default: Luigi's local scheduler.")
@pass_settings
def ingest(settings: Settings, batch_dir: Path, workers: int, scheduler_url: str | None) -> None:
    """Ingest a batch: QC, deskew, OCR, METS, AIP, storage, IIIF manifest.

    Re-running after a crash or a failed page finishes only what is missing.

    \b
    Example:
      shuying ingest /scans/GJ-0001 --workers 2
    """
    result = _run_ingest(settings, batch_dir, workers, scheduler_url)
    _report_ingest(result)


def _show_progress(task) -> None:
    from workflows.run import progress_line

    line = progress_line(task)
    if line:
        click.echo(line, err=True)


def _run_ingest(settings: Settings, batch_dir: Path, workers: int, scheduler_url: str | None):
    import luigi

    from workflows.base import ShuyingTask
    from workflows.run import run_ingest

    # Luigi keeps handlers in a set: registering the same function again adds nothing.
    ShuyingTask.event_handler(luigi.Event.SUCCESS)(_show_progress)
    try:
        return run_ingest(batch_dir, settings, workers=workers, scheduler_url=scheduler_url)
    except BatchError as exc:
        fail([str(p) for p in exc.problems], ExitCode.FAILED)


def _report_ingest(result) -> None:
    if not result.ok:
        lines = [f["message"] for f in result.failures] or [f"ingest did not finish ({result.status})"]
        click.echo(f"Run log with tracebacks: {result.layout.work / 'luigi.log'}", err=True)
        fail([line for msg in lines for line in msg.splitlines()], ExitCode.FAILED)
    click.echo(f"Ingested {result.batch.item_id}: {len(result.batch.pages)} pages")
    click.echo(f"  AIP (work copy):   {result.layout.aip}")
    click.echo(f"  stored:            {result.layout.stored}")
    click.echo(f"  IIIF manifest:     {result.layout.manifest}")


@cli.command()
@click.option("--pages", default=8, show_default=True, type=click.IntRange(1, 500), help="Pages to generate.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--serve/--no-serve", default=True, show_default=True,
              help="After ingesting, serve the book in the viewer until Ctrl-C.")
@pass_settings
def demo(settings: Settings, pages: int, workers: int, serve: bool) -> None:
    """Generate a sample woodblock-style book, ingest it end to end, and serve it in the viewer.

    \b
    Example:
      shuying demo --pages 8           then open http://127.0.0.1:8182/viewer/demo-lunyu
    """
    from workflows.demo import make_demo_batch

    batch_dir = make_demo_batch(settings.home / "demo-batch", pages=pages)
    click.echo(f"Generated sample book: {batch_dir}")
    result = _run_ingest(settings, batch_dir, workers, None)
    _report_ingest(result)
    if serve:
        _serve(settings, None, None, 1, item_id=result.batch.item_id)


@cli.command("serve")
@click.option("--host", default=None,
              help="Address to listen on. Default: base_url's host if it is an IP address, else 127.0.0.1.")
@click.option("--port", default=None, type=click.IntRange(1, 65535),
              help="Port to listen on. Default: base_url's port, else 8182.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes sharing the port.")
@click.option("--get", "get_path", default=None, metavar="PATH",
              help="Answer one GET in-process (no port opened), print the body and exit.")
@pass_settings
def serve_command(settings: Settings, host: str | None, port: int | None, workers: int,
                  get_path: str | None) -> None:
    """Serve published books: IIIF Image API 3.0, manifests, ALTO, a Collection and the Mirador viewer.

    \b
    Example:
      shuying serve --workers 2        then open http://127.0.0.1:8182/
      shuying serve --get /iiif/collection.json
    """
    from iiif_server.serve import fetch

    if get_path:
        response = fetch(settings, get_path)
        if response.status >= 400:
            fail([response.body.decode("utf-8", "replace").strip()], ExitCode.FAILED)
        click.echo(response.body, nl=False)
        return
    _serve(settings, host, port, workers)


def _serve(settings: Settings, host: str | None, port: int | None, workers: int, item_id: str = "") -> None:
    from iiif_server.serve import default_bind, serve

    default_host, default_port = default_bind(settings)
    host, port = host or default_host, port or default_port
    where = f"/viewer/{item_id}" if item_id else "/  (viewer: /viewer/<item_id>)"
    click.echo(f"Serving {settings.publish_dir} at http://{host}:{port}{where}   (Ctrl-C stops)", err=True)
    serve(settings, host=host, port=port, workers=workers)


def _storage(call, *args, **kwargs):
    """Run a storage workflow; a StorageError becomes one line per problem and exit code 1."""
    from pipeline.errors import StorageError

    try:
        return call(*args, **kwargs)
    except StorageError as exc:
        fail(str(exc).splitlines(), ExitCode.FAILED)


def _report_copies(report, location_summary: str) -> None:
    for outcome in report.outcomes:
        if outcome not in report.failures:
            click.echo(str(outcome))
    click.echo(location_summary)
    if not report.ok:
        fail([*map(str, report.failures), *(f"below policy: {line}" for line in report.below_policy)],
             ExitCode.FAILED)


@cli.command()
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

    report = _storage(replication.replicate, settings, item=item, location=location)
    _report_copies(report, f"{len(report.outcomes) - len(report.failures)} copies made or verified, "
                           f"{report.bytes_copied / 1e6:.1f} MB copied")


@cli.command()
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

    report = _storage(export_bag, settings, item, dest, version=version, location=location)
    click.echo(f"Exported {report.aip_key} to {report.dest}: {report.files} files, {report.bytes / 1e6:.1f} MB, "
               f"from {', '.join(report.locations)}; bagit validation passed")


@cli.command()
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

    report = _storage(restore_location, settings, location)
    _report_copies(report, f"{len(report.outcomes) - len(report.failures)} versions in place in {location}, "
                           f"{report.bytes_copied / 1e6:.1f} MB copied")


@cli.command()
@pass_settings
def status(settings: Settings) -> None:
    """Show items, AIP versions, copies per location, and anything below the storage policy.

    \b
    Example:
      shuying status
    """
    from workflows.storage_status import format_status
    from workflows.storage_status import status as archive_status

    report = _storage(archive_status, settings)
    for line in format_status(report):
        click.echo(line)
    if not report.ok:
        sys.exit(int(ExitCode.FAILED))


@cli.group()
def catalogue() -> None:
    """The catalogue of items, AIP versions, files, copies and events.

    \b
    Example:
      shuying catalogue rebuild
    """


@catalogue.command("rebuild")
@pass_settings
def catalogue_rebuild(settings: Settings) -> None:
    """Rebuild the catalogue from what is in storage (bags and event records).

    \b
    Example:
      shuying catalogue rebuild
    """
    from workflows.catalogue_ops import rebuild_catalogue

    report = _storage(rebuild_catalogue, settings)
    click.echo(f"Catalogue rebuilt: {report.versions} AIP versions, {report.copies} copies, {report.events} events")
    if not report.ok:
        fail(list(report.problems), ExitCode.FAILED)


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="shuying", standalone_mode=True)
    except ShuyingError as exc:
        fail([str(exc)], ExitCode.FAILED)


if __name__ == "__main__":
    main()
