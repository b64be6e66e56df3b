"""Check any bag on disk by its BagIt version's rules (RFC 8493 for 1.0) and list every problem, not just the first.

The rules that changed between the drafts (0.93–0.97) and 1.0 live in
pipeline/bagit_versions.py; this module applies the ones every version shares.

``shuying audit --bag PATH`` runs this on a bag received from elsewhere. It agrees with
bagit-python (the Library of Congress's reference) on which bags are valid, except
where bagit-python departs from the RFC; those cases are listed in docs/audit.md and
tested: bagit-python 1.9 does not decode ``%25`` (#157), accepts an unencoded ``%``,
ignores manifest lines it cannot parse, and stops at the first unsafe path. Every
payload and tag file is read once, with all the algorithms that list it, files in
parallel threads (see pipeline.fixity.hash_stream). Files listed in fetch.txt but not in
the bag are one problem line however many there are, and every one of them is kept in
``BagCheck.unfetched`` so that workflows/audit_holey.py can look up our own versions'
entries in storage (:func:`with_resolution`); nothing here ever fetches a URL.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipeline.bagit_versions import (
    Rules,
    check_declaration,
    name_problems,
    parse_manifest,
    tag_file_rules,
)
from pipeline.fixity import HASH_BLOCK, RateLimiter, hash_stream
from pipeline.fixity_text import (
    DIGEST_LENGTHS,
    BagProblem,
    FetchEntry,
    Severity,
    decode_tag_file,
    manifest_algorithm,
    parse_fetch,
    parse_oxum,
    parse_tags,
    path_danger,
)

PAYLOAD = "data/"
WEAK_ALGORITHMS = ("md5", "sha1")
INCOMPLETE = "the bag is incomplete (RFC 8493 §3)"
NOT_REPEATED = ("Bagging-Date", "Bag-Size", "Payload-Oxum", "Bag-Group-Identifier", "Bag-Count")


@dataclass(frozen=True)
class PendingFetch:
    """A fetch.txt entry whose file is not in the bag, with what every payload manifest says it holds."""

    url: str
    length: int | None
    path: str
    digests: Mapping[str, str]  # algorithm → digest


@dataclass(frozen=True)
class ResolvedFetch:
    """A fetch.txt entry found, with matching digests, in one of our storage locations (not fetched)."""

    path: str
    url: str
    location: str


@dataclass(frozen=True)
class BagCheck:
    """Everything found wrong with one bag, and every fetch.txt entry not in it (a problem line sums them up)."""

    bag: Path
    problems: tuple[BagProblem, ...]
    files_checked: int = 0
    bytes_checked: int = 0
    unfetched: tuple[PendingFetch, ...] = ()  # neither in the bag nor resolved from storage
    resolved: tuple[ResolvedFetch, ...] = ()
    unresolved: tuple[tuple[str, str], ...] = ()  # (path, why) for our own entries storage could not satisfy
    version: str = "1.0"  # the rules the bag was judged by (its declared BagIt-Version)

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> tuple[BagProblem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[BagProblem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.WARNING)


@dataclass(frozen=True)
class _Contents:
    """What the bag's tag files say."""

    payload_manifests: Mapping[str, Mapping[str, str]]  # algorithm → path → digest
    tag_manifests: Mapping[str, Mapping[str, str]]
    fetch: tuple[FetchEntry, ...]
    info: tuple[tuple[str, str], ...]
    info_name: str = "bag-info.txt"  # package-info.txt before BagIt 0.96


