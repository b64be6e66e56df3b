"""Offline validation against the bundled XSDs and JSON Schemas, and hostile XML."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

import schemas
from pipeline import validation, xmlns
from pipeline.errors import ValidationError
from pipeline.validation import (
    json_errors,
    parse_xml_safely,
    safe_parser,
    validate_json,
    validate_xml,
    xml_errors,
)

A = "{http://www.loc.gov/standards/alto/ns-v4#}"  # ALTO in Clark notation, as lxml reports it
METS = f"""<?xml version="1.0" encoding="UTF-8"?>
<mets:mets xmlns:mets="{xmlns.NAMESPACES["mets"]}" xmlns:mods="{xmlns.NAMESPACES["mods"]}"
           xmlns:xlink="{xmlns.NAMESPACES["xlink"]}">
  <mets:dmdSec ID="DMD_1">
    <mets:mdWrap MDTYPE="MODS">
      <mets:xmlData>
        <mods:mods>
          <mods:titleInfo><mods:title>欽定四庫全書總目</mods:title></mods:titleInfo>
          {{mods_extra}}
        </mods:mods>
      </mets:xmlData>
    </mets:mdWrap>
  </mets:dmdSec>
  <mets:fileSec>
    <mets:fileGrp USE="MASTER">
      <mets:file ID="MASTER_p0001" MIMETYPE="image/tiff">
        <mets:FLocat LOCTYPE="URL" xlink:href="masters/p0001.tif"/>
      </mets:file>
    </mets:fileGrp>
  </mets:fileSec>
  {{struct_map}}
</mets:mets>
"""
STRUCT_MAP = """<mets:structMap TYPE="PHYSICAL">
    <mets:div TYPE="book"><mets:div TYPE="page" ORDER="1"><mets:fptr FILEID="MASTER_p0001"/></mets:div></mets:div>
  </mets:structMap>"""

ALTO = f"""<?xml version="1.0" encoding="UTF-8"?>
<alto xmlns="{xmlns.NAMESPACES["alto"]}" SCHEMAVERSION="4.4">
  <Description><MeasurementUnit>pixel</MeasurementUnit></Description>
  <Layout>
    <Page ID="PAGE_1" PHYSICAL_IMG_NR="1" WIDTH="100" HEIGHT="200">
      <PrintSpace>
        <TextBlock ID="BLOCK_1" BASEDIRECTION="ttb">
          <TextLine ID="LINE_1" BASEDIRECTION="ttb">
            <String {{string_attrs}} HPOS="10" VPOS="10" WIDTH="30" HEIGHT="30"/>
          </TextLine>
        </TextBlock>
      </PrintSpace>
    </Page>
  </Layout>
