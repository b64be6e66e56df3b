"""Keep a long-running server's memory flat: glibc's per-thread heaps and its unreturned free memory.

Renders run on worker threads and libvips allocates its pixel buffers with malloc in
whichever arena that thread was given; glibc gives up to eight arenas per core and
returns freed memory to the system only from the top of each. The soak test
(tests/soak) showed the server's RSS rising about 0.3 MB/s under renders that miss the
caches, with no Python object growing; with two arenas and a periodic ``malloc_trim`` it
levels off. Elsewhere than glibc (musl, macOS) both calls are skipped.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # from glibc's malloc.h
ARENAS = 2  # one for the event loop, one shared by the render threads
TRIM_EVERY = 200  # renders between two malloc_trim calls (a trim costs about a millisecond)


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_LIBC = _libc()


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas for threads started from now on; True when it took effect."""
    if _LIBC is None:
        return False
    done = bool(_LIBC.mallopt(M_ARENA_MAX, arenas))
    log.debug("malloc arenas capped at %d: %s", arenas, done)
    return done


class Trimmer:
    """Call ``malloc_trim(0)`` once every ``every`` calls of :meth:`tick` (from any thread)."""

    def __init__(self, every: int = TRIM_EVERY) -> None:
        self.every = every
        self._count = 0
        self._lock = threading.Lock()

    def tick(self) -> bool:
        """Count one render; trim and return True on every ``every``-th."""
        with self._lock:
            self._count += 1
            due = self._count % self.every == 0
        if due and _LIBC is not None:
            _LIBC.malloc_trim(0)
        return due and _LIBC is not None
