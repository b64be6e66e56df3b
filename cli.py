"""The `shuying` command: one entry point for technicians, archivists and operators.

Commands parse arguments, call one function in workflows/ or iiif_server/, and print
the result. Errors become one line per problem on stderr and an exit code from
:class:`ExitCode`.
"""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path

import click

from pipeline import __version__
from pipeline.errors import BatchError, ShuyingError
from storage_config.settings import Settings, load_settings


class ExitCode(enum.IntEnum):
    OK = 0
    FAILED = 1  # the work ran and something in it failed (a page, a check; audit: damage found, not repaired)
    USAGE = 2  # bad arguments or configuration (a bad batch is FAILED: the work could not be done)
    REPAIRED = 3  # audit: damage was found and every damaged file was repaired from a verified copy
    UNRECOVERABLE = 4  # audit: some file has no intact copy anywhere; nothing was overwritten
    COULD_NOT_RUN = 5  # audit: could not run, or some copies could not be checked (storage unreachable, busy)


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
@click.option("--profile", "profile", default=None, metavar="NAME|FILE",
              help="QC profile: ancient-books, republican-documents, legacy (migrated scans) or a profile "
              "JSON file. Default: batch.json capture.qc_profile, else chosen by the batch's material_type.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Pages checked in parallel (processes).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder for qc.json and qc.html. Default: <home>/work/<item>/station-qc/.")
@pass_settings
def qc(settings: Settings, batch_dir: Path, profile: str | None, workers: int, out_dir: Path | None) -> None:
    """Check every image of a batch and write a contact sheet of what to reshoot.

    Exits with 1 when any page fails a check; warnings alone exit with 0.

    \b
    Example:
      shuying qc /scans/GJ-0001
      shuying qc /scans/MG-0042 --profile republican-documents --workers 2
    """
    from pipeline.errors import ValidationError
    from workflows.qc_run import run_qc

    try:
        result = run_qc(batch_dir, settings, profile, workers=workers, out_dir=out_dir)
    except BatchError as exc:
        fail([str(p) for p in exc.problems], ExitCode.FAILED)
    except ValidationError as exc:
        fail([str(exc)], ExitCode.USAGE)
    click.echo(f"{result.batch.item_id}: {result.summary}")
    for entry in result.report["reshoot"]:
        click.echo(f"  reshoot {entry['page_id']} ({entry['file']}): {'; '.join(entry['reasons'])}")
    click.echo(f"  contact sheet: {result.html_path}")
    click.echo(f"  report:        {result.json_path}")
    if result.failed:
        sys.exit(int(ExitCode.FAILED))


# Options `ingest` and `migrate` share: how the work is scheduled, and who lets QC findings through why.
scheduler_url_option = click.option("--scheduler-url", default=None, help="Central luigid, e.g. "
                                    "http://127.0.0.1:8082/. Default: Luigi's local scheduler.")
accept_warnings_option = click.option("--accept-warnings", is_flag=True,
                                      help="Let QC warnings through to storage (needs --operator and --reason).")
operator_option = click.option("--operator", default="", help="Who lets QC findings through; recorded in PREMIS.")
reason_option = click.option("--reason", default="", help="Why they are let through; recorded in PREMIS.")


@cli.command()
@click.argument("batch_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Tasks run in parallel (processes).")
@scheduler_url_option
@click.option("--profile", "qc_profile", default=None, metavar="NAME|FILE",
              help="QC profile (see `shuying qc`). Default: batch.json capture.qc_profile, else chosen by "
              "the batch's material_type.")
@accept_warnings_option
@click.option("--override", "overrides", multiple=True, metavar="PAGE:CHECK",
              help="Let one QC finding through, e.g. p0003:focus or 0003.tif:*, or one check on every "
              "page, e.g. '*:resolution' (repeatable; needs --operator and --reason).")
@click.option("--override-check", "override_checks", multiple=True, metavar="CHECK",
              help="Let one check through on every page: --override-check resolution is '*:resolution' "
              "(repeatable; each page's finding is recorded in PREMIS).")
@operator_option
@reason_option
@click.option("--ocr-engine", default="auto", show_default=True, metavar="auto|tesseract|ppocr",
              help="OCR engine for every page; auto = each page's batch.json ocr_engine, else the material's "
              "default. Pages read earlier by another engine are read again.")
