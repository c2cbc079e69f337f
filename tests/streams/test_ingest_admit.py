"""`streams.ingest.admit`: what the reader does with one input record, with the real
validator and router. Bad input is refused with its reason; an unexpected error met by a
record's content is refused as `processing_error` and never stops the reader (before, it
ended the worker with exit 70, and every successor on the record too)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiokafka.structs import ConsumerRecord

from processors.nation import NationRouter
from streams.ingest import admit
from tests.support import REGISTRY
from topics.event import Event, Reason, Rejected
from topics.nation import load_nation
from topics.validation import Validator

ARRIVED = {"specversion": "1.0", "id": "a-1", "source": "/partners/hmc", "type": "nl.acutezorg.seh.arrived.v1",
           "time": "2026-11-22T08:00:00Z", "datacontenttype": "application/json",
           "data": {"encounter_id": "e-1", "location": "hmc-westeinde-seh", "arrival_mode": "self_referral"}}


class HeadersThatBreak:
    """Record headers whose reading raises, as a client bug or a new header type could."""

    def __bool__(self) -> bool:
        return True

    def __iter__(self) -> Any:
        raise RuntimeError("a header the reader cannot walk")


def _record(value: bytes | None, headers: Any = ()) -> ConsumerRecord:
    return ConsumerRecord("acute.admissions", 0, 7, 0, 0, b"hmc", value, None, 3, len(value or b""), headers)


@pytest.fixture(scope="module")
def parts() -> tuple[Any, Any]:
    nation = load_nation(REGISTRY)
    return Validator(nation.combined()).decode, NationRouter(nation).route


def test_a_valid_record_is_its_event_and_its_regions(parts: tuple[Any, Any]) -> None:
    decode, route = parts
    admitted = admit(decode, route, _record(orjson.dumps(ARRIVED)), None)
    assert not isinstance(admitted, Rejected)
    event, regions = admitted
    assert isinstance(event, Event) and event.id == "a-1" and regions == ["haaglanden"]


def test_bad_input_is_refused_with_its_reason(parts: tuple[Any, Any]) -> None:
    decode, route = parts
    admitted = admit(decode, route, _record(b"{not json"), None)
    assert isinstance(admitted, Rejected) and admitted.reason == Reason.INVALID_JSON


def test_an_unexpected_error_is_a_processing_error_named_by_its_type_only(
        parts: tuple[Any, Any], caplog: pytest.LogCaptureFixture) -> None:
    decode, route = parts
    admitted = admit(decode, route, _record(orjson.dumps(ARRIVED), HeadersThatBreak()), None)
    assert isinstance(admitted, Rejected) and admitted.reason == Reason.PROCESSING_ERROR
    assert admitted.detail == "RuntimeError while validating or routing the record"
    assert "cannot walk" not in caplog.text and "RuntimeError" in caplog.text
