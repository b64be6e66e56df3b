"""Write recognised pages as ALTO 4.4 (pixel coordinates of the access derivative) and plain text."""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from pipeline import xmlns
from pipeline.ocr.model import BlockRole, Box, OcrBlock, OcrPage
from pipeline.ocr.tesseract import is_cjk

__all__ = ["to_alto", "to_text"]


# How each block role is tagged in ALTO (a LayoutTag per role used on the page).
ROLE_LABELS = {
    BlockRole.TEXT: "main text",
    BlockRole.NOTE: "double-line note (雙行小注)",
    BlockRole.HEADING: "heading",
    BlockRole.FOLD: "fold column (版心)",
    BlockRole.RUNNING: "running header, footer or page number",
    BlockRole.ADVERT: "advertisement",
    BlockRole.CAPTION: "caption",
}


def to_text(page: OcrPage) -> str:
    """Return the text of the page's reading flow, one line per column or line.

    The 版心, running heads, adverts and captions stand outside the flow and are
    left out; they are in the ALTO, each in its own block.
    """
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
    ids = _block_ids(page)
    roles = sorted({block.role for block in page.blocks}, key=list(BlockRole).index)
    if roles:
        tags = _sub(alto, "Tags")
        for role in roles:
            _sub(tags, "LayoutTag", ID=_tag_id(role), TYPE="block role", LABEL=role.value,
                 DESCRIPTION=ROLE_LABELS[role])
        _reading_order(alto, page, ids)
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
    for block, block_id in zip(page.blocks, ids):
        _text_block(space, block, block_id)
    for n, region in enumerate(page.regions, start=1):
        _sub(space, "Illustration", ID=f"ILLUSTRATION_{n}", TYPE=region.kind.value, **_box_attrs(region.box))
    return etree.ElementTree(alto)


def _block_ids(page: OcrPage) -> list[str]:
    return [f"BLOCK_{n}" for n in range(1, len(page.blocks) + 1)]


def _tag_id(role: BlockRole) -> str:
    return f"TAG_{role.value.upper()}"


def _reading_order(alto: etree._Element, page: OcrPage, ids: list[str]) -> None:
    """Write the flow blocks as one OrderedGroup and every other block in an UnorderedGroup.

    An advert or a running head has no place in the flow: an UnorderedGroup says so
    rather than inventing one.
    """
    order = _sub(alto, "ReadingOrder")
    flow = [i for block, i in zip(page.blocks, ids) if block.in_flow]
    aside = [(block, i) for block, i in zip(page.blocks, ids) if not block.in_flow]
    if flow:
        group = _sub(order, "OrderedGroup", ID="ORDER_FLOW")
        for i in flow:
            _sub(group, "ElementRef", ID=f"REF_{i}", REF=i)
    if aside:
        group = _sub(order, "UnorderedGroup", ID="ORDER_ASIDE")
        for block, i in aside:
            _sub(group, "ElementRef", ID=f"REF_{i}", REF=i, TAGREFS=_tag_id(block.role))


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


def _text_block(space: etree._Element, block: OcrBlock, block_id: str) -> None:
    direction = {"BASEDIRECTION": "ttb"} if block.vertical else {}
    element = _sub(space, "TextBlock", ID=block_id, **_box_attrs(block.box), **direction,
                   TAGREFS=_tag_id(block.role))
    prefix = block_id.removeprefix("BLOCK_")
    for n, line in enumerate(block.lines, start=1):
        line_el = _sub(element, "TextLine", ID=f"LINE_{prefix}_{n}", **_box_attrs(line.box), **direction)
        for m, glyph in enumerate(line.glyphs, start=1):
            if m > 1 and not (is_cjk(line.glyphs[m - 2].char[-1]) and is_cjk(glyph.char[0])):
                _sub(line_el, "SP")
            _sub(
                line_el,
                "String",
                ID=f"STRING_{prefix}_{n}_{m}",
                CONTENT=glyph.char,
                WC=f"{glyph.confidence:.3f}",
                **_box_attrs(glyph.box),
            )


def _box_attrs(box: Box) -> dict[str, int]:
    x0, y0, x1, y1 = box
    return {"HPOS": x0, "VPOS": y0, "WIDTH": max(1, x1 - x0), "HEIGHT": max(1, y1 - y0)}


def _sub(parent: etree._Element, name: str, **attrs: object) -> etree._Element:
    return etree.SubElement(parent, xmlns.tag("alto", name), {k: str(v) for k, v in attrs.items()})
