"""The clock guard: no single record (nor a handful from one partner) can move a region's
stream clock far ahead.

On the event clock the stream clock is the largest event time applied, so one event dated
`9999-12-31` (or 2207 for 2027) would make every later valid event `too_old`, open alerts
for everything and show `as_of` 9999. The guard holds an event whose time lies more than
`jump_ms` ahead of the region's confirmed time (the *reference*: the latest event time it
let through, or the clock itself when a wall-clock timer moved it further) until other
events confirm the new time range:

- a *range* is the held events within `jump_ms` of each other;
- it is confirmed by events from `confirm_partners` different partners, or by
  `confirm_events` events of one partner (whose other partners are quiet), or, in a
  region whose registry names a single partner, by its second event there;
- a confirmed range is let through as a whole (the events then take the normal path:
  reorder buffer, watermark, rules), and the reference moves to its latest event;
- a held event is *contradicted* by every later event more than `jump_ms` behind it (the
  old time range is still alive): after `expire_after` of those it is rejected
  `future_time`;
- at the end of a replay (`finish`) the held events that were contradicted are rejected
  `future_time`; those that nothing contradicted (the log simply ends in a new time
  range, as a sparse test log does) are let through in time order. A log too short to
  confirm anything whose time ranges contradict each other confirms the range with the
  most partners (then events, then the latest) instead.

Real jumps keep working: a census dated days back followed by live events, a replay
across a two-day feed outage, a region with a single partner (its next event confirms).
Before anything was confirmed there is no reference: the region's first events are held
like a jump until a range is confirmed, so a far-ahead event that happens to be the first
thing a region reads cannot become its clock. Events behind a newly confirmed range are
let through with it (the region judges them `too_old` when they are that old).

State: the reference (in `core`) and the held events as `held:{source}|{id}` entries
(`[contradictions, event entry]`), restored like the reorder buffer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from processors.reorder import entry_to_event, event_id_key, event_to_entry
from topics.codec import format_time
from topics.event import Event, Reason, Rejected

HOUR_MS = 3_600_000
JUMP_MS = 6 * HOUR_MS
CONFIRM_PARTNERS = 2
CONFIRM_EVENTS = 20
EXPIRE_AFTER = 1000


def _sid(ev: Event) -> str:
    return event_id_key(ev.source, ev.id)


class ClockGuard:
    """Holds far-ahead events until confirmed; see the module docstring."""

    def __init__(
        self,
        single_partner: str | None = None,
        jump_ms: int = JUMP_MS,
        confirm_partners: int = CONFIRM_PARTNERS,
        confirm_events: int = CONFIRM_EVENTS,
        expire_after: int = EXPIRE_AFTER,
    ) -> None:
        self.jump_ms = jump_ms
        self.confirm_partners = confirm_partners
        self.confirm_events = confirm_events
        self.expire_after = expire_after
        self.single_partner = single_partner  # the region's only partner, if it has one
        self.reference: int | None = None
        self.held: dict[str, tuple[int, Event]] = {}  # sid -> (contradictions, event)
        self.dirty: set[str] = set()

    # ------------------------------------------------------------------ deciding
    def admit(self, ev: Event, clock: int | None) -> tuple[list[Event], list[tuple[Event, Rejected]]]:
        """Offer one event. Returns the events to let through now (the event itself, or a
        confirmed range including it, or nothing while it is held) and held events that
        expired (`future_time`)."""
        expired = self._contradict(ev) if self.held else []
        reference = self._reference(clock)
        if reference is not None and ev.time <= reference + self.jump_ms:
            self._let_pass(ev.time)
            return [ev], expired
        sid = _sid(ev)
        self.held[sid] = (0, ev)
        self.dirty.add(sid)
        in_range = self._range_of(ev)
        if not self._is_confirmed(in_range):
            return [], expired
        released = self._let_through(in_range)
        # A confirmed range brings every held event within reach of it (behind it too).
        reference = self._reference(clock)
        assert reference is not None
        released.extend(self._let_through(
            sorted((e for _, e in self.held.values() if e.time <= reference + self.jump_ms), key=lambda e: e.key)))
        return released, expired

    def finish(self) -> tuple[list[Event], list[tuple[Event, Rejected]]]:
        """End of a replay: nothing more can confirm what is still held."""
        if self.reference is None and any(n > 0 for n, _ in self.held.values()):
            return self._vote()
        contradicted = sorted((ev for n, ev in self.held.values() if n > 0), key=lambda e: e.key)
        for ev in contradicted:
            self._drop(ev)
        released = self._let_through(sorted((ev for _, ev in self.held.values()), key=lambda e: e.key))
        return released, [(ev, self._rejection(ev)) for ev in contradicted]

    def _vote(self) -> tuple[list[Event], list[tuple[Event, Rejected]]]:
        """`finish` of a log too short to confirm anything, in which time ranges contradict
        each other: the range with the most partners, then the most events, then the
        latest, is taken as confirmed, and the rest judged against it as a confirmation
        would (behind it: let through, for the region to judge against the retention;
        ahead of it: `future_time`). Without this the range read last would contradict
        the others however few its events: one record dated 0001 at the end of a short
        log took the region's clock with it."""
        def weight(events: list[Event]) -> tuple[int, int, int]:
            return len({e.partner for e in events}), len(events), max(e.time for e in events)

        held = [ev for _, ev in self.held.values()]
        best = max((self._range_of(ev) for ev in held), key=weight)
        released = self._let_through(sorted(best, key=lambda e: e.key))
        assert self.reference is not None
        reach = self.reference + self.jump_ms
        released += self._let_through(sorted((e for e in held if e.time <= reach), key=lambda e: e.key))
        ahead = sorted((e for e in held if e.time > reach), key=lambda e: e.key)
        for ev in ahead:
            self._drop(ev)
        return released, [(ev, self._rejection(ev)) for ev in ahead]

    # ------------------------------------------------------------------ helpers
    def _reference(self, clock: int | None) -> int | None:
        if self.reference is None or (clock is not None and clock > self.reference):
            return clock
        return self.reference

    def _let_pass(self, t: int) -> None:
        if self.reference is None or t > self.reference:
            self.reference = t

    def _contradict(self, ev: Event) -> list[tuple[Event, Rejected]]:
        """`ev` contradicts every held event it lies far behind; expire the ones it
        contradicted `expire_after` times."""
        expired: list[tuple[Event, Rejected]] = []
        for sid, (count, held) in list(self.held.items()):
            if ev.time < held.time - self.jump_ms:
                if count + 1 >= self.expire_after:
                    self._drop(held)
                    expired.append((held, self._rejection(held)))
                else:
                    self.held[sid] = (count + 1, held)
                    self.dirty.add(sid)
        return expired

    def _range_of(self, ev: Event) -> list[Event]:
        """The held events within `jump_ms` of `ev`, in arrival order."""
        return [e for _, e in self.held.values() if abs(e.time - ev.time) <= self.jump_ms]

    def _is_confirmed(self, events: list[Event]) -> bool:
        partners = {e.partner for e in events}
        if self.single_partner is not None and partners == {self.single_partner}:
            return len(events) >= 2
        return len(partners) >= self.confirm_partners or len(events) >= self.confirm_events

    def _let_through(self, events: Iterable[Event]) -> list[Event]:
        out = []
        for ev in events:
            if _sid(ev) in self.held:
                self._drop(ev)
                self._let_pass(ev.time)
                out.append(ev)
        return out

    def _drop(self, ev: Event) -> None:
        sid = _sid(ev)
        self.held.pop(sid, None)
        self.dirty.add(sid)

    def _rejection(self, ev: Event) -> Rejected:
        ahead = "" if self.reference is None else (
            f", {(ev.time - self.reference) / HOUR_MS:.0f} h ahead of the region's clock {format_time(self.reference)}"
        )
        return Rejected(
            Reason.FUTURE_TIME,
            f"time {format_time(ev.time)}{ahead}: no other events confirmed that time range "
            f"(needs {self.confirm_partners} partners or {self.confirm_events} events)",
        )

    # ------------------------------------------------------------------ state
    def entries(self) -> dict[str, Any]:
        return {f"held:{sid}": [seen, event_to_entry(ev)] for sid, (seen, ev) in self.held.items()}

    def take_dirty(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for sid in self.dirty:
            item = self.held.get(sid)
            out[f"held:{sid}"] = None if item is None else [item[0], event_to_entry(item[1])]
        self.dirty = set()
        return out

    def load(self, sid: str, value: list[Any]) -> None:
        self.held[sid] = (value[0], entry_to_event(value[1]))

    def core(self) -> dict[str, Any]:
        return {"reference": self.reference}

    def load_core(self, value: dict[str, Any] | None) -> None:
        if value:
            self.reference = value["reference"]
