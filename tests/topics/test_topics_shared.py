"""Sharing the repeated strings of decoded events (topics.event.shared_data / shared_event)."""

from __future__ import annotations

import orjson

from topics.event import shared_data, shared_event


def test_repeated_values_are_shared_and_ids_and_times_are_not() -> None:
    first = orjson.loads(b'{"location": "hmc-seh", "encounter_id": "e-1", "eta": "2027-01-06T10:00:00Z"}')
    second = orjson.loads(b'{"location": "hmc-seh", "encounter_id": "e-1", "eta": "2027-01-06T10:00:00Z"}')
    shared_data(first)
    shared_data(second)
    assert first["location"] is second["location"]
    assert first["encounter_id"] is not second["encounter_id"]  # ids are unique per event
    assert first == second


def test_sharing_never_refuses_a_value() -> None:
    """A malformed item (not from the validator) is judged downstream, where a refusal
    goes to the dead-letter topic; sharing itself raises for nothing."""
    event = shared_event("x", 7, None, ["seh.arrived"], 0, "not an object")  # type: ignore[arg-type]
    assert (event.source, event.partner, event.type, event.data) == (7, None, ["seh.arrived"], "not an object")
