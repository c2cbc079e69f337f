"""`spoedstroom gateway` end to end on the real embedded broker (no mocks): an MLLP client
and HTTP clients -> the gateway process -> Kafka; the events are read back, checked by the
contract's validator and replayed through the processors (the SEH snapshot counts the
patient). One broker and one gateway for the whole module; the last test searches every
byte on every topic and the gateway's log for the fictitious patient's data."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from processors.replay import run_replay
from streams.devstack import ensure_topics, free_port
from tests.adapters.messages import KEY, PATIENT_FIELDS, adt, encounter, patient
from tests.adapters.support import TOKENS, Gateway, msa, start_gateway
from tests.streams.kafka_io import headers_of, read_topic
from tests.support import REGISTRY, make_stack
from topics.catalogue import ALL_TOPICS, INPUT_TOPICS
from topics.registry import load_registry
from topics.validation import Validator

SEH_LOCATION = "hmc-westeinde-seh"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("gateway")
    with make_stack(tmp) as stack:
        ensure_topics(stack.bootstrap)
        yield start_gateway(stack, tmp)


def events_on(gw: Gateway, topic: str) -> list[Any]:
    return read_topic(gw.bootstrap, topic, timeout=30)


def all_events(gw: Gateway) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for t in INPUT_TOPICS for r in events_on(gw, t.name)]


def test_mllp_adt_to_kafka_acked_after_the_write_and_the_seh_counts_the_patient(gateway: Gateway) -> None:
    arrival = adt("A04", visit="V-E2E-1", control="MSG00001", pv1={14: "1"}, recorded="20261122081200")
    ack = gateway.send_hl7(arrival)
    fields = msa(ack)
    assert fields[1:3] == ["AA", "MSG00001"], ack
    assert "|ACK^A04^ACK|" in ack
    # A resend (same control id, same visit): acknowledged again, the same event id.
    assert msa(gateway.send_hl7(arrival))[1] == "AA"
    # Another system reusing MSG00001 for another patient: a different event.
    assert msa(gateway.send_hl7(adt("A04", visit="V-E2E-2", control="MSG00001")))[1] == "AA"
    # An update (A08): acknowledged, no event.
    assert msa(gateway.send_hl7(adt("A08", visit="V-E2E-1", control="MSG00002")))[1] == "AA"

    registry = load_registry(REGISTRY)
    validator = Validator(registry)
    records = events_on(gateway, "acute.admissions")
    events = [validator.decode(r.value, r.headers, topic="acute.admissions") for r in records]
    assert [e.type for e in events] == ["seh.arrived"] * 3
    assert all(r.key == b"hmc" for r in records)
    assert events[0].id == events[1].id and events[0].id != events[2].id
    assert {e.data["location"] for e in events} == {SEH_LOCATION}
    assert events[0].data["arrival_mode"] == "gp_referral"

    # The processors over what Kafka holds: the SEH counts two patients (the resend once).
    out = list(run_replay([r.value for r in records], registry, final=True))
    snapshot = next(o for o in out if o.get("type") == "nl.acutezorg.metrics.snapshot.v1"
                    and o["data"]["scope"] == "location" and o["data"]["id"] == SEH_LOCATION)
    assert snapshot["data"]["patients"] == 2
    summary = out[-1]
    assert summary["summary"]["duplicates"] == 1, summary


def test_mllp_unmapped_location_is_ae_and_dead_lettered_without_patient_data(gateway: Gateway) -> None:
    ack = gateway.send_hl7(adt("A04", location="SEH-OUD^^^HMC", control="MSG-AE-1"))
    fields = msa(ack)
    assert fields[1:3] == ["AE", "MSG-AE-1"] and fields[3].startswith("unmapped_location"), ack
    ack = gateway.send_hl7(adt("A03", visit=None, control="MSG-AE-2"))
    assert msa(ack)[1] == "AE" and msa(ack)[3].startswith("missing_visit_number")
    ack = gateway.send_hl7("this is not HL7 at all")
    assert msa(ack)[1] == "AR"
    dead = events_on(gateway, "acute.deadletter")
    reasons = [headers_of(r)["dlq.reason"] for r in dead]
    assert reasons == ["unmapped_location", "missing_visit_number", "unparseable"]
    first = dead[0]
    assert headers_of(first)["dlq.topic"] == "gateway.hl7" and first.key == b"hmc"
    text = first.value.decode()
    assert text.startswith("MSH|") and "SEH-OUD" in text
    assert "PID" not in text and "NK1" not in text and "GT1" not in text and "IN1" not in text


def test_fhir_encounter_twice_gives_the_same_event_ids(gateway: Gateway) -> None:
    enc = encounter(status="finished", visit="V-FHIR-1", locations=[
        ("Location/hmc-westeinde-seh", "2026-11-22T09:00:00+01:00", "2026-11-22T11:00:00+01:00")],
        hospitalization={"dischargeDisposition": {"coding": [{"code": "home"}]}})
    enc["period"]["end"] = "2026-11-22T11:00:00+01:00"
    before = {e["id"] for e in all_events(gateway)}
    status, body = gateway.post("/fhir/Encounter", enc)
    assert status == 200 and body["resourceType"] == "OperationOutcome", body
    first = [e for e in all_events(gateway) if e["id"] not in before]
    assert sorted(e["type"] for e in first) == ["nl.acutezorg.seh.arrived.v1", "nl.acutezorg.seh.departed.v1"]
    status, _ = gateway.post("/fhir/Encounter", enc)
    assert status == 200
    after = all_events(gateway)
    again = [e for e in after if e["id"] not in before]
    assert len(again) == 4 and {e["id"] for e in again} == {e["id"] for e in first}
    registry = load_registry(REGISTRY)
    lines = [orjson.dumps(e) for e in again]
    out = list(run_replay(lines, registry, final=True))
    assert out[-1]["summary"]["duplicates"] == 2 and out[-1]["summary"]["applied"] == 2


def test_fhir_tokens_and_refusals(gateway: Gateway) -> None:
    enc = encounter(visit="V-FHIR-2")
    assert gateway.post("/fhir/Encounter", enc, token=None)[0] == 401
    status, body = gateway.post("/fhir/Encounter", enc, token="hmc-token-0123456789abcdeX")
    assert status == 401 and body["issue"][0]["code"] == "login"
    # haga's token, hmc's location: only own locations.
    status, body = gateway.post("/fhir/Encounter", enc, token=TOKENS["haga"])
    assert status == 403 and body["issue"][0]["diagnostics"].startswith("foreign_location")
    assert gateway.post("/fhir/Encounter", encounter(visit=None))[0] == 422
    assert gateway.post("/fhir/Encounter", encounter(locations=[("SEH-OUD", "2026-11-22T09:00:00+01:00", None)]))[0] == 422
    assert gateway.post("/fhir/Encounter", b"{not json")[0] == 400
    assert gateway.post("/fhir/Encounter", {"resourceType": "Patient"})[0] == 400
    status, body = gateway.post("/fhir/Encounter", {**enc, "status": 12})
    assert status == 400 and "Jan" not in str(body)


def test_fhir_bundle_and_measure_report(gateway: Gateway) -> None:
    enc = encounter(visit="V-FHIR-3")
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": patient(), "request": {"method": "PUT", "url": "Patient/p1"}},
        {"resource": enc, "request": {"method": "PUT", "url": "Encounter/enc-1"}},
        {"resource": encounter(visit="V-FHIR-4", locations=[("NOWHERE", "2026-11-22T09:00:00+01:00", None)]),
         "request": {"method": "PUT", "url": "Encounter/enc-2"}},
    ]}
    status, body = gateway.post("/fhir", bundle)
    assert status == 200 and body["type"] == "batch-response", body
    assert [e["response"]["status"] for e in body["entry"]] == ["200", "200", "422"]
    bundle["type"] = "transaction"
    status, body = gateway.post("/fhir", bundle)
    assert status == 422 and "transaction refused as a whole" in body["issue"][0]["diagnostics"]

    report = {"resourceType": "MeasureReport", "status": "complete", "type": "summary",
              "measure": "http://hl7.org/fhir/uv/saner/Measure/CDCPatientImpactAndHospitalCapacity",
              "subject": {"reference": f"Location/{SEH_LOCATION}"}, "date": "2026-11-22T10:00:00+01:00",
              "period": {"start": "2026-11-22T00:00:00+01:00", "end": "2026-11-22T10:00:00+01:00"},
              "group": [{"population": [
                  {"code": {"coding": [{"code": "numTotBeds"}]}, "count": 40},
                  {"code": {"coding": [{"code": "numbeds"}]}, "count": 31}]}]}
    status, body = gateway.post("/fhir/MeasureReport", report)
    assert status == 200, body
    capacity = [orjson.loads(r.value) for r in events_on(gateway, "acute.capacity")]
    assert [(e["type"], e["data"]) for e in capacity] == [
        ("nl.acutezorg.capacity.reported.v1", {"location": SEH_LOCATION, "staffed_beds": 31})]


def test_hostile_messages_are_answered_and_leave_nothing_behind(gateway: Gateway) -> None:
    """Messages that made the mappings raise (the MLLP connection closed without an ACK,
    so the sender resent for ever; HTTP 500 with a traceback quoting the body) get an
    answer; the planted name in MSH-9 reaches no log line, label or dead letter (the
    next test searches them all)."""
    ack = gateway.send_hl7(adt("A04", visit="V-HOSTILE-1", control="MSG-H-1", recorded="20261122081200+2400"))
    assert msa(ack)[1:3] == ["AE", "MSG-H-1"] and msa(ack)[3].startswith("invalid_time"), ack
    ack = gateway.send_hl7(adt("A04", visit="V-HOSTILE-2\\.brX\\\\.sp100000000\\", control="MSG-H-2"))
    assert msa(ack)[1] == "AA", ack
    trigger = adt("A04", visit="V-HOSTILE-3", control="MSG-H-3").replace("^A04^", f"^{PATIENT_FIELDS[0]}^")
    assert msa(gateway.send_hl7(trigger))[1] == "AA"
    old = encounter(visit="V-HOSTILE-4", locations=[("Location/hmc-westeinde-seh", "0001-01-01", None)])
    status, body = gateway.post("/fhir/Encounter", old)
    assert status == 422 and body["issue"][0]["diagnostics"].startswith("invalid_time"), body
    for bad in ({"resourceType": "Bundle", "type": "batch", "entry": [{"resource": {"resourceType": 1}}]},
                encounter(visit="V-HOSTILE-5", contained=[{"resourceType": PATIENT_FIELDS[0]}])):
        status, body = gateway.post("/fhir" if bad["resourceType"] == "Bundle" else "/fhir/Encounter", bad)
        assert status in (200, 400), (status, body)


def test_every_event_passes_the_validator_and_metrics_count(gateway: Gateway) -> None:
    validator = Validator(load_registry(REGISTRY))
    for topic in INPUT_TOPICS:
        for record in events_on(gateway, topic.name):
            validator.decode(record.value, record.headers, topic=topic.name)
    status, text = gateway.get("/metrics")
    metrics = text.decode()
    assert status == 200
    assert 'spoedstroom_gateway_messages_total{outcome="accepted",partner="hmc",protocol="hl7",trigger="A04"} 4.0' in metrics
    assert 'outcome="ignored",partner="hmc",protocol="hl7",trigger="A08"' in metrics
    assert 'outcome="ignored",partner="hmc",protocol="hl7",trigger="other"' in metrics
    assert 'outcome="refused",partner="hmc",protocol="hl7",trigger="A04"' in metrics
    assert 'outcome="unauthorized",partner="unknown",protocol="fhir"' in metrics
    assert "spoedstroom_gateway_latency_seconds_bucket" in metrics
    assert gateway.get("/healthz")[0] == 200


def test_no_patient_data_anywhere(gateway: Gateway) -> None:
    """Every byte on every topic (keys, values, headers) and the gateway's log at debug."""
    blobs: list[bytes] = []
    for topic in ALL_TOPICS:
        for record in events_on(gateway, topic.name):
            blobs += [record.key or b"", record.value or b""]
            blobs += [k.encode() + v for k, v in record.headers or []]
    blobs.append(gateway.log.read_bytes())
    assert len(blobs) > 20
    everything = b"\n".join(blobs)
    for value in PATIENT_FIELDS + ("V-E2E-1", "V-FHIR-1"):
        assert value.encode() not in everything, value


