"""The garbage collector's setting for processes that hold regions' state."""

from __future__ import annotations

import gc

from streams import collector


def test_relax_makes_passes_rare_and_zero_keeps_pythons_defaults() -> None:
    before = gc.get_threshold()
    try:
        collector.relax(0)
        assert gc.get_threshold() == before
        collector.relax(50_000)
        assert gc.get_threshold()[0] == 50_000
        assert gc.get_freeze_count() > 0  # what start-up made is left out of the passes
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_trim_gives_free_heap_back_without_touching_live_objects() -> None:
    kept = [bytes(1000) for _ in range(1000)]
    freed = [bytearray(4096) for _ in range(20_000)]  # ~80 MB, then freed
    del freed
    collector.trim()  # glibc: malloc_trim(0); another C library: nothing
    assert all(len(b) == 1000 for b in kept)
