"""Reorder buffer and duplicate detection with bounded memory.

Events are held until the watermark passes them and then applied in `Event.key` order
(time, source, id). The buffered events are stored in parts per minute of event time
(`buf:{minute}[/{part}]`), so a batch writes only the parts it touched; the heap is
derived and rebuilt on restore.

Duplicates: a (`source`, `id`) seen before is a duplicate. Seen ids are kept in minute
buckets of stream time (`dedup:{minute}`, the minute of max(stream clock, event time) at
which the id was first seen) and forgotten once that minute is more than
DEDUP_HORIZON_MS (24h of stream time) old. So memory is bounded by a day of input; a
copy re-sent later is recognised by its encounter's, ride's or call's history instead
(processors.entities: ALREADY_APPLIED), and counted as a duplicate there.
"""

from __future__ import annotations

import heapq
from typing import Any

import orjson

from topics.event import Event, shared_event

DEDUP_HORIZON_MS = 86_400_000
MINUTE_MS = 60_000


def event_id_key(source: str, event_id: str) -> str:
    """One string per (source, id): the name of buffered, held and seen events."""
    return f"{source}|{event_id}"


def event_to_entry(ev: Event) -> list[Any]:
    return [ev.time, ev.source, ev.id, ev.partner, ev.type, ev.data]


def entry_to_event(e: list[Any]) -> Event:
    return shared_event(e[2], e[1], e[3], e[4], e[0], e[5])


BUFFER_PART = 200  # events per `buf:` entry at most (a census minute can hold thousands) ...
BUFFER_PART_BYTES = 256 * 1024  # ... and bytes: an entry stays far below Kafka's 1 MB record limit


def buffer_key(minute: int, part: int) -> str:
    return f"buf:{minute}" if part == 0 else f"buf:{minute}/{part}"


