"""Bad input the validator cannot judge alone: it takes the region's state (issue 11).

- the clock guard: a far-ahead event time moves nothing unless confirmed;
- `too_old` for SEH arrivals a day behind the clock, judged at release too;
- `conflict`: a second SEH arrival of an open encounter elsewhere;
- `processing_error`: an event whose fold fails leaves the state as if it never came;
- a response time that would be negative is no response time.
Every case checks the reason *and* that the metrics are those of the clean feed.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

import processors.entities as entities_module
from processors.region import RegionProcessor
from tests.processors._factory import DAY, MIN, T0, Factory, registry
from topics.codec import format_time, parse_time
from topics.event import Event, Reason, Rejected
from topics.registry import Registry, parse_registry

SEH = "location:h1-seh"


def replay(proc: RegionProcessor, events: list[Event], lateness: int = 0) -> list[tuple[str, Reason]]:
    """The replay's loop (processors.replay): offer, release up to the confirmed time
    minus the lateness, and at the end finish. Returns (event id, reason) refused."""
    refused: list[tuple[str, Reason]] = []
    for e in events:
        try:
            status, _ = proc.offer(e)
        except Rejected as exc:
            refused.append((e.id, exc.reason))
            continue
        if status != "duplicate" and proc.confirmed_time is not None:
            proc.release(proc.confirmed_time - lateness)
        refused += [(ev.id, exc.reason) for ev, exc in proc.take_rejected()]
    proc.finish()
    refused += [(ev.id, exc.reason) for ev, exc in proc.take_rejected()]
    return refused


def guarded(reg: Any = None) -> RegionProcessor:
    return RegionProcessor(reg or registry(), reorder_lateness_ms=0, clock_guard=True)


def at(f: Factory, ev: Event, iso: str) -> Event:
    """The same event at another time (a typo in the partner's clock)."""
    return Event(ev.id, ev.source, ev.partner, ev.type, parse_time(iso), ev.data)


def clean_feed(f: Factory) -> list[Event]:
    """Two SEH patients at h1 and capacity reports of h2 every minute for 30 minutes."""
    events = [f.arrive(0, "P1"), f.arrive(1, "P2"), f.triage(2, "P1", "U2")]
    events += [f.capacity(m, "h2-kl", 50, partner="h2") for m in range(3, 33)]
    return events


# ----------------------------------------------------------------- the clock guard
@pytest.mark.parametrize("iso", ["9999-12-31T23:59:59Z", "2207-01-01T00:05:00Z", "2026-01-02T00:00:00Z"])
def test_one_far_ahead_event_moves_nothing_and_is_dead_lettered(iso: str) -> None:
    f = Factory()
    clean = clean_feed(f)
    poison = at(f, f.arrive(0, "TYPO"), iso)
    ref = guarded()
    assert replay(ref, clean) == []
    proc = guarded()
    refused = replay(proc, clean[:2] + [poison] + clean[2:])
    assert refused == [(poison.id, Reason.FUTURE_TIME)]
    assert proc.snapshots() == ref.snapshots()
    assert proc.now == T0 + 32 * MIN
    assert proc.snapshots()[SEH]["patients"] == 2


def test_a_held_event_expires_after_enough_later_events() -> None:
    """In the pipeline there is no end of input: a held event goes once `expire_after`
    later events passed (1,000 by default; 5 here)."""
    f = Factory()
    proc = guarded()
    proc.ingress.guard.expire_after = 5  # type: ignore[union-attr]
    proc.offer(f.arrive(0, "P1"))
    proc.offer(f.capacity(0, "h2-kl", 50, partner="h2"))  # two partners: the clock is confirmed
    poison = at(f, f.arrive(0, "TYPO"), "9999-12-31T23:59:59Z")
    assert proc.offer(poison)[0] == "held"
    for m in range(1, 5):
        proc.offer(f.capacity(m, "h2-kl", 50, partner="h2"))
        assert proc.take_rejected() == []
    proc.offer(f.capacity(5, "h2-kl", 50, partner="h2"))
    (ev, exc), = proc.take_rejected()
    assert ev is poison and exc.reason == Reason.FUTURE_TIME and "9999-12-31T23:59:59Z" in exc.detail
    # the held event is in the state until then, and gone after
    assert not [k for k in proc.dump() if k.startswith("held:")]


def test_a_handful_from_one_partner_does_not_move_the_clock() -> None:
    f = Factory()
    clean = clean_feed(f)
    typos = [at(f, f.triage(0, f"T{i}", "U3"), f"2207-01-01T00:0{i}:00Z") for i in range(5)]
    proc = guarded()
    refused = replay(proc, clean[:3] + typos + clean[3:])
    assert sorted(refused) == sorted((e.id, Reason.FUTURE_TIME) for e in typos)
    assert proc.now == T0 + 32 * MIN


def test_a_census_dated_days_back_then_live_events() -> None:
    """A ward census three days back (both hospitals), then the live feed: a real jump,
    confirmed by two partners, applied exactly as without a guard."""
    f = Factory()
    census = [f.admit(-3 * 24 * 60 + i, f"W{i}", ward="h1-int") for i in range(3)]
    census += [f.admit(-3 * 24 * 60 + i, f"K{i}", ward="h2-kl", hosp="h2") for i in range(2)]
    live = [f.arrive(0, "P1"), f.capacity(1, "h2-kl", 50, partner="h2"), f.arrive(2, "P2")]
    proc, plain = guarded(), RegionProcessor(registry(), reorder_lateness_ms=0)
    assert replay(proc, census + live, lateness=10 * MIN) == []
    replay(plain, census + live)  # no guard: everything applied at the end, in time order
    assert proc.snapshots() == plain.snapshots()
    assert proc.snapshots()["location:h1-int"]["occupied_beds"] == 3
    assert proc.snapshots()["location:h2-kl"]["occupied_beds"] == 2


def test_a_replay_across_a_two_day_feed_outage() -> None:
    f = Factory()
    before = [f.arrive(0, "P1"), f.capacity(1, "h2-kl", 50, partner="h2")]
    after = [f.arrive(2 * 24 * 60, "P2"), f.capacity(2 * 24 * 60 + 1, "h2-kl", 48, partner="h2"),
             f.arrive(2 * 24 * 60 + 2, "P3")]
    proc = guarded()
    assert replay(proc, before + after) == []
    assert proc.counters["applied"] == 5
    assert proc.now == T0 + 2 * DAY + 2 * MIN
    assert proc.snapshots()["location:h2-kl"]["staffed_beds"] == 48


def _one_partner_registry() -> Any:
    return parse_registry({
        "region": {"id": "solo", "name": "Solo"},
        "partners": [{"id": "h1", "kind": "hospital"}],
        "locations": [{"id": "h1-seh", "partner": "h1", "kind": "seh", "staffed_beds": 10},
                      {"id": "h1-int", "partner": "h1", "kind": "ward", "bed_type": "clinical", "staffed_beds": 40}],
        "thresholds": {}, "actions": {},
    })


def test_a_region_with_a_single_partner_jumps_on_its_second_event() -> None:
    f = Factory()
    events = [f.arrive(0, "P1"), f.arrive(2 * 24 * 60, "P2"), f.arrive(2 * 24 * 60 + 1, "P3")]
    proc = guarded(_one_partner_registry())
    proc.offer(events[0])
    assert proc.offer(events[1])[0] == "held"
    assert proc.offer(events[2])[0] == "buffered"  # the second event in the new range confirms it
    proc.finish()
    assert proc.take_rejected() == [] and proc.counters["applied"] == 3


def test_a_log_that_ends_in_a_new_time_range_is_not_a_jump() -> None:
    """Nothing followed the held events in the old range: nothing contradicts them."""
    f = Factory()
    events = [f.admit(0, "W1"), f.ready(12 * 60, "W1"), f.discharge(3 * 24 * 60, "W1")]
    proc = guarded()
    assert replay(proc, events) == []
    assert proc.counters["applied"] == 3


def test_the_guard_survives_a_restore() -> None:
    f = Factory()
    proc = guarded()
    proc.offer(f.arrive(0, "P1"))
    poison = at(f, f.arrive(0, "TYPO"), "2207-01-01T00:00:00Z")
    assert proc.offer(poison)[0] == "held"
    proc.offer(f.capacity(0, "h2-kl", 50, partner="h2"))
    state = orjson.loads(orjson.dumps(proc.dump()))
    again = RegionProcessor.restore(registry(), state, reorder_lateness_ms=0, clock_guard=True)
    again.offer(f.arrive(1, "P2"))
    again.finish()
    assert [(e.id, x.reason) for e, x in again.take_rejected()] == [(poison.id, Reason.FUTURE_TIME)]


# ----------------------------------------------------------------- too_old, conflict
def test_an_seh_arrival_a_day_behind_the_clock_is_too_old_and_counts_nowhere() -> None:
    f = Factory()
    proc = guarded()
    replay(proc, [f.arrive(29 * 24 * 60, "P1"), f.capacity(29 * 24 * 60 + 1, "h2-kl", 50, partner="h2")])
    old = f.arrive(0, "OLD")  # 29 days behind: within retention, but no SEH stay lasts a day
    with pytest.raises(Rejected) as info:
        proc.offer(old)
    assert info.value.reason == Reason.TOO_OLD and "SEH census" in info.value.detail
    assert proc.snapshots()[SEH]["patients"] == 1
    # a ward admission days back is a census entry, not an error
    assert proc.offer(f.admit(25 * 24 * 60, "W1"))[0] == "late"


def test_too_old_is_judged_when_released_whatever_was_read_first() -> None:
    """An event 40 days old read before anything else of the region (its partition came
    first) is refused once the rest of the feed shows where the clock is: the feed's
    first events are held until two partners confirm them, and then the old one, still
    in the reorder buffer, is 40 days behind."""
    f = Factory()
    old = f.capacity(-40 * 24 * 60, "h2-kl", 7, partner="h2")
    proc = guarded()
    refused = replay(proc, [old] + clean_feed(f), lateness=5 * MIN)
    assert refused == [(old.id, Reason.TOO_OLD)]
    assert proc.snapshots()["location:h2-kl"]["staffed_beds"] == 50


def _two_seh_registry() -> Any:
    return parse_registry({
        "region": {"id": "two", "name": "Two"},
        "partners": [{"id": "h1", "kind": "hospital"}, {"id": "h2", "kind": "hospital"}],
        "locations": [{"id": "h1-seh", "partner": "h1", "kind": "seh", "staffed_beds": 10},
                      {"id": "h1-seh2", "partner": "h1", "kind": "seh", "staffed_beds": 10},
                      {"id": "h2-seh", "partner": "h2", "kind": "seh", "staffed_beds": 10}],
        "thresholds": {}, "actions": {},
    })


def test_a_second_arrival_of_an_open_encounter_elsewhere_is_a_conflict() -> None:
    f = Factory()
    events = [f.arrive(0, "P1"), f.arrive(5, "P1", loc="h1-seh2"), f.arrive(6, "P2", loc="h1-seh2")]
    proc = guarded(_two_seh_registry())
    assert replay(proc, events) == [(events[1].id, Reason.CONFLICT)]
    assert proc.snapshots()[SEH]["patients"] == 1
    assert proc.snapshots()["location:h1-seh2"]["patients"] == 1
    # after the first arrival is cancelled, the same encounter may arrive elsewhere
    cancel = f.cancel(7, "P1", "seh.arrived")
    again = f.arrive(8, "P1", loc="h1-seh2")
    assert replay(proc, [cancel, again]) == []
    assert proc.snapshots()[SEH]["patients"] == 0
    assert proc.snapshots()["location:h1-seh2"]["patients"] == 2


# ----------------------------------------------------------------- processing_error
def test_an_event_whose_fold_fails_is_isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug met by one event's content: that event is refused (processing_error, the
    exception class), the state is as if it never came, the region goes on."""
    fold = entities_module.contribution

    def failing(ekey: str, h: list[list[Any]], registry: Registry) -> dict[str, Any]:
        if any(row[4].get("urgency") == "U0" for row in h):
            raise ZeroDivisionError("a bug met by this event")
        return fold(ekey, h, registry)

    f = Factory()
    clean = clean_feed(f)
    ref = guarded()
    replay(ref, clean)
    monkeypatch.setattr(entities_module, "contribution", failing)
    poison = f.triage(2.5, "P2", "U0")
    proc = guarded()
    refused = replay(proc, clean[:3] + [poison] + clean[3:])
    assert refused == [(poison.id, Reason.PROCESSING_ERROR)]
    assert proc.snapshots() == ref.snapshots()
    assert proc.ents == ref.ents
    assert proc.counters["applied"] == ref.counters["applied"]


def test_processing_error_detail_names_the_exception_class_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(ekey: str, h: list[list[Any]], registry: Registry) -> dict[str, Any]:
        raise KeyError("patient Jan Jansen")  # a message may hold anything: never echoed

    monkeypatch.setattr(entities_module, "contribution", failing)
    f = Factory()
    proc = guarded()
    proc.offer(f.arrive(0, "P1"))
    proc.finish()
    (_ev, exc), = proc.take_rejected()
    assert exc.reason == Reason.PROCESSING_ERROR
    assert exc.detail == "KeyError while applying seh.arrived"


# ----------------------------------------------------------------- response times
def test_on_scene_before_the_call_was_received_is_no_response_time() -> None:
    f = Factory()
    received = format_time(T0 + 4 * MIN)
    events = [
        f.ev("rav", "dispatch.assigned", 0, ride_id="R1", urgency="A1", call_received_at=received),
        f.ev("rav", "dispatch.on_scene", 2, ride_id="R1"),  # 2 minutes *before* the call
        f.ev("rav", "dispatch.assigned", 3, ride_id="R2", urgency="A1", call_received_at=format_time(T0 + 3 * MIN)),
        f.ev("rav", "dispatch.on_scene", 23, ride_id="R2"),  # 20 minutes: too late
    ]
    proc = guarded()
    replay(proc, events)
    region = proc.snapshots()["region:test"]
    assert region["a1_within_15m_share_24h"] == 0.0  # one response (R2), not within 15 min
    assert region["a1_response_p95_minutes_24h"] == 20.0


def test_an_entity_holds_a_bounded_number_of_events() -> None:
    """Its state entry must stay far below the changelog's record limit whatever a
    partner sends: past MAX_ENTITY_EVENTS, more events of one encounter are refused."""
    f = Factory()
    events = [f.arrive(0, "P1")] + [f.triage(1 + i / 1000, "P1", "U3") for i in range(entities_module.MAX_ENTITY_EVENTS)]
    proc = guarded()
    refused = replay(proc, events)
    assert refused == [(events[-1].id, Reason.TOO_LARGE)]
    assert len(proc.ents["enc:h1/P1"]["h"]) == entities_module.MAX_ENTITY_EVENTS
    assert len(orjson.dumps(proc.ents["enc:h1/P1"])) < 100_000
    assert proc.snapshots()[SEH]["patients"] == 1


def test_a_far_ahead_first_event_does_not_become_the_clock() -> None:
    f = Factory()
    clean = clean_feed(f)
    poison = at(f, f.arrive(0, "TYPO"), "9999-12-31T23:59:59Z")
    ref = guarded()
    replay(ref, clean, lateness=2 * MIN)
    proc = guarded()
    refused = replay(proc, [poison] + clean, lateness=2 * MIN)
    assert refused == [(poison.id, Reason.FUTURE_TIME)]
    assert proc.snapshots() == ref.snapshots() and proc.now == T0 + 32 * MIN


def test_a_failure_half_way_through_is_quarantined_after_a_rebuild(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the pipeline does (streams/app.py, apply_record) when an event's effects fail
    after the fold: the exception escapes with `applying` naming the event; the region is
    rebuilt from its last stored state, the event quarantined, the record run again."""
    index = RegionProcessor._index

    def failing(self: RegionProcessor, ekey: str, c: dict[str, Any], sign: int) -> None:
        index(self, ekey, c, sign)  # half-way: the memberships are written, then it fails
        if ekey == "enc:h1/BOOM" and sign > 0:
            raise IndexError("a bug in the bookkeeping")

    f = Factory()
    clean = clean_feed(f)
    ref = guarded()
    replay(ref, clean)
    proc = guarded()
    for e in clean[:4]:  # h1's first events and h2's first capacity report confirm the clock
        proc.offer(e)
    proc.release(proc.confirmed_time)
    stored = orjson.loads(orjson.dumps(proc.dump()))  # the state after the last record
    poison = f.arrive(3.5, "BOOM")
    monkeypatch.setattr(RegionProcessor, "_index", failing)
    proc.offer(poison)
    with pytest.raises(IndexError):
        proc.release(proc.confirmed_time)
    assert proc.applying == poison
    rebuilt = RegionProcessor.restore(registry(), stored, reorder_lateness_ms=0, clock_guard=True)
    rebuilt.quarantined.add((poison.source, poison.id))
    refused = replay(rebuilt, [poison] + clean[4:])
    assert refused == [(poison.id, Reason.PROCESSING_ERROR)]
    assert rebuilt.snapshots() == ref.snapshots()
    assert rebuilt.counters["applied"] == ref.counters["applied"]