def check_bag(bag: Path, *, workers: int = 1, limiter: RateLimiter | None = None,
              on_bytes: Callable[[int], None] | None = None) -> BagCheck:
    """Check the bag at ``bag`` (§3: complete and valid) by its declared version's rules; return every problem."""
    bag = Path(bag)
    if not bag.is_dir():
        return BagCheck(bag, (BagProblem("", "bag-missing", f"{bag} is not a folder"),))
    present, problems = _inventory(bag)
    rules, encoding, declaration = check_declaration(bag)
    contents, text_problems = _read_contents(bag, present, encoding, rules)
    problems += declaration + text_problems + _structure(bag, contents, rules) + name_problems(present)
    problems += _path_problems(contents) + _completeness(contents, present, rules)
    problems += _fetch_problems(contents, present)
    problems += _info_problems(contents, present, rules)
    fixity, files, size = _verify(bag, contents, present, workers, limiter, on_bytes)
    return BagCheck(bag, _ordered(problems + fixity), files, size, _pending(contents, present), version=rules.label)


def with_resolution(check: BagCheck, resolved: Sequence[ResolvedFetch], unresolved: Mapping[str, str]) -> BagCheck:
    """Return ``check`` once storage has been asked about some of its unfetched entries.

    A resolved entry is no longer a problem; an unresolved one is named with the reason
    (entries sharing one reason, such as an unknown item, make one line); the rest stay
    "not fetched". Nothing is ever fetched: the caller only read its own storage.
    """
    settled = {r.path for r in resolved} | set(unresolved)
    left = tuple(p for p in check.unfetched if p.path not in settled)
    kept = [p for p in check.problems if p.code != "not-fetched"]
    problems = kept + not_fetched_problems([p.path for p in left]) + _unresolved_problems(unresolved)
    return BagCheck(check.bag, _ordered(problems), check.files_checked, check.bytes_checked, left,
                    tuple(sorted(resolved, key=lambda r: r.path)), tuple(sorted(unresolved.items())), check.version)


def not_fetched_problems(paths: Sequence[str]) -> list[BagProblem]:
    """One problem for any number of unfetched files (a real holey bag lists hundreds), naming the first."""
    if len(paths) <= 1:
        return [BagProblem(p, "not-fetched", f"is listed in fetch.txt but not yet fetched: {INCOMPLETE}")
                for p in paths]
    return [BagProblem("fetch.txt", "not-fetched", f"{len(paths)} files listed are not fetched: {INCOMPLETE}; "
                                                   f"first: {sorted(paths)[0]}")]


def _unresolved_problems(unresolved: Mapping[str, str]) -> list[BagProblem]:
    """Name each entry storage could not satisfy; entries with the very same reason make one line."""
    by_reason: dict[str, list[str]] = {}
    for path, why in sorted(unresolved.items()):
        by_reason.setdefault(why, []).append(path)
    return [BagProblem(paths[0], "fetch-unresolved", f"is listed in fetch.txt; no intact copy in our storage: {why}")
            if len(paths) == 1 else
            BagProblem("fetch.txt", "fetch-unresolved", f"{len(paths)} files listed have no intact copy in our "
                                                        f"storage: {why}; first: {paths[0]}")
            for why, paths in by_reason.items()]


def _ordered(problems: list[BagProblem]) -> tuple[BagProblem, ...]:
    return tuple(sorted(dict.fromkeys(problems), key=lambda p: (p.path, p.code, p.message)))


def _pending(contents: _Contents, present: Mapping[str, int]) -> tuple[PendingFetch, ...]:
    """Every fetch.txt entry not in the bag (as _completeness counts them), with its manifest digests."""
    entries = {e.path: e for e in contents.fetch if not (e.path.startswith(PAYLOAD) and e.path in present)}
    return tuple(PendingFetch(e.url, e.length, path, _digests_of(contents, path))
                 for path, e in sorted(entries.items()))


def _digests_of(contents: _Contents, path: str) -> dict[str, str]:
    return {algorithm: entries[path] for algorithm, entries in sorted(contents.payload_manifests.items())
            if path in entries}


