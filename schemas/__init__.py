"""The schemas Shuying validates against, bundled so validation never goes online.

``xsd/`` holds the official METS, MODS, PREMIS, MIX and ALTO schemas with their
remote imports rewritten to local files (see ``SOURCES.md``); the ``*.schema.json``
files beside this module are JSON Schemas (IIIF Presentation 3.0, batch.json).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA_DIR", "XSD_FILES", "json_schema_path", "load_json_schema", "xsd_path"]

# A real folder, not an importlib Traversable: lxml resolves each xsd:import relative
# to the file it reads, so the schemas must sit side by side on disk.
SCHEMA_DIR = Path(__file__).resolve().parent

XSD_FILES: dict[str, str] = {
    # The wrapper imports METS, MODS, PREMIS, MIX and ALTO, so MODS/PREMIS/MIX embedded
    # in a METS xmlData (processContents="lax") are checked too, not just skipped.
    "mets": "shuying-wrapper.xsd",
    "alto": "alto-4-4.xsd",
    "mods": "mods-3-8.xsd",
    "premis": "premis-v3-0.xsd",
    "mix": "mix20.xsd",
}


def xsd_path(name: str) -> Path:
    """Return the local XSD file for a schema name (mets, alto, mods, premis, mix)."""
    try:
        return SCHEMA_DIR / "xsd" / XSD_FILES[name]
    except KeyError:
        known = ", ".join(sorted(XSD_FILES))
        raise ValueError(f"unknown XML schema {name!r}; known: {known}") from None


def json_schema_path(name: str) -> Path:
    """Return the path of ``<name>.schema.json`` beside this module."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"invalid JSON schema name {name!r}")
    return SCHEMA_DIR / f"{name}.schema.json"


def load_json_schema(name: str) -> dict[str, Any]:
    """Load and return the JSON Schema ``schemas/<name>.schema.json``."""
    path = json_schema_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such JSON schema")
    with path.open(encoding="utf-8") as f:
        return json.load(f)
