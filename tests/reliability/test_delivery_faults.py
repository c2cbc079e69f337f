"""Item 2 of "Reliability and security": delivery faults through the real pipeline.

- Every event delivered twice, the whole log shuffled within the allowed lateness, and
  the first half hour delivered a third time at the end (a producer retry storm): the
  final snapshots and alerts equal the replay of the clean, ordered log; each event is
  applied exactly once and every extra copy is counted as a duplicate.
- Cancellations (`encounter.cancelled`, HL7 A11/A12/A13-style undo), which the simulator
  emits only rarely: a hand-built scenario, delivered out of order within the lateness.

The shuffle: every copy is sorted by `time + jitter`, jitter uniform in [0, 110 s). An
event then never follows one more than 110 s younger on any partition, so it is never
behind the pipeline's watermark (min over input partitions of the latest event time read,
minus 2 min) and the pipeline applies exactly the clean log's order.
"""

from __future__ import annotations

import random
from typing import Any

from tests.reliability import rel
from tests.support import Stack
from topics.codec import parse_time

JITTER_MS = 110_000


def _jittered(items: list[tuple[str, str, dict[str, Any]]], copies: int, seed: int) -> list[tuple[str, str, dict[str, Any]]]:
    rng = random.Random(seed)
    keyed = [(parse_time(ev["time"]) + rng.uniform(0, JITTER_MS), n, item)
             for n, item in enumerate(items * copies) for ev in (item[2],)]
    return [item for _k, _n, item in sorted(keyed, key=lambda x: (x[0], x[1]))]


def test_duplicated_and_shuffled_delivery_equals_clean_replay(stack: Stack) -> None:
    items = rel.scenario(hours=4, seed=5)
    ref = rel.reference_of(items)
    start = parse_time(items[0][2]["time"])
    delivered = _jittered(items, copies=2, seed=5)
    storm = [it for it in items if parse_time(it[2]["time"]) < start + 30 * 60_000]
    delivered += storm
    assert delivered != items * 2, "the shuffle must actually reorder"
    moved = sum(1 for a, b in zip(delivered, delivered[1:]) if parse_time(a[2]["time"]) > parse_time(b[2]["time"]))
    assert moved > 100, moved

    worker, port = stack.start_worker()
    rel.produce(stack, rel.as_records(delivered))
    got = rel.wait_final(stack, ref, "the worker to reach the clean replay's snapshot from a duplicated, shuffled log")
    rel.assert_snapshots_equal(got, ref)
    alerts = [a["id"] for a in rel.alert_events(stack)]
    assert sorted(alerts) == ref.alert_ids, "alerts differ from the clean replay (or repeat)"

    text = rel.metrics_text(port)
    applied = sum(v for _l, v in rel.samples(text, "spoedstroom_events_applied_total"))
    dups = sum(v for _l, v in rel.samples(text, "spoedstroom_events_duplicate_total"))
    assert applied == ref.summary["applied"], (applied, ref.summary)
    assert dups == ref.summary["duplicates"] + len(items) + len(storm), (dups, len(items), len(storm))
    assert rel.metric(text, "spoedstroom_events_late_total") == 0, "the shuffle stays within the lateness"
    assert worker.poll() is None


# --------------------------------------------------------------------- cancellations
T0 = parse_time("2026-11-18T09:00:00Z")


