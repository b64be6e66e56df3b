"""Checks on a batch's masters before anything is made from them."""

from __future__ import annotations

from pipeline.batch import Batch, Page
from pipeline.checksums import Digests, digest_file
from pipeline.errors import ImageError, OcrError, Problem
from pipeline.images import probe_image, verify_decodes
from pipeline.languages import PPOCR_LANGUAGES, primary_subtags
from pipeline.ocr.tesseract import check_languages_installed, choose_languages


def master_problems(batch: Batch, *, max_pixels: int, decode: bool = True) -> list[Problem]:
    """Probe (and fully decode) every master; return one Problem per unusable file."""
    problems = []
    for page in batch.pages:
        try:
            probe_image(batch.master_path(page), max_pixels=max_pixels)
            if decode:
                verify_decodes(batch.master_path(page))
        except ImageError as exc:
            problems.append(Problem(page.file, exc.problem, hint=exc.hint))
    return problems


def language_problems(batch: Batch) -> list[Problem]:
    """Return a Problem if the batch is in a language only Tesseract reads and its model is not installed.

    Chinese batches are left to OCR: PP-OCR reads them without Tesseract's models, and a page
    that asks for Tesseract fails alone, naming the package, while the rest are read.
    """
    if all(primary_subtags(code)[0] in PPOCR_LANGUAGES for code in batch.languages):
        return []
    try:
        check_languages_installed(choose_languages(batch.languages, batch.script_direction.value))
    except OcrError as exc:
        return [Problem("batch.json", str(exc), field="item.languages")]
    return []


def duplicate_problems(batch: Batch, digests: dict[str, Digests]) -> list[Problem]:
    """Return a Problem for every master whose bytes repeat an earlier page's."""
    return duplicate_problems_among(list(batch.pages), digests)


def duplicate_problems_among(pages: list[Page], digests: dict[str, Digests]) -> list[Problem]:
    """Return a Problem for every page whose bytes repeat an earlier page's."""
    first_seen: dict[str, str] = {}
    problems = []
    for page in pages:
        digest = digests[page.page_id].sha512
        if digest in first_seen:
            problems.append(Problem(page.file, f"identical bytes to {first_seen[digest]!r}",
                                    hint="the same capture is in the batch twice; remove one or reshoot"))
        else:
            first_seen[digest] = page.file
    return problems


def batch_problems(batch: Batch, *, max_pixels: int) -> list[Problem]:
    """Every problem ``shuying validate`` reports: unusable images and byte-identical pages."""
    problems = language_problems(batch) + master_problems(batch, max_pixels=max_pixels)
    broken = {p.file for p in problems}
    readable = [page for page in batch.pages if page.file not in broken]
    digests = {page.page_id: digest_file(batch.master_path(page)) for page in readable}
    return problems + duplicate_problems_among(readable, digests)
