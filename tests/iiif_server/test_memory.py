"""The server's memory guards call glibc for real (the soak test, tests/soak, measures their effect)."""

from __future__ import annotations

import ctypes.util

import pytest

from iiif_server.memory import Trimmer, limit_arenas

GLIBC = ctypes.util.find_library("c") is not None


@pytest.mark.skipif(not GLIBC, reason="not glibc")
def test_the_arena_cap_is_accepted_by_glibc() -> None:
    assert limit_arenas(2) is True


@pytest.mark.skipif(not GLIBC, reason="not glibc")
def test_malloc_trim_runs_once_every_n_renders_from_many_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    trimmer = Trimmer(every=10)
    with ThreadPoolExecutor(4) as pool:
        trimmed = list(pool.map(lambda _: trimmer.tick(), range(100)))
    assert sum(trimmed) == 10
