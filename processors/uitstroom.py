"""Uitstroom: wrong-bed time (verkeerde-bed-dagen) and long stays on wards.

`wrong_bed_days_24h` is exact over `(now - 24h, now]`: the overlap with that interval of
every discharge-ready interval, open (ready and still in the bed) or closed (discharged,
transferred or no longer ready) meanwhile. Closed intervals stay with their encounter,
which is kept 24h after its last event, so every interval that can still overlap the
window is known.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
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


# The same two figures over the open starts of a ward kept sorted (the region's index):
# the open part in closed form, `count * now - sum(starts)` over the starts in range,
# instead of one overlap per patient. Integers, so the result is the same to the ms.
def wrong_bed_ms_open_sorted(now: int, sorted_starts: list[int]) -> int:
    i = bisect_left(sorted_starts, now)  # starts at or after `now` add 0
    return i * now - sum(sorted_starts[:i]) if i else 0


def wrong_bed_ms_24h_sorted(now: int, sorted_starts: list[int], closed: Iterable[tuple[int, int]]) -> int:
    lo = now - DAY_MS
    j = bisect_right(sorted_starts, lo)  # ready since before the window: a whole day each
    i = bisect_left(sorted_starts, now)
    total = j * DAY_MS + (i - j) * now - sum(sorted_starts[j:i]) if i else 0
    for s, e in closed:
        total += overlap_ms(s, e, lo, now)
    return total
