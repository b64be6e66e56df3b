"""Bags of every BagIt version, each judged by its own version's rules, case by case beside bagit-python.

Each case builds a small bag for BagIt 0.96, 0.97 and 1.0 that breaks (or bends) one rule,
states the specification's verdict with the rule quoted, and checks that ``check_bag`` and
``shuying audit --bag`` give it: "valid", "warning" (valid, with warnings) or "invalid".
bagit-python's verdict is recorded too ("warning" = valid but it logged a warning); every
case where it differs from ours has a DIFFERS entry with the reason, mirrored in
docs/audit.md ("Bags of every BagIt version").

Sources: RFC 8493 (BagIt 1.0), including what it says of earlier versions, for 0.96 (draft-kunze-bagit-03/04)
and 0.97 (draft-kunze-bagit-07 … -14).
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import bagit
import pytest
from click.testing import CliRunner

import cli
from pipeline.fixity_bag import check_bag
from tests.storage.helpers import fs_location, write_config

VERSIONS = ("0.96", "0.97", "1.0")
ALGORITHM = {"0.96": "md5", "0.97": "md5", "1.0": "sha256"}  # what each version's tools wrote
BASE = {"data/a.txt": b"hello\n", "data/sub/b.bin": bytes(range(256)) * 4}
NFC, NFD = unicodedata.normalize("NFC", "data/café.txt"), unicodedata.normalize("NFD", "data/café.txt")


@dataclass
class Bag:
    """What to write: on-disk payload, how each file is listed, and the tag files' text."""

    version: str
    files: dict[str, bytes] = field(default_factory=lambda: dict(BASE))
    listed: dict[str, str] = field(default_factory=dict)  # on-disk path → path as written in the manifest
    extra_lines: list[str] = field(default_factory=list)  # raw manifest lines added ({digest} of data/a.txt)
    declaration: str | None = None
    bom: str = ""  # the tag file that starts with a byte-order mark ("manifest": the payload manifest)
    second_manifest: bool = False  # a second payload manifest that lists data/a.txt only
    encoding: str = "UTF-8"
    info: str = "Source-Organization: Test Library\n"
    newline: str = "\n"
    fetch: str = ""
    oxum_delta: int = 0
    missing: tuple[str, ...] = ()  # payload files listed but removed (to be fetched)
    after: Callable[[Path], object] = lambda bag: None  # a change made after the tag manifest was written


def digest(version: str, data: bytes) -> str:
    return hashlib.new(ALGORITHM[version], data).hexdigest()


def write(root: Path, spec: Bag) -> Path:
    bag = root / f"bag-{spec.version}"
    for rel, data in spec.files.items():
        (bag / rel).parent.mkdir(parents=True, exist_ok=True)
        (bag / rel).write_bytes(data)
    algorithm, nl = ALGORITHM[spec.version], spec.newline
    lines = [f"{digest(spec.version, data)}  {spec.listed.get(rel, rel)}" for rel, data in spec.files.items()]
    lines += [line.format(digest=digest(spec.version, BASE["data/a.txt"])) for line in spec.extra_lines]
    tags = {
        "bagit.txt": spec.declaration or f"BagIt-Version: {spec.version}\nTag-File-Character-Encoding: {spec.encoding}\n",
        f"manifest-{algorithm}.txt": "\n".join(lines) + "\n",
        "bag-info.txt": spec.info + f"Payload-Oxum: {sum(map(len, spec.files.values())) + spec.oxum_delta}."
                                   f"{len(spec.files)}\n",
    }
    if spec.fetch:
        tags["fetch.txt"] = spec.fetch
    if spec.second_manifest:
        second = "sha256" if algorithm == "md5" else "sha512"
        tags[f"manifest-{second}.txt"] = f"{hashlib.new(second, BASE['data/a.txt']).hexdigest()}  data/a.txt\n"
    bom = f"manifest-{algorithm}.txt" if spec.bom == "manifest" else spec.bom
    for name, text in tags.items():
        raw = text.replace("\n", nl).encode("utf-8" if name == "bagit.txt" else spec.encoding)
        (bag / name).write_bytes((codecs.BOM_UTF8 if name == bom else b"") + raw)
    tagmanifest = "".join(f"{digest(spec.version, (bag / n).read_bytes())}  {n}{nl}" for n in sorted(tags))
    (bag / f"tagmanifest-{algorithm}.txt").write_bytes(tagmanifest.encode(spec.encoding))
    for rel in spec.missing:
        (bag / rel).unlink()
    spec.after(bag)
    return bag


def with_file(rel: str, data: bytes, listed: str | None = None) -> Callable[[str], Bag]:
    return lambda v: Bag(v, files={**BASE, rel: data}, listed={rel: listed} if listed else {})


