"""``shuying audit --bag``: a strict RFC 8493 check, tested on deliberately broken bags beside bagit-python.

Each case breaks one thing in a valid BagIt 1.0 bag (tag manifests re-made afterwards,
so only that one thing is wrong) and states the errors we report and bagit-python's
verdict. Where the two disagree, the case says why bagit-python is wrong.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import bagit
import pytest

from pipeline.bag import write_bag
from pipeline.checksums import digest_file
from pipeline.fixity_bag import check_bag
from pipeline.fixity_text import Severity

B = "data/sub/b.bin"
FILES = {"data/a.txt": b"hello\n", B: random.Random(3).randbytes(5000), "data/页 1.txt": "书影\n".encode()}


def make_bag(root: Path, files: dict[str, bytes] = FILES) -> Path:
    bag = root / "bag"
    for rel, data in files.items():
        (bag / rel).parent.mkdir(parents=True, exist_ok=True)
        (bag / rel).write_bytes(data)
    write_bag(bag, {rel: digest_file(bag / rel) for rel in files},
              {"Source-Organization": "Test Library", "Bagging-Date": "2025-03-01"})
    return bag


def remake_tagmanifests(bag: Path) -> None:
    tags = sorted(p.relative_to(bag).as_posix() for p in bag.rglob("*") if p.is_file()
                  and p.relative_to(bag).parts[0] != "data" and not p.name.startswith("tagmanifest-"))
    for algorithm in ("sha256", "sha512"):
        lines = [f"{hashlib.new(algorithm, (bag / t).read_bytes()).hexdigest()}  {t}\n" for t in tags]
        (bag / f"tagmanifest-{algorithm}.txt").write_text("".join(lines), encoding="utf-8")


def edit(bag: Path, name: str, change: Callable[[str], str]) -> None:
    path = bag / name
    path.write_bytes(change(path.read_bytes().decode("utf-8")).encode("utf-8"))


def manifests(bag: Path, change: Callable[[str], str]) -> None:
    for algorithm in ("sha256", "sha512"):
        edit(bag, f"manifest-{algorithm}.txt", change)


def add_payload(bag: Path, rel: str, data: bytes, listed_as: str) -> None:
    (bag / rel).parent.mkdir(parents=True, exist_ok=True)
    (bag / rel).write_bytes(data)
    for algorithm in ("sha256", "sha512"):
        with open(bag / f"manifest-{algorithm}.txt", "a", encoding="utf-8") as out:
            out.write(f"{hashlib.new(algorithm, data).hexdigest()}  {listed_as}\n")
    edit(bag, "bag-info.txt", lambda t: t.replace("Payload-Oxum: 5013.3", f"Payload-Oxum: {5013 + len(data)}.4"))


def bagit_valid(bag: Path) -> bool:
    try:
        return bagit.Bag(str(bag)).is_valid()
    except Exception:
        return False


OXUM = "bag-info.txt"
# name: (break the bag, errors we report as (path, code), bagit-python says valid, why bagit-python is wrong)
CASES: dict[str, tuple[Callable[[Path], None], list[tuple[str, str]], bool, str]] = {
    "valid": (lambda bag: None, [], True, ""),
    "bagit.txt with a byte-order mark": (
        lambda bag: (bag / "bagit.txt").write_bytes(codecs.BOM_UTF8 + (bag / "bagit.txt").read_bytes()),
        [("bagit.txt", "bom")], False, ""),
    "bagit.txt missing": (lambda bag: (bag / "bagit.txt").unlink(), [("bagit.txt", "bagit-txt-missing"),
                          ("bagit.txt", "missing-file"), ("bagit.txt", "missing-file")], False, ""),
    "BagIt-Version not M.N": (lambda bag: edit(bag, "bagit.txt", lambda t: t.replace("1.0", "1")),
                              [("bagit.txt", "bagit-version")], True, "RFC 8493 §2.1.1: the version is M.N"),
    "bagit.txt with a third line": (lambda bag: edit(bag, "bagit.txt", lambda t: t + "Extra: x\n"),
                                    [("bagit.txt", "bagit-txt-format")], True,
                                    "RFC 8493 §2.1.1: the declaration is exactly two lines"),
    "bag-info.txt not in the declared encoding": (
        lambda bag: (bag / "bag-info.txt").write_bytes((bag / "bag-info.txt").read_bytes() + b"Note: caf\xe9\n"),
        [("bag-info.txt", "tag-file-encoding")], False, ""),
    "bag-info.txt line without a label": (lambda bag: edit(bag, "bag-info.txt", lambda t: t + "no colon here\n"),
                                          [("bag-info.txt", "tag-line")], False, ""),
    "payload file deleted": (lambda bag: (bag / B).unlink(),
                             [(B, "missing-file"), (B, "missing-file"), (OXUM, "oxum-mismatch")], False, ""),
    "payload file not in the manifests": (
        lambda bag: (bag / "data/extra.txt").write_bytes(b"x"),
        [("bag-info.txt", "oxum-mismatch"), ("data/extra.txt", "not-in-manifest"),
         ("data/extra.txt", "not-in-manifest")], False, ""),
    "a bit flipped in the payload": (
        lambda bag: (bag / B).write_bytes(bytes([FILES[B][0] ^ 1]) + FILES[B][1:]),
        [(B, "checksum-mismatch"), (B, "checksum-mismatch")], False, ""),
    "file missing from one manifest only": (
        lambda bag: edit(bag, "manifest-sha512.txt", lambda t: "".join(
            line for line in t.splitlines(keepends=True) if not line.endswith(f"{B}\n"))),
        [(B, "not-in-manifest")], True, "RFC 8493 §3: every payload file is listed in every payload manifest"),
    "no payload manifest": (
        lambda bag: [(bag / f"manifest-{a}.txt").unlink() for a in ("sha256", "sha512")],
        [("", "manifest-missing")], False, ""),
    "Payload-Oxum wrong": (lambda bag: edit(bag, "bag-info.txt", lambda t: t.replace("5013.3", "5012.3")),
                           [(OXUM, "oxum-mismatch")], False, ""),
    "Payload-Oxum malformed": (lambda bag: edit(bag, "bag-info.txt", lambda t: t.replace("5013.3", "5013.x")),
                               [(OXUM, "oxum-format")], False, ""),
    "tag file listed but missing": (
        lambda bag: [edit(bag, f"tagmanifest-{a}.txt", lambda t, a=a: t + f"{'0' * (64 if a == 'sha256' else 128)}"
                          "  notes/readme.txt\n") for a in ("sha256", "sha512")],
        [("notes/readme.txt", "missing-file"), ("notes/readme.txt", "missing-file")], False, ""),
    "path with ..": (lambda bag: manifests(bag, lambda t: t.replace(f"  {B}", "  data/../../outside.bin")),
                     [("manifest-sha256.txt", "path-dangerous"), ("manifest-sha512.txt", "path-dangerous"),
                      (B, "not-in-manifest"), (B, "not-in-manifest")], False, ""),
    "absolute path": (lambda bag: manifests(bag, lambda t: t.replace(f"  {B}", "  /etc/passwd")),
                      [("manifest-sha256.txt", "path-dangerous"), ("manifest-sha512.txt", "path-dangerous"),
                       (B, "not-in-manifest"), (B, "not-in-manifest")], False, ""),
    "path into a home folder": (lambda bag: manifests(bag, lambda t: t.replace(f"  {B}", "  ~/b.bin")),
                                [("manifest-sha256.txt", "path-dangerous"), ("manifest-sha512.txt", "path-dangerous"),
                                 (B, "not-in-manifest"), (B, "not-in-manifest")], False, ""),
    "symbolic link out of the bag": (lambda bag: os.symlink("/etc/hostname", bag / "data/link"),
                                     [("data/link", "path-dangerous")], False, ""),
    "listed twice": (lambda bag: manifests(bag, lambda t: t + t.splitlines(keepends=True)[0]),
                     [("manifest-sha256.txt", "duplicate-entry"), ("manifest-sha512.txt", "duplicate-entry")],
                     False, ""),
    "manifest line without a path": (lambda bag: manifests(bag, lambda t: t + "deadbeef\n"),
                                     [("manifest-sha256.txt", "manifest-line"), ("manifest-sha512.txt",
                                                                                 "manifest-line")],
                                     True, "RFC 8493 §2.1.3: a line is a checksum and a path (bagit-python logs it)"),
    "fetch.txt file not yet fetched": (
        lambda bag: ((bag / "fetch.txt").write_text(f"https://example.org/b.bin 5000 {B}\n", encoding="utf-8"),
                     (bag / B).unlink()),
        [(B, "not-fetched")], False, ""),
    "fetch.txt malformed line": (
        lambda bag: (bag / "fetch.txt").write_text("https://example.org/b.bin data/a.txt\n", encoding="utf-8"),
        [("fetch.txt", "fetch-line")], False, ""),
    "fetch.txt URL not absolute": (
        lambda bag: (bag / "fetch.txt").write_text("b.bin 5000 data/sub/b.bin\n", encoding="utf-8"),
        [("fetch.txt", "fetch-url")], False, ""),
    "fetch.txt names a file in no manifest": (
        lambda bag: (bag / "fetch.txt").write_text("https://example.org/z 1 data/z.txt\n", encoding="utf-8"),
        [(OXUM, "oxum-mismatch"), ("data/z.txt", "fetch-not-in-manifest"), ("data/z.txt", "not-fetched"),
         ("data/z.txt", "not-in-manifest"),
         ("data/z.txt", "not-in-manifest")],
        True, "RFC 8493 §2.2.3: every file in fetch.txt is listed in every payload manifest"),
    "CRLF line endings throughout": (
        lambda bag: [edit(bag, n, lambda t: t.replace("\n", "\r\n")) for n in
                     ("bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt")],
        [], True, ""),
    "mixed line endings (a warning)": (lambda bag: edit(bag, "manifest-sha256.txt", lambda t: t.replace("\n", "\r\n", 1)),
                                       [], True, ""),
    "'%' encoded as %25, as RFC 8493 asks": (
        lambda bag: add_payload(bag, "data/100%.txt", b"full", "data/100%25.txt"), [], False,
        "bagit-python 1.9 does not decode %25 (LibraryOfCongress/bagit-python#157)"),
    "'%' left unencoded": (
        lambda bag: add_payload(bag, "data/100%.txt", b"full", "data/100%.txt"),
        [("manifest-sha256.txt", "path-encoding"), ("manifest-sha512.txt", "path-encoding")], True,
        "RFC 8493 §2.1.3: a '%' in a file name is written %25"),
    "line feed in a file name, encoded %0A": (
        lambda bag: add_payload(bag, "data/two\nlines.txt", b"ok", "data/two%0Alines.txt"), [], True, ""),
    "payload folder missing": (
        lambda bag: shutil.rmtree(bag / "data"),
        [("bag-info.txt", "oxum-mismatch"), ("data", "data-missing"), ("data/a.txt", "missing-file"),
         ("data/a.txt", "missing-file"), ("data/sub/b.bin", "missing-file"), ("data/sub/b.bin", "missing-file"),
         ("data/页 1.txt", "missing-file"), ("data/页 1.txt", "missing-file")], False, ""),
    "an algorithm nobody can check": (
        lambda bag: (bag / "manifest-foo.txt").write_text("".join(f"ab  {p}\n" for p in FILES), encoding="utf-8"),
        [("manifest-foo.txt", "manifest-algorithm")], True,
        "a manifest whose checksums cannot be verified cannot make the bag valid; bagit-python skips it"),
    "BagIt-Version 0.97 (a warning)": (lambda bag: edit(bag, "bagit.txt", lambda t: t.replace("1.0", "0.97")),
                                       [], True, ""),
    "Bagging-Date not YYYY-MM-DD (a warning)": (
        lambda bag: edit(bag, "bag-info.txt", lambda t: t.replace("2025-03-01", "1/3/2025")), [], True, ""),
    "tag file not in the tag manifests (a warning)": (
        lambda bag: (bag / "extra-tags").mkdir() or (bag / "extra-tags/notes.txt").write_text("x"), [], True, ""),
}
REMAKE_TAGMANIFESTS_EXCEPT = {"tag file listed but missing", "tag file not in the tag manifests (a warning)",
                              "bagit.txt missing"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_bag(tmp_path, name):
    breaks, errors, bagit_says_valid, why_bagit_differs = CASES[name]
    bag = make_bag(tmp_path)
    breaks(bag)
    if name not in REMAKE_TAGMANIFESTS_EXCEPT:
        remake_tagmanifests(bag)

    result = check_bag(bag, workers=2)

    assert sorted((p.path, p.code) for p in result.errors) == sorted(errors), [str(p) for p in result.problems]
    assert bagit_valid(bag) is bagit_says_valid
    assert (result.valid == bagit_says_valid) or why_bagit_differs, "disagreeing with bagit-python needs a reason"


def test_warnings_are_named_but_do_not_invalidate(tmp_path):
    bag = make_bag(tmp_path)
    edit(bag, "bag-info.txt", lambda t: t.replace("2025-03-01", "1/3/2025"))
    edit(bag, "manifest-sha256.txt", lambda t: t.replace("\n", "\r\n", 1))
    remake_tagmanifests(bag)

    result = check_bag(bag)

    assert result.valid and {(p.path, p.code, p.severity) for p in result.problems} == {
        ("bag-info.txt", "bagging-date", Severity.WARNING), ("manifest-sha256.txt", "line-endings", Severity.WARNING)}
    assert [str(p) for p in result.problems] == [
        "bag-info.txt: Bagging-Date '1/3/2025' is not YYYY-MM-DD (warning)",
        "manifest-sha256.txt: mixes line endings (\\n, \\r\\n) (warning)"]


def test_every_problem_is_listed_not_just_the_first(tmp_path):
    bag = make_bag(tmp_path)
    (bag / "data/a.txt").unlink()
    for name in ("bagit.txt with a byte-order mark", "path with ..", "fetch.txt malformed line"):
        CASES[name][0](bag)
    remake_tagmanifests(bag)

    result = check_bag(bag)

    assert {p.code for p in result.errors} == {"missing-file", "oxum-mismatch", "bom", "path-dangerous",
                                               "fetch-line", "not-in-manifest"}
    assert result.files_checked == 1 + 5 and result.bytes_checked > 0  # the rest was still checked


def test_a_bag_written_by_shuying_is_valid(tmp_path):
    result = check_bag(make_bag(tmp_path))
    assert result.valid and result.problems == () and result.files_checked == 3 + 4
