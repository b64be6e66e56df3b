"""Region, size and pyramid-level arithmetic for IIIF Image API 3.0: pure, no pixels.

:func:`plan_render` turns a parsed request and the image's pyramid into a
:class:`RenderPlan`: the pixel box to cut from one pyramid level and the exact
output size, checked against the server's limits before anything is decoded.
:func:`canonical_path` gives the §4.8 canonical form used for the ``Link``
header, the ETag and the derivative-cache key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from iiif_server.errors import BadRequest
from iiif_server.image_request import (
    Format,
    ImageRequest,
    Quality,
    Region,
    RegionKind,
    Rotation,
    Size,
    SizeKind,
)

__all__ = [
    "Box",
    "Dimensions",
    "Level",
    "Limits",
    "Pyramid",
    "RenderPlan",
    "canonical_path",
    "choose_level",
    "confine",
    "fit_rotation",
    "image_limits",
    "output_size",
    "plan_reduced",
    "plan_render",
    "reduced_canonical_path",
    "reduced_limits",
    "reduced_size",
    "region_box",
    "rotated_size",
    "stated_limits",
]


# Sizes the spec bounds by the server's limits (§4.2), so they shrink to fit instead of being refused.
FITTED_SIZES = frozenset({SizeKind.MAX, SizeKind.CONFINED})


@dataclass(frozen=True)
class Dimensions:
    width: int
    height: int

    @property
    def area(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    width: int
    height: int

    @property
    def dimensions(self) -> Dimensions:
        return Dimensions(self.width, self.height)


@dataclass(frozen=True)
class Level:
    """One stored resolution: page ``index`` of the TIFF, ``factor`` times smaller than full size."""

    index: int
    factor: int
    width: int
    height: int


@dataclass(frozen=True)
class Pyramid:
    """Full-size dimensions and the stored levels, finest (factor 1) first."""

    width: int
    height: int
    levels: tuple[Level, ...]
    tile_size: int = 256  # the stored tiles' width (and height)

    @property
    def dimensions(self) -> Dimensions:
        return Dimensions(self.width, self.height)


@dataclass(frozen=True)
class Limits:
    """Server-imposed output limits, published as maxWidth/maxHeight/maxArea (§5.2)."""

    max_width: int
    max_height: int
    max_area: int

    def allows(self, size: Dimensions) -> bool:
        """Tell whether an output of ``size`` is within every limit."""
        return size.width <= self.max_width and size.height <= self.max_height and size.area <= self.max_area

    def largest(self, size: Dimensions, *, upscale: bool) -> Dimensions:
        """Return ``size`` scaled to the largest that fits the limits (growing it only if ``upscale``)."""
        # Exact fractions for the side limits: 300 px at 200/300 must give 200, not 199.
        scale = min(Fraction(self.max_width, size.width), Fraction(self.max_height, size.height))
        area_scale = math.sqrt(self.max_area / size.area)
        if scale >= 1 and area_scale >= 1 and not upscale:
            return size
        if area_scale >= scale:
            return Dimensions(max(1, math.floor(size.width * scale)), max(1, math.floor(size.height * scale)))
        width, height = max(1, math.floor(size.width * area_scale)), max(1, math.floor(size.height * area_scale))
        while width * height > self.max_area and width > 1 and height > 1:  # float rounding at the edge
            width, height = width - 1, max(1, math.floor(size.height * (width - 1) / size.width))
        return Dimensions(width, height)


@dataclass(frozen=True)
class RenderPlan:
    """Everything the renderer needs, in the order it applies it (§4.6)."""

    level: Level
    crop: Box  # in the level's pixel space
    output: Dimensions
    rotation: Rotation
    quality: Quality
    format: Format
    # Set for a reduced view: the whole image is first scaled to this size, ``level`` is the
    # level that scaling reads, and ``crop`` is in the reduced image's pixels.
    reduced: Dimensions | None = None


def plan_render(request: ImageRequest, pyramid: Pyramid, limits: Limits, *,
                stated: Limits | None = None) -> RenderPlan:
    """Resolve region and size, check the limits and pick the cheapest sufficient level.

    ``limits`` is what is served; ``stated`` what info.json promises (default: the same),
    which ``max`` and ``^max`` scale to.
    """
    box = region_box(request.region, pyramid.dimensions)
    output = fit_rotation(output_size(request.size, box.dimensions, limits, stated), request, limits)
    level = choose_level(pyramid.levels, box, output)
    return RenderPlan(level, level_box(box, level), output, request.rotation, request.quality, request.format)


def image_limits(limits: Limits, image: Dimensions, max_upscale: float) -> Limits:
    """Return one image's limits: the server's, and no more than ``max_upscale`` times the image."""
    # An upscaled rare-book page shows no more than the page; it only costs memory.
    return Limits(min(limits.max_width, math.floor(image.width * max_upscale)),
                  min(limits.max_height, math.floor(image.height * max_upscale)),
                  min(limits.max_area, math.floor(image.area * max_upscale * max_upscale)))


def stated_limits(limits: Limits, image: Dimensions) -> Limits:
    """Return the limits info.json states for one image: the server's, and no more than the image.

    §4.2 makes ``^max`` "the maximum size permitted by maxWidth, maxHeight, or maxArea", so
    stating the upscaling allowance there would turn ``^max`` of every page into an
    enlargement that shows nothing more (a 1000 px page would come back 10000 px at
    max_upscale 10). Explicit ``^w,h`` sizes up to max_upscale are still served: §5.3 lets
    a server serve beyond what it states ("clients must not expect ... to be supported").
    """
    return image_limits(limits, image, 1.0)


def rotated_size(size: Dimensions, rotation: Rotation) -> Dimensions:
    """Return the size of the output after rotation: the rotated image's bounding box (§4.3)."""
    if rotation.is_right_angle:
        return Dimensions(size.height, size.width) if rotation.degrees % 180 else size
    angle = math.radians(rotation.degrees)
    cos, sin = abs(math.cos(angle)), abs(math.sin(angle))
    # libvips may round each side up by one pixel more than the exact box.
    return Dimensions(math.ceil(size.width * cos + size.height * sin) + 1,
                      math.ceil(size.width * sin + size.height * cos) + 1)


