"""Identify a file's format against PRONOM, with the Open Preservation Foundation's fido.

A preservation record names each file's format by its PRONOM identifier (PUID,
e.g. fmt/353 for TIFF), and says which tool and which signature release said so:
:func:`identification_tool` gives both, for the PREMIS agent and the event detail.

fido reads only the first and last ``bufsize`` bytes of a file (128 KiB each), so a
100 MB master costs what a small file does. Its own driver prints every match to
stdout and reports unreadable files on stderr; here its matching methods are called
directly and the matches kept, so nothing is printed and a file that cannot be read
raises :class:`FormatReadError` naming it.

The rules, after fido's and DROID's:

- a signature (or, for ZIP and OLE2 files, container) match wins over the extension;
  among several, fido has already dropped those another has priority over, and the
  first left (signature-file order) is taken;
- the extension alone names a format only when PRONOM gives that format no signature
  (plain text, JSON): a ``.tif`` whose bytes match no TIFF signature is not a TIFF;
- an empty file has no format (fido's own driver would call it RTF, or go by the extension);
- nothing matched: puid "", name "unknown", basis "none". An unknown format never
  raises; deciding whether it is acceptable is the caller's business.

fido also loads its own ``format_extensions.xml`` (as its command line does): it corrects a
few PRONOM signatures (RTF, MP3) and adds formats PRONOM lacks under ``fido-fmt/`` PUIDs,
which :attr:`FileFormat.registry` tells apart.
"""

from __future__ import annotations

import functools
import io
import os
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from xml.etree import ElementTree

from fido import CONFIG_DIR
from fido import __version__ as FIDO_VERSION
from fido.fido import Fido
from fido.package import OlePackage, ZipPackage
from fido.versions import get_local_versions

__all__ = ["FIDO_VERSION", "FileFormat", "FormatReadError", "IdentificationTool", "identification_tool",
           "identify", "identify_bytes"]

_CONTAINERS = {"zip": ("ZIP", ZipPackage), "ole": ("OLE2", OlePackage)}
_LOCK = threading.Lock()  # a Fido instance keeps per-file state (current_file, current_format …)


@dataclass(frozen=True)
class FileFormat:
    """A file's PRONOM format, and what the identification rests on."""

    puid: str  # "fmt/353"; "" when unknown
    name: str  # "Tagged Image File Format"; "unknown"
    version: str  # PRONOM's format version, often ""
    mime: str
    basis: str  # "signature", "container", "extension" or "none"

    @property
    def known(self) -> bool:
        return bool(self.puid)

    @property
    def registry(self) -> str:
        """The registry the PUID belongs to: PRONOM, or fido's own additions (``fido-fmt/python`` …)."""
        if not self.puid:
            return ""
        return "fido" if self.puid.startswith("fido-fmt/") else "PRONOM"


UNKNOWN = FileFormat("", "unknown", "", "", "none")


@dataclass(frozen=True)
class IdentificationTool:
    """The identifying tool and the PRONOM signature release it used (a PREMIS agent)."""

    name: str  # "fido"
    version: str  # "1.6.1"
    pronom_version: str  # "109": the DROID signature file release
    signature_file: str  # "formats-v109.xml"
    container_file: str  # "container-signature-20200121.xml"

    def describe(self) -> str:
        """One line for a PREMIS agent name or an event detail."""
        return (f"{self.name} {self.version} (PRONOM signatures v{self.pronom_version}, "
                f"{self.container_file})")


class FormatReadError(OSError):
    """A file could not be read to identify its format."""

    def __init__(self, path: str | Path, reason: str, errno: int | None = None) -> None:
        super().__init__(errno, f"cannot read {path} to identify its format: {reason}", str(path))

    def __str__(self) -> str:
        return str(self.strerror)


@functools.cache
def identification_tool() -> IdentificationTool:
    """Return fido's version and the signature files it loads (those named in its conf/versions.xml)."""
    versions = get_local_versions(CONFIG_DIR)
    return IdentificationTool("fido", FIDO_VERSION, str(versions.pronom_version), versions.pronom_signature,
                              versions.pronom_container_signature)


