"""Entity precision and recall per kind: generated pages (text, and rendered + OCR) and real woodblock leaves.

    python benchmarks/entities.py [--text-pages 60] [--ocr-pages 12] [--real-dir ../shared/samples/woodblock]

Sets:
- generated text: pages the benchmark writes itself from snippets with known entities
  (era dates with and without month, day and 干支; 四庫-style entry heads with their
  holdings; 撰 formulas, 字 and native places; offices; provinces and prefectures; 《》
  titles) between lines of 論語 and noisy distractors (a lone 年, a number and 年 without
  an era, misread era names, an era after the book's period, 編修 as a verb, 尚書 the
  classic, 延平 the sobriquet). Every other page is in simplified characters. The text
  goes straight to find_entities, a column per line.
- generated noisy text: the same pages with 4% of their characters misread (a lookalike
  such as 隆 → 降, or any character), dropped or doubled, scored against the clean truth;
  once by the rules alone, once with glyph confidences like those PP-OCR gave the real
  leaves' misread and right glyphs (MISREAD_WC, DOUBTED_GOOD).
- generated OCR: the first --ocr-pages of those pages rendered as woodblock leaves
  (pipeline.synthetic), read by our PP-OCR pipeline, written as ALTO and read back as
  ingest does, with glyph confidences.
- real: the woodblock scans in --real-dir, OCR'd the same way, against the hand tags in
  benchmarks/data/entities-truth.json.

Scoring: per page, the distinct (kind, value) pairs: a date's Gregorian year (its text
when the table cannot date it), otherwise the folded name. Only accepted entities
(confidence >= pipeline.entities.ACCEPT) count as found; a provenance also counts as the
place, office and person it names. Precision = found and true / found, recall = found
and true / true, summed over the pages of a set. "held" counts entities kept back with
a low confidence.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyvips
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline import entities, ocr
from pipeline.deskew import deskew, estimate_skew
from pipeline.entities import BookContext, Entity, Kind, page_text_from_lines
from pipeline.entities.numerals import ganzhi_of_year
from pipeline.entities.vocab import fold
from pipeline.ocr.script import Script, ScriptMapper
from pipeline.synthetic import render_vertical_page, sample_text_for_page

TRUTH = REPO / "benchmarks" / "data" / "entities-truth.json"
DEFAULT_REAL = REPO.parent / "shared" / "samples" / "woodblock"
PERIOD = (1644, 1911)  # the generated pages are 清 books
KINDS = [k.value for k in Kind]
Key = tuple[str, str]

# Real people, their 字 and native places (for the generated pages' snippets).
PEOPLE = [("顧炎武", "寧人", "崑山"), ("黃宗羲", "太沖", "餘姚"), ("王夫之", "而農", "衡陽"), ("錢謙益", "受之", "常熟"),
          ("朱彝尊", "錫鬯", "秀水"), ("毛奇齡", "大可", "蕭山"), ("閻若璩", "百詩", "太原"), ("方苞", "鳳九", "桐城"),
          ("全祖望", "紹衣", "鄞縣"), ("錢大昕", "曉徵", "嘉定"), ("段玉裁", "若膺", "金壇"), ("王念孫", "懷祖", "高郵"),
          ("焦竑", "弱侯", "江寧"), ("宋濂", "景濂", "浦江"), ("王守仁", "伯安", "餘姚"), ("楊慎", "用修", "新都"),
          ("歸有光", "熙甫", "崑山"), ("胡應麟", "元瑞", "蘭谿"), ("陳繼儒", "仲醇", "華亭"), ("董其昌", "玄宰", "華亭")]
TITLES = ["日知錄", "明夷待訪錄", "讀通鑑論", "經義考", "尚書古文疏證", "望溪集", "潛研堂集", "說文解字注",
          "廣雅疏證", "國史經籍志", "宋學士集", "傳習錄", "升菴集", "震川集", "少室山房筆叢", "容臺集"]
OFFICES = ["翰林院編修", "禮部尚書", "吏部侍郎", "國子監祭酒", "知府", "知縣", "巡撫", "總督", "大理寺卿", "左都御史"]
PROVINCES = ["浙江", "江蘇", "安徽", "江西", "福建", "湖北", "湖南", "河南", "山東", "山西", "陝西", "四川", "廣東", "雲南"]
PREFECTURES = ["蘇州府", "杭州府", "揚州府", "紹興府", "徽州府", "廣州府", "延平府", "成都府"]
REIGNS = [("洪武", 1368, 31), ("永樂", 1403, 22), ("嘉靖", 1522, 45), ("萬曆", 1573, 48), ("崇禎", 1628, 17),
          ("順治", 1644, 18), ("康熙", 1662, 61), ("雍正", 1723, 13), ("乾隆", 1736, 60), ("嘉慶", 1796, 25),
          ("道光", 1821, 30), ("咸豐", 1851, 11), ("同治", 1862, 13), ("光緒", 1875, 34), ("宣統", 1909, 3)]
DISTRACTORS = ["是年大水民多流亡", "越三十年而書成", "四十七年冬始刻", "乾降四十七年", "萬感癸丑進士", "康照二年",
               "民國二十年重印", "奉敕編修是書", "尚書要旨一篇", "延平所謂玩物", "年年如此", "又十年卒"]
DIGITS = "〇一二三四五六七八九"
# Misreads PP-OCR makes on such pages (and a few plausible ones): a noisy page uses them half the time.
LOOKALIKES = {"隆": "降", "曆": "感", "熙": "照", "慶": "廣", "禎": "楨", "緒": "諸", "萬": "葛", "年": "牟",
              "府": "符", "撰": "摆", "字": "宇", "巡": "廵", "本": "木", "卷": "券", "十": "千", "二": "三"}
NOISE = 0.04  # of the characters of a noisy page: misread, dropped or doubled
# PP-OCRv6's confidence (ALTO WC) in each of the 12 misread glyphs of the 4 real leaves (敕 曰 巳 干 水 背 何 感 增 木
# 巾 譯), and the share of correctly read glyphs below the review threshold there (14 of 620).
MISREAD_WC = (0.75, 0.70, 0.71, 0.51, 0.44, 0.51, 0.70, 0.20, 0.25, 0.61, 0.59, 0.33)
DOUBTED_GOOD = 14 / 620


@dataclass
class Page:
    name: str
    lines: list[str]
    truth: set[Key] = field(default_factory=set)
    confidences: list[float] | None = None  # per character of the joined lines, as an OCR would give


def numeral(n: int) -> str:
    """Write 1..99 as a Chinese numeral (元 for 1 is the caller's choice)."""
    tens, units = divmod(n, 10)
    return (("" if tens == 1 else DIGITS[tens]) + "十" if tens else "") + (DIGITS[units] if units else "")


def snippet(rng: random.Random) -> tuple[str, set[Key]]:
    """Return one line with known entities, and its truth."""
    kind = rng.choice(["date", "date", "ganzhi", "entry", "person", "office", "place", "quoted", "noise", "noise"])
    name, zi, native = rng.choice(PEOPLE)
    if kind == "date":
        reign, first, years = rng.choice(REIGNS)
        n = rng.randint(1, years)
        month = rng.choice(["", "正月", f"{numeral(rng.randint(2, 12))}月", f"閏{numeral(rng.randint(2, 11))}月"])
        day = rng.choice(["", f"初{numeral(rng.randint(1, 9))}日", f"{numeral(rng.randint(11, 29))}日"]) if month else ""
        return f"{reign}{'元' if n == 1 else numeral(n)}年{month}{day}刊", {("date", str(first + n - 1))}
    if kind == "ganzhi":
        reign, first, years = rng.choice([r for r in REIGNS if r[2] <= 60])
        year = first + rng.randint(0, years - 1)
        return f"序於{reign}{ganzhi_of_year(year)}", {("date", str(year))}
    if kind == "entry":
        title, province = rng.choice(TITLES), rng.choice(PROVINCES)
        owner = rng.choice([f"{name}家藏本", "巡撫採進本"])
        holding = province + owner
        truth = {("title", title), ("holding", holding), ("provenance", holding[:-3]), ("place", province)}
        truth.add(("person", name) if "家藏" in owner else ("office", "巡撫"))
        count = rng.choice(["無卷數", f"{numeral(rng.randint(2, 40))}卷"])
        return f"\n{title}{count}{holding}", truth
    if kind == "person":
        return f"明{name}撰{name[1:] if len(name) == 3 else name}字{zi}{native}人", {("person", name), ("place", native)}
    if kind == "office":
        office = rng.choice(OFFICES)
        return f"官至{office}", {("office", office)}
    if kind == "place":
        place = rng.choice(PROVINCES + PREFECTURES)
        return f"遊於{place}", {("place", place)}
    if kind == "quoted":
        title = rng.choice(TITLES)
        return f"著有《{title}》", {("title", title)}
    return rng.choice(DISTRACTORS), set()


def generated_pages(count: int) -> list[Page]:
    """Pages of snippets between lines of 論語; every other one mapped to simplified."""
    rng = random.Random(1782)
    to_simplified = ScriptMapper(Script.SIMPLIFIED, guarded=False)
    filler = sample_text_for_page(3, 4000)
    pages = []
    for i in range(count):
        page = Page(f"g{i:03d}", [])
        for _ in range(6):
            text, truth = snippet(rng)
            page.truth |= {(k, fold(v)) for k, v in truth}
            start = rng.randrange(0, len(filler) - 20)
            pad = filler[start:start + rng.randint(0, 4)]
            if text.startswith("\n"):  # an entry head starts its own column
                page.lines.append(text[1:])
            else:
                page.lines.append(pad + text)
        page.lines = [to_simplified.map_text(line) if i % 2 else line for line in page.lines]
        pages.append(page)
    return pages


def noisy(page: Page, rng: random.Random, filler: str) -> Page:
    """Return the page with NOISE of its characters misread (a lookalike or any character), dropped or doubled.

    Each character gets a confidence as PP-OCR gave them on the real leaves: a misread or
    doubled one one of MISREAD_WC, a right one 0.99, or (DOUBTED_GOOD of them) one of
    MISREAD_WC too. The truth stays the clean page's: what noise destroys is missed, what
    it changes is wrong.
    """
    lines, confidences = [], []
    for line in page.lines:
        out = []
        for ch in line:
            out += _corrupt(ch, rng, filler)
        lines.append("".join(ch for ch, _ in out))
        confidences += [c for _, c in out]
    return Page(page.name + "n", lines, page.truth, confidences)


def _corrupt(ch: str, rng: random.Random, filler: str) -> list[tuple[str, float]]:
    doubtful = rng.choice(MISREAD_WC)
    if rng.random() >= NOISE:
        return [(ch, doubtful if rng.random() < DOUBTED_GOOD else 0.99)]
    roll = rng.random()
    if roll < 0.5:
        return [(LOOKALIKES.get(ch) or rng.choice(filler), doubtful)]
    return [] if roll < 0.75 else [(ch, 0.99), (ch, doubtful)]


def keys(found: list[Entity]) -> set[Key]:
    """The distinct (kind, value) pairs of the accepted entities, provenances counted as their parts too."""
    out: set[Key] = set()
    for e in found:
        if not e.accepted:
            continue
        if e.kind is Kind.DATE:
            out.add(("date", str(e.value["year"])))
        else:
            out.add((e.kind.value, fold(str(e.value.get(e.kind.value, e.value.get("name", e.text))))))
        if e.kind is Kind.PROVENANCE:
            out |= {(k, fold(e.value[v])) for k, v in (("place", "place"), ("office", "office"), ("person", "person"))
                    if v in e.value}
    return out


class Tally:
    def __init__(self) -> None:
        self.counts: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0, 0])  # tp, found, true, held

    def add(self, truth: set[Key], found: list[Entity]) -> None:
        got = keys(found)
        for kind in KINDS:
            t = {k for k in truth if k[0] == kind}
            f = {k for k in got if k[0] == kind}
            c = self.counts[kind]
            c[0] += len(t & f)
            c[1] += len(f)
            c[2] += len(t)
            c[3] += sum(1 for e in found if e.kind.value == kind and not e.accepted)

    def report(self, title: str) -> None:
        print(f"\n{title}\n{'kind':<11} {'precision':>9} {'recall':>7} {'found':>6} {'true':>5} {'held':>5}")
        for kind in KINDS:
            tp, found, true, held = self.counts[kind]
            p = f"{tp / found:.3f}" if found else "-"
            r = f"{tp / true:.3f}" if true else "-"
            print(f"{kind:<11} {p:>9} {r:>7} {found:>6} {true:>5} {held:>5}")