def fit_rotation(output: Dimensions, request: ImageRequest, limits: Limits) -> Dimensions:
    """Return ``output`` such that the rotated result is within the limits: ``max`` and ``!w,h`` shrink, others are refused.

    The limits bound what is encoded and so the memory a request takes; rotation by 45°
    doubles the area, so checking the scaled size alone would let it through.
    """
    final = rotated_size(output, request.rotation)
    if limits.allows(final):
        return output
    if request.size.kind not in FITTED_SIZES:
        raise BadRequest(f"{final.width}x{final.height} after rotation exceeds this server's limits (maxWidth "
                         f"{limits.max_width}, maxHeight {limits.max_height}, maxArea {limits.max_area})", "size")
    scale = min(limits.max_width / final.width, limits.max_height / final.height,
                math.sqrt(limits.max_area / final.area))
    fitted = Dimensions(max(1, math.floor(output.width * scale)), max(1, math.floor(output.height * scale)))
    while not limits.allows(rotated_size(fitted, request.rotation)) and min(fitted.width, fitted.height) > 1:
        fitted = Dimensions(fitted.width - 1, max(1, math.floor(fitted.height * (fitted.width - 1) / fitted.width)))
    return fitted


def reduced_size(image: Dimensions, long_edge: int) -> Dimensions | None:
    """Return the image's size scaled down to ``long_edge`` px on its longer side, or None if it is no larger."""
    if max(image.width, image.height) <= long_edge:
        return None
    return Limits(long_edge, long_edge, long_edge * long_edge).largest(image, upscale=False)


def reduced_limits(limits: Limits, reduced: Dimensions) -> Limits:
    """Return the output limits of a reduced view: never larger than the reduced image."""
    return Limits(min(limits.max_width, reduced.width), min(limits.max_height, reduced.height),
                  min(limits.max_area, reduced.area))


