"""The demo: a generated sample book, ready for ``shuying ingest``."""

from __future__ import annotations

from pathlib import Path

from pipeline.atomic import atomic_path
from pipeline.sample_book import write_sample_batch


def make_demo_batch(dest: Path, *, pages: int = 8) -> Path:
    """Generate the sample batch at ``dest`` unless a complete one is already there."""
    if (dest / "batch.json").is_file():
        return dest
    with atomic_path(dest, directory=True) as tmp:
        write_sample_batch(tmp, pages=pages)
    return dest
