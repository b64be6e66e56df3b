"""Batches in the library's other languages: each read by Tesseract with its own model, and a
language no model reads refused at validate, before any processing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFont

import cli
from pipeline.sample_book import batch_document
from pipeline.synthetic import render_vertical_page
from storage_config.settings import SETTINGS, Settings
from tests.pipeline.ocr_metrics import cer
from workflows.run import run_ingest

CLEAN_ENV = {f"SHUYING_{s.name.upper()}": None for s in SETTINGS}
LATIN_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")
CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc")
GERMAN = ["Über die Bücher der Bibliothek", "Die Größe des Saales ist schön", "Man liest süße Verse",
          "Der König hörte die Grüße", "Fünf Männer aßen Brötchen"]
# Kana with kanji, as a Manchukuo-era notice is written.
JAPANESE = "図書館ハ古キ書物ヲ保存シ市民ニ公開スルコトヲ目的トス本館ノ蔵書ハ約十万冊ニシテ其ノ多クハ漢籍ナリ"


def write_batch(dest: Path, image: Image.Image, **item: object) -> Path:
    dest.mkdir(parents=True)
    image.save(dest / "0001.tif", format="TIFF", compression="tiff_lzw", dpi=(400, 400))
    document = batch_document(dest.name, [("0001.tif", "1", "page")], ppi=400)
    document["item"].update(item)
    (dest / "batch.json").write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    return dest


def german_page() -> Image.Image:
    page = Image.new("RGB", (1400, 1000), (245, 240, 228))
    draw, font = ImageDraw.Draw(page), ImageFont.truetype(str(LATIN_FONT), 44)
    for i, line in enumerate(GERMAN):
        draw.text((90, 120 + 150 * i), line, font=font, fill=(30, 26, 24))
    return page


def ocr_of(settings: Settings, item: str) -> tuple[dict, str]:
    folder = settings.work_dir / item / "pages/p0001/ocr"
    return (json.loads((folder / "ocr.json").read_text(encoding="utf-8")),
            (folder / "text.txt").read_text(encoding="utf-8"))


def flat(text: str) -> str:
    return "".join(text.split())


@pytest.mark.slow
@pytest.mark.skipif(not LATIN_FONT.is_file(), reason="fonts-dejavu-core not installed")
def test_a_german_batch_is_read_with_the_german_model(tmp_path: Path, settings: Settings) -> None:
    batch = write_batch(tmp_path / "de-1784", german_page(), material_type="other",
                        script_direction="horizontal-lr", languages=["de"], title="Deutsche Drucke")

    result = run_ingest(batch, settings, accept_warnings=True, operator="test", reason="generated page")

    assert result.ok, result.failures
    record, text = ocr_of(settings, "de-1784")
    assert (record["engine"], record["language"]) == ("tesseract", "deu")
    assert cer(flat("".join(GERMAN)), flat(text)) < 0.05
    assert "ß" in text and "Ü" in text  # read as German, not as English


@pytest.mark.slow
@pytest.mark.skipif(not CJK_FONT.is_file(), reason="fonts-noto-cjk not installed")
def test_a_japanese_vertical_batch_is_read_with_the_vertical_japanese_model(tmp_path: Path,
                                                                            settings: Settings) -> None:
    rendered = render_vertical_page(JAPANESE, width=1000, height=1400, columns=6, chars_per_column=12,
                                    font_path=CJK_FONT, fold_column=False)
    batch = write_batch(tmp_path / "ja-notice", rendered.image, material_type="republican",
                        script_direction="vertical-rl", languages=["ja"], title="満洲国告示")

    result = run_ingest(batch, settings, accept_warnings=True, operator="test", reason="generated page")

    assert result.ok, result.failures
    record, text = ocr_of(settings, "ja-notice")
    assert (record["engine"], record["language"]) == ("tesseract", "jpn_vert")
    assert cer(flat(rendered.text), flat(text)) < 0.15  # 0.10 measured: a few kana inserted, none lost


def test_validate_refuses_a_language_no_model_reads_before_any_processing(tmp_path: Path) -> None:
    batch = write_batch(tmp_path / "tib", german_page(), languages=["bo"])
    home = tmp_path / "home"

    result = CliRunner(env=CLEAN_ENV).invoke(cli.cli, ["--home", str(home), "validate", str(batch)])

    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(
        "Error: batch.json: item.languages: no OCR model is known for language 'bo' (use one of lzh, zh-Hant, zh-Hans")
    ingest = CliRunner(env=CLEAN_ENV).invoke(cli.cli, ["--home", str(home), "ingest", str(batch)])
    assert ingest.exit_code != 0 and "no OCR model is known for language 'bo'" in ingest.stderr
    assert not (home / "work/tib").exists()


def test_validate_names_the_package_when_the_language_model_is_not_installed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Real Tesseract, looking for its models in an empty folder.
    (tmp_path / "no-tessdata").mkdir()
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path / "no-tessdata"))
    batch = write_batch(tmp_path / "ru", german_page(), material_type="other",
                        script_direction="horizontal-lr", languages=["ru"])

    result = CliRunner(env=CLEAN_ENV).invoke(cli.cli, ["--home", str(tmp_path / "home"), "validate", str(batch)])

    assert result.exit_code == 1
    assert ("Error: batch.json: item.languages: Tesseract language 'rus' is not installed "
            "(apt-get install tesseract-ocr-rus)") in result.stderr.splitlines()
