"""Cancellations, out-of-order and duplicated events, SEH stays ended by ward admission."""

import pytest
from _factory import MIN, T0, Factory, registry, run, snap

from processors.region import RegionProcessor
from topics.event import Reason, Rejected

SEH = "location:h1-seh"
WARD = "location:h1-int"


def test_ward_admission_ends_seh_stay_and_cancel_puts_it_back():
    f = Factory()
    p = RegionProcessor(registry())
    run(p, [f.arrive(0, "A"), f.treat(10, "A"), f.request(20, "A")])
    assert snap(p, SEH)["boarders"] == 1
    run(p, [f.admit(60, "A")])  # still in the SEH: the admission ends the stay (LOS 60 min)
    s = snap(p, SEH)
    assert (s["patients"], s["boarders"]) == (0, 0)
    assert s["los_p50_minutes_24h"] == 60.0
    assert snap(p, WARD)["occupied_beds"] == 1
    run(p, [f.cancel(70, "A", "ward.admitted")])  # A12: back where it was, boarding since 20
    s = snap(p, SEH)
    assert (s["patients"], s["boarders"]) == (1, 1)
    assert s["los_p50_minutes_24h"] is None  # the departure is undone
    assert s["longest_boarding_hours"] == pytest.approx(50 / 60, abs=1e-4)
    assert snap(p, WARD)["occupied_beds"] == 0
    run(p, [f.depart(80, "A", "admitted"), f.admit(85, "A")])
    s = snap(p, SEH)
    assert s["patients"] == 0 and s["los_p50_minutes_24h"] == 80.0
    assert snap(p, WARD)["occupied_beds"] == 1


def test_direct_admission_cancelled_is_removed():
    f = Factory()
    p = RegionProcessor(registry())
    run(p, [f.admit(0, "D"), f.cancel(5, "D", "ward.admitted")])
    assert snap(p, WARD)["occupied_beds"] == 0


def test_cancel_arrival_and_cancel_discharge():
    f = Factory()
    p = RegionProcessor(registry())
    run(p, [f.arrive(0, "A", mode="self_referral"), f.arrive(1, "B"), f.cancel(2, "A", "seh.arrived")])
    s = snap(p, SEH)
    assert s["patients"] == 1 and s["arrivals_24h"] == {"gp_referral": 1}
    run(p, [f.admit(3, "W"), f.ready(10, "W"), f.discharge(20, "W", "vvt")])
    assert snap(p, WARD)["occupied_beds"] == 0
    assert snap(p, WARD)["discharges_24h"] == {"vvt": 1}
    run(p, [f.cancel(30, "W", "ward.discharged")])  # A13: the stay re-opens, still ready
    s = snap(p, WARD)
    assert s["occupied_beds"] == 1 and s["discharges_24h"] == {}
    assert s["wrong_bed_patients"] == 1
    # ready since 10, now 30: 20 min of wrong-bed time
    assert s["wrong_bed_days_open"] == pytest.approx(20 / 1440, abs=5e-5)


def test_held_transitions_out_of_order():
    f = Factory()
    p = RegionProcessor(registry(), reorder_lateness_ms=0)
    adm = f.admit(10, "X")
    dis = f.discharge(50, "X", "home")
    tri = f.triage(4, "Y", "U0")  # triage stamped before the arrival (clock skew)
    arr = f.arrive(5, "Y")
    # the discharge arrives first; the admission is late (behind the watermark)
    assert p.offer(dis)[0] == "buffered"
    p.release(dis.time)
    assert snap(p, WARD)["occupied_beds"] == 0
    status, _ = p.offer(adm)
    assert status == "late"
    s = snap(p, WARD)
    assert s["occupied_beds"] == 0 and s["discharges_24h"] == {"home": 1}
    # triage offered before the arrival: held, applied when the arrival comes
    assert p.offer(tri)[0] == "late"
    assert snap(p, SEH)["patients"] == 0
    p.offer(arr)
    s = snap(p, SEH)
    assert (s["patients"], s["critical"]) == (1, 1)
    assert p.counters["late"] == 3


def test_held_ward_discharge_before_admission_in_event_time():
    f = Factory()
    p = RegionProcessor(registry())
    run(p, [f.ready(5, "Z"), f.admit(10, "Z")])  # ready held until the admission
    s = snap(p, WARD)
    assert s["occupied_beds"] == 1 and s["wrong_bed_patients"] == 1


def test_duplicates_change_nothing():
    f = Factory()
    p = RegionProcessor(registry())
    a = f.arrive(0, "A")
    out = run(p, [a])
    before = p.snapshots()
    status, o = p.offer(a)
    assert status == "duplicate" and o == []
    assert p.snapshots() == before
    # a different event id from the same source is not a duplicate (here: late, applied,
    # and a re-sent arrival of the same encounter at the same time changes no count)
    status, _ = p.offer(f.ev("h1", "seh.arrived", 0, eid=a.id + "x", encounter_id="A", location="h1-seh",
                             arrival_mode="gp_referral"))
    assert status == "late"
    assert snap(p, SEH)["arrivals_24h"] == {"gp_referral": 1}
    assert p.counters["duplicates"] == 1
    assert out


def test_too_old_is_rejected():
    f = Factory()
    p = RegionProcessor(registry())
    run(p, [f.arrive(31 * 1440, "A")])
    with pytest.raises(Rejected) as exc:
        p.offer(f.arrive(0, "old"))
    assert exc.value.reason == Reason.TOO_OLD


def test_the_retention_is_the_processors_to_set():
    """events.md: "older than the state retention (default 30 days behind the stream
    clock)": a census capacity report five days late is refused with a 2-day retention
    (SPOEDSTROOM_STATE_RETENTION_DAYS=2) and not with the default."""
    f = Factory()
    short = RegionProcessor(registry(), retention_ms=2 * 1440 * MIN)
    default = RegionProcessor(registry())
    for p in (short, default):
        run(p, [f.arrive(6 * 1440, "A")])
    late = f.capacity(1440, "h1-seh", 12)
    with pytest.raises(Rejected) as exc:
        short.offer(late)
    assert exc.value.reason == Reason.TOO_OLD and "2 days" in exc.value.detail
    assert default.offer(late)[0] == "late"


def test_closed_encounters_are_forgotten_after_a_day():
    f = Factory()
    p = RegionProcessor(registry())
    run(p, [f.arrive(0, "A"), f.depart(30, "A")])
    assert "enc:h1/A" in p.dump()
    p.advance(T0 + 30 * MIN + 24 * 60 * MIN)
    assert "enc:h1/A" not in p.dump()
    # and the seen ids are forgotten after the dedup horizon
    assert not [k for k in p.dump() if k.startswith("dedup:")]
    changes = p.take_changes()
    assert changes.get("enc:h1/A", "missing") is None


def test_second_stay_of_the_same_encounter_keeps_the_first():
    f = Factory()
    p = RegionProcessor(registry())
    run(p, [f.arrive(0, "R"), f.depart(40, "R"), f.arrive(100, "R", mode="ambulance"),
            f.admit(0, "W"), f.discharge(50, "W"), f.admit(120, "W")])
    s = snap(p, SEH)
    assert s["arrivals_24h"] == {"ambulance": 1, "gp_referral": 1}
    assert s["patients"] == 1 and s["los_p50_minutes_24h"] == 40.0
    w = snap(p, WARD)
    assert w["discharges_24h"] == {"home": 1} and w["occupied_beds"] == 1
