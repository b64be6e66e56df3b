"""``shuying audit --bag`` on holey bags: ours resolve from storage, a third party's stay incomplete in one line.

Version 2 of a book stores only its changed files; the rest are fetch.txt lines naming
version 1 (workflows/versions.py). Checking the stored version 2 must read version 1's
files from our own locations, never from a URL.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import cli
from pipeline.checksums import digest_file
from storage_config.catalogue import FileKind
from tests.audit.helpers import MASTER, flip_bit
from tests.audit.test_audit_bag_check import make_bag, remake_tagmanifests
from tests.storage.helpers import (
    fs_location,
    ingest_bag,
    mets_for,
    sample_files,
    settings_with,
    write_config,
)
from workflows.archive import open_archive
from workflows.replicate import replicate
from workflows.versions import new_version

LOCATIONS = ("primary", "nas")


@pytest.fixture
def holey(tmp_path):
    """Book-a in two locations, version 2 changing only the OCR text (and METS): the masters are fetched."""
    home = tmp_path / "home"
    config = write_config(tmp_path / "storage.toml", fs_location("primary", home / "primary"),
                          fs_location("nas", home / "nas", role="replica", offsite=True), min_copies=2,
                          offsite_copies=1)
    settings = settings_with(home, config)
    ingest_bag(settings, "book-a", sample_files(1))
    assert replicate(settings).ok
    record = open_archive(settings).catalogue.version("book-a")
    text, mets = tmp_path / "p0001.txt", tmp_path / "mets.xml"
    text.write_bytes("學而時習之，不亦說乎\n".encode())
    digests = {p: f.digests for p, f in record.files.items() if f.kind is FileKind.PAYLOAD and p != "data/mets.xml"}
    mets.write_bytes(mets_for({**digests, "data/ocr/p0001.txt": digest_file(text)}))
    new_version(settings, "book-a", {"data/ocr/p0001.txt": text, "data/mets.xml": mets}, "corrected OCR")
    assert replicate(settings).ok
    return home, config


def run(home: Path, config: Path, bag: Path):
    return CliRunner().invoke(cli.cli, ["--home", str(home), "audit", "--bag", str(bag), "--workers", "2"],
                              env={"SHUYING_STORAGE_CONFIG": str(config)})


def test_our_holey_version_is_complete_from_storage(holey):
    home, config = holey
    bag = home / "primary/aips/book-a/book-a.v2"
    assert (bag / "fetch.txt").is_file() and not (bag / MASTER).exists()

    result = run(home, config, bag)

    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("complete: 2 files resolved from storage primary"), result.output
    assert "not fetched" not in result.output


def test_an_earlier_copy_damaged_everywhere_is_named_as_unresolved(holey):
    home, config = holey
    for location in LOCATIONS:
        path = home / location / "aips/book-a/book-a.v1" / MASTER
        path.write_bytes(flip_bit(path.read_bytes()))

    result = run(home, config, home / "nas/aips/book-a/book-a.v2")

    assert result.exit_code == int(cli.ExitCode.FAILED), result.output
    assert result.stderr.splitlines() == [
        f"{MASTER}: is listed in fetch.txt; no intact copy in our storage: aips/book-a/book-a.v1/{MASTER}: "
        "primary: sha256 and sha512 do not match the catalogue; nas: sha256 and sha512 do not match the catalogue"]
    assert "NOT valid: 1 errors" in result.stdout and "; 1 files resolved from storage primary" in result.stdout


def test_one_good_copy_is_enough_and_is_named(holey):
    home, config = holey
    path = home / "primary/aips/book-a/book-a.v1" / MASTER
    path.write_bytes(flip_bit(path.read_bytes()))

    result = run(home, config, home / "primary/aips/book-a/book-a.v2")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("complete: 2 files resolved from storage nas, primary")


def test_a_third_party_holey_bag_is_one_line_and_never_fetched(tmp_path, holey):
    home, config = holey
    files = {f"data/page{i:04d}.txt": f"page {i}\n".encode() for i in range(700)}
    bag = make_bag(tmp_path, files)
    lines = []
    for rel, data in files.items():
        (bag / rel).unlink()
        lines.append(f"http://192.0.2.1/bag/{rel} {len(data)} {rel}\n")  # TEST-NET-1: nothing answers there
    (bag / "fetch.txt").write_text("".join(lines), encoding="utf-8")
    remake_tagmanifests(bag)

    result = run(home, config, bag)

    assert result.exit_code == int(cli.ExitCode.FAILED), result.output
    assert result.stderr.splitlines() == ["fetch.txt: 700 files listed are not fetched: the bag is incomplete "
                                          "(RFC 8493 §3); first: data/page0000.txt"]
    assert "NOT valid: 1 errors" in result.stdout


def test_the_check_keeps_every_entry(tmp_path, holey):
    """The one summary line hides nothing: the result lists every unfetched entry and every resolved one."""
    from workflows.audit import audit_bag

    home, config = holey
    result = audit_bag(home / "primary/aips/book-a/book-a.v2", settings=settings_with(home, config))
    assert [(r.path, r.location) for r in result.resolved] == [("data/masters/p0001.tif", "primary"),
                                                               ("data/masters/p0002.tif", "primary")]
    assert result.unfetched == () and result.unresolved == ()

    files = {"data/a.txt": b"a\n", "data/b.txt": b"b\n"}
    bag = make_bag(tmp_path, files)
    for rel in files:
        (bag / rel).unlink()
    (bag / "fetch.txt").write_text("".join(f"https://example.org/{r} 2 {r}\n" for r in files), encoding="utf-8")
    remake_tagmanifests(bag)
    other = audit_bag(bag, settings=settings_with(home, config))
    assert [p.path for p in other.unfetched] == sorted(files)
    assert other.unfetched[0].digests["sha256"] == hashlib.sha256(b"a\n").hexdigest()
    assert [(p.path, p.code) for p in other.errors] == [("fetch.txt", "not-fetched")]


def test_entries_of_an_item_we_do_not_hold_share_one_line(tmp_path, holey):
    home, config = holey
    bag = tmp_path / "copy"
    shutil.copytree(home / "primary/aips/book-a/book-a.v2", bag)
    fetch = bag / "fetch.txt"
    fetch.write_text(fetch.read_text(encoding="utf-8").replace("book-a", "book-z"), encoding="utf-8")
    remake_tagmanifests(bag)

    result = run(home, config, bag)

    assert result.exit_code == int(cli.ExitCode.FAILED), result.output
    catalogue = home / "catalogue.sqlite"
    assert result.stderr.splitlines() == [
        f"fetch.txt: 2 files listed have no intact copy in our storage: catalogue {catalogue}: no version 1 of item "
        "'book-z' (run `shuying catalogue rebuild` if it was lost); first: data/masters/p0001.tif"]