@pass_settings
def ingest(settings: Settings, batch_dir: Path, workers: int, scheduler_url: str | None, qc_profile: str | None,
           accept_warnings: bool, overrides: tuple[str, ...], override_checks: tuple[str, ...], operator: str,
           reason: str, ocr_engine: str) -> None:
    """Ingest a batch: QC, deskew, OCR, METS, AIP, storage, IIIF manifest.

    QC stops the batch before storage when a page fails a check (or has a warning);
    after review, let findings through with --override or --accept-warnings, saying
    who and why with --operator and --reason. Re-running after a crash, a failed page
    or a QC stop finishes only what is missing.

    \b
    Example:
      shuying ingest /scans/GJ-0001 --workers 2
      shuying ingest /scans/GJ-0001 --override p0003:focus --operator 王芳 --reason "ink bleed, not blur"
      shuying ingest /scans/LG-0007 --profile legacy --override-check compression --operator 王芳 --reason "legacy JPEGs"
      shuying ingest /scans/GJ-0001 --ocr-engine tesseract
    """
    from pipeline.qc.gate import batch_wide

    overrides = overrides + tuple(batch_wide(check) for check in override_checks)
    gate = {"qc_profile": qc_profile, "accept_warnings": accept_warnings, "overrides": overrides,
            "operator": operator, "reason": reason, "ocr_engine": ocr_engine}
    result = _run_ingest(settings, batch_dir, workers, scheduler_url, gate)
    _warn_policy(settings)  # after a run, not after a usage error: the line is not lost above progress lines
    _report_ingest(result)


@cli.command()
@click.argument("batch_dir", type=click.Path(path_type=Path, file_okay=False))
@click.argument("pages", nargs=-1, required=True)
@click.option("--operator", required=True, help="Who made the new capture; recorded in PREMIS.")
@click.option("--reason", required=True, help="Why the page was reshot; recorded in PREMIS.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Tasks run in parallel (processes).")
@accept_warnings_option
@click.option("--override", "overrides", multiple=True, metavar="PAGE:CHECK",
              help="Let one QC finding through, as for ingest (repeatable).")
@pass_settings
def reshoot(settings: Settings, batch_dir: Path, pages: tuple[str, ...], operator: str, reason: str, workers: int,
            accept_warnings: bool, overrides: tuple[str, ...]) -> None:
    """Replace pages of an ingested batch with new captures and redo only what depends on them.

    Put each new image in the batch folder under the page's file name first. Before
    storage, the pages' QC, derivative and OCR are redone and the ingest finishes;
    after storage, a new AIP version holds the new masters (the old version is kept)
    and the book is published again. The replaced master's digests, who and why go
    into PREMIS.

    \b
    Example:
      shuying reshoot /scans/GJ-0001 p0003 --operator 王芳 --reason "blurred; reshot"
      shuying reshoot /scans/GJ-0001 0003.tif 0007.tif --operator 王芳 --reason "fingers in frame"
    """
    from pipeline.errors import StorageError
    from workflows.reshoot import ReshootError, describe
    from workflows.reshoot import reshoot as run_reshoot

    _warn_policy(settings)
    try:
        result = run_reshoot(batch_dir, settings, list(pages), operator=operator, reason=reason, workers=workers,
                             accept_warnings=accept_warnings, overrides=overrides)
    except ReshootError as exc:
        fail([str(exc)], ExitCode.USAGE)
    except BatchError as exc:
        fail([str(p) for p in exc.problems], ExitCode.FAILED)
    except StorageError as exc:
        fail([str(exc)], ExitCode.FAILED)
    if not result.ok:
        if result.ingest is not None:
            _report_ingest(result.ingest)
        fail([f"{result.batch.item_id}: the reshoot is recorded but not stored; run the same command again"],
             ExitCode.FAILED)
    click.echo(describe(result))
    click.echo(f"  IIIF manifest:     {result.layout.manifest}")


def _show_progress(task) -> None:
    from workflows.run import progress_line

    line = progress_line(task)
    if line:
        click.echo(line, err=True)


