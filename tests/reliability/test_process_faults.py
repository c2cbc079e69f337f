"""Item 3 of "Reliability and security": worker processes dying and joining mid-run.

The log goes in in three slices so each fault lands while events are in flight. The
reference is the replay of the same (clean) log. Counters restart with a process, so the
comparison is on what users read: the final snapshot of every key on acute.metrics and
the alert events on acute.alerts, which must all be there and none twice (an alert
event id is `{alert_id}:raised|resolved`; a repeat would page the on-call twice).
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from simulator.scenario import Incident, Scenario
from tests.reliability import rel
from tests.support import Stack, wait_until
from topics.codec import parse_time

START = "2026-11-19T06:00:00Z"


def _slices(hours: int, seed: int) -> tuple[list[Any], rel.Reference, list[list[Any]]]:
    t0 = parse_time(START)
    items = rel.scenario(hours=hours, seed=seed, start=START,
                         scenario_obj=Scenario(major_incident=Incident(at_ms=t0 + 2 * 3_600_000, count=30)))
    ref = rel.reference_of(items)
    n = len(items)
    return items, ref, [items[: n // 3], items[n // 3 : 2 * n // 3], items[2 * n // 3 :]]


def _applied(port: int, timeout: float = 3) -> float:
    try:
        return sum(v for _l, v in rel.samples(rel.metrics_text(port, timeout=timeout), "spoedstroom_events_applied_total"))
    except Exception:  # noqa: BLE001 - not up yet, or (two workers) the web server is busy
        return 0.0


def _wait_applied(port: int, n: float, what: str) -> None:
    """Until the worker behind `port` has applied at least `n` events (its own counter)."""
    wait_until(lambda: _applied(port) >= n, 120, what, interval=0.3)


def test_sigkill_mid_run_and_restart_loses_nothing_and_counts_nothing_twice(stack: Stack) -> None:
    items, ref, (a, b, c) = _slices(hours=6, seed=31)
    w1, p1 = stack.start_worker("w1")
    rel.produce(stack, rel.as_records(a))
    _wait_applied(p1, len(a), "the first slice applied")
    # Kill while the second slice is being produced and applied: no shutdown, no final
    # commit. The worker applies a forwarded chunk of up to 400 events at once, so the
    # kill is sent as soon as it has started on slice 2.
    producer = threading.Thread(target=rel.produce, args=(stack, rel.as_records(b)))
    producer.start()
    wait_until(lambda: _applied(p1, timeout=1) > len(a), 120, "the second slice under way", interval=0.05)
    applied_at_kill = _applied(p1, timeout=1)
    stack.stop_worker(w1, signal.SIGKILL)
    producer.join(60)
    assert w1.returncode == -signal.SIGKILL
    print(f"killed after {applied_at_kill:.0f} of {len(a) + len(b)} events of slices 1-2")
    rel.produce(stack, rel.as_records(c))
    w2, _ = stack.start_worker("w2")
    got = rel.wait_final(stack, ref, "the restarted worker to reach the replay's snapshot", logs=("w1", "w2"))
    rel.assert_snapshots_equal(got, ref)
    rel.assert_alerts_once(stack, ref.alert_ids, exact_times=False)
    stack.assert_no_offset_gaps()
    assert w2.poll() is None


def test_worker_joining_and_another_leaving_mid_run(stack: Stack) -> None:
    items, ref, (a, b, c) = _slices(hours=6, seed=32)
    w1, p1 = stack.start_worker("w1")
    rel.produce(stack, rel.as_records(a))
    _wait_applied(p1, len(a), "the first slice applied")
    w2, p2 = stack.start_worker("w2")  # joins: rebalance while the second slice is in flight
    rel.produce(stack, rel.as_records(b))
    # whichever owns the region now applies the rest of slice 2
    wait_until(lambda: _applied(p1) + _applied(p2) >= len(a) + len(b), 120, "the second slice applied by two workers",
               interval=0.5)
    stack.stop_worker(w1)  # leaves gracefully (SIGTERM): w2 takes over everything
    rel.produce(stack, rel.as_records(c))
    got = rel.wait_final(stack, ref, "the remaining worker to reach the replay's snapshot", logs=("w1", "w2"))
    rel.assert_snapshots_equal(got, ref)
    rel.assert_alerts_once(stack, ref.alert_ids)
    stack.assert_no_offset_gaps()
    assert w2.poll() is None
