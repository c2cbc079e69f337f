"""Item 5 of "Reliability and security": a multi-day soak at full speed.

Several simulated days of Haaglanden (the simulator, seed 77) go through one worker as
fast as it can take them, while its resident memory (VmRSS of /proc/<pid>/status) is
sampled every 0.5 s together with the events applied so far
(`spoedstroom_events_applied_total`), which say which simulated day it is at (events
are applied in event-time order; a day takes a few seconds). Bound: the largest RSS seen while the last
simulated day is applied is at most 1.5x the RSS at the end of day 2.

Why these numbers: every piece of state the pipeline keeps is bounded in stream time
(rolling windows of 24 h, the dedup horizon of 24 h, encounters that leave, the reorder
buffer of 2 min), so after the first day (the initial census plus the first full 24 h
windows) the working set should be flat; a leak grows with the number of events, which
keeps arriving at the same rate every day, so it shows up as a growth proportional to
days. 1.5x leaves room for allocator fragmentation, Kafka client buffers and the Python
GC's thresholds, and still catches a per-event leak of a few hundred bytes (~12,000
events a day). Days: SPOEDSTROOM_SOAK_DAYS (default 4 to keep the suite near 6 minutes;
7 is the full week).
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from typing import Any

from tests.reliability import rel
from tests.support import Stack
from topics.codec import parse_time

DAYS = int(os.environ.get("SPOEDSTROOM_SOAK_DAYS", "4"))
START = "2026-10-05T00:00:00Z"
DAY = 86_400_000
FACTOR = 1.5


def test_soak_memory_flat_and_final_numbers_equal_replay(stack: Stack) -> None:
    items = rel.scenario(hours=24 * DAYS, seed=77, start=START)
    ref = rel.reference_of(items)
    t0 = parse_time(START)
    times = sorted(parse_time(event["time"]) for _topic, _key, event in items)

    def applied_by(stream_ms: int) -> int:
        """Events applied once the stream has reached `stream_ms`."""
        return bisect.bisect_right(times, stream_ms)

    worker, port = stack.start_worker()
    samples: list[tuple[int, float]] = []  # (rss kB, events applied)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                text = rel.metrics_text(port, path="/metrics?name[]=spoedstroom_events_applied_total")
                samples.append((rel.rss_kb(worker.pid), rel.metric(text, "spoedstroom_events_applied_total")))
            except Exception:  # noqa: BLE001 - the web server is not up yet
                pass
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        rel.produce(stack, rel.as_records(items))
        got = rel.wait_final(stack, ref, f"the worker to finish {DAYS} simulated days", timeout=420)
    finally:
        stop.set()
        sampler.join(5)
    elapsed = time.monotonic() - started
    rel.assert_snapshots_equal(got, ref)
    assert sorted(a["id"] for a in rel.alert_events(stack)) == ref.alert_ids
    assert worker.poll() is None

    day2_end = [r for r, n in samples if applied_by(t0 + DAY) < n <= applied_by(t0 + 2 * DAY)]
    last_day = [r for r, n in samples if n > applied_by(t0 + (DAYS - 1) * DAY)]
    report: dict[str, Any] = {"days": DAYS, "events": len(items), "seconds": round(elapsed, 1),
                              "events_per_s": round(len(items) / elapsed), "samples": len(samples),
                              "rss_end_day2_kB": day2_end[-1] if day2_end else None,
                              "rss_max_last_day_kB": max(last_day) if last_day else None,
                              "rss_max_kB": max((r for r, _n in samples), default=None)}
    print("soak:", report)
    assert day2_end and last_day, f"too few RSS samples in day 2 / the last day: {report}"
    assert max(last_day) <= FACTOR * day2_end[-1], f"RSS grows: {report}"
