"""Generated periodical pages: reading-order ground truth, adverts and running heads kept apart, noise."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.synthetic_periodical import (
    ADVERT_LINES,
    HEADLINES,
    MAGAZINE,
    PeriodicalLayout,
    PeriodicalPage,
    benchmark_pages,
    punctuate,
    render_periodical_page,
)

W, H = 1000, 1400  # small pages keep the tests fast


@pytest.fixture(scope="module")
def headline_page() -> PeriodicalPage:
    return render_periodical_page(PeriodicalLayout.HEADLINE_ADVERT, width=W, height=H, seed=2, page_number=17)


def test_flow_text_is_the_headline_then_the_columns_in_reading_order(headline_page: PeriodicalPage) -> None:
    lines = headline_page.text.split("\n")
    assert lines[0] == HEADLINES[2]
    flow = "".join(lines)
    assert "".join(g.char for g in headline_page.glyphs) == flow
    columns = lines[1:]
    assert len(columns) > 10 and all(len(c) <= 18 for c in columns)


def test_columns_run_right_to_left_and_tier_by_tier(headline_page: PeriodicalPage) -> None:
    body = headline_page.glyphs[len(HEADLINES[2]) :]
    upper, lower = headline_page.tier_boxes
    tops = [g.box[1] for g in body]
    in_lower = [top >= lower[1] for top in tops]
    assert in_lower == sorted(in_lower)  # every upper-tier glyph comes before every lower-tier one
    first_column, second_column = body[:18], body[18:36]
    assert min(g.box[0] for g in first_column) > max(g.box[2] for g in second_column)
    assert all(upper[0] <= g.box[0] and g.box[2] <= upper[2] for g in first_column)


def test_advert_and_running_head_stay_out_of_the_flow(headline_page: PeriodicalPage) -> None:
    assert headline_page.advert_text == "\n".join(ADVERT_LINES)
    assert headline_page.running_text == f"{MAGAZINE}\n17"
    for outside in (*ADVERT_LINES, MAGAZINE):
        assert outside not in headline_page.text.replace("\n", "")
    x0, y0, x1, y1 = headline_page.advert_box or (0, 0, 0, 0)
    assert not any(x0 <= g.box[0] < x1 and y0 <= g.box[1] < y1 for g in headline_page.glyphs)


@pytest.mark.parametrize("layout", [PeriodicalLayout.TWO_TIERS_RULE, PeriodicalLayout.TWO_TIERS_WHITESPACE])
def test_only_the_rule_layout_draws_a_rule_between_the_tiers(layout: PeriodicalLayout) -> None:
    page = render_periodical_page(layout, width=W, height=H)
    upper, lower = page.tier_boxes
    assert upper[3] < lower[1]
    gap = np.asarray(page.image.convert("L"))[upper[3] + 5 : lower[1] - 5, upper[0] : upper[2]]
    darkest_row = (gap < 120).mean(axis=1).max()
    assert (darkest_row > 0.9) == (layout is PeriodicalLayout.TWO_TIERS_RULE)


def test_pages_are_deterministic_and_seeds_differ() -> None:
    first = render_periodical_page(PeriodicalLayout.TWO_TIERS_RULE, width=W, height=H, seed=4)
    again = render_periodical_page(PeriodicalLayout.TWO_TIERS_RULE, width=W, height=H, seed=4)
    other = render_periodical_page(PeriodicalLayout.TWO_TIERS_RULE, width=W, height=H, seed=5)
    assert np.array_equal(np.asarray(first.image), np.asarray(again.image)) and first.text == again.text
    assert other.text != first.text


def test_microfilm_copies_are_grey_and_low_contrast() -> None:
    clean = render_periodical_page(PeriodicalLayout.TWO_TIERS_RULE, width=W, height=H, seed=1)
    film = render_periodical_page(PeriodicalLayout.TWO_TIERS_RULE, width=W, height=H, seed=1, microfilm=True)
    pixels = np.asarray(film.image).astype(int)
    assert np.abs(pixels[..., 0] - pixels[..., 2]).max() == 0  # grey: no paper tint left
    low, high = np.percentile(pixels[..., 0], [1, 99])
    clean_low, clean_high = np.percentile(np.asarray(clean.image.convert("L")), [1, 99])
    assert high - low < 0.8 * (clean_high - clean_low)
    assert film.text == clean.text


def test_punctuation_goes_between_characters_and_quotes_close() -> None:
    text = "學而時習之不亦說乎有朋自遠方來不亦樂乎人不知而不慍不亦君子乎"
    marked = punctuate(text, seed=3)
    assert "".join(ch for ch in marked if ch not in "，。「」") == text
    assert marked.count("「") - marked.count("」") in (0, 1)
    assert marked.count("，") + marked.count("。") >= len(text) // 9


def test_benchmark_pages_cycle_layouts_and_mark_noisy_ones() -> None:
    pages = list(benchmark_pages(4, width=600, height=900))
    assert [name for name, *_ in pages] == ["m00", "m01", "m02", "m03"]
    assert [subsets for _, subsets, _, _ in pages] == [
        ("two tiers, rule",),
        ("two tiers, whitespace",),
        ("headline + advert",),
        ("two tiers, rule", "noisy"),
    ]
    assert all(vertical for *_, vertical in pages)
    assert all(page.image.size == (600, 900) for _, _, page, _ in pages)
