"""Replication throughput beside plain baselines, in one run.

    python benchmarks/replicate.py [--gb 1.0] [--aip-mb 200] [--file-mb 50] [--keep]

Generates ``--gb`` of AIPs (bags of incompressible "masters"), stores them in a
primary filesystem location, then measures, each on the same files:

1. ``shuying replicate --location nas`` to a second filesystem location, beside
   ``cp -r`` of the same AIP folders (and ``cp -r`` followed by ``sync``, since
   replicate fsyncs every file before it counts);
2. ``shuying replicate --location s3`` to an S3 server on 127.0.0.1 (moto, started
   here), beside a plain boto3 ``upload_file`` loop with the same multipart settings.

Replicate also reads every copy back and hashes it (SHA-256 + SHA-512) before it
counts, so it moves at least twice the bytes of a plain copy; the ratios show that
price. Files are warm in the page cache. Prints MB/s and ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import boto3
from boto3.s3.transfer import TransferConfig

from pipeline.bag import write_bag
from pipeline.checksums import digest_file
from storage_config.settings import load_settings
from workflows.archive import open_archive
from workflows.catalogue_ops import read_local_version
from workflows.replicate import replicate, store_version

MB = 1_000_000
CHUNK = 8 * 1024 * 1024


def make_aips(work: Path, total: int, aip_bytes: int, file_bytes: int) -> list[Path]:
    """Write bags of random payload until ``total`` bytes; return their folders."""
    bags, made, index = [], 0, 0
    while made < total:
        index += 1
        item_id = f"bench-{index:03d}"
        bag = work / item_id / "aip" / f"{item_id}.v1"
        size = min(aip_bytes, total - made)
        payload = {}
        for page in range(max(1, -(-size // file_bytes))):
            path = bag / "data/masters" / f"p{page + 1:04d}.tif"
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_random(path, min(file_bytes, size - page * file_bytes))
            payload[path.relative_to(bag).as_posix()] = digest_file(path)
        write_bag(bag, payload, {"External-Identifier": item_id, "Bagging-Date": "2025-01-01"})
        bags.append(bag)
        made += size
    return bags


def _write_random(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        while size > 0:
            out.write(os.urandom(min(CHUNK, size)))
            size -= CHUNK


def start_s3(port: int) -> subprocess.Popen:
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = s3_client(port)
    for _ in range(100):
        try:
            client.create_bucket(Bucket="bench")
            return server
        except Exception:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("moto server did not start")


def s3_client(port: int):
    return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1")


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=1.0, help="total AIP bytes, in GB (default 1)")
    parser.add_argument("--aip-mb", type=int, default=200, help="bytes per AIP, in MB")
    parser.add_argument("--file-mb", type=int, default=50, help="bytes per master file, in MB")
    parser.add_argument("--port", type=int, default=5399, help="port for the local S3 server")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    root = Path(tempfile.mkdtemp(prefix="shuying-bench-"))
    server = start_s3(args.port)
    try:
        run(root, args)
    finally:
        server.kill()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def run(root: Path, args: argparse.Namespace) -> None:
    home = root / "home"
    config = root / "storage.toml"
    config.write_text(
        f'[[location]]\nname = "primary"\nbackend = "filesystem"\nrole = "primary"\npath = "{home}/primary"\n'
        f'create = true\n\n[[location]]\nname = "nas"\nbackend = "filesystem"\nrole = "replica"\n'
        f'path = "{root}/nas"\ncreate = true\n\n[[location]]\nname = "s3"\nbackend = "s3"\nrole = "replica"\n'
        f'offsite = true\nendpoint_url = "http://127.0.0.1:{args.port}"\nbucket = "bench"\nprefix = "shuying/"\n'
        f'addressing_style = "path"\n', encoding="utf-8")
    settings = load_settings(environ={}, home=str(home), storage_config=str(config))
    print(f"generating {args.gb:g} GB of AIPs in {root} ...", flush=True)
    bags = make_aips(settings.work_dir, int(args.gb * 1000 * MB), args.aip_mb * MB, args.file_mb * MB)
    archive = open_archive(settings)
    for bag in bags:
        item_id = bag.name.rsplit(".v", 1)[0]
        store_version(archive, bag, read_local_version(f"aips/{item_id}/{bag.name}", bag))
    total = sum(p.stat().st_size for bag in bags for p in bag.rglob("*") if p.is_file())
    files = [p for p in (home / "primary/aips").rglob("*") if p.is_file()]
    print(f"{len(bags)} AIPs, {len(files)} files, {total / MB:.0f} MB\n", flush=True)

    rows = [("filesystem: shuying replicate", timed(lambda: _ok(replicate(settings, location="nas")))),
            ("filesystem: cp -r", timed(lambda: _cp(home / "primary/aips", root / "cp1"))),
            ("filesystem: cp -r && sync", timed(lambda: (_cp(home / "primary/aips", root / "cp2"), os.sync())))]
    rows += [("s3: shuying replicate", timed(lambda: _ok(replicate(settings, location="s3")))),
             ("s3: boto3 upload_file loop", timed(lambda: _upload_all(args.port, home / "primary", files)))]
    print(f"{'':32s} {'seconds':>8s} {'MB/s':>8s}")
    for name, seconds in rows:
        print(f"{name:32s} {seconds:8.2f} {total / MB / seconds:8.1f}")
    rate = {name: total / seconds for name, seconds in rows}
    print(f"\nratio replicate / cp -r (filesystem):         {rate['filesystem: shuying replicate'] / rate['filesystem: cp -r']:.2f}")
    print(f"ratio replicate / cp -r && sync (filesystem): "
          f"{rate['filesystem: shuying replicate'] / rate['filesystem: cp -r && sync']:.2f}")
    print(f"ratio replicate / boto3 upload (s3):          "
          f"{rate['s3: shuying replicate'] / rate['s3: boto3 upload_file loop']:.2f}")


def _ok(report) -> None:
    if not report.ok or not report.outcomes:
        raise SystemExit(f"replication failed: {[str(o) for o in report.failures]}")


def _cp(source: Path, dest: Path) -> None:
    subprocess.run(["cp", "-r", str(source), str(dest)], check=True)


def _upload_all(port: int, root: Path, files: list[Path]) -> None:
    client = s3_client(port)
    # The same transfer settings as S3Options' defaults, so only our verify-and-commit differs.
    config = TransferConfig(multipart_threshold=64 * 1024 * 1024, multipart_chunksize=64 * 1024 * 1024,
                            max_concurrency=4)
    for path in files:
        client.upload_file(str(path), "bench", f"baseline/{path.relative_to(root).as_posix()}", Config=config)


if __name__ == "__main__":
    main()
