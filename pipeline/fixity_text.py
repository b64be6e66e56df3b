"""Read the text tag files of a BagIt bag strictly (RFC 8493), reporting every problem rather than the first.

Shared by the strict bag check (pipeline/fixity_bag.py) and the audit's comparison of a
stored bag's tag files with the catalogue (pipeline/fixity.py). Lines end in LF, CR or
CRLF (§2.1.1); ``str.splitlines`` is not used because it also breaks on form feeds and
Unicode separators, which are legal in file names.
"""

from __future__ import annotations

import codecs
import enum
import re
from dataclasses import dataclass
from urllib.parse import urlparse

LINE_BREAK = re.compile(r"\r\n|\r|\n")
_PERCENT = re.compile(r"%(0[dDaA]|25)")
_DRIVE = re.compile(r"^[A-Za-z]:")
DIGEST_LENGTHS = {"md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128}
_DECODED = {"0d": "\r", "0a": "\n", "25": "%"}


class Severity(str, enum.Enum):
    ERROR = "error"  # the bag is not valid (RFC 8493 MUST)
    WARNING = "warning"  # allowed, but a SHOULD is broken or a reader may stumble


@dataclass(frozen=True)
class BagProblem:
    """One problem with one file of a bag (``path`` relative to the bag; ``""`` for the bag itself)."""

    path: str
    code: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        flag = " (warning)" if self.severity is Severity.WARNING else ""
        return f"{self.path or '.'}: {self.message}{flag}"

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "code": self.code, "message": self.message, "severity": self.severity.value}


@dataclass(frozen=True)
class FetchEntry:
    url: str
    length: int | None  # None for "-" (unknown)
    path: str


def decode_tag_file(name: str, raw: bytes, encoding: str) -> tuple[str, list[BagProblem]]:
    """Decode a tag file, reporting a byte-order mark and undecodable bytes; also check its line endings."""
    problems = []
    if raw.startswith(codecs.BOM_UTF8):
        severity = Severity.ERROR if name == "bagit.txt" else Severity.WARNING
        problems.append(BagProblem(name, "bom", "starts with a byte-order mark (RFC 8493 §2.1.1: not allowed "
                                                "in bagit.txt, pointless elsewhere)", severity))
        raw = raw[len(codecs.BOM_UTF8):]
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        problems.append(BagProblem(name, "tag-file-encoding", f"is not valid {encoding} (byte {exc.start}): "
                                                              "declared by Tag-File-Character-Encoding"))
        text = raw.decode(encoding, errors="replace")
    return text, problems + line_ending_problems(name, text)


def line_ending_problems(name: str, text: str) -> list[BagProblem]:
    """Warn about mixed line endings and a missing final line break."""
    endings = {match.group() for match in LINE_BREAK.finditer(text)}
    problems = []
    if len(endings) > 1:
        shown = ", ".join(sorted(repr(e).strip("'") for e in endings))
        problems.append(BagProblem(name, "line-endings", f"mixes line endings ({shown})", Severity.WARNING))
    if text and not text.endswith(("\n", "\r")):
        problems.append(BagProblem(name, "line-endings", "last line has no line break", Severity.WARNING))
    return problems


def split_lines(text: str) -> list[str]:
    """Split on LF, CR or CRLF only; drop the empty piece after a final line break."""
    lines = LINE_BREAK.split(text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def decode_path(raw: str) -> tuple[str, str]:
    """Undo RFC 8493 §2.1.3 percent-encoding; return the path and a problem ("" if none).

    Only %0D, %0A and %25 are defined; any other '%' is ambiguous and reported.
    """
    stray = _PERCENT.sub("", raw)
    problem = ""
    if "%" in stray:
        problem = "has a '%' that is not %25, %0D or %0A (RFC 8493 §2.1.3: write a literal '%' as %25)"
    return _PERCENT.sub(lambda m: _DECODED[m.group(1).lower()], raw), problem


def path_danger(path: str) -> str:
    """Say why ``path`` could reach outside the bag or break on another system ("" when safe)."""
    if not path:
        return "is empty"
    if "\x00" in path:
        return "contains a NUL character"
    if path.startswith(("/", "\\\\")) or _DRIVE.match(path):
        return "is absolute"
    if "\\" in path:
        return "contains a backslash (RFC 8493 separates folders with '/')"
    if path.startswith("~"):
        return "starts with '~' (a home folder)"
    parts = path.split("/")
    if ".." in parts:
        return "contains '..'"
    if "" in parts or "." in parts:
        return "has an empty or '.' folder name"
    return ""


def parse_tags(name: str, text: str) -> tuple[list[tuple[str, str]], list[BagProblem]]:
    """Return (label, value) pairs of a tag file such as bag-info.txt (§2.2.2), folding continuation lines."""
    tags: list[tuple[str, str]] = []
    problems = []
    for number, line in enumerate(split_lines(text), 1):
        if line[:1] in (" ", "\t") and tags:  # §2.2.2: a continuation line starts with linear whitespace
            label, value = tags[-1]
            tags[-1] = (label, f"{value} {line.strip()}")
        elif ":" not in line or not line.partition(":")[0].strip():
            problems.append(BagProblem(name, "tag-line", f"line {number}: not 'Label: value': {line!r}"))
        else:
            label, _, value = line.partition(":")
            if label != label.strip():
                problems.append(BagProblem(name, "tag-line", f"line {number}: label {label!r} has surrounding "
                                                             "whitespace", Severity.WARNING))
            tags.append((label.strip(), value.strip()))
    return tags, problems


def parse_fetch(name: str, text: str) -> tuple[list[FetchEntry], list[BagProblem]]:
    """Return the entries of fetch.txt (§2.2.3: ``url length path``) and every malformed line."""
    entries, problems = [], []
    for number, line in enumerate(split_lines(text), 1):
        fields = line.split(None, 2)
        if len(fields) != 3:
            problems.append(BagProblem(name, "fetch-line", f"line {number}: not '<url> <length> <path>': {line!r}"))
            continue
        url, length, raw = fields
        path, encoding_problem = decode_path(raw)
        if encoding_problem:
            problems.append(BagProblem(name, "path-encoding", f"line {number}: {raw!r} {encoding_problem}"))
        if length != "-" and not length.isdigit():
            problems.append(BagProblem(name, "fetch-line", f"line {number}: length {length!r} is not a number "
                                                           "or '-'"))
        parsed = urlparse(url)
        if not parsed.scheme or not (parsed.netloc or parsed.scheme == "file"):
            problems.append(BagProblem(name, "fetch-url", f"line {number}: {url!r} is not an absolute URL"))
        entries.append(FetchEntry(url, int(length) if length.isdigit() else None, path))
    return entries, problems


def parse_oxum(value: str) -> tuple[int, int] | None:
    """Return (octets, files) of a Payload-Oxum value, or None when malformed."""
    octets, dot, files = value.strip().partition(".")
    if not dot or not octets.isdigit() or not files.isdigit():
        return None
    return int(octets), int(files)


def manifest_algorithm(name: str) -> tuple[str, str] | None:
    """Return ("manifest" or "tagmanifest", algorithm) for a manifest file name, else None."""
    for kind in ("tagmanifest", "manifest"):
        if name.startswith(f"{kind}-") and name.endswith(".txt") and "/" not in name:
            return kind, name[len(kind) + 1:-4]
    return None
