"""Uitstroom: wrong-bed time (verkeerde-bed-dagen) and long stays on wards.

`wrong_bed_days_24h` is exact over `(now - 24h, now]`: the overlap with that interval of
every discharge-ready interval, open (ready and still in the bed) or closed (discharged,
transferred or no longer ready) meanwhile. Closed intervals stay with their encounter,
which is kept 24h after its last event, so every interval that can still overlap the
window is known.
"""

from __future__ import annotations

from typing import Iterable

DAY_MS = 86_400_000


def overlap_ms(start: int, end: int, lo: int, hi: int) -> int:
    """Length of [start, end) ∩ (lo, hi] in ms (0 if disjoint)."""
    return max(0, min(end, hi) - max(start, lo))


def wrong_bed_ms_24h(now: int, open_starts: Iterable[int], closed: Iterable[tuple[int, int]]) -> int:
    lo = now - DAY_MS
    total = 0
    for s in open_starts:
        total += overlap_ms(s, now, lo, now)
    for s, e in closed:
        total += overlap_ms(s, e, lo, now)
    return total


def wrong_bed_ms_open(now: int, open_starts: Iterable[int]) -> int:
    return sum(max(0, now - s) for s in open_starts)