def identify(path: Path) -> FileFormat:
    """Identify the format of the file at ``path``.

    Raises:
        FormatReadError: the file cannot be opened or read (missing, a folder, no permission).
    """
    path = Path(path)
    try:
        with path.open("rb") as stream:
            return _identify_stream(stream, os.fstat(stream.fileno()).st_size, path.name)
    except OSError as exc:
        raise FormatReadError(path, exc.strerror or str(exc), exc.errno) from exc


def identify_bytes(name: str, data: bytes) -> FileFormat:
    """Identify content held in memory; ``name`` supplies the extension for formats without a signature."""
    return _identify_stream(io.BytesIO(data), len(data), name)


def _identify_stream(stream: BinaryIO, size: int, name: str) -> FileFormat:
    if size == 0:
        return UNKNOWN  # no bytes, no format (by extension, an empty .tif would be "TIFF/IT")
    with _LOCK:
        fido = _fido()
        matches = _signature_matches(fido, stream, size)
        basis = "signature"
        container = _container_matches(fido, stream, matches)
        if container:
            matches, basis = container, "container"
        if not matches:
            matches, basis = _extension_matches(fido, name), "extension"
    return _format(matches[0][0], basis) if matches else UNKNOWN


def _signature_matches(fido: Fido, stream: BinaryIO, size: int) -> list[tuple[ElementTree.Element, str]]:
    """Match fido's signatures against the first and last ``bufsize`` bytes."""
    fido.current_filesize = size
    bof, eof, _ = fido.get_buffers(stream, size, seekable=True)
    return fido.match_formats(bof, eof)


def _container_matches(fido: Fido, stream: BinaryIO, matches: list) -> list[tuple[ElementTree.Element, str]]:
    """Look inside a ZIP or OLE2 file for what it holds (a DOCX, an EPUB …); [] if nothing more specific."""
    kind = fido.container_type(matches)
    if kind not in _CONTAINERS:
        return []
    signature_type, package = _CONTAINERS[kind]
    stream.seek(0)
    try:
        return fido.match_container(signature_type, package, stream, _container_signatures())
    except (zipfile.BadZipFile, OSError, ValueError, KeyError):
        return []  # a damaged container keeps its plain ZIP/OLE2 identification


def _extension_matches(fido: Fido, name: str) -> list[tuple[ElementTree.Element, str]]:
    """Formats named by the extension that PRONOM gives no signature (so the bytes cannot contradict them)."""
    extension = os.path.splitext(name)[1].lower().lstrip(".")
    if not extension:
        return []
    # Not fido.match_extensions: it first drops fmt/817 JSON for Tweet JSON, whose signature did not match.
    found = [(element, "External") for element in fido.formats if not fido.get_signatures(element)
             and extension in (e.text for e in element.findall("extension"))]
    return [match for match in found if fido.as_good_as_any(match[0], found)]


def _format(element: ElementTree.Element, basis: str) -> FileFormat:
    return FileFormat(element.findtext("puid") or "", element.findtext("name") or "unknown",
                      element.findtext("version") or "", element.findtext("mime") or "", basis)


@functools.cache
def _fido() -> Fido:
    """Load the signatures once per process (about 0.2 s); every call shares the instance, under the lock."""
    tool = identification_tool()
    versions = get_local_versions(CONFIG_DIR)
    return Fido(quiet=True, format_files=[tool.signature_file, versions.fido_extension_signature],
                handle_matches=_ignore_matches, conf_dir=CONFIG_DIR)


@functools.cache
def _container_signatures() -> ElementTree.ElementTree[ElementTree.Element]:
    return ElementTree.parse(Path(CONFIG_DIR) / identification_tool().container_file)


def _ignore_matches(*_: object) -> None:
    """fido's driver reports matches through this callback; this module never calls the driver."""
