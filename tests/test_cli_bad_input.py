"""`shuying validate` and `shuying ingest` on batches a technician got wrong.

Each bad batch must give exit code 1 and one "Error:" line on stderr naming the file and the
problem, leave nothing for the item in <home>/storage or <home>/publish, and leave every file
of the batch folder byte-for-byte and mtime-for-mtime as it was.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import unicodedata
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import pyvips
from click.testing import CliRunner, Result
from PIL import Image

import cli
from pipeline.sample_book import write_sample_batch
from storage_config.settings import SETTINGS

ITEM = "bad-input"
REPO = Path(__file__).resolve().parent.parent
RESHOOT = "copy the file again from the capture station"
NOT_LISTED = "present in the batch folder but not listed in pages (add it to batch.json pages, or move it out of the batch folder)"
# SHUYING_* variables of whoever runs the tests must not redirect storage or settings.
CLEAN_ENV = {f"SHUYING_{s.name.upper()}": None for s in SETTINGS}


@pytest.fixture
def batch(tmp_path: Path) -> Path:
    """A two-page generated batch (cover 0001.tif, text page 0002.tif)."""
    return write_sample_batch(tmp_path / "batch", pages=2, width=600, height=900, item_id=ITEM)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def shuying(home: Path, *args: str) -> Result:
    return CliRunner(env=CLEAN_ENV).invoke(cli.cli, ["--home", str(home), *args])


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """SHA-256 and mtime (ns) of every file below ``folder``."""
    return {p.relative_to(folder).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file() or p.is_symlink()}


def stored_or_published(home: Path) -> list[str]:
    """Everything in storage or publish that belongs to the item, and any temporary anywhere."""
    found = [p for area in ("storage", "publish") if (home / area).exists() for p in (home / area).rglob("*")
             if p.is_file() or ITEM in p.name]
    found += [p for p in home.rglob("*") if ".tmp-" in p.name or p.name.endswith((".new", ".old"))]
    return sorted(str(p.relative_to(home)) for p in found)


def edit_doc(folder: Path, change: Callable[[dict], object]) -> None:
    doc = json.loads((folder / "batch.json").read_text(encoding="utf-8"))
    change(doc)
    (folder / "batch.json").write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")


def replace_page(folder: Path, index: int, name: str, data: bytes) -> None:
    """Replace page ``index``'s file by ``name`` holding ``data``."""
    doc = json.loads((folder / "batch.json").read_text(encoding="utf-8"))
    (folder / doc["pages"][index]["file"]).unlink()
    (folder / name).write_bytes(data)
    edit_doc(folder, lambda d: d["pages"][index].update(file=name))


def rename_pages(folder: Path, names: list[str]) -> None:
    doc = json.loads((folder / "batch.json").read_text(encoding="utf-8"))
    for entry, name in zip(doc["pages"], names):
        (folder / entry["file"]).rename(folder / name)
        entry["file"] = unicodedata.normalize("NFC", name)
    edit_doc(folder, lambda d: d.update(pages=doc["pages"]))


# --- bad files, made here ----------------------------------------------------------------------


def grey_tiff(width: int, height: int, *, rows_per_strip: int = 16, with_pixels: bool = True) -> bytes:
    """An uncompressed 8-bit grey TIFF with its directory first and pixel strips after it."""
    strips = -(-height // rows_per_strip)
    tags = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
            (273, 4, strips, 0), (277, 3, 1, 1), (278, 4, 1, rows_per_strip), (279, 4, strips, 0)]
    ifd_end = 8 + 2 + 12 * len(tags) + 4
    offsets_at, counts_at = ifd_end, ifd_end + 4 * strips
    data_at = counts_at + 4 * strips
    counts = [width * min(rows_per_strip, height - s * rows_per_strip) for s in range(strips)]
    offsets = [data_at + sum(counts[:s]) for s in range(strips)]
    out = bytearray(b"II*\x00" + struct.pack("<IH", 8, len(tags)))
    for tag, kind, count, value in tags:
        if tag in (273, 279) and strips > 1:
            value = offsets_at if tag == 273 else counts_at
        elif tag in (273, 279):
            value = offsets[0] if tag == 273 else counts[0]
        out += struct.pack("<HHI", tag, kind, count)
        out += struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
    out += struct.pack("<I", 0)
    if strips > 1:
        out += struct.pack(f"<{strips}I", *offsets) + struct.pack(f"<{strips}I", *counts)
    if with_pixels:
        out += bytes((x * 7) % 251 for x in range(width * height))
    return bytes(out)


