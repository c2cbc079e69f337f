"""The streaming pipeline on the real embedded broker and Redis, against the replay.

One scripted scenario (six simulated hours of Haaglanden with a major incident, plus a
handful of bad records) goes through `spoedstroom publish` + `spoedstroom worker`; the
same file goes through `spoedstroom replay`, the reference. The tests then check every
output the users read: acute.metrics, acute.alerts, acute.deadletter, Redis, the webhook
receiver, /metrics and /status.
"""

from __future__ import annotations

import subprocess
import time
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
import yaml

from processors.replay import run_replay
from simulator.core import generate
from simulator.scenario import Incident, Scenario
from streams.devstack import free_port
from streams.sinks import alertmanager_payload
from tests.support import REGISTRY, make_stack, wait_until
from tests.streams.kafka_io import headers_of, last_per_key, read_topic
from topics.codec import dumps, format_time, parse_time
from topics.registry import load_registry

START = "2026-11-16T06:00:00Z"
HOURS = 6
BAD_LINES = [
    b"{not json",
    b'{"specversion":"1.0","id":"x1","source":"/partners/hmc","type":"nl.acutezorg.seh.arrived.v1","time":"2026-11-16T07:00:00Z","data":{"encounter_id":"123456782","location":"hmc-westeinde-seh","arrival_mode":"self_referral"}}',
    b'{"specversion":"1.0","id":"x2","source":"/partners/haga","type":"nl.acutezorg.seh.arrived.v1","time":"2026-11-16T07:00:00Z","data":{"encounter_id":"e-x2","location":"hmc-westeinde-seh","arrival_mode":"self_referral"}}',
    b'{"specversion":"1.0","id":"x3","source":"/partners/hmc","type":"nl.acutezorg.seh.arrived.v1","time":"2026-11-16T07:00:00Z","data":{"encounter_id":"e-x3","location":"hmc-westeinde-seh","arrival_mode":"self_referral","name":"Jan"}}',
]
EXPECTED_BAD = {"invalid_json": 1, "possible_bsn": 1, "foreign_location": 1, "schema": 1}


