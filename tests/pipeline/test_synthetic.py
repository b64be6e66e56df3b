"""Generated pages: fonts, reading order, glyph boxes, frame, seal, skew and determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import ShuyingError
from pipeline.synthetic import (
    FOLD_LABEL,
    PAPER_RGB,
    SAMPLE_TEXT,
    SEAL_CHARS,
    FoldColumn,
    FontNotFoundError,
    RenderedPage,
    find_cjk_font,
    load_cjk_font,
    render_horizontal_page,
    render_vertical_page,
    sample_text_for_page,
)

W, H = 1000, 1400  # small pages keep the tests fast


def _grey(page: RenderedPage) -> np.ndarray:
    return np.asarray(page.image.convert("L"))


def _centre(box: tuple[int, int, int, int]) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


@pytest.mark.parametrize("style", ["ming", "kai"])
def test_find_cjk_font_finds_an_installed_font(style: str) -> None:
    path = find_cjk_font(style)
    assert path.is_file()
    assert path.suffix in {".ttc", ".ttf", ".otf"}


def test_find_cjk_font_looks_below_the_search_dirs(tmp_path: Path) -> None:
    nested = tmp_path / "fonts" / "elsewhere" / "ukai.ttc"
    nested.parent.mkdir(parents=True)
    nested.write_bytes(b"not really a font")
    assert find_cjk_font("kai", search_dirs=(tmp_path / "fonts",)) == nested


def test_find_cjk_font_names_the_folders_and_the_package_when_none_found(tmp_path: Path) -> None:
    with pytest.raises(FontNotFoundError) as caught:
        find_cjk_font("ming", search_dirs=(tmp_path,))
    assert isinstance(caught.value, ShuyingError)
    assert isinstance(caught.value, FileNotFoundError)
    assert str(caught.value) == (
        f"{tmp_path}: no CJK font for style 'ming' "
        "(apt-get install fonts-arphic-uming fonts-arphic-ukai fonts-noto-cjk)"
    )


def test_sample_text_renders_without_missing_glyphs() -> None:
    font = load_cjk_font(40, "ming")
    assert "TW" in str(font.getname())  # traditional forms, not the CN face of uming.ttc
    notdef = bytes(font.getmask("\U000f0000"))
    missing = {c for c in SAMPLE_TEXT + SEAL_CHARS + FOLD_LABEL if bytes(font.getmask(c)) == notdef}
    assert missing == set()


def test_sample_text_for_page_varies_by_page() -> None:
    pages = [sample_text_for_page(i, 200) for i in range(8)]
    assert all(len(p) == 200 for p in pages)
    assert len(set(pages)) == 8
    assert set("".join(pages)) <= set(SAMPLE_TEXT)
    assert pages[0] + pages[1] == SAMPLE_TEXT[:400]


def test_vertical_text_reads_down_columns_from_right_to_left() -> None:
    text = sample_text_for_page(0, 60)
    page = render_vertical_page(text, columns=5, chars_per_column=20, width=W, height=H)
    assert page.text == "\n".join([text[:20], text[20:40], text[40:60]])
    assert "".join(g.char for g in page.glyphs) == text
    first, second = page.glyphs[:20], page.glyphs[20:40]
    assert min(_centre(g.box)[0] for g in first) > max(_centre(g.box)[0] for g in second)
    ys = [_centre(g.box)[1] for g in first]
    assert ys == sorted(ys)


def test_newline_starts_a_column_and_overflow_is_dropped() -> None:
    text = "子曰學而\n" + SAMPLE_TEXT[:300]
    page = render_vertical_page(text, columns=4, chars_per_column=10, width=W, height=H)
    columns = page.text.split("\n")
    assert columns[0] == "子曰學而"
    assert columns[1:] == [SAMPLE_TEXT[0:10], SAMPLE_TEXT[10:20], SAMPLE_TEXT[20:30]]
    assert len(page.glyphs) == 34


def test_glyph_boxes_are_tight_around_the_ink() -> None:
    page = render_vertical_page(SAMPLE_TEXT[:80], columns=6, chars_per_column=16, paper=False, width=W, height=H)
    grey = _grey(page).astype(int)
    for index, glyph in enumerate(page.glyphs):
        x0, y0, x1, y1 = glyph.box
        crop = grey[y0:y1, x0:x1]
        assert crop.min() < 80, glyph
        # Every edge of the box touches ink, and the pixels just outside are clear.
        assert max(crop[0].min(), crop[-1].min(), crop[:, 0].min(), crop[:, -1].min()) < 255, glyph
        assert grey[y0:y1, x0 - 1].min() == 255 and grey[y0:y1, x1].min() == 255, glyph
        if index % 16 not in (0, 15):  # the frame's inner line runs close to the first and last rows
            assert grey[y0 - 1, x0:x1].min() == 255 and grey[y1, x0:x1].min() == 255, glyph


def test_glyph_boxes_follow_the_skew() -> None:
    text = SAMPLE_TEXT[:100]
    flat = render_vertical_page(text, paper=False, width=W, height=H)
    tilted = render_vertical_page(text, paper=False, skew_deg=4.5, width=W, height=H)
    flat_grey, tilted_grey = _grey(flat) < 128, _grey(tilted) < 128
    for before, after in zip(flat.glyphs, tilted.glyphs):
        x0, y0, x1, y1 = after.box
        crop = tilted_grey[y0:y1, x0:x1]
        ink_before = flat_grey[before.box[1] : before.box[3], before.box[0] : before.box[2]].sum()
        assert crop.sum() >= 0.8 * ink_before, after
        ys, xs = np.nonzero(crop)
        # The ink sits in the middle of the box, not against one side.
        assert abs(xs.mean() - (x1 - x0) / 2) < 0.2 * (x1 - x0), after
        assert abs(ys.mean() - (y1 - y0) / 2) < 0.2 * (y1 - y0), after


def test_skew_grows_the_canvas_and_fills_corners_with_paper() -> None:
    page = render_vertical_page(SAMPLE_TEXT[:50], skew_deg=-5.3, width=W, height=H)
    width, height = page.image.size
    assert width > 1000 and height > 1400
    assert page.skew_deg == -5.3
    pixels = np.asarray(page.image)
    assert tuple(pixels[0, 0]) == PAPER_RGB and tuple(pixels[-1, -1]) == PAPER_RGB
    x0, y0, x1, y1 = page.frame_box
    assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height


def test_frame_and_column_rules_are_drawn() -> None:
    page = render_vertical_page("", columns=8, fold_column=False, paper=False, width=W, height=H)
    dark = _grey(page) < 128
    x0, y0, x1, y1 = page.frame_box
    middle = dark[(y0 + y1) // 2, x0:x1]
    # Two lines on each side (四周雙邊) and 7 rules between 8 columns.
    runs = np.count_nonzero(np.diff(middle.astype(int)) == 1) + int(middle[0])
    assert runs == 2 + 2 + 7
    assert page.text == "" and page.glyphs == () and page.fold_text == ""


@pytest.mark.parametrize("fold", [FoldColumn.LEFT, FoldColumn.CENTRE, FoldColumn.RIGHT])
def test_fold_column_holds_the_label_and_no_text(fold: FoldColumn) -> None:
    page = render_vertical_page(SAMPLE_TEXT[:200], columns=10, fold_column=fold, paper=False, width=W, height=H)
    assert page.fold_text == FOLD_LABEL
    assert len(page.text.split("\n")) == 10
    means = [np.mean([_centre(g.box)[0] for g in page.glyphs[k * 20 : k * 20 + 20]]) for k in range(10)]
    gaps = -np.diff(means)  # columns run right to left
    pitch = float(np.median(gaps))
    left_margin, right_margin = means[-1] - page.frame_box[0], page.frame_box[2] - means[0]
    if fold is FoldColumn.CENTRE:
        assert int(np.argmax(gaps)) == 4 and gaps[4] > 1.8 * pitch
    elif fold is FoldColumn.LEFT:
        assert gaps.max() < 1.2 * pitch and left_margin > right_margin + 0.7 * pitch
    else:
        assert gaps.max() < 1.2 * pitch and right_margin > left_margin + 0.7 * pitch


def test_seal_is_vermilion_over_the_text() -> None:
    def render(seal: bool) -> np.ndarray:
        page = render_vertical_page(SAMPLE_TEXT[:200], seed=3, seal=seal, width=W, height=H)
        return np.asarray(page.image).astype(int)

    plain, sealed = render(False), render(True)
    red = (sealed[..., 0] - sealed[..., 2]) > 60
    assert red.sum() > 2000
    assert ((plain[..., 0] - plain[..., 2]) > 60).sum() == 0


def test_horizontal_lines_read_left_to_right_top_to_bottom() -> None:
    text = SAMPLE_TEXT[:50]
    page = render_horizontal_page(text, lines=10, chars_per_line=20, width=W, height=H)
    assert page.text == "\n".join([text[:20], text[20:40], text[40:50]])
    first, second = page.glyphs[:20], page.glyphs[20:40]
    xs = [_centre(g.box)[0] for g in first]
    assert xs == sorted(xs)
    assert max(_centre(g.box)[1] for g in first) < min(_centre(g.box)[1] for g in second)


def test_same_seed_same_page_other_seed_other_page() -> None:
    def render(seed: int) -> bytes:
        page = render_vertical_page(SAMPLE_TEXT[:100], seed=seed, noise=0.03, seal=True, width=W, height=H)
        return page.image.tobytes()

    assert render(5) == render(5)
    assert render(5) != render(6)


def test_font_scales_with_the_page() -> None:
    small = render_vertical_page(SAMPLE_TEXT[:20], width=700, height=1000)
    large = render_vertical_page(SAMPLE_TEXT[:20], width=2800, height=4000)
    small_h = np.median([g.box[3] - g.box[1] for g in small.glyphs])
    large_h = np.median([g.box[3] - g.box[1] for g in large.glyphs])
    assert 3.6 < large_h / small_h < 4.4


@pytest.mark.slow
def test_master_sized_page_renders() -> None:
    page = render_vertical_page(SAMPLE_TEXT[:200], width=5000, height=7000, skew_deg=1.5, blur=1.2, noise=0.02)
    assert page.image.size[0] > 5000 and page.image.size[1] > 7000
    assert len(page.glyphs) == 200


def test_layout_that_cannot_fit_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot lay out 0 x 20 characters"):
        render_vertical_page("子", columns=0, width=W, height=H)