def ours(bag: Path) -> str:
    result = check_bag(bag)
    return "invalid" if result.errors else "warning" if result.warnings else "valid"


class _Recorder(logging.Handler):
    """Keeps what bagit-python logs (it reports tolerated problems as log warnings, not in its result)."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def bagit_python(bag: Path) -> str:
    """bagit-python's verdict: invalid if ``validate()`` raises, "warning" if valid but it logged a warning."""
    handler = _Recorder(logging.WARNING)
    logger = logging.getLogger("bagit")
    logger.addHandler(handler)
    try:
        bagit.Bag(str(bag)).validate()
    except (bagit.BagError, bagit.BagValidationError, UnicodeError):
        return "invalid"
    finally:
        logger.removeHandler(handler)
    return "warning" if handler.records else "valid"


V, W, X = "valid", "warning", "invalid"


def per_version(old: str, rfc: str) -> dict[str, str]:
    return {"0.96": old, "0.97": old, "1.0": rfc}


ALL_V, ALL_W, ALL_X = per_version(V, V), per_version(W, W), per_version(X, X)
RENAME_LIST = {"data/a.txt": "data/a.txt"}


# name: (build, the specification's verdict per version, bagit-python's verdict per version, DIFFERS per version)
CASES: dict[str, tuple[Callable[[str], Bag], dict[str, str], dict[str, str], dict[str, str]]] = {
    # A bag as each version's tools wrote it.
    "well-formed bag": (lambda v: Bag(v), ALL_V, ALL_V, {}),
    # RFC 8493 §2.1.3: "If a filepath includes a Line Feed (LF), a Carriage Return (CR), a Carriage-Return Line
    # Feed (CRLF), or a percent sign (%), those characters (and only those) MUST be percent-encoded".
    # 0.96/0.97 define no encoding; %0A/%0D are what their tools (bagit-python among them) wrote for line breaks.
    "%0A for a line feed in a name": (with_file("data/two\nlines.txt", b"x", "data/two%0Alines.txt"),
                                      ALL_V, ALL_V, {}),
    "%25 for a '%' in a name": (
        with_file("data/100%.txt", b"full", "data/100%25.txt"), per_version(W, V), ALL_X,
        {v: "bagit-python 1.9 never decodes %25 (LibraryOfCongress/bagit-python#157); 1.0 requires it" if v == "1.0"
         else "0.9x define no %25; only the decoded name is in the bag, so we read it so, with a warning"
         for v in VERSIONS}),
    "'%' left unencoded": (
        with_file("data/100%.txt", b"full"), per_version(V, X), ALL_V,
        {"1.0": "RFC 8493 §2.1.3: a '%' MUST be written %25; bagit-python does not check"}),
    "%20 for a space (an older tool's URL-encoding)": (
        with_file("data/a b.txt", b"sp", "data/a%20b.txt"), per_version(W, X), ALL_X,
        {"0.96": "0.9x name is free text; only the decoded name exists, so we read it so, with a warning",
         "0.97": "0.9x name is free text; only the decoded name exists, so we read it so, with a warning"}),
    # RFC 8493 §2.1.3: "filepath is the pathname of a file relative to the base directory"; tools run inside the
    # bag (md5deep, find) wrote ./data/…. Read relative to the bag in every version, with a warning in 1.0.
    "./data/ prefix on every path": (
        lambda v: Bag(v, listed={rel: f"./{rel}" for rel in BASE}), per_version(V, W), ALL_V,
        {"1.0": "we warn that RFC 8493 writes paths without './'; bagit-python normalizes silently"}),
    # RFC 8493, Legacy checksum tools: md5sum's binary mode writes an asterisk before the filepath; implementers
    # "MAY wish to accept this format by ignoring a leading asterisk ... but, if so, implementations MUST warn the
    # user that the bag in question will fail strict validation". So: a warning for the bags such tools made
    # (before 1.0), invalid in 1.0, whose §2.1.3 line is checksum, whitespace, filepath.
    "md5sum '*' binary marker": (
        lambda v: Bag(v, listed={rel: f"*{rel}" for rel in BASE}), per_version(W, X), ALL_V,
        {v: "we warn on the md5sum marker bagit-python strips silently" if v != "1.0" else
         "RFC 8493 §2.1.3 has no '*' marker; bagit-python strips it in every version" for v in VERSIONS}),
    # RFC 8493 §2.1.3: "Every payload manifest MUST list every payload file name exactly once"; new in 1.0.
    "path listed twice, same digest": (
        lambda v: Bag(v, extra_lines=["{digest}  data/a.txt"]), per_version(W, X), per_version(W, X), {}),
    "path listed twice, different digests": (
        lambda v: Bag(v, extra_lines=[f"{'0' * len(digest(v, b''))}  data/a.txt"]), ALL_X, ALL_X, {}),
    # RFC 8493, Practical Considerations (non-normative), Filename normalization: implementations "SHOULD
    # discourage the creation of bags containing files which differ only in case" and "SHOULD prevent ... files
    # which differ only in normalization form". Nothing forbids them in a received bag: valid, with a warning.
    "NFC/NFD twins": (
        lambda v: Bag(v, files={**BASE, NFC: b"nfc", NFD: b"nfd"}), ALL_W, ALL_X,
        {v: "bagit-python keys files by NFC name, so one twin looks unlisted: it fails a bag no version forbids"
         for v in VERSIONS}),
    "case-only twins": (lambda v: Bag(v, files={**BASE, "data/Page.txt": b"P", "data/page.txt": b"p"}),
                        ALL_W, ALL_V, {v: "bagit-python does not look for case collisions" for v in VERSIONS}),
    "Thumbs.db in the payload": (with_file("data/Thumbs.db", b"thumbs"), ALL_W, ALL_V,
                                 {v: "bagit-python does not look for system files" for v in VERSIONS}),
    ".DS_Store in the payload": (with_file("data/sub/.DS_Store", b"ds"), ALL_W, ALL_V,
                                 {v: "bagit-python does not look for system files" for v in VERSIONS}),
    # RFC 8493 §2.1.1: bagit.txt is "BagIt-Version: M.N" (ABNF: "BagIt-Version: " 1*DIGIT "." 1*DIGIT);
    # §2.2.2: a label "MUST NOT start or end with whitespace", but implementations "MUST accept multiple linear
    # whitespace before and after the colon when the bag version is earlier than 1.0".
    "'BagIt-Version : M.N' (space before the colon)": (
        lambda v: Bag(v, declaration=f"BagIt-Version : {v}\nTag-File-Character-Encoding: UTF-8\n"),
        per_version(V, X), ALL_V, {"1.0": "RFC 8493 §2.1.1 fixes the line's form; bagit-python strips the label"}),
    # RFC 8493 §2.1.1: the bag declaration "MUST NOT contain a byte-order mark (BOM)"; a 1.0 rule (warning before).
    "byte-order mark in bagit.txt": (lambda v: Bag(v, bom="bagit.txt"), per_version(W, X), ALL_X,
                                     {v: "0.9x do not forbid a BOM; bagit-python applies 1.0's rule to every version"
                                      for v in ("0.96", "0.97")}),
    # RFC 8493 §2.3: "when bagit.txt specifies UTF-8 the tag files MUST NOT begin with a byte-order mark".
    "byte-order mark in the payload manifest": (lambda v: Bag(v, bom="manifest"), per_version(W, X),
                                                per_version(W, W), {"1.0": "bagit-python only logs a warning"}),
    # RFC 8493 §2.2.2: a label "MUST NOT start or end with whitespace"; implementations "MUST accept multiple
    # linear whitespace before and after the colon when the bag version is earlier than 1.0".
    "bag-info.txt label with a space before the colon": (
        lambda v: Bag(v, info="Source-Organization : Test Library\n"), per_version(V, X), ALL_V,
        {"1.0": "bagit-python strips the label in every version"}),
    # RFC 8493 §3: "For BagIt 1.0, every payload file MUST be listed in every payload manifest. Note that older
    # versions of BagIt allowed payload files to be listed in just one of the manifests."
    "payload file in one of two manifests": (lambda v: Bag(v, second_manifest=True), per_version(V, X), ALL_V,
                                             {"1.0": "bagit-python checks the union of the manifests"}),
    # RFC 8493 §2.3: lines end in LF, CR or CRLF. The drafts read a "line" the same way.
    "CRLF line endings": (lambda v: Bag(v, newline="\r\n"), ALL_V, ALL_V, {}),
    "CR line endings": (lambda v: Bag(v, newline="\r"), ALL_V, ALL_V, {}),
    # RFC 8493 §2.1.1: "ENCODING SHOULD be UTF-8 but for backwards compatibility it MAY be any other encoding".
    "Tag-File-Character-Encoding ISO-8859-1": (
        lambda v: Bag(v, encoding="ISO-8859-1", info="Source-Organization: Bibliothèque\n"), ALL_W, ALL_V,
        {v: "we warn that UTF-8 is recommended; bagit-python accepts silently" for v in VERSIONS}),
    # RFC 8493 §3: complete = "Every file listed in every payload manifest MUST be present"; we never fetch.
    "fetch.txt file not fetched": (
        lambda v: Bag(v, fetch="https://example.org/b.bin 1024 data/sub/b.bin\n", missing=("data/sub/b.bin",)),
        ALL_X, ALL_X, {}),
    # RFC 8493 §3: valid = "every checksum in every payload manifest and tag manifest has been successfully
    # verified". A tag manifest in a 0.96 bag lists checksums like any other manifest.
    "tag manifest mismatch": (
        lambda v: Bag(v, after=lambda bag: (bag / "bag-info.txt").write_bytes(
            (bag / "bag-info.txt").read_bytes() + b"Contact-Name: changed\n")),
        ALL_X, per_version(X, X) | {"0.96": V},
        {"0.96": "bagit-python reads tag manifests from 0.97 on; a 0.96 tag manifest that lists a file is a "
                 "checksum like any other"}),
    # RFC 8493 §2.2.2: Payload-Oxum is "OctetCount.StreamCount" of the payload, "for the purpose of quickly
    # detecting incomplete bags"; a mismatch means the payload is not what was bagged.
    "Payload-Oxum mismatch": (lambda v: Bag(v, oxum_delta=1), ALL_X, ALL_X, {}),
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", list(CASES))
def test_case_table(tmp_path, name, version):
    build, spec, theirs, differs = CASES[name]
    bag = write(tmp_path, build(version))

    assert ours(bag) == spec[version], [str(p) for p in check_bag(bag).problems]
    assert bagit_python(bag) == theirs[version]
    assert (theirs[version] == spec[version]) != (version in differs), "a DIFFERS entry exactly where we differ"


def test_every_rule_is_covered_for_every_version():
    for name, (_, spec, theirs, _) in CASES.items():
        assert set(spec) == set(theirs) == set(VERSIONS), name


def test_the_docs_table_mirrors_the_cases():
    docs = (Path(__file__).parents[2] / "docs/audit.md").read_text(encoding="utf-8")
    section = docs.partition("## Bags of every BagIt version")[2]
    for name, (_, spec, theirs, _) in CASES.items():
        row = next((line for line in section.splitlines() if line.startswith(f"| {name} |")), None)
        assert row is not None, name
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1:4] == [spec[v] for v in VERSIONS], name
        assert cells[4:7] == [theirs[v] for v in VERSIONS], name