class Receiver(BaseHTTPRequestHandler):
    """A local webhook receiver that records every POSTed body."""

    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.received.append(orjson.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def scenario_lines() -> list[bytes]:
    registry = load_registry(REGISTRY)
    start = parse_time(START)
    scenario = Scenario(major_incident=Incident(at_ms=start + 2 * 3_600_000, count=30))
    lines = [dumps(ev) for _topic, _key, ev in generate(registry, start_ms=start, duration_ms=HOURS * 3_600_000, seed=7, scenario=scenario)]
    # Bad records spread through the log; each must be dead-lettered with its reason.
    for i, bad in enumerate(BAD_LINES):
        lines.insert(100 + 50 * i, bad)
    return lines


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Publish the scenario through the real pipeline once; yield what the tests inspect."""
    tmp = tmp_path_factory.mktemp("pipeline")
    lines = scenario_lines()
    log = tmp / "scenario.ndjson"
    log.write_bytes(b"\n".join(lines) + b"\n")
    # The reference: replay of the same file.
    registry = load_registry(REGISTRY)
    reference = list(run_replay(lines, registry, final=True, lateness_ms=120_000))

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Receiver)
    Receiver.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    raw = yaml.safe_load(Path(REGISTRY).read_text())
    raw["webhooks"] = [f"http://127.0.0.1:{server.server_address[1]}/alerts"]
    reg_path = tmp / "region.yaml"
    reg_path.write_text(yaml.safe_dump(raw, allow_unicode=True))

    with make_stack(tmp) as stack:
        # Releases in steps of ~40 events (streams.regions: a backlog due at once), so the
        # outputs compared with the replay's below went through many of them.
        worker, port = stack.start_worker(registry=str(reg_path), extra_env={"SPOEDSTROOM_RELEASE_STEP_EVENTS": "40"})
        subprocess.run([sys.executable, "-c", "from streams.cli import main; main()", "publish", str(log)],
                       env=stack.env, check=True, capture_output=True, timeout=120)
        expected = {k: v for k, v in _final_snapshots(reference).items()}

        def caught_up() -> bool:
            got = last_per_key(read_topic(stack.bootstrap, "acute.metrics"))
            return all(got.get(k, {}).get("data") == v for k, v in expected.items())

        wait_until(caught_up, 180, f"the worker to reach the replay's final snapshots; log:\n{stack.log()}", interval=1.0)
        alerts_expected = [r for r in reference if r.get("type", "").startswith("nl.acutezorg.alert.")]
        wait_until(lambda: len(Receiver.received) >= len(alerts_expected), 30, "webhook deliveries")
        yield {
            "stack": stack,
            "port": port,
            "reference": reference,
            "expected_snapshots": expected,
            "alerts_expected": alerts_expected,
            "registry": registry,
            "webhooks": list(Receiver.received),
        }
    server.shutdown()


def _final_snapshots(reference: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for rec in reference:
        if rec.get("type") == "nl.acutezorg.metrics.snapshot.v1":
            data = rec["data"]
            out[f"{data['scope']}:{data['id']}"] = data
    return out


def test_final_snapshots_on_topic_equal_replay(run: dict[str, Any]) -> None:
    got = last_per_key(read_topic(run["stack"].bootstrap, "acute.metrics"))
    expected = run["expected_snapshots"]
    assert set(got) == set(expected)
    for key, data in expected.items():
        assert got[key]["data"] == data, key
        assert got[key]["source"] == f"/spoedstroom/{run['registry'].region_id}"


def test_alerts_equal_replay_exactly_once(run: dict[str, Any]) -> None:
    expected = run["alerts_expected"]
    assert any(e["type"].endswith("alert.raised.v1") for e in expected), "the scenario must raise alerts"
    records = read_topic(run["stack"].bootstrap, "acute.alerts")
    got = [orjson.loads(r.value) for r in records]
    assert sorted((e["id"], e["type"], e["time"]) for e in got) == sorted((e["id"], e["type"], e["time"]) for e in expected)
    assert len({e["id"] for e in got}) == len(got), "an alert event was published twice"
    for rec in records:
        assert rec.key.decode() == orjson.loads(rec.value)["data"]["alert_id"]


def test_redis_holds_snapshots_and_alert_stream(run: dict[str, Any]) -> None:
    client = redis.Redis.from_url(run["stack"].redis_url)
    region = run["registry"].region_id
    for key, data in run["expected_snapshots"].items():
        scope, ident = key.split(":", 1)
        value = client.get(f"spoedstroom:{region}:{scope}:{ident}")
        assert value is not None, key
        assert orjson.loads(value) == data
    stream = client.xrange(f"spoedstroom:{region}:alerts")
    ids = [orjson.loads(fields[b"event"])["id"] for _id, fields in stream]
    assert sorted(ids) == sorted(e["id"] for e in run["alerts_expected"])


def test_webhooks_in_alertmanager_format_exactly_once(run: dict[str, Any]) -> None:
    hooks = run["webhooks"]
    assert len(hooks) == len(run["alerts_expected"])
    seen = set()
    for body in hooks:
        assert body["version"] == "4"
        assert body["status"] in ("firing", "resolved")
        alert = body["alerts"][0]
        assert alert["labels"]["alertname"] in {"seh_crowding", "handover_delay", "wrong_bed", "long_stay", "regional_escalation", "seh_stop", "feed_silent"}
        seen.add((alert["labels"]["alert_id"], alert["status"]))
    expected = {(e["data"]["alert_id"], "firing" if e["type"].endswith("raised.v1") else "resolved") for e in run["alerts_expected"]}
    assert seen == expected
    # A resolved notification carries the labels and start of its firing one (severity
    # included, which alert.resolved does not repeat), as Alertmanager's own do.
    firing = {b["alerts"][0]["labels"]["alert_id"]: b["alerts"][0] for b in hooks if b["status"] == "firing"}
    resolved = [b["alerts"][0] for b in hooks if b["status"] == "resolved"]
    assert resolved, "the scenario should resolve an alert"
    for alert in resolved:
        fired = firing[alert["labels"]["alert_id"]]
        assert alert["labels"] == fired["labels"] and alert["startsAt"] == fired["startsAt"], (alert, fired)
    severities = {e["data"]["alert_id"]: e["data"]["severity"] for e in run["alerts_expected"] if e["type"].endswith("raised.v1")}
    assert {aid: a["labels"]["severity"] for aid, a in firing.items()} == severities


def test_bad_input_deadlettered_with_reason_and_counted(run: dict[str, Any]) -> None:
    records = read_topic(run["stack"].bootstrap, "acute.deadletter")
    reasons: dict[str, int] = {}
    for rec in records:
        h = headers_of(rec)
        reasons[h["dlq.reason"]] = reasons.get(h["dlq.reason"], 0) + 1
        assert h["dlq.detail"]
        assert h["dlq.topic"].startswith("acute.")
        assert rec.value in BAD_LINES, "the dead-letter value must be the input unchanged"
    assert reasons == EXPECTED_BAD
    metrics = _get(run["port"], "/metrics")
    for reason, n in EXPECTED_BAD.items():
        assert _sample(metrics, "spoedstroom_events_deadlettered_total", {"reason": reason}) == n


def test_metrics_endpoint_holds_documented_series(run: dict[str, Any]) -> None:
    text = _get(run["port"], "/metrics")
    region = run["registry"].region_id
    expected = run["expected_snapshots"]
    reg = expected[f"region:{region}"]
    assert _sample(text, "spoedstroom_region_escalation_level", {"region": region}) == reg["escalation_level"]
    assert _sample(text, "spoedstroom_region_patients", {"region": region}) == reg["patients"]
    seh = expected["location:hmc-westeinde-seh"]
    assert _sample(text, "spoedstroom_location_patients", {"location": "hmc-westeinde-seh"}) == seh["patients"]
    if seh.get("nedocs") is not None:
        assert _sample(text, "spoedstroom_location_nedocs", {"location": "hmc-westeinde-seh"}) == pytest.approx(seh["nedocs"])
    applied = sum(v for k, v in _samples(text, "spoedstroom_events_applied_total"))
    summary = next(r["summary"] for r in run["reference"] if "summary" in r)
    assert applied == summary["applied"]
    for name in ("spoedstroom_processing_latency_seconds_bucket", "spoedstroom_event_time_lag_seconds",
                 "spoedstroom_partner_last_event_timestamp_seconds", "spoedstroom_seh_length_of_stay_seconds_bucket"):
        assert name in text, name
    leaked = [i for i in scenario_ids() if f'"{i}"' in text]
    assert not leaked, f"/metrics exposes ids as label values: {leaked[:5]}"


def test_status_endpoint_shows_no_encounter_ids(run: dict[str, Any]) -> None:
    region = run["registry"].region_id
    body = _get(run["port"], f"/status/{region}")
    status = orjson.loads(body)
    assert status["region"] == region
    assert status["snapshots"][f"region:{region}"] == run["expected_snapshots"][f"region:{region}"]
    leaked = [i for i in scenario_ids() if i in body]
    assert not leaked, f"status exposes ids: {leaked[:5]}"
    assert _get(run["port"], "/healthz")
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"http://127.0.0.1:{run['port']}/table/region-state", timeout=5)


# ----------------------------------------------------------------- helpers
def scenario_ids() -> set[str]:
    """Every encounter, ride and call id of the scenario (none may leave the pipeline)."""
    ids = set()
    for line in scenario_lines():
        try:
            data = orjson.loads(line)["data"]
        except Exception:  # noqa: BLE001 - the bad lines
            continue
        for field in ("encounter_id", "ride_id", "call_id"):
            if field in data:
                ids.add(data[field])
    return ids


def _get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        return resp.read().decode()


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    out = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out.append((sample.labels, sample.value))
    return [(labels, value) for labels, value in out]


def _sample(text: str, name: str, match: dict[str, str]) -> float:
    values = [v for labels, v in _samples(text, name) if all(labels.get(k) == w for k, w in match.items())]
    assert values, f"no sample {name}{match}"
    return sum(values)


def test_prometheus_scrapes_worker_and_every_shipped_expression_has_data(run: dict[str, Any]) -> None:
    """Debian's Prometheus with the shipped rules scrapes the worker of the scenario; every
    PromQL expression of the dashboards and rules parses, and returns data for the region.

    An alerting condition (`X > threshold`) is true only in trouble, so for those the
    measured side `X` must return data; the scenario's values decide whether it fires.
    """
    from tests.deploy.promql import (NATION_METRIC, RULE_FILES, all_expressions, has_data, query, run_prometheus,
                                     wait_for_target)

    generic = dict(all_expressions(concrete=False))
    with run_prometheus([f"127.0.0.1:{run['port']}"], rule_files=RULE_FILES) as url:
        wait_for_target(url)
        time.sleep(6)  # a few scrapes, so rate() and increase() have two samples
        empty, failed = [], []
        for origin, expr in all_expressions(concrete=True):
            answer = query(url, expr)
            if answer.get("status") != "success":
                failed.append((origin, expr, answer.get("error")))
                continue
            # Concrete template values first (region haaglanden, one SEH), then any
            # location of the region, then the measured side of a threshold condition.
            # The nation's gauges need several regions: tests/streams/test_nation.py.
            if NATION_METRIC not in expr and not has_data(url, expr, generic.get(origin, expr)):
                empty.append((origin, expr))
    assert not failed, failed
    assert not empty, f"{len(empty)} expressions return no data for the scenario: {empty}"


def test_a_resolve_without_its_raise_keeps_the_start_of_its_id_and_guesses_no_severity() -> None:
    """A worker that resolves an episode whose raise it never saw (nor loaded as open)."""
    event = {"type": "nl.acutezorg.alert.resolved.v1", "time": "2026-11-22T10:00:00Z",
             "data": {"alert_id": "haaglanden:seh_crowding:hmc-westeinde-seh:1795341600000", "kind": "seh_crowding",
                      "region": "haaglanden", "location": "hmc-westeinde-seh", "resolved_at": "2026-11-22T10:00:00Z",
                      "values": {}}}
    alert = alertmanager_payload(event, "spoedstroom", "http://worker")["alerts"][0]
    assert alert["startsAt"] == format_time(1795341600000) and "severity" not in alert["labels"]
    raised = {"severity": "critical", "started_at": "2026-11-22T09:00:00Z"}
    alert = alertmanager_payload(event, "spoedstroom", "http://worker", raised)["alerts"][0]
    assert alert["startsAt"] == "2026-11-22T09:00:00Z" and alert["labels"]["severity"] == "critical"
