"""Commands of the conservation studio: repair records and the staff accounts of the web form."""

from __future__ import annotations

import json
from pathlib import Path

import click

from commands.common import pass_settings
from storage_config.settings import Settings


def _read_json(path: Path) -> dict:
    from pipeline.conservation import RecordError

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RecordError(str(path), [f"cannot read the record as JSON: {exc}"]) from None


@click.group()
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

    saved = add_record(settings, item, _read_json(record_file), {p.name: p for p in images},
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

    saved = amend_record(settings, record_id, _read_json(record_file), {p.name: p for p in images},
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

    found = list_records(settings, item_id=item, damage=damage, conservator=conservator,
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

    history = show_record(settings, record_id)
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

    text = item_report(settings, item)
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@repair.command("reindex")
@pass_settings
def repair_reindex(settings: Settings) -> None:
    """Rebuild the record index (conservation.sqlite) from the records in the AIPs, then swap it in.

    The AIPs are the record of truth; run this when the index is damaged or lost. A crash
    part-way leaves the old index in place.

    \b
    Example:
      shuying repair reindex
    """
    from pipeline.errors import StorageError
    from workflows.conservation_store import reindex_records

    report = reindex_records(settings)
    for problem in report.problems:
        click.echo(f"not indexed: {problem}", err=True)
    click.echo(f"Indexed {report.records} record(s), {report.revisions} revision(s) of {report.items} item(s)")
    if not report.ok:
        raise StorageError(f"{len(report.problems)} item(s) have records that could not be read; "
                           "run `shuying repair reindex` again when their locations are back")


@click.group()
def user() -> None:
    """Staff accounts for the web form (/staff): technician, conservator, archivist, admin.

    Disabling an account or resetting its password ends its logins at once. Every change
    is written to the staff log (`shuying log`).

    \b
    Example:
      shuying user add zhang --role conservator --display-name 张修
      shuying user disable zhang
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
    from iiif_server.staff import (
        COMMAND_LINE,
        AccountStore,
        Role,
        StaffLog,
        accounts_path,
        log_path,
    )

    account = AccountStore(accounts_path(settings.home)).add_user(name, Role(role), _password(password_file),
                                                                  display_name=display_name)
    StaffLog(log_path(settings.home)).append(COMMAND_LINE, "user-add", name, detail=account.role.value)
    click.echo(f"Made {account.role.value} account {account.name}")


def _password(password_file: Path | None) -> str:
    """The first line of ``password_file``, or a password typed twice at a hidden prompt."""
    if password_file:
        lines = password_file.read_text(encoding="utf-8").splitlines()
        return lines[0] if lines else ""
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


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


@user.command("disable")
@click.argument("name")
@pass_settings
def user_disable(settings: Settings, name: str) -> None:
    """Disable the account NAME: its logins end at once and it cannot log in until enabled.

    Its staff tokens (`shuying token list`) are separate: revoke them with `shuying token revoke --user NAME`.

    \b
    Example:
      shuying user disable zhang
    """
    from iiif_server.staff import COMMAND_LINE, AccountStore, StaffLog, accounts_path, log_path

    ended = AccountStore(accounts_path(settings.home)).set_disabled(name, True) + _end_web_logins(settings, name)
    staff_log = StaffLog(log_path(settings.home))
    staff_log.append(COMMAND_LINE, "user-disable", name)
    if ended:
        staff_log.append(COMMAND_LINE, "session-ended", name, detail=f"{ended} login(s), by user disable")
    click.echo(f"Disabled {name}; ended {ended} login(s)")


@user.command("enable")
@click.argument("name")
@pass_settings
def user_enable(settings: Settings, name: str) -> None:
    """Let the disabled account NAME log in again.

    \b
    Example:
      shuying user enable zhang
    """
    from iiif_server.staff import COMMAND_LINE, AccountStore, StaffLog, accounts_path, log_path

    AccountStore(accounts_path(settings.home)).set_disabled(name, False)
    StaffLog(log_path(settings.home)).append(COMMAND_LINE, "user-enable", name)
    click.echo(f"Enabled {name}")


@user.command("reset-password")
@click.argument("name")
@click.option("--password-file", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="Read the new password from the first line of this file instead of a prompt.")
@pass_settings
def user_reset_password(settings: Settings, name: str, password_file: Path | None) -> None:
    """Give the account NAME a new password (asked for twice unless --password-file); its logins end.

    \b
    Example:
      shuying user reset-password zhang
    """
    from iiif_server.staff import COMMAND_LINE, AccountStore, StaffLog, accounts_path, log_path

    ended = AccountStore(accounts_path(settings.home)).reset_password(name, _password(password_file))
    ended += _end_web_logins(settings, name)
    staff_log = StaffLog(log_path(settings.home))
    staff_log.append(COMMAND_LINE, "user-reset-password", name)
    if ended:
        staff_log.append(COMMAND_LINE, "session-ended", name, detail=f"{ended} login(s), by password reset")
    click.echo(f"New password for {name}; ended {ended} login(s)")


def _end_web_logins(settings: Settings, name: str) -> int:
    """Revoke the IIIF login cookies the staff form gave ``name`` (and their viewer tokens)."""
    from iiif_server.config import load_server_options
    from iiif_server.tokens import TokenStore

    return TokenStore(load_server_options(settings).auth_path(settings.home)).revoke_sessions(name)


@click.command("log")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Only entries on or after this day (YYYY-MM-DD, local time).")
@click.option("--user", default=None, help="Only entries by or about this user.")
@click.option("--action", default=None, help="Only this action, e.g. login-failed, record-sign-off, token-create.")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as a JSON array.")
@pass_settings
def staff_log(settings: Settings, since, user: str | None, action: str | None, as_json: bool) -> None:
    """Print the staff log: logins, account and token changes, record saves and sign-offs; newest last.

    The log is append-only (<home>/staff-log.sqlite): the database refuses to change or delete an entry.

    \b
    Example:
      shuying log --since 2025-03-01 --user zhang
      shuying log --action login-failed --json
    """
    from iiif_server.staff import StaffLog, log_path
    from pipeline.staff_log import ACTIONS, entries_json, format_entry

    if action and action not in ACTIONS:
        raise click.BadParameter(f"{action!r} is not one of {', '.join(ACTIONS)}", param_hint="--action")
    entries = StaffLog(log_path(settings.home)).entries(since=since.timestamp() if since else None, user=user,
                                                        action=action)
    if as_json:
        click.echo(entries_json(entries))
        return
    for entry in entries:
        click.echo(format_entry(entry))
    click.echo(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}", err=True)
