"""Write recognised pages as ALTO 4.4 (pixel coordinates of the access derivative) and plain text."""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from pipeline import xmlns
from pipeline.ocr.model import Box, OcrPage
from pipeline.ocr.tesseract import is_cjk

__all__ = ["to_alto", "to_text"]


def to_text(page: OcrPage) -> str:
    """Return the page text in reading order, one line per column or line."""
    return "".join(line.text + "\n" for line in page.lines)


def to_alto(
    page: OcrPage, *, image_file: str, measurement_unit: str = "pixel", now: datetime, page_number: int = 1
) -> etree._ElementTree:
    """Return the page as an ALTO 4.4 document, coordinates in pixels of ``image_file``.

    Only ``measurement_unit="pixel"`` is supported: OCR coordinates are pixels of the
    access derivative, and converting them would need its resolution.
    """
    if measurement_unit != "pixel":
        raise ValueError(f"measurement_unit {measurement_unit!r} is not supported; use 'pixel'")
    alto = etree.Element(xmlns.TAG_ALTO, nsmap={None: xmlns.NAMESPACES["alto"], "xsi": xmlns.NAMESPACES["xsi"]})
    alto.set(xmlns.XSI_SCHEMA_LOCATION, xmlns.schema_location("alto"))
    alto.set("SCHEMAVERSION", xmlns.ALTO_SCHEMA_VERSION)
    alto.append(_description(page, image_file, measurement_unit, now))
    layout = _sub(alto, "Layout")
    page_el = _sub(
        layout,
        "Page",
        ID=f"PAGE_{page_number}",
        WIDTH=page.width,
        HEIGHT=page.height,
        PHYSICAL_IMG_NR=page_number,
        PROCESSINGREFS="OCR_1",
    )
    space = _sub(page_el, "PrintSpace", HPOS=0, VPOS=0, WIDTH=page.width, HEIGHT=page.height)
    if page.lines:
        _text_block(space, page)
    return etree.ElementTree(alto)


def _description(page: OcrPage, image_file: str, unit: str, now: datetime) -> etree._Element:
    description = etree.Element(xmlns.tag("alto", "Description"))
    _sub(description, "MeasurementUnit").text = unit
    _sub(_sub(description, "sourceImageInformation"), "fileName").text = image_file
    note = f"Coordinates are in the pixel space of the access derivative {image_file}, not of the master."
    description.append(etree.Comment(f" {note} "))
    step = _sub(description, "Processing", ID="OCR_1")
    _sub(step, "processingCategory").text = "contentGeneration"
    _sub(step, "processingDateTime").text = now.isoformat(timespec="seconds")
    _sub(step, "processingStepDescription").text = note
    _sub(step, "processingStepSettings").text = "; ".join(f"{k}={v}" for k, v in sorted(page.parameters.items()))
    software = _sub(step, "processingSoftware")
    _sub(software, "softwareName").text = page.engine
    _sub(software, "softwareVersion").text = page.engine_version
    _sub(software, "applicationDescription").text = f"Shuying pipeline.ocr, model {page.language}"
    return description


def _text_block(space: etree._Element, page: OcrPage) -> None:
    extent = _union([line.box for line in page.lines])
    direction = {"BASEDIRECTION": "ttb"} if page.vertical else {}
    block = _sub(space, "TextBlock", ID="BLOCK_1", **_box_attrs(extent), **direction)
    for n, line in enumerate(page.lines, start=1):
        line_el = _sub(block, "TextLine", ID=f"LINE_{n}", **_box_attrs(line.box), **direction)
        for m, glyph in enumerate(line.glyphs, start=1):
            if m > 1 and not (is_cjk(line.glyphs[m - 2].char[-1]) and is_cjk(glyph.char[0])):
                _sub(line_el, "SP")
            _sub(
                line_el,
                "String",
                ID=f"STRING_{n}_{m}",
                CONTENT=glyph.char,
                WC=f"{glyph.confidence:.3f}",
                **_box_attrs(glyph.box),
            )


def _box_attrs(box: Box) -> dict[str, int]:
    x0, y0, x1, y1 = box
    return {"HPOS": x0, "VPOS": y0, "WIDTH": max(1, x1 - x0), "HEIGHT": max(1, y1 - y0)}


def _union(boxes: list[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _sub(parent: etree._Element, name: str, **attrs: object) -> etree._Element:
    return etree.SubElement(parent, xmlns.tag("alto", name), {k: str(v) for k, v in attrs.items()})
