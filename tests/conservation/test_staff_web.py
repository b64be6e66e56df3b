"""The staff form in the server: login, roles, CSRF, saving a record with an uploaded image, conflicts."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from iiif_server.app import create_app
from iiif_server.staff import AccountStore, Role, accounts_path
from tests.conservation.helpers import ITEM, write_image
from workflows.archive import open_archive
from workflows.conservation import Workshop, add_record, show_record

PASSWORD = "repair-workshop-2025"
FORM = {"pages": ["p0002"], "damage": ["insect_damage", "acidification"],
        "damage_extent.insect_damage": "书口蛀洞", "damage_area.insect_damage": "8",
        "damage_extent.acidification": "全叶泛黄", "damage_ph.acidification": "5.1", "grade": "grade_3",
        "step": ["cleaning", "infilling"], "step_notes.infilling": "竹纸补洞", "paper_type": "竹纸",
        "paper_source": "福建将乐", "adhesive": "小麦淀粉浆糊", "conservators": "张修、王补", "reviewer": "李审",
        "started": "2025-03-03", "finished": "2025-03-20", "hours": "12"}
EMPTY_FILE_INPUT = ("before", ("", b"", "application/octet-stream"))  # what a browser sends for no file chosen


@pytest.fixture
def app_settings(archive_settings):
    store = AccountStore(accounts_path(archive_settings.home), log2_n=10)
    for name, role in (("zhang", Role.CONSERVATOR), ("wang", Role.CONSERVATOR), ("tech", Role.TECHNICIAN),
                       ("boss", Role.ADMIN), ("arch", Role.ARCHIVIST)):
        store.add_user(name, role, PASSWORD, display_name={"zhang": "张修"}.get(name, ""))
    return archive_settings


@pytest.fixture
def client(app_settings) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings, staff_desk=Workshop(app_settings))) as test_client:
        yield test_client


@pytest.fixture
def other(app_settings) -> Iterator[TestClient]:
    """A second browser, for a second person."""
    with TestClient(create_app(app_settings, staff_desk=Workshop(app_settings))) as test_client:
        yield test_client


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def login(client: TestClient, user: str, password: str = PASSWORD):
    page = client.get("/staff/login")
    return client.post("/staff/login", data={"user": user, "password": password, "csrf": csrf(page.text)},
                       follow_redirects=False)


def submit(client: TestClient, url: str, fields: dict, files=None):
    form = client.get(url)
    assert form.status_code == 200, form.text
    return client.post(url, data={**fields, "csrf": csrf(form.text)}, files=files or [], follow_redirects=False)


def jpeg(tmp_path) -> bytes:
    return write_image(tmp_path / "photo.jpg").read_bytes()


def test_pages_need_a_login(client):
    response = client.get("/staff/records", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/staff/login?next=%2Fstaff%2Frecords")


def test_a_wrong_password_is_refused_and_a_right_one_opens_a_session(client):
    assert login(client, "zhang", "not the password").status_code == 401
    response = login(client, "zhang")
    assert (response.status_code, response.headers["location"]) == (303, "/staff/records")
    cookies = response.headers.get_list("set-cookie")
    staff = next(c for c in cookies if c.startswith("shuying_staff="))
    assert "HttpOnly" in staff and "samesite=strict" in staff.lower() and "Path=/staff" in staff
    assert any(c.startswith("shuying_session=") for c in cookies)  # IIIF thumbnails of non-public books load too
    page = client.get("/staff/records")
    assert page.status_code == 200 and "张修 · 修复师 conservator" in page.text


def test_a_login_form_without_its_token_is_refused(client):
    client.get("/staff/login")
    response = client.post("/staff/login", data={"user": "zhang", "password": PASSWORD, "csrf": "forged"})
    assert response.status_code == 403 and "表单已过期" in response.text


def test_the_form_offers_pages_as_iiif_thumbnails_and_terms_chinese_first(client):
    login(client, "zhang")
    picker = client.get("/staff/records/new")
    assert f'href="/staff/records/new?item={ITEM}"' in picker.text
    form = client.get(f"/staff/records/new?item={ITEM}").text
    assert f'src="http://127.0.0.1:8182/iiif/3/{ITEM}~p0002/full/!200,200/0/default.jpg"' in form
    assert 'value="insect_damage"> 虫蛀 insect damage</label>' in form
    assert '<option value="grade_1">一级破损（特残） grade 1: critically damaged</option>' in form
    assert 'value="张修"' in form  # the conservator's own name is filled in


def test_a_conservator_saves_a_record_with_an_image_and_it_is_preserved(client, app_settings, tmp_path):
    login(client, "zhang")
    response = submit(client, f"/staff/records/new?item={ITEM}", FORM,
                      files=[("before", ("修复前 1.jpg", jpeg(tmp_path), "image/jpeg"))])
    assert response.status_code == 303, response.text
    record_id = re.search(r"saved=(CR-\d{4}-\d{4})", response.headers["location"]).group(1)
    listing = client.get(response.headers["location"]).text
    assert f"Saved {record_id}" in listing and f'<a href="/staff/records/{record_id}">' in listing
    record = show_record(app_settings, record_id).current.record
    assert (record.saved_by, record.conservators, record.pages) == ("zhang", ("张修", "王补"), ("p0002",))
    assert [(i.file, i.role.value) for i in record.images] == [("修复前_1.jpg", "before")]
    assert record.damage[1].ph == 5.1 and record.materials.repair_paper[0].source == "福建将乐"
    files = open_archive(app_settings).catalogue.version(ITEM).files
    assert f"data/conservation/{record_id}/r1/修复前_1.jpg" in files
    view = client.get(f"/staff/records/{record_id}").text
    image_url = re.search(r'<img src="(/staff/records/[^"]+)"', view).group(1)
    image = client.get(image_url)
    assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"


def test_form_mistakes_come_back_on_the_form(client, tmp_path):
    login(client, "zhang")
    response = submit(client, f"/staff/records/new?item={ITEM}", {**FORM, "finished": "2025-03-01"})
    assert response.status_code == 400
    assert "dates: finished 2025-03-01 is before started 2025-03-03" in response.text
    assert 'value="福建将乐"' in response.text  # what was typed is kept
    response = submit(client, f"/staff/records/new?item={ITEM}", FORM,
                      files=[("after", ("after.jpg", b"GIF89a not really", "image/jpeg"))])
    assert response.status_code == 400 and "after.jpg: unsupported format: content is GIF" in response.text


def test_a_form_post_without_the_session_token_is_refused(client, app_settings):
    login(client, "zhang")
    response = client.post(f"/staff/records/new?item={ITEM}", data={**FORM, "csrf": "forged"},
                           files=[EMPTY_FILE_INPUT])
    assert response.status_code == 403
    assert [v.version for v in open_archive(app_settings).catalogue.versions(ITEM)] == [1]


def test_a_post_from_another_site_is_refused(client):
    login(client, "zhang")
    form = client.get(f"/staff/records/new?item={ITEM}").text
    response = client.post(f"/staff/records/new?item={ITEM}", data={**FORM, "csrf": csrf(form)},
                           files=[EMPTY_FILE_INPUT], headers={"Origin": "https://evil.example"})
    assert response.status_code == 403


def test_roles_decide_who_may_make_records(client, other):
    login(client, "tech")
    assert client.get(f"/staff/records/new?item={ITEM}").status_code == 403
    assert client.get("/staff/records").status_code == 200
    login(other, "arch")
    assert other.get(f"/staff/records/new?item={ITEM}").status_code == 403


def saved_by(settings, user: str, signed_off: bool) -> str:
    data = {"scope": {"pages": ["p0002"]}, "condition": {"damage": [{"type": "mould", "extent": "霉斑"}],
            "grade": "grade_4"}, "treatment": {"steps": [{"type": "cleaning"}]}, "conservators": ["张修"],
            "dates": {"started": "2025-03-03", "finished": "2025-03-05"}, "signed_off": signed_off}
    return add_record(settings, ITEM, data, {}, saved_by=user).record.record_id


def test_a_conservator_cannot_amend_another_conservators_signed_off_record(client, other, app_settings):
    signed = saved_by(app_settings, "zhang", True)
    login(client, "wang")
    assert client.get(f"/staff/records/{signed}/amend").status_code == 403
    assert "修订 Amend" not in client.get(f"/staff/records/{signed}").text
    assert client.post(f"/staff/records/{signed}/amend", data={"csrf": "x"}).status_code == 403
    login(other, "zhang")  # the author may
    response = submit(other, f"/staff/records/{signed}/amend", {**FORM, "notes": "作者补记"})
    assert response.status_code == 303, response.text
    assert show_record(app_settings, signed).current.record.notes == "作者补记"


def test_others_may_amend_an_unsigned_record_and_an_admin_any(client, other, app_settings):
    draft, signed = saved_by(app_settings, "zhang", False), saved_by(app_settings, "zhang", True)
    login(client, "wang")
    assert submit(client, f"/staff/records/{draft}/amend", {**FORM, "notes": "王补"}).status_code == 303
    login(other, "boss")
    assert submit(other, f"/staff/records/{signed}/amend", {**FORM, "notes": "馆长"}).status_code == 303
    assert [show_record(app_settings, r).current.record.saved_by for r in (draft, signed)] == ["wang", "boss"]


def test_the_second_of_two_conservators_editing_at_once_gets_a_conflict(client, other, app_settings):
    draft = saved_by(app_settings, "zhang", False)
    login(client, "zhang")
    login(other, "wang")
    first, second = client.get(f"/staff/records/{draft}/amend"), other.get(f"/staff/records/{draft}/amend")
    assert 'name="revision" value="1"' in first.text and 'name="revision" value="1"' in second.text
    saved = client.post(f"/staff/records/{draft}/amend", data={**FORM, "revision": "1", "csrf": csrf(first.text)},
                        files=[EMPTY_FILE_INPUT], follow_redirects=False)
    late = other.post(f"/staff/records/{draft}/amend", data={**FORM, "revision": "1", "csrf": csrf(second.text)},
                      files=[EMPTY_FILE_INPUT], follow_redirects=False)
    assert saved.status_code == 303 and late.status_code == 409
    assert "edited from revision 1, but revision 2 was saved since (by zhang)" in late.text
    assert show_record(app_settings, draft).current.record.revision == 2


def test_logging_out_ends_the_session(client):
    login(client, "zhang")
    page = client.get("/staff/records").text
    assert client.post("/staff/logout", data={"csrf": csrf(page)}, follow_redirects=False).status_code == 303
    assert client.get("/staff/records", follow_redirects=False).status_code == 303


def test_the_report_is_served_to_staff_only(client, app_settings):
    saved_by(app_settings, "zhang", False)
    assert client.get(f"/staff/items/{ITEM}/report", follow_redirects=False).status_code == 303
    login(client, "arch")
    report = client.get(f"/staff/items/{ITEM}/report")
    assert report.status_code == 200 and "修复档案 Conservation report" in report.text and "霉蚀 mould" in report.text
