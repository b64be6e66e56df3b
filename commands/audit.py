"""The fixity audit: re-read stored copies, repair from verified ones, check bags from elsewhere."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from commands.common import ExitCode, pass_settings, warn_policy
from storage_config.settings import Settings


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
    from pipeline.clock import parse_duration

    return parse_duration(text)


def _rate(text: str) -> float:
    from pipeline.fixity import parse_rate

    return parse_rate(text)


@click.command("audit")
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
              help="Instead, check this bag on disk by the rules of its BagIt version (0.93-0.97, 1.0 = RFC 8493) "
              "and list every problem; warnings go to stderr.")
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

    workers = workers or os.cpu_count() or 1
    if bag_path is not None:
        _audit_bag(settings, bag_path, workers, max_rate)
        return
    warn_policy(settings)
    if show_plan:
        from workflows.audit_plan import format_plan, plan

        result = plan(settings, cycle_days=cycle / 86400, location=location, item=item, report_dir=report_dir)
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
    for problem in result.errors:
        click.echo(str(problem), err=True)
    for problem in result.warnings:  # stderr too: stdout keeps the one verdict line a script reads
        click.echo(f"{problem} [{problem.code}]", err=True)
    verdict = "valid" if result.valid else f"NOT valid: {len(result.errors)} errors"
    locations = ", ".join(sorted({r.location for r in result.resolved}))
    resolved = f"{len(result.resolved)} files resolved from storage {locations}"
    complete = "" if not result.resolved else f"; complete: {resolved}" if result.valid else f"; {resolved}"
    rules = f"BagIt {result.version}" + (", RFC 8493" if result.version == "1.0" else "")  # judged by its own version
    click.echo(f"{bag_path}: {verdict}, {len(result.warnings)} warnings; {result.files_checked} files, "
               f"{result.bytes_checked / 1e6:.1f} MB checked ({rules}){complete}")
    if not result.valid:
        sys.exit(int(ExitCode.FAILED))
