"""A table of bad inputs, each mapped to the reason code it must be dead-lettered with."""

from __future__ import annotations

from typing import Any

import pytest
from topics_examples import EXAMPLES, T0

from topics.codec import dumps
from topics.envelope import binary_headers, partner_event
from topics.event import Reason, Rejected
from topics.validation import Validator, is_bsn


def ev(type_name: str = "seh.arrived", partner: str | None = None, **data: Any) -> dict[str, Any]:
    p, d = EXAMPLES[type_name]
    return partner_event(type_name, partner or p, "ev-1", T0, {**d, **data})


def without(obj: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in keys}


def data_without(type_name: str, *keys: str) -> dict[str, Any]:
    e = ev(type_name)
    e["data"] = without(e["data"], *keys)
    return e


B = dumps
# (case id, value bytes or None, topic, wall_now_ms, expected reason)
CASES: list[tuple[str, bytes | None, str | None, int | None, Reason]] = [
    ("tombstone", None, None, None, Reason.TOMBSTONE),
    ("too large", B({**ev(), "pad": "x" * 70_000}), None, None, Reason.TOO_LARGE),
    ("not json", b"{not json", None, None, Reason.INVALID_JSON),
    ("bad utf-8", b'{"id": "\xff\xfe"}', None, None, Reason.INVALID_JSON),
    ("empty value", b"", None, None, Reason.INVALID_JSON),
    ("json array", b"[1, 2]", None, None, Reason.NOT_CLOUDEVENT),
    ("json string", b'"hello"', None, None, Reason.NOT_CLOUDEVENT),
    ("no specversion", B(without(ev(), "specversion")), None, None, Reason.NOT_CLOUDEVENT),
    ("specversion 0.3", B({**ev(), "specversion": "0.3"}), None, None, Reason.NOT_CLOUDEVENT),
    ("specversion number", B({**ev(), "specversion": 1.0}), None, None, Reason.NOT_CLOUDEVENT),
    ("no id", B(without(ev(), "id")), None, None, Reason.NOT_CLOUDEVENT),
    ("empty id", B({**ev(), "id": ""}), None, None, Reason.NOT_CLOUDEVENT),
    ("event id number", B({**ev(), "id": 17}), None, None, Reason.NOT_CLOUDEVENT),
    ("no source", B(without(ev(), "source")), None, None, Reason.NOT_CLOUDEVENT),
    ("source not partners", B({**ev(), "source": "/spoedstroom/haaglanden"}), None, None, Reason.NOT_CLOUDEVENT),
    ("source nested", B({**ev(), "source": "/partners/rdgg/seh"}), None, None, Reason.NOT_CLOUDEVENT),
    ("source empty partner", B({**ev(), "source": "/partners/"}), None, None, Reason.NOT_CLOUDEVENT),
    ("no type", B(without(ev(), "type")), None, None, Reason.NOT_CLOUDEVENT),
    ("no time", B(without(ev(), "time")), None, None, Reason.NOT_CLOUDEVENT),
    ("time without offset", B({**ev(), "time": "2026-11-22T13:05:00"}), None, None, Reason.NOT_CLOUDEVENT),
    ("time impossible date", B({**ev(), "time": "2026-02-30T13:05:00Z"}), None, None, Reason.NOT_CLOUDEVENT),
    ("time epoch number", B({**ev(), "time": T0}), None, None, Reason.NOT_CLOUDEVENT),
    ("datacontenttype xml", B({**ev(), "datacontenttype": "application/xml"}), None, None, Reason.NOT_CLOUDEVENT),
    ("no data", B(without(ev(), "data")), None, None, Reason.NOT_CLOUDEVENT),
    ("data is a list", B({**ev(), "data": [1]}), None, None, Reason.NOT_CLOUDEVENT),
    ("data_base64 not json", B({**without(ev(), "data"), "data_base64": "bm90IGpzb24="}), None, None, Reason.NOT_CLOUDEVENT),
    ("data_base64 a list", B({**without(ev(), "data"), "data_base64": "WzFd"}), None, None, Reason.NOT_CLOUDEVENT),
    ("data_base64 and data", B({**ev(), "data_base64": "e30="}), None, None, Reason.NOT_CLOUDEVENT),
    ("extension a list", B({**ev(), "traceparent": [5]}), None, None, Reason.NOT_CLOUDEVENT),
    ("extension a float", B({**ev(), "partitionkey": 1.5}), None, None, Reason.NOT_CLOUDEVENT),
    ("extension integer above 32 bits", B({**ev(), "subject": 2**40}), None, None, Reason.NOT_CLOUDEVENT),
    ("extension bad name", B({**ev(), "Trace-Parent": "x"}), None, None, Reason.UNKNOWN_ATTRIBUTE),
    ("extension bsn", B({**ev(), "bsn": "123456782"}), None, None, Reason.UNKNOWN_ATTRIBUTE),
    ("extension patientname", B({**ev(), "patientname": "Jan Jansen"}), None, None, Reason.UNKNOWN_ATTRIBUTE),
    ("binary extension bsn", None, None, None, Reason.UNKNOWN_ATTRIBUTE),
    ("event id 129 chars", B({**ev(), "id": "e" * 129}), None, None, Reason.TOO_LARGE),
    ("event id 60000 chars", B({**ev(), "id": "e" * 60_000}), None, None, Reason.TOO_LARGE),
    ("source 81 chars", B({**ev(), "source": "/partners/" + "p" * 71}), None, None, Reason.TOO_LARGE),
    ("extension 257 chars", B({**ev(), "tracestate": "t" * 257}), None, None, Reason.TOO_LARGE),
    ("time 65 chars", B({**ev(), "time": "2026-11-22T13:05:00." + "1" * 44 + "Z"}), None, None, Reason.TOO_LARGE),
    # passed on as sent in the seh_stop alert: a time of 60,000 digits reached it whole
    ("expected_until 60000 digits", B(ev("seh.status_changed", status="stop",
                                         expected_until="2026-11-22T18:00:00." + "1" * 60_000 + "Z")),
     None, None, Reason.TOO_LARGE),
    ("time year 10000 in UTC", B({**ev(), "time": "9999-12-31T23:59:59-23:59"}), None, None, Reason.NOT_CLOUDEVENT),
    ("time before year 1 in UTC", B({**ev(), "time": "0001-01-01T00:30:00+01:00"}), None, None, Reason.NOT_CLOUDEVENT),
    ("unknown type", B({**ev(), "type": "nl.acutezorg.seh.exploded.v1"}), None, None, Reason.UNKNOWN_TYPE),
    ("v2 type", B({**ev(), "type": "nl.acutezorg.seh.arrived.v2"}), None, None, Reason.UNKNOWN_TYPE),
    ("emitted type as input", B({**ev(), "type": "nl.acutezorg.alert.raised.v1"}), None, None, Reason.UNKNOWN_TYPE),
    ("wrong topic", B(ev()), "acute.calls", None, Reason.WRONG_TOPIC),
    ("discharge on admissions", B(ev("seh.departed")), "acute.admissions", None, Reason.WRONG_TOPIC),
    ("unknown partner", B(ev(partner="umcg")), None, None, Reason.UNKNOWN_PARTNER),
    ("vvt sends dispatch", B(ev("dispatch.on_scene", partner="wzh")), None, None, Reason.WRONG_PARTNER_KIND),
    ("hospital sends call", B(ev("call.triaged", partner="hmc")), None, None, Reason.WRONG_PARTNER_KIND),
    ("ambulance sends seh", B(ev("seh.triaged", partner="rav-haaglanden")), None, None, Reason.WRONG_PARTNER_KIND),
    ("missing required field", B(data_without("seh.arrived", "arrival_mode")), None, None, Reason.SCHEMA),
    ("extra field (privacy)", B(ev(naam="Jan Jansen")), None, None, Reason.SCHEMA),
    ("bad enum", B(ev(arrival_mode="helicopter")), None, None, Reason.SCHEMA),
    ("id with space", B(ev(encounter_id="enc 1")), None, None, Reason.SCHEMA),
    ("id too long", B(ev(encounter_id="e" * 65)), None, None, Reason.SCHEMA),
    ("id trailing newline", B(ev(encounter_id="enc-1\n")), None, None, Reason.SCHEMA),
    ("id number", B(ev(encounter_id=12)), None, None, Reason.SCHEMA),
    ("urgency not NTS", B(ev("call.triaged", urgency="A1")), None, None, Reason.SCHEMA),
    ("ride urgency U1", B(ev("dispatch.assigned", urgency="U1")), None, None, Reason.SCHEMA),
    ("call_received_at no offset", B(ev("dispatch.assigned", call_received_at="2026-11-22T13:00:00")), None, None, Reason.SCHEMA),
    ("eta impossible", B(ev("dispatch.transporting", eta="2026-11-22T25:00:00Z")), None, None, Reason.SCHEMA),
    ("staffed_beds negative", B(ev("capacity.reported", staffed_beds=-1)), None, None, Reason.SCHEMA),
    ("staffed_beds float", B(ev("capacity.reported", staffed_beds=3.5)), None, None, Reason.SCHEMA),
    ("staffed_beds string", B(ev("capacity.reported", staffed_beds="12")), None, None, Reason.SCHEMA),
    ("staffed_beds 1e300", B(ev("capacity.reported", staffed_beds=1e300)), None, None, Reason.SCHEMA),
    ("staffed_beds 2**64-1", B(ev("capacity.reported", staffed_beds=18446744073709551615)), None, None, Reason.SCHEMA),
    ("staffed_beds 12.0", B(ev("capacity.reported", staffed_beds=12.0)), None, None, Reason.SCHEMA),
    ("staffed_beds a billion", B(ev("capacity.reported", staffed_beds=1_000_000_000)), None, None, Reason.SCHEMA),
    ("SEH with 301 spaces", B(ev("capacity.reported", partner="hmc", location="hmc-westeinde-seh", staffed_beds=301)),
     None, None, Reason.IMPLAUSIBLE),
    ("call received in year 1", B(ev("dispatch.assigned", call_received_at="0001-01-01T00:00:00Z")), None, None, Reason.IMPLAUSIBLE),
    ("call received 25 h before", B(ev("dispatch.assigned", call_received_at="2026-11-21T12:00:00Z")), None, None, Reason.IMPLAUSIBLE),
    ("call received 6 min after", B(ev("dispatch.assigned", call_received_at="2026-11-22T13:11:00Z")), None, None, Reason.IMPLAUSIBLE),
    ("eta 2 h before", B(ev("dispatch.transporting", eta="2026-11-22T11:05:00Z")), None, None, Reason.IMPLAUSIBLE),
    ("stop until year 9999", B(ev("seh.status_changed", expected_until="9999-12-31T23:59:59Z")), None, None, Reason.IMPLAUSIBLE),
    ("eta 13 h ahead", B(ev("dispatch.transporting", eta="2026-11-23T02:06:00Z")), None, None, Reason.IMPLAUSIBLE),
    ("status reason free text", B(ev("seh.status_changed", status="stop", reason="Jan Jansen 01-02-1950")), None, None, Reason.SCHEMA),
    ("acute not boolean", B(ev("ward.admitted", acute="yes")), None, None, Reason.SCHEMA),
    ("cancelled_type unknown", B(ev("encounter.cancelled", cancelled_type="seh.triaged")), None, None, Reason.SCHEMA),
    ("status closed", B(ev("seh.status_changed", status="closed")), None, None, Reason.SCHEMA),
    ("encounter id BSN", B(ev(encounter_id="111222333")), None, None, Reason.POSSIBLE_BSN),
    ("call id BSN", B(ev("call.triaged", call_id="111222333")), None, None, Reason.POSSIBLE_BSN),
    ("ride id BSN", B(ev("dispatch.cleared", ride_id="123456782")), None, None, Reason.POSSIBLE_BSN),
    ("event id BSN", B({**ev(), "id": "111222333"}), None, None, Reason.POSSIBLE_BSN),
    ("event id BSN with prefix", B({**ev(), "id": "NL123456782"}), None, None, Reason.POSSIBLE_BSN),
    ("encounter id BSN inside", B(ev(encounter_id="enc-111222333-a")), None, None, Reason.POSSIBLE_BSN),
    ("ride id BSN after letters", B(ev("dispatch.cleared", ride_id="rit123456782")), None, None, Reason.POSSIBLE_BSN),
    ("unknown location", B(ev(location="hmc-nowhere-seh")), None, None, Reason.UNKNOWN_LOCATION),
    ("unknown destination", B(ev("dispatch.transporting", destination="lumc-seh")), None, None, Reason.UNKNOWN_LOCATION),
    ("foreign SEH arrival", B(ev(location="hmc-westeinde-seh")), None, None, Reason.FOREIGN_LOCATION),
    ("foreign ward admission", B(ev("ward.admitted", location="haga-leyweg-ic")), None, None, Reason.FOREIGN_LOCATION),
    ("foreign capacity", B(ev("capacity.reported", location="florence-elv")), None, None, Reason.FOREIGN_LOCATION),
    ("foreign SEH stop", B(ev("seh.status_changed", location="hmc-westeinde-seh")), None, None, Reason.FOREIGN_LOCATION),
    ("arrival at a ward", B(ev(location="rdgg-delft-interne")), None, None, Reason.WRONG_LOCATION_KIND),
    ("admission at an SEH", B(ev("ward.admitted", location="rdgg-delft-seh")), None, None, Reason.WRONG_LOCATION_KIND),
    ("transfer to an SEH", B(ev("ward.transferred", location="rdgg-delft-seh")), None, None, Reason.WRONG_LOCATION_KIND),
    ("stop of a ward", B(ev("seh.status_changed", partner="rdgg", location="rdgg-delft-ic")), None, None, Reason.WRONG_LOCATION_KIND),
    ("ambulance to a ward", B(ev("dispatch.transporting", destination="hmc-westeinde-ic")), None, None, Reason.WRONG_LOCATION_KIND),
    ("ambulance at an ELV", B(ev("dispatch.at_hospital", location="wzh-elv")), None, None, Reason.WRONG_LOCATION_KIND),
    ("referral to a VVT", B(ev("call.completed", destination="wzh-vvt")), None, None, Reason.WRONG_LOCATION_KIND),
    ("6 minutes ahead", B(ev()), None, T0 - 360_000, Reason.FUTURE_TIME),
]


