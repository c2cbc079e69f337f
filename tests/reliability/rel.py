"""Helpers of the reliability suite: scenarios, a raw producer, the reference, the waits.

Everything runs against the real embedded stack of `tests.support` (Tansu broker, Redis,
`spoedstroom worker` processes). The reference for every comparison is
`processors.replay.run_replay` over the clean scenario (no faults, no bad input).
"""

from __future__ import annotations

import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaProducer

from processors.replay import run_replay
from simulator.core import generate
from streams.devstack import EmbeddedStack
from streams.settings import Settings
from tests.streams.kafka_io import last_per_key, read_topic
from tests.support import REGISTRY, Stack, wait_until
from topics.codec import dumps, parse_time
from topics.registry import load_registry

CE_HEADERS = [("content-type", b"application/cloudevents+json")]
# A record as it goes onto Kafka: (topic, key, value, headers); value None = tombstone.
Record = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]


def registry():
    return load_registry(REGISTRY)


def scenario(hours: float, seed: int, start: str = "2026-11-16T06:00:00Z", scenario_obj=None) -> list[tuple[str, str, dict[str, Any]]]:
    """The simulator's `(topic, key, cloudevent)` items of `hours` of Haaglanden."""
    return list(generate(registry(), start_ms=parse_time(start), duration_ms=int(hours * 3_600_000), seed=seed,
                         scenario=scenario_obj))


def as_records(items: Iterable[tuple[str, str, dict[str, Any]]]) -> list[Record]:
    """Structured-mode records, keyed by partner, exactly as `spoedstroom publish` sends them."""
    return [(topic, key.encode(), dumps(ev), list(CE_HEADERS)) for topic, key, ev in items]


def produce(stack: Stack, records: Iterable[Record]) -> int:
    """Send records with kafka-python (explicit topic, key, value, headers), then flush."""
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap, linger_ms=20, acks=1, enable_idempotence=False,
                             max_request_size=2 * 1024 * 1024, client_id="reliability-producer")
    n = 0
    try:
        for topic, key, value, headers in records:
            producer.send(topic, key=key, value=value, headers=headers or None)
            n += 1
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)
    return n


class Reference:
    """The replay of the clean scenario: final snapshots, alert events and the summary."""

    def __init__(self, lines: list[bytes]) -> None:
        out = list(run_replay(lines, registry(), final=True, lateness_ms=120_000))
        self.snapshots = {f"{r['data']['scope']}:{r['data']['id']}": r["data"] for r in out
                          if r.get("type") == "nl.acutezorg.metrics.snapshot.v1"}
        self.alerts = [r for r in out if r.get("type", "").startswith("nl.acutezorg.alert.")]
        self.alert_ids = sorted(r["id"] for r in self.alerts)
        self.summary = next(r["summary"] for r in out if "summary" in r)
        self.region_key = f"region:{registry().region_id}"


def reference_of(items: Iterable[tuple[str, str, dict[str, Any]]]) -> Reference:
    return Reference([dumps(ev) for _t, _k, ev in items])


def final_metrics(stack: Stack) -> dict[str, dict[str, Any]]:
    """acute.metrics as its consumers see it after compaction: data of the last value per key."""
    return {k: v["data"] for k, v in last_per_key(read_topic(stack.bootstrap, "acute.metrics")).items()}


def wait_final(stack: Stack, ref: Reference, what: str, timeout: float = 240, logs: tuple[str, ...] = ("worker",)) -> dict[str, dict[str, Any]]:
    """Wait until the region snapshot on acute.metrics equals the replay's, then until every
    key does (the throttle publishes the last change of each key within a second or two)."""
    def region_done() -> bool:
        return final_metrics(stack).get(ref.region_key) == ref.snapshots[ref.region_key]

    def tail() -> str:
        return "\n".join(f"--- {n}:\n{stack.log(n)}" for n in logs)

    try:
        wait_until(region_done, timeout, what, interval=1.0)
    except AssertionError as exc:
        got = final_metrics(stack).get(ref.region_key)
        raise AssertionError(f"{exc}\nregion diff: {diff(got or {}, ref.snapshots[ref.region_key])}\n{tail()}") from None
    got: dict[str, dict[str, Any]] = {}

    def all_done() -> bool:
        nonlocal got
        got = final_metrics(stack)
        return all(got.get(k) == v for k, v in ref.snapshots.items())

    try:
        wait_until(all_done, 30, f"{what}: every key", interval=1.0)
    except AssertionError:
        pass  # reported by the caller's comparison with the key names
    return got