def _run_ingest(settings: Settings, batch_dir: Path, workers: int, scheduler_url: str | None,
                gate: dict | None = None):
    import luigi

    from workflows.base import ShuyingTask
    from workflows.run import run_ingest

    # Luigi keeps handlers in a set: registering the same function again adds nothing.
    ShuyingTask.event_handler(luigi.Event.SUCCESS)(_show_progress)
    from pipeline.errors import OcrError, ValidationError
    from pipeline.qc import OverrideError
    from workflows.masters import MasterChangedError

    try:
        return run_ingest(batch_dir, settings, workers=workers, scheduler_url=scheduler_url, **(gate or {}))
    except BatchError as exc:
        fail([str(p) for p in exc.problems], ExitCode.FAILED)
    except OverrideError as exc:
        fail([str(p) for p in exc.problems], ExitCode.USAGE)
    except (ValidationError, OcrError) as exc:
        fail([str(exc)], ExitCode.USAGE)
    except MasterChangedError as exc:
        fail([str(exc)], ExitCode.FAILED)


def _report_ingest(result) -> None:
    if not result.ok:
        lines = [f["message"] for f in result.failures] or [f"ingest did not finish ({result.status})"]
        click.echo(f"Run log with tracebacks: {result.layout.work / 'luigi.log'}", err=True)
        fail([line for msg in lines for line in msg.splitlines()], ExitCode.FAILED)
    stored = json.loads(result.layout.stored.read_text(encoding="utf-8"))
    if stored.get("already_stored"):
        click.echo(f"{result.batch.item_id}: already stored as {stored['aip']} with these masters; nothing new "
                   f"stored, published again ({len(result.batch.pages)} pages)")
    else:
        click.echo(f"Ingested {result.batch.item_id}: {len(result.batch.pages)} pages")
        click.echo(f"  AIP (work copy):   {result.layout.aip}")
    click.echo(f"  stored:            {result.layout.stored}")
    click.echo(f"  IIIF manifest:     {result.layout.manifest}")
    _report_ocr_review(result)


def _report_ocr_review(result) -> None:
    review = result.ocr_review
    if not review:
        return
    sheet = result.layout.batch_qc.with_name("qc.html")
    click.echo(f"OCR review: {review['needs_review']} of {review['pages']} pages need review (contact sheet: {sheet})")
    for page in review["review"]:
        click.echo(f"  {page['page_id']} {page['label']} ({page['file']}, {page['engine']}): "
                   f"{'; '.join(page['reasons'])}")


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
    from iiif_server.serve import bind_mismatch, default_bind, serve

    default_host, default_port = default_bind(settings)
    host, port = host or default_host, port or default_port
    warning = bind_mismatch(settings, host, port)
    if warning:
        click.secho(f"Warning: {warning}", err=True, fg="yellow")
    where = f"/viewer/{item_id}" if item_id else "/  (viewer: /viewer/<item_id>)"
    click.echo(f"Serving {settings.publish_dir} at http://{host}:{port}{where}   (Ctrl-C stops)", err=True)
    from workflows.conservation import Workshop

    serve(settings, host=host, port=port, workers=workers, staff_desk=Workshop(settings))


def _warn_policy(settings: Settings) -> None:
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
        from workflows.replicate import Outcome

        # A location found unreachable is one line, not one per item skipped after it.
        unreachable = tuple(getattr(report, "unreachable", ()))
        failures = [str(f) for f in report.failures if getattr(f, "outcome", None) is not Outcome.SKIPPED]
        fail([*unreachable, *failures, *(f"below policy: {line}" for line in report.below_policy)],
             ExitCode.COULD_NOT_RUN if unreachable else ExitCode.FAILED)


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
    for line in report.warnings:
        click.secho(f"warning: {line}", err=True, fg="yellow")
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


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        fail([f"{path}: cannot read the record as JSON: {exc}"], ExitCode.USAGE)


def _conservation(call, *args, **kwargs):
    """Run a conservation workflow; bad input is exit code 2, a failed save or a conflict 1."""
    from pipeline.conservation import RecordError, UnknownRecordError, VocabularyError
    from pipeline.errors import ImageError

    try:
        return call(*args, **kwargs)
    except (RecordError, UnknownRecordError, VocabularyError, ImageError) as exc:
        fail(str(exc).splitlines(), ExitCode.USAGE)
    except ShuyingError as exc:
        fail(str(exc).splitlines(), ExitCode.FAILED)


