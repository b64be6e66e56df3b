"""XML namespaces, tag names in Clark notation and xsi:schemaLocation values.

One place for every namespace URI Shuying writes (after OCR-D's
``ocrd_models/constants.py``): build tags with :func:`tag` or the ``TAG_*``
constants, never by pasting URIs into code.
"""

from __future__ import annotations

__all__ = [
    "ALTO_SCHEMA_VERSION",
    "NAMESPACES",
    "SCHEMA_URLS",
    "TAG_ALTO",
    "TAG_METS",
    "TAG_MIX",
    "TAG_MODS",
    "TAG_PREMIS",
    "XLINK_HREF",
    "XSI_SCHEMA_LOCATION",
    "attr",
    "nsmap",
    "schema_location",
    "tag",
]

NAMESPACES: dict[str, str] = {
    "mets": "http://www.loc.gov/METS/",
    "mods": "http://www.loc.gov/mods/v3",
    "premis": "http://www.loc.gov/premis/v3",
    "mix": "http://www.loc.gov/mix/v20",
    "alto": "http://www.loc.gov/standards/alto/ns-v4#",
    "xlink": "http://www.w3.org/1999/xlink",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}

# Canonical (online) schema locations written into xsi:schemaLocation for other
# readers; our own validation uses the bundled copies in schemas/xsd/.
SCHEMA_URLS: dict[str, str] = {
    "mets": "http://www.loc.gov/standards/mets/version1121/mets.xsd",
    "mods": "http://www.loc.gov/standards/mods/v3/mods-3-8.xsd",
    "premis": "http://www.loc.gov/standards/premis/v3/premis-v3-0.xsd",
    "mix": "http://www.loc.gov/standards/mix/mix20/mix20.xsd",
    "alto": "http://www.loc.gov/standards/alto/v4/alto-4-4.xsd",
}

ALTO_SCHEMA_VERSION = "4.4"


def tag(prefix: str, local: str) -> str:
    """Return ``{namespace}local`` for a known prefix, e.g. ``tag("mets", "file")``."""
    return f"{{{NAMESPACES[prefix]}}}{local}"


def attr(prefix: str, local: str) -> str:
    """Return a namespaced attribute name in Clark notation, e.g. ``attr("xlink", "href")``."""
    return tag(prefix, local)


def schema_location(*prefixes: str) -> str:
    """Return an xsi:schemaLocation value ("ns url ns url") for the given prefixes."""
    return " ".join(f"{NAMESPACES[p]} {SCHEMA_URLS[p]}" for p in prefixes)


def nsmap(*prefixes: str) -> dict[str | None, str]:
    """Return an lxml nsmap with the given prefixes; the first one becomes the default namespace."""
    if not prefixes:
        return {}
    default, *others = prefixes
    return {None: NAMESPACES[default], **{p: NAMESPACES[p] for p in others}}


TAG_ALTO = tag("alto", "alto")
TAG_METS = tag("mets", "mets")
TAG_MODS = tag("mods", "mods")
TAG_PREMIS = tag("premis", "premis")
TAG_MIX = tag("mix", "mix")
XSI_SCHEMA_LOCATION = attr("xsi", "schemaLocation")
XLINK_HREF = attr("xlink", "href")
