"""HTML of the staff pages: login, record list, item picker, the record form, one record.

Plain server-rendered HTML with no script: it works in any browser the workshop has.
Every value is escaped; every form that changes something carries the session's CSRF token.
Chinese labels come first, English after.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from iiif_server.staff.accounts import ROLE_LABELS, Session
from iiif_server.staff.desk import ItemChoice
from pipeline.conservation import (
    ItemDescription,
    RecordHistory,
    Term,
    Vocabularies,
    render_record_section,
)
from pipeline.conservation.report import REPORT_CSS

STAFF = "/staff"
CSS = REPORT_CSS + """
nav { background: #8b2d1a; color: #fff; padding: .5em 1em; margin: -2em -2em 1.5em; }
nav a, nav button { color: #fff; margin-right: 1.2em; background: none; border: 0; font: inherit; cursor: pointer; }
nav form { display: inline; }
fieldset { margin: 1em 0; border: 1px solid #ccc; }
legend { font-weight: bold; }
label { display: inline-block; margin: .2em 1em .2em 0; }
.thumbs label { text-align: center; vertical-align: top; width: 210px; }
.thumbs img { display: block; width: 200px; height: 200px; object-fit: contain; background: #eee; }
.term { margin: .3em 0; }
.errors { background: #fde8e4; border: 1px solid #8b2d1a; padding: .5em 1em; }
textarea { min-width: 30em; }
"""


def layout(title: str, body: str, session: Session | None = None) -> str:
    """Wrap a page body with the head, the style sheet and (when logged in) the navigation bar."""
    return (f'<!DOCTYPE html>\n<html lang="zh-Hans"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width"><title>{_e(title)} · 书影</title>'
            f"<style>{CSS}</style></head><body>{_nav(session) if session else ''}<h1>{_e(title)}</h1>{body}"
            "</body></html>\n")


def login_body(message: str, csrf: str, next_path: str) -> str:
    """Return the login form."""
    note = f'<p class="errors" role="alert">{_e(message)}</p>' if message else ""
    return (f'{note}<form method="post" action="{STAFF}/login">{_hidden("csrf", csrf)}{_hidden("next", next_path)}'
            '<p><label>用户名 User <input type="text" name="user" autocomplete="username" required></label></p>'
            '<p><label>密码 Password <input type="password" name="password" autocomplete="current-password" '
            'required></label></p><p><button type="submit">登录 Log in</button></p></form>')


def records_body(histories: Sequence[RecordHistory], vocabularies: Vocabularies, item_id: str) -> str:
    """Return the table of records (current revisions), newest record first."""
    rows = []
    for history in sorted(histories, key=lambda h: h.record_id, reverse=True):
        record = history.current.record
        link = f'<a href="{STAFF}/records/{quote(record.record_id)}">{_e(record.record_id)}</a>'
        damage = "、".join(_zh(vocabularies.damage.find(d.type), d.type) for d in record.damage)
        rows.append(f"<tr><td>{link}</td><td>{_e(record.item_id)}</td><td>{_e(damage)}</td>"
                    f"<td>{_e('、'.join(record.conservators))}</td><td>{_e(record.dates.started)}</td>"
                    f"<td>{record.revision}</td><td>{'已签署 signed' if record.signed_off else ''}</td></tr>")
    heading = f"<p>{_e(item_id)} · <a href=\"{STAFF}/items/{quote(item_id)}/report\">打印报告 Report</a></p>" \
        if item_id else ""
    table = ("<table><tr><th>编号 Record</th><th>书 Item</th><th>破损 Damage</th><th>修复人 Conservators</th>"
             f"<th>开始 Started</th><th>版 Rev.</th><th></th></tr>{''.join(rows)}</table>")
    return heading + (table if rows else "<p>尚无修复档案。No records yet.</p>")


def picker_body(items: Sequence[ItemChoice], base_url: str) -> str:
    """Return the list of items to make a record for, each with the thumbnail of its first page."""
    cards = "".join(f'<label><a href="{STAFF}/records/new?item={quote(i.item_id)}">'
                    f'<img src="{_e(thumbnail_url(base_url, i.item_id, "p0001"))}" alt="" loading="lazy">'
                    f"{_e(i.item_id)}</a><br>{_e(i.description)}</label>" for i in items)
    return f'<p>选择要修复的书 Choose the item.</p><div class="thumbs">{cards}</div>' if cards else \
        "<p>档案中尚无书。No items in the archive yet.</p>"


def thumbnail_url(base_url: str, item_id: str, page_id: str) -> str:
    """Return the IIIF Image API URL of a page thumbnail (at most 200x200)."""
    return f"{base_url}/iiif/3/{quote(item_id)}~{quote(page_id)}/full/!200,200/0/default.jpg"


def form_body(item: ItemDescription, vocabularies: Vocabularies, values: Mapping[str, Any], *, errors: Sequence[str],
              csrf: str, base_url: str, action: str, revision: int = 0) -> str:
    """Return the record form for ``item``, filled with ``values`` (a record document)."""
    notice = "".join(f"<li>{_e(e)}</li>" for e in errors)
    hidden = _hidden("csrf", csrf) + (_hidden("revision", str(revision)) if revision else "")
    return (f'{f"<ul class=errors role=alert>{notice}</ul>" if notice else ""}'
            f'<p>{_e(item.title)} · {_e(item.call_number)} · {_e(item.item_id)}</p>'
            f'<form method="post" action="{_e(action)}" enctype="multipart/form-data">{hidden}'
            f"{_pages_fieldset(item, values, base_url)}{_condition_fieldset(vocabularies, values)}"
            f"{_treatment_fieldset(vocabularies, values)}{_people_fieldset(values)}{_images_fieldset(values)}"
            f'<p><label>备注 Notes<br><textarea name="notes" rows="3">{_e(values.get("notes", ""))}</textarea>'
            f'</label></p><p><label>{_checkbox("signed_off", "1", values.get("signed_off", False))} 签署 Sign off'
            '</label></p><p><button type="submit">保存 Save</button></p></form>')


def record_body(history: RecordHistory, item: ItemDescription, vocabularies: Vocabularies, *, can_amend: bool) -> str:
    """Return one record (current revision, revision list) with its images served by the staff routes."""
    record_id = history.record_id
    section = render_record_section(history, item, vocabularies,
                                    lambda path: f"{STAFF}/records/{quote(record_id)}/images/{quote(path)}")
    amend = f'<p><a href="{STAFF}/records/{quote(record_id)}/amend">修订 Amend</a></p>' if can_amend else ""
    return amend + section


def saved_notice(record_id: str) -> str:
    """Return the line that confirms a save."""
    return f'<p role="status">已保存 Saved {_e(record_id)}.</p>'


def message_body(text: str) -> str:
    return f'<p role="alert">{_e(text)}</p><p><a href="{STAFF}/records">修复档案 Records</a></p>'


def _nav(session: Session) -> str:
    account = session.account
    logout = f'<form method="post" action="{STAFF}/logout">{_hidden("csrf", session.csrf)}' \
             '<button type="submit">退出 Log out</button></form>'
    return (f'<nav><a href="{STAFF}/records">修复档案 Records</a><a href="{STAFF}/records/new">新建 New record</a>'
            f"<span>{_e(account.shown_name)} · {_e(ROLE_LABELS[account.role])}</span> {logout}</nav>")


def _pages_fieldset(item: ItemDescription, values: Mapping[str, Any], base_url: str) -> str:
    scope = values.get("scope", {})
    chosen = set(scope.get("pages", ()))
    thumbs = "".join(f'<label>{_checkbox("pages", p.page_id, p.page_id in chosen)}'
                     f'<img src="{_e(thumbnail_url(base_url, item.item_id, p.page_id))}" alt="{_e(p.label)}" '
                     f'loading="lazy">{_e(p.label)} ({_e(p.page_id)})</label>' for p in item.pages)
    return ('<fieldset><legend>范围 Pages</legend><p><label>'
            f'{_checkbox("whole_item", "1", scope.get("whole_item", False))} 全书 Whole item</label>'
            f'{_text("leaves", "叶 Leaves", scope.get("leaves", ""))}{_text("volume", "册次 Volume", values.get("volume", ""))}'
            f'</p><div class="thumbs">{thumbs}</div></fieldset>')


def _condition_fieldset(vocabularies: Vocabularies, values: Mapping[str, Any]) -> str:
    condition = values.get("condition", {})
    given = {d["type"]: d for d in condition.get("damage", ())}
    rows = []
    for term in vocabularies.damage.terms:
        entry = given.get(term.code, {})
        ph = _text(f"damage_ph.{term.code}", "pH", entry.get("ph", ""), size=4) if "ph" in term.requires else ""
        rows.append(f'<div class="term"><label>{_checkbox("damage", term.code, term.code in given)} {_e(term.label)}'
                    f'</label>{_text(f"damage_extent.{term.code}", "程度 Extent", entry.get("extent", ""))}'
                    f'{_text(f"damage_area.{term.code}", "面积 Area %", entry.get("area_percent", ""), size=4)}{ph}</div>')
    grades = "".join(f'<option value="{_e(t.code)}"{" selected" if condition.get("grade") == t.code else ""}>'
                     f"{_e(t.label)}</option>" for t in vocabularies.grades.terms)
    return (f"<fieldset><legend>修复前状况 Condition before treatment</legend>{''.join(rows)}"
            f'<p><label>破损定级 Grade <select name="grade" required><option value=""></option>{grades}</select>'
            f'</label>{_date("assessed", "检查日期 Assessed", values)}</p><p><label>说明 Notes<br>'
            f'<textarea name="condition_notes" rows="2">{_e(condition.get("notes", ""))}</textarea></label></p>'
            "</fieldset>")


def _treatment_fieldset(vocabularies: Vocabularies, values: Mapping[str, Any]) -> str:
    treatment = values.get("treatment", {})
    given = {s["type"]: s for s in treatment.get("steps", ())}
    rows = "".join(f'<div class="term"><label>{_checkbox("step", t.code, t.code in given)} {_e(t.label)}</label>'
                   f'{_text(f"step_notes.{t.code}", "说明 Notes", given.get(t.code, {}).get("notes", ""))}</div>'
                   for t in vocabularies.treatment.terms)
    materials = treatment.get("materials", {})
    paper = (materials.get("repair_paper") or [{}])[0]
    return ('<fieldset><legend>修复 Treatment</legend><p><label>修复方案 Plan<br><textarea name="plan" rows="2">'
            f'{_e(treatment.get("plan", ""))}</textarea></label></p>{rows}<p>'
            f'{_text("paper_type", "修复用纸 Repair paper", paper.get("type", ""))}'
            f'{_text("paper_source", "产地 Source", paper.get("source", ""))}'
            f'{_text("paper_dyeing", "染色 Dyeing", paper.get("dyeing", ""))}'
            f'{_text("paper_thickness", "厚度 mm", paper.get("thickness_mm", ""), size=4)}</p><p>'
            f'{_text("adhesive", "浆糊 Adhesive", materials.get("adhesive", ""))}'
            f'{_text("thread", "线 Thread", materials.get("thread", ""))}'
            f'{_text("materials_other", "其他 Other", materials.get("other", ""))}</p></fieldset>')


def _people_fieldset(values: Mapping[str, Any]) -> str:
    return ('<fieldset><legend>人员与日期 People and dates</legend><p>'
            f'{_text("conservators", "修复人 Conservators", "、".join(values.get("conservators", ())))}'
            f'{_text("reviewer", "审核人 Reviewer", values.get("reviewer", ""))}</p><p>'
            f'{_date("started", "开始 Started", values)}{_date("finished", "完成 Finished", values)}'
            f'{_date("reviewed", "审核 Reviewed", values)}{_text("hours", "工时 Hours", values.get("hours", ""), size=5)}'
            "</p></fieldset>")


def _images_fieldset(values: Mapping[str, Any]) -> str:
    kept = "".join(f'<label>{_checkbox("keep_image", i["file"], True)} {_e(i["file"])} ({_e(i["role"])})</label>'
                   for i in values.get("images", ()) if i.get("path"))
    accept = 'accept="image/jpeg,image/png,image/tiff,.tif,.tiff,.jpg,.jpeg,.png"'
    return ("<fieldset><legend>图像 Images</legend>"
            f'{f"<p>保留 Keep: {kept}</p>" if kept else ""}'
            f'<p><label>修复前 Before <input type="file" name="before" multiple {accept}></label>'
            f'<label>修复后 After <input type="file" name="after" multiple {accept}></label></p></fieldset>')


def _date(name: str, label: str, values: Mapping[str, Any]) -> str:
    value = values.get("dates", {}).get(name, "")
    return f'<label>{_e(label)} <input type="date" name="{name}" value="{_e(value)}"></label>'


def _text(name: str, label: str, value: Any, *, size: int = 20) -> str:
    return f'<label>{_e(label)} <input type="text" name="{_e(name)}" value="{_e(value)}" size="{size}"></label>'


def _checkbox(name: str, value: str, checked: bool) -> str:
    return f'<input type="checkbox" name="{_e(name)}" value="{_e(value)}"{" checked" if checked else ""}>'


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{_e(name)}" value="{_e(value)}">'


def _zh(term: Term | None, code: str) -> str:
    return term.zh if term else code


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)
