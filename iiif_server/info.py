"""The image information document (info.json) of IIIF Image API 3.0 §5."""

from __future__ import annotations

from typing import Any

from iiif_server.geometry import Dimensions, Limits, Pyramid

CONTEXT = "http://iiif.io/api/image/3/context.json"
PROTOCOL = "http://iiif.io/api/image"
PROFILE = "level2"
PROFILE_URI = "http://iiif.io/api/image/3/level2.json"
MEDIA_TYPE = f'application/ld+json;profile="{CONTEXT}"'
# Level 2 already includes jpg+png and default/color/gray/bitonal except what we list (§5.7, compliance doc).
EXTRA_FORMATS = ("webp", "tif", "gif")
EXTRA_QUALITIES = ("color", "gray", "bitonal")
EXTRA_FEATURES = ("canonicalLinkHeader", "mirroring", "profileLinkHeader", "rotationArbitrary", "sizeUpscaling")


def build_info(service_id: str, pyramid: Pyramid, limits: Limits, *, tile_size: int,
               part_of: str = "") -> dict[str, Any]:
    """Build info.json for one image; ``part_of`` is the manifest that shows it, if any."""
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
        "sizes": [{"width": s.width, "height": s.height} for s in preferred_sizes(pyramid, limits)],
        "tiles": [{"width": tile_size, "scaleFactors": scale_factors(pyramid)}],  # square: height = width
        "extraFormats": list(EXTRA_FORMATS),
        "extraQualities": list(EXTRA_QUALITIES),
        "extraFeatures": list(EXTRA_FEATURES),
    }
    if part_of:
        info["partOf"] = [{"id": part_of, "type": "Manifest"}]
    return info


def preferred_sizes(pyramid: Pyramid, limits: Limits) -> list[Dimensions]:
    """Return the stored level sizes within the limits, smallest first: the cheapest whole images."""
    sizes = [Dimensions(level.width, level.height) for level in reversed(pyramid.levels)]
    return [size for size in sizes if limits.allows(size)]


def scale_factors(pyramid: Pyramid) -> list[int]:
    """Return the scale factors at which tiles come straight from a stored level."""
    return [level.factor for level in pyramid.levels]
