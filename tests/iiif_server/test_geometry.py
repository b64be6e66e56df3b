"""Region, size, canonical form and pyramid-level arithmetic, from the spec's 300x200 examples (§4.1, §4.2, §4.8)."""

from __future__ import annotations

import pytest

from iiif_server.errors import BadRequest
from iiif_server.geometry import (
    Box,
    Dimensions,
    Level,
    Limits,
    Pyramid,
    canonical_path,
    choose_level,
    image_limits,
    output_size,
    plan_render,
    region_box,
    rotated_size,
)
from iiif_server.image_request import parse_image_request, parse_region, parse_size

SPEC_IMAGE = Dimensions(300, 200)  # the image of the spec's examples
NO_LIMITS = Limits(100_000, 100_000, 10**12)


@pytest.mark.parametrize("region, expected", [
    ("full", Box(0, 0, 300, 200)),
    ("square", Box(50, 0, 200, 200)),  # centred in the longer dimension
    ("125,15,120,140", Box(125, 15, 120, 140)),
    ("pct:41.6,7.5,40,70", Box(125, 15, 120, 140)),
    ("125,15,200,200", Box(125, 15, 175, 185)),  # "N.B. Returned image is 175,185 px"
    ("pct:41.6,7.5,66.6,100", Box(125, 15, 175, 185)),
    ("299,199,5,5", Box(299, 199, 1, 1)),
])
def test_region_examples_from_the_spec(region: str, expected: Box) -> None:
    assert region_box(parse_region(region), SPEC_IMAGE) == expected


@pytest.mark.parametrize("region", ["300,0,10,10", "0,200,10,10", "pct:100,0,10,10", "pct:0,0,0.1,0.1"])
def test_regions_outside_the_image_or_below_one_pixel_are_400(region: str) -> None:
    with pytest.raises(BadRequest) as caught:
        region_box(parse_region(region), SPEC_IMAGE)
    assert caught.value.parameter == "region"


@pytest.mark.parametrize("size, limits, expected", [
    ("max", Limits(200, 200, 10**9), (200, 133)),  # "Assuming that the image has a maxWidth of 200px"
    ("^max", Limits(360, 360, 10**9), (360, 240)),  # "... maxWidth of 360px"
    ("max", NO_LIMITS, (300, 200)),
    ("150,", NO_LIMITS, (150, 100)),
    ("^360,", NO_LIMITS, (360, 240)),
    (",150", NO_LIMITS, (225, 150)),
    ("^,240", NO_LIMITS, (360, 240)),
    ("pct:50", NO_LIMITS, (150, 100)),
    ("^pct:120", NO_LIMITS, (360, 240)),
    ("225,100", NO_LIMITS, (225, 100)),
    ("^360,360", NO_LIMITS, (360, 360)),
    ("!225,100", NO_LIMITS, (150, 100)),  # "N.B. Returned image is 150,100 px"
    ("^!360,360", NO_LIMITS, (360, 240)),  # "N.B. Returned image is 360,240 px"
    ("max", Limits(10_000, 10_000, 30_000), (212, 141)),  # maxArea binds
])
def test_size_examples_from_the_spec(size: str, limits: Limits, expected: tuple[int, int]) -> None:
    result = output_size(parse_size(size), SPEC_IMAGE, limits)
    assert (result.width, result.height) == expected
    assert limits.allows(result)


