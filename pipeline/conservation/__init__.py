"""Conservation records (修复档案): the record, its vocabularies, its place in METS, its printable report.

Pure like the rest of pipeline/: workflows/conservation.py stores records and makes the
AIP versions; iiif_server/staff/ is the conservators' web form.
"""

from __future__ import annotations

from pipeline.conservation.mets import ItemDescription, MetsPage, add_revision, describe_item
from pipeline.conservation.record import (
    ConservationRecord,
    DuplicateRecordError,
    ImageRole,
    RecordError,
    RecordHistory,
    RecordImage,
    RevisionConflictError,
    SavedRevision,
    UnknownRecordError,
    check_pages,
    parse_record,
    record_from_dict,
)
from pipeline.conservation.report import render_record_section, render_report, report_image
from pipeline.conservation.vocabulary import (
    Term,
    Vocabularies,
    Vocabulary,
    VocabularyError,
    load_vocabularies,
)

__all__ = [
    "ConservationRecord",
    "DuplicateRecordError",
    "ImageRole",
    "ItemDescription",
    "MetsPage",
    "RecordError",
    "RecordHistory",
    "RecordImage",
    "RevisionConflictError",
    "SavedRevision",
    "Term",
    "UnknownRecordError",
    "Vocabularies",
    "Vocabulary",
    "VocabularyError",
    "add_revision",
    "check_pages",
    "describe_item",
    "load_vocabularies",
    "parse_record",
    "record_from_dict",
    "render_record_section",
    "render_report",
    "report_image",
]
