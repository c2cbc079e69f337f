"""Every input type round-trips producer -> bytes -> Validator; emitted examples and all
schema files are checked with the independent `jsonschema` library."""

from __future__ import annotations

import json
import timeit

import jsonschema
import pytest

from topics.catalogue import EMITTED_TYPES, INPUT_TYPES, TOPIC_OF_TYPE
from topics.codec import dumps, loads
from topics.envelope import CLOUDEVENTS_JSON, binary_headers, emitted, partner_event
from topics.event import Event
from topics.validation import SCHEMA_DIR, Validator, compiled_schema, deadletter_headers, load_schema

from topics_examples import EMITTED_EXAMPLES, EXAMPLES, T0


def test_one_example_per_input_type() -> None:
    assert sorted(EXAMPLES) == sorted(INPUT_TYPES)
    assert len(INPUT_TYPES) == 22


@pytest.mark.parametrize("type_name", INPUT_TYPES)
def test_round_trip(validator: Validator, type_name: str) -> None:
    partner, data = EXAMPLES[type_name]
    value = dumps(partner_event(type_name, partner, f"ev-{type_name}", T0 + 250, data))
    event = validator.decode(value, topic=TOPIC_OF_TYPE[type_name], wall_now_ms=T0)
    assert event == Event(f"ev-{type_name}", f"/partners/{partner}", partner, type_name, T0 + 250, data)
    assert event.key == (T0 + 250, f"/partners/{partner}", f"ev-{type_name}")
    # the structured content-type header does not switch to binary mode
    assert validator.decode(value, [("content-type", CLOUDEVENTS_JSON.encode())]) == event
    # and every valid example is valid for jsonschema too
    jsonschema.Draft202012Validator(load_schema(type_name)).validate(data)


@pytest.mark.parametrize("type_name", INPUT_TYPES)
def test_binary_mode(validator: Validator, type_name: str) -> None:
    partner, data = EXAMPLES[type_name]
    ev = partner_event(type_name, partner, "b-1", T0, data)
    event = validator.decode(dumps(data), binary_headers(ev), topic=TOPIC_OF_TYPE[type_name])
    assert (event.type, event.partner, event.time, event.data, event.id) == (type_name, partner, T0, data, "b-1")


def test_binary_mode_headers_as_bytes_keys_and_offset_time(validator: Validator) -> None:
    partner, data = EXAMPLES["seh.triaged"]
    headers = [
        (b"ce_specversion", b"1.0"),
        (b"ce_id", b"x-1"),
        (b"ce_source", b"/partners/rdgg"),
        (b"ce_type", b"nl.acutezorg.seh.triaged.v1"),
        (b"ce_time", b"2026-11-22T14:05:00.5+01:00"),
        (b"content-type", b"application/json"),
    ]
    event = validator.decode(dumps(data), headers)
    assert event.time == T0 + 500


@pytest.mark.parametrize("name", sorted(p.stem for p in SCHEMA_DIR.glob("*.json")))
def test_schema_files_are_valid_2020_12(name: str) -> None:
    schema = load_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/{name}.json")
    assert schema["title"] and len(schema["description"]) > 30
    for field, sub in schema.get("properties", {}).items():
        assert sub.get("description"), f"{name}.{field} has no description"


def test_schema_files_are_exactly_the_types() -> None:
    names = {p.stem for p in SCHEMA_DIR.glob("*.json")}
    assert names == set(INPUT_TYPES) | set(EMITTED_TYPES) | {"cloudevent"}


@pytest.mark.parametrize("type_name", EMITTED_TYPES)
def test_emitted_examples_validate(type_name: str) -> None:
    data = EMITTED_EXAMPLES[type_name]
    jsonschema.Draft202012Validator(load_schema(type_name)).validate(data)
    compiled_schema(type_name)(data)
    ev = emitted(type_name, "haaglanden", T0, data, f"{type_name}@x")
    assert ev["source"] == "/spoedstroom/haaglanden"
    assert ev["type"] == f"nl.acutezorg.{type_name}.v1"
    assert ev["time"] == "2026-11-22T13:05:00Z"
    assert ev["datacontenttype"] == "application/json"
    jsonschema.Draft202012Validator(load_schema("cloudevent")).validate(loads(dumps(ev)))


def test_emitted_schemas_reject_wrong_data() -> None:
    raised = dict(EMITTED_EXAMPLES["alert.raised"])
    del raised["actions"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(raised, load_schema("alert.raised"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**EMITTED_EXAMPLES["alert.resolved"], "extra": 1}, load_schema("alert.resolved"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"scope": "ward", "id": "x", "as_of": "2026-11-22T13:05:00Z"}, load_schema("metrics.snapshot"))


def test_partner_events_match_the_envelope_schema() -> None:
    schema = load_schema("cloudevent")
    for type_name, (partner, data) in EXAMPLES.items():
        jsonschema.validate(loads(dumps(partner_event(type_name, partner, "i", T0, data))), schema)


def test_deadletter_headers() -> None:
    from topics.event import Reason

    assert deadletter_headers(Reason.SCHEMA, "data.x bad", "acute.calls", 3, 1234) == [
        ("dlq.reason", b"schema"),
        ("dlq.detail", b"data.x bad"),
        ("dlq.topic", b"acute.calls"),
        ("dlq.partition", b"3"),
        ("dlq.offset", b"1234"),
    ]


def test_decode_speed(validator: Validator) -> None:
    """Prints the decode rate (not asserted: machines differ)."""
    partner, data = EXAMPLES["seh.arrived"]
    value = dumps(partner_event("seh.arrived", partner, "speed-1", T0, data))
    n = 20_000
    seconds = timeit.timeit(lambda: validator.decode(value, topic="acute.admissions"), number=n)
    print(f"\nValidator.decode: {n / seconds:,.0f} events/s ({seconds / n * 1e6:.1f} us/event)")
    assert json.loads(value)["id"] == "speed-1"


def test_envelope_schema_follows_the_contract() -> None:
    """cloudevent.json states the limits, the extension allow-list and data/data_base64
    of docs/contract.md (checked with the independent jsonschema library)."""
    import base64

    check = jsonschema.Draft202012Validator(load_schema("cloudevent")).is_valid
    partner, data = EXAMPLES["seh.triaged"]
    ev = loads(dumps(partner_event("seh.triaged", partner, "i-1", T0, data)))
    encoded = base64.b64encode(dumps(data)).decode()
    without_data = {k: v for k, v in ev.items() if k != "data"}
    assert check(ev)
    assert check({**without_data, "data_base64": encoded})  # the CloudEvents SDK's bytes data
    assert not check({**ev, "data_base64": encoded})  # both
    assert not check(without_data)  # neither
    for name in ("partitionkey", "traceparent", "tracestate", "dataschema", "subject"):
        assert check({**ev, name: "x" * 256}) and check({**ev, name: 7}) and check({**ev, name: True}), name
        assert not check({**ev, name: "x" * 257}) and not check({**ev, name: {"a": 1}}), name
    for name in ("bsn", "patientname", "Patient_Name", "comment"):
        assert not check({**ev, name: "x"}), name
    assert check({**ev, "id": "x" * 128}) and not check({**ev, "id": "x" * 129})
    assert not check({**ev, "source": "/partners/" + "p" * 71})
    # Spoedstroom's own ids (key@as_of#digest) are not bound by the partners' 128 characters
    assert check({**ev, "source": "/spoedstroom/haaglanden", "id": "location:" + "l" * 150})
    for t in ("2016-12-31T23:59:60Z", "2026-11-22T13:05:00.1234567891+01:00"):
        assert check({**ev, "time": t}), t
