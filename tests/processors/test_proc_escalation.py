"""Regional escalation with hysteresis: climb 1 -> 3, fall back, by hand."""

from _factory import MIN, T0, Factory, alerts, registry, run, snap

from processors.region import RegionProcessor

# Clinical beds of the region: h1-int 40 + h2-kl 50 = 90. Level 2 at >= 0.90 (81 patients),
# level 3 at >= 0.95 (86: 85.5 rounded up), level 4 at >= 0.98 (89).


def admit_n(f: Factory, minute: float, n: int, start: int) -> list:
    evs = []
    for i in range(start, start + n):
        ward, hosp = ("h1-int", "h1") if i < 40 else ("h2-kl", "h2")
        evs.append(f.admit(minute, f"P{i}", ward=ward, hosp=hosp))
    return evs


def discharge_ids(f: Factory, minute: float, ids: range) -> list:
    return [f.discharge(minute, f"P{i}", hosp="h1" if i < 40 else "h2") for i in ids]


def level(p):
    return snap(p, "region:test")["escalation_level"]


def test_climb_step_by_step_and_fall_with_hysteresis():
    f = Factory()
    p = RegionProcessor(registry())
    out = run(p, admit_n(f, 0, 81, 0))  # 81/90 = 0.90: "at least 2" from minute 0
    out += run(p, admit_n(f, 5, 5, 81))  # 86/90 = 0.9556: "at least 3" from minute 5
    assert snap(p, "region:test")["occupancy_by_bed_type"]["clinical"] == 0.9556
    assert alerts(out, "regional_escalation") == [] and level(p) == 1
    out = p.advance(T0 + 10 * MIN)  # at least 2 for 10 min (escalate_after 10)
    assert alerts(out, "regional_escalation") == [("raised", f"test:regional_escalation:level2:{T0}", 10)]
    assert level(p) == 2
    raised = [o.data for o in out if o.kind == "alert.raised" and o.data["kind"] == "regional_escalation"][0]
    assert raised["level"] == 2 and raised["severity"] == "warning" and raised["actions"] == ["a2"]
    assert any("clinical occupancy" in r for r in raised["reasons"])
    out = p.advance(T0 + 15 * MIN)
    assert alerts(out, "regional_escalation") == [("raised", f"test:regional_escalation:level3:{T0 + 5 * MIN}", 15)]
    assert level(p) == 3
    assert [o.data["actions"] for o in out if o.kind == "alert.raised" and o.data["kind"] == "regional_escalation"] == [["a3"]]
    # minute 20: 5 leave: 81/90 = 0.90: at least 3 false from 20, at least 2 still true
    out = run(p, discharge_ids(f, 20, range(81, 86)))
    out += p.advance(T0 + 49 * MIN)
    assert alerts(out, "regional_escalation") == [] and level(p) == 3  # false for 29 min only
    out = p.advance(T0 + 50 * MIN)  # false for 30 min (deescalate_after 30)
    assert alerts(out, "regional_escalation") == [("resolved", f"test:regional_escalation:level3:{T0 + 5 * MIN}", 50)]
    assert level(p) == 2
    # minute 60: one more leaves: 80/90 = 0.889: at least 2 false from 60 -> inactive at 90
    out = run(p, discharge_ids(f, 60, range(80, 81)))
    out += p.advance(T0 + 89 * MIN)
    assert alerts(out, "regional_escalation") == [] and level(p) == 2
    out = p.advance(T0 + 90 * MIN)
    assert alerts(out, "regional_escalation") == [("resolved", f"test:regional_escalation:level2:{T0}", 90)]
    assert level(p) == 1


def test_climb_1_to_3_raises_2_then_3_and_fall_resolves_3_then_2():
    f = Factory()
    p = RegionProcessor(registry())
    run(p, admit_n(f, 0, 86, 0))  # 0.9556 from minute 0: at least 2 and at least 3
    out = p.advance(T0 + 10 * MIN)
    assert alerts(out, "regional_escalation") == [
        ("raised", f"test:regional_escalation:level2:{T0}", 10),
        ("raised", f"test:regional_escalation:level3:{T0}", 10),
    ]
    # a true evaluation in between restarts the de-escalation: false at 20, true at 25, false at 30
    run(p, discharge_ids(f, 20, range(0, 10)))  # 76/90 = 0.84
    run(p, admit_n(f, 25, 10, 100))  # 86/90 again
    run(p, [f.discharge(30, f"P{i}", hosp="h2") for i in range(100, 110)])  # 76/90
    out = p.advance(T0 + 59 * MIN)
    assert alerts(out, "regional_escalation") == []  # would have resolved at 50 without the restart
    out = p.advance(T0 + 60 * MIN)
    assert alerts(out, "regional_escalation") == [
        ("resolved", f"test:regional_escalation:level3:{T0}", 60),
        ("resolved", f"test:regional_escalation:level2:{T0}", 60),
    ]
    assert level(p) == 1


def test_level_3_by_half_the_sehs_and_level_4_by_both_occupancies():
    # One of two SEHs at NEDOCS level >= 4 is half the region's SEHs: level 3.
    f = Factory()
    p = RegionProcessor(registry(escalate_after_minutes=0))
    evs = [f.capacity(0, "h1-seh", 2)] + [f.arrive(0, f"S{i}") for i in range(3)]
    evs += [f.triage(1, "S0", "U1"), f.triage(1, "S1", "U1")]
    out = run(p, evs)
    # -20 + 85.8*3/2 + 13.4*2 = 135.5: level 4
    assert snap(p, "location:h1-seh")["nedocs_level"] == 4
    assert level(p) == 3
    assert [a[0] for a in alerts(out, "regional_escalation")].count("raised") >= 2
    # IC: h1-ic has 10 beds: 10 patients = 1.0 and clinical 86/90 = 0.9556 -> level 4
    f2 = Factory()
    q = RegionProcessor(registry(escalate_after_minutes=0))
    evs = admit_n(f2, 0, 86, 0) + [f2.admit(0, f"I{i}", ward="h1-ic") for i in range(10)]
    run(q, evs)
    assert level(q) == 4
    assert snap(q, "hospital:h1")["occupancy_by_bed_type"] == {"clinical": 1.0, "ic": 1.0}
