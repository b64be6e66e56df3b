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
    USAGE = 2  # bad arguments, unreadable batch or configuration


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
    from pipeline.intake import master_problems

    try:
        batch = load_batch(batch_dir)
    except BatchError as exc:
        fail([str(p) for p in exc.problems], ExitCode.FAILED)
    problems = master_problems(batch, max_pixels=settings.max_megapixels * 1_000_000)
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


def _run_ingest(settings: Settings, batch_dir: Path, workers: int, scheduler_url: str | None):
    import luigi

    from workflows.base import ShuyingTask
    from workflows.run import progress_line, run_ingest

    @ShuyingTask.event_handler(luigi.Event.SUCCESS)
    def _show_progress(task: luigi.Task) -> None:
        line = progress_line(task)
        if line:
            click.echo(line, err=True)

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


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="shuying", standalone_mode=True)
    except ShuyingError as exc:
        fail([str(exc)], ExitCode.FAILED)


if __name__ == "__main__":
    main()