def bomb_png(width: int, height: int) -> bytes:
    """A valid 8x8 PNG whose header claims ``width`` x ``height`` (CRC fixed up)."""
    buffer = io.BytesIO()
    Image.new("L", (8, 8), 128).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def pil_truncated(folder: Path) -> str:
    """Cut 0002.tif in half; Pillow writes the TIFF directory after the pixels, so it is lost."""
    data = (folder / "0002.tif").read_bytes()
    (folder / "0002.tif").write_bytes(data[: len(data) // 2])
    directory = struct.unpack("<I", data[4:8])[0]
    return (f"0002.tif: truncated: the TIFF directory at byte {directory} is beyond the end of the file "
            f"({len(data) // 2} bytes) ({RESHOOT})")


def strips_truncated(folder: Path) -> str:
    data = grey_tiff(300, 400)
    replace_page(folder, 1, "0002.tif", data[: len(data) // 2])
    return "0002.tif: truncated or corrupt: decoding failed between rows 0 and 256 of 400 ("


def zero_bytes(folder: Path) -> str:
    (folder / "0002.tif").write_bytes(b"")
    return "0002.tif: empty file (0 bytes) (copy the file again)"


def text_named_tif(folder: Path) -> str:
    (folder / "0002.tif").write_text("This is not an image, just notes.\n", encoding="utf-8")
    return "0002.tif: not a recognised image format (content starts with b'This is ')"


def png_named_tif(folder: Path) -> str:
    Image.new("RGB", (60, 90), (230, 220, 200)).save(folder / "0002.tif", format="PNG")
    return ("0002.tif: mislabelled: content is PNG but the name ends in .tif "
            "(rename the file or re-export it in the intended format)")


def bomb_png_header(folder: Path) -> str:
    replace_page(folder, 1, "0002.png", bomb_png(60000, 60000))
    return ("0002.png: image is 60000x60000 px = 3600 megapixels, above the 300 megapixel limit "
            "(check the capture settings; decoding it could exhaust memory)")


def bomb_tiff_header(folder: Path) -> str:
    (folder / "0002.tif").write_bytes(grey_tiff(50000, 40000, rows_per_strip=40000, with_pixels=False))
    return ("0002.tif: image is 50000x40000 px = 2000 megapixels, above the 300 megapixel limit "
            "(check the capture settings; decoding it could exhaust memory)")


def listed_but_missing(folder: Path) -> str:
    (folder / "0002.tif").unlink()
    return "batch.json: pages[1].file: '0002.tif' is listed but missing from the batch folder (check the file name)"


def listed_twice(folder: Path) -> str:
    edit_doc(folder, lambda d: d["pages"].append({"file": "0002.tif", "label": "again"}))
    return ("batch.json: pages[2].file: '0002.tif' is listed twice (also pages[1]) "
            "(each image is one page; remove the duplicate entry)")


def present_not_listed(folder: Path) -> str:
    shutil.copyfile(folder / "0002.tif", folder / "0002 (2).tif")
    return f"0002 (2).tif: {NOT_LISTED}"


def malformed_json(folder: Path) -> str:
    text = (folder / "batch.json").read_text(encoding="utf-8").replace('"public",', '"public",,', 1)
    (folder / "batch.json").write_text(text, encoding="utf-8")
    line = next(n for n, t in enumerate(text.splitlines(), 1) if ",," in t)
    column = text.splitlines()[line - 1].index(",,") + 2  # 1-based, at the second comma
    return f"batch.json: not valid JSON: Expecting property name enclosed in double quotes at line {line} column {column}"


def schema_error(folder: Path) -> str:
    edit_doc(folder, lambda d: d["capture"].pop("declared_ppi"))
    return "batch.json: capture.declared_ppi: required field is missing"


def chinese_name_empty(folder: Path) -> str:
    rename_pages(folder, ["封面.tif", "卷一 葉三上.tif"])
    (folder / "卷一 葉三上.tif").write_bytes(b"")
    return "卷一 葉三上.tif: empty file (0 bytes) (copy the file again)"


def chinese_name_missing(folder: Path) -> str:
    rename_pages(folder, ["封面.tif", "卷一 葉三上.tif"])
    (folder / "卷一 葉三上.tif").unlink()
    return ("batch.json: pages[1].file: '卷一 葉三上.tif' is listed but missing from the batch folder "
            "(check the file name)")


BREAKERS = [zero_bytes, pil_truncated, strips_truncated, text_named_tif, png_named_tif, bomb_png_header,
            bomb_tiff_header, listed_but_missing, listed_twice, present_not_listed, malformed_json, schema_error,
            chinese_name_empty, chinese_name_missing]


@dataclass(frozen=True)
class Outcome:
    result: Result
    expected: str
    before: dict[str, tuple[str, int]]


def break_and_run(batch: Path, home: Path, breaker: Callable[[Path], str], command: str) -> Outcome:
    expected = breaker(batch)
    before = snapshot(batch)
    return Outcome(shuying(home, command, str(batch)), expected, before)


# --- every bad batch, both commands -------------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "ingest"])
@pytest.mark.parametrize("breaker", BREAKERS, ids=[b.__name__ for b in BREAKERS])
def test_bad_batch_fails_with_one_line_and_changes_nothing(batch, home, breaker, command):
    outcome = break_and_run(batch, home, breaker, command)

    assert outcome.result.exit_code == 1, outcome.result.output
    lines = error_lines(outcome.result.stderr)
    assert len(lines) == 1, outcome.result.stderr
    if outcome.expected.endswith("("):  # the rest is libvips' own wording
        assert lines[0].startswith(f"Error: {outcome.expected}")
    else:
        assert lines[0] == f"Error: {outcome.expected}"
    assert "Traceback" not in outcome.result.stderr
    assert "valid batch" not in outcome.result.stdout and "Ingested" not in outcome.result.stdout
    assert stored_or_published(home) == []
    assert snapshot(batch) == outcome.before


def test_failed_ingest_records_the_failure_and_says_where_the_log_is(batch, home):
    zero_bytes(batch)

    result = shuying(home, "ingest", str(batch))

    assert result.exit_code == 1
    record = json.loads((home / "work" / ITEM / "failures" / "ValidateBatch.json").read_text(encoding="utf-8"))
    assert record["error"] == "BatchError"
    assert record["message"] == "0002.tif: empty file (0 bytes) (copy the file again)"
    assert f"Run log with tracebacks: {home / 'work' / ITEM / 'luigi.log'}" in result.stderr.splitlines()


def test_several_problems_are_all_listed(batch, home):
    edit_doc(batch, lambda d: d["item"].update(material_type="book"))
    (batch / "0002.tif").unlink()

    result = shuying(home, "validate", str(batch))

    assert result.exit_code == 1
    assert error_lines(result.stderr) == [
        "Error: batch.json: item.material_type: 'book' is not one of ['ancient_book', 'republican', 'other']",
        ("Error: batch.json: pages[1].file: '0002.tif' is listed but missing from the batch folder "
        "(check the file name)"),
    ]


def test_every_unusable_image_is_listed(batch, home):
    zero_bytes(batch)
    (batch / "0001.tif").write_text("notes", encoding="utf-8")

    result = shuying(home, "validate", str(batch))

    assert result.exit_code == 1
    assert error_lines(result.stderr) == [
        "Error: 0001.tif: not a recognised image format (content starts with b'notes')",
        "Error: 0002.tif: empty file (0 bytes) (copy the file again)",
    ]


def test_validate_of_a_folder_that_does_not_exist(tmp_path, home):
    result = shuying(home, "validate", str(tmp_path / "nowhere"))

    assert result.exit_code == 1
    assert error_lines(result.stderr) == [f"Error: {tmp_path / 'nowhere'}: no such folder (check the batch folder path)"]


def test_console_script_reports_on_real_stderr(batch, home):
    zero_bytes(batch)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHUYING_")}

    proc = subprocess.run([str(REPO / ".venv/bin/shuying"), "--home", str(home), "validate", str(batch)],
                          check=False, capture_output=True, text=True, env=env, timeout=120)

    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == "Error: 0002.tif: empty file (0 bytes) (copy the file again)\n"


# --- duplicates by content ------------------------------------------------------------------------


def test_identical_bytes_under_two_names_fail_ingest_at_checksums(batch, home):
    rename_pages(batch, ["卷一 葉一上.tif", "卷一 葉一下.tif"])
    shutil.copyfile(batch / "卷一 葉一上.tif", batch / "卷一 葉一下.tif")
    before = snapshot(batch)

    result = shuying(home, "ingest", str(batch))

    assert result.exit_code == 1
    assert error_lines(result.stderr) == [
        ("Error: 卷一 葉一下.tif: identical bytes to '卷一 葉一上.tif' "
        "(the same capture is in the batch twice; remove one or reshoot)")]
    assert (home / "work" / ITEM / "failures" / "ChecksumMasters.json").is_file()
    assert not (home / "work" / ITEM / "checksums.json").exists()
    assert stored_or_published(home) == []
    assert snapshot(batch) == before


def test_validate_refuses_identical_bytes_under_two_names(batch, home):
    shutil.copyfile(batch / "0001.tif", batch / "0002.tif")

    result = shuying(home, "validate", str(batch))

    assert result.exit_code == 1
    assert "0002.tif: identical bytes to '0001.tif'" in result.output


# --- unusual but acceptable masters ---------------------------------------------------------------


def write_colour_mode_pages(batch: Path) -> None:
    """Make page 2 a CMYK TIFF and add a palette PNG and a 16-bit RGB TIFF (400 ppi, no ICC profile)."""
    # Paper with grain and two ink columns: many colours (an 8-bit palette) but nothing slow to OCR.
    grain = np.random.default_rng(3).normal(0, 6, (600, 400, 1))
    pixels = np.clip(np.array([225.0, 212.0, 185.0]) + grain, 0, 255)
    pixels[60:540, 80:120] = pixels[60:540, 200:240] = (30, 25, 20)
    page = Image.fromarray(pixels.astype(np.uint8), "RGB")
    page.convert("CMYK").save(batch / "0002.tif", format="TIFF", dpi=(400, 400), compression="tiff_lzw")
    page.convert("P", palette=Image.Palette.ADAPTIVE, colors=256).save(batch / "0003.png", dpi=(400, 400))
    wide = (pixels.astype(np.uint16) * 257).astype("<u2")
    image16 = pyvips.Image.new_from_memory(wide.tobytes(), page.width, page.height, 3, "ushort")
    image16.copy(interpretation="rgb16").tiffsave(str(batch / "0004.tif"), compression="lzw",
                                                  xres=400 / 25.4, yres=400 / 25.4)
    edit_doc(batch, lambda d: d["pages"].extend([{"file": "0003.png", "label": "卷一 葉一下"},
                                                 {"file": "0004.tif", "label": "卷一 葉二上"}]))


def page_checks(home: Path, page_id: str) -> dict[str, tuple[str, object]]:
    record = json.loads((home / "work" / ITEM / "pages" / page_id / "qc.json").read_text(encoding="utf-8"))
    return {r["check"]: (r["status"], r["value"]) for r in record["results"]}


def test_cmyk_palette_and_16_bit_masters_pass_validate(batch, home):
    write_colour_mode_pages(batch)

    result = shuying(home, "validate", str(batch))

    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{batch}: valid batch, item {ITEM}, 4 pages\n"


def test_cmyk_and_palette_masters_are_read_and_stopped_by_the_qc_gate(batch, home):
    write_colour_mode_pages(batch)
    before = snapshot(batch)

    result = shuying(home, "ingest", str(batch))

    assert result.exit_code == 1
    lines = error_lines(result.stderr)
    assert any(line.startswith("Error: p0002 (0002.tif) colour_mode fail: CMYK master") for line in lines), lines
    assert any(line.startswith("Error: p0003 (0003.png) colour_mode fail: indexed (palette)") for line in lines), lines
    assert not [line for line in lines if "p0004" in line and ("colour_mode" in line or "bit_depth" in line)]
    assert page_checks(home, "p0002")["colour_mode"] == ("fail", "cmyk")
    assert page_checks(home, "p0003")["colour_mode"] == ("fail", "palette")
    assert page_checks(home, "p0004")["colour_mode"] == ("pass", "rgb")
    assert page_checks(home, "p0004")["bit_depth"] == ("pass", 16)
    assert all(page_checks(home, p)["integrity"][0] == "pass" for p in ("p0002", "p0003", "p0004"))
    assert stored_or_published(home) == []
    assert snapshot(batch) == before


# --- a clean batch goes through --------------------------------------------------------------------


def test_clean_batch_with_chinese_and_space_names_is_ingested(batch, home):
    rename_pages(batch, ["封面.tif", "卷一 葉一上.tif"])
    before = snapshot(batch)

    validated = shuying(home, "validate", str(batch))
    result = shuying(home, "ingest", str(batch))

    assert validated.exit_code == 0 and validated.stdout == f"{batch}: valid batch, item {ITEM}, 2 pages\n"
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"Ingested {ITEM}: 2 pages\n")
    assert error_lines(result.stderr) == []
    bags = [p.parent for p in (home / "storage").rglob("bagit.txt")]
    assert [b.name for b in bags] == [f"{ITEM}.v1"]
    assert sorted(p.name for p in (bags[0] / "data" / "masters").iterdir()) == ["p0001.tif", "p0002.tif"]
    assert (bags[0] / "data" / "masters" / "p0002.tif").read_bytes() == (batch / "卷一 葉一上.tif").read_bytes()
    published = home / "publish" / ITEM
    manifest = json.loads((published / "manifest.json").read_text(encoding="utf-8"))
    assert [c["id"].rsplit("/", 1)[1] for c in manifest["items"]] == ["p0001", "p0002"]
    assert sorted(p.name for p in (published / "images").iterdir()) == ["p0001.tif", "p0002.tif"]
    assert [p for p in home.rglob("*") if ".tmp-" in p.name] == []
    assert stored_or_published(home) != []  # the helper the failure tests rely on does see an ingest
    assert snapshot(batch) == before


def test_ingest_succeeds_once_the_bad_file_is_replaced(batch, home):
    good = (batch / "0002.tif").read_bytes()
    zero_bytes(batch)
    assert shuying(home, "ingest", str(batch)).exit_code == 1

    (batch / "0002.tif").write_bytes(good)
    result = shuying(home, "ingest", str(batch))

    assert result.exit_code == 0, result.stderr
    assert (home / "publish" / ITEM / "manifest.json").is_file()
    assert not (home / "work" / ITEM / "failures" / "ValidateBatch.json").exists()
