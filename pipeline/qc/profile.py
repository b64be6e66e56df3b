"""QC profiles: the thresholds for one class of material, loaded from JSON.

A profile file (schema ``schemas/qc-profile.schema.json``) has one section per
check; each section holds that check's thresholds plus ``fadgi_stars`` and
``basis``, naming the FADGI star level (or other source) the numbers follow.
Three profiles ship with Shuying (``profiles/*.json`` beside this module):
``ancient-books`` (古籍), ``republican-documents`` (民国文献) and ``legacy``, for
migrated scans that cannot be reshot. A profile may name another it ``relaxes``:
it starts from that profile's thresholds, and every threshold it changes is listed
in qc.json, as is every page check that passes only because of the change.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from pipeline.errors import ValidationError
from pipeline.qc.model import Status
from pipeline.validation import json_errors

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
BUILTIN_PROFILES = ("ancient-books", "republican-documents", "legacy")
# Which built-in profile a batch gets when none is named, by batch.json material_type.
PROFILE_FOR_MATERIAL = {"ancient_book": "ancient-books", "republican": "republican-documents"}

# Profile fields set by each section of a profile file.
SECTIONS: dict[str, tuple[str, ...]] = {
    "integrity": ("max_megapixels",),
    "compression": ("lossy_status",),
    "colour_mode": ("allowed_colour_modes", "disallowed_colour_status", "alpha_status"),
    "bit_depth": ("allowed_bits",),
    "icc": ("icc_missing_status",),
    "resolution": ("min_ppi", "ppi_tolerance", "missing_ppi_status"),
    "dimensions": ("min_page_cm", "max_page_cm"),
    "bitonal": ("near_bitonal_share", "bitonal_max_black"),
    "exposure": ("highlight_clip_warn", "highlight_clip_fail", "shadow_clip_warn", "min_tone_range"),
    "focus": ("min_focus", "focus_batch_ratio", "focus_batch_min_pages"),
    "skew": ("max_skew_warn", "max_skew_fail", "min_skew_confidence"),
    "blank": ("ink_delta", "blank_max_ink", "labelled_blank_max_ink"),
    "illumination": ("max_falloff_warn", "max_falloff_fail"),
    "double_leaf": ("double_leaf_min_confidence", "double_leaf_min_aspect"),
    "colour_accuracy": ("mean_delta_e_warn", "mean_delta_e_fail", "max_delta_e_warn"),
    "duplicate": ("duplicate_similarity", "duplicate_status"),
    "sequence": ("sequence_gap_status",),
}
_STATUS_FIELDS = frozenset({"disallowed_colour_status", "alpha_status", "icc_missing_status", "lossy_status",
                            "missing_ppi_status", "duplicate_status", "sequence_gap_status"})
_TUPLE_FIELDS = frozenset({"allowed_colour_modes", "allowed_bits"})


@dataclass(frozen=True)
class Profile:
    """QC thresholds for one class of material; the defaults are the ancient-books profile."""

    name: str = "ancient-books"
    title: str = ""
    fadgi_category: str = ""
    analysis_side: int = 1500  # long side (px) of the copy the pixel checks look at
    warnings_stop_ingest: bool = True  # the ingest gate stops on warnings unless they are accepted
    max_megapixels: int = 300
    lossy_status: Status = Status.FAIL  # JPEG masters, JPEG-in-TIFF
    allowed_colour_modes: tuple[str, ...] = ("rgb",)
    disallowed_colour_status: Status = Status.FAIL
    alpha_status: Status = Status.WARN
    allowed_bits: tuple[int, ...] = (8, 16)
    icc_missing_status: Status = Status.WARN
    min_ppi: float = 400.0
    ppi_tolerance: float = 0.02
    missing_ppi_status: Status = Status.WARN  # the file embeds no ppi; only batch.json records it
    min_page_cm: float = 5.0  # an implied page long side outside this range means a wrong ppi
    max_page_cm: float = 120.0
    near_bitonal_share: float = 0.94  # of an 8-bit page's pixels on two spikes, to judge it bitonal
    bitonal_max_black: float = 0.5  # a bitonal page blacker than this was binarised too dark, or inverted
    highlight_clip_warn: float = 0.005  # shares of pixels at 255 / 0
    highlight_clip_fail: float = 0.05
    shadow_clip_warn: float = 0.05  # only warns: a black background may clip harmlessly
    min_tone_range: float = 60.0  # grey levels between the 0.5th and 99.5th percentiles
    min_focus: float = 1.0  # edge sharpness, see measure_focus
    focus_batch_ratio: float = 0.75  # of the batch median
    focus_batch_min_pages: int = 5
    max_skew_warn: float = 2.0  # degrees
    max_skew_fail: float = 5.0
    min_skew_confidence: float = 0.5
    ink_delta: float = 50.0  # grey levels below the paper that count as ink
    blank_max_ink: float = 0.002  # a "page" with less ink than this looks blank
    labelled_blank_max_ink: float = 0.04  # a blank leaf may still carry a printed frame
    max_falloff_warn: float = 0.06  # paper brightness, brightest to darkest, of the brightest
    max_falloff_fail: float = 0.15
    double_leaf_min_confidence: float = 0.6  # of find_split's fold or 版心 (its no-evidence guess is < 0.5)
    double_leaf_min_aspect: float = 1.0  # width / height: two portrait leaves side by side are landscape
    mean_delta_e_warn: float = 3.0  # CIEDE2000 over the 24 patches
    mean_delta_e_fail: float = 5.0
    max_delta_e_warn: float = 10.0
    duplicate_similarity: float = 0.80  # correlation of character detail with the previous page
    duplicate_status: Status = Status.WARN
    sequence_gap_status: Status = Status.WARN
    levels: dict[str, str] = field(default_factory=dict, hash=False)  # check -> "FADGI 4-star" …
    basis: dict[str, str] = field(default_factory=dict, hash=False)  # check -> why this threshold
    baseline: Profile | None = field(default=None, hash=False)  # the profile this one relaxes

    @property
    def max_pixels(self) -> int:
        return self.max_megapixels * 1_000_000

    def thresholds(self) -> dict[str, Any]:
        """Return the threshold fields only (what two profiles must agree on to judge alike)."""
        skip = {"name", "title", "fadgi_category", "levels", "basis", "baseline"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}

    def relaxed(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Return check -> threshold -> {"baseline": value, "value": value} where this profile differs."""
        if self.baseline is None:
            return {}
        changes: dict[str, dict[str, dict[str, Any]]] = {}
        for check, keys in SECTIONS.items():
            for key in keys:
                mine, theirs = getattr(self, key), getattr(self.baseline, key)
                if mine != theirs:
                    changes.setdefault(check, {})[key] = {"baseline": _plain(theirs), "value": _plain(mine)}
        return changes

    def as_dict(self) -> dict[str, Any]:
        """Return a summary for qc.json: the name, each check's level and basis, and what it relaxes."""
        relaxed = self.relaxed()
        checks: dict[str, dict[str, Any]] = {}
        for check in SECTIONS:
            checks[check] = {"level": self.levels.get(check, ""), "basis": self.basis.get(check, "")}
            if check in relaxed:
                checks[check]["relaxed"] = relaxed[check]
        summary = {"name": self.name, "title": self.title, "fadgi_category": self.fadgi_category,
                   "warnings_stop_ingest": self.warnings_stop_ingest, "checks": checks}
        if self.baseline is not None:
            summary["relaxes"] = self.baseline.name
        return summary