def test_enough_cases() -> None:
    assert len({c[0] for c in CASES}) == len(CASES) >= 30
    # decided by the processors, against the region's state (tests/processors)
    by_state = {Reason.TOO_OLD, Reason.CONFLICT, Reason.PROCESSING_ERROR}
    # decided by the reader, before the validator sees a value (tests/reliability/test_bad_input.py)
    by_reader = {Reason.UNREADABLE_RECORD}
    assert {c[4] for c in CASES} == set(Reason) - by_state - by_reader


@pytest.mark.parametrize(("name", "value", "topic", "wall", "reason"), CASES, ids=[c[0] for c in CASES])
def test_rejected(validator: Validator, name: str, value: bytes | None, topic: str | None, wall: int | None,
                  reason: Reason) -> None:
    headers = None
    if name == "binary extension bsn":  # binary mode: every ce_ header is an attribute
        e = ev()
        value, headers = dumps(e["data"]), [*binary_headers(e), ("ce_bsn", b"123456782")]
    with pytest.raises(Rejected) as info:
        validator.decode(value, headers, topic=topic, wall_now_ms=wall)
    assert info.value.reason == reason, info.value.detail
    assert info.value.detail


def test_schema_detail_names_the_field(validator: Validator) -> None:
    with pytest.raises(Rejected) as info:
        validator.decode(dumps(ev(arrival_mode="helicopter")))
    assert "arrival_mode" in info.value.detail