def _ev(n: int, minute: float, type_: str, partner: str, data: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    from simulator.core import envelope, topic_of

    return (topic_of(type_), partner, envelope(type_, partner, f"c-{n:03d}", T0 + int(minute * 60_000), data))


def cancellation_scenario() -> list[tuple[str, str, dict[str, Any]]]:
    """Hand-built: arrivals undone, an admission to the wrong ward undone and re-done, a
    medically-ready status withdrawn, a discharge undone, a departure undone."""
    e: list[tuple[str, str, dict[str, Any]]] = []
    n = iter(range(1000))
    seh, ward, ward2 = "hmc-westeinde-seh", "hmc-westeinde-interne", "hmc-westeinde-chirurgie"
    e.append(_ev(next(n), 0, "capacity.reported", "hmc", {"location": seh, "staffed_beds": 28}))
    e.append(_ev(next(n), 0, "capacity.reported", "hmc", {"location": ward, "staffed_beds": 96}))
    e.append(_ev(next(n), 0, "capacity.reported", "hmc", {"location": ward2, "staffed_beds": 88}))
    for i in range(12):  # twelve patients arrive at the SEH
        e.append(_ev(next(n), 1 + i, "seh.arrived", "hmc", {"encounter_id": f"ce-{i}", "location": seh, "arrival_mode": "self_referral"}))
        e.append(_ev(next(n), 2 + i, "seh.triaged", "hmc", {"encounter_id": f"ce-{i}", "urgency": "U3"}))
    # ce-0, ce-1: arrival entered in error (A11)
    e.append(_ev(next(n), 20, "encounter.cancelled", "hmc", {"encounter_id": "ce-0", "cancelled_type": "seh.arrived"}))
    e.append(_ev(next(n), 21, "encounter.cancelled", "hmc", {"encounter_id": "ce-1", "cancelled_type": "seh.arrived"}))
    # ce-2..ce-5 admitted; ce-2 admitted to the wrong ward, cancelled (A12-like) and re-done
    for i in range(2, 6):
        e.append(_ev(next(n), 25 + i, "seh.treatment_started", "hmc", {"encounter_id": f"ce-{i}"}))
        e.append(_ev(next(n), 40 + i, "seh.admission_requested", "hmc", {"encounter_id": f"ce-{i}", "bed_type": "clinical"}))
        e.append(_ev(next(n), 60 + i, "seh.departed", "hmc", {"encounter_id": f"ce-{i}", "disposition": "admitted"}))
        e.append(_ev(next(n), 60 + i, "ward.admitted", "hmc", {"encounter_id": f"ce-{i}", "location": ward2 if i == 2 else ward, "acute": True}))
    e.append(_ev(next(n), 75, "encounter.cancelled", "hmc", {"encounter_id": "ce-2", "cancelled_type": "ward.admitted"}))
    e.append(_ev(next(n), 80, "ward.admitted", "hmc", {"encounter_id": "ce-2", "location": ward, "acute": True}))
    # ce-3, ce-4 medically ready; ce-3's readiness withdrawn
    e.append(_ev(next(n), 120, "ward.discharge_ready", "hmc", {"encounter_id": "ce-3", "waiting_for": "vvt"}))
    e.append(_ev(next(n), 121, "ward.discharge_ready", "hmc", {"encounter_id": "ce-4", "waiting_for": "elv"}))
    e.append(_ev(next(n), 180, "encounter.cancelled", "hmc", {"encounter_id": "ce-3", "cancelled_type": "ward.discharge_ready"}))
    # ce-5 discharged, discharge undone (A13)
    e.append(_ev(next(n), 200, "ward.discharged", "hmc", {"encounter_id": "ce-5", "destination": "home"}))
    e.append(_ev(next(n), 205, "encounter.cancelled", "hmc", {"encounter_id": "ce-5", "cancelled_type": "ward.discharged"}))
    # ce-6 left the SEH, departure undone; ce-7 left for good
    e.append(_ev(next(n), 150, "seh.departed", "hmc", {"encounter_id": "ce-6", "disposition": "home"}))
    e.append(_ev(next(n), 152, "encounter.cancelled", "hmc", {"encounter_id": "ce-6", "cancelled_type": "seh.departed"}))
    e.append(_ev(next(n), 155, "seh.departed", "hmc", {"encounter_id": "ce-7", "disposition": "home"}))
    # a heartbeat later, so the region's clock moves past everything
    e.append(_ev(next(n), 240, "capacity.reported", "hmc", {"location": ward2, "staffed_beds": 86}))
    return sorted(e, key=lambda it: parse_time(it[2]["time"]))


def test_cancellations_delivered_out_of_order_equal_clean_replay(stack: Stack) -> None:
    items = cancellation_scenario()
    ref = rel.reference_of(items)
    without = rel.reference_of([it for it in items if not it[2]["type"].endswith("encounter.cancelled.v1")])
    seh, ward = ref.snapshots["location:hmc-westeinde-seh"], ref.snapshots["location:hmc-westeinde-interne"]
    assert ref.snapshots != without.snapshots, "the cancellations must matter"
    # 12 arrived; ce-0, ce-1 undone; ce-2..5 and ce-7 left (ce-6's departure undone)
    assert (seh["patients"], without.snapshots["location:hmc-westeinde-seh"]["patients"]) == (5, 6)
    assert ward["wrong_bed_patients"] == 1 and ward["occupied_beds"] == 4, ward

    # Out of order within the lateness: each cancellation goes out before what it undoes.
    delivered = _jittered(items, copies=1, seed=3)
    delivered.sort(key=lambda it: (parse_time(it[2]["time"]) - (100_000 if "cancelled" in it[2]["type"] else 0)))
    worker, _port = stack.start_worker()
    rel.produce(stack, rel.as_records(delivered))
    got = rel.wait_final(stack, ref, "the worker to apply the cancellations as the replay does")
    rel.assert_snapshots_equal(got, ref)
    assert sorted(a["id"] for a in rel.alert_events(stack)) == ref.alert_ids
    assert worker.poll() is None
