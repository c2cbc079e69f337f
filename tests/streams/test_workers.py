"""Several workers on the same topics end with the same region state as one worker.

The second worker joins mid-run: the input partitions are rebalanced over both, and
whichever worker owns the region partition rebuilds the region's state from the
changelogged table. The final snapshots must equal the replay's.
"""

from __future__ import annotations

import subprocess
import time
import sys
from pathlib import Path
from typing import Any

import orjson

from processors.replay import run_replay
from simulator.core import generate
from tests.support import REGISTRY, Stack, wait_until
from tests.streams.kafka_io import last_per_key, read_topic
from topics.codec import dumps, parse_time
from topics.registry import load_registry


def _halves(tmp_path: Path, hours: int, seed: int) -> tuple[list[bytes], Path, Path, dict[str, dict[str, Any]]]:
    """A simulated log, its two halves as NDJSON files and the replay's final snapshots."""
    lines = _lines(hours=hours, seed=seed)
    half = len(lines) // 2
    first, second = tmp_path / "first.ndjson", tmp_path / "second.ndjson"
    first.write_bytes(b"\n".join(lines[:half]) + b"\n")
    second.write_bytes(b"\n".join(lines[half:]) + b"\n")
    expected = _final(list(run_replay(lines, load_registry(REGISTRY), final=True, lateness_ms=120_000)))
    return lines, first, second, expected


def _lines(hours: int, seed: int) -> list[bytes]:
    registry = load_registry(REGISTRY)
    start = parse_time("2026-11-17T08:00:00Z")
    return [dumps(ev) for _t, _k, ev in generate(registry, start_ms=start, duration_ms=hours * 3_600_000, seed=seed)]


def _publish(stack: Stack, path: Path) -> None:
    subprocess.run([sys.executable, "-c", "from streams.cli import main; main()", "publish", str(path)],
                   env=stack.env, check=True, capture_output=True, timeout=120)


def _final(reference: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{r['data']['scope']}:{r['data']['id']}": r["data"] for r in reference
            if r.get("type") == "nl.acutezorg.metrics.snapshot.v1"}


def _wait_for(stack: Stack, expected: dict[str, dict[str, Any]], what: str) -> None:
    def done() -> bool:
        got = last_per_key(read_topic(stack.bootstrap, "acute.metrics"))
        return all(got.get(k, {}).get("data") == v for k, v in expected.items())

    wait_until(done, 180, f"{what}; logs:\n{stack.log('w1')}\n{stack.log('w2')}", interval=1.0)


def test_second_worker_joining_mid_run_gives_the_same_region_snapshot(stack: Stack, tmp_path: Path) -> None:
    _, first, second, expected = _halves(tmp_path, hours=4, seed=11)

    stack.start_worker("w1")
    _publish(stack, first)
    stack.start_worker("w2")  # joins mid-run: a rebalance while events are in flight
    _publish(stack, second)
    _wait_for(stack, expected, "both workers to reach the replay's region snapshot")

    got = last_per_key(read_topic(stack.bootstrap, "acute.metrics"))
    for key, data in expected.items():
        assert got[key]["data"] == data, key
    alerts = [orjson.loads(r.value)["id"] for r in read_topic(stack.bootstrap, "acute.alerts")]
    assert len(alerts) == len(set(alerts)), "an alert event was published twice"
    stack.assert_no_offset_gaps()


def test_worker_restarted_on_the_rocksdb_store_resumes_where_it_stopped(stack: Stack, tmp_path: Path) -> None:
    """Production store (rocksdict): a worker stopped mid-run and started again keeps its
    state locally and in the changelog, and ends exactly where the replay ends."""
    lines, first, second, expected = _halves(tmp_path, hours=3, seed=12)
    rocks = {"SPOEDSTROOM_STORE": "rocksdb://"}

    w1, _ = stack.start_worker("w1", extra_env=rocks)
    _publish(stack, first)
    wait_until(lambda: read_topic(stack.bootstrap, "acute.metrics"), 60, "first snapshots")
    stack.stop_worker(w1)  # SIGTERM: a clean stop, as in a rolling upgrade
    assert list((stack.state_dir / "faust-data").rglob("*")), "the rocksdb store left no local data"
    _publish(stack, second)
    stack.start_worker("w2", extra_env=rocks)
    _wait_for(stack, expected, "the restarted worker to reach the replay's snapshots")
    # Alerts the stopped worker published for records it had not committed are read
    # back by its successor (streams/readback.py) and not sent again: each event once.
    by_id: dict[str, bytes] = {}
    for record in read_topic(stack.bootstrap, "acute.alerts"):
        event = orjson.loads(record.value)
        assert event["id"] not in by_id, f"alert event {event['id']} published twice"
        by_id[event["id"]] = record.value
    reference = {e["id"] for e in run_replay(lines, load_registry(REGISTRY), final=True, lateness_ms=120_000)
                 if e.get("type", "").startswith("nl.acutezorg.alert.")}
    assert set(by_id) == reference
    stack.assert_no_offset_gaps()


def test_an_upgraded_worker_starts_its_input_where_the_agents_group_stopped(stack: Stack, tmp_path: Path) -> None:
    """Until 2026-12-07 the workers' Faust group (the app id) read the input topics; the
    input reader has a group of its own (`{app id}-ingest`). After an upgrade it starts
    where the old group had committed, not at the earliest record (7-30 days of input)."""
    from streams.bench.kafka_io import commit_group_offsets, end_offsets
    from tests.reliability.rel import metrics_text, samples
    from topics.catalogue import DEFAULT_APP_ID, INPUT_TOPICS

    lines, first, second, _ = _halves(tmp_path, hours=2, seed=13)
    _publish(stack, first)  # read and committed by a worker of the previous release:
    commit_group_offsets(stack.bootstrap, DEFAULT_APP_ID, end_offsets(stack.bootstrap, [t.name for t in INPUT_TOPICS]))
    _publish(stack, second)
    worker, port = stack.start_worker("w1")
    expected = len(lines) - len(lines) // 2

    def applied() -> float:
        return sum(v for _labels, v in samples(metrics_text(port), "spoedstroom_events_applied_total"))

    wait_until(lambda: applied() >= expected, 120, f"the second half applied; log:\n{stack.log('w1')}")
    time.sleep(3)  # what a read from the earliest offset would have applied on top
    assert applied() == expected
    duplicates = sum(v for _labels, v in samples(metrics_text(port), "spoedstroom_events_duplicate_total"))
    assert duplicates == 0
    assert worker.poll() is None
