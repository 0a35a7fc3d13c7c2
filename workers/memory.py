"""Keep a long-running render process's resident memory flat (glibc malloc).

A render allocates frame-sized arrays (a 1080p batch of 8 is 16 MiB of luma)
again and again, from the decoder's, the keyer's and the encoder's threads.
glibc raises its mmap threshold (up to 32 MiB) each time a mapped block is
freed, so later frame buffers come from the heaps of per-thread arenas, and an
arena keeps the pages of what was freed inside it: an actor's RSS grew from
0.9 to 1.4 GiB over six 1080p chunks, and the 10-minute benchmark render
reached 1.55x the RSS of a 10-second one.

After each chunk the actor hands the free pages back (``malloc_trim``, which
since glibc 2.8 releases whole free pages inside every arena, not only the top
of the main heap), and two arenas bound how many heaps there are. Within a
chunk nothing changes, so buffers are reused at full speed. Fixing the mmap
threshold instead costs CPU: at 1 MiB every 2 MiB frame plane becomes a fresh
mapping faulted in and zeroed (56 against 46 CPU ms per 1080p frame); at
8 MiB, 49 ms and the benchmark render fell from 0.79x to 0.71x the transcode.
See mallopt(3) and malloc_trim(3).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # <malloc.h>
ARENAS = 2


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc only
    except (OSError, AttributeError, TypeError):
        return None
    return libc


_LIBC = _libc()


def limit_arenas() -> bool:
    """Cap glibc's malloc arenas at 2 in this process (call it before the threads start).

    Returns:
        True when it took; False where the C library is not glibc (nothing changes).
    """
    if _LIBC is None:
        log.info("not glibc: malloc arenas left as they are")
        return False
    return bool(_LIBC.mallopt(M_ARENA_MAX, ARENAS))


def release_free_memory() -> bool:
    """Return malloc's free pages to the system (``malloc_trim(0)``); a few milliseconds.

    Returns:
        True when memory was released; False when none could be, or not glibc.
    """
    return _LIBC is not None and bool(_LIBC.malloc_trim(0))