@pytest.mark.parametrize("size, message", [
    ("301,", r"301x201 is larger than the 300x200 region; prefix the size with \^ to upscale"),
    ("!400,400", "larger than the 300x200 region"),  # as Cantaloupe, IIPImage and the validator
    ("300,201", "larger than the 300x200 region"),
    ("^5000,", "exceeds this server's limits"),
    ("^pct:5000", "exceeds this server's limits"),
    ("1000,1", "larger than"),
])
def test_sizes_over_the_region_or_the_limits_are_400(size: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        output_size(parse_size(size), SPEC_IMAGE, Limits(4000, 4000, 4_000_000))


def test_a_size_rounding_to_zero_pixels_is_400() -> None:
    with pytest.raises(BadRequest, match="smaller than one pixel"):
        output_size(parse_size("1,"), Dimensions(1000, 1), NO_LIMITS)


@pytest.mark.parametrize("params, canonical", [
    (("full", "max", "0", "default.jpg"), "full/max/0/default.jpg"),
    (("0,0,300,200", "300,", "0", "default.jpg"), "full/max/0/default.jpg"),
    (("square", "max", "0", "default.jpg"), "50,0,200,200/max/0/default.jpg"),
    (("pct:41.6,7.5,40,70", "60,", "0", "gray.png"), "125,15,120,140/60,70/0/gray.png"),
    (("125,15,200,200", "max", "90", "color.jpg"), "125,15,175,185/max/90/color.jpg"),
    (("full", "^pct:120", "0", "default.jpg"), "full/^360,240/0/default.jpg"),
    (("full", "!225,100", "!22.50", "default.png"), "full/150,100/!22.5/default.png"),
    (("full", "pct:50", "360", "bitonal.webp"), "full/150,100/0/bitonal.webp"),
    (("256,0,100,200", "44,200", "0", "default.jpg"), "256,0,44,200/max/0/default.jpg"),
])
def test_canonical_forms(params: tuple[str, ...], canonical: str) -> None:
    request = parse_image_request("id", *params)
    assert canonical_path(request, SPEC_IMAGE, NO_LIMITS) == canonical


def test_canonical_upscaled_max() -> None:
    request = parse_image_request("id", "full", "^max", "0", "default.jpg")
    assert canonical_path(request, SPEC_IMAGE, Limits(360, 360, 10**9)) == "full/^max/0/default.jpg"
    assert canonical_path(request, SPEC_IMAGE, Limits(200, 200, 10**9)) == "full/max/0/default.jpg"


PYRAMID = Pyramid(4001, 3000, (Level(0, 1, 4001, 3000), Level(1, 2, 2000, 1500), Level(2, 4, 1000, 750),
                               Level(3, 8, 500, 375)))


@pytest.mark.parametrize("params, factor, crop", [
    (("full", "max"), 1, Box(0, 0, 4001, 3000)),
    (("full", "500,"), 8, Box(0, 0, 500, 375)),  # the smallest level is exactly big enough
    (("full", "250,"), 8, Box(0, 0, 500, 375)),
    (("full", "1001,"), 2, Box(0, 0, 2000, 1500)),
    (("1024,1024,1024,1024", "256,256"), 4, Box(256, 256, 256, 256)),  # a tile at scale factor 4
    (("1024,1024,1024,1024", "512,512"), 2, Box(512, 512, 512, 512)),
    (("0,0,256,256", "256,256"), 1, Box(0, 0, 256, 256)),
    (("3072,0,929,1024", "233,256"), 4, Box(768, 0, 232, 256)),  # right edge tile: one pixel short
    (("10,10,80,80", "^160,160"), 1, Box(10, 10, 80, 80)),
])
def test_the_coarsest_sufficient_level_is_chosen(params: tuple[str, str], factor: int, crop: Box) -> None:
    request = parse_image_request("id", *params, "0", "default.jpg")
    plan = plan_render(request, PYRAMID, NO_LIMITS)
    assert plan.level.factor == factor
    assert plan.crop == crop


def test_level_choice_never_upscales_by_more_than_the_halving_remainder() -> None:
    box, output = Box(0, 0, 4000, 3000), Dimensions(501, 376)
    assert choose_level(PYRAMID.levels, box, output).factor == 4


def test_limits_refuse_before_any_level_is_chosen() -> None:
    request = parse_image_request("id", "full", "^8000,", "0", "default.jpg")
    with pytest.raises(BadRequest, match="maxWidth 4000"):
        plan_render(request, PYRAMID, Limits(4000, 4000, 4_000_000))


@pytest.mark.parametrize("image, long_edge, expected", [
    (Dimensions(6000, 8000), 1000, Dimensions(750, 1000)),
    (Dimensions(1024, 768), 500, Dimensions(500, 375)),
    (Dimensions(900, 1300), 1000, Dimensions(692, 1000)),
    (Dimensions(1000, 700), 1000, None),  # no larger than the limit: nothing to reduce
])
def test_reduced_size_keeps_the_aspect_within_the_long_edge(image, long_edge, expected) -> None:
    from iiif_server.geometry import reduced_size

    assert reduced_size(image, long_edge) == expected


@pytest.mark.parametrize("region, size, crop, output", [
    ("full", "max", Box(0, 0, 750, 1000), Dimensions(750, 1000)),
    ("0,0,256,256", "max", Box(0, 0, 32, 32), Dimensions(32, 32)),  # max: the region at the reduced scale
    ("0,0,2048,2048", "256,", Box(0, 0, 256, 256), Dimensions(256, 256)),  # a factor-8 tile
    ("0,0,256,256", "256,", Box(0, 0, 32, 32), Dimensions(256, 256)),  # a factor-1 tile: upscaled from 32 px
    ("1,1,1,1", "1,", Box(0, 0, 1, 1), Dimensions(1, 1)),
    ("5999,7999,1,1", "max", Box(749, 999, 1, 1), Dimensions(1, 1)),
    ("4096,6144,1904,1856", "238,", Box(512, 768, 238, 232), Dimensions(238, 232)),  # the last tile
])
def test_a_reduced_plan_crops_the_reduced_image(region: str, size: str, crop: Box, output: Dimensions) -> None:
    from iiif_server.geometry import plan_reduced

    pyramid = Pyramid(6000, 8000, tuple(Level(i, 2**i, 6000 // 2**i, 8000 // 2**i) for i in range(6)))
    request = parse_image_request("a~p0001", region, size, "0", "default.jpg")
    plan = plan_reduced(request, pyramid, Limits(16383, 16383, 10**8), Dimensions(750, 1000))
    assert (plan.crop, plan.output, plan.reduced) == (crop, output, Dimensions(750, 1000))
    assert plan.level.factor == 8  # the level the reduction is made from: exactly 750x1000


@pytest.mark.parametrize("size", ["751,", "^max", "pct:100", "^pct:200", "760,1000"])
def test_a_reduced_view_refuses_outputs_larger_than_the_reduced_image(size: str) -> None:
    from iiif_server.geometry import plan_reduced

    pyramid = Pyramid(6000, 8000, (Level(0, 1, 6000, 8000),))
    request = parse_image_request("a~p0001", "full", size, "0", "default.jpg")
    if size == "^max":  # ^max is the largest allowed: the reduced size itself
        assert plan_reduced(request, pyramid, NO_LIMITS, Dimensions(750, 1000)).output == Dimensions(750, 1000)
        return
    with pytest.raises(BadRequest, match="exceeds"):
        plan_reduced(request, pyramid, NO_LIMITS, Dimensions(750, 1000))


SERVER_LIMITS = Limits(16383, 16383, 100_000_000)
BIG = Pyramid(10_000, 10_000, (Level(0, 1, 10_000, 10_000), Level(1, 2, 5_000, 5_000)))


@pytest.mark.parametrize("size, rotation", [("^max", "45"), ("^max", "7"), ("max", "45"), ("max", "!315.5")])
def test_max_shrinks_so_the_rotated_output_is_within_the_limits(size: str, rotation: str) -> None:
    # 10000x10000 at 45° was 14142x14142 (200 MP) past the advertised 100 MP.
    request = parse_image_request("a~p0001", "full", size, rotation, "default.jpg")
    limits = image_limits(SERVER_LIMITS, BIG.dimensions, 1.0)
    plan = plan_render(request, BIG, limits)
    final = rotated_size(plan.output, plan.rotation)
    assert limits.allows(final)
    assert final.area > 0.98 * limits.max_area or final.width > 0.99 * limits.max_width  # not needlessly small


def test_an_explicit_size_that_rotation_takes_past_the_limits_is_refused() -> None:
    request = parse_image_request("a~p0001", "full", "10000,", "45", "default.webp")
    with pytest.raises(BadRequest, match=r"^size: 14144x14144 after rotation exceeds this server's limits"):
        plan_render(request, BIG, image_limits(SERVER_LIMITS, BIG.dimensions, 1.0))
    assert plan_render(parse_image_request("a~p0001", "full", "10000,", "90", "default.jpg"), BIG,
                       SERVER_LIMITS).output == Dimensions(10_000, 10_000)


def test_image_limits_stop_upscaling_beyond_the_image_unless_allowed() -> None:
    assert image_limits(SERVER_LIMITS, Dimensions(3000, 4000), 1.0) == Limits(3000, 4000, 12_000_000)
    assert image_limits(SERVER_LIMITS, Dimensions(3000, 4000), 2.0) == Limits(6000, 8000, 48_000_000)
    assert image_limits(SERVER_LIMITS, Dimensions(30_000, 4000), 1.0) == Limits(16383, 4000, 100_000_000)
    with pytest.raises(BadRequest, match="exceeds this server's limits"):
        output_size(parse_size("^3001,"), Dimensions(3000, 4000), image_limits(SERVER_LIMITS,
                                                                               Dimensions(3000, 4000), 1.0))


SQUARE = Dimensions(1000, 1000)  # the validator's test image


@pytest.mark.parametrize("server, max_upscale, image, expected", [
    (SERVER_LIMITS, 1.0, SQUARE, (1000, 1000)),  # no upscaling allowed: ^max is max
    (SERVER_LIMITS, 2.0, SQUARE, (2000, 2000)),
    (SERVER_LIMITS, 10.0, SQUARE, (10_000, 10_000)),  # maxWidth 10000 and maxArea 100 MP say exactly this
    (Limits(4000, 4000, 4_000_000), 10.0, SQUARE, (2000, 2000)),  # maxArea binds
    (Limits(1500, 4000, 10**9), 10.0, SQUARE, (1500, 1500)),  # maxWidth binds
    (Limits(4000, 1200, 10**9), 10.0, SQUARE, (1200, 1200)),  # maxHeight binds
    (SERVER_LIMITS, 2.0, Dimensions(1000, 700), (2000, 1400)),
    (Limits(16383, 16383, 1_000_000), 3.0, Dimensions(1000, 700), (1195, 836)),
])
def test_upscaled_max_is_the_largest_size_the_advertised_limits_permit(server: Limits, max_upscale: float,
                                                                       image: Dimensions,
                                                                       expected: tuple[int, int]) -> None:
    # §4.2: ^max is "scaled to the maximum size permitted by maxWidth, maxHeight, or maxArea";
    # info.json advertises image_limits, so that is what bounds it.
    limits = image_limits(server, image, max_upscale)
    result = output_size(parse_size("^max"), image, limits)
    assert (result.width, result.height) == expected
    assert limits.allows(result)
    one_wider = Dimensions(result.width + 1, round((result.width + 1) * image.height / image.width))
    assert not limits.allows(one_wider)  # and no larger one would be
    assert output_size(parse_size("max"), image, limits) == server.largest(image, upscale=False)  # never upscaled


@pytest.mark.parametrize("size, expected", [
    ("^1500,", (1500, 1500)),
    ("^,1500", (1500, 1500)),
    ("^1500,1800", (1500, 1800)),
    ("^pct:200", (2000, 2000)),
    ("^!2000,500", (500, 500)),  # fits the box without upscaling
    ("^!2000,3000", (2000, 2000)),  # fits the box by upscaling
    ("^!3000,3000", (2000, 2000)),  # the box is past the limits: as large as the limits allow
    ("!900,900", (900, 900)),
])
def test_upscaling_forms_within_twice_the_image(size: str, expected: tuple[int, int]) -> None:
    result = output_size(parse_size(size), SQUARE, image_limits(SERVER_LIMITS, SQUARE, 2.0))
    assert (result.width, result.height) == expected


@pytest.mark.parametrize("size", ["1001,", ",1500", "1000,1001", "!2000,3000"])
def test_a_size_larger_than_the_region_without_caret_is_400_even_when_upscaling_is_allowed(size: str) -> None:
    with pytest.raises(BadRequest, match=r"prefix the size with \^ to upscale"):
        output_size(parse_size(size), SQUARE, image_limits(SERVER_LIMITS, SQUARE, 2.0))


@pytest.mark.parametrize("size, limits, expected", [
    ("!900,900", Limits(500, 500, 10**9), (500, 500)),  # "not larger than ... server-imposed limits"
    ("^!5000,5000", Limits(4000, 4000, 4_000_000), (2000, 2000)),
    ("^!5000,1000", Limits(4000, 4000, 4_000_000), (1000, 1000)),  # the box binds first
    ("^!4000,2000", Limits(3000, 1500, 10**9), (1500, 1500)),
])
def test_confined_sizes_shrink_to_the_limits_instead_of_failing(size: str, limits: Limits,
                                                                expected: tuple[int, int]) -> None:
    result = output_size(parse_size(size), SQUARE, limits)
    assert (result.width, result.height) == expected
    assert limits.allows(result)


def test_a_confined_size_shrinks_so_the_rotated_output_is_within_the_limits() -> None:
    request = parse_image_request("a~p0001", "full", "^!5000,5000", "45", "default.png")
    limits = Limits(4000, 4000, 4_000_000)
    plan = plan_render(request, BIG, limits)
    assert limits.allows(rotated_size(plan.output, plan.rotation))
    assert plan.output.width == plan.output.height > 1300
