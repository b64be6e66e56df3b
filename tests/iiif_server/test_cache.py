"""The derivative cache: atomic entries, misses, eviction by size, and left-over temp files."""

from __future__ import annotations

import os
import time
from pathlib import Path

from iiif_server.cache import STALE_TEMP_AGE, DerivativeCache


def test_put_then_get_returns_the_bytes(tmp_path: Path) -> None:
    cache = DerivativeCache(tmp_path / "cache", 10_000)
    key = cache.key("item~p0001", "full/max/0/default.jpg")
    assert cache.get(key) is None
    cache.put(key, b"jpeg bytes")
    assert cache.get(key) == b"jpeg bytes"
    assert cache.stats().entries == 1


def test_keys_differ_for_different_requests_and_are_file_name_safe(tmp_path: Path) -> None:
    a = DerivativeCache.key("a~p0001", "full/max/0/default.jpg")
    b = DerivativeCache.key("a~p0001", "full/max/0/default.png")
    assert a != b
    assert a.isalnum() and len(a) == 64


def test_entries_are_written_whole_with_no_temp_file_left(tmp_path: Path) -> None:
    cache = DerivativeCache(tmp_path / "cache", 10_000)
    cache.put(cache.key("x"), b"a" * 500)
    files = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert len(files) == 1 and not files[0].name.startswith(".tmp-")
    assert files[0].read_bytes() == b"a" * 500


def test_an_empty_entry_left_by_a_crash_is_a_miss(tmp_path: Path) -> None:
    cache = DerivativeCache(tmp_path / "cache", 10_000)
    key = cache.key("y")
    cache.put(key, b"data")
    next(p for p in (tmp_path / "cache").rglob("*") if p.is_file()).write_bytes(b"")
    assert cache.get(key) is None


def test_eviction_keeps_the_cache_under_its_limit_and_drops_the_oldest_first(tmp_path: Path) -> None:
    cache = DerivativeCache(tmp_path / "cache", 10_000)
    keys = [cache.key(str(i)) for i in range(30)]
    for age, key in enumerate(keys):
        cache.put(key, b"x" * 1000)
        entry = tmp_path / "cache" / key[:2] / key[2:]
        if entry.exists():
            stamp = time.time() - 10_000 + age  # later keys are newer
            os.utime(entry, (stamp, stamp))
    cache.evict()
    stats = cache.stats()
    assert stats.bytes <= 10_000
    assert cache.get(keys[-1]) is not None  # the newest survive
    assert cache.get(keys[0]) is None


def test_a_hit_makes_an_old_entry_recent_again(tmp_path: Path) -> None:
    cache = DerivativeCache(tmp_path / "cache", 10_000)
    key = cache.key("hot")
    cache.put(key, b"z" * 10)
    entry = tmp_path / "cache" / key[:2] / key[2:]
    os.utime(entry, (time.time() - 5000, time.time() - 5000))
    assert cache.get(key) == b"z" * 10
    assert time.time() - entry.stat().st_mtime < 60


def test_stale_temp_files_are_swept_and_fresh_ones_kept(tmp_path: Path) -> None:
    cache = DerivativeCache(tmp_path / "cache", 10_000)
    folder = tmp_path / "cache" / "ab"
    folder.mkdir(parents=True)
    stale, fresh = folder / ".tmp-old", folder / ".tmp-new"
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"being written")
    old = time.time() - STALE_TEMP_AGE - 10
    os.utime(stale, (old, old))
    assert cache.stats().entries == 0
    assert not stale.exists() and fresh.exists()


def test_a_zero_limit_turns_caching_off(tmp_path: Path) -> None:
    cache = DerivativeCache(tmp_path / "cache", 0)
    cache.put(cache.key("k"), b"data")
    assert cache.get(cache.key("k")) is None


def test_the_memory_cache_keeps_the_most_recently_used_within_its_size() -> None:
    from iiif_server.cache import MemoryCache

    cache = MemoryCache(8 * 100)
    for name in "abcdefgh":
        cache.put(name, name.encode() * 100)
    assert cache.get("a") == b"a" * 100  # now the most recently used
    cache.put("i", b"i" * 100)
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("i") is not None
    cache.put("huge", b"x" * 101)  # over an eighth of the cache: not kept
    assert cache.get("huge") is None
    assert MemoryCache(0).get("a") is None


def test_recent_values_expire_after_their_time() -> None:
    from iiif_server.cache import Recent

    now = [0.0]
    recent = Recent(1.0, capacity=2, clock=lambda: now[0])
    recent.put("a", 1)
    assert recent.get("a") == 1
    now[0] = 1.5
    assert recent.get("a") is None
    recent.put("b", 2)
    recent.put("c", 3)
    recent.put("d", 4)  # over capacity: everything is looked up again
    assert recent.get("b") is None and recent.get("d") == 4
    off = Recent(0.0)
    off.put("a", 1)
    assert off.get("a") is None


def test_a_cache_turned_off_ignores_entries_left_on_disk(tmp_path: Path) -> None:
    DerivativeCache(tmp_path / "cache", 10_000).put("k" * 64, b"old")
    assert DerivativeCache(tmp_path / "cache", 0).get("k" * 64) is None
