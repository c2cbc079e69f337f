"""RegionProcessor: the facade of the domain core for one region (docs/internals.md).

It takes validated events, deduplicates and reorders them, applies them in event-time
order to the region's state, evaluates the rules after each and returns the outputs:
snapshots that changed, alerts raised or resolved, and observations for histograms.
The alert rules themselves, and when they run, live in `processors.rules`; the content
of the snapshots in `processors.snapshot`.

State is a set of string-keyed entries of plain JSON values, so the runtime can keep it
in changelogged tables and write only what changed:

| entry | holds |
|---|---|
| `core` | stream clock, released watermark, snapshot minute, counters |
| `enc:{partner}/{encounter_id}`, `ride:{partner}/{ride_id}`, `call:{partner}/{call_id}` | `{"h": [[time, source, id, type, data], ...], "last": ms}` |
| `loc:{id}` | reported staffed beds / SEH status overriding the registry |
| `partner:{id}` | time of the partner's latest event (feed_silent) |
| `win:{minute}` | a window bucket (processors.windows) |
| `dedup:{minute}[/{part}]`, `buf:{source}\\|{id}` | seen ids, buffered events (processors.reorder) |
| `rule:{kind}:{subject}` | an alert rule's episode state (processors.alerts) |
| `snap:{key}` | the last emitted snapshot, compact (processors.snapshot.snap_entry): `{"t": as_of ms, "f": fingerprint, "x": [time-driven values]}` |
| `nc:{seh}`, `nc:~` | the nowcast's history per SEH and for the region (processors.nowcast): bounded aggregates, updated once per closed hour |

Everything else (per-location counts, sorted start times, contributions of entities,
running window totals, the GC queue) is derived and rebuilt by `restore`. So is the
content of the last emitted snapshots: a location's snapshot is a function of the state
and of the time of its last build, and a hospital's or the region's a function of the
location snapshots, so `restore` rebuilds them from the state plus the few time-driven
values kept in `snap:` (`x`) and checks the result against the stored fingerprint (the
full content made the snapshot entries ~90% of the snapshot changelog bytes).

An entity (call, ride, encounter) contributes to the aggregates through a contribution
derived from its own history; on each change the old contribution is subtracted and the
new one added, so per-event cost is independent of the number of open encounters.
Closed entities are forgotten 24h of stream time after their last event (windows keep
the aggregated buckets, not the entities).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from typing import Any, NamedTuple

import orjson

from processors import nowcast, rules
from processors.crowding import nedocs
from processors.doorstroom import (
    effective_transitions,
    empty_contribution,
    encounter_contribution,
    has_membership,
)
from processors.ingress import Ingress
from processors.instroom import call_contribution, localise_call, localise_ride, ride_contribution
from processors.output import Output
from processors.rules import Rules
from processors.snapshot import (
    RegionSums,
    build_hospital,
    build_location,
    build_region,
    fingerprint,
    refresh_hospital,
    refresh_location,
    restore_time_fields,
    snap_entry,
)
from processors.windows import MINUTE_MS, Windows, minute_of
from topics.codec import format_time
from topics.event import Event, Reason, Rejected
from topics.registry import Registry

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
ENTITY_RETENTION_MS = DAY_MS  # closed entities kept this long after their last event
# Events kept per call, ride or encounter. A real one has a few to a few dozen (a long
# ward stay with transfers); the cap keeps one entity's state entry far below the
# changelog's record limit whatever a partner sends.
MAX_ENTITY_EVENTS = 256
STATUS_HISTORY = 16  # SEH status changes kept per location (late ones land in order)



def _entity_key(ev: Event) -> str | None:
    d = ev.data
    t = ev.type
    if t.startswith("call."):
        return f"call:{ev.partner}/{d.get('call_id')}"
    if t.startswith("dispatch."):
        return f"ride:{ev.partner}/{d.get('ride_id')}"
    if t.startswith(("seh.", "ward.", "encounter.")) and "encounter_id" in d:
        return f"enc:{ev.partner}/{d['encounter_id']}"
    return None


def _contribution(ekey: str, h: list[list[Any]], registry: Registry) -> dict[str, Any]:
    if ekey.startswith("enc:"):
        return encounter_contribution(h)
    if ekey.startswith("ride:"):
        # in a nation, a ride can be another region's, or end at another region's SEH
        partner = ekey[len("ride:"):].partition("/")[0]
        return localise_ride(ride_contribution(h), registry.locations, partner in registry.partners)
    partner = ekey[len("call:"):].partition("/")[0]
    return localise_call(call_contribution(h), registry.locations, partner in registry.partners)


_EMPTY = empty_contribution()


class _EntityChange(NamedTuple):
    """What applying one event does to its entity, worked out before anything changes."""

    key: str
    history: list[list[Any]]
    contribution: dict[str, Any]


_ALREADY_APPLIED = object()  # the event is in its entity's history already


class RegionProcessor:
    def __init__(
        self,
        registry: Registry,
        *,
        reorder_lateness_ms: int = 120_000,
        retention_ms: int = 30 * DAY_MS,
        clock_guard: bool = False,
    ) -> None:
        self.registry = registry
        self.th = registry.thresholds
        self.region = registry.region_id
        self.reorder_lateness_ms = reorder_lateness_ms
        self.retention_ms = retention_ms
        # -- static, from the registry ------------------------------------------------
        locs = registry.locations
        self.seh_ids = sorted(lid for lid, loc in locs.items() if loc.kind == "seh")
        self.ward_ids = sorted(lid for lid, loc in locs.items() if loc.kind == "ward")
        self.followup_ids = sorted(lid for lid, loc in locs.items() if loc.kind in ("elv", "vvt", "grz"))
        self.hospital_ids = sorted(p.id for p in registry.hospitals())
        self.wards_of: dict[str, list[str]] = {h: [] for h in self.hospital_ids}
        self.sehs_of: dict[str, list[str]] = {h: [] for h in self.hospital_ids}
        for lid in self.ward_ids:
            self.wards_of.setdefault(locs[lid].partner, []).append(lid)
        for lid in self.seh_ids:
            self.sehs_of.setdefault(locs[lid].partner, []).append(lid)
        self.location_keys = {lid: f"location:{lid}" for lid in locs}
        # feed_silent thresholds of partners with their own (registry `feed_silent_minutes`)
        self.silent_ms = {pid: int(p.feed_silent_minutes * MINUTE_MS)
                          for pid, p in registry.partners.items() if p.feed_silent_minutes is not None}
        self.hospital_keys = {h: f"hospital:{h}" for h in self.hospital_ids}
        self.region_key = f"region:{self.region}"
        # -- state entries --------------------------------------------------------------
        self.now: int | None = None
        self.wm: int | None = None
        self.snap_min: int | None = None
        # Events were applied at `now` since the rules last ran (see _settle).
        self.due = False
        self.counters: dict[str, Any] = {
            "applied": 0, "duplicates": 0, "late": 0, "applied_by_type": {}, "duplicates_by_type": {},
        }
        self.ents: dict[str, dict[str, Any]] = {}
        self.locs: dict[str, dict[str, Any]] = {}
        self.partners: dict[str, int] = {}
        self.rules: dict[str, dict[str, Any]] = {}
        self.snaps: dict[str, dict[str, Any]] = {}  # key -> content (without as_of)
        self.snap_at: dict[str, int] = {}  # key -> as_of ms of the last emission
        # Restored snapshots whose rebuilt content did not match the stored fingerprint
        # (e.g. after an upgrade that changed a field): emitted at their next build, and
        # until then their stored entry is kept as it was.
        self._snap_force: dict[str, dict[str, Any]] = {}
        self.win = Windows()
        # The nowcast's history (processors.nowcast): per SEH (`nc:{seh}`) and for the
        # region (`nc:~`: the last closed hour, referral delays); None until the first event.
        self.nc_params = nowcast.params(self.th)
        self.nc: dict[str, dict[str, Any]] = {}
        self.nc_region: dict[str, Any] | None = None
        # Dedup, clock guard and reorder buffer (processors.ingress); the events refused
        # after they were offered collect there, with the region's own refusals.
        self.ingress = Ingress(registry, retention_ms, clock_guard)
        # The event whose effects are being written: when that fails half-way, the
        # runtime rebuilds the region from its last stored state and quarantines the
        # event ((source, id)): applied again, it is refused as processing_error.
        self.applying: Event | None = None
        self.quarantined: set[tuple[str, str]] = set()
        # The events applied since the rules last ran: when the rules or the snapshot
        # builders fail on an instant, these are the events that can have caused it.
        self.unsettled: list[Event] = []
        self._dirty: set[str] = set()
        # -- derived ----------------------------------------------------------------------
        self._reset_derived()

    def _reset_derived(self) -> None:
        self.contrib: dict[str, dict[str, Any]] = {}
        self.seh_n: dict[str, list[int]] = {s: [0, 0, 0, 0] for s in self.seh_ids}
        self.seh_board: dict[str, list[int]] = {s: [] for s in self.seh_ids}
        self.seh_ts: dict[str, dict[str, tuple[int, int]]] = {s: {} for s in self.seh_ids}
        self.seh_best: dict[str, tuple[int, str, int] | None] = {s: None for s in self.seh_ids}
        self.ward_since: dict[str, list[int]] = {}
        self.ward_ready: dict[str, dict[str, tuple[int, str]]] = {}
        self.ward_ready_starts: dict[str, list[int]] = {}
        self.ward_wbc: dict[str, dict[str, list[tuple[int, int]]]] = {}
        self.enroute: dict[str, int] = {}
        self.ho: dict[str, list[int]] = {}
        # -- for the nowcast: arrival times of present SEH patients (sorted), ETAs of
        # rides en route (sorted), referrals by call id and destination, the calls and
        # rides that announced arrivals, and the SEH arrivals per hour (with what
        # announced them), all from the entities' contributions.
        self.seh_stay: dict[str, list[int]] = {s: [] for s in self.seh_ids}
        self.etas: dict[str, list[int]] = {}
        self.refs: dict[str, tuple[str, int, str]] = {}  # call_id -> (seh, issued, entity)
        self.refs_to: dict[str, dict[str, int]] = {}  # seh -> {call_id: issued}
        self.arrived_calls: dict[str, tuple[str, int]] = {}  # call_id -> (entity, arrival)
        self.ride_tx: dict[str, tuple[str, int]] = {}  # ride_id -> (entity, destination announced)
        self.arrivals: dict[int, dict[str, dict[str, tuple[int, str | None, str | None]]]] = {}
        # An SEH's figures and forecast at `now`, read by its rules and then by its
        # snapshot at the same instant: computed once per instant (cleared whenever the
        # state may have changed).
        self._nc_cache: dict[str, tuple[int, nowcast.Forecast]] = {}  # seh -> (now, forecast)
        self._core_cache: dict[str, tuple[int, dict[str, Any]]] = {}  # seh -> (now, seh_core)
        self._los_cum: dict[str, list[float]] = {}  # seh -> cumulative LOS histogram
        self._ref_cum: list[float] | None = None
        self.gc: list[tuple[int, str]] = []
        self._hosp_ward_beds: dict[str, int] = {}
        self._touched: set[str] = set()
        self._region_touched = False
        # The rules' scheduling state and caches (processors.rules): derived, so a
        # restored region steps every rule once at its first evaluation.
        self.alert_rules = Rules(self)
        # A minute change rebuilds only the snapshots whose figures can change by time
        # alone: the others would come out identical and not be emitted, so building
        # them would be work for nothing.
        self._snap_all = True  # first emission (and after restore): build everything
        self._built: dict[str, int] = {}  # SEH -> `now` of its last build
        # Long stays per ward as (count, valid through): the count only grows when `now`
        # passes the next `since + limit`, so it is recomputed then or when the ward's
        # occupants change, rather than searched per ward at every minute.
        self._long_stay: dict[str, tuple[int, int | None]] = {}
        # The region snapshot's sums as running totals, updated by the change of each
        # rebuilt hospital / SEH / follow-up snapshot, so building the region snapshot
        # does not cost a pass over all of them.
        self.region_sums = RegionSums(self)

    # ==================================================================== public API
    def offer(self, event: Event) -> tuple[str, list[Output]]:
        """Dedup and buffer one event: ("buffered" | "late" | "duplicate" | "held", outputs).

        "held": the clock guard keeps it until other events confirm its time range
        (processors.clockguard); events it lets through with it are buffered or applied
        here too. Events refused on the way are queued for `take_rejected`."""
        status, admitted = self.ingress.admit(event, self.now)
        if status == "duplicate":
            c = self.counters
            c["duplicates"] += 1
            by = c["duplicates_by_type"]
            by[event.type] = by.get(event.type, 0) + 1
            self._dirty.add("core")
            return "duplicate", []
        out: list[Output] = []
        for ev in admitted:
            entered, outputs = self._enter(ev)
            out.extend(outputs)
            if ev is event:
                status = entered
        if self.ingress.guard is not None:
            self._dirty.add("core")  # the guard's reference lives in `core`
        return status, out

    def _enter(self, event: Event) -> tuple[str, list[Output]]:
        """An admitted event: applied at once when behind the watermark, else buffered."""
        if self.wm is not None and event.time <= self.wm:
            self.counters["late"] += 1
            out = self._apply(event)
            self._settle(out)
            return "late", out
        self.ingress.buf.push(event)
        return "buffered", []

    def release(self, watermark_ms: int) -> list[Output]:
        """Apply buffered events with time <= watermark in (time, source, id) order.

        The watermark never passes the clock guard's reference: a partition whose reader
        saw a far-ahead event must not release (and so date) what is still held."""
        confirmed = self.ingress.confirmed_time
        if confirmed is not None:
            watermark_ms = min(watermark_ms, confirmed)
        out: list[Output] = []
        while (ev := self.ingress.next_due(watermark_ms, self.now)) is not None:
            out.extend(self._apply(ev))
        if self.wm is None or watermark_ms > self.wm:
            self.wm = watermark_ms
            self._dirty.add("core")
        self._settle(out)  # every event up to the watermark is in: the instant is complete
        return out

    @property
    def confirmed_time(self) -> int | None:
        """The latest event time the clock guard let through (None before any event, or
        without a guard): replays release up to this minus the lateness."""
        return self.ingress.confirmed_time

    def release_all(self) -> list[Output]:
        out: list[Output] = []
        while (ev := self.ingress.next_due(None, self.now)) is not None:
            out.extend(self._apply(ev))
        if self.now is not None and (self.wm is None or self.now > self.wm):
            self.wm = self.now
            self._dirty.add("core")
        self._settle(out)
        return out

    def finish(self) -> list[Output]:
        """End of a replay: the clock guard decides what it still holds, then everything
        is released."""
        self.ingress.finish()
        self._dirty.add("core")
        return self.release_all()

    def suspects(self) -> list[Event]:
        """After an exception escaped: the events that can have caused it (the one being
        applied, else those of the instant whose rules or snapshots failed); empty when
        no event is to blame (a timer's re-evaluation)."""
        return [self.applying] if self.applying is not None else list(self.unsettled)

    def take_rejected(self) -> list[tuple[Event, Rejected]]:
        """Events refused since the last call, with their reasons, in the order refused."""
        return self.ingress.take_rejected()

    def advance(self, now_ms: int) -> list[Output]:
        """Wall-clock timer: move `now` forward (never back) and re-evaluate the rules."""
        if self.now is not None and now_ms <= self.now:
            return []
        out: list[Output] = []
        self._settle(out)
        self._clock(now_ms)
        self.due = True
        self._settle(out)
        return out

    def snapshots(self) -> dict[str, dict[str, Any]]:
        """The last emitted snapshot data per key (with its own `as_of`)."""
        return {k: {**v, "as_of": format_time(self.snap_at[k])} for k, v in sorted(self.snaps.items())}

    def open_alerts(self) -> list[dict[str, Any]]:
        return [st["raised"] for _, st in sorted(self.rules.items()) if st.get("a") is not None and "raised" in st]

    @property
    def buffered(self) -> int:
        return len(self.ingress.buf)

    # -------------------------------------------------------------------- state
    def dump(self) -> dict[str, Any]:
        out: dict[str, Any] = {"core": self._core()}
        out.update(self.ents)
        for lid, v in self.locs.items():
            out[f"loc:{lid}"] = v
        for pid, t in self.partners.items():
            out[f"partner:{pid}"] = t
        out.update(self.rules)
        for k in self.snaps:
            out[f"snap:{k}"] = self._entry(f"snap:{k}")
        out.update(self.win.entries())
        out.update(self.ingress.entries())
        for lid, v in self.nc.items():
            out[f"nc:{lid}"] = v
        if self.nc_region is not None:
            out["nc:~"] = self.nc_region
        return out

    def take_changes(self) -> dict[str, Any]:
        """Entries changed since the last call (None = deleted). Values are live: the
        caller serialises them before applying more events."""
        out: dict[str, Any] = {}
        for k in self._dirty:
            out[k] = self._entry(k)
        self._dirty = set()
        out.update(self.win.take_dirty())
        out.update(self.ingress.take_dirty())
        return out

    @classmethod
    def restore(cls, registry: Registry, entries: dict[str, Any], **kw: Any) -> "RegionProcessor":
        p = cls(registry, **kw)
        # Own copies: the entries are mutated in place from here on.
        entries = orjson.loads(orjson.dumps(entries))
        snap_entries: dict[str, dict[str, Any]] = {}
        for k, v in entries.items():
            if v is None:
                continue
            prefix, _, rest = k.partition(":")
            if k == "core":
                p.now, p.wm, p.snap_min = v["now"], v["wm"], v["snap_min"]
                p.due = v.get("due", False)
                p.counters = v["counters"]
                if p.ingress.guard is not None:
                    p.ingress.guard.load_core(v.get("guard"))
            elif prefix in ("enc", "ride", "call"):
                p.ents[k] = v
            elif prefix == "loc":
                p.locs[rest] = v
            elif prefix == "partner":
                p.partners[rest] = v
            elif prefix == "rule":
                p.rules[k] = v
            elif prefix == "snap":
                snap_entries[rest] = v
            elif prefix == "win":
                p.win.load(int(rest), v)
            elif prefix == "nc":
                if rest == "~":
                    p.nc_region = v
                else:
                    p.nc[rest] = v
            elif p.ingress.load(prefix, rest, v):
                pass
        p.win.restore_clock(minute_of(p.now) if p.now is not None else None)
        p.ingress.rebuilt()
        for ekey in sorted(p.ents):
            c = _contribution(ekey, p.ents[ekey]["h"], p.registry)
            p.contrib[ekey] = c
            p._index(ekey, c, 1)
            if not has_membership(c):
                heapq.heappush(p.gc, (p.ents[ekey]["last"] + ENTITY_RETENTION_MS, ekey))
        p._restore_snapshots(snap_entries)
        p._touched = set()
        p._dirty = set()
        return p

    def _restore_snapshots(self, entries: dict[str, dict[str, Any]]) -> None:
        """Rebuild the last emitted snapshot contents (see the module docstring)."""
        for k, e in entries.items():
            self.snap_at[k] = e["t"]
            if "c" in e:  # the older layout with the full content
                self.snaps[k] = e["c"]
        for lid in sorted(self.registry.locations):
            key = self.location_keys[lid]
            e = entries.get(key)
            if e is not None and "c" not in e:
                self.snaps[key] = restore_time_fields(build_location(self, lid), e.get("x"))
        for h in self.hospital_ids:
            key = self.hospital_keys[h]
            if key in entries and "c" not in entries[key]:
                self.snaps[key] = build_hospital(self, h)
        self.region_sums.reset()
        e = entries.get(self.region_key)
        if e is not None and "c" not in e:
            self.snaps[self.region_key] = build_region(self)
        for k, e in entries.items():
            if "c" not in e and (k not in self.snaps or fingerprint(self.snaps[k]) != e["f"]):
                self._snap_force[k] = e

    def _core(self) -> dict[str, Any]:
        core = {"now": self.now, "wm": self.wm, "snap_min": self.snap_min, "due": self.due, "counters": self.counters}
        if self.ingress.guard is not None:
            core["guard"] = self.ingress.guard.core()
        return core

    def _entry(self, k: str) -> Any:
        if k == "core":
            return self._core()
        prefix, _, rest = k.partition(":")
        if prefix in ("enc", "ride", "call"):
            return self.ents.get(k)
        if prefix == "loc":
            return self.locs.get(rest)
        if prefix == "partner":
            return self.partners.get(rest)
        if prefix == "rule":
            return self.rules.get(k)
        if prefix == "nc":
            return self.nc_region if rest == "~" else self.nc.get(rest)
        if prefix == "snap":
            forced = self._snap_force.get(rest)
            if forced is not None:
                return forced
            c = self.snaps.get(rest)
            return None if c is None else snap_entry(c, self.snap_at[rest])
        raise KeyError(k)

    # ==================================================================== applying
    def _clock(self, t: int) -> None:
        if self.now is not None and t <= self.now:
            return
        prev = self.now
        self.now = t
        self._dirty.add("core")
        m = minute_of(t)
        if self.win.now_min is None or m > self.win.now_min:
            self.win.advance(m)
            for g in self.win.take_moved():
                self._touch_group(g)  # their window figures moved with the minute
            self.ingress.dedup.expire(m)
            self._collect_garbage()
            self._nowcast_hours(prev, t)

    def _settle(self, out: list[Output]) -> None:
        """Run the rules and build the snapshots at `now`, once all events of that instant
        are applied (metrics.md: rules run whenever the clock moves). Several events at one
        instant (a ward census, a batch) are thus judged together, never one by one, and the
        result does not depend on how the stream was cut into records."""
        if self.due:
            self.due = False
            self._dirty.add("core")
            self._nc_cache.clear()  # the state may have changed since the last instant at this time
            self._core_cache.clear()
            out.extend(self.alert_rules.evaluate(self._touched))
            self._emit_snapshots(out)
        self.unsettled.clear()

    def _apply(self, ev: Event) -> list[Output]:
        out: list[Output] = []
        if self.now is not None and ev.time > self.now:
            self._settle(out)  # the clock moves past an instant: judge it first
        # Everything that can fail on an event's content is worked out before any state
        # changes, so a refused or failing event leaves the state as if it never came.
        if self.quarantined and (ev.source, ev.id) in self.quarantined:
            self.ingress.rejected.append((ev, Rejected(
                Reason.PROCESSING_ERROR, f"applying {ev.type} failed half-way; the region was rebuilt without it")))
            return out
        try:
            change = self._prepare(ev)
        except Rejected as exc:
            self.ingress.rejected.append((ev, exc))
            return out
        except Exception as exc:  # noqa: BLE001 - one event's failure must not stop the region
            self.ingress.rejected.append((ev, Rejected(
                Reason.PROCESSING_ERROR, f"{type(exc).__name__} while applying {ev.type}")))
            return out
        c = self.counters
        if change is _ALREADY_APPLIED:
            c["duplicates"] += 1
            by = c["duplicates_by_type"]
            by[ev.type] = by.get(ev.type, 0) + 1
            self._dirty.add("core")
            return out
        self.applying = ev
        self._clock(ev.time)
        c["applied"] += 1
        by = c["applied_by_type"]
        by[ev.type] = by.get(ev.type, 0) + 1
        self._dirty.add("core")
        last = self.partners.get(ev.partner)
        # (in a nation, another region's ambulance reaching one of our SEHs is not one of
        # our feeds: its silence is its own region's business)
        if (last is None or ev.time > last) and ev.partner in self.registry.partners:
            self.partners[ev.partner] = ev.time
            self._dirty.add(f"partner:{ev.partner}")
            self.alert_rules.touch_partner(ev.partner)
        if ev.type == "capacity.reported":
            self._capacity(ev)
        elif ev.type == "seh.status_changed":
            self._status(ev)
        elif change is not None:
            self._entity_event(change, out)
        self.due = True
        self.applying = None
        self.unsettled.append(ev)
        if self._nc_cache or self._core_cache:
            self._nc_cache.clear()
            self._core_cache.clear()
        return out

    def _prepare(self, ev: Event) -> _EntityChange | object | None:
        """The entity change an event makes, computed without touching state: its new
        history and contribution (None for capacity and SEH status events;
        _ALREADY_APPLIED when its entity's history holds it already, e.g. a census
        re-sent after the dedup horizon). Raises Rejected for a contradiction."""
        ekey = _entity_key(ev)
        if ekey is None:
            return None
        ent = self.ents.get(ekey)
        h: list[list[Any]] = ent["h"] if ent is not None else []
        for e in h:
            if e[2] == ev.id and e[1] == ev.source:
                return _ALREADY_APPLIED
        if len(h) >= MAX_ENTITY_EVENTS:
            raise Rejected(Reason.TOO_LARGE, f"{ekey.partition(':')[0]} has {len(h)} events already, "
                                             f"the most one can have ({MAX_ENTITY_EVENTS})")
        if ev.type == "seh.arrived":
            loc = ev.data["location"]
            for e in effective_transitions(h):
                if e[3] == "seh.arrived" and e[4]["location"] != loc:
                    raise Rejected(
                        Reason.CONFLICT,
                        f"encounter arrived at {e[4]['location']} at {format_time(e[0])} already; "
                        f"an arrival at {loc} needs a new encounter_id (or cancel the first arrival)",
                    )
        row = [ev.time, ev.source, ev.id, ev.type, ev.data]
        k = (ev.time, ev.source, ev.id)
        if not h or (h[-1][0], h[-1][1], h[-1][2]) <= k:
            new_h = [*h, row]
        else:
            new_h = list(h)
            insort(new_h, row, key=lambda e: (e[0], e[1], e[2]))
        return _EntityChange(ekey, new_h, _contribution(ekey, new_h, self.registry))

    def _capacity(self, ev: Event) -> None:
        lid = ev.data["location"]
        st = self.locs.setdefault(lid, {})
        if st.get("beds_t") is None or ev.time >= st["beds_t"]:
            st["beds"], st["beds_t"] = int(ev.data["staffed_beds"]), ev.time
            self._dirty.add(f"loc:{lid}")
            self._touched.add(lid)
            loc = self.registry.locations[lid]
            if loc.kind == "ward":  # NEDOCS of the hospital's SEHs uses its ward beds
                self._hosp_ward_beds.pop(loc.partner, None)
                self._touched.update(self.sehs_of.get(loc.partner, ()))

    def _status(self, ev: Event) -> None:
        lid = ev.data["location"]
        st = self.locs.setdefault(lid, {})
        # Status changes in event time order, so a late one lands where it belongs and
        # `since` is the time of the last actual change. Only the last few are kept.
        hist = st.setdefault("status_h", [])
        row = [ev.time, ev.data["status"], ev.data.get("reason"), ev.data.get("expected_until")]
        insort(hist, row, key=lambda r: r[0])
        base = st.get("base") or ["open", None]  # the state after the trimmed changes
        if len(hist) > STATUS_HISTORY:
            for t, status, _reason, _until in hist[:-STATUS_HISTORY]:
                if status != base[0]:
                    base = [status, t]
            del hist[:-STATUS_HISTORY]
            st["base"] = base
        prev, since = base
        for t, status, _reason, _until in hist:
            if status != prev:
                since = t
            prev = status
        last = hist[-1]
        st["status"], st["since"] = last[1], since
        st["reason"], st["expected_until"] = last[2], last[3]
        self._dirty.add(f"loc:{lid}")
        self._touched.add(lid)

    def _entity_event(self, change: _EntityChange, out: list[Output]) -> None:
        ekey = change.key
        newest = change.history[-1][0]  # the history is in event-time order
        ent = self.ents.get(ekey)
        if ent is None:
            ent = self.ents[ekey] = {"h": change.history, "last": newest}
        else:
            ent["h"] = change.history
            if newest > ent["last"]:
                ent["last"] = newest
        self._dirty.add(ekey)
        self._update(ekey, out, change.contribution)

    def _update(self, ekey: str, out: list[Output], new: dict[str, Any]) -> None:
        ent = self.ents[ekey]
        old = self.contrib.get(ekey, _EMPTY)
        self.contrib[ekey] = new
        if not has_membership(new):
            heapq.heappush(self.gc, (ent["last"] + ENTITY_RETENTION_MS, ekey))
        if new == old:
            return
        self._index(ekey, old, -1)
        self._index(ekey, new, 1)
        win = self.win
        # Every group of the old and the new items is touched (which snapshots get rebuilt
        # must not change), but the window only gets the difference: an item in both is
        # left alone, so its bucket is not rewritten to the changelog unchanged.
        if old["counts"] != new["counts"]:
            gone, added = _diff(old["counts"], new["counts"])
            for m, g, s in gone:
                win.add_count(m, g, s, -1)
            for m, g, s in added:
                win.add_count(m, g, s, 1)
            for _m, g, _s in old["counts"]:
                self._touch_group(g)
            for _m, g, _s in new["counts"]:
                self._touch_group(g)
        if old["values"] != new["values"]:
            gone, added = _diff(old["values"], new["values"])
            for m, k, v in gone:
                win.remove_value(m, k, v)
            for m, k, v in added:
                win.add_value(m, k, v)
            for _m, k, _v in old["values"]:
                self._touch_group(k)
            for _m, k, _v in new["values"]:
                self._touch_group(k)
        if new["obs"] != old["obs"]:
            for o in sorted(set(new["obs"]) - set(old["obs"])):
                name, label, lv, ms, t = o
                out.append(Output("observation", name, t, {
                    "labels": {"region": self.region, label: lv}, "seconds": ms / 1000.0,
                }))

    def _touch_group(self, g: str) -> None:
        _, sep, lid = g.partition("|")
        if sep:
            self._touched.add(lid)
        else:
            self._region_touched = True  # a region-level window (calls, rides, responses)

    def _index(self, ekey: str, c: dict[str, Any], sign: int) -> None:
        """Add (sign 1) or remove (sign -1) an entity's memberships in the indexes."""
        touched = self._touched
        s = c["seh"]
        if s is not None:
            loc, waiting, board, crit = s
            n = self.seh_n.setdefault(loc, [0, 0, 0, 0])
            n[0] += sign
            n[1] += sign if waiting else 0
            n[2] += sign if board is not None else 0
            n[3] += sign if crit else 0
            if board is not None:
                _sorted_change(self.seh_board.setdefault(loc, []), board, sign)
            touched.add(loc)
        ts = c["ts"]
        if ts is not None:
            loc, t, wait = ts
            d = self.seh_ts.setdefault(loc, {})
            best = self.seh_best.get(loc)
            if sign > 0:
                d[ekey] = (t, wait)
                if best is None or (t, ekey) > (best[0], best[1]):
                    self.seh_best[loc] = (t, ekey, wait)
            else:
                d.pop(ekey, None)
                if best is not None and best[1] == ekey:
                    self.seh_best[loc] = max(((v[0], k, v[1]) for k, v in d.items()), default=None)
            touched.add(loc)
        w = c["ward"]
        if w is not None:
            loc, since = w
            _sorted_change(self.ward_since.setdefault(loc, []), since, sign)
            self._long_stay.pop(loc, None)
            touched.add(loc)
        r = c["ready"]
        if r is not None:
            loc, start, wf = r
            d2 = self.ward_ready.setdefault(loc, {})
            if sign > 0:
                d2[ekey] = (start, wf)
            else:
                d2.pop(ekey, None)
            _sorted_change(self.ward_ready_starts.setdefault(loc, []), start, sign)
            touched.add(loc)
        if c["wbc"]:
            by_loc: dict[str, list[tuple[int, int]]] = {}
            for loc, s0, e0 in c["wbc"]:
                by_loc.setdefault(loc, []).append((s0, e0))
            for loc, ivs in by_loc.items():
                d3 = self.ward_wbc.setdefault(loc, {})
                if sign > 0:
                    d3[ekey] = ivs
                else:
                    d3.pop(ekey, None)
                touched.add(loc)
        er = c["enroute"]
        if er is not None:
            self.enroute[er] = self.enroute.get(er, 0) + sign
            touched.add(er)
        ho = c["ho"]
        if ho is not None:
            loc, start = ho
            _sorted_change(self.ho.setdefault(loc, []), start, sign)
            touched.add(loc)
        if c["stay"] is not None or c["arrival"] is not None or c["eta"] is not None \
                or c["tx"] is not None or c["ref"] is not None:
            self._index_nowcast(ekey, c, sign)

    def _index_nowcast(self, ekey: str, c: dict[str, Any], sign: int) -> None:
        """The nowcast's indexes (see _reset_derived) for one entity's contribution."""
        touched = self._touched
        stay = c["stay"]
        if stay is not None:
            _sorted_change(self.seh_stay.setdefault(stay[0], []), stay[1], sign)
        arr = c["arrival"]
        if arr is not None:
            loc, t, ride, call = arr
            hour = nowcast.hour_of(t)
            if sign > 0:
                self.arrivals.setdefault(hour, {}).setdefault(loc, {})[ekey] = (t, ride, call)
                if call:
                    self.arrived_calls[call] = (ekey, t)
            else:
                self.arrivals.get(hour, {}).get(loc, {}).pop(ekey, None)
                if call and self.arrived_calls.get(call, ("",))[0] == ekey:
                    del self.arrived_calls[call]
            touched.add(loc)
        eta = c["eta"]
        if eta is not None:
            _sorted_change(self.etas.setdefault(eta[0], []), eta[1], sign)
            touched.add(eta[0])
        tx = c["tx"]
        if tx is not None:
            if sign > 0:
                self.ride_tx[tx[0]] = (ekey, tx[1])
            elif self.ride_tx.get(tx[0], ("",))[0] == ekey:
                del self.ride_tx[tx[0]]
        ref = c["ref"]
        if ref is not None:
            call, dest, issued = ref
            if sign > 0:
                self.refs[call] = (dest, issued, ekey)
                self.refs_to.setdefault(dest, {})[call] = issued
            elif self.refs.get(call, ("", 0, ""))[2] == ekey:
                del self.refs[call]
                self.refs_to.get(dest, {}).pop(call, None)
            touched.add(dest)

    # ==================================================================== nowcast
    def _nc_seh(self, lid: str) -> dict[str, Any]:
        st = self.nc.get(lid)
        return st if st is not None else nowcast.empty_seh()

    def _lead(self, t: int, ride: str | None, call: str | None) -> int | None:
        """How long before arrival `t` it was announced (None: it was not)."""
        lead = None
        if ride:
            tx = self.ride_tx.get(ride)
            if tx is not None:
                lead = t - tx[1]
        if call:
            ref = self.refs.get(call)
            if ref is not None and (lead is None or t - ref[1] > lead):
                lead = t - ref[1]
        return lead

    def _prior(self, lid: str, hour: int, st: dict[str, Any]) -> float:
        return nowcast.prior_rate(hour, self.beds(lid), self.registry.locations[lid].expected_arrivals_per_hour,
                                  st, self.nc_params)

    def _nowcast_hours(self, prev: int | None, now: int) -> None:
        """Close the hours that ended since the clock was last moved: each SEH's
        arrivals and departures of the hour go into its history, the referral delays
        into the region's. Hours without any event of the region (a feed outage, a
        restart after a pause) are skipped rather than learnt as hours without arrivals."""
        hour = nowcast.hour_of(now)
        nr = self.nc_region
        if nr is None:
            # the stream starts part-way through this hour: it is not learnt from
            self.nc_region = nowcast.empty_region(self.nc_params.referral_max_ms)
            self.nc_region["h"] = hour
            self._dirty.add("nc:~")
            return
        last = nr["h"]
        if last is None or hour - 1 <= last:
            return
        # hours after the one of the previous event had no event at all
        upto = min(hour, nowcast.hour_of(prev) + 1) if prev is not None else hour
        for h in range(max(last + 1, hour - 48), upto):
            self._close_hour(h)
        self.nc_region = dict(self.nc_region, h=hour - 1)
        self._dirty.add("nc:~")
        for old in [k for k in self.arrivals if k < hour - 48]:
            del self.arrivals[old]  # only the current and the last hour are read

    def _close_hour(self, h: int) -> None:
        pr = self.nc_params
        start, end = h * HOUR_MS, (h + 1) * HOUR_MS
        stays: dict[str, list[int]] = {}
        buckets = self.win.buckets
        for m in range(start // MINUTE_MS, end // MINUTE_MS):
            b = buckets.get(m)
            if b is None:
                continue
            for key, vals in b["v"].items():
                if key.startswith("los|"):
                    stays.setdefault(key[4:], []).extend(vals)
        arrived = self.arrivals.get(h, {})
        delays: list[int] = []
        for lid in self.seh_ids:
            un = 0.0
            n = 0
            for ekey in sorted(arrived.get(lid, {})):
                t, ride, call = arrived[lid][ekey]
                un += nowcast.unannounced_weight(self._lead(t, ride, call))
                n += 1
                ref = self.refs.get(call) if call else None
                if ref is not None and t - ref[1] < pr.referral_max_ms:
                    delays.append(max(0, t - ref[1]))
            st = self._nc_seh(lid)
            forecast = nowcast.slot_rate(st, h, self._prior(lid, h, st), pr)
            st = nowcast.close_seh_hour(st, h, un, n, sorted(stays.get(lid, ())), forecast, pr)
            # what is expected of the departures of the hour that begins now (the
            # clock is just past its start), to compare with what comes
            los_cum = nowcast.cumulative(st["los"])
            start_next = end
            expected_next = nowcast.expected_departures(
                los_cum, [start_next - t for t in self.seh_stay.get(lid, ()) if t <= start_next], pr)
            self.nc[lid] = nowcast.close_departures(st, h, len(stays.get(lid, ())), expected_next, pr)
            self._dirty.add(f"nc:{lid}")
            self._los_cum[lid] = los_cum
        # referrals whose horizon ended in this hour without an arrival before it
        expired = 0
        for call, (_dest, issued, _ekey) in self.refs.items():
            due = issued + pr.referral_max_ms
            if start <= due < end:
                came = self.arrived_calls.get(call)
                if came is None or came[1] >= due:
                    expired += 1
        assert self.nc_region is not None
        self.nc_region = nowcast.close_region_hour(self.nc_region, h, sorted(delays), expired, pr)
        self._ref_cum = None

    def seh_forecast(self, lid: str) -> nowcast.Forecast:
        """The SEH's forecast for the next 60 minutes at `now` (cached per settle)."""
        now = self.now or 0
        cached = self._nc_cache.get(lid)
        if cached is not None and cached[0] == now:
            return cached[1]
        pr = self.nc_params
        st = self._nc_seh(lid)
        hour = nowcast.hour_of(now)
        partial = 0.0
        for t, ride, call in self.arrivals.get(hour, {}).get(lid, {}).values():
            if t <= now:
                partial += nowcast.unannounced_weight(self._lead(t, ride, call))
        unannounced = nowcast.expected_unannounced(
            st, now, self._prior(lid, hour, st), self._prior(lid, hour + 1, st), partial, pr)
        los_cum = self._los_cum.get(lid)
        if los_cum is None:
            los_cum = self._los_cum[lid] = nowcast.cumulative(st["los"])
        ref_cum = self._ref_cum
        nr = self.nc_region or nowcast.empty_region(pr.referral_max_ms)
        if ref_cum is None:
            ref_cum = self._ref_cum = nowcast.cumulative([*nr["ref"], 0.0])
        arrived = self.arrived_calls
        ages = [now - issued for call, issued in self.refs_to.get(lid, {}).items()
                if call not in arrived and issued <= now]
        core = self.seh_core(lid)
        fc, _announced = nowcast.predict(
            now=now, core=core, ward_beds=self.hospital_ward_beds(self.registry.locations[lid].partner),
            etas=self.etas.get(lid, []), referral_ages_ms=sorted(ages), ref_cum=ref_cum, never=nr["never"],
            stayed_ms=[now - t for t in self.seh_stay.get(lid, ())], los_cum=los_cum,
            unannounced=unannounced, pr=pr, departure_factor=nowcast.departure_ratio(st, pr))
        self._nc_cache[lid] = (now, fc)
        return fc

    def _collect_garbage(self) -> None:
        now = self.now
        assert now is not None
        gc = self.gc
        while gc and gc[0][0] <= now:
            _, ekey = heapq.heappop(gc)
            ent = self.ents.get(ekey)
            if ent is None or ent["last"] + ENTITY_RETENTION_MS > now:
                continue
            c = self.contrib.get(ekey, _EMPTY)
            if has_membership(c):
                continue
            self._index(ekey, c, -1)
            del self.ents[ekey]
            self.contrib.pop(ekey, None)
            self._dirty.add(ekey)

    def mark_changed(self, entry: str) -> None:
        """State entry `entry` changed: the next `take_changes` returns it."""
        self._dirty.add(entry)

    # ==================================================================== metrics
    def beds(self, lid: str) -> int:
        st = self.locs.get(lid)
        if st is not None and "beds" in st:
            return st["beds"]
        return self.registry.locations[lid].staffed_beds

    def hospital_ward_beds(self, hospital: str) -> int:
        n = self._hosp_ward_beds.get(hospital)
        if n is None:
            n = self._hosp_ward_beds[hospital] = sum(self.beds(w) for w in self.wards_of.get(hospital, ()))
        return n

    def seh_core(self, lid: str) -> dict[str, Any]:
        """The live SEH figures NEDOCS needs (exact, unrounded)."""
        now = self.now or 0
        cached = self._core_cache.get(lid)
        if cached is not None and cached[0] == now:
            return cached[1]
        patients, waiting, boarders, critical = self.seh_n.get(lid, (0, 0, 0, 0))
        board = self.seh_board.get(lid)
        longest_boarding_h = max(0, now - board[0]) / HOUR_MS if board else 0.0
        best = self.seh_best.get(lid)
        last_wait_h = best[2] / HOUR_MS if best is not None and best[0] > now - DAY_MS else 0.0
        staffed = self.beds(lid)
        hosp = self.registry.locations[lid].partner
        nd = nedocs(
            patients=patients,
            seh_staffed_beds=staffed,
            boarders=boarders,
            hospital_ward_staffed_beds=self.hospital_ward_beds(hosp),
            critical=critical,
            longest_boarding_hours=longest_boarding_h,
            last_bed_wait_hours=last_wait_h,
        )
        core = {
            "patients": patients, "waiting": waiting, "boarders": boarders, "critical": critical,
            "staffed_beds": staffed, "longest_boarding_hours": longest_boarding_h,
            "last_bed_wait_hours": last_wait_h, "nedocs": nd,
        }
        self._core_cache[lid] = (now, core)
        return core

    def status(self, lid: str) -> tuple[str, int | None]:
        st = self.locs.get(lid) or {}
        return st.get("status", "open"), st.get("since")

    def occupied(self, lid: str) -> int:
        return len(self.ward_since.get(lid, ()))

    def long_stay(self, lid: str) -> int:
        loc = self.registry.locations[lid]
        if loc.bed_type is None or self.now is None:
            return 0
        days = self.th.long_stay_days.get(loc.bed_type)
        if days is None:
            return 0
        now = self.now
        cached = self._long_stay.get(lid)
        if cached is not None and (cached[1] is None or now <= cached[1]):
            return cached[0]
        lst = self.ward_since.get(lid, [])
        limit = int(days * DAY_MS)
        # on the ward longer than the limit: since < now - limit
        n = bisect_left(lst, now - limit)
        # the same while now - limit <= lst[n], i.e. now <= lst[n] + limit
        self._long_stay[lid] = (n, lst[n] + limit if n < len(lst) else None)
        return n

    def wrong_bed_patients(self, lid: str) -> int:
        return len(self.ward_ready.get(lid, ()))

    # ==================================================================== rules
    def escalation_level(self) -> int:
        """The regional escalation level (1..4), for the region snapshot."""
        return rules.escalation_level(self)

    # ==================================================================== snapshots
    def _emit_snapshots(self, out: list[Output]) -> None:
        now = self.now
        if now is None:
            return
        m = minute_of(now)
        everything = m != self.snap_min
        full = everything and self._snap_all
        if everything:
            self.snap_min = m
            self._dirty.add("core")
        # Locations whose state changed are built anew; on a new minute, those whose
        # state did not change but whose figures move with the clock get only those
        # figures recomputed (the others would be rebuilt to identical content).
        clock_only: set[str] = set()
        if full:
            self._snap_all = False
            locs = sorted(self.registry.locations)
        else:
            if everything:
                clock_only = self._time_driven(now) - self._touched
            locs = sorted(self._touched | clock_only)
        self._touched = set()
        changed: list[tuple[str, dict[str, Any]]] = []
        locations = self.registry.locations
        built = self._built
        snaps = self.snaps
        rebuilt_h: set[str] = set()  # hospitals with a location whose state changed
        clock_h: set[str] = set()  # hospitals with a ward whose clock figures changed
        for lid in locs:
            key = self.location_keys[lid]
            loc = locations[lid]
            if loc.kind == "seh":
                built[lid] = now
            old = snaps.get(key)
            if lid in clock_only and old is not None:
                if self._put(key, refresh_location(self, lid, old), changed) and loc.kind != "seh":
                    clock_h.add(loc.partner)  # an SEH's clock figures are not summed
            elif self._put(key, build_location(self, lid), changed):
                rebuilt_h.add(loc.partner)
        # A hospital snapshot is a pure function of its locations' snapshots: rebuild
        # it only when one of them changed, and refresh only its clock sums when only
        # its wards' clock figures did.
        hospital_ids = self.hospital_ids
        hosps = hospital_ids if full else sorted((rebuilt_h | clock_h).intersection(hospital_ids))
        for h in hosps:
            key = self.hospital_keys[h]
            old = snaps.get(key)
            if h not in rebuilt_h and not full and old is not None:
                self._put(key, refresh_hospital(self, h, old), changed)
            else:
                self._put(key, build_hospital(self, h), changed)
        # The region is built from the location and hospital snapshots, its own windows
        # and the escalation level: rebuild it only when one of those moved.
        if self._region_touched:
            self.region_sums.windows = None  # the region's window figures moved: read them anew
        last = self.snaps.get(self.region_key)
        if (
            full
            or changed
            or self._region_touched
            or last is None
            or last["escalation_level"] != self.escalation_level()
        ):
            self._put(self.region_key, build_region(self), changed)
        self._region_touched = False
        if changed:
            as_of = format_time(now)
            for key, content in sorted(changed, key=lambda kc: kc[0]):
                out.append(Output("snapshot", key, now, {**content, "as_of": as_of}))

    def _time_driven(self, now: int) -> set[str]:
        """Untouched locations whose snapshot may change with the clock alone (the
        window groups that moved with the minute are already in `_touched`)."""
        # Every SEH: its nowcast moves with the clock (stays lengthen, the span slides),
        # and with it the figures that move anyway (boarding, handovers, the last bed wait).
        out: set[str] = set(self.seh_ids)
        snaps = self.snaps
        keys = self.location_keys
        for lid in self.ward_ids:
            if self.ward_ready.get(lid) or self.ward_wbc.get(lid):
                out.add(lid)  # wrong-bed days accrue
                continue
            snap = snaps.get(keys[lid])
            if snap is None or snap["long_stay_patients"] != self.long_stay(lid):
                out.add(lid)
        for lid in self.followup_ids:
            if self.ward_ready.get(lid) or self.ward_wbc.get(lid):
                out.add(lid)
                continue
            snap = snaps.get(keys[lid])
            if snap is None or snap["long_stay_patients"] != self.long_stay(lid):
                out.add(lid)
        return out

    def _put(self, key: str, content: dict[str, Any], changed: list[tuple[str, dict[str, Any]]]) -> bool:
        old = self.snaps.get(key)
        if old != content or key in self._snap_force:
            self._snap_force.pop(key, None)
            self.snaps[key] = content
            self.snap_at[key] = self.now  # type: ignore[assignment]
            self._dirty.add(f"snap:{key}")
            changed.append((key, content))
            self.region_sums.update(key, old, content)
            return True
        return False


def _diff(old: tuple[Any, ...], new: tuple[Any, ...]) -> tuple[list[Any], list[Any]]:
    """The items only in `old` and only in `new` (as multisets; the lists are short)."""
    gone = list(old)
    added = []
    for it in new:
        try:
            gone.remove(it)
        except ValueError:
            added.append(it)
    return gone, added


def _sorted_change(lst: list[int], value: int, sign: int) -> None:
    if sign > 0:
        insort(lst, value)
    else:
        i = bisect_left(lst, value)
        if i < len(lst) and lst[i] == value:
            del lst[i]
