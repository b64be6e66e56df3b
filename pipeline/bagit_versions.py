"""Judge a bag by the rules of the BagIt version it declares (0.93–0.97 drafts, 1.0 = RFC 8493).

A library receives bags from other institutions and from its own older tools, so a 0.97
bag must not be failed for what 0.97 allowed: literal '%' in names, ``./data/…`` paths,
md5sum's ``*`` binary marker, a path listed twice with the same digest, whitespace around
the colon in bagit.txt. RFC 8493 tightened each of these; a 1.0 bag is held to them.
Interoperability hazards that every version allows (Unicode-normalization twins, names
differing only in case, Thumbs.db/.DS_Store) are warnings. The case table in
tests/audit/test_bag_versions.py and docs/audit.md ("Bags of every BagIt version") quotes
the rule behind each verdict.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from pipeline.fixity_text import (
    DIGEST_LENGTHS,
    BagProblem,
    Severity,
    decode_path,
    decode_tag_file,
    split_lines,
)

RFC = (1, 0)
KNOWN = {(0, 93), (0, 94), (0, 95), (0, 96), (0, 97), (1, 0)}
SYSTEM_FILES = {"thumbs.db", ".ds_store", "desktop.ini"}
_MANIFEST_LINE = re.compile(r"^(\S+)[ \t]+(.*)$")
_STRICT_DECLARATION = (re.compile(r"BagIt-Version: \d+\.\d+"), re.compile(r"Tag-File-Character-Encoding: \S.*"))
_LEGACY_PERCENT = re.compile(r"%(0[dDaA])")


@dataclass(frozen=True)
class Rules:
    """The declared version, and what follows from it; the rules that changed at 1.0 ask ``rfc``."""

    version: tuple[int, int]
    label: str  # "0.97", "1.0"

    @property
    def rfc(self) -> bool:
        return self.version >= RFC

    @property
    def info_file(self) -> str:
        return "package-info.txt" if self.version < (0, 96) else "bag-info.txt"  # renamed in 0.96


def rules_for(version: tuple[int, int]) -> Rules:
    return Rules(version, ".".join(map(str, version)))


def check_declaration(bag: Path) -> tuple[Rules, str, list[BagProblem]]:
    """Read bagit.txt (§2.1.1 in every version); return the version's rules, the tag-file encoding, problems."""
    path = bag / "bagit.txt"
    if not path.is_file():
        return rules_for(RFC), "utf-8", [BagProblem("bagit.txt", "bagit-txt-missing", "missing (RFC 8493 §2.1.1: "
                                                    "every bag starts with a bag declaration)")]
    raw = path.read_bytes()
    text, problems = decode_tag_file("bagit.txt", raw, "utf-8")  # UTF-8 in every version
    lines = split_lines(text)
    values = dict(_loose_tag(line) for line in lines)
    version_text = values.get("BagIt-Version", "")
    version, version_problems = _version(version_text)
    rules = rules_for(version)
    problems = [_bom_rule(p, rules) for p in problems] + version_problems
    labels = [_loose_tag(line)[0] for line in lines]
    if labels != ["BagIt-Version", "Tag-File-Character-Encoding"]:
        problems.append(BagProblem("bagit.txt", "bagit-txt-format", "must be exactly two lines, "
                                   "'BagIt-Version: M.N' then 'Tag-File-Character-Encoding: ENCODING'"))
    elif rules.rfc and not version_problems and not all(p.fullmatch(line) for p, line in zip(_STRICT_DECLARATION, lines)):
        problems.append(BagProblem("bagit.txt", "bagit-txt-format", "RFC 8493 §2.1.1/§2.2.2: each line is "
                                   "'Label: value', one space after the colon and none before it"))
    return rules, _encoding(values.get("Tag-File-Character-Encoding", "UTF-8"), problems), problems


def _loose_tag(line: str) -> tuple[str, str]:
    """'Label : value' as 0.97 allowed ("each separated by optional whitespace"); the strict form is checked apart."""
    label, colon, value = line.partition(":")
    return (label.strip(), value.strip()) if colon else (line, "")


