"""Image quality control: is each master fit to keep, and is the batch complete?

``check_page`` runs the per-page checks on one master (header checks, then pixel
checks on a copy shrunk on load); ``check_batch`` adds the checks that compare
pages with each other (focus outliers, double shots, gaps in the sequence). Every
check returns pass / warn / fail with the measured value and the threshold, from a
:class:`Profile` (``ancient-books``, ``republican-documents`` or ``legacy``, or a file). The
gate (:func:`decide`) says whether the batch may go to storage.
"""

from __future__ import annotations

from pipeline.qc.batch_checks import check_batch
from pipeline.qc.colour_target import (
    REFERENCE_LAB_D50,
    delta_e_2000,
    lab_to_srgb8,
    measure_chart,
    srgb8_to_lab,
)
from pipeline.qc.gate import (
    Finding,
    GateDecision,
    GateRequest,
    OverrideError,
    QcGateError,
    batch_wide,
    check_request,
    decide,
)
from pipeline.qc.model import (
    BATCH_CHECKS,
    CHECKS,
    PAGE_CHECKS,
    CheckResult,
    PageQC,
    Status,
    worst,
)
from pipeline.qc.page import check_page
from pipeline.qc.pixels import ink_coverage, measure_falloff, measure_focus
from pipeline.qc.profile import (
    BUILTIN_PROFILES,
    DEFAULT_PROFILE,
    Profile,
    builtin_profile,
    load_profile,
    resolve_profile,
)

__all__ = [
    "BATCH_CHECKS", "BUILTIN_PROFILES", "CHECKS", "DEFAULT_PROFILE", "PAGE_CHECKS", "REFERENCE_LAB_D50",
    "CheckResult", "Finding", "GateDecision", "GateRequest", "OverrideError", "PageQC", "Profile",
    "QcGateError", "Status", "batch_wide", "builtin_profile", "check_batch", "check_page", "check_request", "decide",
    "delta_e_2000", "ink_coverage", "lab_to_srgb8", "load_profile", "measure_chart", "measure_falloff",
    "measure_focus", "resolve_profile", "srgb8_to_lab", "worst",
]