def test_a_census_re_sent_two_days_later_is_duplicate_not_applied() -> None:
    """Seen ids are kept 24 h; after that an event already in its entity's history is
    still a duplicate (events.md, "Order, lateness, duplicates")."""
    f = Factory()
    census = [f.admit(0, f"W{i}", ward="h1-int") for i in range(3)] + [f.admit(0, "K0", ward="h2-kl", hosp="h2")]
    later = [f.capacity(2 * 24 * 60 + m, "h2-kl", 50, partner="h2") for m in range(3)]
    later += [f.arrive(2 * 24 * 60 + 1, "P1")]
    proc = guarded()
    assert replay(proc, census + later + census, lateness=2 * MIN) == []
    assert proc.counters["applied"] == 8
    assert proc.counters["duplicates"] == 4
    assert proc.snapshots()["location:h1-int"]["occupied_beds"] == 3


def test_a_failure_of_an_instants_rules_names_the_events_of_that_instant(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the rules or snapshot builders fail, no event is being applied: the suspects
    are the events applied since the rules last ran (the pipeline quarantines them)."""
    emit = RegionProcessor._emit_snapshots

    def failing(self: RegionProcessor, out: list[Any]) -> None:
        if any(e.data.get("encounter_id") == "BOOM" for e in self.unsettled):
            raise ZeroDivisionError("a bug in a snapshot builder")
        emit(self, out)

    f = Factory()
    proc = guarded()
    for e in clean_feed(f)[:4]:
        proc.offer(e)
    proc.release(proc.confirmed_time)
    assert proc.suspects() == []  # settled: nothing to blame
    monkeypatch.setattr(RegionProcessor, "_emit_snapshots", failing)
    boom, other = f.arrive(3.5, "BOOM"), f.arrive(3.5, "P9")
    proc.offer(boom)
    proc.offer(other)
    with pytest.raises(ZeroDivisionError):
        proc.release(proc.confirmed_time)
    assert proc.applying is None
    assert sorted(e.id for e in proc.suspects()) == sorted([boom.id, other.id])


def test_one_far_past_record_at_the_end_of_a_short_log_does_not_take_the_clock() -> None:
    """Nothing was confirmed yet (two partners or 20 events): the record dated 0001 read
    last contradicted the real ones, which were then refused as future_time, and every
    snapshot said 0001. The range with more events wins; the old record is too_old."""
    f = Factory()
    real = [f.arrive(0, "P1"), f.triage(3, "P1", "U2")]
    old = at(f, f.capacity(0, "h2-kl", 50, partner="h2"), "0001-01-01T00:00:00Z")
    proc = guarded()
    refused = replay(proc, [*real, old])
    assert refused == [(old.id, Reason.TOO_OLD)]
    assert proc.counters["applied"] == 2 and proc.now == T0 + 3 * MIN


def test_an_event_years_old_read_before_anything_is_applied_is_too_old() -> None:
    """The region has no clock until it applies its first event, but the watermark has
    moved: an event dated 0001 read then was applied at once (behind the watermark), and
    the region's snapshots were dated 0001 (found by a probe of `replay`)."""
    f = Factory()
    # two partners within the lateness: the range is confirmed and the watermark set,
    # but nothing is due yet
    feed = [f.arrive(0, "P1"), f.capacity(1, "h2-kl", 50, partner="h2"), f.triage(2, "P1", "U2"),
            *[f.capacity(m, "h2-kl", 50 - m, partner="h2") for m in range(3, 10)]]
    old = at(f, f.capacity(0, "h2-kl", 40, partner="h2"), "0001-01-01T00:00:00Z")
    ref = guarded()
    replay(ref, feed, lateness=2 * MIN)
    proc = guarded()
    refused = replay(proc, [*feed[:2], old, *feed[2:]], lateness=2 * MIN)
    assert refused == [(old.id, Reason.TOO_OLD)]
    assert proc.snapshots() == ref.snapshots()
