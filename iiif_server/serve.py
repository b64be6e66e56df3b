"""Run the IIIF server with uvicorn: one process, or several sharing one listening socket."""

from __future__ import annotations

import functools
import gc
import ipaddress
import logging
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio
import uvicorn
from starlette.types import ASGIApp, Message, Scope
from uvicorn.supervisors import Multiprocess

from iiif_server.config import ServerOptions, load_server_options
from storage_config.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_PORT = 8182
# A render thread that gives up the GIL (file read, JPEG decode, encode) waits up to the switch
# interval to get it back from a busy event loop: at CPython's 5 ms a four-step render
# took 20 ms at the tail. 0.5 ms keeps that wait short for a few more thread switches.
SWITCH_INTERVAL = 0.0005
# Young-generation collections every 10,000 allocations instead of 700: fewer, still short, pauses.
GC_THRESHOLDS = (10_000, 20, 20)


@dataclass(frozen=True)
class Fetched:
    status: int
    headers: dict[str, str]
    body: bytes


def default_bind(settings: Settings) -> tuple[str, int]:
    """Return where to listen when no flags say: base_url's port, and its host if that is an address."""
    parts = urlsplit(settings.base_url)
    host = parts.hostname or ""
    # A public name (https://iiif.library.example) is the proxy's; the server itself stays on loopback.
    return (host if host == "localhost" or _is_address(host) else "127.0.0.1"), parts.port or DEFAULT_PORT


def bind_mismatch(settings: Settings, host: str, port: int) -> str:
    """Return a warning when base_url names a local address other than where the server listens, else ''.

    A public name (behind a proxy) may point anywhere; a loopback or IP base URL on
    another port means manifests and the viewer send browsers where nothing answers.
    """
    parts = urlsplit(settings.base_url)
    published_host, published_port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    if not (published_host == "localhost" or _is_address(published_host)):
        return ""
    if published_port == port and (published_host == host or host in ("0.0.0.0", "::")):
        return ""
    return (f"base_url {settings.base_url} is not where this server listens (http://{host}:{port}): "
            f"manifests and the viewer will point there; set base_url (shuying.toml or SHUYING_BASE_URL) "
            f"to http://{host}:{port}")


def fetch(settings: Settings, path: str, options: ServerOptions | None = None) -> Fetched:
    """Answer one GET for ``path`` in-process, without opening a port (datasette's ``--get``)."""
    raw_path, _, query = path.partition("?")
    scope: Scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": unquote(raw_path), "raw_path": raw_path.encode("latin-1", "replace"),
             "query_string": query.encode("latin-1", "replace"), "root_path": "", "headers": [],
             "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 0)}
    app = build_app(settings, options)
    parts: dict[str, Any] = {"body": b""}

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            parts["status"] = message["status"]
            parts["headers"] = {k.decode("latin-1"): v.decode("latin-1") for k, v in message.get("headers", [])}
        else:
            parts["body"] += message.get("body", b"")

    async def call() -> None:
        await app(scope, receive, send)

    anyio.run(call)
    return Fetched(parts["status"], parts["headers"], parts["body"])


def build_app(settings: Settings, options: ServerOptions | None = None, staff_desk: Any = None) -> ASGIApp:
    """Build the application (in each worker process)."""
    # Imported here, not at the top: the supervisor of --workers N only forks and watches,
    # and without the app (libvips, Starlette) it stays about 30 MiB smaller.
    from iiif_server.app import create_app

    return create_app(settings, options, staff_desk)


def build_worker_app(settings: Settings, options: ServerOptions | None = None, staff_desk: Any = None) -> ASGIApp:
    """Build the application in a server worker and tune the interpreter for serving (not for --get or tests)."""
    app = build_app(settings, options, staff_desk)
    tune_interpreter()
    return app


def tune_interpreter() -> None:
    """Shorten the GIL switch interval and keep start-up objects out of the garbage collector's scans."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    gc.collect()
    gc.freeze()  # modules, the app, libvips bindings: never garbage, so never scanned again
    gc.set_threshold(*GC_THRESHOLDS)


def uvicorn_config(settings: Settings, *, host: str, port: int, workers: int | None = None,
                   options: ServerOptions | None = None, access_log: bool = False,
                   staff_desk: Any = None) -> uvicorn.Config:
    """Return the uvicorn configuration; the app is built in each worker process from Settings.

    ``options`` default to the settings file's [server] table and SHUYING_SERVER_* variables,
    and ``workers`` (the --workers flag) to their ``workers``.
    """
    options = options or load_server_options(settings)
    workers = workers or options.workers
    # A factory with picklable arguments lets every worker build its own app (and libvips state).
    factory = functools.partial(build_worker_app, settings, options, staff_desk)
    return uvicorn.Config(factory, factory=True, host=host, port=port, workers=workers, lifespan="off",
                          access_log=access_log, server_header=False, proxy_headers=False)


def serve(settings: Settings, *, host: str, port: int, workers: int | None = None,
          options: ServerOptions | None = None, access_log: bool = False, staff_desk: Any = None) -> None:
    """Serve until interrupted; with more than one worker, uvicorn's supervisor restarts dead ones.

    ``workers`` (the --workers flag) wins over the options' ``workers``. ``staff_desk``
    (the conservation workflow, given by the CLI) mounts the /staff form.
    """
    config = uvicorn_config(settings, host=host, port=port, workers=workers, options=options,
                            access_log=access_log, staff_desk=staff_desk)
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.Server(config).run()


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
