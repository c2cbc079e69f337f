"""NEDOCS of one SEH worked out by hand at several moments, and the seh_crowding episode."""

import pytest
from _factory import MIN, T0, Factory, alerts, fmt, registry, run, snap

from processors.region import RegionProcessor

SEH = "location:h1-seh"


def scenario(f: Factory):
    # h1-seh: 10 treatment spaces; h1 wards: h1-int 40 + h1-ic 10 = 50 staffed ward beds.
    return [
        f.arrive(0, "A"),
        f.arrive(2, "B", mode="ambulance"),
        f.triage(5, "A", "U2"),
        f.triage(6, "B", "U1"),
        f.arrive(10, "C", mode="self_referral"),
        f.treat(12, "A"),  # A waited 12 min
        f.arrive(15, "D"),
        f.arrive(16, "E"),
        f.arrive(18, "F", mode="self_referral"),
        f.treat(20, "B"),  # B waited 18 min
        f.triage(25, "D", "U0"),
        f.request(30, "A"),  # A boards from minute 30
    ]


def test_nedocs_by_hand():
    f = Factory()
    p = RegionProcessor(registry())
    run(p, scenario(f))
    s = snap(p, SEH)
    # minute 30: patients 6 (A-F), boarders 1 (A), critical 2 (B U1, D U0),
    # longest boarding 0 h, last bed wait = B's 18 min = 0.3 h:
    # -20 + 85.8*6/10 + 600*1/50 + 13.4*2 + 0.93*0 + 5.64*0.3
    # = -20 + 51.48 + 12 + 26.8 + 0 + 1.692 = 71.972 -> level 3
    assert (s["patients"], s["waiting"], s["boarders"], s["critical"]) == (6, 4, 1, 2)
    assert s["nedocs"] == pytest.approx(71.97, abs=0.005)
    assert s["nedocs_level"] == 3
    assert s["last_bed_wait_hours"] == pytest.approx(0.3)
    assert s["occupancy"] == 0.6

    run(p, [f.treat(40, "C"), f.depart(45, "F"), f.request(60, "B")])
    p.advance(T0 + 90 * MIN)
    s = snap(p, SEH)
    # minute 90: patients 5 (F left), boarders 2 (A since 30, B since 60), critical 2,
    # longest boarding 60 min = 1 h, last bed wait = C's 30 min = 0.5 h:
    # -20 + 85.8*5/10 + 600*2/50 + 26.8 + 0.93*1 + 5.64*0.5
    # = -20 + 42.9 + 24 + 26.8 + 0.93 + 2.82 = 77.45 -> level 3
    assert s["nedocs"] == pytest.approx(77.45, abs=0.005)
    assert s["nedocs_level"] == 3
    assert s["longest_boarding_hours"] == 1.0
    # F: LOS 45 - 18 = 27 min, the only departure
    assert s["los_p50_minutes_24h"] == 27.0
    assert s["los_over_4h_share_24h"] == 0.0
    # arrivals: A, D, E gp_referral; B ambulance; C, F self_referral -> share 2/6
    assert s["arrivals_24h"] == {"ambulance": 1, "gp_referral": 3, "self_referral": 2}
    assert s["self_referral_share_24h"] == 0.3333

    out = run(p, [f.capacity(100, "h1-seh", 6)])
    s = snap(p, SEH)
    # minute 100, 6 spaces: boarding 70 min = 1.1667 h:
    # -20 + 85.8*5/6 + 24 + 26.8 + 0.93*70/60 + 2.82 = -20 + 71.5 + 24 + 26.8 + 1.085 + 2.82
    # = 106.205 -> level 4 (overcrowded)
    assert s["nedocs"] == pytest.approx(106.205, abs=0.006)
    assert s["nedocs_level"] == 4
    assert alerts(out, "seh_crowding") == []

    out = p.advance(T0 + 106 * MIN)
    s = snap(p, SEH)
    # minute 106: boarding 76 min: 0.93*76/60 = 1.178 -> 106.298
    assert s["nedocs"] == pytest.approx(106.30, abs=0.005)
    assert alerts(out, "seh_crowding") == []  # level 4 for 6 min only
    out = p.advance(T0 + 110 * MIN)  # 10 min after first holding at minute 100: fires
    assert alerts(out, "seh_crowding") == [("raised", f"test:seh_crowding:h1-seh:{T0 + 100 * MIN}", 110)]
    raised = [o for o in out if o.kind == "alert.raised"][0].data
    assert raised["started_at"] == fmt(100)
    assert raised["severity"] == "warning"
    assert raised["location"] == "h1-seh" and raised["hospital"] == "h1"
    assert raised["values"]["nedocs_level"] == 4
    # never a repeat while it lasts
    assert alerts(p.advance(T0 + 115 * MIN), "seh_crowding") == []

    # minute 120: D and E leave: patients 3, critical 1 (B), boarding 90 min = 1.5 h:
    # -20 + 85.8*3/6 + 24 + 13.4 + 0.93*1.5 + 2.82 = -20 + 42.9 + 24 + 13.4 + 1.395 + 2.82 = 64.515
    out = run(p, [f.depart(120, "D"), f.depart(120, "E")])
    s = snap(p, SEH)
    assert s["nedocs"] == pytest.approx(64.515, abs=0.006)
    assert s["nedocs_level"] == 3
    assert alerts(p.advance(T0 + 134 * MIN), "seh_crowding") == []  # below for 14 min only
    out = p.advance(T0 + 135 * MIN)  # below for 15 min: resolved
    assert alerts(out, "seh_crowding") == [("resolved", f"test:seh_crowding:h1-seh:{T0 + 100 * MIN}", 135)]
    assert p.open_alerts() == [] or all(a["kind"] != "seh_crowding" for a in p.open_alerts())


