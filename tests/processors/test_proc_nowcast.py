"""The nowcast (processors/nowcast.py): its pure functions and the SEH snapshot fields,
the destination advice and the seh_crowding_forecast alert, with hand-computed numbers."""

from __future__ import annotations

import dataclasses

import orjson
import pytest
from _factory import HOUR, MIN, T0, Factory, alerts, fmt, registry, run, snap

from processors import nowcast
from processors.crowding import Nedocs, SehFigures
from processors.region import RegionProcessor
from topics.registry import RegistryError, Thresholds, parse_registry

PR = nowcast.params(Thresholds())


def _registry_with_profile(per_hour: float = 5.0, **thresholds):
    """The test region, h1-seh with an expected 5 arrivals in every hour of the day."""
    reg = registry(**thresholds)
    locs = dict(reg.locations)
    locs["h1-seh"] = dataclasses.replace(locs["h1-seh"], expected_arrivals_per_hour=(per_hour,) * 24)
    return dataclasses.replace(reg, locations=locs)


# ==================================================================== pure functions
def test_unannounced_weight_is_the_share_of_spans_not_yet_announced():
    assert nowcast.unannounced_weight(None) == 1.0
    assert nowcast.unannounced_weight(0) == 1.0
    assert nowcast.unannounced_weight(15 * MIN) == 0.75
    assert nowcast.unannounced_weight(60 * MIN) == 0.0
    assert nowcast.unannounced_weight(90 * MIN) == 0.0


