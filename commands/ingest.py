"""Commands of the scanning station and the ingest: validate, qc, ingest, reshoot, demo, migrate."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from commands.common import ExitCode, fail, pass_settings, warn_policy
from commands.serving import serve_in_viewer
from storage_config.settings import Settings


@click.command()
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

    batch = load_batch(batch_dir)
    problems = batch_problems(batch, max_pixels=settings.max_megapixels * 1_000_000)
    if problems:
        fail([str(p) for p in problems], ExitCode.FAILED)
    click.echo(f"{batch_dir}: valid batch, item {batch.item_id}, {len(batch.pages)} pages")


@click.command()
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
    from workflows.qc_run import run_qc

    result = run_qc(batch_dir, settings, profile, workers=workers, out_dir=out_dir)
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


@click.command()
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
    warn_policy(settings)  # after a run, not after a usage error: the line is not lost above progress lines
    _report_ingest(result)


@click.command()
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
    from workflows.reshoot import describe
    from workflows.reshoot import reshoot as run_reshoot

    warn_policy(settings)
    result = run_reshoot(batch_dir, settings, list(pages), operator=operator, reason=reason, workers=workers,
                         accept_warnings=accept_warnings, overrides=overrides)
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
    return run_ingest(batch_dir, settings, workers=workers, scheduler_url=scheduler_url, **(gate or {}))


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


@click.command()
@click.option("--pages", default=8, show_default=True, type=click.IntRange(1, 500), help="Pages to generate.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Tasks run in parallel (processes) while ingesting the sample.")
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

    started = time.perf_counter()
    batch_dir = make_demo_batch(settings.home / "demo-batch", pages=pages)
    click.echo(f"==> sample book generated in {time.perf_counter() - started:.1f} s: {batch_dir}")
    started = time.perf_counter()
    result = _run_ingest(settings, batch_dir, workers, None)
    _report_ingest(result)
    click.echo(f"==> ingest done in {time.perf_counter() - started:.1f} s")
    if serve:
        serve_in_viewer(settings, None, None, None, item_id=result.batch.item_id)


@click.command()
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
    from workflows import migrate as migration

    if plan_only:
        _report_migration_plan(migration.plan_migration(inventory_csv, root, settings))
        return
    request = migration.MigrationRequest(workers=workers, scheduler_url=scheduler_url,
                                         override_checks=override_checks, accept_warnings=accept_warnings,
                                         operator=operator, reason=reason, ocr_engine=ocr_engine)
    report = migration.run_migration(inventory_csv, root, settings, request, on_item=_show_item_progress)
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