def diff(got: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    keys = set(got) | set(expected)
    return {k: (got.get(k), expected.get(k)) for k in sorted(keys) if got.get(k) != expected.get(k)}


def assert_snapshots_equal(got: dict[str, dict[str, Any]], ref: Reference) -> None:
    assert set(got) == set(ref.snapshots), (set(got) ^ set(ref.snapshots))
    bad = {k: diff(got[k], v) for k, v in ref.snapshots.items() if got[k] != v}
    assert not bad, f"{len(bad)} keys differ from the replay: {dict(list(bad.items())[:3])}"


def alert_events(stack: Stack) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in read_topic(stack.bootstrap, "acute.alerts")]


def assert_alerts_once(stack: Stack, expected_ids: list[str], exact_times: bool = True) -> None:
    """Every alert event of the replay is on acute.alerts exactly once, none other. After
    a fault the successor replays records whose alerts were already published; it reads
    them back (streams/readback.py) and does not send them again."""
    by_id: dict[str, str] = {}
    for record in read_topic(stack.bootstrap, "acute.alerts"):
        event = orjson.loads(record.value)
        event_id = event["id"]
        assert event_id not in by_id, f"alert event {event_id} published twice"
        by_id[event_id] = event["type"]
    if exact_times:
        assert sorted(by_id) == sorted(set(expected_ids)), (sorted(by_id), sorted(set(expected_ids)))
    else:
        # After a crash the embedded broker can make a few events apply late (counted),
        # and an alert may then start a little later (events.md): same episodes, the
        # start time in the id may differ.
        def episodes(ids: Iterable[str]) -> set[tuple[str, ...]]:
            out = set()
            for i in ids:
                region_kind_subject, _started, status = i.rsplit(":", 2)
                out.add((region_kind_subject, status))
            return out

        assert episodes(by_id) == episodes(expected_ids), (sorted(by_id), sorted(set(expected_ids)))


def http(port: int, path: str, method: str = "GET", token: str | None = None, timeout: float = 10) -> tuple[int, str]:
    """(status, body) of a request to the worker's web server; never raises on HTTP errors."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=b"{}" if method in ("POST", "PUT", "PATCH") else None)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    return [(s.labels, s.value) for fam in text_string_to_metric_families(text) for s in fam.samples if s.name == name]


def metric(text: str, name: str, **match: str) -> float:
    return sum(v for labels, v in samples(text, name) if all(labels.get(k) == w for k, w in match.items()))


def metrics_text(port: int, token: str | None = None, timeout: float = 10, path: str = "/metrics") -> str:
    status, body = http(port, path, token=token, timeout=timeout)
    assert status == 200, (status, body[:200])
    return body


# ------------------------------------------------------------------ processes
def pid_of(stack: Stack, name: str) -> int:
    return int((stack.state_dir / f"{name}.pid").read_text().strip())


def embedded_of(stack: Stack) -> EmbeddedStack:
    """The EmbeddedStack of a test stack (same ports and state dir), to restart a service."""
    broker_port = int(stack.bootstrap.rsplit(":", 1)[1])
    redis_port = int(stack.redis_url.rsplit(":", 1)[1].split("/")[0])
    return EmbeddedStack(Settings.from_env(state_dir=str(stack.state_dir), broker_port=broker_port, redis_port=redis_port))


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def stop_process(pid: int, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"process {pid} did not stop")


def metrics_topic_problems(stack: Stack) -> dict[str, list[Any]]:
    """Per key of acute.metrics, in offset order: snapshots whose `as_of` goes back, and
    CloudEvent ids reused for a different content (both mean a consumer can be left with
    a stale picture: compaction keeps the last record; dedup by (source, id) keeps the first)."""
    back: list[Any] = []
    reused: list[Any] = []
    by_key: dict[bytes, list[Any]] = {}
    for r in read_topic(stack.bootstrap, "acute.metrics"):
        by_key.setdefault(r.key, []).append(r)
    for key, recs in by_key.items():
        recs.sort(key=lambda r: r.offset)
        seen: dict[str, Any] = {}
        last = None
        for r in recs:
            ev = orjson.loads(r.value)
            t = parse_time(ev["data"]["as_of"])
            if last is not None and t < last[0]:
                back.append((key.decode(), last[1], ev["data"]["as_of"], r.offset))
            last = (t, ev["data"]["as_of"]) if last is None or t >= last[0] else last
            if ev["id"] in seen and seen[ev["id"]] != ev["data"]:
                reused.append((ev["id"], r.offset))
            seen[ev["id"]] = ev["data"]
    return {"as_of_goes_back": back, "id_reused_for_other_content": reused}