def _inventory(bag: Path) -> tuple[dict[str, int], list[BagProblem]]:
    """Return the size of every regular file in the bag (relative POSIX paths), and unsafe entries."""
    present: dict[str, int] = {}
    problems = []
    root = os.path.realpath(bag)
    for folder, dirs, files in os.walk(bag):
        for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]):
            full = os.path.join(folder, name)
            rel = Path(full).relative_to(bag).as_posix()
            info = os.lstat(full)
            if stat.S_ISLNK(info.st_mode):
                target = os.path.realpath(full)
                if os.path.commonpath([root, target]) != root:
                    problems.append(BagProblem(rel, "path-dangerous", "is a symbolic link to outside the bag"))
                    continue
                problems.append(BagProblem(rel, "symlink", "is a symbolic link (copies may not keep it)",
                                           Severity.WARNING))
                info = os.stat(full)
            if stat.S_ISREG(info.st_mode):
                present[rel] = info.st_size
            elif not stat.S_ISDIR(info.st_mode):
                problems.append(BagProblem(rel, "not-a-file", "is not a regular file"))
    return present, problems


def _read_contents(bag: Path, present: Mapping[str, int], encoding: str,
                   rules: Rules) -> tuple[_Contents, list[BagProblem]]:
    payload: dict[str, dict[str, str]] = {}
    tags: dict[str, dict[str, str]] = {}
    problems: list[BagProblem] = []
    for name in sorted(present):
        kind_algorithm = manifest_algorithm(name)
        if kind_algorithm is None:
            continue
        kind, algorithm = kind_algorithm
        text, read_problems = decode_tag_file(name, (bag / name).read_bytes(), encoding)
        entries, parse_problems = parse_manifest(name, text, algorithm, rules, present)
        (payload if kind == "manifest" else tags)[algorithm] = entries
        problems += read_problems + parse_problems
    fetch: list[FetchEntry] = []
    info: list[tuple[str, str]] = []
    if "fetch.txt" in present:
        text, read_problems = decode_tag_file("fetch.txt", (bag / "fetch.txt").read_bytes(), encoding)
        fetch, parse_problems = parse_fetch("fetch.txt", text)
        problems += read_problems + parse_problems
    if rules.info_file in present:
        text, read_problems = decode_tag_file(rules.info_file, (bag / rules.info_file).read_bytes(), encoding)
        info, parse_problems = parse_tags(rules.info_file, text)
        problems += read_problems + parse_problems
    return _Contents(payload, tags, tuple(fetch), tuple(info), rules.info_file), tag_file_rules(problems, rules,
                                                                                                encoding)


def _structure(bag: Path, contents: _Contents, rules: Rules) -> list[BagProblem]:
    problems = []
    if not (bag / "data").is_dir():
        problems.append(BagProblem("data", "data-missing", "payload folder missing (RFC 8493 §2.1.2)"))
    if not contents.payload_manifests:
        problems.append(BagProblem("", "manifest-missing", "no payload manifest (manifest-<algorithm>.txt, "
                                                           "RFC 8493 §2.1.3)"))
    for kind, manifests in (("manifest", contents.payload_manifests), ("tagmanifest", contents.tag_manifests)):
        for algorithm in sorted(manifests):
            name = f"{kind}-{algorithm}.txt"
            if algorithm not in DIGEST_LENGTHS or algorithm not in hashlib.algorithms_available:
                problems.append(BagProblem(name, "manifest-algorithm", f"unsupported algorithm {algorithm!r}; "
                                           "its checksums cannot be verified"))
            elif algorithm in WEAK_ALGORITHMS and rules.rfc:  # md5 was the drafts' own example
                problems.append(BagProblem(name, "manifest-algorithm", f"{algorithm} is no longer recommended "
                                           "(RFC 8493 §2.4: use sha512 or sha256)", Severity.WARNING))
    return problems


