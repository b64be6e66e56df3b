"""The batch QC report (qc.json) and the contact sheet a technician opens at the station (qc.html).

``batch_report`` turns every page's results into one JSON document (schema
``schemas/qc-report.schema.json``); ``contact_sheet`` renders it as a single
self-contained HTML file: every page as a thumbnail in reading order (right to
left for vertical books), failed and warned pages outlined, the reasons beside them,
and every check a relaxed profile (``legacy``) let pass marked with what its baseline
would have said.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.batch import Batch, ScriptDirection
from pipeline.qc.model import CHECKS, PageQC, Status, worst
from pipeline.qc.profile import Profile

QC_FORMAT = "shuying-qc/1"
_STATUSES = (Status.PASS.value, Status.WARN.value, Status.FAIL.value)


def batch_report(batch: Batch, pages: Sequence[PageQC], profile: Profile, *, now: str) -> dict[str, Any]:
    """Combine the pages' results (in batch order) into the batch report."""
    entries = [_page_entry(page, qc) for page, qc in zip(batch.pages, pages)]
    counts = {status: sum(1 for e in entries if e["status"] == status) for status in _STATUSES}
    return {
        "qc_format": QC_FORMAT,
        "item_id": batch.item_id,
        "title": batch.title,
        "created": now,
        "profile": profile.as_dict(),
        "status": worst(qc.status for qc in pages).value,
        "summary": {"pages": len(entries), **counts, "checks": _check_counts(entries)},
        "reshoot": [_reasons(e, Status.FAIL) for e in entries if e["status"] == Status.FAIL.value],
        "review": [_reasons(e, Status.WARN) for e in entries if e["status"] == Status.WARN.value],
        "relaxed": [_relaxed_reasons(e) for e in entries if _relaxed_results(e)],
        "pages": entries,
    }


def summary_line(report: dict[str, Any]) -> str:
    """Say in one line how the batch did, for the PREMIS event and the CLI."""
    s = report["summary"]
    return f"{s['pages']} pages: {s['pass']} pass, {s['warn']} warn, {s['fail']} fail"


def gate_summary(gate: dict[str, Any]) -> str:
    """Say who let which findings through the ingest gate, and why ("" if nobody did).

    Every finding is named page by page, also those a batch-wide override (``*:resolution``)
    let through, so the PREMIS record says which pages went to storage unmended.
    """
    let_through = gate.get("overridden", []) + gate.get("accepted_warnings", [])
    if not let_through:
        return ""
    shown = ", ".join(f"{f['page_id']}:{f['check']}" for f in let_through)
    return (f"{len(let_through)} QC finding(s) let through for storage by {gate['operator']} "
            f"(reason: {gate['reason']}): {shown}")


def _page_entry(page: Any, qc: PageQC) -> dict[str, Any]:
    return {"page_id": qc.page_id, "file": page.file, "label": page.label, "page_type": page.page_type.value,
            "status": qc.status.value, "results": [r.as_dict() for r in qc.results]}


