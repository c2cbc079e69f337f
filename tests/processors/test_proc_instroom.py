"""Ambulance response and handover times, first-line share, calls, feed_silent, seh_stop."""

from _factory import MIN, T0, Factory, alerts, fmt, registry, run, snap

from processors.region import RegionProcessor


def rides(f: Factory):
    return [
        f.ev("rav", "dispatch.assigned", 1, ride_id="R1", urgency="A1", call_received_at=fmt(0)),
        f.ev("rav", "dispatch.assigned", 6, ride_id="R2", urgency="A1", call_received_at=fmt(5)),
        f.ev("rav", "dispatch.assigned", 7, ride_id="R3", urgency="A2", call_received_at=fmt(6)),
        f.ev("rav", "dispatch.assigned", 11, ride_id="R4", urgency="A0", call_received_at=fmt(10)),
        f.ev("rav", "dispatch.on_scene", 12, ride_id="R1"),  # response 12 - 0 = 12 min
        f.ev("rav", "dispatch.on_scene", 19, ride_id="R4"),  # response 19 - 10 = 9 min
        f.ev("rav", "dispatch.transporting", 20, ride_id="R1", destination="h1-seh", eta=fmt(35)),
        f.ev("rav", "dispatch.on_scene", 25, ride_id="R2"),  # response 25 - 5 = 20 min
        f.ev("rav", "dispatch.on_scene", 40, ride_id="R3"),  # A2: not in the A1 figures
        f.ev("rav", "dispatch.transporting", 30, ride_id="R2", destination="h1-seh", eta=fmt(45)),
        f.ev("rav", "dispatch.at_hospital", 34, ride_id="R1", location="h1-seh"),
        f.ev("rav", "dispatch.at_hospital", 40, ride_id="R2", location="h1-seh"),
        f.ev("rav", "dispatch.handover_completed", 49, ride_id="R1"),  # handover 15 min
    ]


def test_ambulance_response_and_handover():
    f = Factory()
    p = RegionProcessor(registry())
    evs = sorted(rides(f), key=lambda e: e.key)
    run(p, evs[:7])  # up to R1 transporting at 20
    assert snap(p, "location:h1-seh")["ambulances_en_route"] == 1
    out = run(p, evs[7:])
    s = snap(p, "location:h1-seh")
    assert s["ambulances_en_route"] == 0
    assert s["handovers_in_progress"] == 1  # R2 since 40
    assert s["longest_handover_minutes"] == 9.0  # now 49
    assert s["handover_p90_minutes_24h"] == 15.0
    r = snap(p, "region:test")
    # A0/A1 responses 9, 12, 20: p95 at rank ceil(0.95*3) = 3 -> 20; within 15: 2/3
    assert r["a1_response_p95_minutes_24h"] == 20.0
    assert r["a1_within_15m_share_24h"] == 0.6667
    assert r["rides_24h"] == {"A0": 1, "A1": 2, "A2": 1}
    obs = [o for o in out if o.kind == "observation" and o.key == "ambulance_handover"]
    assert [o.data["seconds"] for o in obs] == [900.0]
    # handover of R2 ongoing > 30 min from minute 70: raised at the first evaluation after
    out = p.advance(T0 + 70 * MIN)
    assert alerts(out, "handover_delay") == []
    out = p.advance(T0 + 71 * MIN)
    assert alerts(out, "handover_delay") == [("raised", f"test:handover_delay:h1-seh:{T0 + 70 * MIN}", 71)]
    out = run(p, [f.ev("rav", "dispatch.handover_completed", 80, ride_id="R2")])  # 40 min
    assert alerts(out, "handover_delay") == [("resolved", f"test:handover_delay:h1-seh:{T0 + 70 * MIN}", 80)]
    s = snap(p, "location:h1-seh")
    # handovers 15 and 40: p90 at rank ceil(0.9*2) = 2 -> 40; over 30 min: 1
    assert s["handover_p90_minutes_24h"] == 40.0
    assert s["handovers_over_30m_24h"] == 1
    assert s["handovers_in_progress"] == 0 and s["longest_handover_minutes"] == 0.0


