"""The built wheel works outside the repo: installed in a fresh venv, it ingests a book and serves the viewer.

The wheel is built from a copy of the checkout as ``make setup`` leaves it (after ``npm ci``),
so no ``build/`` or ``*.egg-info`` lands in the repo and nothing outside a clean clone can
slip in. It is installed with ``--no-deps`` into a venv that borrows the dev venv's
third-party packages through a ``.pth`` path line: a path line only adds that folder to
``sys.path`` and does not run the ``.pth`` files inside it, so the dev venv's editable
finder for Shuying stays out. The test checks that the code it runs is the wheel's.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pytest

from pipeline.sample_book import write_sample_batch
from tests.iiif_server.helpers import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
MIRADOR = Path("iiif_server/viewer/node_modules/mirador")
BUNDLE = MIRADOR / "dist" / "mirador.min.js"
# The project's required top-level shape: each must be importable from the wheel alone.
TOP_LEVEL = ("pipeline", "workflows", "schemas", "iiif_server", "storage_config", "commands", "cli")
# What a clean clone does not have (see .gitignore), plus node_modules: npm ci's output is added back below.
NOT_IN_A_CLONE = shutil.ignore_patterns(".git", ".venv", "node_modules", "__pycache__", "*.egg-info", "build",
                                        "dist", "shuying-data", ".pytest_cache", ".ruff_cache", ".mypy_cache")


class Built(NamedTuple):
    source: Path  # the copy of the checkout it was built from
    wheel: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Build the wheel once, offline, from a copy of the checkout with Mirador installed."""
    if not (REPO / BUNDLE).is_file():
        pytest.fail("Mirador is not installed: run `npm ci --prefix iiif_server/viewer` (make setup)")
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=NOT_IN_A_CLONE)
    shutil.copytree(REPO / MIRADOR, source / MIRADOR)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--wheel-dir", str(root / "dist"), str(source)], cwd=root)
    (wheel,) = (root / "dist").glob("shuying-*.whl")
    return Built(source, wheel)


def test_the_wheel_carries_every_data_file_and_only_mirador_from_node_modules(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as archive:
        names = set(archive.namelist())
        top_level = next(name for name in names if name.endswith(".dist-info/top_level.txt"))
        packages = set(archive.read(top_level).decode().split())
    data = {path.relative_to(built.source).as_posix() for package in TOP_LEVEL
            for path in (built.source / package).rglob("*") if _is_package_data(path, built.source)}
    assert data, "no data files found beside the packages"
    assert sorted(data - names) == []
    assert {name for name in names if "/node_modules/" in name} == {f"{MIRADOR}/LICENSE", str(BUNDLE)}
    assert packages == set(TOP_LEVEL)


def test_the_installed_wheel_ingests_a_book_and_serves_it_in_the_viewer(built: Built, tmp_path: Path) -> None:
    venv = install_in_fresh_venv(built.wheel, tmp_path / "venv")
    outside = tmp_path / "elsewhere"  # the working folder: neither the repo nor the venv
    outside.mkdir()
    site_packages = Path(venv_path(venv, "purelib", outside)).resolve()
    for module, path in imported_from(venv, outside).items():
        assert Path(path).resolve().is_relative_to(site_packages), f"{module} imported from {path}"

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = fresh_env(venv, home=tmp_path / "home", base_url=base)
    batch = write_sample_batch(tmp_path / "batch", pages=1, width=900, height=1300, item_id="wheel-book")
    ingest = run([str(venv / "bin" / "shuying"), "ingest", str(batch)], cwd=outside, env=env)
    assert "Ingested wheel-book: 1 pages" in ingest

    server = subprocess.Popen([str(venv / "bin" / "shuying"), "serve", "--host", "127.0.0.1", "--port", str(port)],
                              cwd=outside, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        bundle = wait_for(f"{base}/viewer/assets/mirador.min.js", server)
        assert bundle.headers["content-type"].startswith("text/javascript")
        assert bundle.body == (REPO / BUNDLE).read_bytes()
        page = get(f"{base}/viewer/wheel-book")
        assert 'src="assets/mirador.min.js"' in page.body.decode()
        assert f"{base}/iiif/wheel-book/manifest.json" in page.body.decode()
        manifest = json.loads(get(f"{base}/iiif/wheel-book/manifest.json").body)
        assert manifest["id"] == f"{base}/iiif/wheel-book/manifest.json"
        image = manifest["items"][0]["items"][0]["items"][0]["body"]
        info = json.loads(get(f"{image['service'][0]['id']}/info.json").body)
        assert (info["width"], info["height"]) == (image["width"], image["height"])
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    # One uvicorn process re-raises SIGTERM once it has shut down cleanly.
    assert server.returncode in (0, -signal.SIGTERM) and "Finished server process" in output, output


@dataclass(frozen=True)
class Answer:
    """One HTTP response read whole."""

    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


def get(url: str) -> Answer:
    """GET ``url`` and return its answer; anything but 200 fails the test with the body."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            headers = {key.lower(): value for key, value in response.headers.items()}
            return Answer(response.status, headers, response.read())
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"GET {url}: {exc.code} {exc.read().decode(errors='replace')}") from None


def wait_for(url: str, process: subprocess.Popen, timeout: float = 60) -> Answer:
    """GET ``url`` once the server started by ``process`` listens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stdout.read() if process.stdout else ''}")
        try:
            return get(url)
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"no answer from {url} within {timeout} s")


def install_in_fresh_venv(wheel: Path, venv: Path) -> Path:
    """Make a venv, install ``wheel`` alone, then let it see the dev venv's third-party packages."""
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv.parent)
    # The dev venv becomes visible only after pip is done, so pip never sees its shuying.
    run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps",
         "--no-index", str(wheel)], cwd=venv.parent)
    borrowed = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    target = Path(venv_path(venv, "purelib", venv.parent))
    (target / "dev-venv-packages.pth").write_text("".join(f"{path}\n" for path in borrowed), encoding="utf-8")
    return venv


def venv_path(venv: Path, key: str, cwd: Path) -> str:
    """Return one of the venv's sysconfig paths (``purelib``: its site-packages)."""
    code = f"import sysconfig; print(sysconfig.get_paths()[{key!r}])"
    return run([str(venv / "bin" / "python"), "-c", code], cwd=cwd).strip()


def imported_from(venv: Path, cwd: Path) -> dict[str, str]:
    """Return the file each top-level module is imported from by the venv's Python."""
    code = ("import importlib, json; "
            f"print(json.dumps({{m: importlib.import_module(m).__file__ for m in {TOP_LEVEL!r}}}))")
    return json.loads(run([str(venv / "bin" / "python"), "-c", code], cwd=cwd, env=fresh_env(venv)))


def fresh_env(venv: Path, **settings: Path | str) -> dict[str, str]:
    """Return an environment with none of the dev shell's Python or Shuying settings, plus ``settings``."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("SHUYING_") and key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update({f"SHUYING_{key.upper()}": str(value) for key, value in settings.items()})
    return env


def run(command: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run ``command`` and return its stdout; a failure fails the test with everything it printed."""
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
    return result.stdout


def _is_package_data(path: Path, root: Path) -> bool:
    """True for a file the packages may read at run time: not Python source nor npm's folder."""
    return path.is_file() and path.suffix != ".py" and "node_modules" not in path.relative_to(root).parts
