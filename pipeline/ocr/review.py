"""What a reviewer needs to know about a page's OCR: the ocr.json fields, and the item's review list.

``page_summary`` gives the review fields the Ocr task writes into each page's ocr.json;
``review_list`` gathers the pages whose OCR needs review, with their reasons, from those
records (what ``ocr-review.json``, the contact sheet and ``shuying ingest`` show).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.batch import Leaf, Page
from pipeline.ocr.model import LOW_GLYPH_CONFIDENCE, REVIEW_THRESHOLD, OcrPage
from pipeline.ocr.numerals import leaf_number

__all__ = ["page_summary", "review_list"]


def page_summary(result: OcrPage) -> dict[str, Any]:
    """Return the counts, confidence and review fields of one read page, for its ocr.json."""
    return {
        "lines": len(result.lines),
        "glyphs": result.glyph_count,
        "blocks": result.block_counts(),
        "mean_confidence": result.mean_confidence,
        "needs_review": result.needs_review(),
        "review_threshold": REVIEW_THRESHOLD,
        "review_reasons": list(result.review_reasons()),
        "low_confidence_glyphs": result.low_confidence_glyphs(),
        "low_glyph_threshold": LOW_GLYPH_CONFIDENCE,
        "empty_reason": result.empty_reason,
        "fold_text": result.fold_text,  # 版心: book title, 卷 and leaf number, kept out of the text
        "leaf_number": leaf_number(result.fold_text),
    }


def review_list(pages: Sequence[Page | Leaf], records: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Return the item's OCR review: every page whose ocr.json says it needs review, in reading order.

    ``records`` maps page id to the page's ocr.json; pages OCR skipped (colour targets,
    spines) count as read and never need review.
    """
    review = [_entry(page, records[page.page_id]) for page in pages if records[page.page_id].get("needs_review")]
    return {
        "pages": len(pages),
        "needs_review": len(review),
        "engines": {page.page_id: records[page.page_id].get("engine", "") for page in pages},
        "review": review,
    }


def _entry(page: Page | Leaf, record: Mapping[str, Any]) -> dict[str, Any]:
    # ocr.json written before review_reasons existed only had the flag and the mean.
    threshold = record.get("review_threshold", REVIEW_THRESHOLD)
    reasons = record.get("review_reasons") or [f"mean confidence {record.get('mean_confidence', 0.0):.2f} "
                                               f"below {threshold:.2f}"]
    return {"page_id": page.page_id, "file": page.file, "label": page.label, "engine": record.get("engine", ""),
            "mean_confidence": record.get("mean_confidence", 0.0), "reasons": list(reasons)}
