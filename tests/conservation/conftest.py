"""Fixtures for conservation records: one book ingested once per session, copied into each test's home."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.sample_book import write_sample_batch
from storage_config.settings import Settings, load_settings
from tests.conservation.helpers import ITEM, storage_toml
from workflows.run import run_ingest


@pytest.fixture(scope="session")
def ingested_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with ITEM ingested (2 pages) and stored in a primary and a replica location."""
    root = tmp_path_factory.mktemp("conservation-template")
    home = root / "home"
    home.mkdir()
    storage_toml(home / "storage.toml")
    settings = load_settings(environ={}, home=str(home), storage_config=str(home / "storage.toml"))
    batch = write_sample_batch(root / "batch", pages=2, width=600, height=900, item_id=ITEM)
    result = run_ingest(batch, settings, workers=1)
    assert result.ok, result.failures
    return home


@pytest.fixture
def archive_settings(ingested_home: Path, tmp_path: Path) -> Settings:
    """Settings of a private copy of the ingested home."""
    home = tmp_path / "home"
    shutil.copytree(ingested_home, home)
    return load_settings(environ={}, home=str(home), storage_config=str(home / "storage.toml"))
