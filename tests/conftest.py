"""Shared fixtures: a small generated batch and a private Shuying home per test."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pipeline.sample_book import write_sample_batch
from storage_config.settings import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings(environ={}, home=str(home))


@pytest.fixture
def small_batch(tmp_path: Path) -> Path:
    """A three-page generated book (cover + two text pages), small enough to ingest in seconds."""
    return write_sample_batch(tmp_path / "batch", pages=3, width=900, height=1300, item_id="test-book")


def tree_digests(folder: Path) -> dict[str, tuple[str, int]]:
    """SHA-256 and mtime of every file below ``folder``: to prove masters are untouched."""
    return {p.relative_to(folder).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}
