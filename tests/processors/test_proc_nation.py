"""The nation (processors/nation.py): routing, a ride into another region's SEH, and the
nation's snapshot, computed by hand on two small regions."""

from __future__ import annotations

from typing import Any

from processors.nation import NationProcessor, NationRouter, build_nation
from tests.processors._factory import MIN, T0, Factory, fmt
from topics.nation import Nation, _build
from topics.registry import parse_registry


def _region(rid: str, hospital: str, ambulance: str, ward_beds: int) -> Any:
    return parse_registry({
        "region": {"id": rid, "name": rid},
        "partners": [{"id": hospital, "kind": "hospital"}, {"id": ambulance, "kind": "ambulance"},
                     {"id": f"hap-{rid}", "kind": "hap"}],
        "locations": [
            {"id": f"{hospital}-seh", "partner": hospital, "kind": "seh", "staffed_beds": 10},
            {"id": f"{hospital}-int", "partner": hospital, "kind": "ward", "bed_type": "clinical",
             "staffed_beds": ward_beds},
        ],
    }, rid)


def nation() -> Nation:
    return _build("nl", "Nederland", [_region("alpha", "ha", "rav-a", 40), _region("beta", "hb", "rav-b", 30)],
                  national=True, path=None)


def ride(f: Factory, ride_id: str, dest: str, start: float) -> list:
    return [
        f.ev("rav-a", "dispatch.assigned", start, ride_id=ride_id, urgency="A1", call_received_at=fmt(start - 2)),
        f.ev("rav-a", "dispatch.on_scene", start + 8, ride_id=ride_id),
        f.ev("rav-a", "dispatch.transporting", start + 20, ride_id=ride_id, destination=dest, eta=fmt(start + 35)),
        f.ev("rav-a", "dispatch.at_hospital", start + 34, ride_id=ride_id, location=dest),
        f.ev("rav-a", "dispatch.handover_completed", start + 46, ride_id=ride_id),
        f.ev("rav-a", "dispatch.cleared", start + 50, ride_id=ride_id),
    ]


def step(proc: NationProcessor, events: list) -> None:
    for ev in events:
        proc.offer(ev)
        for region in proc.regions.values():
            region.release_all()


def test_the_router_sends_a_ride_to_the_region_of_the_seh_it_reaches_until_it_ends():
    router = NationRouter(nation())
    f = Factory()
    routes = [router.route(ev) for ev in ride(f, "r1", "hb-seh", 0)]
    assert routes == [["alpha"], ["alpha"], ["alpha", "beta"], ["alpha", "beta"], ["alpha", "beta"],
                      ["alpha", "beta"]]
    assert router.route(f.arrive(60, "e1", loc="ha-seh", hosp="ha")) == ["alpha"]
    assert router.route(f.ev("rav-a", "dispatch.assigned", 61, ride_id="r2", urgency="B",
                             call_received_at=fmt(60))) == ["alpha"]


def test_a_ride_into_another_regions_seh_counts_there_on_the_seh_side_only():
    proc = NationProcessor(nation(), reorder_lateness_ms=0, clock_guard=False)
    f = Factory()
    events = ride(f, "r1", "hb-seh", 0)
    step(proc, events[:3])  # transporting to beta's SEH
    alpha, beta = proc.regions["alpha"], proc.regions["beta"]
    assert beta.snaps["location:hb-seh"]["ambulances_en_route"] == 1
    assert "location:ha-seh" not in alpha.snaps or alpha.snaps["location:ha-seh"]["ambulances_en_route"] == 0
    step(proc, events[3:4])  # at beta's SEH: the handover is in progress there
    assert beta.snaps["location:hb-seh"]["ambulances_en_route"] == 0
    assert beta.snaps["location:hb-seh"]["handovers_in_progress"] == 1
    step(proc, events[4:])
    hb = beta.snaps["location:hb-seh"]
    assert (hb["handovers_in_progress"], hb["handover_p90_minutes_24h"]) == (0, 12.0)
    # response times and ride counts stay with the dispatching region
    assert alpha.snaps["region:alpha"]["rides_24h"] == {"A1": 1}
    assert alpha.snaps["region:alpha"]["a1_response_p95_minutes_24h"] == 10.0
    assert beta.snaps["region:beta"]["rides_24h"] == {}
    assert beta.snaps["region:beta"]["a1_response_p95_minutes_24h"] is None
    # alpha's ambulance is not one of beta's feeds
    assert "rav-a" in alpha.partners and "rav-a" not in beta.partners


def _region_snapshot(as_of_minute: float, level: int, free: dict[str, int], patients: int) -> dict[str, Any]:
    staffed = {"clinical": 100, "ic": 10}
    return {
        "as_of": fmt(as_of_minute), "escalation_level": level, "patients": patients, "boarders": 1,
        "sehs_by_nedocs_level": {"2": 1}, "sehs_on_stop": 0,
        "staffed_beds_by_bed_type": staffed,
        "occupied_beds_by_bed_type": {bt: staffed[bt] - free[bt] for bt in staffed},
        "free_beds_by_bed_type": free,
        "occupancy_by_bed_type": {bt: round((staffed[bt] - free[bt]) / staffed[bt], 4) for bt in staffed},
        "wrong_bed_patients": 2,
    }


