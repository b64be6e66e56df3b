"""`serve()` for real: uvicorn worker processes sharing one socket, each building the app from Settings."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from iiif_server.serve import bind_mismatch, default_bind, fetch
from storage_config.settings import load_settings
from tests.iiif_server.helpers import free_port, publish_grid

SERVE = """
import sys
from storage_config.settings import load_settings
from iiif_server.serve import serve
settings = load_settings(environ={{}}, home={home!r}, base_url={base!r})
serve(settings, host="127.0.0.1", port={port}, workers=2)
"""


def test_default_bind_comes_from_base_url() -> None:
    assert default_bind(load_settings(environ={})) == ("127.0.0.1", 8182)
    assert default_bind(load_settings(environ={}, base_url="http://0.0.0.0:9000/")) == ("0.0.0.0", 9000)
    # A public name belongs to the reverse proxy; the server stays on loopback.
    assert default_bind(load_settings(environ={}, base_url="https://iiif.example.org")) == ("127.0.0.1", 8182)
    assert default_bind(load_settings(environ={}, base_url="http://localhost:8000")) == ("localhost", 8000)


def test_fetch_answers_in_process_without_a_port(tmp_path: Path) -> None:
    home = tmp_path / "home"
    publish_grid(home / "publish", "grid-item", "p0001", 400, 300)
    settings = load_settings(environ={}, home=str(home))
    info = fetch(settings, "/iiif/3/grid-item~p0001/info.json")
    assert info.status == 200
    assert json.loads(info.body)["width"] == 400
    image = fetch(settings, "/iiif/3/grid-item%7Ep0001/full/40,/0/default.png?ignored=1")
    assert (image.status, image.headers["content-type"]) == (200, "image/png")
    assert fetch(settings, "/iiif/3/grid-item~p0001/full/full/0/default.jpg").status == 400


def test_two_workers_serve_info_json_and_stop_on_sigterm(tmp_path: Path) -> None:
    home = tmp_path / "home"
    publish_grid(home / "publish", "grid-item", "p0001", 400, 300)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    script = SERVE.format(home=str(home), base=base, port=port)
    process = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        info = _wait_for_json(f"{base}/iiif/3/grid-item~p0001/info.json", process)
        assert info["id"] == f"{base}/iiif/3/grid-item~p0001"
        assert (info["width"], info["height"]) == (400, 300)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert output.count("Started server process") == 2, output


def _wait_for_json(url: str, process: subprocess.Popen, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stdout.read() if process.stdout else ''}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"no answer from {url} within {timeout} s")


def test_home_flag_reads_that_homes_settings_file(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cli import cli

    home = tmp_path / "demo-home"
    publish_grid(home / "publish", "grid-item", "p0001", 400, 300)
    (home / "shuying.toml").write_text('base_url = "http://127.0.0.1:9333"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["--home", str(home), "serve", "--get", "/iiif/3/grid-item~p0001/info.json"],
                                env={"SHUYING_HOME": None, "SHUYING_BASE_URL": None})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["id"] == "http://127.0.0.1:9333/iiif/3/grid-item~p0001"


def test_serve_warns_when_base_url_is_not_where_it_listens() -> None:
    local = load_settings(environ={}, base_url="http://127.0.0.1:8182")
    assert bind_mismatch(local, "127.0.0.1", 8182) == ""
    assert bind_mismatch(local, "0.0.0.0", 8182) == ""
    assert bind_mismatch(local, "127.0.0.1", 9000) == (
        "base_url http://127.0.0.1:8182 is not where this server listens (http://127.0.0.1:9000): manifests and "
        "the viewer will point there; set base_url (shuying.toml or SHUYING_BASE_URL) to http://127.0.0.1:9000")
    # Behind a proxy the public name says nothing about the local port.
    assert bind_mismatch(load_settings(environ={}, base_url="https://iiif.example.org"), "127.0.0.1", 9000) == ""
