"""The demo's ADT feed (simulator/hl7_feed.py) against the gateway's own mapping: a
contract event -> HL7 v2.5 ADT -> `adapters.hl7.map_message` gives back an event of the
same type, location, time and data (the encounter id pseudonymised, as the gateway does)."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.hl7 import map_message, redact
from adapters.outcome import Mapped
from adapters.pseudonym import encounter_id
from simulator.core import generate
from simulator.hl7_feed import (ADMIT_SOURCE, SEH_DISPOSITION, WARD_DESTINATION, AdtFeed, feed_link,
                                pseudonymised, to_adt)
from tests.support import REGISTRY
from topics.codec import parse_time
from topics.envelope import partner_event
from topics.event import short_type
from topics.registry import load_registry
from topics.validation import Validator

KEY = b"feed-test-pseudonym-key-0123456789abcdef"
REG = load_registry(REGISTRY)
LINK = feed_link(REG, "hmc")
SEH, SEH2, WARD, WARD2 = "hmc-westeinde-seh", "hmc-antoniushove-seh", "hmc-westeinde-interne", "hmc-westeinde-ic"
T = parse_time("2026-11-22T08:12:00Z")
VISIT = "Eabc123-42"


def event(type_name: str, **data: Any) -> dict[str, Any]:
    return partner_event(type_name, "hmc", "sim-1", T, {"encounter_id": VISIT, **data})


def round_trip(ev: dict[str, Any], last: str | None) -> dict[str, Any]:
    adt = to_adt(ev, LINK, last, "SIM1")
    assert adt is not None, ev
    outcome = map_message(adt.text, REG, KEY)
    assert isinstance(outcome, Mapped) and len(outcome.events) == 1, outcome
    (back,) = outcome.events
    assert outcome.trigger == adt.trigger
    return back


CASES = (
    [(event("seh.arrived", location=loc, arrival_mode=mode), None)
     for loc in (SEH, SEH2) for mode in (*ADMIT_SOURCE, "other")]
    + [(event("seh.departed", disposition=d), SEH) for d in SEH_DISPOSITION]
    + [(event("ward.admitted", location=WARD, acute=acute), last) for acute in (True, False) for last in (None, SEH)]
    + [(event("ward.transferred", location=WARD2), WARD)]
    + [(event("ward.discharged", destination=d), WARD) for d in WARD_DESTINATION]
    + [(event("encounter.cancelled", cancelled_type="seh.arrived"), SEH),
       (event("encounter.cancelled", cancelled_type="ward.admitted"), WARD),
       (event("encounter.cancelled", cancelled_type="seh.departed"), SEH),
       (event("encounter.cancelled", cancelled_type="ward.discharged"), WARD)]
)


@pytest.mark.parametrize(("ev", "last"), CASES, ids=[f"{c[0]['type'].split('.', 2)[2]}-{i}" for i, c in enumerate(CASES)])
def test_round_trip_gives_the_same_event(ev: dict[str, Any], last: str | None) -> None:
    back = round_trip(ev, last)
    assert back["type"] == ev["type"] and back["time"] == ev["time"] and back["source"] == ev["source"]
    assert back["data"] == {**ev["data"], "encounter_id": encounter_id(KEY, "hmc", VISIT)}


def test_every_message_of_a_visit_has_its_visit_number_and_no_patient_segment_content() -> None:
    arrived = to_adt(event("seh.arrived", location=SEH, arrival_mode="ambulance"), LINK, None, "SIM1")
    departed = to_adt(event("seh.departed", disposition="home"), LINK, SEH, "SIM2")
    assert arrived and departed
    for adt in (arrived, departed):
        pv1 = next(s for s in adt.text.split("\r") if s.startswith("PV1|")).split("|")
        assert pv1[19] == VISIT
        assert "PID|1\r" in adt.text  # an empty patient segment: the simulator has no patients
        assert VISIT not in redact(adt.text)  # the dead-letter copy drops the visit number


def test_what_adt_cannot_carry_is_none_and_goes_pseudonymised() -> None:
    assert to_adt(event("seh.triaged", urgency="U2"), LINK, SEH, "SIM1") is None
    assert to_adt(event("ward.discharge_ready", waiting_for="vvt"), LINK, WARD, "SIM1") is None
    # A follow-up of a visit never seen arriving, or at a location without PV1-3 code.
    assert to_adt(event("seh.departed", disposition="home"), LINK, None, "SIM1") is None
    assert to_adt(event("seh.arrived", location="haga-leyweg-seh", arrival_mode="other"), LINK, None, "SIM1") is None
    ev = event("seh.triaged", urgency="U2")
    assert pseudonymised(ev, KEY, "hmc")["data"] == {"encounter_id": encounter_id(KEY, "hmc", VISIT), "urgency": "U2"}
    assert ev["data"]["encounter_id"] == VISIT  # the input is not changed
    capacity = partner_event("capacity.reported", "hmc", "c-1", T, {"location": SEH, "staffed_beds": 30})
    assert pseudonymised(capacity, KEY, "hmc") == capacity


def test_a_simulated_day_of_hmc_goes_through_the_gateway_mapping_whole() -> None:
    """Every SEH and ward event of HMC in a simulated day has an ADT message whose
    mapping gives it back; the rest, pseudonymised, link to the same encounter ids."""
    feed = AdtFeed(LINK)
    validator = Validator(REG)
    by_hl7: dict[str, int] = {}
    beside: set[str] = set()
    visits_hl7: set[str] = set()
    for _topic, key, ev in generate(REG, start_ms=T, duration_ms=24 * 3_600_000, seed=3):
        if key != "hmc":
            continue
        adt = feed.message(ev)
        name = short_type(ev["type"]) or ""
        if adt is None:
            assert name not in ("seh.arrived", "seh.departed", "ward.admitted", "ward.transferred",
                                "ward.discharged"), ev
            other = pseudonymised(ev, KEY, "hmc")
            validator.check(other)
            beside.add(other["data"].get("encounter_id", ""))
            continue
        outcome = map_message(adt.text, REG, KEY)
        assert isinstance(outcome, Mapped), (outcome, ev["type"])
        if not outcome.events:  # a transfer within one location: no event, as the contract says
            assert name == "ward.transferred" and ev["data"]["location"] == adt.location
            continue
        (back,) = outcome.events
        assert (back["type"], back["time"]) == (ev["type"], ev["time"])
        # ADT has no field for an ambulance ride or a referral call: an arrival's
        # `ride_id` and `call_id` do not survive the feed (the gateway reads none).
        expected = {k: v for k, v in ev["data"].items() if k not in ("ride_id", "call_id")}
        assert back["data"] == {**expected, "encounter_id": encounter_id(KEY, "hmc", ev["data"]["encounter_id"])}
        by_hl7[name] = by_hl7.get(name, 0) + 1
        visits_hl7.add(back["data"]["encounter_id"])
    assert by_hl7.get("seh.arrived", 0) > 50 and by_hl7.get("seh.departed", 0) > 50
    assert by_hl7.get("ward.admitted", 0) > 50 and by_hl7.get("ward.discharged", 0) > 10
    beside.discard("")
    assert beside and beside <= visits_hl7, "a triage or discharge-ready of a visit the ADT feed never sent"