def _version(text: str) -> tuple[tuple[int, int], list[BagProblem]]:
    match = re.fullmatch(r"(\d+)\.(\d+)", text)
    if not match:
        shown = f"BagIt-Version {text!r} is not M.N" if text else "no BagIt-Version"
        return RFC, [BagProblem("bagit.txt", "bagit-version", f"{shown}; judged by RFC 8493 rules")]
    version = (int(match.group(1)), int(match.group(2)))
    if version in KNOWN:
        return version, []
    judged = RFC if version > RFC else max(v for v in KNOWN if v <= version) if version >= (0, 93) else (0, 93)
    return judged, [BagProblem("bagit.txt", "bagit-version", f"BagIt-Version {text} is not a published version; "
                               f"judged by the rules of {'.'.join(map(str, judged))}", Severity.WARNING)]


def _bom_rule(problem: BagProblem, rules: Rules) -> BagProblem:
    """A BOM in bagit.txt: RFC 8493 §2.1.1 says MUST NOT; the drafts only said UTF-8, so a warning there."""
    if problem.code != "bom" or rules.rfc:
        return problem
    return BagProblem("bagit.txt", "bom", f"starts with a byte-order mark (not forbidden by BagIt {rules.label}, "
                                          "but RFC 8493 §2.1.1 forbids it)", Severity.WARNING)


def _encoding(declared: str, problems: list[BagProblem]) -> str:
    try:
        name = codecs.lookup(declared).name
    except LookupError:
        problems.append(BagProblem("bagit.txt", "tag-encoding", f"unknown Tag-File-Character-Encoding "
                                                                f"{declared!r}; tag files read as UTF-8"))
        return "utf-8"
    if name != "utf-8":
        problems.append(BagProblem("bagit.txt", "tag-encoding", f"Tag-File-Character-Encoding {declared}: "
                                   "RFC 8493 §2.1.1 recommends UTF-8", Severity.WARNING))
    return name


def parse_manifest(name: str, text: str, algorithm: str, rules: Rules,
                   present: Collection[str]) -> tuple[dict[str, str], list[BagProblem]]:
    """Return path → digest by the declared version's rules, and every problem (error or warning) found.

    ``present`` (every file in the bag) settles how a pre-1.0 name with '%' is read: those
    drafts defined no percent-encoding, so a literal name on disk wins over a decoded one.
    """
    entries: dict[str, str] = {}
    problems: list[BagProblem] = []
    width = DIGEST_LENGTHS.get(algorithm)
    for number, line in enumerate(split_lines(text), 1):
        match = _MANIFEST_LINE.match(line)
        if not match:
            problems.append(BagProblem(name, "manifest-line", f"line {number}: not '<checksum> <path>': {line!r}"))
            continue
        digest, raw = match.group(1).lower(), match.group(2)
        path, found = read_path(raw, rules, present)
        problems += [BagProblem(name, code, f"line {number}: {raw!r} {why}", severity) for code, why, severity in found]
        if width and (len(digest) != width or any(c not in "0123456789abcdef" for c in digest)):
            problems.append(BagProblem(name, "checksum-format", f"line {number}: {digest!r} is not a {algorithm} "
                                                                f"digest ({width} hex digits)"))
        if path in entries:
            problems.append(_duplicate(name, number, path, entries[path] == digest, rules))
            if entries[path] != digest:
                continue
        entries[path] = digest
    return entries, problems


def _duplicate(name: str, number: int, path: str, same: bool, rules: Rules) -> BagProblem:
    if not same:
        return BagProblem(name, "duplicate-entry", f"line {number}: {path!r} is listed again with another checksum")
    if rules.rfc:
        return BagProblem(name, "duplicate-entry", f"line {number}: {path!r} is listed again (RFC 8493 §2.1.3: "
                                                   "a manifest lists each file once)")
    return BagProblem(name, "duplicate-entry", f"line {number}: {path!r} is listed again with the same checksum "
                                               f"(tolerated in BagIt {rules.label}; RFC 8493 forbids it)",
                      Severity.WARNING)


def read_path(raw: str, rules: Rules, present: Collection[str]) -> tuple[str, list[tuple[str, str, Severity]]]:
    """Turn a manifest's path field into a bag-relative path; list (code, why, severity) for what was undone."""
    found: list[tuple[str, str, Severity]] = []
    if raw.startswith("*"):
        if rules.rfc:
            found.append(("manifest-line", "starts with '*' (md5sum's binary marker), which RFC 8493 §2.1.3 "
                                           "does not allow: the path is read as written", Severity.ERROR))
        else:
            found.append(("md5sum-marker", f"has md5sum's '*' binary marker, read as a path without it "
                                           f"(BagIt {rules.label} manifests follow md5sum output)", Severity.WARNING))
            raw = raw[1:]
    if raw.startswith("./"):
        if rules.rfc:
            found.append(("dot-slash", "starts with './': read relative to the bag (RFC 8493 §2.1.3: a path "
                                       "relative to the base directory, written without it)", Severity.WARNING))
        raw = raw[2:]
    if rules.rfc:
        path, problem = decode_path(raw)
        return path, found + ([("path-encoding", problem, Severity.ERROR)] if problem else [])
    return _legacy_path(raw, rules, present, found)


