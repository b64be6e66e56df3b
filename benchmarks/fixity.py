"""Fixity audit throughput beside the machine's hashing limit and the usual tools, in one run.

    python benchmarks/fixity.py [--gb 2.0] [--min-mb 1] [--max-mb 200] [--workers N] [--repeat 1] [--keep]

Generates ``--gb`` of bagged, incompressible files (sizes drawn between ``--min-mb``
and ``--max-mb``), stores them in a filesystem location, then reads the same files
with, each in its own process (so its peak RSS can be measured):

1. ``shuying audit`` (the workflow API, ``--workers`` threads), SHA-256 and then both
   SHA-256 and SHA-512, checking every file against the catalogue;
2. the hashing ceiling: Python hashlib over the same files, 1 MiB reads, one process
   per worker (OpenSSL uses the CPU's SHA instructions, so nothing reads faster);
3. ``bagit.py --validate --processes N`` on the stored bags (it hashes SHA-256 and SHA-512,
   as every manifest in our bags lists both);
4. ``sha256sum`` through ``xargs -P N``, for reference.

Warm runs read from the page cache; cold runs drop it first (``echo 3 >
/proc/sys/vm/drop_caches``) when the machine allows. Prints GB/s, the ratio to the
hashlib ceiling, and peak RSS.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np

from pipeline.bag import write_bag
from pipeline.checksums import digest_file
from storage_config.settings import load_settings
from workflows.archive import open_archive
from workflows.catalogue_ops import read_local_version
from workflows.replicate import store_version

MB = 1_000_000
CHUNK = 64 * 1024 * 1024
AUDIT = """
import sys
from pathlib import Path
from storage_config.settings import load_settings
from workflows.audit import AuditOptions, audit
home, config, workers, algorithms = sys.argv[1], sys.argv[2], int(sys.argv[3]), tuple(sys.argv[4].split(","))
settings = load_settings(environ={}, home=home, storage_config=config)
report = audit(settings, AuditOptions(workers=workers, algorithms=algorithms, report_dir=Path(home) / "reports"))
assert report.status.value == "clean", report.status
Path(sys.argv[5]).write_text(f"{report.seconds} {report.bytes_checked}", encoding="utf-8")
"""
SPAWN = """
import os, sys, time
start = time.perf_counter()
with open(os.devnull, "wb") as null:
    pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, null.fileno(), 1)])
_pid, status, usage = os.wait4(pid, 0)
if os.waitstatus_to_exitcode(status):
    sys.exit(f"exit code {os.waitstatus_to_exitcode(status)}")
print(time.perf_counter() - start, usage.ru_maxrss)
"""
HASHLIB = """
import hashlib, sys
from multiprocessing import Pool
def digest(args):
    path, names = args
    hashers = [hashlib.new(n) for n in names]
    buffer = bytearray(1024 * 1024)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while count := f.readinto(buffer):
            for h in hashers:
                h.update(view[:count])
    return [h.hexdigest() for h in hashers]
if __name__ == "__main__":
    files = open(sys.argv[2], encoding="utf-8").read().split("\\0")[:-1]
    files.sort(key=lambda p: -__import__("os").path.getsize(p))
    with Pool(int(sys.argv[1])) as pool:
        list(pool.imap_unordered(digest, [(p, sys.argv[3].split(",")) for p in files]))