@cli.group()
def repair() -> None:
    """Conservation records (修复档案): each saved record goes into the item's next AIP version.

    Records are append-only: an amendment is a new revision and the earlier ones stay.

    \b
    Example:
      shuying repair add GJ-0001 --record repair.json --image before-p0003.jpg
      shuying repair list --damage 虫蛀 --since 2025-01-01
    """


@repair.command("add")
@click.argument("item")
@click.option("--record", "record_file", required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="The record, JSON as in docs/conservation.md (schemas/conservation.schema.json).")
@click.option("--image", "images", multiple=True, type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="A before/after image named in the record's images (repeat for several).")
@click.option("--by", "saved_by", default="command line", show_default=True, help="Who saves the record.")
@pass_settings
def repair_add(settings: Settings, item: str, record_file: Path, images: tuple[Path, ...], saved_by: str) -> None:
    """Save a new conservation record of ITEM as the item's next AIP version.

    \b
    Example:
      shuying repair add GJ-0001 --record repair.json --image before-p0003.jpg --image after-p0003.jpg
    """
    from workflows.conservation import add_record

    saved = _conservation(add_record, settings, item, _read_json(record_file), {p.name: p for p in images},
                          saved_by=saved_by, document=str(record_file))
    click.echo(f"Saved {saved.record.record_id} revision 1 in AIP version {saved.aip_version} of {item}")


@repair.command("amend")
@click.argument("record_id")
@click.option("--record", "record_file", required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help='The edited record, with the "revision" it was edited from (as `repair show` prints it).')
@click.option("--image", "images", multiple=True, type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="A new image named in the record's images (repeat for several).")
@click.option("--by", "saved_by", default="command line", show_default=True, help="Who saves the amendment.")
@pass_settings
def repair_amend(settings: Settings, record_id: str, record_file: Path, images: tuple[Path, ...],
                 saved_by: str) -> None:
    """Save a new revision of RECORD_ID; refused if someone saved another revision since.

    \b
    Example:
      shuying repair show CR-2025-0001 > r.json      (edit r.json)
      shuying repair amend CR-2025-0001 --record r.json
    """
    from workflows.conservation import amend_record

    saved = _conservation(amend_record, settings, record_id, _read_json(record_file), {p.name: p for p in images},
                          saved_by=saved_by, document=str(record_file))
    click.echo(f"Saved {record_id} revision {saved.record.revision} in AIP version {saved.aip_version} "
               f"of {saved.record.item_id}")


@repair.command("list")
@click.argument("item", required=False)
@click.option("--damage", default=None, help="Only records with this damage type (code or label, e.g. 虫蛀).")
@click.option("--conservator", default=None, help="Only records this conservator worked on.")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Only treatments started on or after this date (YYYY-MM-DD).")
@pass_settings
def repair_list(settings: Settings, item: str | None, damage: str | None, conservator: str | None,
                since) -> None:
    """List conservation records (their current revisions), of one ITEM or all.

    \b
    Example:
      shuying repair list GJ-0001
      shuying repair list --conservator 张修 --since 2025-01-01
    """
    from workflows.conservation import list_records, vocabularies

    found = _conservation(list_records, settings, item_id=item, damage=damage, conservator=conservator,
                          since=since.date() if since else None)
    terms = vocabularies(settings).damage
    for history in found:
        record = history.current.record
        damage_text = "、".join(getattr(terms.find(d.type), "zh", d.type) for d in record.damage)
        click.echo(f"{record.record_id}  r{record.revision}  {record.item_id}  {record.dates.started}  "
                   f"{damage_text}  {'、'.join(record.conservators)}{'  signed off' if record.signed_off else ''}")
    click.echo(f"{len(found)} record(s)", err=True)


@repair.command("show")
@click.argument("record_id")
@pass_settings
def repair_show(settings: Settings, record_id: str) -> None:
    """Print the current revision of RECORD_ID as JSON (the revisions are listed on stderr).

    \b
    Example:
      shuying repair show CR-2025-0001 > r.json
    """
    from workflows.conservation import show_record

    history = _conservation(show_record, settings, record_id)
    for saved in history.revisions:
        record = saved.record
        click.echo(f"revision {record.revision}: {record.saved_at} by {record.saved_by} (AIP version "
                   f"{saved.aip_version})", err=True)
    click.echo(json.dumps(history.current.record.as_dict(), ensure_ascii=False, indent=2))