def test_bsn_detail_does_not_echo_the_number(validator: Validator) -> None:
    with pytest.raises(Rejected) as info:
        validator.decode(dumps(ev(encounter_id="111222333")))
    assert "111222333" not in info.value.detail and "encounter_id" in info.value.detail


def test_a_rejection_detail_cuts_a_header_name_short(validator: Validator) -> None:
    # the name of a header is the partner's text: a detail names it, but never whole
    name = b"ce_" + "Jan Jansen, geboren 01-02-1950 ".encode() * 2000
    with pytest.raises(Rejected) as info:
        validator.decode(b"{}", [(name, b"\xff")])
    assert info.value.reason == Reason.NOT_CLOUDEVENT and len(info.value.detail) < 80


def test_allowed_edge_cases(validator: Validator) -> None:
    # 5 minutes ahead is still fine; no wall clock: no future check at all
    assert validator.decode(dumps(ev()), wall_now_ms=T0 - 300_000).time == T0
    assert validator.decode(dumps(ev()), wall_now_ms=None).time == T0
    # ambulance to another hospital's SEH, GGZ referring to any SEH: allowed
    assert validator.decode(dumps(ev("dispatch.at_hospital", location="hmc-antoniushove-seh"))).partner == "rav-haaglanden"
    assert validator.decode(dumps(ev("call.completed", partner="parnassia", destination="hmc-westeinde-seh")))
    # string extension attributes and datacontenttype with charset are fine
    assert validator.decode(dumps({**ev(), "traceparent": "00-ab-cd-01", "datacontenttype": "application/json; charset=utf-8"}))
    # CloudEvents 1.0 allows integer and boolean extension values
    assert validator.decode(dumps({**ev(), "partitionkey": 7, "subject": "x", "tracestate": True}))
    # data_base64 holding a JSON object (what the CloudEvents SDK sends for bytes data)
    import base64
    e = ev()
    b64 = {**without(e, "data"), "data_base64": base64.b64encode(dumps(e["data"])).decode()}
    assert validator.decode(dumps(b64)).data == e["data"]
    # a leap second and 12 fractional digits are valid RFC 3339
    assert validator.decode(dumps({**ev(), "time": "2016-12-31T23:59:60Z"})).time == 1483228799999
    assert validator.decode(dumps({**ev(), "time": "2026-11-22T13:05:00.123456789012Z"})).time == T0 + 123
    # the longest time accepted: 64 characters
    assert validator.decode(dumps({**ev(), "time": "2026-11-22T13:05:00." + "1" * 43 + "Z"})).time == T0 + 111
    # the widest allowed times around an event
    assert validator.decode(dumps(ev("dispatch.assigned", call_received_at="2026-11-21T13:05:00Z")))
    assert validator.decode(dumps(ev("dispatch.transporting", eta="2026-11-23T01:05:00Z")))
    # an id with a 9-digit run failing the eleven-test, or a 10-digit run, is fine
    assert validator.decode(dumps({**ev(), "id": "NL123456789"}))
    assert validator.decode(dumps({**ev(), "id": "evt-1732873200000"}))
    # the largest plausible SEH
    assert validator.decode(dumps(ev("capacity.reported", partner="hmc", location="hmc-westeinde-seh", staffed_beds=300)))
    # 9 digits failing the eleven-test is a valid pseudonymous id; so is 000000000
    assert validator.decode(dumps(ev(encounter_id="123456789"))).data["encounter_id"] == "123456789"
    assert validator.decode(dumps(ev(encounter_id="000000000")))
    # a VVT partner reports capacity of its own place
    assert validator.decode(dumps(ev("capacity.reported", partner="florence", location="florence-grz"))).type == "capacity.reported"
    # a value given as str (an NDJSON line) is accepted too
    assert validator.decode(dumps(ev()).decode()).type == "seh.arrived"


