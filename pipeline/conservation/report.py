"""The printable conservation report of an item: one self-contained HTML file, images inlined.

Every record of the item in its current revision, with the revisions before it listed;
Chinese labels first. The page prints on A4 with one record per sheet. The same
renderer serves the staff view of a single record (``render_record_section``).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import pyvips

from pipeline.conservation.mets import ItemDescription
from pipeline.conservation.record import ConservationRecord, ImageRole, RecordHistory, SavedRevision
from pipeline.conservation.vocabulary import Vocabularies

__all__ = ["REPORT_CSS", "render_record_section", "render_report", "report_image"]

ROLE_LABELS = {ImageRole.BEFORE: "修复前 before", ImageRole.DURING: "修复中 during", ImageRole.AFTER: "修复后 after"}
REPORT_CSS = """
body { font-family: "Noto Serif CJK SC", "Noto Sans CJK SC", "AR PL UMing CN", serif; margin: 2em; color: #222; }
h1 { font-size: 1.6em; border-bottom: 2px solid #8b2d1a; padding-bottom: .3em; }
h2 { font-size: 1.3em; color: #8b2d1a; margin-top: 0; }
h3 { font-size: 1.05em; margin: 1.2em 0 .4em; }
table { border-collapse: collapse; width: 100%; margin: .3em 0; }
th, td { border: 1px solid #bbb; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f3ede4; width: 9em; }
section.record { border-top: 1px solid #ccc; padding-top: 1em; margin-top: 2em; }
figure { display: inline-block; width: 45%; margin: .5em 2% .5em 0; vertical-align: top; }
figure img { max-width: 100%; max-height: 14cm; border: 1px solid #999; }
figcaption { font-size: .9em; color: #444; }
.status { font-weight: bold; }
@page { size: A4; margin: 15mm; }
@media print { body { margin: 0; } section.record { page-break-before: always; border: 0; } }
"""


def report_image(data: bytes, *, max_side: int = 800) -> bytes:
    """Return a JPEG of an image, at most ``max_side`` pixels on its long edge, for inlining."""
    image = pyvips.Image.thumbnail_buffer(data, max_side, height=max_side, size="down")
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    return image.colourspace("srgb").jpegsave_buffer(Q=85, strip=True)


def render_report(item: ItemDescription, histories: Sequence[RecordHistory], images: Mapping[str, bytes],
                  vocabularies: Vocabularies, *, now: datetime) -> str:
    """Render the printable report of every record of an item (``images``: bag path -> JPEG bytes)."""
    sections = [render_record_section(h, item, vocabularies, lambda path: _data_uri(images.get(path)))
                for h in histories]
    body = "".join(sections) or "<p>此书尚无修复档案。No conservation records for this item.</p>"
    header = _table([("题名 Title", item.title), ("索书号 Call number", item.call_number),
                     ("标识 Item", item.item_id), ("生成 Generated", now.isoformat(timespec="seconds"))])
    title = f"修复档案 {item.title} ({item.item_id})"
    return (f'<!DOCTYPE html>\n<html lang="zh-Hans"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{REPORT_CSS}</style></head><body><h1>修复档案 Conservation report</h1>{header}{body}"
            "</body></html>\n")


def render_record_section(history: RecordHistory, item: ItemDescription, vocabularies: Vocabularies,
                          image_src: Callable[[str], str]) -> str:
    """Render one record (its current revision and the list of revisions) as an HTML section."""
    record = history.current.record
    labels = {p.page_id: p.label for p in item.pages}
    status = "已签署 signed off" if record.signed_off else "未签署 not signed off"
    parts = [f'<section class="record" id="{_e(record.record_id)}">',
             f"<h2>{_e(record.record_id)} · 第 {record.revision} 版 revision {record.revision}</h2>",
             f'<p class="status">{status}</p>', _scope(record, labels, vocabularies),
             _condition(record, labels, vocabularies), _treatment(record, labels, vocabularies),
             _people(record), _images(record, labels, image_src), _revisions(history), "</section>"]
    return "".join(parts)


def _scope(record: ConservationRecord, labels: Mapping[str, str], vocabularies: Vocabularies) -> str:
    scope = "全书 whole item" if record.whole_item else _pages(record.pages, labels)
    return _table([("范围 Scope", scope), ("册次 Volume", record.volume), ("叶 Leaves", record.leaves),
                   ("破损定级 Grade", vocabularies.grades.label(record.grade))])


def _condition(record: ConservationRecord, labels: Mapping[str, str], vocabularies: Vocabularies) -> str:
    rows = "".join(f"<tr><td>{_e(vocabularies.damage.label(d.type))}</td><td>{_e(d.extent)}</td>"
                   f"<td>{_number(d.area_percent)}</td><td>{_number(d.ph)}</td>"
                   f"<td>{_e(_pages(d.pages, labels))}</td></tr>" for d in record.damage)
    notes = f"<p>{_e(record.condition_notes)}</p>" if record.condition_notes else ""
    return ("<h3>修复前状况 Condition before treatment</h3><table><tr><th>类型 Type</th><th>程度 Extent</th>"
            f"<th>面积 Area %</th><th>pH</th><th>页 Pages</th></tr>{rows}</table>{notes}")


def _treatment(record: ConservationRecord, labels: Mapping[str, str], vocabularies: Vocabularies) -> str:
    rows = "".join(f"<tr><td>{_e(vocabularies.treatment.label(s.type))}</td><td>{_e(s.notes)}</td>"
                   f"<td>{_e(_pages(s.pages, labels))}</td><td>{_number(s.ph_after)}</td></tr>" for s in record.steps)
    plan = f"<p>修复方案 Plan: {_e(record.plan)}</p>" if record.plan else ""
    materials = record.materials
    papers = "; ".join(" · ".join(x for x in (p.type, p.source, p.dyeing, _mm(p.thickness_mm)) if x)
                       for p in materials.repair_paper)
    return (f"<h3>修复 Treatment</h3>{plan}<table><tr><th>步骤 Step</th><th>说明 Notes</th><th>页 Pages</th>"
            f"<th>pH after</th></tr>{rows}</table>"
            + _table([("修复用纸 Repair paper", papers), ("浆糊 Adhesive", materials.adhesive),
                      ("线 Thread", materials.thread), ("其他 Other", materials.other)]))


def _people(record: ConservationRecord) -> str:
    dates = record.dates
    return "<h3>人员与日期 People and dates</h3>" + _table([
        ("修复人 Conservators", "、".join(record.conservators)), ("审核人 Reviewer", record.reviewer),
        ("检查 Assessed", str(dates.assessed or "")), ("开始 Started", str(dates.started)),
        ("完成 Finished", str(dates.finished or "进行中 in progress")), ("审核 Reviewed", str(dates.reviewed or "")),
        ("工时 Hours", _number(record.hours)), ("备注 Notes", record.notes)])


def _images(record: ConservationRecord, labels: Mapping[str, str], image_src: Callable[[str], str]) -> str:
    figures = []
    for image in record.images:
        caption = " · ".join(x for x in (ROLE_LABELS[image.role], _pages(image.pages, labels), image.caption) if x)
        figures.append(f'<figure><img src="{_e(image_src(image.path))}" alt="{_e(image.file)}">'
                       f"<figcaption>{_e(caption)}</figcaption></figure>")
    return f"<h3>图像 Images</h3><div>{''.join(figures)}</div>" if figures else ""


def _revisions(history: RecordHistory) -> str:
    items = "".join(f"<li>{_revision_line(r)}</li>" for r in history.revisions)
    return f"<h3>修订记录 Revisions</h3><ol>{items}</ol>"


def _revision_line(saved: SavedRevision) -> str:
    record = saved.record
    return _e(f"第 {record.revision} 版 revision {record.revision}: {record.saved_at} · {record.saved_by} · "
              f"AIP v{saved.aip_version}")


def _table(rows: Sequence[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows if v)
    return f"<table>{cells}</table>" if cells else ""


def _pages(pages: Sequence[str], labels: Mapping[str, str]) -> str:
    return "、".join(f"{labels[p]} ({p})" if labels.get(p) else p for p in pages)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _mm(value: float | None) -> str:
    return "" if value is None else f"{value:g} mm"


def _data_uri(data: bytes | None) -> str:
    return f"data:image/jpeg;base64,{base64.b64encode(data).decode('ascii')}" if data else ""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
