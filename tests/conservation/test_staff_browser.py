"""Headless Chromium: a conservator logs in, fills the form, uploads a photo, saves; the record is listed and is
in the item's next AIP version; the printable report renders with its image."""

from __future__ import annotations

import base64
import functools
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
import pyvips
import uvicorn

from iiif_server.app import create_app
from iiif_server.config import ServerOptions
from iiif_server.staff import AccountStore, Role, accounts_path
from pipeline.validation import parse_xml_safely, validate_xml
from tests.browser import CHROMIUM, chromium_page
from tests.conservation.helpers import ITEM, MAGENTA, write_image
from tests.iiif_server.helpers import free_port
from workflows.archive import open_archive
from workflows.conservation import Workshop, show_record

PASSWORD = "repair-workshop-2025"


@pytest.fixture
def live(archive_settings, tmp_path) -> Iterator[str]:
    """The server with the staff desk, on 127.0.0.1, with base_url pointing at it."""
    port = free_port()
    settings = replace(archive_settings, base_url=f"http://127.0.0.1:{port}")
    AccountStore(accounts_path(settings.home), log2_n=10).add_user("zhang", Role.CONSERVATOR, PASSWORD,
                                                                   display_name="张修")
    factory = functools.partial(create_app, settings, ServerOptions(cache_dir=tmp_path / "cache"), Workshop(settings))
    server = uvicorn.Server(uvicorn.Config(factory, factory=True, host="127.0.0.1", port=port, lifespan="off",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield settings.base_url
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.slow
def test_a_conservator_records_a_repair_in_the_browser(live, archive_settings, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed")
    photo = write_image(tmp_path / "upload" / "before-leaf.jpg", size=(480, 360))
    with chromium_page(tmp_path / "profile") as page:
        page.goto(f"{live}/staff/login")
        page.evaluate("document.querySelector('[name=user]').value = 'zhang';"
                      f"document.querySelector('[name=password]').value = '{PASSWORD}'")
        page.loads(lambda: page.evaluate("document.querySelector('form').submit()"))
        assert page.evaluate("location.pathname") == "/staff/records"

        page.goto(f"{live}/staff/records/new?item={ITEM}")
        assert page.wait_until("[...document.querySelectorAll('.thumbs img')].every(i => i.complete && "
                               "i.naturalWidth > 0)"), "the IIIF thumbnails did not load"
        first_label = page.evaluate("document.querySelector('input[name=damage]').parentElement.textContent.trim()")
        page.evaluate("""
            const tick = (name, value) => document.querySelector(`input[name="${name}"][value="${value}"]`).click();
            tick('pages', 'p0002'); tick('damage', 'insect_damage'); tick('step', 'cleaning'); tick('step', 'infilling');
            document.querySelector('[name="damage_extent.insect_damage"]').value = '书口蛀洞十余处';
            document.querySelector('[name=grade]').value = 'grade_3';
            document.querySelector('[name=paper_type]').value = '竹纸';
            document.querySelector('[name=reviewer]').value = '李审';
        """)
        page.set_files("input[name=before]", [photo])
        page.loads(lambda: page.evaluate(
            "document.querySelector('form[enctype] button[type=submit]').click()"))
        listed = page.evaluate("document.body.innerText")
        location = page.evaluate("location.search")

        page.goto(f"{live}/staff/items/{ITEM}/report")
        page.call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
        assert page.wait_until("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
        page.evaluate("document.querySelector('figure img').scrollIntoView()")
        time.sleep(0.5)
        shot = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
        pdf = base64.b64decode(page.call("Page.printToPDF", paperWidth=8.27, paperHeight=11.69)["data"])
        title = page.evaluate("document.title")

    assert first_label == "虫蛀 insect damage"  # Chinese label first
    record_id = location.split("saved=")[1]
    assert f"已保存 Saved {record_id}" in listed and "虫蛀" in listed and "张修" in listed
    record = show_record(archive_settings, record_id).current.record
    assert [i.file for i in record.images] == ["before-leaf.jpg"] and record.saved_by == "zhang"

    version = open_archive(archive_settings).catalogue.version(ITEM)
    assert version.version == 2
    stored = archive_settings.home / "storage/primary/aips" / ITEM / f"{ITEM}.v2"
    assert json.loads((stored / f"data/conservation/{record_id}/r1.json").read_text())["id"] == record_id
    assert (stored / f"data/conservation/{record_id}/r1/before-leaf.jpg").read_bytes() == photo.read_bytes()
    validate_xml(parse_xml_safely(stored / "data/mets.xml"), "mets")

    assert title == f"修复档案 論語十卷 ({ITEM})"
    screenshot = tmp_path / "report.png"
    screenshot.write_bytes(shot)
    image = pyvips.Image.new_from_file(str(screenshot))
    magenta = (abs(image[0] - MAGENTA[0]) < 20) & (abs(image[1] - MAGENTA[1]) < 20) & (abs(image[2] - MAGENTA[2]) < 20)
    assert magenta.avg() / 255 > 0.03, f"the record's photo is not visible in {screenshot}"
    assert image.extract_band(0, n=3).deviate() > 20  # text and tables, not a blank page
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type/Page") >= 1
