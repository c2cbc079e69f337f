"""Item 1 and 6 of "Reliability and security": bad input at the door, and the web surface.

One worker run on the real broker and Redis takes a clean three-hour Haaglanden scenario
with 50+ bad records mixed in (every dead-letter reason that can arise on the event
clock, several variants each), produced with kafka-python so tombstones, binary mode and
wrong topics are possible. Every bad record must land on `acute.deadletter` unchanged
(key and value) with the documented reason in `dlq.reason`, be counted in
`spoedstroom_events_deadlettered_total{topic,reason}`, and change nothing: the final
snapshots and alerts equal the replay of the clean scenario. Some clean events travel in
binary mode (accepted). The worker runs with SPOEDSTROOM_WEB_TOKEN set, so the same run
proves the token, the read-only pages and that no id leaves through them.

`future_time` needs the wall clock: a second, small run below.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tests.reliability import rel
from tests.streams.kafka_io import NotUtf8, headers_of, read_topic
from tests.support import make_stack, wait_until
from topics.codec import dumps, format_time, parse_time
from topics.envelope import binary_headers

TOKEN = "rel-test-token-7f3c"
START = "2026-11-16T06:00:00Z"
T = "2026-11-16T07:00:00Z"
BSN = "123456782"  # passes the eleven-test


def ce(type_: str, partner: str, data: dict[str, Any], eid: str, time_: str = T, **extra: Any) -> dict[str, Any]:
    ev = {"specversion": "1.0", "id": eid, "source": f"/partners/{partner}", "type": f"nl.acutezorg.{type_}.v1",
          "time": time_, "datacontenttype": "application/json", "data": data}
    ev.update(extra)
    return ev


def arrived(eid: str, partner: str = "hmc", **data: Any) -> dict[str, Any]:
    d = {"encounter_id": f"bad-{eid}", "location": "hmc-westeinde-seh", "arrival_mode": "self_referral"}
    d.update(data)
    return ce("seh.arrived", partner, {k: v for k, v in d.items() if v is not None}, eid)


def without(ev: dict[str, Any], attr: str) -> dict[str, Any]:
    return {k: v for k, v in ev.items() if k != attr}


ADM, CAP, CALLS, DIS = "acute.admissions", "acute.capacity", "acute.calls", "acute.dispatches"
CT = [("content-type", b"application/cloudevents+json")]


def j(obj: Any) -> bytes:
    return dumps(obj)


# (name, topic, key, value, headers, expected reason). Every value is unique, so a
# dead-letter record can be matched to its case by its (unchanged) value.
CASES: list[tuple[str, str, bytes | None, bytes | None, list[tuple[str, bytes]], str]] = [
    ("broken_json", ADM, b"hmc", b'{"specversion":"1.0","id":"b01",', CT, "invalid_json"),
    ("not_json_at_all", ADM, b"hmc", b"patient Jansen arrived b02", CT, "invalid_json"),
    ("empty_value", ADM, b"hmc-empty", b"", CT, "invalid_json"),
    ("latin1_bytes", ADM, b"hmc", j(arrived("b04")).replace(b"bad-b04", "bad-b04-\u00e9".encode("latin-1")), CT, "invalid_json"),
    ("json_array", ADM, b"hmc", b'[{"id":"b05"}]', CT, "not_cloudevent"),
    ("json_string", ADM, b"hmc", b'"b06 seh.arrived"', CT, "not_cloudevent"),
    ("json_number", ADM, b"hmc", b"607", CT, "not_cloudevent"),
    ("json_null", ADM, b"hmc-null", b"null", CT, "not_cloudevent"),
    ("missing_specversion", ADM, b"hmc", j(without(arrived("b09"), "specversion")), CT, "not_cloudevent"),
    ("wrong_specversion", ADM, b"hmc", j({**arrived("b10"), "specversion": "0.3"}), CT, "not_cloudevent"),
    ("missing_id", ADM, b"hmc", j(without(arrived("b11"), "id")), CT, "not_cloudevent"),
    ("empty_id", ADM, b"hmc", j({**arrived("b12"), "id": ""}), CT, "not_cloudevent"),
    ("id_not_string", ADM, b"hmc", j({**arrived("b13"), "id": 13}), CT, "not_cloudevent"),
    ("missing_source", ADM, b"hmc", j(without(arrived("b14"), "source")), CT, "not_cloudevent"),
    ("source_not_partner", ADM, b"hmc", j({**arrived("b15"), "source": "/hospitals/hmc"}), CT, "not_cloudevent"),
    ("missing_type", ADM, b"hmc", j(without(arrived("b16"), "type")), CT, "not_cloudevent"),
    ("missing_time", ADM, b"hmc", j(without(arrived("b17"), "time")), CT, "not_cloudevent"),
    ("time_without_offset", ADM, b"hmc", j({**arrived("b18"), "time": "2026-11-16T07:00:00"}), CT, "not_cloudevent"),
    ("time_not_a_time", ADM, b"hmc", j({**arrived("b19"), "time": "gisteren"}), CT, "not_cloudevent"),
    ("missing_data", ADM, b"hmc", j(without(arrived("b20"), "data")), CT, "not_cloudevent"),
    ("data_not_object", ADM, b"hmc", j({**arrived("b21"), "data": "b21 free text"}), CT, "not_cloudevent"),
    ("data_base64_empty_object", ADM, b"hmc", j({**without(arrived("b22"), "data"), "data_base64": "e30="}), CT, "schema"),
    ("wrong_datacontenttype", ADM, b"hmc", j({**arrived("b23"), "datacontenttype": "text/plain"}), CT, "not_cloudevent"),
    ("bad_extension_name", ADM, b"hmc", j({**arrived("b24"), "Patient_Name": "Jansen"}), CT, "unknown_attribute"),
    ("extension_not_string", ADM, b"hmc", j({**arrived("b25"), "traceparent": {"x": 1}}), CT, "not_cloudevent"),
    ("unknown_type", ADM, b"hmc", j({**arrived("b26"), "type": "nl.acutezorg.seh.exploded.v1"}), CT, "unknown_type"),
    ("emitted_type_as_input", CAP, b"hmc", j(ce("metrics.snapshot", "hmc", {"scope": "region"}, "b27")), CT, "unknown_type"),
    ("type_on_wrong_topic", CALLS, b"hmc", j(arrived("b28")), CT, "wrong_topic"),
    ("unknown_partner", ADM, b"ziekenhuis-x", j(arrived("b29", partner="ziekenhuis-x")), CT, "unknown_partner"),
    ("wrong_partner_kind_hap_sends_seh", ADM, b"hap-delft", j(arrived("b30", partner="hap-delft")), CT, "wrong_partner_kind"),
    ("wrong_partner_kind_hospital_sends_dispatch", DIS, b"hmc", j(ce("dispatch.on_scene", "hmc", {"ride_id": "r-b31"}, "b31")), CT, "wrong_partner_kind"),
    ("schema_missing_required", ADM, b"hmc", j(arrived("b32", arrival_mode=None)), CT, "schema"),
    ("schema_wrong_type", ADM, b"hmc", j(ce("ward.admitted", "hmc", {"encounter_id": "bad-b33", "location": "hmc-westeinde-interne", "acute": "ja"}, "b33")), CT, "schema"),
    ("schema_enum", ADM, b"hmc", j(arrived("b34", arrival_mode="helicopter")), CT, "schema"),
    ("schema_pattern", ADM, b"hmc", j(arrived("b35", encounter_id="enc b35/2")), CT, "schema"),
    ("schema_id_trailing_newline", ADM, b"hmc", j(arrived("b36", encounter_id="bad-b36\n")), CT, "schema"),
    ("schema_id_too_long", ADM, b"hmc", j(arrived("b37", encounter_id="b37" + "x" * 62)), CT, "schema"),
    ("privacy_extra_field_name", ADM, b"hmc", j(arrived("b38", name="J. Jansen")), CT, "schema"),
    ("privacy_free_text", ADM, b"hmc", j(arrived("b39", note="patient b39 valt vaak")), CT, "schema"),
    ("privacy_birth_date", ADM, b"hmc", j(arrived("b40", birth_date="1941-03-02")), CT, "schema"),
    ("schema_negative_beds", CAP, b"hmc", j(ce("capacity.reported", "hmc", {"location": "hmc-westeinde-seh", "staffed_beds": -41}, "b41")), CT, "schema"),
    ("schema_time_field_not_real", DIS, b"rav-haaglanden", j(ce("dispatch.assigned", "rav-haaglanden", {"ride_id": "r-b42", "urgency": "A1", "call_received_at": "2026-02-30T07:00:00Z"}, "b42")), CT, "schema"),
    ("possible_bsn_encounter_id", ADM, b"hmc", j(arrived("b43", encounter_id=BSN)), CT, "possible_bsn"),
    ("possible_bsn_event_id", ADM, b"hmc", j({**arrived("b44"), "id": BSN}), CT, "possible_bsn"),
    ("unknown_location", ADM, b"hmc", j(arrived("b45", location="hmc-nergens-seh")), CT, "unknown_location"),
    ("foreign_location_seh", ADM, b"haga", j(arrived("b46", partner="haga")), CT, "foreign_location"),
    ("foreign_location_capacity", CAP, b"florence", j(ce("capacity.reported", "florence", {"location": "wzh-elv", "staffed_beds": 47}, "b47")), CT, "foreign_location"),
    ("wrong_location_kind_arrival_on_ward", ADM, b"hmc", j(arrived("b48", location="hmc-westeinde-interne")), CT, "wrong_location_kind"),
    ("wrong_location_kind_admit_to_seh", ADM, b"hmc", j(ce("ward.admitted", "hmc", {"encounter_id": "bad-b49", "location": "hmc-westeinde-seh", "acute": True}, "b49")), CT, "wrong_location_kind"),
    ("too_large", ADM, b"hmc", j({**arrived("b50"), "padding": "x" * 70_000}), CT, "too_large"),
    ("tombstone", ADM, b"hmc-tombstone", None, [], "tombstone"),
    ("binary_missing_ce_time", ADM, b"hmc", j({"encounter_id": "bad-b52", "location": "hmc-westeinde-seh", "arrival_mode": "other"}),
     [h for h in binary_headers(arrived("b52")) if h[0] != "ce_time"], "not_cloudevent"),
    ("binary_header_not_utf8", ADM, b"hmc", j({"encounter_id": "bad-b53", "location": "hmc-westeinde-seh", "arrival_mode": "other"}),
     [(k, b"\xff\xfe" if k == "ce_id" else v) for k, v in binary_headers(arrived("b53"))], "not_cloudevent"),
    ("binary_data_not_object", ADM, b"hmc", b'["b54"]', binary_headers(arrived("b54")), "not_cloudevent"),
    ("binary_schema_extra_field", ADM, b"hmc", j({"encounter_id": "bad-b55", "location": "hmc-westeinde-seh", "arrival_mode": "other", "name": "x"}),
     binary_headers(arrived("b55")), "schema"),
    # issue 11: records that used to crash-loop the region, leak text or skew metrics
    ("beds_2_pow_64_minus_1", CAP, b"hmc", j(ce("capacity.reported", "hmc", {"location": "hmc-westeinde-seh", "staffed_beds": 18446744073709551615}, "b57")), CT, "schema"),
    ("beds_1e300", CAP, b"hmc", b'{"specversion":"1.0","id":"b58","source":"/partners/hmc","type":"nl.acutezorg.capacity.reported.v1","time":"2026-11-16T07:00:00Z","data":{"location":"hmc-westeinde-seh","staffed_beds":1e300}}', CT, "schema"),
    ("beds_a_billion", CAP, b"hmc", j(ce("capacity.reported", "hmc", {"location": "hmc-westeinde-interne", "staffed_beds": 1_000_000_000}, "b59")), CT, "schema"),
    ("beds_implausible_for_an_seh", CAP, b"hmc", j(ce("capacity.reported", "hmc", {"location": "hmc-westeinde-seh", "staffed_beds": 5000}, "b60")), CT, "implausible"),
    ("call_received_in_year_1", DIS, b"rav-haaglanden", j(ce("dispatch.assigned", "rav-haaglanden", {"ride_id": "r-b61", "urgency": "A1", "call_received_at": "0001-01-01T00:00:00Z"}, "b61")), CT, "implausible"),
    ("status_reason_free_text", CAP, b"hmc", j(ce("seh.status_changed", "hmc", {"location": "hmc-westeinde-seh", "status": "stop", "reason": "J. Jansen 02-03-1941 \u202e"}, "b62")), CT, "schema"),
    ("extension_bsn", ADM, b"hmc", j({**arrived("b63"), "bsn": BSN}), CT, "unknown_attribute"),
    ("bsn_inside_event_id", ADM, b"hmc", j({**arrived("b64"), "id": "NL" + BSN}), CT, "possible_bsn"),
    ("event_id_60000_chars", ADM, b"hmc", j(ce("seh.triaged", "hmc", {"encounter_id": "bad-b65", "urgency": "U3"}, "b65" + "x" * 60_000)), CT, "too_large"),
    ("offset_minus_23_59_past_year_9999", ADM, b"hmc", j({**arrived("b66"), "time": "9999-12-31T23:59:59-23:59"}), CT, "not_cloudevent"),
    ("binary_unknown_ce_attribute", ADM, b"hmc", j({"encounter_id": "bad-b67", "location": "hmc-westeinde-seh", "arrival_mode": "other"}),
     [*binary_headers(arrived("b67")), ("ce_patientname", b"Jansen")], "unknown_attribute"),
]
# A record far above the broker's record limit for a copy: dead-lettered cut to its first
# bytes, with dlq.truncated and the original size.
HUGE = ("two_megabytes", ADM, b"hmc", j({**arrived("b68"), "padding": "x" * 2_000_000}), CT, "too_large")
# Clock poisoning on the event clock: far ahead of everything, confirmed by nothing. The
# region holds them, and dead-letters them (re-encoded) once 1,000 later events passed.
FAR_AHEAD = [
    ("dated_9999", ADM, b"hmc", j({**arrived("b69"), "time": "9999-12-31T23:59:59Z"}), CT, "future_time"),
    ("year_typo_2207", CAP, b"hmc", j(ce("capacity.reported", "hmc", {"location": "hmc-westeinde-seh", "staffed_beds": 30}, "b70", time_="2207-11-16T07:00:00Z")), CT, "future_time"),
]
# Older than the 30-day state retention behind the stream clock: sent mid-scenario on
# hmc's capacity partition, after the stream clock has moved.
TOO_OLD = ("too_old", CAP, b"hmc", j(ce("capacity.reported", "hmc", {"location": "hmc-westeinde-seh", "staffed_beds": 28}, "b56",
                                        time_=format_time(parse_time(START) - 40 * 86_400_000))), CT, "too_old")
ALL_CASES = CASES + [TOO_OLD, HUGE, *FAR_AHEAD]
# Decided by the region's processor, after repartitioning: the raw bytes stay in the input
# topic, the dead letter carries the event re-encoded (docs/contract.md, "Dead letters").
REGION_DECIDED = [TOO_OLD, *FAR_AHEAD]
BINARY_EVERY = 40  # every 40th clean event goes in binary mode (must be accepted)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    items = rel.scenario(hours=3, seed=21, start=START)
    ref = rel.reference_of(items)
    records: list[rel.Record] = []
    binary = 0
    for i, (topic, key, ev) in enumerate(items):
        if i % BINARY_EVERY == 7:
            records.append((topic, key.encode(), dumps(ev["data"]), binary_headers(ev)))
            binary += 1
        else:
            records.append((topic, key.encode(), dumps(ev), list(rel.CE_HEADERS)))
    # The bad records spread through the first half, the too_old one in the middle.
    step = max(1, len(records) // (2 * len(CASES)))
    for n, case in enumerate(CASES):
        records.insert(50 + n * step + n, case[1:5])
    records.insert(len(records) * 2 // 3, TOO_OLD[1:5])
    records.insert(len(records) // 2, HUGE[1:5])
    for n, case in enumerate(FAR_AHEAD):
        records.insert(20 + n, case[1:5])  # early: over a thousand events follow
    assert len({c[3] for c in ALL_CASES}) == len(ALL_CASES), "case values must be unique"

    tmp = tmp_path_factory.mktemp("bad_input")
    with make_stack(tmp) as stack:
        worker, port = stack.start_worker(extra_env={"SPOEDSTROOM_WEB_TOKEN": TOKEN})
        rel.produce(stack, records)
        got = rel.wait_final(stack, ref, "the worker to reach the clean replay's region snapshot despite the bad input")
        def missing() -> list[str]:
            names = set()
            for rec in read_topic(stack.bootstrap, "acute.deadletter"):
                case = _case_of(rec, headers_of(rec))
                names.add(case[0] if case else "?")
            return sorted({c[0] for c in ALL_CASES} - names)

        try:
            wait_until(lambda: not missing(), 60, "every bad record dead-lettered")
        except AssertionError:
            raise AssertionError(f"not dead-lettered: {missing()}; log:\n{stack.log()[-3000:]}") from None
        yield {"stack": stack, "worker": worker, "port": port, "ref": ref, "got": got, "items": items, "binary": binary}


def _case_of(rec: Any, h: dict[str, str]) -> tuple[Any, ...] | None:
    """The case a dead letter belongs to: by its unchanged value, by the original's
    first bytes when cut, by its CloudEvents id when the region re-encoded it."""
    if h.get("dlq.reencoded") == "true":
        eid = orjson.loads(rec.value)["id"]
        return next((c for c in REGION_DECIDED if orjson.loads(c[3])["id"] == eid), None)
    if h.get("dlq.truncated") == "true":
        return HUGE if HUGE[3].startswith(rec.value) and int(h["dlq.original_size"]) == len(HUGE[3]) else None
    return next((c for c in ALL_CASES if c[3] == rec.value), None)


def test_every_bad_record_is_deadlettered_unchanged_with_its_reason(run: dict[str, Any]) -> None:
    records = read_topic(run["stack"].bootstrap, "acute.deadletter")
    seen: dict[str, str] = {}
    for rec in records:
        h = headers_of(rec)
        case = _case_of(rec, h)
        assert case is not None, f"an unexpected record was dead-lettered: {h} {rec.value[:200]!r}"
        name, topic, key, _value, original_headers, reason = case
        assert h["dlq.reason"] == reason, (name, h)
        assert h["dlq.detail"], name
        assert h["dlq.topic"] == topic, (name, h)
        assert rec.key == key, (name, rec.key)
        if case in REGION_DECIDED:
            assert h["dlq.reencoded"] == "true", name
            assert orjson.loads(rec.value)["time"] == orjson.loads(case[3])["time"], name
            if case in FAR_AHEAD:  # held, then expired: found in the input by source and id
                assert h["dlq.partition"] == "-1" and h["ce_source"] == "/partners/hmc", (name, h)
        else:
            assert int(h["dlq.offset"]) >= 0 and int(h["dlq.partition"]) >= 0, name
            # unchanged: every original header is there too (binary mode's ce_* included)
            raw_headers = [(k, bytes(v)) for k, v in rec.headers]
            for header in original_headers:
                assert header in raw_headers, (name, header)
        assert name not in seen, f"{name} dead-lettered twice"
        seen[name] = reason
    missing = sorted(c[0] for c in ALL_CASES if c[0] not in seen)
    assert not missing, f"not dead-lettered: {missing}"
    assert len(ALL_CASES) >= 30
    # The BSN is never echoed in a detail.
    assert all(BSN not in headers_of(r)["dlq.detail"] for r in records)


def test_a_record_above_the_broker_limit_is_deadlettered_cut(run: dict[str, Any]) -> None:
    cut = [r for r in read_topic(run["stack"].bootstrap, "acute.deadletter") if headers_of(r).get("dlq.truncated")]
    assert len(cut) == 1
    h = headers_of(cut[0])
    assert h["dlq.reason"] == "too_large" and int(h["dlq.original_size"]) == len(HUGE[3]) > 2_000_000
    assert 500_000 < len(cut[0].value) < 1_000_000 and HUGE[3].startswith(cut[0].value)


def test_deadletters_are_counted_by_topic_and_reason(run: dict[str, Any]) -> None:
    text = rel.metrics_text(run["port"], TOKEN)
    want = Counter((c[1], c[5]) for c in ALL_CASES)
    for (topic, reason), n in want.items():
        assert rel.metric(text, "spoedstroom_events_deadlettered_total", topic=topic, reason=reason) == n, (topic, reason)
    assert sum(v for _l, v in rel.samples(text, "spoedstroom_events_deadlettered_total")) == len(ALL_CASES)


def test_bad_input_changes_nothing_final_metrics_equal_clean_replay(run: dict[str, Any]) -> None:
    assert run["binary"] > 10, "some clean events must travel in binary mode"
    rel.assert_snapshots_equal(run["got"], run["ref"])
    alerts = rel.alert_events(run["stack"])
    assert sorted(a["id"] for a in alerts) == run["ref"].alert_ids
    text = rel.metrics_text(run["port"], TOKEN)
    applied = sum(v for _l, v in rel.samples(text, "spoedstroom_events_applied_total"))
    assert applied == run["ref"].summary["applied"], "every clean event (binary mode included) applied once"


def test_worker_keeps_running_after_bad_input(run: dict[str, Any]) -> None:
    assert run["worker"].poll() is None, run["stack"].log()
    assert rel.http(run["port"], "/healthz")[0] == 200
    assert "Traceback" not in run["stack"].log(), run["stack"].log()


# ----------------------------------------------------------------- item 6: the web surface
def test_token_guards_status_and_metrics_but_not_healthz(run: dict[str, Any]) -> None:
    port, region = run["port"], run["ref"].region_key.split(":")[1]
    for path in ("/metrics", f"/status/{region}"):
        assert rel.http(port, path)[0] == 401, path
        assert rel.http(port, path, token="wrong-token")[0] == 401, path
        assert rel.http(port, path, token=TOKEN)[0] == 200, path
    assert rel.http(port, "/healthz")[0] == 200


def test_web_endpoints_are_read_only(run: dict[str, Any]) -> None:
    port, region = run["port"], run["ref"].region_key.split(":")[1]
    for path in ("/healthz", "/readyz", "/metrics", f"/status/{region}", "/table/region-state", "/"):
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            status, _ = rel.http(port, path, method=method, token=TOKEN)
            assert status in (404, 405), (method, path, status)
    # Faust's own introspection pages are off.
    for path in ("/table/region-state", "/router/", "/graph/", "/stats/"):
        assert rel.http(port, path, token=TOKEN)[0] == 404, path


def test_no_per_encounter_data_leaves_through_the_web(run: dict[str, Any]) -> None:
    ids = {ev["data"][f] for _t, _k, ev in run["items"] for f in ("encounter_id", "ride_id", "call_id") if f in ev["data"]}
    ids |= {ev["id"] for _t, _k, ev in run["items"]}
    assert len(ids) > 1000
    region = run["ref"].region_key.split(":")[1]
    status = rel.http(run["port"], f"/status/{region}", token=TOKEN)[1]
    metrics = rel.metrics_text(run["port"], TOKEN)
    assert orjson.loads(status)["snapshots"][run["ref"].region_key] == run["ref"].snapshots[run["ref"].region_key]
    for name, body in (("status", status), ("metrics", metrics)):
        leaked = [i for i in ids if f'"{i}"' in body]
        assert not leaked, f"/{name} exposes ids: {leaked[:5]}"
        assert BSN not in body and "bad-b" not in body, name


# ----------------------------------------------------------------- future_time: the wall clock
def test_future_time_on_the_wall_clock(stack: rel.Stack) -> None:
    """On the wall clock an event more than 5 minutes ahead is dead-lettered (future_time);
    one 15 s ahead and one just past are applied (the first once the wall clock passes it)."""
    now = int(time.time() * 1000)
    def cap(eid: str, t: int, beds: int) -> rel.Record:
        return (CAP, b"hmc", j(ce("capacity.reported", "hmc", {"location": "hmc-westeinde-interne", "staffed_beds": beds}, eid, format_time(t))), CT)

    future = cap("f-ahead-1h", now + 3_600_000, 11)
    future6 = cap("f-ahead-6m", now + 360_000, 12)
    ok = [cap("f-now", now - 30_000, 90), cap("f-ahead-15s", now + 15_000, 91)]
    worker, port = stack.start_worker(clock="wall")
    rel.produce(stack, [ok[0], future, future6, ok[1]])

    def dead() -> list[Any]:
        return read_topic(stack.bootstrap, "acute.deadletter")

    records = wait_until(lambda: len(dead()) >= 2 and dead(), 90, f"future_time dead letters; log:\n{stack.log()}")
    assert sorted(r.value for r in records) == sorted([future[2], future6[2]])
    assert {headers_of(r)["dlq.reason"] for r in records} == {"future_time"}

    def applied() -> float:
        text = rel.metrics_text(port)
        return rel.metric(text, "spoedstroom_events_applied_total", type="capacity.reported")

    wait_until(lambda: applied() == 2, 60, "the two timely events applied")
    text = rel.metrics_text(port)
    assert rel.metric(text, "spoedstroom_events_deadlettered_total", reason="future_time") == 2
    assert worker.poll() is None


# ----------------------------------------------------------------- the metrics topic itself
def test_snapshots_on_the_metrics_topic_never_go_back_in_time(run: dict[str, Any]) -> None:
    """Compaction keeps the last record per key: a snapshot published after a newer one
    of the same key leaves consumers with a stale picture for good."""
    problems = rel.metrics_topic_problems(run["stack"])
    assert not problems["as_of_goes_back"], f"older snapshot published after a newer one: {problems['as_of_goes_back'][:5]}"


def test_one_snapshot_id_names_one_content(run: dict[str, Any]) -> None:
    """events.md: (source, id) is unique; a consumer that deduplicates by it must not drop
    a changed snapshot. Snapshot ids are `{key}@{as_of}`: two different snapshots of one
    key at the same stream time share an id."""
    problems = rel.metrics_topic_problems(run["stack"])
    assert not problems["id_reused_for_other_content"], problems["id_reused_for_other_content"][:5]


def test_a_record_the_client_cannot_parse_is_dead_lettered_with_the_rest_of_its_batch_and_the_worker_goes_on(
        stack: Any) -> None:
    """Before: `getmany` raised UnicodeDecodeError on every call, the worker exited 70, and
    every worker that took the partition over exited too (streams/unreadable.py)."""
    from kafka import KafkaProducer

    worker, port = stack.start_worker()
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap, linger_ms=500, acks=1, client_id="unreadable-test")
    try:
        def send(eid: str, extra: list[tuple[str, bytes]] | None = None) -> None:
            producer.send(ADM, key=b"hmc", value=j(arrived(eid)), headers=[*CT, *(extra or [])], partition=0)

        # One producer batch (offsets 0-4): two readable records, the unreadable one, two after it.
        for eid in ("u1", "u2"):
            send(eid)
        send("u3", [(NotUtf8("x"), b"1")])
        for eid in ("u4", "u5"):
            send(eid)
        producer.flush()
        # A later batch (offsets 5-29): 25 events, so the clock guard of a region with no
        # clock yet lets them through (20 from one partner confirm a time range).
        for n in range(6, 31):
            send(f"u{n}")
        producer.flush()
    finally:
        producer.close()

    def unreadable() -> list[Any]:
        return [r for r in read_topic(stack.bootstrap, "acute.deadletter")
                if headers_of(r).get("dlq.reason") == "unreadable_record"]

    def applied() -> float:
        return sum(v for _labels, v in rel.samples(rel.metrics_text(port), "spoedstroom_events_applied_total"))

    try:
        wait_until(lambda: len(unreadable()) >= 3 and applied() >= 27, 60, "the readable records applied, the rest dead-lettered")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {len(unreadable())} dead-lettered, {applied()} applied, worker {worker.poll()};"
                             f" log:\n{stack.log()[-3000:]}") from None
    letters = unreadable()
    assert sorted(int(headers_of(r)["dlq.offset"]) for r in letters) == [2, 3, 4]
    assert all(headers_of(r)["dlq.topic"] == ADM and headers_of(r)["dlq.partition"] == "0" for r in letters)
    assert all(r.key is None and r.value == b"" for r in letters)  # could not be read: nothing to copy
    assert applied() == 27  # u1, u2 and u6-u30
    counted = rel.samples(rel.metrics_text(port), "spoedstroom_events_deadlettered_total")
    assert sum(v for labels, v in counted if labels.get("reason") == "unreadable_record") == 3
    assert worker.poll() is None
    stack.assert_no_offset_gaps()
    assert "\\xff" not in stack.log() and "-name" not in stack.log()


def test_batches_compressed_with_any_kafka_codec_are_read(stack: Any) -> None:
    """Partners' producers compress their batches (`compression.type` gzip, snappy, lz4,
    zstd). Before: aiokafka had no library for the last three, `getmany` raised
    UnsupportedCodecError on every call, and the worker exited 70 on every restart."""
    import asyncio

    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import UnsupportedCodecError

    from streams.unreadable import UNREADABLE

    codecs = ("gzip", "snappy", "lz4", "zstd")
    worker, port = stack.start_worker()

    async def publish() -> None:
        for codec in codecs:
            producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, compression_type=codec, linger_ms=50)
            await producer.start()
            try:
                batch = [await producer.send(ADM, key=b"hmc", value=j(arrived(f"{codec}-{n}")), headers=CT, partition=0)
                         for n in range(8)]
                await producer.flush()
                for sent in batch:
                    await sent
            finally:
                await producer.stop()

    asyncio.run(publish())

    def applied() -> float:
        return sum(v for _labels, v in rel.samples(rel.metrics_text(port), "spoedstroom_events_applied_total"))

    wait_until(lambda: applied() >= 8 * len(codecs) or worker.poll() is not None, 60, "the compressed events applied")
    assert worker.poll() is None, stack.log()[-3000:]
    assert applied() == 8 * len(codecs)
    assert not read_topic(stack.bootstrap, "acute.deadletter")
    # a codec the client has no library for (one Kafka adds later) is the data's fault:
    # dead-lettered by its coordinates like any batch it cannot parse, never a stop
    assert issubclass(UnsupportedCodecError, UNREADABLE)


def test_a_megabyte_key_or_thousands_of_header_names_are_dead_lettered_cut_and_the_worker_goes_on(
        stack: Any) -> None:
    """Before: the dead-letter copy kept the key whole, or every header name, the producer
    refused the copy, and the worker exited 70 on the record at every restart."""
    from kafka import KafkaProducer

    worker, port = stack.start_worker()
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap, acks=1, max_request_size=2_000_000,
                             client_id="oversized-copies-test")
    try:
        producer.send(CALLS, key=b"K" * 999_800, value=b'["megabyte key"]', partition=0).get(timeout=30)
        names = [(f"h{n:04d}" + "x" * 244, b"") for n in range(3_900)]
        producer.send(CALLS, key=b"ggz", value=b"{not json, 3900 headers", headers=names, partition=0).get(timeout=30)
        for n in range(25):  # events after them: the reader went on
            producer.send(ADM, key=b"hmc", value=j(arrived(f"after-{n}")), headers=CT, partition=0)
        producer.flush()
    finally:
        producer.close()

    def letters() -> list[Any]:
        return read_topic(stack.bootstrap, "acute.deadletter")

    def applied() -> float:
        return sum(v for _labels, v in rel.samples(rel.metrics_text(port), "spoedstroom_events_applied_total"))

    wait_until(lambda: worker.poll() is not None or (len(letters()) >= 2 and applied() >= 25), 60,
               "both copies dead-lettered and the events after them applied")
    assert worker.poll() is None, stack.log()[-3000:]
    by_value = {rec.value: rec for rec in letters()}
    assert len(letters()) == 2 and applied() == 25
    keyed = by_value[b'["megabyte key"]']
    h = headers_of(keyed)
    assert h["dlq.reason"] == "not_cloudevent" and h["dlq.key_truncated"] == "true"
    assert h["dlq.original_key_size"] == "999800" and keyed.key == b"K" * len(keyed.key) and len(keyed.key) < 999_800
    named = by_value[b"{not json, 3900 headers"]
    h = headers_of(named)
    assert h["dlq.reason"] == "invalid_json" and h["dlq.headers_truncated"] == "true"
    assert 0 < sum(1 for k, _v in named.headers if k.startswith("h")) < 3_900
