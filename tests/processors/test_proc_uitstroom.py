"""Wrong-bed-days across midnight, discharges, long stays."""

import pytest
from _factory import DAY, HOUR, MIN, T0, Factory, alerts, registry, run, snap

from processors.region import RegionProcessor

WARD = "location:h1-int"


def h(day: int, hour: float) -> float:
    """Minutes after T0 (2026-01-01T00:00Z) of day `day`, hour `hour`."""
    return day * 1440 + hour * 60


def test_wrong_bed_days_across_midnight():
    f = Factory()
    p = RegionProcessor(registry())
    evs = [
        f.admit(h(0, 8), "P1"),
        f.admit(h(0, 9), "P2"),
        f.admit(h(0, 10), "P3"),
        f.ready(h(0, 20), "P1", "vvt"),
        f.ready(h(0, 22), "P2", "elv"),
        f.discharge(h(1, 10), "P1", "vvt"),  # P1 wrong-bed 20:00 -> 10:00 next day: 14 h
        f.ready(h(1, 12), "P3", "grz"),
        f.cancel(h(1, 16), "P3", "ward.discharge_ready"),  # P3 no longer ready: 4 h counted
    ]
    run(p, evs)
    p.advance(T0 + int(h(1, 18) * MIN))
    s = snap(p, WARD)
    # window (day0 18:00, day1 18:00]: P1 14 h + P2 (22:00 -> 18:00) 20 h + P3 4 h = 38 h
    # = 38/24 = 1.58333 days; open: P2 only, 20 h = 0.83333 days
    assert s["wrong_bed_days_24h"] == 1.5833
    assert s["wrong_bed_days_open"] == 0.8333
    assert s["wrong_bed_patients"] == 1
    assert s["wrong_bed_patients_by_waiting_for"] == {"elv": 1}
    assert s["occupied_beds"] == 2 and s["free_beds"] == 38 and s["occupancy"] == 0.05
    assert s["discharges_24h"] == {"vvt": 1}
    hs = snap(p, "hospital:h1")
    # hospital: 1 wrong-bed patient of 2 occupied ward beds (h1-int 2, h1-ic 0)
    assert hs["wrong_bed_share"] == 0.5
    assert hs["wrong_bed_days_24h"] == 1.5833

    p.advance(T0 + int(h(2, 2) * MIN))
    s = snap(p, WARD)
    # window (day1 02:00, day2 02:00]: P1 02:00 -> 10:00 8 h, P2 24 h, P3 4 h = 36 h = 1.5 days
    # open: P2 22:00 day0 -> 02:00 day2 = 28 h = 1.16667 days
    assert s["wrong_bed_days_24h"] == 1.5
    assert s["wrong_bed_days_open"] == 1.1667
    p.advance(T0 + int(h(2, 12) * MIN))
    s = snap(p, WARD)
    # (day1 12:00, day2 12:00]: P1 gone (ended 10:00), P2 24 h, P3 12:00-16:00 4 h = 28 h
    assert s["wrong_bed_days_24h"] == pytest.approx(28 / 24, abs=5e-5)
    # P1 discharged at day1 10:00 is out of the 24h discharges by day2 10:01
    assert s["discharges_24h"] == {}


def test_wrong_bed_alert_share_and_wait():
    f = Factory()
    p = RegionProcessor(registry())
    # 10 patients on h1-int; one ready: share 1/10 = 0.10 >= 0.10 -> raised at once
    out = run(p, [f.admit(0, f"P{i}") for i in range(10)] + [f.ready(60, "P0")])
    assert alerts(out, "wrong_bed") == [("raised", f"test:wrong_bed:h1:{T0 + 60 * MIN}", 60)]
    # two more admitted: 1/12 = 0.083, not < 0.08: still open; a third: 1/13 = 0.077 < 0.08
    out = run(p, [f.admit(70, "P10"), f.admit(71, "P11")])
    assert alerts(out, "wrong_bed") == []
    out = run(p, [f.admit(72, "P12")])
    assert alerts(out, "wrong_bed") == [("resolved", f"test:wrong_bed:h1:{T0 + 60 * MIN}", 72)]
    # P0 waiting > 3 days (ready at 60 min): raised when evaluated after 60 + 3 days
    out = p.advance(T0 + 60 * MIN + 3 * DAY)
    assert alerts(out, "wrong_bed") == []  # exactly 3 days: not yet "more than"
    out = p.advance(T0 + 61 * MIN + 3 * DAY)
    assert [a[0] for a in alerts(out, "wrong_bed")] == ["raised"]


def test_long_stay():
    f = Factory()
    p = RegionProcessor(registry(long_stay_alert_patients=2))
    run(p, [f.admit(0, "L1"), f.admit(60, "L2"), f.admit(0, "I1", ward="h1-ic")])
    # IC limit 7 days, clinical 14 days
    p.advance(T0 + 7 * DAY + MIN)
    assert snap(p, "location:h1-ic")["long_stay_patients"] == 1
    assert snap(p, WARD)["long_stay_patients"] == 0
    out = p.advance(T0 + 14 * DAY + MIN)
    assert snap(p, WARD)["long_stay_patients"] == 1
    assert snap(p, "hospital:h1")["long_stay_patients"] == 2
    assert [a[0] for a in alerts(out, "long_stay")] == ["raised"]
    out = run(p, [f.discharge(14 * 1440 + 2, "I1")])
    assert [a[0] for a in alerts(out, "long_stay")] == ["resolved"]


def test_transfer_moves_patient_and_wrong_bed_time():
    f = Factory()
    p = RegionProcessor(registry())
    run(p, [f.admit(0, "T"), f.ready(60, "T", "home"), f.transfer(120, "T", "h1-ic")])
    p.advance(T0 + 180 * MIN)
    assert snap(p, WARD)["occupied_beds"] == 0
    assert snap(p, "location:h1-ic")["occupied_beds"] == 1
    # 1 h of wrong-bed time on h1-int, 1 h (still open) on h1-ic
    assert snap(p, WARD)["wrong_bed_days_24h"] == pytest.approx(HOUR / DAY, abs=5e-5)
    assert snap(p, "location:h1-ic")["wrong_bed_days_open"] == pytest.approx(HOUR / DAY, abs=5e-5)


def test_the_sorted_forms_equal_the_plain_sums() -> None:
    """The closed forms over sorted ready starts (what the snapshots use) give the same
    milliseconds as the per-patient overlaps, starts before, in and after the window."""
    import random

    from processors.uitstroom import (
        DAY_MS,
        wrong_bed_ms_24h, wrong_bed_ms_24h_sorted, wrong_bed_ms_open, wrong_bed_ms_open_sorted,
    )

    rng = random.Random(7)
    now = 10 * DAY_MS
    for n in range(12):
        starts = sorted(now + rng.randint(-3 * DAY_MS, DAY_MS // 10) for _ in range(n))
        starts += [now - DAY_MS] * (n % 2) + [now] * (n % 3 == 0)
        starts.sort()
        closed = [(s, s + rng.randint(0, DAY_MS)) for s in (now - rng.randint(0, 2 * DAY_MS) for _ in range(n % 4))]
        assert wrong_bed_ms_open_sorted(now, starts) == wrong_bed_ms_open(now, starts)
        assert wrong_bed_ms_24h_sorted(now, starts, closed) == wrong_bed_ms_24h(now, starts, closed)