def test_too_large_limit_is_configurable(registry: Any) -> None:
    small = Validator(registry, max_bytes=100)
    with pytest.raises(Rejected) as info:
        small.decode(dumps(ev()))
    assert info.value.reason == Reason.TOO_LARGE


@pytest.mark.parametrize(
    ("drop", "reason"),
    [("ce_id", Reason.NOT_CLOUDEVENT), ("ce_time", Reason.NOT_CLOUDEVENT), ("ce_source", Reason.NOT_CLOUDEVENT)],
)
def test_binary_mode_missing_header(validator: Validator, drop: str, reason: Reason) -> None:
    e = ev()
    headers = [h for h in binary_headers(e) if h[0] != drop]
    with pytest.raises(Rejected) as info:
        validator.decode(dumps(e["data"]), headers)
    assert info.value.reason == reason and drop in info.value.detail


def test_binary_mode_bad_content_type_and_data(validator: Validator) -> None:
    e = ev()
    headers = [h for h in binary_headers(e) if h[0] != "content-type"] + [("content-type", b"text/plain")]
    with pytest.raises(Rejected) as info:
        validator.decode(dumps(e["data"]), headers)
    assert info.value.reason == Reason.NOT_CLOUDEVENT
    with pytest.raises(Rejected) as info:
        validator.decode(b"[1]", binary_headers(e))
    assert info.value.reason == Reason.NOT_CLOUDEVENT
    with pytest.raises(Rejected) as info:
        validator.decode(dumps({**e["data"], "naam": "x"}), binary_headers(e))
    assert info.value.reason == Reason.SCHEMA