"""


def make_bags(work: Path, total: int, low: int, high: int, seed: int = 1) -> list[Path]:
    """Write bags of random files of random sizes between ``low`` and ``high`` bytes, ``total`` bytes in all."""
    rng, data = random.Random(seed), np.random.default_rng(seed)
    bags, made = [], 0
    while made < total:
        item_id = f"bench-{len(bags) + 1:03d}"
        bag = work / item_id / "aip" / f"{item_id}.v1"
        payload = {}
        for page in range(1, 9):
            size = min(rng.randint(low, high), max(low, total - made))
            path = bag / "data/masters" / f"p{page:04d}.tif"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as out:
                out.writelines(data.bytes(min(CHUNK, size - start)) for start in range(0, size, CHUNK))
            payload[path.relative_to(bag).as_posix()] = digest_file(path)
            made += size
            if made >= total:
                break
        write_bag(bag, payload, {"External-Identifier": item_id, "Bagging-Date": "2025-01-01"})
        bags.append(bag)
    return bags


def measure(argv: list[str], cwd: Path = REPO) -> tuple[float, float]:
    """Run a command; return its wall-clock seconds and peak RSS in MB (the largest process of its tree).

    A small launcher posix_spawns the command: a child forked from this process would
    start with this process's own high-water mark (ru_maxrss survives exec).
    """
    done = subprocess.run([sys.executable, "-c", SPAWN, *argv], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} … failed: {done.stderr.strip()[-500:]}")
    seconds, rss_kb = done.stdout.split()
    return float(seconds), int(rss_kb) / 1024


def drop_caches() -> bool:
    """Drop the page cache if the machine lets us (root, and /proc/sys writable)."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n", encoding="ascii")
    except OSError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=2.0, help="total bytes to generate, in GB (default 2)")
    parser.add_argument("--min-mb", type=int, default=1, help="smallest file, in MB (default 1)")
    parser.add_argument("--max-mb", type=int, default=200, help="largest file, in MB (default 200)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="threads/processes (default: cores)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per tool, warm; the fastest counts (a machine shared with other work is noisy)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="shuying-fixity-"))
    try:
        run(root, args)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def run(root: Path, args: argparse.Namespace) -> None:
    home, config = root / "home", root / "storage.toml"
    config.write_text(f'[[location]]\nname = "primary"\nbackend = "filesystem"\nrole = "primary"\n'
                      f'path = "{home}/primary"\ncreate = true\n', encoding="utf-8")
    settings = load_settings(environ={}, home=str(home), storage_config=str(config))
    print(f"generating {args.gb:g} GB in files of {args.min_mb}-{args.max_mb} MB under {root} ...", flush=True)
    bags = make_bags(settings.work_dir, int(args.gb * 1000 * MB), args.min_mb * MB, args.max_mb * MB)
    archive = open_archive(settings)
    for bag in bags:
        store_version(archive, bag, read_local_version(f"aips/{bag.parent.parent.name}/{bag.name}", bag))
    shutil.rmtree(settings.work_dir)  # only the stored copies are read from here on
    stored = sorted(p for p in (home / "primary/aips").rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in stored)
    listing = root / "files.txt"
    listing.write_text("".join(f"{p}\0" for p in stored), encoding="utf-8")
    aips = sorted(str(p) for p in (home / "primary/aips").glob("*/*") if p.is_dir())
    n = str(args.workers)
    print(f"{len(aips)} bags, {len(stored)} files, {total / 1e9:.2f} GB; {args.workers} workers, "
          f"{os.cpu_count()} cores\n", flush=True)
    tools = {
        "shuying audit (sha256)": [sys.executable, "-c", AUDIT, str(home), str(config), n, "sha256",
                                   str(root / "audit-sha256.txt")],
        "shuying audit (sha256+sha512)": [sys.executable, "-c", AUDIT, str(home), str(config), n, "sha256,sha512",
                                          str(root / "audit-sha256+sha512.txt")],
        "hashlib ceiling (sha256)": [sys.executable, "-c", HASHLIB, n, str(listing), "sha256"],
        "hashlib ceiling (sha256+sha512)": [sys.executable, "-c", HASHLIB, n, str(listing), "sha256,sha512"],
        "bagit.py --validate (sha256+sha512)": [str(Path(sys.executable).parent / "bagit.py"), "--quiet",
                                                "--validate", "--processes", n, *aips],
        "sha256sum via xargs -P": ["sh", "-c", f"xargs -0 -P {n} -n 4 sha256sum < {listing} > /dev/null"],
    }
    measure(tools["sha256sum via xargs -P"])  # warm the page cache
    report(f"warm (best of {args.repeat})", tools, total, lambda: True, args.repeat)
    if drop_caches():
        report("cold (page cache dropped before each run)", tools, total, drop_caches, 1)
    else:
        print("\ncold: not measured (cannot write /proc/sys/vm/drop_caches here)")


def report(title: str, tools: dict[str, list[str]], total: int, before, repeat: int) -> None:
    print(f"{title}:\n{'':40s} {'seconds':>8s} {'GB/s':>7s} {'peak RSS MB':>12s}")
    rates = {}
    for name, argv in tools.items():
        runs = []
        for _ in range(max(1, repeat)):
            before()
            runs.append(measure(argv))
        seconds, rss = min(runs)
        rates[name] = total / seconds / 1e9
        print(f"{name:40s} {seconds:8.2f} {rates[name]:7.2f} {rss:12.0f}", flush=True)
        if name.startswith("shuying audit"):  # the same run, without interpreter start-up, events and reports
            inside, checked = Path(argv[-1]).read_text(encoding="utf-8").split()
            print(f"{'  reading and checking only (last run)':40s} {float(inside):8.2f} {int(checked) / float(inside) / 1e9:7.2f}")
    for algorithms in ("sha256", "sha256+sha512"):
        ceiling = rates[f"hashlib ceiling ({algorithms})"]
        print(f"shuying audit ({algorithms}) / hashlib ceiling: {rates[f'shuying audit ({algorithms})'] / ceiling:.2f}")
    bagit = rates["bagit.py --validate (sha256+sha512)"]
    print(f"shuying audit (sha256+sha512) / bagit.py:   {rates['shuying audit (sha256+sha512)'] / bagit:.2f}")
    print(f"shuying audit (sha256) / bagit.py:          {rates['shuying audit (sha256)'] / bagit:.2f}\n")


if __name__ == "__main__":
    main()