def test_the_nation_snapshot_by_hand():
    n = _build("nl", "NL", [_region("alpha", "ha", "rav-a", 40), _region("beta", "hb", "rav-b", 30),
                            _region("gamma", "hc", "rav-c", 30)], national=True, path=None)
    snaps = {
        "alpha": _region_snapshot(100, 2, {"clinical": 10, "ic": 3}, 7),
        "beta": _region_snapshot(84, 1, {"clinical": 30, "ic": 0}, 5),  # 16 min old: stale
    }
    gamma_full = _region_snapshot(100, 4, {"clinical": 50, "ic": 5}, 9)  # level 4: no advice
    snaps["gamma"] = gamma_full
    out = build_nation(n, snaps, T0 + 100 * MIN)
    assert out["stale_regions"] == ["beta"]
    assert out["regions"]["beta"]["stale"] is True and out["regions"]["alpha"]["stale"] is False
    assert out["regions_by_escalation_level"] == {"1": 1, "2": 1, "4": 1}
    assert out["seh_patients"] == 21 and out["seh_boarders"] == 3 and out["wrong_bed_patients"] == 6
    assert out["free_beds_by_bed_type"] == {"clinical": 90, "ic": 8}
    assert out["occupancy_by_bed_type"] == {"clinical": 0.7, "ic": 0.7333}
    # beta is stale, gamma at level 4: only alpha is advised
    assert out["spreading_advice"] == {"clinical": [{"region": "alpha", "free_beds": 10}],
                                       "ic": [{"region": "alpha", "free_beds": 3}]}
    # a region without any snapshot yet is stale and has no figures
    assert build_nation(n, {"alpha": snaps["alpha"]}, T0 + 100 * MIN)["regions"]["gamma"] == {
        "stale": True, "as_of": None, "escalation_level": None}


def test_the_nation_processor_emits_the_nation_when_a_region_snapshot_changes():
    proc = NationProcessor(nation(), reorder_lateness_ms=0, clock_guard=False)
    f = Factory()
    proc.offer(f.arrive(1, "e1", loc="ha-seh", hosp="ha"))
    outputs = proc.finish()
    nation_out = outputs[None]
    assert [o.key for o in nation_out] == ["nation:nl"]
    data = nation_out[0].data
    assert data["seh_patients"] == 1 and data["as_of"] == fmt(1)
    assert data["stale_regions"] == ["beta"]  # beta has no snapshot yet


def test_a_nation_replays_each_region_exactly_as_that_region_alone():
    """Regions share nothing but the input (the simulator sends no ride across a border):
    each region's final snapshots and alerts in the nation's replay equal those of a
    replay of that region's own events with its own file."""
    from processors.replay import run_replay
    from simulator.nation import EXAMPLE_NATION_DIR, generate_nation
    from topics.codec import dumps
    from topics.nation import load_nation

    n = load_nation(EXAMPLE_NATION_DIR)
    items = list(generate_nation(n, start_ms=T0, duration_ms=90 * MIN, seed=3))
    lines = [dumps(ev) for _topic, _key, ev in items]
    national = list(run_replay(lines, n, final=True))
    assert national[-1]["summary"]["applied"] == len(lines)
    (nation_snap,) = [r for r in national if r.get("data", {}).get("scope") == "nation"]
    assert set(nation_snap["data"]["regions"]) == set(n.regions)
    assert nation_snap["data"]["stale_regions"] == []
    for rid in ("zwolle", "west"):
        own = [line for line, (_t, partner, _ev) in zip(lines, items) if n.region_of_partner[partner] == rid]
        alone = [r for r in run_replay(own, n.regions[rid], final=True) if "summary" not in r]
        mine = [r for r in national if r.get("source") == f"/spoedstroom/{rid}"]
        assert mine == alone and alone, rid


def test_a_referral_to_another_regions_seh_is_announced_there_and_counted_at_home():
    proc = NationProcessor(nation(), reorder_lateness_ms=0, clock_guard=False)
    f = Factory()
    events = [
        f.ev("hap-alpha", "call.received", 0, call_id="c1", service="hap"),
        f.ev("hap-alpha", "call.completed", 9, call_id="c1", outcome="seh_referral", destination="hb-seh"),
    ]
    assert [proc.router.route(ev) for ev in events] == [["alpha"], ["alpha", "beta"]]
    step(proc, events)
    alpha, beta = proc.regions["alpha"], proc.regions["beta"]
    assert "c1" in beta.nowcast.refs and beta.nowcast.refs_to["hb-seh"] == {"c1": events[1].time}
    assert "c1" not in alpha.nowcast.refs
    assert alpha.snaps["region:alpha"]["calls_24h"] == {"hap": 1}
    assert beta.snaps["region:beta"]["calls_24h"] == {}