def _path_problems(contents: _Contents) -> list[BagProblem]:
    problems = []
    for kind, manifests in (("manifest", contents.payload_manifests), ("tagmanifest", contents.tag_manifests)):
        for algorithm, entries in sorted(manifests.items()):
            name = f"{kind}-{algorithm}.txt"
            for path in sorted(entries):
                danger = path_danger(path)
                if danger:
                    problems.append(BagProblem(name, "path-dangerous", f"{path!r} {danger}"))
                elif kind == "manifest" and not path.startswith(PAYLOAD):
                    problems.append(BagProblem(name, "path-outside-payload", f"{path!r} is not under data/"))
                elif kind == "tagmanifest" and path.startswith(PAYLOAD):
                    problems.append(BagProblem(name, "path-outside-payload", f"{path!r} is a payload file; "
                                               "tag manifests list tag files only"))
    problems += [BagProblem("fetch.txt", "path-dangerous", f"{e.path!r} {path_danger(e.path)}")
                 for e in contents.fetch if path_danger(e.path)]
    return problems


def _completeness(contents: _Contents, present: Mapping[str, int], rules: Rules) -> list[BagProblem]:
    """§3: every listed file present; every payload file in every payload manifest (in 1.0; in one before)."""
    problems = []
    on_disk = {p for p in present if p.startswith(PAYLOAD)}
    fetched = {e.path for e in contents.fetch}
    listed_anywhere = set().union(*contents.payload_manifests.values()) if contents.payload_manifests else set()
    if not rules.rfc:  # RFC 8493 §3: "older versions of BagIt allowed payload files to be listed in just one"
        problems += [BagProblem(p, "not-in-manifest", "is in the payload but in no payload manifest")
                     for p in sorted((on_disk | fetched) - listed_anywhere)]
    for algorithm, entries in sorted(contents.payload_manifests.items()):
        name = f"manifest-{algorithm}.txt"
        problems += [BagProblem(p, "not-in-manifest", f"is in the payload but not in {name}")
                     for p in sorted((on_disk | fetched) - set(entries)) if rules.rfc]
        problems += [BagProblem(p, "missing-file", f"is in {name} but missing")
                     for p in sorted(set(entries) - on_disk - fetched) if not path_danger(p)]
    problems += not_fetched_problems(sorted(fetched - on_disk))
    tag_files = {p for p in present if not p.startswith(PAYLOAD) and not p.startswith("tagmanifest-")}
    for algorithm, entries in sorted(contents.tag_manifests.items()):
        name = f"tagmanifest-{algorithm}.txt"
        problems += [BagProblem(p, "missing-file", f"is in {name} but missing")
                     for p in sorted(set(entries) - set(present)) if not path_danger(p)]
        problems += [_unlisted_tag_file(p, name, rules) for p in sorted(tag_files - set(entries))]
    return problems


def _unlisted_tag_file(path: str, tagmanifest: str, rules: Rules) -> BagProblem:
    """RFC 8493 §2.2.1: a tag manifest MUST list every payload manifest and SHOULD list the other tag files."""
    if rules.rfc and manifest_algorithm(path) is not None:
        return BagProblem(path, "tag-file-unlisted", f"is a payload manifest not listed in {tagmanifest} "
                                                     "(RFC 8493 §2.2.1: each tag manifest lists every one)")
    return BagProblem(path, "tag-file-unlisted", f"is a tag file not listed in {tagmanifest}", Severity.WARNING)


def _fetch_problems(contents: _Contents, present: Mapping[str, int]) -> list[BagProblem]:
    listed = set().union(*(set(e) for e in contents.payload_manifests.values())) if contents.payload_manifests else set()
    problems = []
    for entry in contents.fetch:
        if not entry.path.startswith(PAYLOAD):
            problems.append(BagProblem("fetch.txt", "fetch-tag-file", f"{entry.path!r} is not a payload file"))
        elif entry.path not in listed:
            problems.append(BagProblem(entry.path, "fetch-not-in-manifest", "is in fetch.txt but in no payload "
                                                                            "manifest (RFC 8493 §2.2.3)"))
        if entry.path in present and entry.length is not None and present[entry.path] != entry.length:
            problems.append(BagProblem(entry.path, "fetch-length", f"is {present[entry.path]} bytes; fetch.txt "
                                                                   f"says {entry.length}"))
    return problems