def test_old_bag_warnings_name_file_and_rule(tmp_path):
    bag = write(tmp_path, Bag("0.97", listed={rel: f"*{rel}" for rel in BASE}, extra_lines=["{digest}  data/a.txt"]))
    result = check_bag(bag)
    assert result.valid and result.version == "0.97"
    assert sorted((p.path, p.code) for p in result.warnings) == [
        ("manifest-md5.txt", "duplicate-entry"), ("manifest-md5.txt", "md5sum-marker"),
        ("manifest-md5.txt", "md5sum-marker")]


def test_package_info_is_the_info_file_before_0_96(tmp_path):
    bag = write(tmp_path, Bag("0.96", oxum_delta=1))
    (bag / "bag-info.txt").rename(bag / "package-info.txt")
    (bag / "bagit.txt").write_text("BagIt-Version: 0.95\nTag-File-Character-Encoding: UTF-8\n", encoding="utf-8")
    assert [(p.path, p.code) for p in check_bag(bag).errors if p.code.startswith("oxum")] == [
        ("package-info.txt", "oxum-mismatch")]


def audit(tmp_path: Path, bag: Path):
    home = tmp_path / "home"
    config = write_config(tmp_path / "storage.toml", fs_location("primary", home / "primary"))
    return CliRunner().invoke(cli.cli, ["--home", str(home), "audit", "--bag", str(bag), "--workers", "2"],
                              env={"SHUYING_STORAGE_CONFIG": str(config)})


