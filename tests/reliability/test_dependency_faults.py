"""Item 4 of "Reliability and security": Redis, the broker and webhook receivers failing.

One worker run over a six-hour Haaglanden scenario with a major incident (so alerts are
raised), in three slices:

1. slice 1 goes through normally;
2. Redis is stopped (SIGTERM to the pid in the stack's state dir) for ~30 s while slice 2
   goes in: the pipeline must go on (acute.metrics keeps moving) and count
   `spoedstroom_redis_failures_total`; then Redis is started again with the same argv
   (`EmbeddedStack.redis()`), empty, as a restarted cache without persistence would be;
3. the broker is frozen (SIGSTOP) for 20 s and thawed (SIGCONT); then slice 3 goes in.

The worker is never restarted. Throughout, the region's webhooks are one receiver that
is down (nothing listens), one that answers 500, one that sleeps 10 s (beyond the 5 s
client timeout), and one healthy receiver.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
import yaml

from simulator.scenario import Incident, Scenario
from streams.devstack import free_port, redis_answers
from tests.reliability import rel
from tests.support import REGISTRY, make_stack, wait_until
from topics.codec import parse_time

START = "2026-11-20T06:00:00Z"
REDIS_DOWN_S = 30
BROKER_PAUSE_S = 20


class Hits:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bodies: dict[str, list[dict[str, Any]]] = {"ok": [], "slow": [], "err": []}


def receiver(kind: str, hits: Hits) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with hits.lock:
                hits.bodies[kind].append(orjson.loads(body))
            if kind == "slow":
                time.sleep(10)
            try:
                self.send_response(500 if kind == "err" else 200)
                self.end_headers()
            except OSError:
                pass  # the client gave up (timeout)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    t0 = parse_time(START)
    items = rel.scenario(hours=6, seed=41, start=START,
                         scenario_obj=Scenario(major_incident=Incident(at_ms=t0 + 2 * 3_600_000, count=30)))
    ref = rel.reference_of(items)
    assert len(ref.alerts) >= 4, "the scenario must raise alerts"
    n = len(items)
    a, b, c = items[: n // 3], items[n // 3 : 2 * n // 3], items[2 * n // 3 :]

    hits = Hits()
    servers = {k: receiver(k, hits) for k in ("ok", "slow", "err")}
    urls = {k: f"http://127.0.0.1:{s.server_address[1]}/alerts" for k, s in servers.items()}
    urls["down"] = f"http://127.0.0.1:{free_port()}/alerts"
    tmp = tmp_path_factory.mktemp("dependency")
    raw = yaml.safe_load(Path(REGISTRY).read_text())
    raw["webhooks"] = [urls["down"], urls["err"], urls["slow"], urls["ok"]]
    reg_path = tmp / "region.yaml"
    reg_path.write_text(yaml.safe_dump(raw, allow_unicode=True))

    events: dict[str, Any] = {}
    with make_stack(tmp) as stack:
        worker, port = stack.start_worker(registry=str(reg_path))
        rel.produce(stack, rel.as_records(a))
        target = parse_time(a[-1][2]["time"]) - 10 * 60_000
        wait_until(lambda: _as_of(stack, ref) >= target, 120, "slice 1 applied", interval=0.5)

        # --- Redis down for ~30 s
        client = redis.Redis.from_url(stack.redis_url)
        events["redis_before"] = {k.decode(): orjson.loads(client.get(k)) for k in client.scan_iter("spoedstroom:*")
                                  if not k.endswith(b":alerts")}
        events["stream_before"] = [orjson.loads(f[b"event"])["id"] for _i, f in client.xrange(f"spoedstroom:{ref.region_key.split(':')[1]}:alerts")]
        client.close()
        down_at = time.monotonic()
        rel.stop_process(rel.pid_of(stack, "redis"))
        as_of_down = _as_of(stack, ref)
        rel.produce(stack, rel.as_records(b))
        wait_until(lambda: _as_of(stack, ref) > as_of_down, 25, "acute.metrics moving while Redis is down", interval=0.5)
        events["metrics_moved_while_redis_down"] = True
        time.sleep(max(0.0, REDIS_DOWN_S - (time.monotonic() - down_at)))
        events["redis_failures_during"] = rel.metric(rel.metrics_text(port), "spoedstroom_redis_failures_total")
        rel.embedded_of(stack).redis().start()
        wait_until(lambda: redis_answers(stack.redis_url), 20, "Redis back")
        events["redis_down_s"] = time.monotonic() - down_at

        # --- broker frozen for 20 s
        broker = rel.pid_of(stack, "broker")
        os.kill(broker, signal.SIGSTOP)
        try:
            time.sleep(BROKER_PAUSE_S)
        finally:
            os.kill(broker, signal.SIGCONT)
        rel.produce(stack, rel.as_records(c))
        got = rel.wait_final(stack, ref, "the worker to reach the replay's snapshot after the faults")
        events["alerts_done_at"] = time.monotonic()
        yield {"stack": stack, "worker": worker, "port": port, "ref": ref, "got": got, "hits": hits, "urls": urls,
               **events}
    for s in servers.values():
        s.shutdown()


def _as_of(stack: Any, ref: rel.Reference) -> int:
    snap = rel.final_metrics(stack).get(ref.region_key)
    return parse_time(snap["as_of"]) if snap else 0


def test_final_state_equals_replay_after_redis_and_broker_faults(run: dict[str, Any]) -> None:
    rel.assert_snapshots_equal(run["got"], run["ref"])
    rel.assert_alerts_once(run["stack"], run["ref"].alert_ids)


def test_worker_survived_without_restart(run: dict[str, Any]) -> None:
    assert run["worker"].poll() is None, run["stack"].log()
    assert len(run["stack"].workers) == 1
    run["stack"].assert_no_offset_gaps()
    assert rel.http(run["port"], "/healthz")[0] == 200


def test_redis_outage_is_counted_and_the_pipeline_went_on(run: dict[str, Any]) -> None:
    assert run["metrics_moved_while_redis_down"]
    assert run["redis_down_s"] >= REDIS_DOWN_S
    assert run["redis_failures_during"] > 0
    status = orjson.loads(rel.http(run["port"], f"/status/{run['ref'].region_key.split(':')[1]}")[1])
    assert status["redis_connected"] is True


def test_redis_catches_up_with_the_final_snapshots(run: dict[str, Any]) -> None:
    """Every key that changed after the outage began holds its final snapshot; nothing in
    Redis is stale. (Keys that did not change since are lost with the restarted, empty
    Redis: the embedded Redis runs without persistence; production Redis uses AOF.)"""
    region = run["ref"].region_key.split(":")[1]
    client = redis.Redis.from_url(run["stack"].redis_url)
    expected = {f"spoedstroom:{region}:{k.replace(':', ':', 1)}": v for k, v in run["ref"].snapshots.items()}
    changed = [k for k, v in expected.items() if run["redis_before"].get(k) != v]
    assert changed, "the scenario must change keys after the outage"

    def caught_up() -> bool:
        return all(client.get(k) is not None and orjson.loads(client.get(k)) == expected[k] for k in changed)

    wait_until(caught_up, 30, "Redis to hold the final snapshot of every key changed since the outage")
    for key in client.scan_iter(f"spoedstroom:{region}:*"):
        name = key.decode()
        if name.endswith(":alerts"):
            continue
        assert orjson.loads(client.get(key)) == expected[name], f"stale value in Redis: {name}"
    stream = [orjson.loads(f[b"event"])["id"] for _i, f in client.xrange(f"spoedstroom:{region}:alerts")]
    assert len(stream) == len(set(stream))
    assert set(stream) <= set(run["ref"].alert_ids)
    lost_with_restart = set(run["stream_before"])
    assert set(stream) | lost_with_restart == set(run["ref"].alert_ids), "alerts raised during the outage reach Redis"


def test_webhook_failures_are_bounded_and_counted(run: dict[str, Any]) -> None:
    text = rel.metrics_text(run["port"])
    assert rel.metric(text, "spoedstroom_webhook_failures_total") > 0
    n_alerts = len(run["ref"].alerts)
    with run["hits"].lock:
        err = len(run["hits"].bodies["err"])
    assert err >= 1
    assert err <= 5 * n_alerts, f"500 answers must be retried a bounded number of times ({err} for {n_alerts} alerts)"


def test_healthy_webhook_receiver_gets_every_alert_despite_failing_ones(run: dict[str, Any]) -> None:
    """A slow or dead receiver must not starve a healthy one: every alert reaches the
    healthy receiver within 60 s of the last alert on acute.alerts."""
    want = {(a["data"]["alert_id"], "firing" if a["type"].endswith("raised.v1") else "resolved") for a in run["ref"].alerts}

    def got() -> set[tuple[str, str]]:
        with run["hits"].lock:
            return {(b["alerts"][0]["labels"]["alert_id"], b["status"]) for b in run["hits"].bodies["ok"]}

    remaining = max(1.0, 60 - (time.monotonic() - run["alerts_done_at"]))
    try:
        wait_until(lambda: got() >= want, remaining, "the healthy receiver to get every alert", interval=1.0)
    except AssertionError:
        raise AssertionError(f"the healthy receiver has {len(got())} of {len(want)} alert notifications 60 s after "
                             f"acute.alerts was complete: head-of-line blocking behind the slow/dead receivers") from None