def test_hour_of_week_is_local_time():
    # 2026-01-01 is a Thursday; 06:00Z is 07:00 in Amsterdam (CET): 3 * 24 + 7
    assert nowcast.slot_of(nowcast.hour_of(T0 + 6 * HOUR)) == 79
    # Monday 2026-01-05 00:00 CET = Sunday 23:00Z
    assert nowcast.slot_of(nowcast.hour_of(T0 + 3 * 24 * HOUR + 23 * HOUR)) == 0
    # summer time: Monday 2026-07-06 00:00 CEST = Sunday 22:00Z
    assert nowcast.slot_of(nowcast.hour_of(1_783_288_800_000)) == 0
    # past the end of the calendar (a partner's clock error at 9999-12-31T23:00Z, a
    # Friday; the next hour is a Saturday 00:00 UTC): no overflow
    assert nowcast.slot_of(253_402_297_200_000 // HOUR + 1) == 5 * 24


def test_slot_rate_shrinks_the_hour_of_week_to_the_hour_of_day_and_the_prior():
    st = nowcast.empty_seh()
    assert nowcast.slot_rate(st, 0, 3.0, PR) == 3.0  # no history: the prior
    h = nowcast.hour_of(T0 + 6 * HOUR)
    st["s"][79], st["w"][79] = 6.0, 1.0
    # hour of day: (6 + 2 * 3) / (1 + 2) = 4; hour of week: (6 + 2 * 4) / (1 + 2) = 14/3
    assert nowcast.slot_rate(st, h, 3.0, PR) == pytest.approx(14 / 3)
    # the same hour of day on another weekday: only the hour-of-day mean, 4
    assert nowcast.slot_rate(st, h + 24, 3.0, PR) == pytest.approx(4.0)


def test_level_ratio_is_actual_over_forecast_shrunk_to_one():
    st = nowcast.empty_seh()
    st["r"] = [[1, 5.0, 3.0], [2, 4.0, 3.0]]
    # (5 + 4 + 1 + 4) / (3 + 3 + 1 + 4) = 14 / 11
    assert nowcast.level_ratio(st, 1.0, 1.0, PR) == pytest.approx(14 / 11)
    assert nowcast.level_ratio(nowcast.empty_seh(), 0.0, 0.0, PR) == 1.0


def test_expected_unannounced_weights_the_current_and_next_hour():
    st = nowcast.empty_seh()
    now = T0 + 15 * MIN  # a quarter of the hour gone: 3/4 of this hour, 1/4 of the next
    # no history: rates are the priors 4 and 8; ratio (0 + 4) / (4 * 0.25 + 4) = 0.8
    got = nowcast.expected_unannounced(st, now, 4.0, 8.0, 0.0, PR)
    assert got == pytest.approx((0.75 * 4 + 0.25 * 8) * 0.8)


def test_conditional_share_from_a_histogram():
    hist = [0.0] * (nowcast.LOS_BINS + 1)
    hist[6] = 10.0  # stays of 60-70 min
    hist[12] = 10.0  # stays of 120-130 min
    cum = nowcast.cumulative(hist)
    # just arrived: nobody leaves within 60 min (< 60): (0 + 0.3) / (20 + 1)
    assert nowcast.conditional_share(cum, nowcast.LOS_BIN_MS, 0, 0.0, 0.3) == pytest.approx(0.3 / 21)
    # stayed 65 min: 15 left of which 10 leave by 125 min: (10 + 0.3) / (15 + 1)
    assert nowcast.conditional_share(cum, nowcast.LOS_BIN_MS, 65 * MIN, 0.0, 0.3) == pytest.approx(10.3 / 16)
    assert nowcast.expected_departures(cum, [0, 65 * MIN], PR) == pytest.approx(0.3 / 21 + 10.3 / 16)


def test_referral_chance_counts_referrals_that_never_came():
    ref = [0.0] * 72
    ref[6] = 6.0  # 30-35 min
    cum = nowcast.cumulative([*ref, 0.0])
    # 6 came within 35 min, 2 never came: at age 0, (6 + 0.5) / (8 + 1)
    assert nowcast.referral_chance(cum, 2.0, 0, PR) == pytest.approx(6.5 / 9)
    assert nowcast.referral_chance(cum, 2.0, 6 * HOUR, PR) == 0.0  # past the horizon


def test_close_seh_hour_updates_the_aggregates():
    st = nowcast.close_seh_hour(nowcast.empty_seh(), nowcast.hour_of(T0 + 6 * HOUR), 2.5, 3,
                                [30 * MIN, 200 * MIN], 4.0, PR)
    assert st["s"][79] == 2.5 and st["w"][79] == 1.0
    assert st["u"] == [2.5, 3.0]
    assert st["r"] == [[nowcast.hour_of(T0 + 6 * HOUR), 2.5, 4.0]]
    assert st["los"][3] == 1.0 and st["los"][20] == 1.0 and sum(st["los"]) == 2.0
    # a week later the same slot: the old week decays by 1 - 1/8
    st2 = nowcast.close_seh_hour(st, nowcast.hour_of(T0 + 6 * HOUR) + 168, 5.0, 5, [], 4.0, PR)
    assert st2["s"][79] == 2.5 * 0.875 + 5.0 and st2["w"][79] == 1.875
    assert len(st2["r"]) == 2


def test_predict_adds_announced_and_unannounced_and_applies_nedocs():
    now = T0
    core = SehFigures(patients=10, waiting=0, boarders=0, critical=0, staffed_beds=20,
                      longest_boarding_hours=0.0, last_bed_wait_hours=0.0, nedocs=Nedocs(None, None, None))
    empty_los = nowcast.cumulative([0.0] * (nowcast.LOS_BINS + 1))
    empty_ref = nowcast.cumulative([0.0] * 73)
    fc, announced = nowcast.predict(
        now=now, core=core, ward_beds=100,
        etas=[now - 30 * MIN, now + 10 * MIN, now + 70 * MIN, now - 90 * MIN],
        referral_ages_ms=[0], ref_cum=empty_ref, never=0.0,
        stayed_ms=[10 * MIN, 50 * MIN], los_cum=empty_los, unannounced=3.0, pr=PR)
    # rides: the overdue one and the one due in 10 min (not the one in 70, not the stale
    # one 90 min past); the referral: the prior 0.5; departures: the prior 0.3 each
    assert announced == 2.5
    assert fc.expected_arrivals == 5.5
    assert fc.expected_departures == pytest.approx(0.6)
    assert fc.predicted_patients == pytest.approx(14.9)
    # -20 + 85.8 * 14.9 / 20 = 43.921
    assert fc.predicted_nedocs == pytest.approx(43.921)
    assert fc.predicted_level == 2
    assert nowcast.fields(fc)["predicted_nedocs_60m"] == 43.92


def test_poisson_floor():
    assert nowcast.poisson_mae_floor(6.6) == pytest.approx(2.0497, abs=1e-3)


# ==================================================================== in the region
def test_snapshot_fields_from_a_ride_and_the_prior():
    f = Factory()
    p = RegionProcessor(_registry_with_profile())
    run(p, [
        f.ev("rav", "dispatch.assigned", 0, ride_id="R1", urgency="A2", call_received_at=fmt(0)),
        f.ev("rav", "dispatch.transporting", 0, ride_id="R1", destination="h1-seh", eta=fmt(10)),
    ])
    s = snap(p, "location:h1-seh")
    # unannounced: the profile's 5 an hour times the prior unannounced share 0.8 = 4;
    # the ride due in 10 min: 1
    assert s["expected_arrivals_60m"] == 5.0
    assert s["expected_departures_60m"] == 0.0
    assert s["predicted_patients_60m"] == 5.0
    assert s["predicted_nedocs_60m"] == 22.9  # -20 + 85.8 * 5 / 10
    assert s["predicted_nedocs_level_60m"] == 2
    # h2-seh has no profile: the flat prior 0.1136 per space and hour * 10 * 0.8
    assert snap(p, "location:h2-seh")["expected_arrivals_60m"] == 0.91
    # half an hour later a walk-in came: the level ratio (1 + 4) / (4 * 0.5 + 4) = 5/6
    run(p, [f.arrive(30, "E1", mode="self_referral")])
    s = snap(p, "location:h1-seh")
    assert s["expected_arrivals_60m"] == round(1 + 4 * 5 / 6, 2)  # the ride, overdue, still counts
    assert s["expected_departures_60m"] == 0.3  # no stays observed yet: the prior
    assert s["predicted_patients_60m"] == round(1 + 1 + 4 * 5 / 6 - 0.3, 2)


def test_a_referral_counts_with_its_chance_to_arrive():
    f = Factory()
    p = RegionProcessor(_registry_with_profile(0.0))
    run(p, [
        f.ev("hap", "call.received", 0, call_id="C1", service="hap"),
        f.ev("hap", "call.completed", 5, call_id="C1", outcome="seh_referral", destination="h1-seh"),
    ])
    assert snap(p, "location:h1-seh")["expected_arrivals_60m"] == 0.5  # the prior chance
    run(p, [f.ev("h1", "seh.arrived", 40, encounter_id="E1", location="h1-seh", arrival_mode="hap_referral",
                 call_id="C1")])
    assert snap(p, "location:h1-seh")["expected_arrivals_60m"] == 0.0  # arrived: no longer expected


def test_closing_an_hour_learns_arrivals_stays_and_referral_delays():
    f = Factory()
    p = RegionProcessor(_registry_with_profile())
    run(p, [f.ev("rav", "dispatch.assigned", -30, ride_id="R0", urgency="A2", call_received_at=fmt(-31))])
    evs = [
        f.arrive(5, "E1", mode="self_referral"),
        f.arrive(10, "E2", mode="gp_referral"),
        f.ev("rav", "dispatch.transporting", 5, ride_id="R0", destination="h1-seh", eta=fmt(20)),
        f.ev("hap", "call.received", 0, call_id="C1", service="hap"),
        f.ev("hap", "call.completed", 2, call_id="C1", outcome="seh_referral", destination="h1-seh"),
        f.ev("h1", "seh.arrived", 20, encounter_id="E3", location="h1-seh", arrival_mode="ambulance", ride_id="R0"),
        f.ev("h1", "seh.arrived", 42, encounter_id="E4", location="h1-seh", arrival_mode="hap_referral",
             call_id="C1"),
        f.depart(30, "E1"),  # a stay of 25 min
        f.arrive(61, "E5", mode="self_referral"),  # the clock passes 01:00Z: hour 0 closes
    ]
    run(p, sorted(evs, key=lambda e: e.key))
    h0 = nowcast.hour_of(T0)
    slot = nowcast.slot_of(h0)
    st = p.nowcast.seh["h1-seh"]
    # E1, E2 unannounced (1 + 1); E3 announced 15 min ahead (0.75); E4 40 min (1/3)
    assert st["s"][slot] == pytest.approx(2 + 0.75 + 1 / 3, abs=1e-6)
    assert st["w"][slot] == 1.0
    assert st["u"] == [pytest.approx(3.083333, abs=1e-6), 4.0]
    assert st["r"] == [[h0, pytest.approx(3.083333, abs=1e-6), 4.0]]  # forecast: the prior 5 * 0.8
    assert st["los"][2] == 1.0  # 25 min
    assert p.nowcast.region["h"] == h0
    assert p.nowcast.region["ref"][8] == 1.0  # referral delay 40 min: the 40-45 min bin
    # the first, partial hour of the stream is not learnt: h2-seh saw no hour yet ... but
    # hour 0 was complete for it too (no arrivals): learnt as zero
    assert p.nowcast.seh["h2-seh"]["w"][slot] == 1.0 and p.nowcast.seh["h2-seh"]["s"][slot] == 0.0
    # the state round-trips
    state = orjson.loads(orjson.dumps(p.dump()))
    q = RegionProcessor.restore(p.registry, state)
    assert orjson.loads(orjson.dumps(q.dump())) == state
    assert q.snapshots() == p.snapshots()


def test_forecast_alert_raised_before_crowding_and_resolved_when_it_comes():
    f = Factory()
    p = RegionProcessor(_registry_with_profile())
    # five patients since 00:30 the evening before; the stream starts then
    run(p, [f.arrive(-30, f"E{i}") for i in range(5)])
    rides = []
    for i in range(10):
        rides.append(f.ev("rav", "dispatch.assigned", 0, ride_id=f"R{i}", urgency="A1", call_received_at=fmt(0)))
        rides.append(f.ev("rav", "dispatch.transporting", 0, ride_id=f"R{i}", destination="h1-seh", eta=fmt(20)))
    out = run(p, rides)
    s = snap(p, "location:h1-seh")
    # 5 present + 10 rides + 4 unannounced - 5 * 0.3 departures = 17.5; NEDOCS 130.15
    assert s["predicted_patients_60m"] == 17.5
    assert s["predicted_nedocs_60m"] == 130.15 and s["predicted_nedocs_level_60m"] == 4
    assert s["nedocs_level"] == 2
    out += p.advance(T0 + 9 * MIN)
    assert alerts(out, "seh_crowding_forecast") == []  # pending, for 10 min
    out += p.advance(T0 + 10 * MIN)
    assert alerts(out, "seh_crowding_forecast") == [("raised", f"test:seh_crowding_forecast:h1-seh:{T0}", 10.0)]
    raised = [o for o in out if o.kind == "alert.raised"][-1].data
    assert raised["values"]["predicted_nedocs_level_60m"] == 4 and raised["location"] == "h1-seh"
    arrivals = []
    for i in range(10):
        arrivals.append(f.ev("rav", "dispatch.at_hospital", 20, ride_id=f"R{i}", location="h1-seh"))
        arrivals.append(f.ev("h1", "seh.arrived", 20, encounter_id=f"A{i}", location="h1-seh",
                             arrival_mode="ambulance", ride_id=f"R{i}"))
    out = run(p, arrivals)
    # 15 patients: NEDOCS -20 + 85.8 * 1.5 = 108.7, level 4: crowding reached, the
    # forecast alert resolves at once (seh_crowding takes over after its 10 min)
    assert snap(p, "location:h1-seh")["nedocs_level"] == 4
    assert alerts(out, "seh_crowding_forecast") == [("resolved", f"test:seh_crowding_forecast:h1-seh:{T0}", 20.0)]


def test_destination_advice_ranks_open_sehs_by_predicted_nedocs():
    f = Factory()
    p = RegionProcessor(_registry_with_profile())
    run(p, [f.arrive(0, "E1")])
    advice = snap(p, "region:test")["destination_advice"]
    # h2-seh: 0.91 expected; h1-seh: 1 present + 4 - 0.3 (its ratio: (1+4)/(0+4))
    assert [a["location"] for a in advice] == ["h2-seh", "h1-seh"]
    assert advice[0] == {"location": "h2-seh", "hospital": "h2", "predicted_nedocs_60m": 0.0,
                         "predicted_nedocs_level_60m": 1}
    run(p, [f.status(1, "h2-seh", "stop", partner="h2")])
    assert [a["location"] for a in snap(p, "region:test")["destination_advice"]] == ["h1-seh"]


def test_registry_profile_is_validated():
    raw = {
        "region": {"id": "r"},
        "partners": [{"id": "h", "kind": "hospital"}],
        "locations": [{"id": "s", "partner": "h", "kind": "seh", "staffed_beds": 4,
                       "expected_arrivals_per_hour": [1] * 23}],
    }
    with pytest.raises(RegistryError, match="24 numbers"):
        parse_registry(raw)
    raw["locations"][0]["expected_arrivals_per_hour"] = [1.5] * 24
    assert parse_registry(raw).locations["s"].expected_arrivals_per_hour == (1.5,) * 24


def test_departure_ratio_compares_departures_with_what_was_expected():
    st = nowcast.empty_seh()
    assert nowcast.departure_ratio(st, PR) == 1.0
    st = nowcast.close_departures(st, 10, 3, 2.5, PR)  # nothing expected of hour 10 yet
    assert st["rd"] == [] and st["d"] == [11, 2.5]
    st = nowcast.close_departures(st, 11, 1, 4.0, PR)
    assert st["rd"] == [[11, 1, 2.5]] and st["d"] == [12, 4.0]
    # (1 + 4) / (2.5 + 4): fewer left than expected, so fewer will
    assert nowcast.departure_ratio(st, PR) == pytest.approx(5 / 6.5)
