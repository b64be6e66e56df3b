"""Checks on what a master's header says: compression, colour mode, bit depth, ICC, resolution, size."""

from __future__ import annotations

from pipeline.images import ImageInfo
from pipeline.qc.model import CheckResult, Status
from pipeline.qc.profile import Profile
from pipeline.qc.tone import Tone

_CM_PER_INCH = 2.54
LOSSY_TIFF_COMPRESSIONS = frozenset({"jpeg", "ojpeg", "webp"})
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


def check_compression(info: ImageInfo, profile: Profile) -> CheckResult:
    """Flag lossy masters (JPEG files, JPEG inside TIFF): FADGI masters are lossless."""
    threshold = "uncompressed or lossless"
    if info.format == "jpeg" or info.compression in LOSSY_TIFF_COMPRESSIONS:
        kind = "JPEG file" if info.format == "jpeg" else f"TIFF with {info.compression} compression"
        message = (f"lossy master ({kind}): compression has already discarded detail; export the capture "
                   "again as uncompressed or LZW/Deflate TIFF")
        return CheckResult("compression", profile.lossy_status, info.compression or info.format, threshold, message)
    if info.format == "jp2":  # lossless or lossy is not in the header libvips reads
        return CheckResult("compression", Status.PASS, "jpeg2000", threshold,
                           "JPEG 2000: lossless or lossy not recorded in the header; check the encoder settings")
    name = info.compression or info.format
    return CheckResult("compression", Status.PASS, name, threshold, f"{name} (lossless)")


def check_colour_mode(info: ImageInfo, profile: Profile, tone: Tone | None = None) -> CheckResult:
    """Check the colour space (a bitonal master counts as "bitonal") and that there is no alpha channel."""
    threshold = f"{' or '.join(profile.allowed_colour_modes)}, no alpha"
    mode = "bitonal" if tone is not None and tone.bitonal else info.colour_mode
    if mode not in profile.allowed_colour_modes:
        message = _COLOUR_FIX.get(mode, f"unsupported colour space '{info.interpretation}': re-export as RGB")
        if mode == "bitonal" and tone is not None:
            message = (f"bitonal master ({tone.describe(info)}): profile {profile.name} accepts "
                       f"{' or '.join(profile.allowed_colour_modes)} masters; a binarised page has lost paper tone, "
                       "seals and shading: rescan, or ingest a migrated scan under --profile legacy")
        return CheckResult("colour_mode", profile.disallowed_colour_status, mode, threshold, message)
    if info.has_alpha:
        message = "alpha channel present: export without transparency (derivatives flatten it on white)"
        return CheckResult("colour_mode", profile.alpha_status, f"{mode}+alpha", threshold, message)
    described = "bitonal (black and white)" if mode == "bitonal" else f"{mode} colour"
    return CheckResult("colour_mode", Status.PASS, mode, threshold, described)


def check_bit_depth(info: ImageInfo, profile: Profile) -> CheckResult:
    """Check bits per sample against the profile."""
    bits = info.bits_per_sample
    threshold = " or ".join(str(b) for b in profile.allowed_bits) + " bits per sample"
    if bits in profile.allowed_bits:
        return CheckResult("bit_depth", Status.PASS, bits, threshold, f"{bits} bits per sample")
    allowed = " or ".join(str(b) for b in profile.allowed_bits)
    message = f"{bits}-bit samples lose tonal detail: re-export at {allowed} bits per channel"
    if bits == 1:
        message = f"1-bit (bitonal) master: profile {profile.name} asks for {allowed} bits per channel"
    return CheckResult("bit_depth", Status.FAIL, bits, threshold, message)


def check_icc(info: ImageInfo, profile: Profile, tone: Tone | None = None) -> CheckResult:
    """Check that an ICC profile is embedded so colour can be managed (black and white needs none)."""
    if info.has_icc:
        return CheckResult("icc", Status.PASS, "embedded", "embedded profile", "ICC profile embedded")
    if tone is not None and tone.bitonal:
        return CheckResult("icc", Status.PASS, "none", "n/a (bitonal master)",
                           "no ICC profile: none is needed for a black and white master")
    message = ("no embedded ICC profile: colour cannot be managed; embed the capture profile "
               "(Adobe RGB 1998, eciRGB v2 or sRGB) when exporting")
    return CheckResult("icc", profile.icc_missing_status, "none", "embedded profile", message)


def check_resolution(info: ImageInfo, declared_ppi: float | None, profile: Profile) -> CheckResult:
    """Check the effective resolution (declared, else embedded), that both agree and that the file has one."""
    threshold = f">= {profile.min_ppi:g} ppi"
    embedded, declared = info.ppi, declared_ppi or None
    if declared and embedded and abs(embedded - declared) > declared * profile.ppi_tolerance:
        return _resolution_mismatch(info, declared, embedded, profile)
    effective = declared or embedded
    if effective is None:
        message = ("resolution unknown: the file embeds no ppi and none is declared; "
                   "set capture.declared_ppi in batch.json")
        return CheckResult("resolution", Status.WARN, None, threshold, message)
    if _below(effective, profile):
        message = (f"effective resolution {effective:g} ppi is below {profile.min_ppi:g} ppi: "
                   "reshoot at higher resolution")
        return CheckResult("resolution", Status.FAIL, effective, threshold, message)
    if embedded is None:
        message = (f"no embedded resolution: only batch.json records {effective:g} ppi; "
                   "set the resolution in the capture software so the file carries it")
        return CheckResult("resolution", profile.missing_ppi_status, effective, threshold, message)
    return CheckResult("resolution", Status.PASS, effective, threshold, f"{effective:g} ppi")


def _resolution_mismatch(info: ImageInfo, declared: float, embedded: float, profile: Profile) -> CheckResult:
    """Report embedded and declared ppi that disagree: one of them is wrong, and no reshoot mends that.

    It fails when the batch as declared is below the minimum, else warns.
    """
    sizes = "; ".join(f"at {ppi:g} ppi the page is {_size_cm(info, ppi)}" for ppi in (embedded, declared))
    message = (f"resolution mismatch: the master embeds {embedded:g} ppi but batch.json declares {declared:g} ppi "
               f"({sizes}): correct capture.declared_ppi in batch.json, or the capture software's "
               f"resolution setting if {declared:g} ppi is right")
    status = Status.FAIL if _below(declared, profile) else Status.WARN
    return CheckResult("resolution", status, declared, f">= {profile.min_ppi:g} ppi", message)


def _below(ppi: float, profile: Profile) -> bool:
    return ppi < profile.min_ppi * (1 - profile.ppi_tolerance)


def _size_cm(info: ImageInfo, ppi: float) -> str:
    return f"{info.width / ppi * _CM_PER_INCH:.1f} x {info.height / ppi * _CM_PER_INCH:.1f} cm"


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
