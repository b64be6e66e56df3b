"""Storage test helpers: a moto S3 server process, tiny bags, storage.toml snippets.

The code under test is plain S3; only these helpers know the server is moto.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

from pipeline.bag import write_bag
from pipeline.checksums import Digests, digest_file
from pipeline.mets import href_of
from storage_config.settings import Settings, load_settings
from workflows.archive import Archive, open_archive
from workflows.catalogue_ops import read_local_version
from workflows.replicate import store_version

MOTO = Path(sys.executable).parent / "moto_server"
METS_NS = "http://www.loc.gov/METS/"


@dataclass
class S3Server:
    """A moto server subprocess on a fixed port, which a test may stop, pause and restart."""

    port: int
    env: Mapping[str, str]
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen([str(MOTO), "-H", "127.0.0.1", "-p", str(self.port)],
                                        env={**os.environ, **self.env}, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"moto server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def client(self, key: str = "testing", secret: str = "testing"):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=key, aws_secret_access_key=secret,
                            config=Config(retries={"max_attempts": 1}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def new_bucket(server: S3Server) -> str:
    name = f"test-{uuid.uuid4().hex[:16]}"
    server.client().create_bucket(Bucket=name)
    return name


def fs_location(name: str, path: Path, *, role: str = "primary", offsite: bool = False, create: bool = True) -> str:
    return (f'[[location]]\nname = "{name}"\nbackend = "filesystem"\nrole = "{role}"\n'
            f'offsite = {str(offsite).lower()}\npath = "{path}"\ncreate = {str(create).lower()}\n')


def s3_location(name: str, server: S3Server, bucket: str, *, role: str = "replica", offsite: bool = True,
                **options: object) -> str:
    """A [[location]] for the test server; ``options`` override the defaults (TOML literals)."""
    values = {"endpoint_url": f'"{server.endpoint}"', "bucket": f'"{bucket}"', "prefix": '"shuying/"',
              "addressing_style": '"path"', "connect_timeout": 2, "read_timeout": 5, "max_attempts": 2,
              "multipart_threshold_mb": 5, "multipart_chunk_mb": 5, **options}
    return (f'[[location]]\nname = "{name}"\nbackend = "s3"\nrole = "{role}"\noffsite = {str(offsite).lower()}\n'
            + "".join(f"{key} = {value}\n" for key, value in values.items()))


def write_config(path: Path, *locations: str, min_copies: int = 1, offsite_copies: int = 0,
                 replicate_on_ingest: bool = False) -> Path:
    policy = (f"[policy]\nmin_copies = {min_copies}\noffsite_copies = {offsite_copies}\n"
              f"replicate_on_ingest = {str(replicate_on_ingest).lower()}\n\n")
    path.write_text(policy + "\n".join(locations), encoding="utf-8")
    return path


def settings_with(home: Path, config: Path) -> Settings:
    return load_settings(environ={}, home=str(home), storage_config=str(config))


def mets_for(files: Mapping[str, Digests]) -> bytes:
    """A minimal METS fileSec recording the SHA-256 of each payload file, as pipeline.mets does."""
    entries = "".join(f'<mets:file ID="F{i}" CHECKSUM="{d.sha256}" CHECKSUMTYPE="SHA-256">'
                      f'<mets:FLocat LOCTYPE="URL" xlink:href="{href_of(p)}"/></mets:file>'
                      for i, (p, d) in enumerate(sorted(files.items())))
    return (f'<mets:mets xmlns:mets="{METS_NS}" xmlns:xlink="http://www.w3.org/1999/xlink"><mets:fileSec>'
            f'<mets:fileGrp USE="MASTER">{entries}</mets:fileGrp></mets:fileSec></mets:mets>').encode()


def make_bag(work: Path, item_id: str, files: Mapping[str, bytes]) -> Path:
    """Write version 1 of ``item_id`` as a bag in ``work/<item>/aip/<item>.v1`` (the ingest layout)."""
    bag = work / item_id / "aip" / f"{item_id}.v1"
    for rel, data in files.items():
        (bag / rel).parent.mkdir(parents=True, exist_ok=True)
        (bag / rel).write_bytes(data)
    (bag / "data/mets.xml").write_bytes(mets_for({rel: digest_file(bag / rel) for rel in files}))
    payload = {p.relative_to(bag).as_posix(): digest_file(p) for p in sorted(bag.rglob("*")) if p.is_file()}
    write_bag(bag, payload, {"Source-Organization": "Test Library", "External-Identifier": item_id,
                             "External-Description": f"Test item {item_id}", "Bagging-Date": "2025-03-01"})
    return bag


def sample_files(seed: int, sizes: tuple[int, ...] = (30_000, 20_000)) -> dict[str, bytes]:
    """Deterministic pseudo-random masters (incompressible, like TIFFs) plus an OCR text."""
    import random

    rng = random.Random(seed)
    files = {f"data/masters/p{i + 1:04d}.tif": rng.randbytes(size) for i, size in enumerate(sizes)}
    files["data/ocr/p0001.txt"] = f"學而時習之 {seed}\n".encode()
    return files


def ingest_bag(settings: Settings, item_id: str, files: Mapping[str, bytes]) -> Archive:
    """Store a generated v1 bag as StoreAip does (primary copies, catalogue, events)."""
    make_bag(settings.work_dir, item_id, files)
    return store_again(settings, item_id)


def store_again(settings: Settings, item_id: str) -> Archive:
    """Store the staged v1 bag again, as a re-run of StoreAip does."""
    bag = settings.work_dir / item_id / "aip" / f"{item_id}.v1"
    archive = open_archive(settings)
    store_version(archive, bag, read_local_version(f"aips/{item_id}/{item_id}.v1", bag))
    return archive


def run_python(code: str, env: Mapping[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run Python code in a fresh interpreter at the repository root."""
    repo = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, **(env or {})})
