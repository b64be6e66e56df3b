"""Validate XML against the bundled XSDs and JSON against the bundled JSON Schemas.

Nothing here goes online: XSDs load from ``schemas/xsd`` with their imports rewritten
to local files, and the XML parser refuses network access, DTD loading and entity
declarations. Errors are collected (``xml_errors``/``json_errors`` return every
problem) or raised once as :class:`~pipeline.errors.ValidationError`
(``validate_xml``/``validate_json``), each message starting with where it is:
``line 12: …`` for XML, ``pages[3].file: …`` for JSON.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any, TypeAlias

import jsonschema
from jsonschema.validators import validator_for
from lxml import etree

import schemas
from pipeline.errors import ValidationError

__all__ = [
    "json_errors",
    "parse_xml_safely",
    "safe_parser",
    "validate_json",
    "validate_xml",
    "xml_errors",
    "xml_schema",
]

log = logging.getLogger(__name__)

XmlDoc: TypeAlias = etree._Element | etree._ElementTree


@functools.cache
def xml_schema(name: str) -> etree.XMLSchema:
    """Return the compiled XMLSchema for ``name`` (mets, alto, mods, premis, mix), cached."""
    path = schemas.xsd_path(name)
    # The XSDs themselves are trusted files shipped with Shuying, but parse them with
    # the same no-network parser so a stray remote import fails loudly instead of
    # fetching.
    return etree.XMLSchema(etree.parse(str(path), safe_parser()))


def xml_errors(doc: XmlDoc, schema: str = "mets") -> list[str]:
    """Return every schema violation of ``doc`` as "line N: message" (empty if valid)."""
    compiled = xml_schema(schema)
    if compiled.validate(doc):
        return []
    return [_format_log_entry(entry) for entry in compiled.error_log]


def validate_xml(doc: XmlDoc, schema: str, *, document: str = "mets.xml") -> None:
    """Raise ValidationError naming ``document`` if ``doc`` violates ``schema``."""
    errors = xml_errors(doc, schema)
    if errors:
        raise ValidationError(document, errors)


def _format_log_entry(entry: Any) -> str:
    # A tree built in memory has no source lines; the XPath then says where it is.
    where = f"line {entry.line}" if entry.line else (entry.path or "document")
    return f"{where}: {entry.message}"


def json_errors(obj: Any, schema_name: str) -> list[str]:
    """Return every violation of ``schemas/<schema_name>.schema.json`` as "path: message"."""
    schema = schemas.load_json_schema(schema_name)
    # The draft follows the schema's own "$schema" (IIIF's is draft-07); 2020-12 otherwise.
    cls = validator_for(schema, default=jsonschema.Draft202012Validator)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    leaves = [leaf for e in validator.iter_errors(obj) for leaf in _leaf_errors(e)]
    messages = [
        _format_json_error(e) for e in sorted(leaves, key=lambda e: [str(p) for p in e.absolute_path])
    ]
    return list(dict.fromkeys(messages))


def validate_json(obj: Any, schema_name: str, *, document: str = "") -> None:
    """Raise ValidationError naming ``document`` if ``obj`` violates the named JSON Schema."""
    errors = json_errors(obj, schema_name)
    if errors:
        raise ValidationError(document or f"{schema_name}.json", errors)


def _format_json_error(error: jsonschema.ValidationError) -> str:
    path = _json_path(error.absolute_path)
    return f"{path}: {error.message}" if path else error.message


def _leaf_errors(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    """Replace a oneOf/anyOf failure by the failures of the branch the author meant."""
    # "... is not valid under any of the given schemas" helps no one.
    if not error.context:
        return [error]
    return [leaf for e in _likely_branch(error) for leaf in _leaf_errors(e)]


def _likely_branch(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    branches: dict[Any, list[jsonschema.ValidationError]] = defaultdict(list)
    for e in error.context:
        branches[e.relative_schema_path[0]].append(e)
    depth = len(error.absolute_path)

    def wrong_type(e: jsonschema.ValidationError) -> bool:
        # JSON-LD documents (IIIF) say which branch they mean in "type": a branch
        # whose "type" does not match is not the one meant (a Manifest, not a Collection).
        return e.validator in ("const", "enum", "pattern") and list(e.absolute_path)[depth:] == ["type"]

    candidates = [b for b in branches.values() if not any(wrong_type(e) for e in b)]
    return min(candidates or branches.values(), key=lambda b: (len(b), -max(len(e.absolute_path) for e in b)))


def _json_path(parts: Any) -> str:
    """Join a jsonschema path (deque of keys and indices) as ``pages[3].file``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def safe_parser() -> etree.XMLParser:
    """Return a parser that never loads DTDs, expands entities or touches the network."""
    return etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False, dtd_validation=False
    )


def parse_xml_safely(source: str | Path | bytes, *, document: str = "") -> etree._ElementTree:
    """Parse an XML file or bytes, refusing entity declarations (XXE, billion laughs).

    Raises ValidationError naming ``document`` (default: the file name) when the
    XML is not well-formed or declares entities.
    """
    name = document or (Path(source).name if not isinstance(source, bytes) else "<bytes>")
    parser = safe_parser()
    try:
        if isinstance(source, bytes):
            tree = etree.fromstring(source, parser).getroottree()
        else:
            tree = etree.parse(str(source), parser)
    except etree.XMLSyntaxError as exc:
        raise ValidationError(name, [f"line {exc.lineno}: not well-formed XML: {exc.msg}"]) from None
    except OSError as exc:
        raise ValidationError(name, [f"cannot read: {exc}"]) from None
    _refuse_entities(tree, name)
    return tree


def _refuse_entities(tree: etree._ElementTree, name: str) -> None:
    # No METS, ALTO, MODS or PREMIS document needs entity declarations; refusing them
    # outright also protects whoever later re-parses the file with a laxer parser.
    dtd = tree.docinfo.internalDTD
    if dtd is None:
        return
    declared = [e.name for e in dtd.iterentities()]
    if declared:
        names = ", ".join(repr(n) for n in declared)
        raise ValidationError(
            name, [f"declares DTD entities {names}; entity declarations are refused (XXE/entity expansion)"]
        )