def test_crowding_restarts_on_one_false_evaluation():
    f = Factory()
    p = RegionProcessor(registry())
    # 6 spaces... use 2 spaces: 3 patients, 2 critical: -20 + 85.8*3/2 + 26.8 = 135.5 (level 4)
    evs = [f.capacity(0, "h1-seh", 2), f.arrive(0, "A"), f.arrive(0, "B"), f.arrive(1, "C"),
           f.triage(2, "A", "U1"), f.triage(2, "B", "U1")]
    run(p, evs)
    assert snap(p, SEH)["nedocs"] == pytest.approx(135.5)
    # minute 5: C leaves: -20 + 85.8*2/2 + 26.8 = 92.6 (level 3): one false evaluation
    run(p, [f.depart(5, "C")])
    assert snap(p, SEH)["nedocs_level"] == 3
    # minute 6: C2 arrives: level 4 again, pending from 6
    out = run(p, [f.arrive(6, "C2")])
    out += p.advance(T0 + 12 * MIN)
    assert alerts(out, "seh_crowding") == []  # would have fired at 12 had it not restarted
    out = p.advance(T0 + 16 * MIN)
    assert alerts(out, "seh_crowding") == [("raised", f"test:seh_crowding:h1-seh:{T0 + 6 * MIN}", 16)]


def test_nedocs_null_without_beds():
    f = Factory()
    p = RegionProcessor(registry())
    run(p, [f.arrive(0, "A"), f.capacity(1, "h1-seh", 0)])
    s = snap(p, SEH)
    assert s["nedocs"] is None and s["nedocs_level"] is None
    assert s["nedocs_null_reason"] == "seh_staffed_beds_unknown_or_zero"
    assert s["occupancy"] is None
    run(p, [f.capacity(2, "h1-seh", 5), f.capacity(2, "h1-int", 0), f.capacity(2, "h1-ic", 0)])
    s = snap(p, SEH)
    assert s["nedocs"] is None and s["nedocs_null_reason"] == "hospital_ward_staffed_beds_zero"
    # region counts only defined levels
    assert snap(p, "region:test")["sehs_by_nedocs_level"] == {"1": 1}
