"""Checks on a batch's masters before anything is made from them."""

from __future__ import annotations

from pipeline.batch import Batch
from pipeline.checksums import Digests
from pipeline.errors import ImageError, Problem
from pipeline.images import probe_image, verify_decodes


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


def duplicate_problems(batch: Batch, digests: dict[str, Digests]) -> list[Problem]:
    """Return a Problem for every master whose bytes repeat an earlier page's."""
    first_seen: dict[str, str] = {}
    problems = []
    for page in batch.pages:
        digest = digests[page.page_id].sha512
        if digest in first_seen:
            problems.append(Problem(page.file, f"identical bytes to {first_seen[digest]!r}",
                                    hint="the same capture is in the batch twice; remove one or reshoot"))
        else:
            first_seen[digest] = page.file
    return problems