class ReorderBuffer:
    """Events held until the watermark passes them, in `Event.key` order.

    State: the buffered events grouped by minute of event time and arrival,
    `buf:{minute}[/{part}]`, at most BUFFER_PART events and BUFFER_PART_BYTES each (an
    entry must stay far below Kafka's record limit, whatever the events hold). Events leave in time order, so a release empties whole
    parts, and a batch rewrites only the parts it touched: a few entries per batch
    instead of one written and one deleted per event (most of the state writes of a
    bulk load before)."""

    __slots__ = ("entries", "parts", "place", "filling", "heap", "dirty", "written")

    def __init__(self) -> None:
        self.entries: dict[str, list[Any]] = {}  # event key -> entry
        self.parts: dict[tuple[int, int], dict[str, list[Any]]] = {}  # (minute, part) -> events by key
        self.place: dict[str, tuple[int, int]] = {}  # event key -> (minute, part)
        # minute -> [the part new events of that minute go to, events and bytes placed in
        # it] (derived: after a restore new arrivals start a part after the stored ones)
        self.filling: dict[int, list[int]] = {}
        self.heap: list[tuple[int, str, str, str]] = []
        self.dirty: set[tuple[int, int]] = set()  # parts changed since the last take_dirty
        # Parts the change feed has reported as present (derived). A part filled and
        # emptied between two `take_dirty` calls was never written, so its removal needs
        # no tombstone.
        self.written: set[tuple[int, int]] = set()

    def push(self, ev: Event) -> None:
        k = event_id_key(ev.source, ev.id)
        minute = ev.time // MINUTE_MS
        e = event_to_entry(ev)
        size = len(orjson.dumps(e))
        part = self.filling.get(minute)
        if part is None:
            part = self.filling[minute] = [0, 0, 0]
        elif part[1] >= BUFFER_PART or part[2] + size > BUFFER_PART_BYTES:
            part[:] = [part[0] + 1, 0, 0]
        part[1] += 1
        part[2] += size
        self._place(k, e, (minute, part[0]))
        heapq.heappush(self.heap, (ev.time, ev.source, ev.id, k))

    def _place(self, k: str, e: list[Any], where: tuple[int, int]) -> None:
        self.entries[k] = e
        self.place[k] = where
        self.parts.setdefault(where, {})[k] = e
        self.dirty.add(where)

    def _take(self, k: str) -> Event | None:
        e = self.entries.pop(k, None)
        if e is None:
            return None
        where = self.place.pop(k)
        events = self.parts[where]
        del events[k]
        if not events:
            del self.parts[where]
            minute = where[0]
            if not any(m == minute for m, _ in self.parts):
                self.filling.pop(minute, None)
        self.dirty.add(where)
        return entry_to_event(e)

    def pop_until(self, watermark: int) -> Event | None:
        """The next buffered event with time <= watermark, in key order, or None."""
        while self.heap and self.heap[0][0] <= watermark:
            ev = self._take(heapq.heappop(self.heap)[3])
            if ev is not None:
                return ev
        return None

    def step_watermark(self, watermark: int | None, limit: int) -> int | None:
        """How far one release of at most about `limit` events may go towards
        `watermark` (None: everything): `watermark` itself when no more than `limit`
        buffered events are due by it, else the end of the earliest minute by which at
        least `limit` are. Whole minutes, so a step always ends between two instants
        (a minute holding more than `limit` goes whole)."""
        if len(self.entries) <= limit:
            return watermark  # the common case: no scan of the parts
        last = None if watermark is None else watermark // MINUTE_MS
        per_minute: dict[int, int] = {}
        for (minute, _part), events in self.parts.items():
            if last is None or minute <= last:
                per_minute[minute] = per_minute.get(minute, 0) + len(events)
        if sum(per_minute.values()) <= limit:
            return watermark
        due = 0
        for minute in sorted(per_minute):
            due += per_minute[minute]
            if due >= limit and (last is None or minute < last):
                return (minute + 1) * MINUTE_MS - 1
        return watermark

    def pop_any(self) -> Event | None:
        while self.heap:
            ev = self._take(heapq.heappop(self.heap)[3])
            if ev is not None:
                return ev
        return None

    def __len__(self) -> int:
        return len(self.entries)

    def state_entries(self) -> dict[str, list[list[Any]]]:
        return {buffer_key(minute, part): list(events.values()) for (minute, part), events in self.parts.items()}

    def load(self, rest: str, events: list[list[Any]]) -> None:
        """One stored `buf:` entry (`rest` = `{minute}` or `{minute}/{part}`); `rebuilt()`
        orders the heap."""
        m, _, p = rest.partition("/")
        where = (int(m), int(p or 0))
        for e in events:
            k = event_id_key(e[1], e[2])
            self._place(k, e, where)
            self.heap.append((e[0], e[1], e[2], k))
        self.written.add(where)
        # later arrivals of that minute go to a part after the stored ones
        filling = self.filling.get(where[0])
        if filling is None or filling[0] <= where[1]:
            self.filling[where[0]] = [where[1] + 1, 0, 0]

    def rebuilt(self) -> None:
        heapq.heapify(self.heap)
        self.dirty = set()

    def take_dirty(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        written = self.written
        for where in self.dirty:
            events = self.parts.get(where)
            if events:
                written.add(where)
                out[buffer_key(*where)] = list(events.values())
            elif where in written:
                written.discard(where)
                out[buffer_key(*where)] = None
        self.dirty = set()
        return out


DEDUP_PART = 64  # ids per `dedup:` entry


def dedup_key(minute: int, part: int) -> str:
    return f"dedup:{minute}" if part == 0 else f"dedup:{minute}/{part}"


class Dedup:
    """Seen ids per minute. A minute's ids are stored as entries of DEDUP_PART ids each
    (`dedup:{minute}`, `dedup:{minute}/1`, ...), in arrival order, so a batch rewrites
    only the part that grew instead of the whole minute (perf: during a bulk load one
    minute holds thousands of ids, and the changelog got all of them on every batch)."""

    __slots__ = ("buckets", "seen", "dirty", "_parts")

    def __init__(self) -> None:
        self.buckets: dict[int, list[str]] = {}
        self.seen: set[str] = set()
        self.dirty: set[tuple[int, int]] = set()  # (minute, part)
        self._parts: dict[int, dict[int, list[str]]] = {}  # loaded entries until rebuilt()

    def check_and_add(self, source: str, event_id: str, minute: int) -> bool:
        """True when already seen (a duplicate); else remembers it and returns False."""
        k = event_id_key(source, event_id)
        if k in self.seen:
            return True
        self.seen.add(k)
        ids = self.buckets.get(minute)
        if ids is None:
            ids = self.buckets[minute] = []
        ids.append(k)
        self.dirty.add((minute, (len(ids) - 1) // DEDUP_PART))
        return False

    def expire(self, now_minute: int) -> None:
        horizon = now_minute - DEDUP_HORIZON_MS // 60_000
        # called once per stream minute; at most ~1,441 buckets to look at
        for m in [m for m in self.buckets if m <= horizon]:
            ids = self.buckets.pop(m)
            for k in ids:
                self.seen.discard(k)
            for part in range((len(ids) + DEDUP_PART - 1) // DEDUP_PART or 1):
                self.dirty.add((m, part))

    def _part(self, minute: int, part: int) -> list[str] | None:
        ids = self.buckets.get(minute)
        if not ids:
            return None
        return ids[part * DEDUP_PART:(part + 1) * DEDUP_PART] or None

    def entries(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for m, ids in self.buckets.items():
            for part in range((len(ids) + DEDUP_PART - 1) // DEDUP_PART):
                out[dedup_key(m, part)] = ids[part * DEDUP_PART:(part + 1) * DEDUP_PART]
        return out

    def load(self, rest: str, ids: list[str]) -> None:
        """One `dedup:` entry (`rest` = `{minute}` or `{minute}/{part}`); `rebuilt()` joins them."""
        m, _, part = rest.partition("/")
        self._parts.setdefault(int(m), {})[int(part or 0)] = ids
        self.seen.update(ids)

    def rebuilt(self) -> None:
        # Parts in order; an entry of the older one-entry-per-minute layout is part 0 with
        # all the minute's ids, and parts written after it continue at its length.
        for m, parts in self._parts.items():
            self.buckets[m] = [k for part in sorted(parts) for k in parts[part]]
        self._parts = {}
        self.dirty = set()

    def take_dirty(self) -> dict[str, Any]:
        out = {dedup_key(m, part): self._part(m, part) for m, part in self.dirty}
        self.dirty = set()
        return out
