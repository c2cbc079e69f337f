"""Three simulated days of Haaglanden against the calibration figures of product.md."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict

import pytest

from simulator import Calibration, generate
from simulator.scenario import AMSTERDAM
from datetime import datetime, timezone

from tests.simulator.helpers import DAY, START, haaglanden, run, typed

DAYS = 3


@pytest.fixture(scope="module")
def events() -> list[tuple[str, int, str, dict]]:
    return typed(run(DAYS, 7))


def _local_hour(ms: int) -> int:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).astimezone(AMSTERDAM).hour


def test_visits_per_seh_scale_with_treatment_spaces(events) -> None:
    per_seh = Counter(d["location"] for t, _, _, d in events if t == "seh.arrived")
    total_expected = 0.0
    for seh in haaglanden().sehs():
        expected = 60 * seh.staffed_beds / 22 * DAYS
        total_expected += expected
        assert abs(per_seh[seh.id] - expected) <= 0.2 * expected, (seh.id, per_seh[seh.id], expected)
    assert abs(sum(per_seh.values()) - total_expected) <= 0.07 * total_expected


def test_arrival_modes(events) -> None:
    modes = Counter(d["arrival_mode"] for t, _, _, d in events if t == "seh.arrived")
    n = sum(modes.values())
    assert 0.13 <= modes["ambulance"] / n <= 0.19
    assert 0.45 <= (modes["gp_referral"] + modes["hap_referral"]) / n <= 0.55
    assert 0.22 <= modes["self_referral"] / n <= 0.36
    assert 0 < modes["specialist_referral"] / n <= 0.06


def test_busiest_between_noon_and_eight(events) -> None:
    hours = Counter(_local_hour(tm) for t, tm, _, _ in events if t == "seh.arrived")
    busy = sum(hours[h] for h in range(12, 20)) / 8
    night = sum(hours[h] for h in range(0, 7)) / 7
    rest = (sum(hours.values()) - busy * 8) / 16
    assert busy > 1.3 * rest and busy > 2.5 * night


def test_admission_rate_and_triage_mix(events) -> None:
    disp = Counter(d["disposition"] for t, _, _, d in events if t == "seh.departed")
    assert abs(disp["admitted"] / sum(disp.values()) - 0.37) <= 0.04
    urg = Counter(d["urgency"] for t, _, _, d in events if t == "seh.triaged")
    n = sum(urg.values())
    assert 0.02 <= (urg["U0"] + urg["U1"]) / n <= 0.07
    assert urg["U3"] == max(urg.values())


def test_seh_length_of_stay(events) -> None:
    arrived = {d["encounter_id"]: tm for t, tm, _, d in events if t == "seh.arrived"}
    home, admitted = [], []
    for t, tm, _, d in events:
        if t == "seh.departed" and d["encounter_id"] in arrived:
            los = (tm - arrived[d["encounter_id"]]) / 60_000
            (admitted if d["disposition"] == "admitted" else home).append(los)
    assert 105 <= statistics.mean(home) <= 135  # product.md: ~119 min
    assert 130 <= statistics.mean(admitted) <= 175  # product.md: ~146 min


def test_treatment_starts_after_a_wait_and_admissions_go_to_own_hospital(events) -> None:
    reg = haaglanden()
    arrived = {d["encounter_id"]: (tm, d["location"]) for t, tm, _, d in events if t == "seh.arrived"}
    requested = {d["encounter_id"]: d["bed_type"] for t, _, _, d in events if t == "seh.admission_requested"}
    for t, tm, partner, d in events:
        if t == "seh.treatment_started" and d["encounter_id"] in arrived:
            assert tm >= arrived[d["encounter_id"]][0]
        if t == "ward.admitted" and d["encounter_id"] in requested:
            ward = reg.locations[d["location"]]
            assert ward.partner == partner == reg.locations[arrived[d["encounter_id"]][1]].partner
            assert d["acute"] is True
            assert ward.bed_type == requested[d["encounter_id"]]


def test_ambulance_rides(events) -> None:
    rides: dict[str, dict] = defaultdict(dict)
    for t, tm, _, d in events:
        if t.startswith("dispatch."):
            rides[d["ride_id"]][t] = (tm, d)
    from topics.codec import parse_time

    a1 = []
    handover = []
    for ride in rides.values():
        if "dispatch.assigned" not in ride:
            continue
        tm, d = ride["dispatch.assigned"]
        received = parse_time(d["call_received_at"])
        assert received <= tm <= received + 150_000
        if d["urgency"] in ("A0", "A1") and "dispatch.on_scene" in ride:
            a1.append(ride["dispatch.on_scene"][0] - received)
        if "dispatch.handover_completed" in ride:
            handover.append((ride["dispatch.handover_completed"][0] - ride["dispatch.at_hospital"][0]) / 60_000)
    within = sum(r <= 15 * 60_000 for r in a1) / len(a1)
    assert 0.88 <= within <= 0.99, within  # norm 95%, reality ~92%
    assert 12 <= statistics.median(handover) <= 19
    assert any(h > 30 for h in handover)
    by_type = Counter(t for ride in rides.values() for t in ride)
    assert by_type["dispatch.cleared"] > by_type["dispatch.transporting"]  # some not transported


def test_ambulance_arrivals_match_rides(events) -> None:
    at_hospital = {d["ride_id"]: (tm, d["location"]) for t, tm, _, d in events if t == "dispatch.at_hospital"}
    amb = [(tm, d) for t, tm, _, d in events if t == "seh.arrived" and d["arrival_mode"] == "ambulance"]
    assert amb
    for tm, d in amb:
        assert at_hospital[d["ride_id"]] == (tm, d["location"])


def test_hap_calls_first_line_share_and_referrals(events) -> None:
    outcomes: dict[str, Counter] = defaultdict(Counter)
    referred = {}
    for t, tm, partner, d in events:
        if t == "call.completed":
            outcomes[partner][d["outcome"]] += 1
            if d["outcome"] == "seh_referral":
                referred[d["call_id"]] = (tm, d["destination"])
    for hap in ("hap-haaglanden", "hap-delft"):
        o = outcomes[hap]
        share = (o["self_care"] + o["appointment"] + o["home_visit"]) / sum(o.values())
        assert 0.64 <= share <= 0.76, (hap, share)
    hap_arrivals = [(tm, d) for t, tm, _, d in events if t == "seh.arrived" and d["arrival_mode"] == "hap_referral"]
    assert hap_arrivals
    for tm, d in hap_arrivals:
        t_ref, dest = referred[d["call_id"]]
        assert dest == d["location"] and tm > t_ref
    services = Counter(d["service"] for t, _, _, d in events if t == "call.received")
    assert set(services) == {"112", "hap", "ggz", "zcc"}


def test_first_line_share_is_a_per_hap_parameter() -> None:
    cal = Calibration(hap_first_line_share={"hap-delft": 0.40})
    outcomes: dict[str, Counter] = defaultdict(Counter)
    items = generate(haaglanden(), start_ms=START, duration_ms=2 * DAY, seed=7, calibration=cal)
    for t, _, partner, d in typed(items):
        if t == "call.completed":
            outcomes[partner][d["outcome"]] += 1
    share = {h: (o["self_care"] + o["appointment"] + o["home_visit"]) / sum(o.values())
             for h, o in outcomes.items() if h.startswith("hap-")}
    assert 0.30 <= share["hap-delft"] <= 0.50
    assert share["hap-haaglanden"] - share["hap-delft"] >= 0.15
    assert 0.63 <= share["hap-haaglanden"] <= 0.77


def test_capacity_reported_every_five_minutes_for_every_location(events) -> None:
    reports = Counter(d["location"] for t, _, _, d in events if t == "capacity.reported")
    reg = haaglanden()
    assert set(reports) == set(reg.locations)
    assert set(reports.values()) == {DAYS * 288}
    owner = {(p, d["location"]) for t, _, p, d in events if t == "capacity.reported"}
    assert all(reg.locations[loc].partner == p for p, loc in owner)
    sizes = [d["staffed_beds"] for t, _, _, d in events if t == "capacity.reported" and d["location"] == "haga-leyweg-interne"]
    assert min(sizes) >= 100 and max(sizes) <= 111


def test_wards_start_realistically_full_and_stay_so(events) -> None:
    reg = haaglanden()
    wards = {w.id for w in reg.locations.values() if w.kind == "ward"}
    staffed = sum(reg.locations[w].staffed_beds for w in wards)
    at_start = sum(1 for t, tm, _, d in events if t == "ward.admitted" and tm == START)
    assert 0.80 <= at_start / staffed <= 0.90
    where: dict[str, str] = {}
    for t, _, _, d in events:
        if t == "ward.admitted":
            where[d["encounter_id"]] = d["location"]
        elif t == "ward.transferred":
            where[d["encounter_id"]] = d["location"]
        elif t == "ward.discharged" or (t == "encounter.cancelled" and d["cancelled_type"] == "ward.admitted"):
            where.pop(d["encounter_id"], None)
    assert 0.78 <= len(where) / staffed <= 0.95
    ready = {d["encounter_id"] for t, _, _, d in events if t == "ward.discharge_ready"}
    wrong_bed = len(ready & set(where)) / len(where)
    assert 0.02 <= wrong_bed <= 0.12  # product.md: ~5-10% of occupied beds


def test_discharge_ready_waits_for_follow_up_and_discharges_there(events) -> None:
    ready = {d["encounter_id"]: (tm, d["waiting_for"]) for t, tm, _, d in events if t == "ward.discharge_ready"}
    done = [(tm, d) for t, tm, _, d in events if t == "ward.discharged" and d["encounter_id"] in ready]
    assert done
    mapping = {"wijkverpleging": "home"}
    for tm, d in done:
        t_ready, waiting = ready[d["encounter_id"]]
        assert tm > t_ready
        assert d["destination"] == mapping.get(waiting, waiting)
