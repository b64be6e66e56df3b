"""Worst-case image requests against a real server process: memory stays bounded, answers stay correct.

Eight anonymous requests at once for the largest, rotated, buffered-format outputs of a
4000x5000 page. Rotation used to be checked after the limits, so ``full/^max/45`` came
out twice the advertised maxArea and eight of them took gigabytes. Now the limits hold
for the rotated output, one large render runs at a time per process with two waiting,
and the rest get 503 with Retry-After.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyvips

from pipeline.access import write_pyramid
from tests.iiif_server.helpers import free_port, write_access

WIDTH, HEIGHT = 4000, 5000
RSS_BOUND_MIB = 1024  # the server's peak (VmHWM) while answering all eight
WORST = [
    "full/^max/7/default.webp",
    "full/^max/45/default.jpg",
    "full/max/45/default.png",
    "full/^max/0/default.tif",
    "full/max/315/gray.webp",
    "full/^max/!45/default.gif",
    "full/^pct:400/45/default.jpg",  # 400: past the image's limits
    "full/4000,/45/default.webp",  # 400: rotation takes it past maxArea
]
SERVE = """
from storage_config.settings import load_settings
from iiif_server.serve import serve
serve(load_settings(environ={{}}, home={home!r}, base_url={base!r}), host="127.0.0.1", port={port})
"""


def test_eight_worst_case_requests_keep_the_server_small(tmp_path: Path) -> None:
    home = tmp_path / "home"
    folder = home / "publish" / "big" / "images"
    folder.mkdir(parents=True)
    xy = pyvips.Image.xyz(WIDTH, HEIGHT)
    page = (xy[0] % 251).bandjoin([xy[1] % 241, (xy[0] + xy[1]) % 239]).cast("uchar").copy(interpretation="srgb")
    write_pyramid(page, folder / "p0001.tif")
    write_access(home / "publish" / "big", "public")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([sys.executable, "-c", SERVE.format(home=str(home), base=base, port=port)],
                               cwd=Path(__file__).resolve().parents[2], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        _wait(f"{base}/iiif/3/big~p0001/info.json", process)
        started = _memory(process.pid)
        with ThreadPoolExecutor(len(WORST)) as pool:
            answers = list(pool.map(lambda path: _get(f"{base}/iiif/3/big~p0001/{path}"), WORST))
        peak = _memory(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(f"\nserver RSS after start {started['VmRSS'] // 1024} MiB; peak (VmHWM) during the eight requests "
          f"{peak['VmHWM'] // 1024} MiB; statuses {[a[0] for a in answers]}")
    assert peak["VmHWM"] < RSS_BOUND_MIB * 1024
    for path, (status, headers, body) in zip(WORST, answers):
        assert status in (200, 400, 503), (path, status)
        if status == 503:
            assert int(headers["retry-after"]) > 0
        if status == 200:
            image = pyvips.Image.new_from_buffer(body, "")
            assert image.width * image.height <= WIDTH * HEIGHT, path  # the advertised maxArea, after rotation
            assert image.width <= 16383 and image.height <= 16383
    assert [status for status, _, _ in answers[-2:]] == [400, 400]
    assert sum(status == 200 for status, _, _ in answers) >= 1


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=300) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def _memory(pid: int) -> dict[str, int]:
    """Return VmRSS and VmHWM (KiB) of a process from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def _wait(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("server exited")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"no answer from {url}")