def test_bsn_eleven_test() -> None:
    # 9*1+8*1+7*1+6*2+5*2+4*2+3*3+2*3-1*3 = 66 = 6*11
    assert is_bsn("111222333")
    assert is_bsn("123456782")  # 9+16+21+24+25+24+21+16-2 = 154 = 14*11
    assert not is_bsn("123456789")  # 161, not divisible by 11
    assert not is_bsn("000000000")  # sum 0
    assert not is_bsn("11122233")  # 8 digits
    assert not is_bsn("1112223333")  # 10 digits
    assert not is_bsn("11122233a")
    assert not is_bsn("١١١٢٢٢٣٣٣")  # non-ASCII digits


# Free text a partner could put anywhere: a name and a BSN.
PLANTED = "Jan Jansen 999990019"


def planted_cases() -> list[tuple[str, dict[str, Any]]]:
    e = ev()
    return [
        ("specversion", {**e, "specversion": PLANTED}),
        ("source", {**e, "source": f"/partners/{PLANTED}"}),
        ("source shape", {**e, "source": PLANTED}),
        ("type", {**e, "type": PLANTED}),
        ("time", {**e, "time": PLANTED}),
        ("datacontenttype", {**e, "datacontenttype": PLANTED}),
        ("attribute name", {**e, PLANTED: "x"}),
        ("data key", {**e, "data": {**e["data"], PLANTED: 1}}),
        ("location", ev(location=PLANTED)),
        ("location with a BSN only", ev(location="loc-999990019")),
        ("arrival mode", ev(arrival_mode=PLANTED)),
        ("encounter id", ev(encounter_id=PLANTED)),
        ("time field", ev("dispatch.transporting", eta=PLANTED)),
    ]


@pytest.mark.parametrize("case,envelope", planted_cases(), ids=[c for c, _ in planted_cases()])
def test_a_detail_never_quotes_free_text(validator: Validator, case: str, envelope: dict[str, Any]) -> None:
    """The detail goes into the dead letter's headers and `validate`'s answers: it quotes
    a value only when it is id-shaped and holds no BSN (the dead letter's value keeps the
    record as it came)."""
    with pytest.raises(Rejected) as info:
        validator.check(envelope)
    assert "Jansen" not in info.value.detail and "999990019" not in info.value.detail, info.value.detail
