"""The PDF builder and its ALTO reader: words land where ALTO put them, and extract as themselves, in order."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import pyvips

from pipeline.pdf import PdfError, PdfLine, PdfMetadata, PdfPage, PdfWord, write_pdf
from pipeline.pdf_text import AltoTextError, read_alto_lines

SCALE = 72 / 300  # points per source pixel in these pages: 600x900 px on a 144x216 pt page
ALTO_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#">'
             "{order}<Layout><Page ID=\"p1\" WIDTH=\"600\" HEIGHT=\"900\"><PrintSpace>{blocks}</PrintSpace>"
             "</Page></Layout></alto>")


def white_jpeg(width: int = 600, height: int = 900) -> bytes:
    return pyvips.Image.black(width, height).invert().jpegsave_buffer(Q=80)


def column(text: str, x: int, top: int = 100, size: int = 36, step: int = 44) -> PdfLine:
    words = tuple(PdfWord(ch, (x, top + step * i, x + size, top + step * i + size)) for i, ch in enumerate(text))
    return PdfLine(words, (x, top, x + size, top + step * len(text)), vertical=True)


def page(*lines: PdfLine, label: str = "", jpeg: bytes | None = None) -> PdfPage:
    return PdfPage(jpeg or white_jpeg(), 144, 216, (600, 900), lines, label)


def build(tmp_path: Path, *pages: PdfPage, metadata: PdfMetadata | None = None) -> Path:
    path = tmp_path / "out.pdf"
    with path.open("wb") as out:
        assert write_pdf(out, pages, metadata or PdfMetadata("書")) == len(pages)
    return path


def poppler(*args: str) -> str:
    return subprocess.run(list(args), check=True, capture_output=True, text=True).stdout


def word_boxes(path: Path) -> dict[str, tuple[float, ...]]:
    """Each extracted word and its box in points (y down), from ``pdftotext -bbox``."""
    pattern = r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
    return {m[5]: tuple(round(float(v), 1) for v in m.groups()[:4]) for m in re.finditer(pattern, poppler(
        "pdftotext", "-bbox", str(path), "-"))}


def test_a_column_is_one_word_over_its_characters_boxes_read_top_to_bottom(tmp_path: Path) -> None:
    path = build(tmp_path, page(column("學而時習之", 500), column("不亦說乎", 440)))
    boxes = word_boxes(path)
    # From the first character's top to the last one's bottom, across the column's width.
    assert boxes["學而時習之"] == tuple(round(v * SCALE, 1) for v in (500, 100, 536, 100 + 44 * 4 + 36))
    assert boxes["不亦說乎"] == tuple(round(v * SCALE, 1) for v in (440, 100, 476, 100 + 44 * 3 + 36))
    assert poppler("pdftotext", "-raw", str(path), "-").split() == ["學而時習之", "不亦說乎"]


def test_a_horizontal_line_keeps_its_spaces_and_each_word_its_box(tmp_path: Path) -> None:
    line = PdfLine((PdfWord("Analects", (50, 50, 170, 80), space_after=True), PdfWord("論語", (180, 50, 240, 80))),
                   (50, 50, 240, 80))
    path = build(tmp_path, page(line))
    assert poppler("pdftotext", str(path), "-").strip() == "Analects 論語"
    assert word_boxes(path)["Analects"] == tuple(round(v * SCALE, 1) for v in (50, 50, 170, 80))


def test_characters_the_font_lacks_still_extract(tmp_path: Path) -> None:
    # 㐀 (Extension A) is not in UMing; 𠀀 (Extension B) is beyond reportlab's ToUnicode map.
    path = build(tmp_path, page(column("㐀龘𠀀之", 500)))
    assert poppler("pdftotext", str(path), "-").strip() == "㐀龘〓之"


def test_metadata_reading_direction_and_leaf_bookmarks(tmp_path: Path) -> None:
    metadata = PdfMetadata("論語十卷", subject="demo-lunyu: 封面 – 卷一 葉一上; ark:/12345/x1", author="孔子弟子",
                           keywords=("demo-lunyu", "ark:/12345/x1"), language="zh-Hant", right_to_left=True)
    path = build(tmp_path, page(label="封面"), page(label="卷一 葉一上"), metadata=metadata)
    info = poppler("pdfinfo", str(path))
    assert re.search(r"^Title:\s+論語十卷$", info, re.M)
    assert re.search(r"^Subject:\s+demo-lunyu: 封面 – 卷一 葉一上; ark:/12345/x1$", info, re.M)
    assert re.search(r"^Keywords:\s+demo-lunyu, ark:/12345/x1$", info, re.M)
    assert b"/Direction /R2L" in path.read_bytes()
    outline = poppler("pdftohtml", "-xml", "-stdout", "-i", "-q", str(path))
    assert '<item page="1">封面</item>' in outline and '<item page="2">卷一 葉一上</item>' in outline


def test_the_jpeg_is_embedded_as_it_is(tmp_path: Path) -> None:
    jpeg = white_jpeg(300, 450)
    path = build(tmp_path, page(jpeg=jpeg))
    rows = poppler("pdfimages", "-list", str(path)).splitlines()[2:]
    assert [row.split()[3:5] + row.split()[8:9] for row in rows] == [["300", "450", "jpeg"]]
    assert jpeg in path.read_bytes()  # not decoded and encoded again


def test_a_page_that_is_not_a_jpeg_is_named(tmp_path: Path) -> None:
    with pytest.raises(PdfError, match="page 卷一 葉二上: the image is not a readable JPEG"):
        build(tmp_path, page(label="卷一 葉二上", jpeg=b"not an image"))


def test_a_pdf_needs_a_page(tmp_path: Path) -> None:
    with pytest.raises(PdfError, match="at least one page"):
        build(tmp_path)


def alto(blocks: str, order: str = "") -> str:
    return ALTO_HEAD.format(order=order, blocks=blocks)


def string(text: str, x: int, y: int, w: int = 40, h: int = 40) -> str:
    return f'<String CONTENT="{text}" HPOS="{x}" VPOS="{y}" WIDTH="{w}" HEIGHT="{h}"/>'


def test_alto_blocks_come_in_reading_order_then_the_rest(tmp_path: Path) -> None:
    fold = f'<TextBlock ID="B1"><TextLine BASEDIRECTION="ttb">{string("論", 10, 10)}{string("語", 10, 50)}' \
           "</TextLine></TextBlock>"
    main = f'<TextBlock ID="B2" BASEDIRECTION="ttb"><TextLine HPOS="500" VPOS="100" WIDTH="40" HEIGHT="80">' \
           f'{string("子", 500, 100)}{string("曰", 500, 140)}</TextLine></TextBlock>'
    order = '<ReadingOrder><OrderedGroup ID="O"><ElementRef ID="R" REF="B2"/></OrderedGroup></ReadingOrder>'
    path = tmp_path / "p.xml"
    path.write_text(alto(fold + main, order), encoding="utf-8")
    lines = read_alto_lines(path)
    assert ["".join(w.text for w in line.words) for line in lines] == ["子曰", "論語"]
    assert all(line.vertical for line in lines)
    assert lines[0].box == (500, 100, 540, 180)
    assert lines[1].box == (10, 10, 50, 90)  # no box of its own: its Strings'


def test_alto_spaces_and_shapes_decide_words_and_direction(tmp_path: Path) -> None:
    latin = f'<TextBlock><TextLine>{string("Lun", 10, 10, 60)}<SP/>{string("yu", 80, 10, 40)}<SP/></TextLine>'
    tall = f'<TextLine>{string("學", 300, 100)}{string("而", 300, 140)}{string("時", 300, 180)}</TextLine>'
    broken = f'<TextLine>{string("x", 0, 0).replace(chr(34) + "0" + chr(34), chr(34) + "nan" + chr(34), 1)}' \
             "</TextLine></TextBlock>"
    path = tmp_path / "p.xml"
    path.write_text(alto(latin + tall + broken), encoding="utf-8")
    first, second = read_alto_lines(path)  # the String without a usable box is left out, and its line
    assert [(w.text, w.space_after) for w in first.words] == [("Lun", True), ("yu", False)]
    assert not first.vertical and second.vertical


def test_a_string_with_glyphs_gives_each_character_its_own_box(tmp_path: Path) -> None:
    glyphs = "".join(f'<Glyph CONTENT="{ch}" HPOS="300" VPOS="{100 + 50 * i}" WIDTH="40" HEIGHT="40"/>'
                     for i, ch in enumerate("學而"))
    line = f'<TextBlock BASEDIRECTION="ttb"><TextLine><String CONTENT="學而" HPOS="300" VPOS="100" WIDTH="40" ' \
           f'HEIGHT="90">{glyphs}</String><SP/>{string("時", 300, 200)}</TextLine></TextBlock>'
    path = tmp_path / "p.xml"
    path.write_text(alto(line), encoding="utf-8")
    (only,) = read_alto_lines(path)
    assert [(w.text, w.box, w.space_after) for w in only.words] == [
        ("學", (300, 100, 340, 140), False), ("而", (300, 150, 340, 190), True), ("時", (300, 200, 340, 240), False)]


def test_unreadable_alto_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "p0003.xml"
    path.write_text("<alto><Layout>", encoding="utf-8")
    with pytest.raises(AltoTextError, match=r"p0003\.xml: cannot read ALTO"):
        read_alto_lines(path)