def test_first_line_share_and_calls():
    f = Factory()
    p = RegionProcessor(registry())
    evs = [
        f.ev("hap", "call.received", 0, call_id="c1", service="hap", urgency="U3"),
        f.ev("hap", "call.received", 1, call_id="c2", service="hap"),
        f.ev("hap", "call.received", 2, call_id="c3", service="112"),
        f.ev("hap", "call.received", 3, call_id="c4", service="hap"),
        f.ev("hap", "call.received", 4, call_id="c5", service="ggz"),
        f.ev("hap", "call.triaged", 5, call_id="c2", urgency="U4"),
        f.ev("hap", "call.completed", 10, call_id="c1", outcome="self_care"),
        f.ev("hap", "call.completed", 11, call_id="c2", outcome="appointment"),
        f.ev("hap", "call.completed", 12, call_id="c3", outcome="ambulance"),
        f.ev("hap", "call.completed", 13, call_id="c4", outcome="seh_referral", destination="h1-seh"),
    ]
    run(p, evs)
    r = snap(p, "region:test")
    # completed 4: first line (self_care, appointment) 2 -> 0.5; c5 not completed
    assert r["first_line_share_24h"] == 0.5
    assert r["calls_24h"] == {"112": 1, "ggz": 1, "hap": 3}
    assert r["calls_1h"] == {"112": 1, "ggz": 1, "hap": 3}
    assert r["calls_by_urgency_24h"] == {"U3": 1, "U4": 1}
    p.advance(T0 + 61 * MIN)  # the 1h window is minutes 2..61: c1, c2 leave it
    r = snap(p, "region:test")
    assert r["calls_1h"] == {"112": 1, "ggz": 1, "hap": 1}
    assert r["calls_24h"] == {"112": 1, "ggz": 1, "hap": 3}


def test_feed_silent_and_resume():
    f = Factory()
    p = RegionProcessor(registry())
    out = run(p, [f.arrive(0, "A"), f.ev("hap", "call.received", 0, call_id="c", service="hap")])
    out += run(p, [f.arrive(14, "B")])
    assert alerts(out, "feed_silent") == []
    out = run(p, [f.arrive(16, "C")])  # hap silent since 0: condition held from 15
    assert alerts(out, "feed_silent") == [("raised", f"test:feed_silent:hap:{T0 + 15 * MIN}", 16)]
    data = [o.data for o in out if o.kind == "alert.raised"][0]
    assert data["partner"] == "hap" and data["started_at"] == fmt(15)
    out = run(p, [f.ev("hap", "call.received", 20, call_id="c2", service="hap")])
    assert alerts(out, "feed_silent") == [("resolved", f"test:feed_silent:hap:{T0 + 15 * MIN}", 20)]
    assert [a for a in p.open_alerts() if a["kind"] == "feed_silent" and a["partner"] == "hap"] == []


def test_seh_stop():
    f = Factory()
    p = RegionProcessor(registry())
    out = run(p, [f.arrive(0, "A"), f.status(5, "h1-seh", "stop")])
    assert alerts(out, "seh_stop") == [("raised", f"test:seh_stop:h1-seh:{T0 + 5 * MIN}", 5)]
    s = snap(p, "location:h1-seh")
    assert s["status"] == "stop" and s["status_since"] == fmt(5)
    assert snap(p, "region:test")["sehs_on_stop"] == 1
    out = run(p, [f.status(8, "h1-seh", "stop")])  # no change: no repeat
    assert alerts(out, "seh_stop") == []
    out = run(p, [f.status(30, "h1-seh", "open")])
    assert alerts(out, "seh_stop") == [("resolved", f"test:seh_stop:h1-seh:{T0 + 5 * MIN}", 30)]
    assert snap(p, "location:h1-seh")["status_since"] == fmt(30)
    assert snap(p, "region:test")["sehs_on_stop"] == 0


def test_feed_silent_threshold_of_a_partner_that_reports_rarely():
    """A partner's own `feed_silent_minutes` (registry) replaces the region's 15 minutes."""
    import dataclasses

    reg = registry()
    partners = dict(reg.partners)
    partners["hap"] = dataclasses.replace(partners["hap"], feed_silent_minutes=60)
    p = RegionProcessor(dataclasses.replace(reg, partners=partners))
    f = Factory()
    out = run(p, [f.arrive(0, "A"), f.ev("hap", "call.received", 0, call_id="c", service="hap")])
    out += run(p, [f.arrive(30, "B"), f.arrive(59, "C")])
    assert alerts(out, "feed_silent") == []  # 59 min quiet: below its 60
    out = run(p, [f.arrive(61, "D")])  # silent since 0: the condition held from 60
    assert alerts(out, "feed_silent") == [("raised", f"test:feed_silent:hap:{T0 + 60 * MIN}", 61)]
    data = [o.data for o in out if o.kind == "alert.raised"][0]
    assert data["thresholds"] == {"feed_silent_minutes": 60}


def test_registry_rejects_a_partner_threshold_that_is_not_a_positive_number():
    import pytest

    from topics.registry import RegistryError, parse_registry

    raw = {"region": {"id": "r"}, "partners": [{"id": "p", "kind": "hap", "feed_silent_minutes": 0}],
           "locations": []}
    with pytest.raises(RegistryError, match="partner 'p': feed_silent_minutes must be a positive number"):
        parse_registry(raw)
