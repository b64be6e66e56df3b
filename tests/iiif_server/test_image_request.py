"""Parsing of Image API 3.0 parameters, table-driven from the spec's forms and examples (§4.1–4.5)."""

from __future__ import annotations

import pytest

from iiif_server.errors import BadRequest
from iiif_server.image_request import (
    Format,
    Quality,
    Region,
    RegionKind,
    Rotation,
    Size,
    SizeKind,
    parse_image_request,
    parse_quality_format,
    parse_region,
    parse_rotation,
    parse_size,
)

REGIONS = {
    "full": Region(RegionKind.FULL),
    "square": Region(RegionKind.SQUARE),
    "125,15,120,140": Region(RegionKind.PIXELS, 125, 15, 120, 140),  # §4.1 example 3
    "pct:41.6,7.5,40,70": Region(RegionKind.PERCENT, 41.6, 7.5, 40, 70),  # §4.1 example 4
    "125,15,200,200": Region(RegionKind.PIXELS, 125, 15, 200, 200),  # §4.1 example 5
    "pct:41.6,7.5,66.6,100": Region(RegionKind.PERCENT, 41.6, 7.5, 66.6, 100),  # §4.1 example 6
    "0,0,1,1": Region(RegionKind.PIXELS, 0, 0, 1, 1),
    "pct:0.5,0,.5,100": Region(RegionKind.PERCENT, 0.5, 0, 0.5, 100),
}

SIZES = {
    "max": Size(SizeKind.MAX),
    "^max": Size(SizeKind.MAX, upscale=True),
    "150,": Size(SizeKind.WIDTH, width=150),
    "^360,": Size(SizeKind.WIDTH, width=360, upscale=True),
    ",150": Size(SizeKind.HEIGHT, height=150),
    "^,240": Size(SizeKind.HEIGHT, height=240, upscale=True),
    "pct:50": Size(SizeKind.PERCENT, percent=50),
    "^pct:120": Size(SizeKind.PERCENT, percent=120, upscale=True),
    "225,100": Size(SizeKind.EXACT, width=225, height=100),
    "^360,360": Size(SizeKind.EXACT, width=360, height=360, upscale=True),
    "!225,100": Size(SizeKind.CONFINED, width=225, height=100),
    "^!360,360": Size(SizeKind.CONFINED, width=360, height=360, upscale=True),
}

ROTATIONS = {
    "0": Rotation(0, False),
    "180": Rotation(180, False),
    "90": Rotation(90, False),
    "22.5": Rotation(22.5, False),
    "!0": Rotation(0, True),
    "!180": Rotation(180, True),
    "360": Rotation(0, False),
    "0.9": Rotation(0.9, False),
}

BAD = [
    (parse_region, "", "region"),
    (parse_region, "0,0,100", "region"),
    (parse_region, "-1,0,10,10", "region"),
    (parse_region, "0,0,0,10", "region"),  # §4.1: zero width is a 400
    (parse_region, "pct:0,0,0,5", "region"),
    (parse_region, "pct:1e2,0,5,5", "region"),  # §4.7: digits and "." only
    (parse_region, "pct:+1,0,5,5", "region"),
    (parse_region, "1.5,0,10,10", "region"),  # pixels are integers
    (parse_region, "Full", "region"),
    (parse_size, "full", "size"),  # 3.0 replaced full with max
    (parse_size, ",", "size"),
    (parse_size, "0,", "size"),
    (parse_size, "!100,", "size"),
    (parse_size, "pct:101", "size"),  # over 100% needs ^
    (parse_size, "pct:0", "size"),
    (parse_size, "^^max", "size"),
    (parse_size, "10,10,", "size"),
    (parse_size, "pct:nan", "size"),
    (parse_rotation, "361", "rotation"),
    (parse_rotation, "-90", "rotation"),
    (parse_rotation, "!!90", "rotation"),
    (parse_rotation, "90!", "rotation"),
    (parse_rotation, "inf", "rotation"),
    (parse_rotation, "", "rotation"),
    (parse_quality_format, "default", "format"),
    (parse_quality_format, "native.jpg", "quality"),
    (parse_quality_format, "grey.jpg", "quality"),
    (parse_quality_format, "default.jp2", "format"),
    (parse_quality_format, "default.pdf", "format"),
    (parse_quality_format, "default.JPG", "format"),
]


@pytest.mark.parametrize("text, expected", REGIONS.items())
def test_region_forms_parse(text: str, expected: Region) -> None:
    assert parse_region(text) == expected


@pytest.mark.parametrize("text, expected", SIZES.items())
def test_size_forms_parse(text: str, expected: Size) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text, expected", ROTATIONS.items())
def test_rotation_forms_parse(text: str, expected: Rotation) -> None:
    assert parse_rotation(text) == expected


@pytest.mark.parametrize("text, quality, fmt", [
    ("default.jpg", Quality.DEFAULT, Format.JPG), ("color.jpg", Quality.COLOR, Format.JPG),
    ("gray.jpg", Quality.GRAY, Format.JPG), ("bitonal.png", Quality.BITONAL, Format.PNG),
    ("default.webp", Quality.DEFAULT, Format.WEBP), ("default.tif", Quality.DEFAULT, Format.TIF),
    ("gray.gif", Quality.GRAY, Format.GIF),
])
def test_quality_and_format_parse(text: str, quality: Quality, fmt: Format) -> None:
    assert parse_quality_format(text) == (quality, fmt)


@pytest.mark.parametrize("parse, text, parameter", BAD)
def test_malformed_parameters_are_400_naming_the_parameter(parse, text: str, parameter: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse(text)
    assert caught.value.status == 400
    assert caught.value.parameter == parameter
    assert str(caught.value).startswith(f"{parameter}: ")


def test_full_size_error_points_to_max() -> None:
    with pytest.raises(BadRequest, match=r"IIIF 3.0 uses max, not full"):
        parse_size("full")


def test_long_values_are_cut_short_in_messages() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_region("x" * 500)
    assert len(str(caught.value)) < 150


def test_whole_request_parses_in_spec_order() -> None:
    # §4.6 example: .../125,15,120,140/90,/!345/gray.jpg
    request = parse_image_request("book~p0001", "125,15,120,140", "90,", "!345", "gray.jpg")
    assert request.identifier == "book~p0001"
    assert request.region == Region(RegionKind.PIXELS, 125, 15, 120, 140)
    assert request.size == Size(SizeKind.WIDTH, width=90)
    assert request.rotation == Rotation(345, True)
    assert (request.quality, request.format) == (Quality.GRAY, Format.JPG)
    assert request.format.media_type == "image/jpeg"
