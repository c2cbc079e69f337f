"""Scenario knobs: surge, major incident, VVT shortage, start occupancy; ward stays."""

from __future__ import annotations

import statistics
from collections import Counter

from simulator import Incident, Scenario, Surge
from topics.codec import parse_time

from tests.simulator.helpers import DAY, HOUR, START, haaglanden, run, typed

SURGE = Scenario(surge=Surge(START + 8 * HOUR, START + 20 * HOUR, 2.0))


def _arrivals(items, lo: int, hi: int) -> int:
    return sum(1 for t, tm, _, _ in typed(items) if t == "seh.arrived" and lo <= tm < hi)


def test_surge_raises_arrivals_in_its_window_only() -> None:
    base, surge = run(1.0, 11), run(1.0, 11, SURGE)
    inside = _arrivals(surge, START + 9 * HOUR, START + 20 * HOUR) / _arrivals(base, START + 9 * HOUR, START + 20 * HOUR)
    assert 1.6 <= inside <= 2.4
    before = _arrivals(surge, START, START + 8 * HOUR) / _arrivals(base, START, START + 8 * HOUR)
    assert 0.75 <= before <= 1.33
    calls = [sum(1 for t, tm, _, _ in typed(x) if t == "call.received" and START + 8 * HOUR <= tm < START + 20 * HOUR)
             for x in (base, surge)]
    assert calls[1] > 1.6 * calls[0]


def test_major_incident_creates_a_burst_of_a1_rides_to_the_largest_sehs() -> None:
    at = START + 15 * HOUR
    items = typed(run(1.0, 11, Scenario(major_incident=Incident(at, 30))))
    base = typed(run(1.0, 11))
    burst = [d for t, tm, _, d in items if t == "dispatch.assigned" and at <= tm < at + 20 * 60_000]
    calm = [d for t, tm, _, d in base if t == "dispatch.assigned" and at <= tm < at + 20 * 60_000]
    assert len(burst) >= 30 + len(calm)
    assert Counter(d["urgency"] for d in burst)["A1"] >= 15
    window = (at, at + 2 * HOUR)
    amb = [d["location"] for t, tm, _, d in items
           if t == "seh.arrived" and d["arrival_mode"] == "ambulance" and window[0] <= tm < window[1]]
    amb_base = [d for t, tm, _, d in base
                if t == "seh.arrived" and d["arrival_mode"] == "ambulance" and window[0] <= tm < window[1]]
    assert len(amb) >= len(amb_base) + 28
    largest = {"haga-leyweg-seh", "hmc-westeinde-seh", "rdgg-delft-seh"}
    assert sum(loc in largest for loc in amb) >= 30


def test_vvt_shortage_lengthens_waits_for_follow_up_places() -> None:
    def waits(shortage: float) -> tuple[float, int]:
        items = typed(run(6.0, 4, Scenario(vvt_shortage=shortage)))
        ready = {d["encounter_id"]: tm for t, tm, _, d in items if t == "ward.discharge_ready" and tm > START}
        done = [(tm - ready.pop(d["encounter_id"])) / DAY for t, tm, _, d in items
                if t == "ward.discharged" and d["encounter_id"] in ready]
        return statistics.mean(done), len(ready)  # mean completed wait, still waiting at the end

    normal, short = waits(1.0), waits(3.0)
    assert short[0] > 1.3 * normal[0]
    assert short[1] > 1.3 * normal[1]


def test_start_occupancy_zero_starts_with_empty_wards() -> None:
    items = typed(run(0.25, 1, Scenario(start_occupancy=0.0)))
    assert not [1 for t, tm, _, _ in items if t == "ward.admitted" and tm == START]
    full = typed(run(0.25, 1, Scenario(start_occupancy=0.6)))
    staffed = sum(w.staffed_beds for w in haaglanden().locations.values() if w.kind == "ward")
    initial = sum(1 for t, tm, _, _ in full if t == "ward.admitted" and tm == START)
    assert 0.55 <= initial / staffed <= 0.65


def test_crowded_seh_declares_stop_and_reopens() -> None:
    items = typed(run(1.0, 3, Scenario(surge=Surge(START + 8 * HOUR, START + 20 * HOUR, 2.0),
                                       major_incident=Incident(START + 15 * HOUR, 30), vvt_shortage=2.0)))
    status = [(tm, d) for t, tm, _, d in items if t == "seh.status_changed"]
    assert any(d["status"] == "stop" for _, d in status)
    last: dict[str, str] = {}
    for tm, d in status:
        assert last.get(d["location"], "open") != d["status"]  # alternates stop/open
        last[d["location"]] = d["status"]
        if d["status"] == "stop":
            assert parse_time(d["expected_until"]) > tm
    assert "open" in last.values() or len(status) == 1


def test_ward_stays_have_a_long_tail_transfers_and_rare_cancellations() -> None:
    items = typed(run(30.0, 3, None, None, "small"))
    admitted: dict[str, int] = {}
    stays = []
    kinds = Counter()
    for t, tm, _, d in items:
        kinds[t] += 1
        if t == "ward.admitted" and tm > START:
            admitted.setdefault(d["encounter_id"], tm)
        elif t == "ward.discharged" and d["encounter_id"] in admitted:
            stays.append((tm - admitted[d["encounter_id"]]) / DAY)
    assert 3.5 <= statistics.mean(stays) <= 7.0  # mean ~5 days, truncated by the window
    assert any(s > 14 for s in stays)
    assert kinds["ward.transferred"] > 0  # IC -> clinical
    cancelled = [(tm, d) for t, tm, _, d in items if t == "encounter.cancelled"]
    assert cancelled
    for tm, d in cancelled:
        redo = "ward.admitted" if d["cancelled_type"] == "ward.admitted" else None
        if redo:
            assert any(t == redo and t2 > tm and d2["encounter_id"] == d["encounter_id"]
                       for t, t2, _, d2 in items)
    # Follow-up partners report their places too.
    assert any(t == "capacity.reported" and d["location"] == "vvt-a-elv" for t, _, _, d in items)
