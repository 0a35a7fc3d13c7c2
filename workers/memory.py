"""Keep a long-running render process's resident memory flat (glibc malloc settings).

A render allocates frame-sized arrays (a 1080p batch of 8 is 16 MiB of luma)
again and again, from the decoder's, the keyer's and the encoder's threads.
glibc serves a block above ``M_MMAP_THRESHOLD`` with its own mapping and
unmaps it on free, but raises that threshold (up to 32 MiB) each time such a
block is freed, so later frame buffers come from the heaps of per-thread
arenas, which keep their pages: an actor's RSS grew from 0.9 to 1.4 GiB over
six 1080p chunks, and the 10-minute benchmark render reached 1.55x the RSS of a
10-second one. A fixed threshold (which also turns the adjustment off) keeps
batch buffers mapped and returned; fewer arenas bound what the rest leaves
behind. See mallopt(3).

Measured on six 1080p chunks (actor peak RSS; CPU ms per frame of one chunk):
glibc's defaults 1.36-1.41 GiB, 46; 2 arenas alone 1.41 GiB; a 32 MiB threshold
1.26 GiB; 8 MiB 0.99 GiB, 49; 1 MiB 0.90 GiB, 56 (every 2 MiB frame plane is
then a fresh mapping, its pages faulted in and zeroed each time). 8 MiB keeps
a batch (16 MiB of 1080p luma) out of the arenas and lets single planes reuse them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 8 << 20
ARENAS = 2


def keep_memory_flat() -> bool:
    """Fix glibc's mmap threshold at 8 MiB and cap its arenas at 2 in this process.

    Returns:
        True when both settings took; False where the C library is not glibc
        (nothing is changed there).
    """
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):
        log.info("no mallopt in the C library: malloc settings left as they are")
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_ARENA_MAX, ARENAS))
