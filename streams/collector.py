"""Memory housekeeping of the processes that hold regions' state (the worker, `replay`,
`backtest`, `bench --core`): Python's cyclic garbage collector (`relax`) and, in the
worker, memory the C allocator keeps after bulk work (`trim`) and spreads over its
threads' heaps (`limit_arenas`).

The domain core makes no reference cycles: reference counting frees everything it
drops. Measured on a replay of a national day (194,489 events, `deploy/regions/
nl-synthetic.yaml`): the collector found 996 unreachable objects in all, every one from
start-up, yet with Python's default thresholds (a pass per 700 net allocations) it ran
2,004 passes, and its older-generation passes walk the whole live state, which grows
with the open encounters: 2.6 s of the replay's 18.3 s. With the young generation's
threshold at 50,000 it ran 8 passes (0.17 s) and the replay took 13.8 s.

Cycles that do occur (in the libraries: asyncio, aiokafka, Faust) are still collected,
only in larger steps; what exists at start-up (modules, the registry) is frozen out of
the passes altogether.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

#: Net allocations between passes over the young generation (Python's default: 700).
YOUNG_THRESHOLD = 50_000


def relax(young_threshold: int = YOUNG_THRESHOLD) -> None:
    """Collect once, freeze what start-up left, and make passes rare (0: leave Python's
    defaults)."""
    if young_threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(young_threshold, 20, 100)


def _glibc(function: str) -> object | None:
    """A function of glibc's allocator, or None (another C library: left out)."""
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), function, None) if name else None
    except OSError:
        return None


_TRIM = _glibc("malloc_trim")
_MALLOPT = _glibc("mallopt")
#: mallopt's parameter for the most heaps ("arenas") the allocator may create.
_M_ARENA_MAX = -8


def limit_arenas(arenas: int) -> None:
    """Let glibc's allocator keep at most `arenas` heaps (0: its default, 8 per core).

    glibc gives a thread that meets a locked heap a heap of its own, and each keeps the
    space freed in it. The worker's threads (Faust's consumer thread, RocksDB's, the
    event loop's) made heaps that held ~12 MB more than two heaps do at 100,000 open
    encounters (`spoedstroom bench`, docs/performance.md). The same setting as the
    environment's `MALLOC_ARENA_MAX`; it must come before the threads start."""
    if arenas > 0 and _MALLOPT is not None:
        _MALLOPT(_M_ARENA_MAX, arenas)  # type: ignore[operator]


def trim() -> None:
    """Give the pages the C allocator holds free back to the operating system.

    Applying a backlog allocates and frees large values (records, state entries)
    between the long-lived state, and glibc keeps the freed space inside its heap: at
    100,000 open encounters the worker's heap held 90 MB free next to 61 MB in use.
    `malloc_trim(0)` releases the free pages wherever they are (a few milliseconds);
    the worker calls it on a timer (`Settings.malloc_trim_s`)."""
    if _TRIM is not None:
        _TRIM(0)  # type: ignore[operator]
