"""OCR accuracy and speed: raw Tesseract, raw PP-OCRv6 and our pipeline with each engine, in one run.

    python benchmarks/ocr.py [--vertical 16] [--horizontal 6] [--periodical 8] [--width 1400] [--height 2000]
                             [--real-dir ../shared/samples/woodblock] [--v4-wheel rapidocr_onnxruntime-1.4.4-….whl]
                             [--ablation N]

Pages: generated vertical woodblock-style leaves (Ming and Kai fonts, half with a red
seal over the text, aged paper, mild blur, noise and skew), generated horizontal
Republican-era pages (half traditional, half simplified), generated Republican-era
periodical pages (tiers with and without a rule, headlines, adverts, mixed directions;
when pipeline.synthetic_periodical is present) and the real woodblock scans in
--real-dir with our own transcriptions in benchmarks/ocr_ground_truth/.

Two error figures per subset, summed over its pages:
- CER: Levenshtein distance over the length of the truth, on NFC text with whitespace
  removed and a few variant forms folded (VARIANTS). Reading order counts.
- order-free: the same count with order ignored, max(len truth, len found) minus the
  characters the two share as multisets, over the length of the truth: what was read,
  wherever it was put. CER minus this is roughly what reading order costs.
Seconds per page are wall time and CPU time (this process, its threads, and the
Tesseract processes it ran). Raw engines read the page as captured; our pipeline reads
the deskewed page, as the ingest Ocr task reads the access derivative.

Systems: "raw tess psm3" (`tesseract --psm 3`, the page's model); "raw PP-OCRv6"
(`rapidocr.RapidOCR()` as a new user calls it, its boxes sorted right to left for
vertical pages and top to bottom for horizontal ones); "ours, Tesseract" and
"ours, PP-OCRv6" (pipeline.ocr with the layout ingest uses for the page's material),
and with --v4-wheel "ours, PP-OCRv4": the same pipeline on the PP-OCRv4 models of the
rapidocr-onnxruntime wheel given (`pip download --no-deps rapidocr-onnxruntime==1.4.4`).
Use --vertical 4 --horizontal 2 --periodical 2 for a quick run.
"""

from __future__ import annotations

import argparse
import collections
import resource
import sys
import tempfile
import time
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytesseract
import pyvips
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline import ocr
from pipeline.deskew import deskew, estimate_skew
from pipeline.ocr.script import Script, ScriptMapper
from pipeline.synthetic import render_horizontal_page, render_vertical_page, sample_text_for_page

GROUND_TRUTH = REPO / "benchmarks" / "ocr_ground_truth"
UNMAPPED, MAPPED = "ours, PP-OCRv6, no mapping", "ours, PP-OCRv6"
V4 = "ours, PP-OCRv4"
DEFAULT_REAL = REPO.parent / "shared" / "samples" / "woodblock"
# Variant forms counted as the same character, both ways (traditional variants only:
# a simplified form in place of a traditional one stays an error).
VARIANTS = str.maketrans("爲卽旣敎眞衆葢尙戸户説録黒", "為即既教真眾蓋尚戶戶說錄黑")


@dataclass(frozen=True)
class Page:
    name: str
    subsets: tuple[str, ...]
    image: np.ndarray  # RGB, as captured
    truth: str
    vertical: bool
    lang: str  # Tesseract -l for raw runs
    script: Script
    layout: ocr.PageLayout = ocr.PageLayout.COLUMNS  # as ingest lays out the page's material
    access: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3), np.uint8))  # deskewed
    deskew_seconds: float = 0.0


@dataclass
class Tally:
    errors: int = 0
    unordered: int = 0  # errors with reading order ignored
    length: int = 0
    seconds: float = 0.0
    cpu: float = 0.0  # CPU seconds of this process and its children (Tesseract runs)
    pages: int = 0
    confidence: float = 0.0
    flagged: int = 0  # pages our review rule flags "needs OCR review"

    def add(self, errors: tuple[int, int], length: int, seconds: float, confidence: float | None = None,
            cpu: float = 0.0) -> None:
        self.errors, self.length, self.seconds, self.pages = (
            self.errors + errors[0], self.length + length, self.seconds + seconds, self.pages + 1)
        self.unordered += errors[1]
        self.cpu += cpu
        if confidence is not None:
            self.confidence += confidence
            self.flagged += confidence < ocr.REVIEW_THRESHOLD

    def __str__(self) -> str:
        pages, length = max(1, self.pages), max(1, self.length)
        return (f"{self.errors / length:.3f}/{self.unordered / length:.3f} "
                f"{self.seconds / pages:5.2f}s {self.cpu / pages:5.2f}c")

    def review(self) -> str:
        return f"{self.confidence / max(1, self.pages):.2f} ({self.flagged}/{self.pages})"