def test_cli_warning_only_bag_exits_0_with_warnings_on_stderr(tmp_path):
    bag = write(tmp_path, Bag("0.97", files={**BASE, "data/Thumbs.db": b"t"}, listed={"data/a.txt": "*data/a.txt"}))

    result = audit(tmp_path, bag)

    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "data/Thumbs.db: is an operating-system file (Thumbs.db, .DS_Store, desktop.ini) in the payload; probably "
        "not meant to be preserved (warning) [system-file]",
        "manifest-md5.txt: line 1: '*data/a.txt' has md5sum's '*' binary marker, read as a path without it "
        "(BagIt 0.97 manifests follow md5sum output) (warning) [md5sum-marker]"]
    assert result.stdout.strip().endswith("(BagIt 0.97)") and "valid, 2 warnings" in result.stdout


def test_cli_invalid_bag_exits_1_listing_every_problem(tmp_path):
    bag = write(tmp_path, Bag("1.0", declaration="BagIt-Version : 1.0\nTag-File-Character-Encoding: UTF-8\n",
                              oxum_delta=1, files={**BASE, "data/100%.txt": b"x"}))

    result = audit(tmp_path, bag)

    assert result.exit_code == 1, result.output
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == [
        "bag-info.txt", "bagit.txt", "manifest-sha256.txt"]
    assert "NOT valid: 3 errors" in result.stdout and "(BagIt 1.0, RFC 8493)" in result.stdout
