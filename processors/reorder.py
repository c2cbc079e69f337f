"""Reorder buffer and duplicate detection with bounded memory.

Events are held until the watermark passes them and then applied in `Event.key` order
(time, source, id). Each buffered event is its own state entry (`buf:{source}|{id}`) so a
batch writes only what arrived or left; the heap is derived and rebuilt on restore.

Duplicates: a (`source`, `id`) seen before is a duplicate. Seen ids are kept in minute
buckets of stream time (`dedup:{minute}`, the minute of max(stream clock, event time) at
which the id was first seen) and forgotten once that minute is more than
DEDUP_HORIZON_MS (24h of stream time) old. So memory is bounded by a day of input; a
copy re-sent more than 24h of stream time after the original is not recognised (it
would then be applied again, which for encounters is harmless: the transition history
ignores an identical (source, id)).
"""

from __future__ import annotations

import heapq
from typing import Any

from topics.event import Event

DEDUP_HORIZON_MS = 86_400_000


def _sid(source: str, event_id: str) -> str:
    return f"{source}|{event_id}"


def event_to_entry(ev: Event) -> list[Any]:
    return [ev.time, ev.source, ev.id, ev.partner, ev.type, ev.data]


def entry_to_event(e: list[Any]) -> Event:
    return Event(id=e[2], source=e[1], partner=e[3], type=e[4], time=e[0], data=e[5])


class ReorderBuffer:
    __slots__ = ("entries", "heap", "dirty")

    def __init__(self) -> None:
        self.entries: dict[str, list[Any]] = {}
        self.heap: list[tuple[int, str, str, str]] = []
        self.dirty: set[str] = set()

    def push(self, ev: Event) -> None:
        k = _sid(ev.source, ev.id)
        self.entries[k] = event_to_entry(ev)
        heapq.heappush(self.heap, (ev.time, ev.source, ev.id, k))
        self.dirty.add(k)

    def pop_until(self, watermark: int) -> Event | None:
        """The next buffered event with time <= watermark, in key order, or None."""
        while self.heap and self.heap[0][0] <= watermark:
            _, _, _, k = heapq.heappop(self.heap)
            e = self.entries.pop(k, None)
            if e is None:
                continue
            self.dirty.add(k)
            return entry_to_event(e)
        return None

    def pop_any(self) -> Event | None:
        while self.heap:
            _, _, _, k = heapq.heappop(self.heap)
            e = self.entries.pop(k, None)
            if e is not None:
                self.dirty.add(k)
                return entry_to_event(e)
        return None

    def __len__(self) -> int:
        return len(self.entries)

    def load(self, k: str, e: list[Any]) -> None:
        self.entries[k] = e
        self.heap.append((e[0], e[1], e[2], k))

    def rebuilt(self) -> None:
        heapq.heapify(self.heap)
        self.dirty = set()

    def take_dirty(self) -> dict[str, Any]:
        out = {f"buf:{k}": self.entries.get(k) for k in self.dirty}
        self.dirty = set()
        return out


class Dedup:
    __slots__ = ("buckets", "seen", "dirty")

    def __init__(self) -> None:
        self.buckets: dict[int, list[str]] = {}
        self.seen: set[str] = set()
        self.dirty: set[int] = set()

    def check_and_add(self, source: str, event_id: str, minute: int) -> bool:
        """True when already seen (a duplicate); else remembers it and returns False."""
        k = _sid(source, event_id)
        if k in self.seen:
            return True
        self.seen.add(k)
        self.buckets.setdefault(minute, []).append(k)
        self.dirty.add(minute)
        return False

    def expire(self, now_minute: int) -> None:
        horizon = now_minute - DEDUP_HORIZON_MS // 60_000
        # called once per stream minute; at most ~1,441 buckets to look at
        for m in [m for m in self.buckets if m <= horizon]:
            for k in self.buckets.pop(m):
                self.seen.discard(k)
            self.dirty.add(m)

    def load(self, minute: int, ids: list[str]) -> None:
        self.buckets[minute] = ids
        self.seen.update(ids)

    def take_dirty(self) -> dict[str, Any]:
        out = {f"dedup:{m}": self.buckets.get(m) for m in self.dirty}
        self.dirty = set()
        return out