def run_text(pages: list[Page], *, confidences: bool = True) -> Tally:
    """Find the entities in each page's text (with its made-up glyph confidences unless ``confidences`` is False)."""
    tally = Tally()
    context = BookContext(period=PERIOD)
    for page in pages:
        weights = page.confidences if confidences else None
        tally.add(page.truth, entities.find_entities(page_text_from_lines(page.name, page.lines), context, weights))
    return tally


def ocr_entities(image: np.ndarray, name: str, context: BookContext, engine: ocr.Engine, folder: Path) -> list[Entity]:
    """OCR a vertical page as ingest does (deskewed access image), write its ALTO, and find the entities in it."""
    page = ocr.recognise_page(access_image(image), lang="chi_tra_vert", vertical=True, engine=engine, script=Script.TRADITIONAL,
                              page=name, timeout=600, layout=ocr.PageLayout.COLUMNS)
    alto = folder / f"{name}.xml"
    ocr.to_alto(page, image_file=f"{name}.png", now=datetime.now(UTC)).write(
        str(alto), encoding="utf-8", xml_declaration=True)
    return entities.entities_of_alto(alto, name, context)


def access_image(image: np.ndarray) -> np.ndarray:
    """Return the deskewed image the Derivative task makes and the Ocr task reads."""
    result = deskew(pyvips.Image.new_from_array(image, interpretation="srgb"), estimate_skew(image))
    return np.ndarray(buffer=result.image.write_to_memory(), dtype=np.uint8,
                      shape=(result.image.height, result.image.width, result.image.bands))