def test_the_gateway_refuses_to_start_without_a_key_or_with_bad_tokens(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SPOEDSTROOM_")}
    base.update({"SPOEDSTROOM_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}", "SPOEDSTROOM_REGISTRY": REGISTRY})
    cases = [
        ({}, "no pseudonymisation key"),
        ({"SPOEDSTROOM_PSEUDONYM_KEY": "short"}, "has 5 characters"),
        ({"SPOEDSTROOM_PSEUDONYM_KEY": KEY.decode(), "SPOEDSTROOM_GATEWAY_TOKENS": "nobody=0123456789abcdef0"},
         "not `partner=token`"),
        ({"SPOEDSTROOM_PSEUDONYM_KEY": KEY.decode(), "SPOEDSTROOM_GATEWAY_TOKENS": "hmc=short"}, "at least 16"),
        ({"SPOEDSTROOM_PSEUDONYM_KEY": KEY.decode(), "SPOEDSTROOM_GATEWAY_HOST": "0.0.0.0"},
         "SPOEDSTROOM_GATEWAY_HOST"),
    ]
    for extra, message in cases:
        res = subprocess.run([sys.executable, "-c", "from streams.cli import main; main()", "gateway"],
                             env={**base, **extra}, capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert res.returncode == 2 and "refusing to start" in res.stderr and message in res.stderr, (extra, res.stderr)


def test_answers_name_no_software_versions(gateway: Gateway) -> None:
    """`Server: spoedstroom` on every HTTP answer, the parser's own to a garbage request
    included: a scan of the port learns no aiohttp or Python version."""
    for request in (b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n",
                    b"POST /fhir/Encounter HTTP/1.1\r\nHost: gateway\r\nContent-Length: 2\r\n\r\n{}",
                    b"\x16\x03\x01 garbage \xff\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", gateway.http), timeout=10) as conn:
            conn.sendall(request)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                head += chunk
        assert b"\r\nServer: spoedstroom\r\n" in head and b"aiohttp" not in head and b"Python" not in head, head
