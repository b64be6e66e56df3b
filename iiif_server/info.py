"""The image information document (info.json) of IIIF Image API 3.0 §5."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from iiif_server.geometry import Dimensions, Limits, Pyramid, reduced_limits
from iiif_server.image_request import Format

CONTEXT = "http://iiif.io/api/image/3/context.json"
PROTOCOL = "http://iiif.io/api/image"
PROFILE = "level2"
PROFILE_URI = "http://iiif.io/api/image/3/level2.json"
MEDIA_TYPE = f'application/ld+json;profile="{CONTEXT}"'
# Level 2 already includes jpg+png and default/color/gray/bitonal except what we list (§5.7, compliance doc).
EXTRA_FORMATS = (Format.WEBP, Format.TIF, Format.GIF)
EXTRA_QUALITIES = ("color", "gray", "bitonal")
EXTRA_FEATURES = ("canonicalLinkHeader", "mirroring", "profileLinkHeader", "rotationArbitrary", "sizeUpscaling")


def build_info(service_id: str, pyramid: Pyramid, limits: Limits, *, tile_size: int, part_of: str = "",
               reduced: Dimensions | None = None, services: tuple[dict[str, Any], ...] = (),
               formats: Collection[Format] = EXTRA_FORMATS) -> dict[str, Any]:
    """Build info.json for one image; ``part_of`` is the manifest that shows it, if any.

    ``formats`` are those the renderer can write: an extra format is listed only if it is
    among them, so a client is never offered WebP from a libvips built without libwebp.

    For a reduced view (``reduced`` set) the limits, sizes and tiles describe only what
    the reduced image can fill: no size beyond it, no tile finer than it.
    """
    if reduced is not None:
        limits = reduced_limits(limits, reduced)
    info: dict[str, Any] = {
        "@context": CONTEXT,
        "id": service_id,
        "type": "ImageService3",
        "protocol": PROTOCOL,
        "profile": PROFILE,
        "width": pyramid.width,
        "height": pyramid.height,
        # sizeUpscaling requires maxWidth or maxArea (§5.7), so the limits are always stated.
        "maxWidth": limits.max_width,
        "maxHeight": limits.max_height,
        "maxArea": limits.max_area,
        "sizes": [{"width": s.width, "height": s.height} for s in preferred_sizes(pyramid, limits, reduced)],
        # square: height = width
        "tiles": [{"width": tile_size, "scaleFactors": scale_factors(pyramid, reduced)}],
        "extraFormats": [fmt.value for fmt in EXTRA_FORMATS if fmt in formats],
        "extraQualities": list(EXTRA_QUALITIES),
        "extraFeatures": list(EXTRA_FEATURES),
    }
    if part_of:
        info["partOf"] = [{"id": part_of, "type": "Manifest"}]
    if services:
        info["service"] = list(services)
    return info


def preferred_sizes(pyramid: Pyramid, limits: Limits, reduced: Dimensions | None = None) -> list[Dimensions]:
    """Return the stored level sizes within the limits, smallest first: the cheapest whole images."""
    sizes = [Dimensions(level.width, level.height) for level in reversed(pyramid.levels)]
    if reduced is not None and reduced not in sizes:
        sizes = sorted([*sizes, reduced], key=lambda size: size.area)
    return [size for size in sizes if limits.allows(size)]


def scale_factors(pyramid: Pyramid, reduced: Dimensions | None = None) -> list[int]:
    """Return the scale factors at which tiles come straight from a stored level (and, if reduced, from it)."""
    factors = [level.factor for level in pyramid.levels]
    if reduced is None:
        return factors
    # A tile at factor f shows f x f full-size pixels per output pixel; the reduced image has W/w.
    fits = [f for f in factors if f * reduced.width >= pyramid.width and f * reduced.height >= pyramid.height]
    if fits:
        return fits
    factor = 1
    while factor * reduced.width < pyramid.width or factor * reduced.height < pyramid.height:
        factor *= 2
    return [factor]