@repair.command("report")
@click.argument("item")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the HTML here (default: standard output).")
@pass_settings
def repair_report(settings: Settings, item: str, output: Path | None) -> None:
    """Write the printable conservation report of ITEM: one self-contained HTML file, images inlined.

    \b
    Example:
      shuying repair report GJ-0001 -o GJ-0001-repairs.html
    """
    from workflows.conservation import item_report

    text = _conservation(item_report, settings, item)
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@cli.group()
def user() -> None:
    """Staff accounts for the web form (/staff): technician, conservator, archivist, admin.

    \b
    Example:
      shuying user add zhang --role conservator --display-name 张修
    """


@user.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["technician", "conservator", "archivist", "admin"]),
              help="What the account may do: conservators make records, admins may amend any.")
@click.option("--display-name", default="", help="The name shown and filled in as conservator, e.g. 张修.")
@click.option("--password-file", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="Read the password from the first line of this file instead of a prompt.")
@pass_settings
def user_add(settings: Settings, name: str, role: str, display_name: str, password_file: Path | None) -> None:
    """Make a staff account NAME; the password is asked for (twice) unless --password-file is given.

    \b
    Example:
      shuying user add zhang --role conservator --display-name 张修
    """
    from iiif_server.staff import AccountError, AccountStore, Role, accounts_path

    if password_file:
        lines = password_file.read_text(encoding="utf-8").splitlines()
        password = lines[0] if lines else ""
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        account = AccountStore(accounts_path(settings.home)).add_user(name, Role(role), password,
                                                                      display_name=display_name)
    except AccountError as exc:
        fail([str(exc)], ExitCode.USAGE)
    click.echo(f"Made {account.role.value} account {account.name}")


@user.command("list")
@pass_settings
def user_list(settings: Settings) -> None:
    """List the staff accounts and their roles.

    \b
    Example:
      shuying user list
    """
    from iiif_server.staff import AccountStore, accounts_path

    for account in AccountStore(accounts_path(settings.home)).accounts():
        click.echo(f"{account.name}  {account.role.value}  {account.display_name}"
                   f"{'  (disabled)' if account.disabled else ''}")