def _info_problems(contents: _Contents, present: Mapping[str, int], rules: Rules) -> list[BagProblem]:
    problems = []
    labels = [label for label, _ in contents.info]
    for label in NOT_REPEATED:
        if labels.count(label) > 1:
            must = rules.rfc and label == "Payload-Oxum"  # RFC 8493 §2.2.2: "MUST NOT be repeated"
            problems.append(BagProblem(contents.info_name, "tag-repeated", f"{label} appears {labels.count(label)} "
                                       f"times; it {'must' if must else 'should'} appear once (RFC 8493 §2.2.2)",
                                       Severity.ERROR if must else Severity.WARNING))
    values = dict(contents.info)
    date = values.get("Bagging-Date")
    if date is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        problems.append(BagProblem(contents.info_name, "bagging-date", f"Bagging-Date {date!r} is not YYYY-MM-DD",
                                   Severity.WARNING))
    oxum = [value for label, value in contents.info if label == "Payload-Oxum"]
    return problems + [p for value in dict.fromkeys(oxum) for p in _oxum_problems(value, contents, present)]


def _oxum_problems(value: str, contents: _Contents, present: Mapping[str, int]) -> list[BagProblem]:
    parsed = parse_oxum(value)
    if parsed is None:
        return [BagProblem(contents.info_name, "oxum-format", f"Payload-Oxum {value!r} is not <octets>.<files>")]
    payload = {p: s for p, s in present.items() if p.startswith(PAYLOAD)}
    pending = [e for e in contents.fetch if e.path not in payload]
    if any(e.length is None for e in pending):
        return []  # an unfetched file of unknown length: nothing to compare yet
    octets = sum(payload.values()) + sum(e.length or 0 for e in pending)
    files = len(payload) + len({e.path for e in pending})
    if (octets, files) == parsed:
        return []
    return [BagProblem(contents.info_name, "oxum-mismatch", f"Payload-Oxum {value} but the payload is "
                                                        f"{octets}.{files} ({octets} bytes in {files} files)")]


def _verify(bag: Path, contents: _Contents, present: Mapping[str, int], workers: int,
            limiter: RateLimiter | None, on_bytes: Callable[[int], None] | None,
            ) -> tuple[list[BagProblem], int, int]:
    """Hash every present, listed file once with every algorithm that lists it; report mismatches."""
    wanted: dict[str, dict[str, str]] = {}
    for manifests in (contents.payload_manifests, contents.tag_manifests):
        for algorithm, entries in manifests.items():
            if algorithm in DIGEST_LENGTHS and algorithm in hashlib.algorithms_available:
                for path, digest in entries.items():
                    if path in present and not path_danger(path):
                        wanted.setdefault(path, {})[algorithm] = digest
    jobs = sorted(wanted, key=lambda p: -present[p])  # largest first: the last thread finishes soonest

    def check(path: str) -> list[BagProblem]:
        return _check_file(bag, path, wanted[path], limiter, on_bytes)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        problems = [p for found in pool.map(check, jobs) for p in found]
    return problems, len(jobs), sum(present[p] for p in jobs)


def _check_file(bag: Path, path: str, expected: Mapping[str, str], limiter: RateLimiter | None,
                on_bytes: Callable[[int], None] | None) -> list[BagProblem]:
    algorithms = sorted(expected)
    try:
        with open(bag / path, "rb", buffering=0) as stream:
            found = hash_stream(stream, algorithms, buffer=bytearray(HASH_BLOCK), limiter=limiter,
                                on_bytes=on_bytes)
    except OSError as exc:
        return [BagProblem(path, "unreadable", f"cannot be read: {exc.strerror or exc}")]
    return [BagProblem(path, "checksum-mismatch", f"{name} validation failed: expected=\"{expected[name]}\" "
                                                  f"found=\"{found.digests[name]}\"")
            for name in algorithms if found.digests[name] != expected[name]]