def _check_counts(entries: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for entry in entries:
        for result in entry["results"]:
            if result["status"] != Status.PASS.value:
                per_check = counts.setdefault(result["check"], {"warn": 0, "fail": 0})
                per_check[result["status"]] += 1
    return {check: counts[check] for check in CHECKS if check in counts}


def _relaxed_results(entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in entry["results"] if r.get("relaxed")]


def _relaxed_reasons(entry: dict[str, Any]) -> dict[str, Any]:
    reasons = [f"{r['check']}: {r['message']}" for r in _relaxed_results(entry)]
    return {"page_id": entry["page_id"], "file": entry["file"], "label": entry["label"], "reasons": reasons}


def _reasons(entry: dict[str, Any], level: Status) -> dict[str, Any]:
    reasons = [f"{r['check']}: {r['message']}" for r in entry["results"] if r["status"] == level.value]
    return {"page_id": entry["page_id"], "file": entry["file"], "label": entry["label"], "reasons": reasons}


def contact_sheet(report: dict[str, Any], thumbnails: dict[str, str], *, right_to_left: bool,
                  ocr_review: Mapping[str, Any] | None = None) -> str:
    """Render the report as one self-contained HTML page (thumbnails are data: URIs).

    ``ocr_review`` (``pipeline.ocr.review.review_list``, once OCR has run) adds an "OCR
    review" badge and the reasons to each page whose text needs checking, and a list of them.
    """
    title = f"QC {report['item_id']}: {report['title']}"
    flagged: dict[str, list[str]] = {}
    for leaf in ocr_review["review"] if ocr_review else []:
        # A split master's leaves (p0003r, p0003l) are flagged on the master's card.
        master_id = leaf["page_id"].rstrip("rl")
        prefix = [] if master_id == leaf["page_id"] else [f"{leaf['label']}:"]
        flagged.setdefault(master_id, []).extend([*prefix, *leaf["reasons"]])
    cells = "\n".join(_cell(entry, thumbnails.get(entry["page_id"], ""), flagged.get(entry["page_id"]))
                      for entry in report["pages"])
    order = "rtl" if right_to_left else "ltr"
    return _PAGE.format(
        title=_e(title), css=_CSS, summary=_summary(report, ocr_review), lists=_lists(report) + _ocr_list(ocr_review),
        order=order,
        reading="right to left, top to bottom" if right_to_left else "left to right, top to bottom",
        cells=cells,
    )


def reading_right_to_left(batch: Batch) -> bool:
    """Return whether the contact sheet should run right to left (vertical books)."""
    return batch.script_direction is ScriptDirection.VERTICAL_RL


def _summary(report: dict[str, Any], ocr_review: Mapping[str, Any] | None = None) -> str:
    s, profile = report["summary"], report["profile"]
    parts = [f'<span class="badge status-{report["status"]}">{_e(report["status"].upper())}</span>',
             f"{s['pages']} pages: {s['pass']} pass, {s['warn']} warn, {s['fail']} fail",
             f"profile <b>{_e(profile['name'])}</b> {_e(profile.get('title', ''))}{_relaxes(report)}",
             f"checked {_e(report['created'])}"]
    gate = report.get("gate")
    if gate:
        parts.append(f"ingest gate: <b>{'passed' if gate['passed'] else 'stopped'}</b>")
    if ocr_review is not None:
        parts.append(f"OCR: <b>{ocr_review['needs_review']}</b> of {ocr_review['pages']} pages need review")
    return " · ".join(parts)


def _lists(report: dict[str, Any]) -> str:
    blocks = []
    relaxed_by = report["profile"].get("relaxes", "")
    lists = (("reshoot", "Reshoot"), ("review", "Check"),
             ("relaxed", f"Passed only because profile {report['profile']['name']} relaxes {relaxed_by}"))
    for key, heading in lists:
        if report.get(key):
            items = "".join(f'<li><a href="#{_e(p["page_id"])}">{_e(p["page_id"])}</a> '
                            f'{_e(p["label"])} ({_e(p["file"])}): {_e("; ".join(p["reasons"]))}</li>'
                            for p in report[key])
            blocks.append(f'<section class="list {key}"><h2>{heading} ({len(report[key])})</h2><ul>{items}</ul></section>')
    return "\n".join(blocks)


def _relaxes(report: dict[str, Any]) -> str:
    profile = report["profile"]
    if not profile.get("relaxes"):
        return ""
    relaxed = [check for check, section in profile["checks"].items() if section.get("relaxed")]
    return (f' · <span class="relaxes">relaxes <b>{_e(profile["relaxes"])}</b> on {_e(", ".join(relaxed))}; '
            f'{len(report.get("relaxed", []))} page(s) pass only by it</span>')


def _ocr_list(ocr_review: Mapping[str, Any] | None) -> str:
    if not ocr_review or not ocr_review["review"]:
        return ""
    items = "".join(f'<li><a href="#{_e(p["page_id"])}">{_e(p["page_id"])}</a> {_e(p["label"])} ({_e(p["file"])}, '
                    f'{_e(p["engine"])}): {_e("; ".join(p["reasons"]))}</li>' for p in ocr_review["review"])
    heading = f'<h2>OCR review ({len(ocr_review["review"])})</h2>'
    return f'\n<section class="list ocr-review">{heading}<ul>{items}</ul></section>'


def _cell(entry: dict[str, Any], thumbnail: str, ocr_reasons: Sequence[str] | None = None) -> str:
    status = entry["status"]
    image = (f'<img src="{_e(thumbnail)}" alt="{_e(entry["label"])}">' if thumbnail
             else '<div class="missing">no image</div>')
    flagged = [r for r in entry["results"] if r["status"] != Status.PASS.value or r.get("relaxed")]
    reasons = "".join(f'<li class="status-{r["status"]}{" relaxed" if r.get("relaxed") else ""}">'
                      f'<b>{_e(r["check"])}</b> {_e(r["message"])}'
                      f'<span class="measure">{_e(_measure(r))}</span></li>' for r in flagged)
    reasons += "".join(f'<li class="ocr"><b>OCR</b> {_e(reason)}</li>' for reason in ocr_reasons or ())
    notes = f'<ul class="reasons">{reasons}</ul>' if reasons else ""
    badge = '<span class="badge ocr-review">OCR review</span>' if ocr_reasons else ""
    bitonal = next((r for r in entry["results"] if r["check"] == "bitonal"), None)
    if bitonal is not None:
        badge += '<span class="badge bitonal">bitonal master</span>'
    ocr_attr = ' data-ocr-review="true"' if ocr_reasons else ""
    return (f'<figure class="page status-{status}" id="{_e(entry["page_id"])}" data-status="{status}"{ocr_attr}>'
            f'<div class="card">{image}<figcaption>{badge}<span class="pid">{_e(entry["page_id"])}</span> '
            f'<span class="label">{_e(entry["label"])}</span><span class="file">{_e(entry["file"])}</span>'
            f'<span class="type">{_e(entry["page_type"])}</span></figcaption></div>{notes}</figure>')


def _measure(result: dict[str, Any]) -> str:
    value = result["value"]
    return f" (measured {value}; {result['threshold']})" if value is not None else f" ({result['threshold']})"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


_CSS = """
body { font: 14px/1.4 "Noto Sans CJK SC", "Noto Sans CJK TC", sans-serif; margin: 16px; background: #f4f2ee; color: #222; }
h1 { font-size: 20px; margin: 0 0 6px; } h2 { font-size: 16px; margin: 12px 0 4px; }
.summary { margin-bottom: 8px; } .badge { padding: 2px 8px; border-radius: 3px; color: #fff; font-weight: bold; }
.badge.status-pass { background: #1a9641; } .badge.status-warn { background: #e66101; } .badge.status-fail { background: #d7191c; }
.list ul { margin: 0; padding-left: 20px; } .list li { margin: 2px 0; }
.sheet { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
.sheet.rtl { flex-direction: row-reverse; justify-content: flex-start; }
.page { direction: ltr; margin: 6px; padding: 6px; background: #fff; border: 2px solid #ccc; display: flex; gap: 8px; }
.page.status-warn { outline: 6px solid #e66101; border-color: #e66101; }
.page.status-fail { outline: 6px solid #d7191c; border-color: #d7191c; }
.card img, .missing { display: block; width: 150px; height: auto; background: #ddd; }
.missing { height: 210px; line-height: 210px; text-align: center; color: #777; }
figcaption { display: flex; flex-direction: column; font-size: 12px; width: 150px; }
.pid { font-weight: bold; } .file, .type { color: #666; word-break: break-all; }
.reasons { width: 230px; margin: 0; padding-left: 16px; font-size: 12px; }
.reasons li.status-fail b { color: #d7191c; } .reasons li.status-warn b { color: #e66101; }
.measure { color: #666; }
.badge.ocr-review { background: #5e3c99; font-size: 11px; align-self: flex-start; }
.reasons li.ocr b { color: #5e3c99; }
.reasons li.relaxed b { color: #2b83ba; } .relaxes { color: #2b83ba; }
.badge.bitonal { background: #404040; font-size: 11px; align-self: flex-start; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="zh-Hant"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{css}</style></head>
<body><h1>{title}</h1><p class="summary">{summary}</p>
{lists}
<h2>Pages in reading order ({reading})</h2>
<main class="sheet {order}">
{cells}
</main></body></html>
"""