DEFAULT_PROFILE = Profile()


def load_profile(path: str | Path) -> Profile:
    """Load and validate a profile file.

    Raises:
        ValidationError: the file is not JSON or breaks qc-profile.schema.json.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(str(path), [f"cannot read QC profile: {exc}"]) from None
    errors = json_errors(data, "qc-profile")
    if errors:
        raise ValidationError(str(path), errors)
    return profile_from_dict(data)


@functools.cache
def builtin_profile(name: str) -> Profile:
    """Return a profile that ships with Shuying, by name."""
    if name not in BUILTIN_PROFILES:
        raise ValueError(f"unknown QC profile {name!r}; built in: {', '.join(BUILTIN_PROFILES)}")
    return load_profile(PROFILE_DIR / f"{name}.json")


def resolve_profile(spec: str | Path | None, material_type: str = "", *, batch_profile: str = "") -> Profile:
    """Return the profile named by ``spec`` (built-in name or file), else by batch.json, else by material.

    ``batch_profile`` is batch.json's ``capture.qc_profile`` (a built-in name, e.g. legacy).
    """
    spec = spec or batch_profile
    if not spec:
        return builtin_profile(PROFILE_FOR_MATERIAL.get(str(getattr(material_type, "value", material_type)),
                                                        "ancient-books"))
    if str(spec) in BUILTIN_PROFILES:
        return builtin_profile(str(spec))
    return load_profile(spec)


def profile_from_dict(data: dict[str, Any]) -> Profile:
    """Build a Profile from a (schema-valid) profile document.

    A profile that ``relaxes`` a built-in one starts from its thresholds, levels and basis.
    """
    baseline = builtin_profile(data["relaxes"]) if data.get("relaxes") else None
    values: dict[str, Any] = baseline.thresholds() if baseline else {}
    values.update({"name": data["name"], "title": data.get("title", ""),
                   "fadgi_category": data.get("fadgi_category", baseline.fadgi_category if baseline else "")})
    for key in ("analysis_side", "warnings_stop_ingest"):
        if key in data:
            values[key] = data[key]
    levels = dict(baseline.levels) if baseline else {}
    basis = dict(baseline.basis) if baseline else {}
    for check, section in data.get("checks", {}).items():
        for key in SECTIONS[check]:
            if key in section:
                values[key] = _coerce(key, section[key])
        stars = section.get("fadgi_stars")
        levels[check] = f"FADGI {stars}-star" if stars else "not defined by FADGI"
        basis[check] = section.get("basis", "")
    return Profile(**values, levels=levels, basis=basis, baseline=baseline)


def _plain(value: Any) -> Any:
    """Return a threshold as JSON has it (statuses as strings, tuples as lists)."""
    if isinstance(value, Status):
        return value.value
    return list(value) if isinstance(value, tuple) else value


def _coerce(key: str, value: Any) -> Any:
    if key in _STATUS_FIELDS:
        return Status(value)
    if key in _TUPLE_FIELDS:
        return tuple(value)
    return value