def _parsed(parse):
    """A click callback turning text such as 2h or 200MB/s into a number with ``parse``."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None):
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None

    return callback


def _duration(text: str) -> float:
    from pipeline.fixity import parse_duration

    return parse_duration(text)


def _rate(text: str) -> float:
    from pipeline.fixity import parse_rate

    return parse_rate(text)


@cli.command("audit")
@click.option("--location", default=None, help="Only copies in this location.")
@click.option("--item", default=None, help="Only copies of this item (every version).")
@click.option("--max-duration", default=None, metavar="DURATION", callback=_parsed(_duration),
              help="Stop after this long (e.g. 2h, 90m, 1h30m); the next run resumes where this one stopped.")
@click.option("--max-rate", default=None, metavar="RATE", callback=_parsed(_rate),
              help="Read at most this fast, all reads together (e.g. 200MB/s, 1.5GB/s), to leave I/O for ingest.")
@click.option("--workers", default=None, type=click.IntRange(1, 256),
              help="Files read and hashed in parallel (threads). Default: the number of CPU cores.")
@click.option("--algorithm", type=click.Choice(["sha256", "sha512", "both"]), default="sha256", show_default=True,
              help="Digests recomputed and compared with the catalogue's.")
@click.option("--no-repair", is_flag=True, help="Report damage only; change nothing in storage.")
@click.option("--plan", "show_plan", is_flag=True,
              help="Show copies due and overdue against --cycle and the read rate needed; read no storage.")
@click.option("--cycle", default="90d", show_default=True, metavar="DURATION", callback=_parsed(_duration),
              help="Every copy should be re-read at least this often (for --plan and the overdue list).")
@click.option("--bag", "bag_path", default=None, type=click.Path(path_type=Path, file_okay=False),
              help="Instead, check this bag on disk strictly against RFC 8493 and list every problem.")
@click.option("--report-dir", default=None, type=click.Path(path_type=Path, file_okay=False),
              help="Where the JSON and HTML reports go. Default: <home>/audit/reports.")
@pass_settings
def audit_command(settings: Settings, location: str | None, item: str | None, max_duration: float | None,
                  max_rate: float | None, workers: int | None, algorithm: str, no_repair: bool, show_plan: bool,
                  cycle: float, bag_path: Path | None, report_dir: Path | None) -> None:
    """Re-read stored copies against the digests recorded at ingest; repair damage from verified copies.

    Copies are read least recently verified first. Exit codes: 0 clean, 1 damage found and
    not repaired, 3 damage repaired, 4 unrecoverable (no intact copy left), 5 could not run
    or could not check some copies.

    \b
    Example:
      shuying audit --max-duration 2h --max-rate 200MB/s
      shuying audit --plan --cycle 90d
      shuying audit --bag /transfers/partner-bag
    """
    import os

    from pipeline.errors import StorageError

    workers = workers or os.cpu_count() or 1
    if bag_path is not None:
        _audit_bag(settings, bag_path, workers, max_rate)
        return
    _warn_policy(settings)
    if show_plan:
        from workflows.audit_plan import format_plan, plan

        result = _storage(plan, settings, cycle_days=cycle / 86400, location=location, item=item,
                          report_dir=report_dir)
        for line in format_plan(result):
            click.echo(line)
    else:
        from workflows.audit import AuditOptions, audit

        options = AuditOptions(location=location, item=item, max_duration=max_duration, max_rate=max_rate,
                               workers=workers, algorithms=("sha256", "sha512") if algorithm == "both" else (algorithm,),
                               repair=not no_repair, cycle_days=cycle / 86400, report_dir=report_dir)
        terminal = sys.stderr.isatty()
        try:
            report = audit(settings, options, on_progress=_audit_progress(terminal))
        except StorageError as exc:
            fail(str(exc).splitlines(), ExitCode.COULD_NOT_RUN)
        finally:
            if terminal:
                click.echo("", err=True)
        _report_audit(report)


def _audit_progress(terminal: bool):
    from pipeline.audit_report import progress_bar, progress_line

    def show(progress) -> None:
        if terminal:
            click.echo("\r" + progress_bar(progress), nl=False, err=True)
        elif progress.finished_copy is not None:
            click.echo(progress_line(progress), err=True)

    return show


def _report_audit(report) -> None:
    from pipeline.audit_report import AuditStatus, summary_lines

    lines = summary_lines(report)
    codes = {AuditStatus.CLEAN: ExitCode.OK, AuditStatus.REPAIRED: ExitCode.REPAIRED,
             AuditStatus.DAMAGED: ExitCode.FAILED, AuditStatus.UNRECOVERABLE: ExitCode.UNRECOVERABLE,
             AuditStatus.INCOMPLETE: ExitCode.COULD_NOT_RUN}
    code = codes[report.status]
    if code is ExitCode.UNRECOVERABLE:
        click.secho(lines[0], err=True, fg="red", bold=True)
    else:
        click.echo(lines[0])
    for line in lines[1:]:
        click.echo(line)
    click.echo(f"Reports: {report.files['json']}  {report.files['html']}")
    sys.exit(int(code))


def _audit_bag(settings: Settings, bag_path: Path, workers: int, max_rate: float | None) -> None:
    from workflows.audit import audit_bag

    result = audit_bag(bag_path, workers=workers, max_rate=max_rate, settings=settings)
    for problem in result.problems:
        click.echo(str(problem), err=problem.severity.value == "error")
    verdict = "valid" if result.valid else f"NOT valid: {len(result.errors)} errors"
    locations = ", ".join(sorted({r.location for r in result.resolved}))
    resolved = f"{len(result.resolved)} files resolved from storage {locations}"
    complete = "" if not result.resolved else f"; complete: {resolved}" if result.valid else f"; {resolved}"
    click.echo(f"{bag_path}: {verdict}, {len(result.warnings)} warnings; {result.files_checked} files, "
               f"{result.bytes_checked / 1e6:.1f} MB checked (RFC 8493){complete}")
    if not result.valid:
        sys.exit(int(ExitCode.FAILED))


@cli.group()
def token() -> None:
    """Staff tokens for the IIIF server: full resolution of restricted books, staff-only books.

    A token is printed once and only its hash is kept (<home>/auth.sqlite). Staff paste
    it into /auth/login, or scripts send it as "Authorization: Bearer <token>".

    \b
    Example:
      shuying token create --user wang.li --expires 30d
      shuying token list
      shuying token revoke 3f2a9c1b7d4e
    """


@token.command("create")
@click.option("--user", required=True, help="Who the token is for (letters, digits and ._@-).")
@click.option("--expires", default="30d", show_default=True, metavar="DURATION",
              help="Lifetime: 45s, 90m, 12h, 30d or 2w (at most 400 days).")
@click.option("--note", default="", help="What the token is for, shown by `token list`.")
@pass_settings
def token_create(settings: Settings, user: str, expires: str, note: str) -> None:
    """Make a staff token and print it (the only time it is shown).

    \b
    Example:
      shuying token create --user wang.li --expires 30d --note "reading room PC 3"
    """
    from iiif_server.config import ServerOptions
    from iiif_server.tokens import TokenStore, parse_duration

    try:
        lifetime = parse_duration(expires)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--expires") from None
    issued = TokenStore(ServerOptions().auth_path(settings.home)).create(user, lifetime, note=note)
    click.echo(issued.secret)
    click.echo(f"Token {issued.record.id} for {user}, valid until {_local_time(issued.record.expires)}. "
               "Keep it now: it is not shown again.", err=True)


@token.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include expired and revoked tokens.")
@pass_settings
def token_list(settings: Settings, show_all: bool) -> None:
    """List staff tokens, newest first (never the tokens themselves).

    \b
    Example:
      shuying token list --all
    """
    import time

    from iiif_server.config import ServerOptions
    from iiif_server.tokens import TokenStore

    now = time.time()
    records = TokenStore(ServerOptions().auth_path(settings.home)).tokens(include_inactive=show_all)
    if not records:
        click.echo("No tokens." if show_all else "No active tokens (--all shows expired and revoked ones).")
    for record in records:
        state = "revoked" if record.revoked else "expired" if record.expires <= now else "active"
        click.echo(f"{record.id}  {record.user:<20} {state:<8} created {_local_time(record.created)}  "
                   f"expires {_local_time(record.expires)}  {record.note}".rstrip())


@token.command("revoke")
@click.argument("token_id", required=False)
@click.option("--user", default=None, help="Revoke every token of this user instead.")
@pass_settings
def token_revoke(settings: Settings, token_id: str | None, user: str | None) -> None:
    """Revoke a token (by the id `token list` shows) and every login made with it.

    \b
    Example:
      shuying token revoke 3f2a9c1b7d4e
      shuying token revoke --user wang.li
    """
    from iiif_server.config import ServerOptions
    from iiif_server.tokens import TokenStore

    if bool(token_id) == bool(user):
        raise click.UsageError("give a token id or --user NAME (one of them)")
    store = TokenStore(ServerOptions().auth_path(settings.home))
    count = store.revoke(token_id) if token_id else store.revoke_user(user or "")
    click.echo(f"Revoked {count} token(s), including logins and viewer tokens made from them.")


def _local_time(timestamp: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


@cli.command()
@click.argument("query")
@click.option("--item", "item_id", default=None, help="Search one item only (its id).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@pass_settings
def search(settings: Settings, query: str, item_id: str | None, limit: int) -> None:
    """Find phrases (two or more characters) in the OCR text of published items.

    Space-separated terms must all be on one page; a quoted phrase is one term.
    Simplified and traditional forms match each other; a phrase may run across a column break.
    Prints item, page, the text found and its boxes (x0,y0,x1,y1 in access-image pixels).

    \b
    Example:
      shuying search 學而時習
      shuying search 学而 --item demo-lunyu
      shuying search '学而 "不亦說乎"'
    """
    from workflows.package import search_items

    hits = search_items(settings.home, query, item_id=item_id, limit=limit)
    if not hits:
        click.echo(f"No match for {query!r}")
    for hit in hits:
        boxes = " ".join(",".join(str(v) for v in box) for box in hit.boxes)
        click.echo(f"{hit.item_id}\t{hit.page_id}\t{hit.text}\t{boxes}")


@cli.command()
@click.argument("inventory_csv", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.argument("root", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--plan", "plan_only", is_flag=True, help="Only say what would happen to each item; write nothing.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Tasks of one item run in parallel (processes).")
@scheduler_url_option
@click.option("--override-check", "override_checks", multiple=True, metavar="CHECK",
              help="Let one QC check through on every page of every item, e.g. compression "
              "(repeatable; needs --operator and --reason; recorded in PREMIS).")
@accept_warnings_option
@operator_option
@reason_option
@click.option("--ocr-engine", default="auto", show_default=True, metavar="auto|tesseract|ppocr",
              help="OCR engine for every page (see `shuying ingest`).")
@pass_settings
def migrate(settings: Settings, inventory_csv: Path, root: Path, plan_only: bool, workers: int,
            scheduler_url: str | None, override_checks: tuple[str, ...], accept_warnings: bool, operator: str,
            reason: str, ocr_engine: str) -> None:
    """Ingest legacy scans listed in an inventory CSV, one item folder below ROOT per row.

    Each item's images are copied (and verified) to a staging folder, judged with the
    legacy QC profile and ingested; the masters under ROOT are only read. Re-running the
    same command after a crash or a refusal resumes: ingested items are skipped. Exits
    with 1 when any item was refused or failed. See docs/migrate.md.

    \b
    Example:
      shuying migrate census-2019.csv /mnt/legacy-scans --plan
      shuying migrate census-2019.csv /mnt/legacy-scans --workers 2
      shuying migrate census-2019.csv /mnt/legacy-scans --override-check compression --operator 王芳 --reason "legacy JPEGs"
    """
    from pipeline.errors import OcrError, ValidationError
    from pipeline.migrate import MigrationLockedError
    from pipeline.qc import OverrideError
    from workflows import migrate as migration
    from workflows.masters import MasterChangedError

    try:
        if plan_only:
            _report_migration_plan(migration.plan_migration(inventory_csv, root, settings))
            return
        request = migration.MigrationRequest(workers=workers, scheduler_url=scheduler_url,
                                             override_checks=override_checks, accept_warnings=accept_warnings,
                                             operator=operator, reason=reason, ocr_engine=ocr_engine)
        report = migration.run_migration(inventory_csv, root, settings, request, on_item=_show_item_progress)
    except BatchError as exc:
        fail([str(p) for p in exc.problems], ExitCode.FAILED)
    except OverrideError as exc:
        fail([str(p) for p in exc.problems], ExitCode.USAGE)
    except (ValidationError, OcrError) as exc:
        fail([str(exc)], ExitCode.USAGE)
    except MasterChangedError as exc:
        fail([str(exc)], ExitCode.FAILED)
    except MigrationLockedError as exc:
        fail([str(exc)], ExitCode.FAILED)
    _report_migration(report)


def _show_item_progress(index: int, total: int, outcome) -> None:
    from workflows.migrate import progress_line

    click.echo(progress_line(index, total, outcome), err=True)
    for reason in outcome.reasons:
        click.echo(f"    {reason}", err=True)


def _report_migration_plan(planned) -> None:
    from workflows.migrate import plan_lines

    for line in plan_lines(planned):
        click.echo(line)


def _report_migration(report) -> None:
    totals = report.document["totals"]
    click.echo(f"{totals['items']} items: {totals['ingested']} ingested, {totals['skipped']} skipped (done before), "
               f"{totals['refused']} refused, {totals['failed']} failed; {totals['pages_ingested']} pages ingested, "
               f"{totals['pages_overridden']} overridden")
    click.echo(f"  report:  {report.paths.report}")
    click.echo(f"  journal: {report.paths.journal}")
    if not report.ok:
        fail([f"{o.item_id or f'line {o.line}'} {o.status}: {o.reasons[0] if o.reasons else ''}"
              for o in report.outcomes if o.status in ("refused", "failed")], ExitCode.FAILED)


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="shuying", standalone_mode=True)
    except ShuyingError as exc:
        fail([str(exc)], ExitCode.FAILED)


if __name__ == "__main__":
    main()
