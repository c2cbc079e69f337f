"""Every simulated event passes the contract exactly as the pipeline decodes it."""

from __future__ import annotations

from collections import Counter

from simulator import Incident, Scenario, Surge
from topics.catalogue import INPUT_TYPES, TOPIC_OF_TYPE
from topics.codec import dumps
from topics.envelope import kafka_headers
from topics.validation import Validator, load_schema

from tests.simulator.helpers import HOUR, START, haaglanden, run, small_registry, typed

SCENARIO = Scenario(
    surge=Surge(START + 8 * HOUR, START + 20 * HOUR, 2.0),
    major_incident=Incident(START + 15 * HOUR, 30),
    vvt_shortage=2.0,
)


def test_a_day_of_haaglanden_validates_event_by_event() -> None:
    validator = Validator(haaglanden())
    types: Counter[str] = Counter()
    reasons: set[str] = set()
    for topic, key, ev in run(1.0, 3, SCENARIO):
        event = validator.decode(dumps(ev), kafka_headers(), topic)  # raises Rejected
        assert event.partner == key
        assert TOPIC_OF_TYPE[event.type] == topic
        assert set(ev) == {"specversion", "id", "source", "type", "time", "datacontenttype", "data"}
        types[event.type] += 1
        if event.type == "seh.status_changed" and "reason" in event.data:
            reasons.add(event.data["reason"])
    # SEH stops carry a reason code of the contract, never free text.
    assert reasons and reasons <= set(load_schema("seh.status_changed")["properties"]["reason"]["enum"])
    # A day with surge and incident exercises every input type but the rare ones.
    rare = {"encounter.cancelled", "dispatch.cancelled"}
    assert set(INPUT_TYPES) - rare <= set(types), set(INPUT_TYPES) - set(types)


def test_any_registry_works_small_region_without_ambulance_or_hap() -> None:
    reg = small_registry()
    validator = Validator(reg)
    items = run(2.0, 1, None, None, "small")
    for topic, _key, ev in items:
        validator.decode(dumps(ev), kafka_headers(), topic)
    arrivals = [d for t, _, _, d in typed(items) if t == "seh.arrived"]
    # 60 visits/day for an SEH of 22 spaces; all walk-in modes (no RAV, no HAP).
    assert 95 <= len(arrivals) <= 145
    assert {d["arrival_mode"] for d in arrivals} <= {"gp_referral", "self_referral", "specialist_referral", "other"}