def plan_reduced(request: ImageRequest, pyramid: Pyramid, limits: Limits, reduced: Dimensions) -> RenderPlan:
    """Plan a request against the whole image scaled to ``reduced``: no output pixel can hold more detail.

    Region and size keep their meaning in full-size pixels, so viewers need no other
    coordinates; ``max`` is the region at the reduced resolution. Whatever is asked, the
    pixels come from the reduced image only (upscaled when a request wants more).
    """
    box = region_box(request.region, pyramid.dimensions)
    crop = reduced_box(box, pyramid.dimensions, reduced)
    view = reduced_limits(limits, reduced)
    if request.size.kind is SizeKind.MAX:
        # max and ^max both scale the reduced crop: one rounding rule, so ^max is never a pixel short.
        output = view.largest(crop.dimensions, upscale=request.size.upscale)
    else:
        output = output_size(request.size, box.dimensions, view)
    output = fit_rotation(output, request, limits)
    level = choose_level(pyramid.levels, Box(0, 0, pyramid.width, pyramid.height), reduced)
    return RenderPlan(level, crop, output, request.rotation, request.quality, request.format, reduced)


def reduced_box(box: Box, image: Dimensions, reduced: Dimensions) -> Box:
    """Return ``box`` (full-size pixels) in the reduced image's pixels, rounded outwards and clipped."""
    x0 = min(box.x * reduced.width // image.width, reduced.width - 1)
    y0 = min(box.y * reduced.height // image.height, reduced.height - 1)
    x1 = min(reduced.width, -(-(box.x + box.width) * reduced.width // image.width))
    y1 = min(reduced.height, -(-(box.y + box.height) * reduced.height // image.height))
    return Box(x0, y0, max(1, x1 - x0), max(1, y1 - y0))


def reduced_canonical_path(request: ImageRequest, plan: RenderPlan, image: Dimensions) -> str:
    """Return the canonical ``region/size/rotation/quality.format`` of a reduced-view request."""
    box = region_box(request.region, image)
    region = "full" if box == Box(0, 0, image.width, image.height) else f"{box.x},{box.y},{box.width},{box.height}"
    output = plan.output
    upscaled = output.width > box.width or output.height > box.height
    return f"{region}/{'^' if upscaled else ''}{output.width},{output.height}/" \
           f"{_canonical_rotation(plan.rotation)}/{plan.quality.value}.{plan.format.value}"


def region_box(region: Region, image: Dimensions) -> Box:
    """Return the region in full-size pixels, cropped at the image's edge (§4.1)."""
    if region.kind is RegionKind.FULL:
        return Box(0, 0, image.width, image.height)
    if region.kind is RegionKind.SQUARE:
        side = min(image.width, image.height)
        return Box((image.width - side) // 2, (image.height - side) // 2, side, side)
    x, y, w, h = region.x, region.y, region.width, region.height
    if region.kind is RegionKind.PERCENT:
        x, y = _round(x * image.width / 100), _round(y * image.height / 100)
        w, h = _round(w * image.width / 100), _round(h * image.height / 100)
    x, y, w, h = int(x), int(y), int(w), int(h)
    if w < 1 or h < 1:
        raise BadRequest("region is smaller than one pixel", "region")
    if x >= image.width or y >= image.height:
        raise BadRequest(f"region starts outside the {image.width}x{image.height} image", "region")
    return Box(x, y, min(w, image.width - x), min(h, image.height - y))


def output_size(size: Size, region: Dimensions, limits: Limits, stated: Limits | None = None) -> Dimensions:
    """Return the scaled size of the region, refusing upscaling without ^ and sizes over the limits (§4.2).

    ``max`` and ``^max`` scale to the ``stated`` limits (info.json's; default ``limits``);
    ``!w,h`` and ``^!w,h`` are bounded by the limits by definition, so they shrink to fit;
    a size the client spelled out exactly is refused instead.
    """
    if size.kind is SizeKind.MAX:
        return (stated or limits).largest(region, upscale=size.upscale)
    result = _requested_size(size, region)
    if result.width < 1 or result.height < 1:
        raise BadRequest("scaled region is smaller than one pixel", "size")
    if not size.upscale and (result.width > region.width or result.height > region.height):
        # Cantaloupe, IIPImage and the IIIF validator read !w,h the same way: larger needs ^.
        raise BadRequest(f"{result.width}x{result.height} is larger than the {region.width}x{region.height} "
                         "region; prefix the size with ^ to upscale", "size")
    if size.kind is SizeKind.CONFINED and not limits.allows(result):
        # §4.2: !w,h and ^!w,h are "as large as possible but not larger than w, h or server-imposed limits".
        return confine(result, limits.largest(region, upscale=True))
    if not limits.allows(result):
        raise BadRequest(f"{result.width}x{result.height} exceeds this server's limits (maxWidth "
                         f"{limits.max_width}, maxHeight {limits.max_height}, maxArea {limits.max_area})", "size")
    return result


def confine(size: Dimensions, bound: Dimensions) -> Dimensions:
    """Return ``size`` no larger than ``bound`` on either side (both have the region's aspect, up to rounding)."""
    return Dimensions(min(size.width, bound.width), min(size.height, bound.height))


def choose_level(levels: tuple[Level, ...], box: Box, output: Dimensions) -> Level:
    """Return the coarsest level that still holds the output's pixels, so no more is decoded than needed."""
    for level in reversed(levels):
        crop = level_box(box, level)
        # Halving floors, so a level may lack the image's last partial pixel: allow that one.
        slack_x = 1 if box.x + box.width > level.width * level.factor else 0
        slack_y = 1 if box.y + box.height > level.height * level.factor else 0
        if crop.width + slack_x >= output.width and crop.height + slack_y >= output.height:
            return level
    return levels[0]


def level_box(box: Box, level: Level) -> Box:
    """Return ``box`` (full-size pixels) in ``level``'s pixels, rounded outwards and clipped."""
    f = level.factor
    x0, y0 = min(box.x // f, level.width - 1), min(box.y // f, level.height - 1)
    x1 = min(level.width, -(-(box.x + box.width) // f))
    y1 = min(level.height, -(-(box.y + box.height) // f))
    return Box(x0, y0, max(1, x1 - x0), max(1, y1 - y0))


def canonical_path(request: ImageRequest, image: Dimensions, limits: Limits, stated: Limits | None = None) -> str:
    """Return ``region/size/rotation/quality.format`` in the canonical form of §4.8."""
    box = region_box(request.region, image)
    output = output_size(request.size, box.dimensions, limits, stated)
    region = "full" if box == Box(0, 0, image.width, image.height) else f"{box.x},{box.y},{box.width},{box.height}"
    return f"{region}/{_canonical_size(output, box.dimensions, stated or limits)}/" \
           f"{_canonical_rotation(request.rotation)}/{request.quality.value}.{request.format.value}"


def _requested_size(size: Size, region: Dimensions) -> Dimensions:
    rw, rh = region.width, region.height
    if size.kind is SizeKind.PERCENT:
        percent = size.percent or 0.0
        return Dimensions(_round(rw * percent / 100), _round(rh * percent / 100))
    w, h = size.width, size.height
    if size.kind is SizeKind.WIDTH and w is not None:
        return Dimensions(w, _round(rh * w / rw))
    if size.kind is SizeKind.HEIGHT and h is not None:
        return Dimensions(_round(rw * h / rh), h)
    if size.kind is SizeKind.CONFINED and w is not None and h is not None:
        if w * rh <= h * rw:  # width binds
            return Dimensions(w, min(h, _round(rh * w / rw)))
        return Dimensions(min(w, _round(rw * h / rh)), h)
    if w is None or h is None:
        raise BadRequest("size needs a width and a height", "size")
    return Dimensions(w, h)


def _canonical_size(output: Dimensions, region: Dimensions, limits: Limits) -> str:
    if output == limits.largest(region, upscale=False):
        return "max"
    upscaled = output.width > region.width or output.height > region.height
    if upscaled and output == limits.largest(region, upscale=True):
        return "^max"
    return f"{'^' if upscaled else ''}{output.width},{output.height}"


def _canonical_rotation(rotation: Rotation) -> str:
    degrees = rotation.degrees
    text = str(int(degrees)) if degrees.is_integer() else f"{degrees:.10f}".rstrip("0").rstrip(".")
    return f"{'!' if rotation.mirror else ''}{text}"


def _round(value: float) -> int:
    """Round half up (Python's round() goes to even, which would make 12.5% of 100 px 12)."""
    return math.floor(value + 0.5)
