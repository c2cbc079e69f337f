"""Minute-bucket windows and nearest-rank percentiles."""

from _factory import MIN, T0, Factory, registry, run, snap

from processors import alerts
from processors.region import RegionProcessor
from processors.windows import Windows, nearest_rank


def test_nearest_rank():
    assert nearest_rank([], 50) is None
    assert nearest_rank([1, 2, 3, 4], 50) == 2  # lower middle of an even count
    assert nearest_rank([1, 2, 3, 4, 5], 50) == 3
    assert nearest_rank(list(range(1, 11)), 90) == 9  # ceil(0.9 * 10) = 9
    assert nearest_rank(list(range(1, 21)), 95) == 19  # ceil(0.95 * 20) = 19
    assert nearest_rank(list(range(1, 22)), 95) == 20  # ceil(19.95) = 20
    assert nearest_rank([7], 99) == 7


def test_window_membership_by_minute():
    w = Windows()
    w.advance(100)
    w.add_count(41, "g", "x")  # outside the 1h window (minutes 41..100 are 60: 41 is inside)
    w.add_count(40, "g", "x")  # 40 is outside 1h
    w.add_count(100, "g", "x")
    assert w.tot1 == {"g": {"x": 2}} and w.tot24 == {"g": {"x": 3}}
    w.advance(101)  # 41 leaves the 1h window
    assert w.tot1 == {"g": {"x": 1}}
    w.advance(100 + 1439)  # 1h: only nothing; 24h: minutes 100..1539 -> only 100
    assert w.tot1 == {} and w.tot24 == {"g": {"x": 1}}
    w.advance(100 + 1440)
    assert w.tot24 == {} and w.buckets == {}
    w.add_value(1540, "v", 5)
    w.add_value(1540, "v", 3)
    assert w.vals24 == {"v": [3, 5]}
    w.remove_value(1540, "v", 5)
    assert w.vals24 == {"v": [3]}


def test_arrivals_1h_by_minute_of_event_time():
    f = Factory()
    p = RegionProcessor(registry())
    run(p, [f.arrive(0, "A"), f.arrive(59.5, "B", mode="ambulance"), f.arrive(60.2, "C")])
    s = snap(p, "location:h1-seh")
    # now = minute 60: the 1h window is minutes 1..60, so A (minute 0) is out
    assert s["arrivals_1h"] == {"ambulance": 1, "gp_referral": 1}
    assert s["arrivals_24h"] == {"ambulance": 1, "gp_referral": 2}


def test_los_percentiles_over_24h():
    f = Factory()
    p = RegionProcessor(registry())
    evs = []
    stays = [30, 60, 90, 120, 150, 180, 210, 240, 270, 300]  # minutes
    for i, los in enumerate(stays):
        evs.append(f.arrive(i, f"E{i}"))
        evs.append(f.depart(i + los, f"E{i}"))
    run(p, sorted(evs, key=lambda e: e.key))
    s = snap(p, "location:h1-seh")
    # 10 stays: p50 rank 5 -> 150; p90 rank 9 -> 270; > 4 h (240): 270, 300 -> 0.2
    assert s["los_p50_minutes_24h"] == 150.0
    assert s["los_p90_minutes_24h"] == 270.0
    assert s["los_over_4h_share_24h"] == 0.2
    # the first departure (minute 30) leaves the 24h window at minute 30 + 1440
    p.advance(T0 + (30 + 1440) * MIN)
    s = snap(p, "location:h1-seh")
    # 9 stays 60..300: p50 rank 5 -> 180; p90 rank ceil(8.1) = 9 -> 300
    assert s["los_p50_minutes_24h"] == 180.0
    assert s["los_p90_minutes_24h"] == 300.0


def test_episode_for_n_minutes():
    st, a = alerts.step(None, 0, True, False, 10, 15)
    assert a is None and st["p"] == 0
    st, a = alerts.step(st, 9, True, False, 10, 15)
    assert a is None
    st, a = alerts.step(st, 10, True, False, 10, 15)
    assert a == alerts.RAISE and st["a"] == 0
    st, a = alerts.step(st, 11, False, True, 10, 15)
    st, a = alerts.step(st, 12, True, False, 10, 15)  # one false evaluation restarts the clear
    st, a = alerts.step(st, 13, False, True, 10, 15)
    st, a = alerts.step(st, 27, False, True, 10, 15)
    assert a is None
    st, a = alerts.step(st, 28, False, True, 10, 15)
    assert a == alerts.RESOLVE and st is None
