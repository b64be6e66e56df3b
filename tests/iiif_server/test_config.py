"""Server options: every option is documented, and the defaults are coherent."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from iiif_server.config import OPTION_HELP, ServerOptions
from iiif_server.geometry import Dimensions


def test_every_option_has_help_text() -> None:
    assert set(OPTION_HELP) == {f.name for f in fields(ServerOptions)}
    assert all(text.endswith(".") for text in OPTION_HELP.values())


def test_cache_root_defaults_to_the_home_folder() -> None:
    assert ServerOptions().cache_root(Path("/data")) == Path("/data/cache/iiif")
    assert ServerOptions(cache_dir=Path("/c")).cache_root(Path("/data")) == Path("/c")


def test_default_limits_shrink_a_huge_scan_to_something_servable() -> None:
    limits = ServerOptions().limits
    largest = limits.largest(Dimensions(60000, 40000), upscale=False)
    assert limits.allows(largest)
    assert largest.width <= 16383  # WebP's largest side
    assert abs(largest.width / largest.height - 1.5) < 0.01


def test_token_and_search_databases_default_to_the_home_folder() -> None:
    assert ServerOptions().auth_path(Path("/data")) == Path("/data/auth.sqlite")
    assert ServerOptions().search_path(Path("/data")) == Path("/data/search.sqlite")
    assert ServerOptions(auth_db=Path("/a.db"), search_db=Path("/s.db")).auth_path(Path("/data")) == Path("/a.db")