def _legacy_path(raw: str, rules: Rules, present: Collection[str],
                 found: list[tuple[str, str, Severity]]) -> tuple[str, list[tuple[str, str, Severity]]]:
    """Pre-1.0: %0A/%0D stand for line breaks (as tools wrote them); any other '%' is literal unless only
    the RFC 3986-decoded name exists, which some older tools wrote (a warning)."""
    literal = _LEGACY_PERCENT.sub(lambda m: "\r" if m.group(1).lower() == "0d" else "\n", raw)
    if "%" not in literal or literal in present:
        return literal, found
    decoded = unquote(literal)
    if decoded != literal and decoded in present:
        found.append(("path-encoding", f"is percent-encoded, read as {decoded!r} (BagIt {rules.label} defines no "
                                       "percent-encoding; only the decoded name is in the bag)", Severity.WARNING))
        return decoded, found
    return literal, found


def tag_file_rules(problems: list[BagProblem], rules: Rules, encoding: str) -> list[BagProblem]:
    """Apply the version's rules to what reading the tag files found (a BOM, whitespace around a label)."""
    judged = []
    for problem in problems:
        if problem.code == "bom" and rules.rfc and encoding == "utf-8":
            problem = BagProblem(problem.path, "bom", "starts with a byte-order mark (RFC 8493 §2.3: when bagit.txt "
                                                      "specifies UTF-8 the tag files MUST NOT begin with one)")
        elif problem.code == "path-encoding" and problem.path == "fetch.txt" and not rules.rfc:
            continue  # a '%' in a 0.9x fetch.txt name is literal: those drafts define no percent-encoding
        elif problem.code == "tag-line" and problem.severity is Severity.WARNING:  # whitespace around a label
            if not rules.rfc:
                continue  # RFC 8493 §2.2.2: accepted "when the bag version is earlier than 1.0"
            problem = BagProblem(problem.path, problem.code, f"{problem.message} (RFC 8493 §2.2.2: a label MUST "
                                                             "NOT start or end with whitespace)")
        judged.append(problem)
    return judged


def name_problems(paths: Iterable[str]) -> list[BagProblem]:
    """Warn about payload names that break on other systems; no version forbids them (RFC 8493 recommends a warning)."""
    payload = sorted(p for p in paths if p.startswith("data/"))
    problems = [BagProblem(p, "system-file", "is an operating-system file (Thumbs.db, .DS_Store, desktop.ini) "
                                             "in the payload; probably not meant to be preserved", Severity.WARNING)
                for p in payload if p.rsplit("/", 1)[-1].lower() in SYSTEM_FILES]
    problems += _twins(payload, lambda p: unicodedata.normalize("NFC", p), "unicode-twins",
                       "({this}) differs from {other} only in Unicode normalization: they collide on macOS and in "
                       "tools that normalize (RFC 8493 Practical Considerations: Unicode normalization)")
    problems += _twins(payload, lambda p: unicodedata.normalize("NFC", p).casefold(), "case-twins",
                       "differs from {other} only in case: they collide on Windows and macOS (RFC 8493 Practical "
                       "Considerations: Case sensitivity)", skip_same=lambda p: unicodedata.normalize("NFC", p))
    return problems


def _twins(paths: list[str], key: Callable[[str], str], code: str, template: str,
           skip_same: Callable[[str], str] | None = None) -> list[BagProblem]:
    """Group names that collide under ``key``; warn on every one after the first (naming the first)."""
    groups: dict[str, list[str]] = {}
    for path in paths:
        groups.setdefault(key(path), []).append(path)
    problems = []
    for group in groups.values():
        if skip_same is not None and len({skip_same(p) for p in group}) < 2:
            continue  # only normalization twins: reported once, as such
        problems += [BagProblem(p, code, template.format(this=ascii(p), other=ascii(group[0])), Severity.WARNING)
                     for p in group[1:]]
    return problems
