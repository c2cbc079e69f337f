"""Partner friction (issue 11, item 7): events built by the official CloudEvents Python SDK
(its Kafka binding, structured and binary mode) are accepted as a partner would send them:
integer and boolean extension attributes, bytes data (sent as `data_base64` in structured
mode), times with a timezone. What the SDK lets through that the contract forbids (an
unknown extension such as `bsn`) is refused with its reason."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest
from cloudevents.core.bindings import kafka
from cloudevents.core.v1.event import CloudEvent

from topics.event import Reason, Rejected
from topics.validation import Validator

DATA = {"encounter_id": "sdk-enc-1", "location": "hmc-westeinde-seh", "arrival_mode": "ambulance"}
WHEN = dt.datetime(2026, 11, 22, 14, 5, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1)))


def sdk_event(data: Any = None, **extensions: Any) -> CloudEvent:
    attributes = {"id": "sdk-1", "source": "/partners/hmc", "type": "nl.acutezorg.seh.arrived.v1",
                  "specversion": "1.0", "time": WHEN, "datacontenttype": "application/json", **extensions}
    return CloudEvent(attributes, data if data is not None else DATA)


def decode(validator: Validator, message: kafka.KafkaMessage) -> Any:
    return validator.decode(message.value, list(message.headers.items()), topic="acute.admissions")


@pytest.mark.parametrize("mode", ["structured", "binary"])
def test_sdk_events_with_integer_and_boolean_extensions_are_accepted(validator: Validator, mode: str) -> None:
    event = sdk_event(partitionkey="hmc", subject="seh", tracestate=True)
    event_int = sdk_event(partitionkey=7)
    to_kafka = kafka.to_structured_event if mode == "structured" else kafka.to_binary_event
    for ev in (event, event_int):
        got = decode(validator, to_kafka(ev))
        assert got.data == DATA and got.partner == "hmc" and got.type == "seh.arrived"
        assert got.time == 1_795_352_700_123  # 13:05:00.123Z: the offset applied, the fraction cut to ms


def test_sdk_bytes_data_travels_as_data_base64_and_is_accepted(validator: Validator) -> None:
    message = kafka.to_structured_event(sdk_event(orjson.dumps(DATA)))
    assert b"data_base64" in message.value  # what the SDK sends for bytes data
    assert decode(validator, message).data == DATA


@pytest.mark.parametrize("mode", ["structured", "binary"])
def test_sdk_events_with_a_forbidden_extension_are_refused(validator: Validator, mode: str) -> None:
    to_kafka = kafka.to_structured_event if mode == "structured" else kafka.to_binary_event
    with pytest.raises(Rejected) as info:
        decode(validator, to_kafka(sdk_event(bsn="123456782")))
    assert info.value.reason == Reason.UNKNOWN_ATTRIBUTE
    assert "123456782" not in info.value.detail