@dataclass
class MappingCount:
    changed: int = 0
    harmed: int = 0  # a correct character changed into a wrong one
    fixed: int = 0  # a wrong character changed into the right one
    by_char: dict[str, int] = field(default_factory=dict)


def normalise(text: str) -> str:
    return "".join(unicodedata.normalize("NFC", text).split()).translate(VARIANTS)


def levenshtein(truth: str, found: str) -> int:
    row = list(range(len(found) + 1))
    for i, t in enumerate(truth, 1):
        diagonal, row[0] = row[0], i
        for j, f in enumerate(found, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (t != f))
    return row[-1]


def order_free_errors(truth: str, found: str) -> int:
    """Return the edits needed if order did not matter: unmatched characters, paired as substitutions."""
    shared = sum((collections.Counter(truth) & collections.Counter(found)).values())
    return max(len(truth), len(found)) - shared


def errors_of(truth: str, found: str) -> tuple[int, int]:
    return levenshtein(truth, found), order_free_errors(truth, found)


def aligned_pairs(truth: str, found: str) -> dict[int, str]:
    """Map each position of ``found`` to the truth character it was aligned with as a match or substitution."""
    n, m = len(truth), len(found)
    cost = np.zeros((n + 1, m + 1), dtype=np.int32)
    cost[:, 0], cost[0, :] = np.arange(n + 1), np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i, j] = min(cost[i - 1, j] + 1, cost[i, j - 1] + 1, cost[i - 1, j - 1] + (truth[i - 1] != found[j - 1]))
    pairs, i, j = {}, n, m
    while i > 0 and j > 0:
        if cost[i, j] == cost[i - 1, j - 1] + (truth[i - 1] != found[j - 1]):
            pairs[j - 1] = truth[i - 1]
            i, j = i - 1, j - 1
        elif cost[i, j] == cost[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    return pairs


# --- pages -----------------------------------------------------------------------------------


def generated_vertical(count: int, width: int, height: int) -> list[Page]:
    rng = np.random.default_rng(2024)
    pages = []
    for i in range(count):
        style, seal = ("ming", "kai")[i % 2], (i // 2) % 2 == 0
        rendered = render_vertical_page(
            sample_text_for_page(i, 200), width=width, height=height, style=style, seal=seal, seed=100 + i,
            skew_deg=float(rng.uniform(-1.5, 1.5)), blur=float(rng.uniform(0.4, 1.0)),
            noise=float(rng.uniform(0.01, 0.03)))
        subsets = ("vertical", style, "seal" if seal else "no seal", f"{style}, {'seal' if seal else 'no seal'}")
        pages.append(Page(f"v{i:02d}", subsets, np.asarray(rendered.image), rendered.text, True,
                          "chi_tra_vert", Script.TRADITIONAL))
    return pages


def generated_horizontal(count: int, width: int, height: int) -> list[Page]:
    to_simplified = ScriptMapper(Script.SIMPLIFIED, guarded=False)
    rng = np.random.default_rng(1912)
    pages = []
    for i in range(count):
        simplified = i % 2 == 1
        text = sample_text_for_page(40 + i, 24 * 28)
        text = to_simplified.map_text(text) if simplified else text
        rendered = render_horizontal_page(
            text, width=width, height=height, style="ming", seed=200 + i,
            skew_deg=float(rng.uniform(-1.0, 1.0)), blur=float(rng.uniform(0.3, 0.8)),
            noise=float(rng.uniform(0.01, 0.02)))
        lang, script = ("chi_sim", Script.SIMPLIFIED) if simplified else ("chi_tra", Script.TRADITIONAL)
        pages.append(Page(f"h{i:02d}", ("horizontal", f"horizontal {lang}"), np.asarray(rendered.image),
                          rendered.text, False, lang, script, ocr.PageLayout.BLOCKS))
    return pages


def generated_periodical(count: int, width: int, height: int) -> list[Page]:
    """Republican-era periodical pages from pipeline.synthetic_periodical, if it is there."""
    try:
        from pipeline.synthetic_periodical import benchmark_pages
    except ImportError:
        if count:
            print("skipping periodical pages: pipeline.synthetic_periodical not found", file=sys.stderr)
        return []
    pages = []
    for name, subsets, rendered, vertical in benchmark_pages(count, width=width, height=height):
        lang = "chi_tra_vert" if vertical else "chi_tra"
        pages.append(Page(name, ("periodical", *subsets), np.asarray(rendered.image), rendered.text, vertical,
                          lang, Script.TRADITIONAL, ocr.PageLayout.BLOCKS))
    return pages


def real_pages(folder: Path) -> list[Page]:
    pages = []
    for truth_file in sorted(GROUND_TRUTH.glob("woodblock-*.txt")):
        image_file = folder / (truth_file.stem.removeprefix("woodblock-") + ".png")
        if not image_file.is_file():
            print(f"skipping {truth_file.name}: {image_file} not found", file=sys.stderr)
            continue
        image = np.asarray(Image.open(image_file).convert("RGB"))
        pages.append(Page(image_file.stem, ("real woodblock", image_file.stem), image,
                          truth_file.read_text(encoding="utf-8"),
                          True, "chi_tra_vert", Script.TRADITIONAL))
    return pages


# --- systems ---------------------------------------------------------------------------------


Result = str | tuple[str, float] | None  # text, or text and mean confidence; None: not run on this page


def raw_tesseract(psm: int, *, vertical_only: bool = False) -> Callable[[Page], Result]:
    def run(page: Page) -> Result:
        if vertical_only and not page.vertical:
            return None
        return pytesseract.image_to_string(Image.fromarray(page.image), lang=page.lang, config=f"--psm {psm}")
    return run


def raw_ppocr() -> Callable[[Page], Result]:
    """RapidOCR 3 with its defaults (PP-OCRv6), lines sorted as a reader would take them."""
    from rapidocr import RapidOCR
    engine = RapidOCR(params={"Global.log_level": "error"})

    def run(page: Page) -> str:
        result = engine(page.image[:, :, ::-1])  # RapidOCR wants BGR, as cv2.imread gives
        if result.boxes is None or result.txts is None:
            return ""
        found = [(np.asarray(box), text) for box, text in zip(result.boxes, result.txts)]
        if page.vertical:
            found.sort(key=lambda f: (-f[0][:, 0].max(), f[0][:, 1].min()))
        else:
            found.sort(key=lambda f: (f[0][:, 1].min(), f[0][:, 0].min()))
        return "\n".join(text for _, text in found)
    return run


def v4_models(wheel: Path, folder: Path) -> tuple[Path, Path]:
    """Extract the PP-OCRv4 detector and recogniser from a rapidocr-onnxruntime wheel into ``folder``."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(("_det_infer.onnx", "_rec_infer.onnx"))]
        for name in names:
            (folder / Path(name).name).write_bytes(archive.read(name))
    det = next(folder.glob("*_det_infer.onnx"))
    return det, next(folder.glob("*_rec_infer.onnx"))


def pipeline(engine: ocr.OcrEngine, preprocessing: ocr.Preprocessing, mapped: bool = True,
             models: tuple[Path, Path] | None = None) -> Callable[[Page], Result]:
    """Our pipeline on the page's access image; ``mapped=False`` leaves out the script mapping.

    ``models`` gives other PP-OCR model files (PP-OCRv4) to the same code path.
    """
    engines: dict[str, ocr.Engine] = {}

    def run(page: Page) -> Result:
        lang = page.lang if not page.vertical else "chi_tra_vert"
        if models:
            from pipeline.ocr.ppocr import PpOcrEngine
            reader = engines.setdefault("v4", PpOcrEngine(models=models))
        else:
            reader = engines.setdefault(lang, ocr.make_engine(engine, lang))
        script = page.script if mapped and engine is ocr.OcrEngine.PPOCR else Script.OTHER
        result = ocr.recognise_page(page.access, lang=lang, vertical=page.vertical, engine=reader,
                                    preprocessing=preprocessing, script=script, page=page.name, timeout=600,
                                    layout=page.layout)
        return ocr.to_text(result), result.mean_confidence
    return run


def with_access_image(page: Page) -> Page:
    """Return ``page`` with its deskewed access image, as the Derivative task makes it, and the time taken."""
    start = time.perf_counter()
    vips = pyvips.Image.new_from_array(page.image, interpretation="srgb")
    result = deskew(vips, estimate_skew(page.image))
    access = np.ndarray(buffer=result.image.write_to_memory(), dtype=np.uint8,
                        shape=(result.image.height, result.image.width, result.image.bands))
    return replace(page, access=access, deskew_seconds=time.perf_counter() - start)


# --- the run ---------------------------------------------------------------------------------


def measure(systems: dict[str, Callable[[Page], Result]], pages: list[Page]) -> tuple[dict, dict[str, MappingCount]]:
    tallies: dict[tuple[str, str], Tally] = {}
    mapping = {"guarded (ours)": MappingCount(), "every OpenCC change": MappingCount()}
    for page in pages:
        truth = normalise(page.truth)
        for subset in page.subsets:
            tallies.setdefault((subset, "deskew"), Tally()).add((0, 0), 0, page.deskew_seconds)
        for name, system in systems.items():
            start, cpu_start = time.perf_counter(), cpu_seconds()
            result = system(page)
            seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
            if result is None:
                continue
            found, confidence = result if isinstance(result, tuple) else (result, None)
            errors = errors_of(truth, normalise(found))
            for subset in page.subsets:
                tallies.setdefault((subset, name), Tally()).add(errors, len(truth), seconds, confidence, cpu)
            if name == UNMAPPED and page.script is Script.TRADITIONAL:
                count_mapping(truth, normalise(found), page.script, mapping)
            if name == UNMAPPED:
                # The mapping is a pure step after recognition: map the same reading
                # rather than recognising the page a second time.
                start, cpu_start = time.perf_counter(), cpu_seconds()
                mapped = ScriptMapper(page.script).map_text(found)
                seconds, cpu = seconds + time.perf_counter() - start, cpu + cpu_seconds() - cpu_start
                for subset in page.subsets:
                    tallies.setdefault((subset, MAPPED), Tally()).add(
                        errors_of(truth, normalise(mapped)), len(truth), seconds, confidence, cpu)
        print(f"  {page.name} done", file=sys.stderr, flush=True)
    return tallies, mapping


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its finished children (Tesseract)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def count_mapping(truth: str, found: str, script: Script, counts: dict[str, MappingCount]) -> None:
    pairs = aligned_pairs(truth, found)
    for count, guarded in zip(counts.values(), (True, False)):
        mapper = ScriptMapper(script, guarded=guarded)
        for j, ch in enumerate(found):
            new = normalise(mapper.map_char(ch)) or ch
            if new == ch:
                continue
            count.changed += 1
            count.by_char[f"{ch}→{new}"] = count.by_char.get(f"{ch}→{new}", 0) + 1
            count.harmed += pairs.get(j) == ch
            count.fixed += pairs.get(j) == new


def report(title: str, tallies: dict, systems: list[str], subsets: list[str], *, review: bool = False) -> None:
    what = ("mean glyph confidence (pages flagged for review)" if review
            else "CER/order-free error, wall s/page, CPU s/page (c)")
    print(f"\n{title}\n{what} per subset ({', '.join(systems)})")
    width = max(*(len(s) for s in systems), 0 if review else 26) + 2
    print(f"{'subset':24} {'pages':>5}  " + "".join(f"{s:>{width}}" for s in systems))
    for subset in subsets:
        row = [tallies.get((subset, s)) for s in systems]
        pages = next((t.pages for t in row if t), 0)
        cells = [(t.review() if review else str(t)) if t else "-" for t in row]
        if pages:
            print(f"{subset:24} {pages:5d}  " + "".join(f"{c:>{width}}" for c in cells))


def per_page(systems: list[str], pages: list[Page], tallies_by_page: dict) -> None:
    print(f"\nReal pages, one by one (CER/order-free; {', '.join(systems)})")
    for page in pages:
        cells = [str(tallies_by_page.get((page.name, s), "-")).split(" ")[0] for s in systems]
        print(f"{page.name:24} " + "".join(f"{c:>{max(len(s) for s in systems) + 2}}" for c in cells))


def dictionary_coverage(pages: list[Page]) -> None:
    """How many of the truth's distinct characters PP-OCRv6's recogniser can output at all."""
    from pipeline.ocr.ppocr import PpOcrEngine
    known = PpOcrEngine().characters
    for label, group in (("real woodblock", [p for p in pages if "real woodblock" in p.subsets]),
                         ("generated", [p for p in pages if "real woodblock" not in p.subsets])):
        chars = {c for p in group for c in normalise(p.truth)}
        missing = sorted(c for c in chars if c not in known)
        print(f"\nPP-OCRv6 dictionary ({len(known)} characters) covers {len(chars) - len(missing)} of the "
              f"{len(chars)} distinct characters of the {label} truth; missing: {''.join(missing) or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vertical", type=int, default=16, help="generated vertical pages (default 16)")
    parser.add_argument("--horizontal", type=int, default=6, help="generated horizontal pages (default 6)")
    parser.add_argument("--periodical", type=int, default=8, help="generated periodical pages (default 8)")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=2000)
    parser.add_argument("--real-dir", type=Path, default=DEFAULT_REAL)
    parser.add_argument("--v4-wheel", type=Path, help="a rapidocr-onnxruntime 1.4.4 wheel, to run its PP-OCRv4 too")
    parser.add_argument("--ablation", type=int, default=0, metavar="N",
                        help="also switch each preprocessing step, on the first N vertical pages and the real ones")
    args = parser.parse_args()
    groups = (generated_vertical(args.vertical, args.width, args.height),
              generated_horizontal(args.horizontal, args.width, args.height),
              generated_periodical(args.periodical, args.width, args.height),
              real_pages(args.real_dir))
    vertical, horizontal, periodical, real = ([with_access_image(p) for p in group] for group in groups)
    full = ocr.Preprocessing()
    systems = {
        "raw tess psm3": raw_tesseract(3),
        "raw PP-OCRv6": raw_ppocr(),
        "ours, Tesseract": pipeline(ocr.OcrEngine.TESSERACT, full),
        UNMAPPED: pipeline(ocr.OcrEngine.PPOCR, full, mapped=False),
    }
    with tempfile.TemporaryDirectory() as scratch:
        if args.v4_wheel:
            systems[V4] = pipeline(ocr.OcrEngine.PPOCR, full, models=v4_models(args.v4_wheel, Path(scratch)))
        pages = vertical + horizontal + periodical + real
        tallies, mapping = measure(systems, pages)
    names = [n for n in [*systems, MAPPED] if n != UNMAPPED]
    subsets = ["vertical", "ming", "kai", "seal", "no seal", "horizontal", "horizontal chi_tra",
               "horizontal chi_sim", "periodical", *sorted({s for p in periodical for s in p.subsets[1:]}),
               "real woodblock"]
    report("Generated and real pages", tallies, names, subsets)
    per_page(names, real, tallies)
    report("Deskew (the Derivative task, before OCR)", tallies, ["deskew"], subsets)
    report(f"Review signal (threshold {ocr.REVIEW_THRESHOLD})", tallies, ["ours, Tesseract", MAPPED], subsets,
           review=True)
    for label, count in mapping.items():
        top = ", ".join(f"{k} {v}" for k, v in sorted(count.by_char.items(), key=lambda kv: -kv[1])[:12])
        print(f"\nOpenCC s2t mapping, {label}: {count.changed} characters changed, {count.fixed} wrong→right, "
              f"{count.harmed} right→wrong. Most frequent: {top}")
    dictionary_coverage(pages)
    if args.ablation:
        ablation(vertical[: args.ablation] + real)


def ablation(pages: list[Page]) -> None:
    full = ocr.Preprocessing()
    variants = {
        "all steps": full,
        "no seal suppression": replace(full, seal_suppression=False),
        "Sauvola binarisation": replace(full, binarisation=ocr.Binarisation.SAUVOLA),
        "binary page to engine": replace(full, binary_to_engine=True),
        "no rule removal": replace(full, remove_rules=False),
        "no column segmentation": replace(full, segment_columns=False),
        "no note splitting": replace(full, split_notes=False),
    }
    for engine in (ocr.OcrEngine.TESSERACT, ocr.OcrEngine.PPOCR):
        systems = {name: pipeline(engine, p) for name, p in variants.items()}
        tallies, _ = measure(systems, pages)
        report(f"Ablation, {engine.value}", tallies, list(systems),
               ["vertical", "seal", "no seal", "real woodblock"])


if __name__ == "__main__":
    main()
