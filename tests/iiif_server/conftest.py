"""Fixtures for the IIIF server: published pages built in tmp_path, an in-process client, a live server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.testclient import TestClient

from iiif_server.app import create_app
from iiif_server.config import ServerOptions
from iiif_server.serve import uvicorn_config
from storage_config.settings import Settings, load_settings
from tests.iiif_server.helpers import GRID_ITEM, LiveServer, free_port, publish_grid


@pytest.fixture
def options(tmp_path: Path) -> ServerOptions:
    return ServerOptions(cache_dir=tmp_path / "cache", max_width=4000, max_height=4000, max_area=4_000_000,
                         lookup_ttl=0.0)


@pytest.fixture
def grid(settings: Settings) -> str:
    """A published 1000x700 grid page; returns its Image API identifier."""
    publish_grid(settings.publish_dir, GRID_ITEM, "p0001", 1000, 700)
    (settings.publish_dir / GRID_ITEM / "manifest.json").write_text(json.dumps({"id": "x"}), encoding="utf-8")
    return f"{GRID_ITEM}~p0001"


@pytest.fixture
def client(settings: Settings, options: ServerOptions) -> Iterator[TestClient]:
    with TestClient(create_app(settings, options), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def live_server(home: Path, options: ServerOptions) -> Iterator[LiveServer]:
    """The real uvicorn server on 127.0.0.1 in a thread, with base_url pointing at it."""
    port = free_port()
    settings = load_settings(environ={}, home=str(home), base_url=f"http://127.0.0.1:{port}")
    server = uvicorn.Server(uvicorn_config(settings, host="127.0.0.1", port=port, options=options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield LiveServer(settings, port)
    server.should_exit = True
    thread.join(timeout=10)
