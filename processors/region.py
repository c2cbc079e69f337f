"""RegionProcessor: the facade of the domain core for one region (docs/internals.md).

It takes validated events, deduplicates and reorders them, applies them in event-time
order to the region's state, evaluates the rules after each instant and returns the
outputs: snapshots that changed, alerts raised or resolved, and observations for
histograms. It wires the parts that do the work, one concern each:

- `processors.ingress`: too_old, dedup, the clock guard, the reorder buffer;
- `processors.entities`: an event's entity and the change it makes (its new history
  and `Contribution`, from the folds), worked out before anything changes;
- `processors.index`: who is where (memberships), the contributions, the retention queue;
- `processors.windows`: the 1h/24h window buckets and totals;
- `processors.nowcast_region`: the nowcast's history, indexes and forecasts;
- `processors.rules` / `processors.evaluation`: what each alert rule is, and when it is
  stepped;
- `processors.emission` / `processors.snapshot`: which snapshots to build at an
  instant, and their content.

The parts read the region through `processors.view.RegionView`; what stays here is the
clock, the state's fields and applying an event.

State is a set of string-keyed entries of plain JSON values (their names, the dump,
the change feed and the restore: `processors.state`).

An entity (call, ride, encounter) contributes to the aggregates through a contribution
derived from its own history; on each change the old contribution is subtracted and the
new one added, so per-event cost is independent of the number of open encounters.
Closed entities are forgotten 24h of stream time after their last event (windows keep
the aggregated buckets, not the entities).
"""

from __future__ import annotations

from bisect import insort
from typing import Any


from processors import entities, nowcast, rules, state
from processors.contribution import EMPTY, Contribution
from processors.crowding import SehFigures, nedocs
from processors.emission import Snapshots
from processors.evaluation import Rules
from processors.index import Memberships
from processors.ingress import DEFAULT_RETENTION_MS, Ingress
from processors.nowcast_region import RegionNowcast
from processors.output import Output
from processors.windows import MINUTE_MS, Windows, minute_of
from topics.codec import format_time
from topics.event import Event, Reason, Rejected
from topics.registry import Registry

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
STATUS_HISTORY = 16  # SEH status changes kept per location (late ones land in order)