def run_ocr(pages: list[Page], engine: ocr.Engine, folder: Path) -> Tally:
    tally = Tally()
    context = BookContext(period=PERIOD)
    for n, page in enumerate(pages):
        rendered = render_vertical_page("\n".join(page.lines), seed=500 + n, blur=0.6, noise=0.015,
                                        style=("ming", "kai")[n % 2], chars_per_column=24, columns=8)
        drawn = fold(rendered.text.replace("\n", ""))
        truth = {k for k in page.truth if k[0] == "date" or k[1] in drawn}
        tally.add(truth, ocr_entities(np.asarray(rendered.image), page.name, context, engine, folder))
    return tally


def run_real(folder: Path, engine: ocr.Engine, work: Path) -> Tally:
    data = json.loads(TRUTH.read_text(encoding="utf-8"))
    context = BookContext(period=(data["period"][0], data["period"][1]))
    tally = Tally()
    for file, tags in data["pages"].items():
        image_file = folder / file
        if not image_file.is_file():
            print(f"skipping {file}: {image_file} not found", file=sys.stderr)
            continue
        truth = {(t["kind"], str(t["value"]) if t["kind"] == "date" and t["value"] else fold(str(t["value"] or t["text"])))
                 for t in tags}
        found = ocr_entities(np.asarray(Image.open(image_file).convert("RGB")), image_file.stem, context, engine, work)
        for e in found:
            print(f"  {file} {'+' if e.accepted else '?'} {e.kind.value:<10} {e.text} {dict(e.value)} {e.confidence:.2f} "
                  f"{e.rule} {'; '.join(e.notes)}")
        tally.add(truth, found)
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--text-pages", type=int, default=60)
    parser.add_argument("--ocr-pages", type=int, default=12)
    parser.add_argument("--real-dir", type=Path, default=DEFAULT_REAL)
    args = parser.parse_args()
    pages = generated_pages(max(args.text_pages, args.ocr_pages))
    run_text(pages[:args.text_pages]).report(f"generated text ({args.text_pages} pages, half simplified)")
    rng, filler = random.Random(47), sample_text_for_page(9, 2000)
    noisy_pages = [noisy(p, rng, filler) for p in pages[:args.text_pages]]
    run_text(noisy_pages, confidences=False).report(
        f"generated text, noisy ({NOISE:.0%} of characters misread, dropped or doubled), rules alone")
    run_text(noisy_pages).report("the same noisy text, with glyph confidences as PP-OCR gave them on the real leaves")
    engine = ocr.make_engine(ocr.OcrEngine.PPOCR, "chi_tra_vert")
    with tempfile.TemporaryDirectory() as work:
        if args.ocr_pages:
            run_ocr(pages[:args.ocr_pages], engine, Path(work)).report(
                f"generated through OCR ({args.ocr_pages} rendered pages, PP-OCRv6)")
        run_real(args.real_dir, engine, Path(work)).report("real woodblock leaves (PP-OCRv6, hand tags)")


if __name__ == "__main__":
    main()
