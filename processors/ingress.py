"""Ingress: what happens to an event between its arrival at a region and its application.

In this order (events.md, "Order, lateness, duplicates"):

1. `too_old`: older than the state retention behind the stream clock, or an
   `seh.arrived` more than a day behind it (it cannot be part of the current SEH census);
2. dedup: a (`source`, `id`) seen in the last 24 h of stream time is a duplicate;
3. the clock guard (processors.clockguard, when on): a far-ahead event waits for
   confirmation;
4. the reorder buffer: admitted events wait for the watermark and come out in
   (time, source, id) order; each is judged against the retention again on the way out,
   so the order in which partitions were read does not decide what is too old.

Events refused after they were offered (expired by the guard, too old on the way out)
collect in `rejected`; the region adds its own (conflict, processing_error) and the
caller takes them with `RegionProcessor.take_rejected`.

State: `buf:` and `dedup:` entries (processors.reorder), `held:` entries and the guard's
reference in `core` (processors.clockguard).
"""

from __future__ import annotations

from typing import Any

from processors.clockguard import ClockGuard
from processors.reorder import Dedup, ReorderBuffer
from processors.windows import minute_of
from topics.codec import format_time
from topics.event import Event, Reason, Rejected
from topics.registry import Registry

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
# An SEH arrival this far behind the stream clock cannot be part of the current census
# (SEH stays are hours long): a partner re-sending old visits must not fill today's SEH.
SEH_ARRIVAL_HORIZON_MS = DAY_MS
# events.md ("Order, lateness, duplicates"): the state retention's default, 30 days
# behind the stream clock (the worker's SPOEDSTROOM_STATE_RETENTION_DAYS changes it).
DEFAULT_RETENTION_MS = 30 * DAY_MS


class Ingress:
    """Dedup, clock guard and reorder buffer of one region; see the module docstring."""

    def __init__(self, registry: Registry, retention_ms: int, clock_guard: bool) -> None:
        self.retention_ms = retention_ms
        self.buf = ReorderBuffer()
        self.dedup = Dedup()
        only = next(iter(registry.partners)) if len(registry.partners) == 1 else None
        # None: every event goes straight to the reorder buffer (unit tests of the rules)
        self.guard: ClockGuard | None = ClockGuard(single_partner=only) if clock_guard else None
        self.rejected: list[tuple[Event, Rejected]] = []

    # ------------------------------------------------------------------ arriving
    def admit(self, event: Event, clock: int | None) -> tuple[str, list[Event]]:
        """("duplicate" | "held" | "admitted", events to enter now). Raises `Rejected`
        (too_old). The events to enter are the event itself, or with the guard a
        confirmed time range (it may include events held before), or none."""
        # Before anything is applied the region has no clock: for the state retention the
        # latest time the guard let through stands for it, or an event years behind the
        # rest, read early, was applied first (behind the watermark) and dated the
        # region's snapshots. (Not for the SEH arrivals' 24 h: in a catch-up the guard's
        # time runs ahead of what is applied by as much as is buffered.)
        refusal = (self.too_old(event, clock) if clock is not None
                   else self.too_old(event, self.confirmed_time, arrivals=False))
        if refusal is not None:
            raise refusal
        seen_min = minute_of(event.time if clock is None else max(clock, event.time))
        if self.dedup.check_and_add(event.source, event.id, seen_min):
            return "duplicate", []
        if self.guard is None:
            return "admitted", [event]
        admitted, expired = self.guard.admit(event, clock)
        self.rejected.extend(expired)
        return ("admitted" if any(e is event for e in admitted) else "held"), admitted

    def too_old(self, event: Event, clock: int | None, arrivals: bool = True) -> Rejected | None:
        """`too_old` against `clock`: behind the state retention, or (with `arrivals`) an
        SEH arrival behind SEH_ARRIVAL_HORIZON_MS."""
        if clock is None:
            return None
        if event.time < clock - self.retention_ms:
            return Rejected(
                Reason.TOO_OLD,
                f"event time {format_time(event.time)} is more than {self.retention_ms // DAY_MS} "
                f"days behind the stream clock {format_time(clock)}",
            )
        if arrivals and event.type == "seh.arrived" and event.time < clock - SEH_ARRIVAL_HORIZON_MS:
            return Rejected(
                Reason.TOO_OLD,
                f"SEH arrival at {format_time(event.time)} is more than {SEH_ARRIVAL_HORIZON_MS // HOUR_MS} h "
                f"behind the stream clock {format_time(clock)}: it cannot be part of the current SEH census",
            )
        return None

    @property
    def confirmed_time(self) -> int | None:
        """The latest event time the clock guard let through (None without a guard)."""
        return None if self.guard is None else self.guard.reference

    # ------------------------------------------------------------------ leaving
    def next_due(self, watermark_ms: int | None, clock: int | None) -> Event | None:
        """The next buffered event with time <= watermark (any with None), in (time,
        source, id) order, judged against the retention once more on its way out (the
        SEH arrival horizon is judged when offered only: an arrival read just before a
        feed outage is not refused because the feed came back). `clock` is the region's
        clock now: the caller applies each event before asking for the next."""
        while True:
            ev = self.buf.pop_any() if watermark_ms is None else self.buf.pop_until(watermark_ms)
            if ev is None:
                return None
            refusal = self.too_old(ev, self._front(clock), arrivals=False)
            if refusal is None:
                return ev
            self.rejected.append((ev, refusal))

    def _front(self, clock: int | None) -> int | None:
        """The latest time the region knows of: its clock, or the latest event time the
        guard let through (in the buffer, not applied yet)."""
        reference = self.confirmed_time
        if reference is None or (clock is not None and clock > reference):
            return clock
        return reference

    def finish(self) -> None:
        """End of a replay: the guard decides what it still holds; what it lets through
        goes to the buffer."""
        if self.guard is not None:
            admitted, refused = self.guard.finish()
            self.rejected.extend(refused)
            for ev in admitted:
                self.buf.push(ev)

    def take_rejected(self) -> list[tuple[Event, Rejected]]:
        out, self.rejected = self.rejected, []
        return out

    # ------------------------------------------------------------------ state
    def entries(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.dedup.entries())
        out.update(self.buf.state_entries())
        if self.guard is not None:
            out.update(self.guard.entries())
        return out

    def take_dirty(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        out.update(self.dedup.take_dirty())
        out.update(self.buf.take_dirty())
        if self.guard is not None:
            out.update(self.guard.take_dirty())
        return out

    def load(self, prefix: str, rest: str, value: Any) -> bool:
        """One stored entry of the ingress (`dedup:`, `buf:`, `held:`); False when the
        entry is not the ingress's."""
        if prefix == "dedup":
            self.dedup.load(rest, value)
        elif prefix == "buf":
            self.buf.load(rest, value)
        elif prefix == "held":
            if self.guard is not None:
                self.guard.load(rest, value)
        else:
            return False
        return True

    def rebuilt(self) -> None:
        self.buf.rebuilt()
        self.dedup.rebuilt()