class RegionProcessor:
    def __init__(
        self,
        registry: Registry,
        *,
        reorder_lateness_ms: int = 120_000,
        retention_ms: int = DEFAULT_RETENTION_MS,
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
        self.bedded_ids = self.ward_ids + self.followup_ids  # locations with beds (wards, follow-up)
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
        self.snaps: dict[str, dict[str, Any]] = {}  # the last emitted content per key (without as_of)
        self.win = Windows()
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
        # Locations whose figures changed since the rules and snapshots last ran: the
        # indexes below add to it, `_emit_snapshots` empties it.
        self._touched: set[str] = set()
        # Locations reported on since then without a change of their figures (see
        # `_capacity`): their clock-driven figures are brought up to date at the instant.
        self._reported: set[str] = set()
        # Who is where (processors.index): memberships of the open entities, their
        # contributions, the retention queue.
        self.index = Memberships(registry, self.seh_ids, self._touched)
        # The nowcast (processors.nowcast_region): its history (`nc:` entries, state),
        # indexes and forecasts.
        self.nowcast = RegionNowcast(registry, self.seh_ids, self._touched, self.mark_changed)
        # An SEH's figures (and its forecast, in the nowcast) at `now`, read by its rules
        # and then by its snapshot at the same instant: computed once per instant
        # (forgotten whenever the state may have changed).
        self._core_cache: dict[str, tuple[int, SehFigures]] = {}  # seh -> (now, seh_core)
        self._hosp_ward_beds: dict[str, int] = {}
        # The rules' scheduling state and caches (processors.evaluation): derived, so a
        # restored region steps every rule once at its first evaluation.
        self.alert_rules = Rules(self)
        # The last emitted snapshots and what to build at an instant (processors.emission);
        # its running sums are those the region snapshot reads.
        self.emission = Snapshots(self, self.snaps)

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

    def release_step(self, watermark_ms: int | None, limit: int) -> tuple[list[Output], bool]:
        """`release(watermark_ms)` (None: `release_all`) in steps of at most about
        `limit` events, whole minutes at a time; returns the outputs and whether events
        due by `watermark_ms` remain for another step. The steps apply the same events in
        the same order as one release (rules and snapshots run per instant, and a step
        ends between two instants), with a bounded change set each: after an outage a
        backlog is due at once."""
        bound = watermark_ms
        confirmed = self.ingress.confirmed_time
        if bound is not None and confirmed is not None:
            bound = min(bound, confirmed)
        step = self.ingress.buf.step_watermark(bound, limit)
        if step is None:
            return self.release_all(), False
        if step == bound:
            return self.release(step), False
        return self.release(step), True

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
        at = self.emission.at
        return {k: {**v, "as_of": format_time(at[k])} for k, v in sorted(self.snaps.items())}

    def open_alerts(self) -> list[dict[str, Any]]:
        return [st["raised"] for _, st in sorted(self.rules.items()) if st.get("a") is not None and "raised" in st]

    @property
    def buffered(self) -> int:
        return len(self.ingress.buf)

    # -------------------------------------------------------------------- state
    def dump(self) -> dict[str, Any]:
        """Every state entry (processors.state)."""
        return state.dump(self)

    def take_changes(self) -> dict[str, Any]:
        """Entries changed since the last call (None = deleted). Values are live: the
        caller serialises them before applying more events."""
        return state.take_changes(self)

    @classmethod
    def restore(cls, registry: Registry, entries: dict[str, Any], owned: bool = False, **kw: Any) -> "RegionProcessor":
        """A processor rebuilt from its entries (processors.state; `owned`: decoded for
        this restore alone, they become the processor's own without a copy)."""
        p = cls(registry, **kw)
        state.load(p, entries, owned)
        return p

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
            self.nowcast.close_hours(prev, t, self.win.buckets, self.beds)

    def _settle(self, out: list[Output]) -> None:
        """Run the rules and build the snapshots at `now`, once all events of that instant
        are applied (metrics.md: rules run whenever the clock moves). Several events at one
        instant (a ward census, a batch) are thus judged together, never one by one, and the
        result does not depend on how the stream was cut into records."""
        if self.due:
            self.due = False
            self._dirty.add("core")
            self.nowcast.forget_forecasts()  # the state may have changed since the last instant at this time
            self._core_cache.clear()
            out.extend(self.alert_rules.evaluate(self._touched, self._reported))
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
            change = entities.prepare(ev, self.ents, self.registry)
        except Rejected as exc:
            self.ingress.rejected.append((ev, exc))
            return out
        except Exception as exc:  # noqa: BLE001 - one event's failure must not stop the region
            self.ingress.rejected.append((ev, Rejected(
                Reason.PROCESSING_ERROR, f"{type(exc).__name__} while applying {ev.type}")))
            return out
        c = self.counters
        if change is entities.ALREADY_APPLIED:
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
            self._entity_event(change, out)  # type: ignore[arg-type]
        self.due = True
        self.applying = None
        self.unsettled.append(ev)
        if self._core_cache:
            self.nowcast.forget_forecasts()
            self._core_cache.clear()
        return out

    def _capacity(self, ev: Event) -> None:
        lid = ev.data["location"]
        st = self.locs.setdefault(lid, {})
        if st.get("beds_t") is None or ev.time >= st["beds_t"]:
            before = self.beds(lid)
            st["beds"], st["beds_t"] = int(ev.data["staffed_beds"]), ev.time
            self._dirty.add(f"loc:{lid}")
            loc = self.registry.locations[lid]
            # Most reports repeat the beds (a census every few minutes): then no figure
            # changes, and the location and its hospital's SEHs are only `reported`: at
            # this instant their clock-driven figures and rules are brought up to date,
            # as a rebuild would, without rebuilding them.
            marks = self._touched if st["beds"] != before else self._reported
            marks.add(lid)
            if loc.kind == "ward":  # NEDOCS of the hospital's SEHs uses its ward beds
                if marks is self._touched:
                    self._hosp_ward_beds.pop(loc.partner, None)
                marks.update(self.sehs_of.get(loc.partner, ()))

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

    def _entity_event(self, change: entities.EntityChange, out: list[Output]) -> None:
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

    def _update(self, ekey: str, out: list[Output], new: Contribution) -> None:
        ent = self.ents[ekey]
        contributions = self.index.contributions
        old = contributions.get(ekey, EMPTY)
        contributions[ekey] = new
        if not new.has_membership():
            self.index.retain(ekey, ent["last"])
        if new == old:
            return
        self._index(ekey, old, -1)
        self._index(ekey, new, 1)
        win = self.win
        # Every group of the old and the new items is touched (which snapshots get rebuilt
        # must not change), but the window only gets the difference: an item in both is
        # left alone, so its bucket is not rewritten to the changelog unchanged.
        if old.counts != new.counts:
            gone, added = _diff(old.counts, new.counts)
            for m, g, s in gone:
                win.add_count(m, g, s, -1)
            for m, g, s in added:
                win.add_count(m, g, s, 1)
            for _m, g, _s in old.counts:
                self._touch_group(g)
            for _m, g, _s in new.counts:
                self._touch_group(g)
        if old.values != new.values:
            gone, added = _diff(old.values, new.values)
            for m, k, v in gone:
                win.remove_value(m, k, v)
            for m, k, v in added:
                win.add_value(m, k, v)
            for _m, k, _v in old.values:
                self._touch_group(k)
            for _m, k, _v in new.values:
                self._touch_group(k)
        if new.obs != old.obs:
            for o in sorted(set(new.obs) - set(old.obs)):
                name, label, lv, ms, t = o
                out.append(Output("observation", name, t, {
                    "labels": {"region": self.region, label: lv}, "seconds": ms / 1000.0,
                }))

    def _touch_group(self, g: str) -> None:
        _, sep, lid = g.partition("|")
        if sep:
            self._touched.add(lid)
        else:
            self.emission.region_touched = True  # a region-level window (calls, rides, responses)

    def _index(self, ekey: str, c: Contribution, sign: int) -> None:
        """Add (sign 1) or remove (sign -1) an entity's contribution in the indexes."""
        self.index.apply(ekey, c, sign)
        if c.stay is not None or c.arrival is not None or c.eta is not None \
                or c.announced is not None or c.referral is not None:
            self.nowcast.apply(ekey, c, sign)

    def seh_forecast(self, lid: str) -> nowcast.Forecast:
        """The SEH's forecast for the next 60 minutes at `now` (once per instant)."""
        now = self.now or 0
        fc = self.nowcast.cached(lid, now)
        if fc is None:
            fc = self.nowcast.forecast(lid, now, self.seh_core(lid), self.beds(lid),
                                       self.hospital_ward_beds(self.registry.locations[lid].partner))
        return fc

    def _collect_garbage(self) -> None:
        """Forget the entities without an open place a retention after their last event."""
        assert self.now is not None
        for ekey in self.index.expired(self.now, self.ents):
            self._index(ekey, self.index.contributions.pop(ekey, EMPTY), -1)
            del self.ents[ekey]
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

    def seh_core(self, lid: str) -> SehFigures:
        """The live SEH figures NEDOCS needs (exact, unrounded)."""
        now = self.now or 0
        cached = self._core_cache.get(lid)
        if cached is not None and cached[0] == now:
            return cached[1]
        index = self.index
        counts = index.seh_counts.get(lid)
        if counts is None:
            patients = waiting = boarders = critical = 0
        else:
            patients, waiting = counts.patients, counts.waiting
            boarders, critical = counts.boarders, counts.critical
        board = index.boarding.get(lid)
        longest_boarding_h = max(0, now - board[0]) / HOUR_MS if board else 0.0
        best = index.last_treatment.get(lid)
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
        core = SehFigures(patients, waiting, boarders, critical, staffed, longest_boarding_h, last_wait_h, nd)
        self._core_cache[lid] = (now, core)
        return core

    def status(self, lid: str) -> tuple[str, int | None]:
        st = self.locs.get(lid) or {}
        return st.get("status", "open"), st.get("since")

    def occupied(self, lid: str) -> int:
        return self.index.occupied(lid)

    def long_stay(self, lid: str) -> int:
        return self.index.long_stay(lid, self.now)

    def wrong_bed_patients(self, lid: str) -> int:
        return self.index.wrong_bed_patients(lid)

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
        new_minute = m != self.snap_min
        if new_minute:
            self.snap_min = m
            self._dirty.add("core")
        self.emission.emit(now, new_minute, self._touched, self._reported, out)

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