</alto>
"""

MANIFEST = {
    "@context": "http://iiif.io/api/presentation/3/context.json",
    "id": "https://example.org/iiif/item/manifest",
    "type": "Manifest",
    "label": {"zh-Hant": ["論語"]},
    "items": [
        {
            "id": "https://example.org/iiif/item/canvas/p0001",
            "type": "Canvas",
            "height": 2000,
            "width": 1400,
            "items": [],
        }
    ],
}


def _mets(mods_extra: str = "", struct_map: str = STRUCT_MAP) -> bytes:
    return METS.format(mods_extra=mods_extra, struct_map=struct_map).encode("utf-8")


def _alto(string_attrs: str = 'CONTENT="學"') -> bytes:
    return ALTO.format(string_attrs=string_attrs).encode("utf-8")


# --- schemas package -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mets", "alto", "mods", "premis", "mix"])
def test_xsd_path_points_at_a_bundled_file(name: str) -> None:
    path = schemas.xsd_path(name)
    assert path.is_file()
    assert path.parent.name == "xsd"


def test_xsd_path_for_mets_is_the_wrapper_that_imports_every_embedded_schema() -> None:
    wrapper = etree.parse(str(schemas.xsd_path("mets")))
    imported = {el.get("namespace") for el in wrapper.getroot()}
    assert {xmlns.NAMESPACES[p] for p in ("mets", "mods", "premis", "mix", "alto")} <= imported


def test_xsd_path_rejects_an_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown XML schema 'page'"):
        schemas.xsd_path("page")


def test_load_json_schema_reads_the_iiif_schema() -> None:
    schema = schemas.load_json_schema("iiif-presentation-3.0")
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"


@pytest.mark.parametrize("name", ["../setup", "", ".hidden", "a/b"])
def test_load_json_schema_rejects_names_that_leave_the_folder(name: str) -> None:
    with pytest.raises(ValueError, match="invalid JSON schema name"):
        schemas.load_json_schema(name)


def test_load_json_schema_names_a_missing_schema() -> None:
    with pytest.raises(FileNotFoundError, match=r"nothing\.schema\.json: no such JSON schema"):
        schemas.load_json_schema("nothing")


@pytest.mark.parametrize("name", ["mets", "alto", "mods", "premis", "mix"])
def test_every_xsd_compiles(name: str) -> None:
    validation.xml_schema.cache_clear()
    assert isinstance(validation.xml_schema(name), etree.XMLSchema)


def test_every_xsd_import_points_at_a_bundled_file() -> None:
    # Offline by construction: a remote schemaLocation would make lxml go online (or fail).
    folder = schemas.SCHEMA_DIR / "xsd"
    for xsd in sorted(folder.glob("*.xsd")):
        for ref in etree.parse(str(xsd)).iterfind("{http://www.w3.org/2001/XMLSchema}*[@schemaLocation]"):
            location = ref.get("schemaLocation")
            assert "://" not in location, f"{xsd.name} imports {location}"
            assert (folder / location).is_file(), f"{xsd.name} imports missing {location}"


def test_compiled_schemas_are_cached() -> None:
    assert validation.xml_schema("alto") is validation.xml_schema("alto")


# --- XML -----------------------------------------------------------------------------------


def test_a_minimal_mets_with_embedded_mods_is_valid() -> None:
    assert xml_errors(etree.fromstring(_mets()), "mets") == []


def test_mets_without_struct_map_fails_with_a_line_number() -> None:
    tree = parse_xml_safely(_mets(struct_map=""), document="mets.xml")
    errors = xml_errors(tree, "mets")
    assert len(errors) == 1
    assert errors[0].startswith("line 3: Element '{http://www.loc.gov/METS/}mets': Missing child element(s).")
    assert "structMap" in errors[0]


def test_embedded_mods_is_validated_too() -> None:
    tree = parse_xml_safely(_mets(mods_extra="<mods:notAModsElement/>"))
    errors = xml_errors(tree, "mets")
    assert len(errors) == 1
    assert (
        errors[0]
        == "line 9: Element '{http://www.loc.gov/mods/v3}notAModsElement': This element is not expected."
    )


def test_validate_xml_raises_naming_the_document_and_every_error() -> None:
    tree = parse_xml_safely(_mets(struct_map=""))
    with pytest.raises(ValidationError) as caught:
        validate_xml(tree, "mets", document="work/mets.xml")
    assert caught.value.document == "work/mets.xml"
    assert caught.value.errors == xml_errors(tree, "mets")
    assert str(caught.value).startswith("work/mets.xml: schema validation failed: line 3: ")


def test_validate_xml_accepts_a_valid_document() -> None:
    validate_xml(etree.fromstring(_alto()), "alto", document="alto.xml")


def test_alto_string_without_content_fails_on_its_line() -> None:
    errors = xml_errors(parse_xml_safely(_alto(string_attrs="")), "alto")
    assert errors == [f"line 9: Element '{A}String': The attribute 'CONTENT' is required but missing."]


def test_alto_confidence_out_of_range_fails() -> None:
    errors = xml_errors(parse_xml_safely(_alto(string_attrs='CONTENT="學" WC="1.5"')), "alto")
    assert len(errors) == 1
    assert errors[0].startswith("line 9: ") and "'WC'" in errors[0]


def test_errors_in_a_tree_built_in_memory_say_where_by_path() -> None:
    alto = etree.Element(xmlns.TAG_ALTO, nsmap={None: xmlns.NAMESPACES["alto"]})
    etree.SubElement(alto, xmlns.tag("alto", "Description"))  # MeasurementUnit missing
    etree.SubElement(alto, xmlns.tag("alto", "Layout"))
    errors = xml_errors(alto, "alto")
    assert errors == [
        f"/*/*[1]: Element '{A}Description': Missing child element(s). Expected is ( {A}MeasurementUnit ).",
        f"/*/*[2]: Element '{A}Layout': Missing child element(s). Expected is ( {A}Page ).",
    ]


# --- hostile XML ---------------------------------------------------------------------------


def _xxe(target: Path) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM "{target.as_uri()}">]>\n<r>&xxe;</r>\n'
    ).encode()


def _laughs(levels: int) -> bytes:
    """Return a "billion laughs" document expanding to 3 * 10**levels characters."""
    declarations = "".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, levels + 1)
    )
    return f'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n{declarations}]>\n<lolz>&lol{levels};</lolz>\n'.encode()


BILLION_LAUGHS = _laughs(9)
THOUSAND_LAUGHS = _laughs(3)  # small enough that libxml2's own amplification limit lets it through


def test_safe_parser_does_not_read_files_through_external_entities(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE", encoding="utf-8")
    root = etree.fromstring(_xxe(secret), safe_parser())
    assert "TOP-SECRET-VALUE" not in etree.tostring(root, encoding="unicode")
    assert "TOP-SECRET-VALUE" not in "".join(root.itertext())


@pytest.mark.parametrize("document", [THOUSAND_LAUGHS, BILLION_LAUGHS], ids=["thousand", "billion"])
def test_safe_parser_does_not_expand_entities(document: bytes) -> None:
    try:
        root = etree.fromstring(document, safe_parser())
    except etree.XMLSyntaxError as exc:  # libxml2 >= 2.11 refuses the billion outright
        assert "amplification" in str(exc)
        return
    assert etree.tostring(root).startswith(b"<lolz>&lol")  # the reference stays a reference
    assert "lollol" not in "".join(root.itertext())


def test_parse_xml_safely_refuses_external_entities(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE", encoding="utf-8")
    hostile = tmp_path / "mets.xml"
    hostile.write_bytes(_xxe(secret))
    with pytest.raises(ValidationError) as caught:
        parse_xml_safely(hostile)
    assert caught.value.document == "mets.xml"
    assert "declares DTD entities 'xxe'" in str(caught.value)
    assert "TOP-SECRET-VALUE" not in str(caught.value)


def test_parse_xml_safely_refuses_entity_expansion() -> None:
    with pytest.raises(
        ValidationError, match=r"^upload\.xml: .*declares DTD entities 'lol', 'lol1', 'lol2', 'lol3';"
    ):
        parse_xml_safely(THOUSAND_LAUGHS, document="upload.xml")


def test_parse_xml_safely_refuses_a_billion_laughs() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_xml_safely(BILLION_LAUGHS, document="upload.xml")
    assert caught.value.document == "upload.xml"
    assert "amplification" in str(caught.value) or "declares DTD entities" in str(caught.value)


def test_parse_xml_safely_does_not_load_an_external_dtd(tmp_path: Path) -> None:
    dtd = tmp_path / "r.dtd"
    dtd.write_text('<!ENTITY ext "LOADED-FROM-DTD">', encoding="utf-8")
    doc = f'<?xml version="1.0"?>\n<!DOCTYPE r SYSTEM "{dtd.as_uri()}">\n<r>a&ext;b</r>\n'.encode()
    assert b"LOADED-FROM-DTD" in etree.tostring(etree.fromstring(doc, etree.XMLParser(load_dtd=True)))
    tree = parse_xml_safely(doc)
    assert b"LOADED-FROM-DTD" not in etree.tostring(tree)


def test_parse_xml_safely_reports_malformed_xml_with_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "alto.xml"
    broken.write_bytes(b'<?xml version="1.0"?>\n<alto>\n  <Layout>\n</alto>\n')
    with pytest.raises(ValidationError) as caught:
        parse_xml_safely(broken)
    assert caught.value.document == "alto.xml"
    assert caught.value.errors[0].startswith("line 4: not well-formed XML: Opening and ending tag mismatch")


def test_parse_xml_safely_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"^gone\.xml: schema validation failed: cannot read"):
        parse_xml_safely(tmp_path / "gone.xml")


def test_parse_xml_safely_keeps_line_numbers_for_schema_errors(tmp_path: Path) -> None:
    path = tmp_path / "mets.xml"
    path.write_bytes(_mets(struct_map=""))
    assert xml_errors(parse_xml_safely(path), "mets")[0].startswith("line 3: ")


# --- JSON ----------------------------------------------------------------------------------


def test_a_minimal_manifest_is_valid() -> None:
    assert json_errors(MANIFEST, "iiif-presentation-3.0") == []


def test_json_errors_give_the_field_path() -> None:
    manifest = {**MANIFEST, "items": [{**MANIFEST["items"][0], "height": "2000"}]}
    assert json_errors(manifest, "iiif-presentation-3.0") == [
        "items[0].height: '2000' is not of type 'integer'"
    ]


def test_json_errors_report_the_branch_the_document_declares() -> None:
    # The IIIF schema is a oneOf over Manifest, Collection, ...: report what is wrong with
    # the Manifest, not "is not valid under any of the given schemas".
    manifest = {k: v for k, v in MANIFEST.items() if k != "label"}
    assert json_errors(manifest, "iiif-presentation-3.0") == ["'label' is a required property"]


def test_json_errors_report_a_wrong_type_inside_a_list() -> None:
    manifest = {**MANIFEST, "items": [{**MANIFEST["items"][0], "type": "Canvass"}]}
    assert json_errors(manifest, "iiif-presentation-3.0") == [
        "items[0].type: 'Canvass' does not match '^Canvas$'"
    ]


def test_validate_json_raises_naming_the_document() -> None:
    manifest = {**MANIFEST, "items": [{**MANIFEST["items"][0], "width": "wide"}]}
    with pytest.raises(ValidationError) as caught:
        validate_json(manifest, "iiif-presentation-3.0", document="iiif/manifest.json")
    assert caught.value.document == "iiif/manifest.json"
    assert caught.value.errors == ["items[0].width: 'wide' is not of type 'integer'"]
    assert str(caught.value) == (
        "iiif/manifest.json: schema validation failed: items[0].width: 'wide' is not of type 'integer'"
    )


def test_validate_json_accepts_a_valid_document() -> None:
    validate_json(MANIFEST, "iiif-presentation-3.0", document="manifest.json")
