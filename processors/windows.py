"""Rolling windows over event time: a ring of minute buckets with running totals.

metrics.md defines the "1h" window as the 60 minutes ending with the minute of `now`
and "24h" as the 1,440 minutes ending with it. Each bucket holds the aggregated
contributions of one minute (counters `{group: {sub: n}}` and, for percentiles, the raw values of that
minute); the running totals of both windows are updated when an item is added or
removed and when `now` crosses a minute, so the cost per event does not depend on what
the window holds. Value lists are kept sorted for the 24h window so nearest-rank
percentiles are read in O(1) at snapshot time.

A bucket is one state entry (`win:{minute}`, JSON: `{"c": {group: {sub: n}}, "v": {key: [ms]}}`);
the totals and sorted lists are derived and rebuilt on restore.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from typing import Any

MINUTE_MS = 60_000
H1_MINUTES = 60
H24_MINUTES = 1_440


def minute_of(t_ms: int) -> int:
    """The minute (floored) of an epoch-ms time."""
    return t_ms // MINUTE_MS


def nearest_rank(sorted_values: list[int] | list[float], p: float) -> Any:
    """Nearest-rank percentile: the value at 1-based position ceil(p/100 * n); None if empty.

    p50 of an even count is the lower middle value (ceil(0.5 * n) = n/2)."""
    n = len(sorted_values)
    if n == 0:
        return None
    # Integer arithmetic for the ceiling so p90 of 10 values is exactly position 9.
    num = round(p * 1_000_000) * n
    den = 100 * 1_000_000
    k = -(-num // den)
    k = min(max(k, 1), n)
    return sorted_values[k - 1]


def count_above(sorted_values: list[int], limit: int) -> int:
    """How many values are strictly greater than `limit`."""
    return len(sorted_values) - bisect_right(sorted_values, limit)


def count_at_most(sorted_values: list[int], limit: int) -> int:
    """How many values are <= `limit`."""
    return bisect_right(sorted_values, limit)


class Windows:
    """Minute buckets plus 1h/24h running totals; `now_min` only moves forward."""

    __slots__ = ("buckets", "now_min", "tot1", "tot24", "vals24", "dirty", "moved")

    def __init__(self) -> None:
        self.buckets: dict[int, dict[str, dict[str, Any]]] = {}
        self.now_min: int | None = None
        self.tot1: dict[str, dict[str, int]] = {}
        self.tot24: dict[str, dict[str, int]] = {}
        self.vals24: dict[str, list[int]] = {}
        self.dirty: set[int] = set()
        # Groups/keys whose 1h or 24h totals moved when the window end advanced (derived):
        # only their snapshots can change by the passing of a minute (perf: the region
        # rebuilds just those instead of every location).
        self.moved: set[str] = set()

    # -- membership -------------------------------------------------------------
    def _in1(self, m: int, now_min: int) -> bool:
        return now_min - H1_MINUTES < m <= now_min

    def _in24(self, m: int, now_min: int) -> bool:
        return now_min - H24_MINUTES < m <= now_min

    # -- items ------------------------------------------------------------------
    def add_count(self, m: int, group: str, sub: str, n: int = 1) -> None:
        """Add `n` (may be negative) to counter `group`/`sub` of minute `m`."""
        now = self.now_min
        if now is None or m <= now - H24_MINUTES:
            return  # already outside every window: never counted
        b = self.buckets.get(m)
        if b is None:
            b = self.buckets[m] = {"c": {}, "v": {}}
        _bump2(b["c"], group, sub, n)
        self.dirty.add(m)
        if m <= now:
            _bump2(self.tot24, group, sub, n)
            if m > now - H1_MINUTES:
                _bump2(self.tot1, group, sub, n)
        self._drop_if_empty(m, b)

    def add_value(self, m: int, key: str, value: int) -> None:
        now = self.now_min
        if now is None or m <= now - H24_MINUTES:
            return
        b = self.buckets.get(m)
        if b is None:
            b = self.buckets[m] = {"c": {}, "v": {}}
        b["v"].setdefault(key, []).append(value)
        self.dirty.add(m)
        if m <= now:
            insort(self.vals24.setdefault(key, []), value)

    def remove_value(self, m: int, key: str, value: int) -> None:
        now = self.now_min
        b = self.buckets.get(m)
        if now is None or b is None:
            return
        lst = b["v"].get(key)
        if not lst or value not in lst:
            return
        lst.remove(value)
        if not lst:
            del b["v"][key]
        self.dirty.add(m)
        if m <= now:
            _remove_sorted(self.vals24, key, value)
        self._drop_if_empty(m, b)

    def _drop_if_empty(self, m: int, b: dict[str, Any]) -> None:
        if not b["c"] and not b["v"]:
            del self.buckets[m]

    # -- time -------------------------------------------------------------------
    def advance(self, new_min: int) -> None:
        """Move the window end to `new_min` (ignored when not later)."""
        old = self.now_min
        if old is not None and new_min <= old:
            return
        self.now_min = new_min
        if old is None:
            self._rebuild()
            return
        affected: set[int] = set()
        for lo, hi in (
            (old - H1_MINUTES + 1, new_min - H1_MINUTES),
            (old - H24_MINUTES + 1, new_min - H24_MINUTES),
            (old + 1, new_min),
        ):
            affected.update(self._existing(lo, hi))
        for m in sorted(affected):
            b = self.buckets[m]
            was1, is1 = self._in1(m, old), self._in1(m, new_min)
            was24, is24 = self._in24(m, old), self._in24(m, new_min)
            if was1 != is1 or was24 != is24:
                self.moved.update(b["c"])
                self.moved.update(b["v"])
            if was1 != is1:
                sign = 1 if is1 else -1
                for g, subs in b["c"].items():
                    for k, n in subs.items():
                        _bump2(self.tot1, g, k, sign * n)
            if was24 != is24:
                sign = 1 if is24 else -1
                for g, subs in b["c"].items():
                    for k, n in subs.items():
                        _bump2(self.tot24, g, k, sign * n)
                for k, lst in b["v"].items():
                    for v in lst:
                        if is24:
                            insort(self.vals24.setdefault(k, []), v)
                        else:
                            _remove_sorted(self.vals24, k, v)
            if m <= new_min - H24_MINUTES:
                del self.buckets[m]
                self.dirty.add(m)

    def _existing(self, lo: int, hi: int) -> list[int]:
        if hi < lo:
            return []
        if hi - lo + 1 <= 2 * len(self.buckets):
            return [m for m in range(lo, hi + 1) if m in self.buckets]
        return [m for m in self.buckets if lo <= m <= hi]

    def _rebuild(self) -> None:
        self.tot1, self.tot24, self.vals24 = {}, {}, {}
        now = self.now_min
        if now is None:
            return
        for m in sorted(self.buckets):
            b = self.buckets[m]
            if self._in24(m, now):
                for g, subs in b["c"].items():
                    for k, n in subs.items():
                        _bump2(self.tot24, g, k, n)
                        if self._in1(m, now):
                            _bump2(self.tot1, g, k, n)
                for k, lst in b["v"].items():
                    self.vals24.setdefault(k, []).extend(lst)
        for lst in self.vals24.values():
            lst.sort()

    def take_moved(self) -> set[str]:
        moved, self.moved = self.moved, set()
        return moved

    # -- state ------------------------------------------------------------------
    def entries(self) -> dict[str, Any]:
        return {f"win:{m}": b for m, b in self.buckets.items()}

    def take_dirty(self) -> dict[str, Any]:
        out = {f"win:{m}": self.buckets.get(m) for m in self.dirty}
        self.dirty = set()
        return out

    def load(self, minute: int, bucket: dict[str, Any]) -> None:
        self.buckets[minute] = bucket

    def restore_clock(self, now_min: int | None) -> None:
        self.now_min = now_min
        self._rebuild()
        self.dirty = set()


def _bump2(d: dict[str, dict[str, int]], group: str, key: str, n: int) -> None:
    sub = d.get(group)
    if sub is None:
        sub = d[group] = {}
    v = sub.get(key, 0) + n
    if v:
        sub[key] = v
    else:
        sub.pop(key, None)
        if not sub:
            del d[group]


def _remove_sorted(d: dict[str, list[int]], key: str, value: int) -> None:
    lst = d.get(key)
    if not lst:
        return
    i = bisect_left(lst, value)
    if i < len(lst) and lst[i] == value:
        del lst[i]
    if not lst:
        del d[key]


def by_key(totals: dict[str, dict[str, int]], group: str) -> dict[str, int]:
    """The counters of one group as a "by X" object with sorted keys (zeros left out)."""
    sub = totals.get(group)
    if not sub:
        return {}
    return {k: sub[k] for k in sorted(sub) if sub[k]}


def total(totals: dict[str, dict[str, int]], group: str) -> int:
    sub = totals.get(group)
    return sum(sub.values()) if sub else 0
