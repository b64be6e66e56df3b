"""Commands of the public side: serve the published books, staff tokens, full-text search."""

from __future__ import annotations

import click

from commands.common import ExitCode, fail, pass_settings
from storage_config.settings import Settings


@click.command("serve")
@click.option("--host", default=None,
              help="Address to listen on. Default: base_url's host if it is an IP address, else 127.0.0.1.")
@click.option("--port", default=None, type=click.IntRange(1, 65535),
              help="Port to listen on. Default: base_url's port, else 8182.")
@click.option("--workers", default=None, type=click.IntRange(1, 64),
              help="Server processes sharing the port. Default: [server] workers (SHUYING_SERVER_WORKERS), else 1.")
@click.option("--get", "get_path", default=None, metavar="PATH",
              help="Answer one GET in-process (no port opened), print the body and exit.")
@pass_settings
def serve_command(settings: Settings, host: str | None, port: int | None, workers: int | None,
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
    serve_in_viewer(settings, host, port, workers)


def serve_in_viewer(settings: Settings, host: str | None, port: int | None, workers: int | None,
                    item_id: str = "") -> None:
    """Serve until Ctrl-C, saying where (the viewer of ``item_id`` when given)."""
    from iiif_server.config import load_server_options
    from iiif_server.serve import bind_mismatch, default_bind, serve

    options = load_server_options(settings, workers=workers)  # a bad setting stops before "Serving …"

    default_host, default_port = default_bind(settings)
    host, port = host or default_host, port or default_port
    warning = bind_mismatch(settings, host, port)
    if warning:
        click.secho(f"Warning: {warning}", err=True, fg="yellow")
    where = f"/viewer/{item_id}" if item_id else "/  (viewer: /viewer/<item_id>)"
    click.echo(f"Serving {settings.publish_dir} at http://{host}:{port}{where}   (Ctrl-C stops)", err=True)
    from workflows.conservation import Workshop

    serve(settings, host=host, port=port, options=options, staff_desk=Workshop(settings))


@click.group()
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
              help="Lifetime: a number and a unit (s, m, h, d, w), e.g. 12h, 30d, 2w or 1h30m; at most 400 days.")
@click.option("--note", default="", help="What the token is for, shown by `token list`.")
@pass_settings
def token_create(settings: Settings, user: str, expires: str, note: str) -> None:
    """Make a staff token and print it (the only time it is shown).

    \b
    Example:
      shuying token create --user wang.li --expires 30d --note "reading room PC 3"
    """
    from iiif_server.config import load_server_options
    from iiif_server.tokens import TokenStore
    from pipeline.clock import parse_duration

    try:
        lifetime = round(parse_duration(expires))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--expires") from None
    issued = TokenStore(load_server_options(settings).auth_path(settings.home)).create(user, lifetime, note=note)
    _log_token(settings, "token-create", user, f"token {issued.record.id}, expires {_local_time(issued.record.expires)}")
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

    from iiif_server.config import load_server_options
    from iiif_server.tokens import TokenStore

    now = time.time()
    records = TokenStore(load_server_options(settings).auth_path(settings.home)).tokens(include_inactive=show_all)
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
    from iiif_server.config import load_server_options
    from iiif_server.tokens import TokenStore

    if bool(token_id) == bool(user):
        raise click.UsageError("give a token id or --user NAME (one of them)")
    store = TokenStore(load_server_options(settings).auth_path(settings.home))
    count = store.revoke(token_id) if token_id else store.revoke_user(user or "")
    _log_token(settings, "token-revoke", user or "", f"token {token_id}" if token_id else "every token of the user")
    click.echo(f"Revoked {count} token(s), including logins and viewer tokens made from them.")


def _log_token(settings: Settings, action: str, user: str, detail: str) -> None:
    """Write a token change to the staff log (`shuying log`)."""
    from iiif_server.staff import COMMAND_LINE, StaffLog, log_path

    StaffLog(log_path(settings.home)).append(COMMAND_LINE, action, user, detail=detail)


def _local_time(timestamp: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


@click.command()
@click.argument("query")
@click.option("--item", "item_id", default=None, help="Search one item only (its id).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000), help="Most hits printed.")
@pass_settings
def search(settings: Settings, query: str, item_id: str | None, limit: int) -> None:
    """Find phrases (two or more characters) and entities in the OCR text of published items.

    Space-separated terms must all be on one page; a quoted phrase is one term.
    Simplified and traditional forms match each other; a phrase may run across a column break.
    Filters keep the pages with such an entity: entity:KIND (date, person, place, office,
    title, holding, provenance), year:1782, era:乾隆, person:NAME, place:NAME, office:NAME,
    title:NAME. With filters alone, the entities found are printed.
    Prints item, page, the text found and its boxes (x0,y0,x1,y1 in access-image pixels).

    \b
    Example:
      shuying search 學而時習
      shuying search 学而 --item demo-lunyu
      shuying search '学而 "不亦說乎"'
      shuying search 'year:1782'
      shuying search 'era:乾隆 entity:person'
    """
    from workflows.package import search_items

    hits = search_items(settings.home, query, item_id=item_id, limit=limit)
    if not hits:
        click.echo(f"No match for {query!r}")
    for hit in hits:
        boxes = " ".join(",".join(str(v) for v in box) for box in hit.boxes)
        click.echo(f"{hit.item_id}\t{hit.page_id}\t{hit.text}\t{boxes}")


@click.command("index")
@click.option("--item", "item_id", default=None, help="Rebuild one published item only (its id).")
@pass_settings
def index_command(settings: Settings, item_id: str | None) -> None:
    """Rebuild the search index (text and entities) and the annotation pages from published ALTO.

    Runs the entity rules again on every published item (or one), rewrites its IIIF
    annotation pages and replaces its rows in <home>/search.sqlite. Use it after the
    entity rules or lists change, or to remake a damaged or deleted search index.

    \b
    Example:
      shuying index
      shuying index --item demo-lunyu
    """
    from workflows.package import reindex

    done = reindex(settings.publish_dir, settings.home, base_url=settings.base_url, item_id=item_id)
    for item in done:
        if not item.error:
            click.echo(f"{item.item_id}\t{item.pages} pages\t{item.entities} entities")
    failed = [item.error for item in done if item.error]
    click.echo(f"Indexed {len(done) - len(failed)} item(s).", err=True)
    if failed:
        fail(failed, ExitCode.FAILED)
