"""The contact sheet (qc.html): self-contained, in reading order, flagged pages outlined with reasons;
rendered by headless Chromium to check what a technician actually sees."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from lxml import html as lxml_html

from pipeline.batch import (
    AccessLevel,
    Batch,
    Capture,
    MaterialType,
    Page,
    PageType,
    ScriptDirection,
)
from pipeline.qc import PageQC, Status
from pipeline.qc.model import CheckResult
from pipeline.qc.page import thumbnail_uri
from pipeline.qc_report import batch_report, contact_sheet
from tests.pipeline.test_qc_helpers import TEST_PROFILE

CHROMIUM = Path("/usr/bin/chromium")
FAIL_RGB, WARN_RGB = (215, 25, 28), (230, 97, 1)  # the outline colours of qc.html


def book(direction: ScriptDirection, labels: list[str]) -> Batch:
    pages = tuple(Page(i, f"{i:04d}.tif", label, PageType.PAGE) for i, label in enumerate(labels, start=1))
    return Batch(Path("/scans/book"), "sheet-book", "論語", MaterialType.ANCIENT_BOOK, direction, ("lzh",),
                 AccessLevel.PUBLIC, Capture("station", "operator"), pages)


def page_qc(page: Page, status: Status, message: str = "") -> PageQC:
    results = [CheckResult("integrity", Status.PASS, "750x1000", "decodes fully", "decodes fully")]
    if status is not Status.PASS:
        check = "exposure" if status is Status.FAIL else "skew"
        results.append(CheckResult(check, status, 12.5, "< 0.5% highlights at 255", message or f"{check} problem"))
    shade = np.full((400, 300, 3), 200 - 20 * page.order, np.uint8)
    return PageQC(page.page_id, page.file, tuple(results), thumbnail_uri(shade))


def sheet(direction: ScriptDirection, statuses: list[Status], labels: list[str] | None = None) -> str:
    batch = book(direction, labels or [f"葉{i}" for i in range(1, len(statuses) + 1)])
    results = [page_qc(p, s) for p, s in zip(batch.pages, statuses)]
    report = batch_report(batch, results, TEST_PROFILE, now="2026-01-01T00:00:00+00:00")
    return contact_sheet(report, {r.page_id: r.thumbnail for r in results},
                         right_to_left=direction is ScriptDirection.VERTICAL_RL)


def figures(document: str) -> list[tuple[str, str]]:
    tree = lxml_html.fromstring(document)
    return [(f.get("id"), f.get("class")) for f in tree.iter("figure")]


def test_sheet_is_self_contained() -> None:
    document = sheet(ScriptDirection.VERTICAL_RL, [Status.PASS, Status.WARN, Status.FAIL])
    tree = lxml_html.fromstring(document)

    sources = [img.get("src") for img in tree.iter("img")]
    assert len(sources) == 3 and all(s.startswith("data:image/jpeg;base64,") for s in sources)
    assert not list(tree.iter("script", "link", "iframe", "object"))
    assert re.findall(r'(?:src|href)="(?!data:|#)', document) == []
    assert "url(" not in document


def test_pages_run_right_to_left_for_vertical_books_and_left_to_right_otherwise() -> None:
    statuses = [Status.PASS] * 4

    vertical = lxml_html.fromstring(sheet(ScriptDirection.VERTICAL_RL, statuses))
    horizontal = lxml_html.fromstring(sheet(ScriptDirection.HORIZONTAL_LR, statuses))

    assert vertical.find(".//main").get("class") == "sheet rtl"
    assert horizontal.find(".//main").get("class") == "sheet ltr"
    assert [f.get("id") for f in vertical.iter("figure")] == ["p0001", "p0002", "p0003", "p0004"]


def test_flagged_pages_carry_their_status_and_the_reasons_beside_them() -> None:
    document = sheet(ScriptDirection.VERTICAL_RL, [Status.FAIL, Status.PASS, Status.WARN])
    tree = lxml_html.fromstring(document)

    assert figures(document) == [("p0001", "page status-fail"), ("p0002", "page status-pass"),
                                 ("p0003", "page status-warn")]
    reasons = [li.text_content() for li in tree.xpath("//figure[@id='p0001']//ul[@class='reasons']/li")]
    assert reasons == ["exposure exposure problem (measured 12.5; < 0.5% highlights at 255)"]
    assert tree.xpath("//figure[@id='p0002']//ul") == []
    assert tree.xpath("//section[@class='list reshoot']//li/a/@href") == ["#p0001"]
    assert tree.xpath("//section[@class='list review']//li/a/@href") == ["#p0003"]


def test_labels_and_messages_are_escaped() -> None:
    document = sheet(ScriptDirection.VERTICAL_RL, [Status.PASS], labels=['<img src="http://x">&葉'])

    assert '<img src="http://x">' not in document
    assert "&lt;img src=&quot;http://x&quot;&gt;&amp;葉" in document


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium")
def test_chromium_shows_the_flagged_pages_outlined_in_reading_order(tmp_path: Path) -> None:
    qc_html = tmp_path / "qc.html"
    qc_html.write_text(sheet(ScriptDirection.VERTICAL_RL, [Status.FAIL, Status.PASS, Status.WARN]), encoding="utf-8")

    screenshot = render(qc_html, tmp_path)
    dom = chromium(qc_html, tmp_path, "--dump-dom").stdout

    assert figures(dom) == [("p0001", "page status-fail"), ("p0002", "page status-pass"),
                            ("p0003", "page status-warn")]
    fail_box, warn_box = outline_box(screenshot, FAIL_RGB), outline_box(screenshot, WARN_RGB)
    # Right to left: the first page (failed) is the rightmost cell, the third (warned) the leftmost.
    assert fail_box[0] > warn_box[2]
    assert fail_box[2] > screenshot.shape[1] // 2
    # Each outline is a cell-sized frame around a thumbnail, not a stray line of text.
    for x0, y0, x1, y1 in (fail_box, warn_box):
        assert x1 - x0 > 300 and y1 - y0 > 200


def chromium(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--window-size=1400,2000", *args, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True)


def render(page: Path, tmp_path: Path) -> np.ndarray:
    png = tmp_path / "sheet.png"
    chromium(page, tmp_path, f"--screenshot={png}")
    image = cv2.imread(str(png), cv2.IMREAD_COLOR)
    assert image is not None, "Chromium wrote no screenshot"
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def outline_box(image: np.ndarray, rgb: tuple[int, int, int]) -> tuple[int, int, int, int]:
    """Return the bounding box of the largest connected region of exactly (+-3) this colour."""
    mask = (np.abs(image.astype(int) - rgb).max(axis=2) <= 3).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    assert count > 1, f"no pixels of {rgb} in the screenshot"
    x, y, w, h, _ = stats[1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))]
    return x, y, x + w, y + h
