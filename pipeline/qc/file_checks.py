"""Checks on what a master's header says: colour mode, bit depth, ICC profile, resolution, size."""

from __future__ import annotations

from pipeline.images import ImageInfo
from pipeline.qc.model import CheckResult, Status
from pipeline.qc.profile import Profile

_CM_PER_INCH = 2.54
_COLOUR_FIX = {
    "cmyk": "CMYK master: re-export the raw capture as RGB (Adobe RGB 1998, eciRGB v2 or sRGB)",
    "palette": "indexed (palette) colour discards tonal detail: re-export as 8- or 16-bit RGB",
}


def check_integrity_passed(info: ImageInfo) -> CheckResult:
    """Describe a master that probed and decoded fully."""
    size = f"{info.width}x{info.height}"
    detail = f"{info.format.upper()} {size}, {info.bits_per_sample}-bit {info.colour_mode}"
    compression = f", {info.compression}" if info.compression else ""
    return CheckResult("integrity", Status.PASS, size, "decodes fully", f"decodes fully: {detail}{compression}")


def check_colour_mode(info: ImageInfo, profile: Profile) -> CheckResult:
    """Check the colour space and that there is no alpha channel."""
    threshold = f"{' or '.join(profile.allowed_colour_modes)}, no alpha"
    mode = info.colour_mode
    if mode not in profile.allowed_colour_modes:
        message = _COLOUR_FIX.get(mode, f"unsupported colour space '{info.interpretation}': re-export as RGB")
        return CheckResult("colour_mode", profile.disallowed_colour_status, mode, threshold, message)
    if info.has_alpha:
        message = "alpha channel present: export without transparency (derivatives flatten it on white)"
        return CheckResult("colour_mode", profile.alpha_status, f"{mode}+alpha", threshold, message)
    return CheckResult("colour_mode", Status.PASS, mode, threshold, f"{mode} colour")


def check_bit_depth(info: ImageInfo, profile: Profile) -> CheckResult:
    """Check bits per sample against the profile."""
    bits = info.bits_per_sample
    threshold = " or ".join(str(b) for b in profile.allowed_bits) + " bits per sample"
    if bits in profile.allowed_bits:
        return CheckResult("bit_depth", Status.PASS, bits, threshold, f"{bits} bits per sample")
    allowed = " or ".join(str(b) for b in profile.allowed_bits)
    message = f"{bits}-bit samples lose tonal detail: re-export at {allowed} bits per channel"
    return CheckResult("bit_depth", Status.FAIL, bits, threshold, message)


def check_icc(info: ImageInfo, profile: Profile) -> CheckResult:
    """Check that an ICC profile is embedded so colour can be managed."""
    if info.has_icc:
        return CheckResult("icc", Status.PASS, "embedded", "embedded profile", "ICC profile embedded")
    message = ("no embedded ICC profile: colour cannot be managed; embed the capture profile "
               "(Adobe RGB 1998, eciRGB v2 or sRGB) when exporting")
    return CheckResult("icc", profile.icc_missing_status, "none", "embedded profile", message)


def check_resolution(info: ImageInfo, declared_ppi: float | None, profile: Profile) -> CheckResult:
    """Check the effective resolution (declared, else embedded) and that both agree."""
    threshold = f">= {profile.min_ppi:g} ppi"
    embedded, declared = info.ppi, declared_ppi or None
    effective = declared or embedded
    if effective is None:
        message = ("resolution unknown: the file embeds no ppi and none is declared; "
                   "set capture.declared_ppi in batch.json")
        return CheckResult("resolution", Status.WARN, None, threshold, message)
    if effective < profile.min_ppi * (1 - profile.ppi_tolerance):
        message = (f"effective resolution {effective:g} ppi is below {profile.min_ppi:g} ppi: "
                   "reshoot at higher resolution")
        return CheckResult("resolution", Status.FAIL, effective, threshold, message)
    if declared and embedded and abs(embedded - declared) > declared * profile.ppi_tolerance:
        message = (f"embedded resolution {embedded:g} ppi disagrees with the declared {declared:g} ppi: "
                   "fix the resolution setting in the capture software")
        return CheckResult("resolution", Status.WARN, effective, threshold, message)
    return CheckResult("resolution", Status.PASS, effective, threshold, f"{effective:g} ppi")


def check_dimensions(info: ImageInfo, declared_ppi: float | None, profile: Profile) -> CheckResult:
    """Check that pixel dimensions and resolution imply a plausible page size."""
    threshold = f"page long side {profile.min_page_cm:g}-{profile.max_page_cm:g} cm"
    ppi = declared_ppi or info.ppi
    pixels = f"{info.width}x{info.height} px"
    if not ppi:
        return CheckResult("dimensions", Status.PASS, pixels, threshold, f"{pixels}, physical size unknown")
    width_cm, height_cm = (side / ppi * _CM_PER_INCH for side in (info.width, info.height))
    size = f"{width_cm:.1f} x {height_cm:.1f} cm"
    if profile.min_page_cm <= max(width_cm, height_cm) <= profile.max_page_cm:
        return CheckResult("dimensions", Status.PASS, pixels, threshold, f"{pixels} = {size} at {ppi:g} ppi")
    message = f"{pixels} at {ppi:g} ppi is {size}, implausible for a page: check the declared ppi"
    return CheckResult("dimensions", Status.WARN, pixels, threshold, message)
