"""The FHIR R4 mapping (adapters/fhir.py): status, class and location cases, ids that
make a repeated or extended version a duplicate, refusals, and the dead-letter copy."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.fhir import map_encounter, map_measure_report, map_resource, redact
from adapters.outcome import Mapped, Refused
from adapters.pseudonym import encounter_id
from tests.adapters.messages import KEY, PATIENT_FIELDS, encounter, patient
from tests.support import REGISTRY
from topics.registry import load_registry
from topics.validation import Validator

REG = load_registry(REGISTRY)
T0, T1, T2, T3 = ("2026-11-22T09:00:00+01:00", "2026-11-22T11:00:00+01:00",
                  "2026-11-23T10:00:00+01:00", "2026-11-25T12:00:00+01:00")
SEH, WARD, WARD2 = "Location/hmc-westeinde-seh", "4 OOST", "Location/hmc-westeinde-chirurgie"


def events(res: dict[str, Any], partner: str = "hmc") -> list[tuple[str, dict[str, Any]]]:
    outcome = map_encounter(res, REG, KEY, partner)
    assert isinstance(outcome, Mapped), outcome
    for event in outcome.events:
        Validator(REG).check(event)
    return [(e["type"].removeprefix("nl.acutezorg.").removesuffix(".v1"), e["data"]) for e in outcome.events]


def kinds(res: dict[str, Any]) -> list[str]:
    return [k for k, _ in events(res)]


def test_an_seh_visit_arrived_then_finished() -> None:
    res = encounter("in-progress", locations=[(SEH, T0, None)],
                    hospitalization={"admitSource": {"coding": [{"code": "gp"}]}})
    enc = encounter_id(KEY, "hmc", "V20261122001")
    assert events(res) == [("seh.arrived", {"encounter_id": enc, "location": "hmc-westeinde-seh",
                                            "arrival_mode": "gp_referral"})]
    res["status"], res["period"]["end"] = "finished", T1
    res["hospitalization"]["dischargeDisposition"] = {"coding": [{"code": "exp"}]}
    assert events(res)[1] == ("seh.departed", {"encounter_id": enc, "disposition": "deceased"})


@pytest.mark.parametrize(("code", "mode"), [("mp", "specialist_referral"), ("emd", "other"), ("xyz", "other")])
def test_admit_source(code: str, mode: str) -> None:
    res = encounter(hospitalization={"admitSource": {"coding": [{"code": code}]}})
    assert events(res)[0][1]["arrival_mode"] == mode


def test_the_emergency_example_seh_to_ward_to_another_ward_and_home() -> None:
    res = encounter("finished", cls="IMP", locations=[(SEH, T0, T1), (WARD, T1, T2), (WARD2, T2, T3)],
                    hospitalization={"dischargeDisposition": {"coding": [{"code": "rehab"}]}})
    res["period"]["end"] = T3
    got = events(res)
    assert [k for k, _ in got] == ["seh.arrived", "ward.admitted", "ward.transferred", "ward.discharged"]
    assert got[1][1]["acute"] is True and got[1][1]["location"] == "hmc-westeinde-interne"
    assert got[2][1]["location"] == "hmc-westeinde-chirurgie"
    assert got[3][1]["destination"] == "grz"


@pytest.mark.parametrize(("extra", "acute"), [
    ({}, False),
    ({"priority": {"coding": [{"code": "EM"}]}}, True),
    ({"classHistory": [{"class": {"code": "EMER"}, "period": {"start": T0}}]}, True),
])
def test_a_direct_ward_admission_is_acute_when_urgent_or_via_emer(extra: dict[str, Any], acute: bool) -> None:
    res = encounter(cls="IMP", locations=[(WARD, T0, None)], **extra)
    assert events(res) == [("ward.admitted", {"encounter_id": encounter_id(KEY, "hmc", "V20261122001"),
                                              "location": "hmc-westeinde-interne", "acute": acute})]


def test_locations_are_ordered_by_period_and_planned_ones_skipped() -> None:
    res = encounter(cls="IMP", locations=[(WARD2, T2, None), (SEH, T0, T1), (WARD, T1, T2)])
    res["location"].append({"location": {"identifier": {"value": "IC"}}, "status": "planned", "period": {"start": T3}})
    assert kinds(res) == ["seh.arrived", "ward.admitted", "ward.transferred"]


def test_the_same_ward_twice_is_no_transfer() -> None:
    assert kinds(encounter(cls="IMP", locations=[(WARD, T0, T1), ("INT", T1, None)])) == ["ward.admitted"]


@pytest.mark.parametrize(("status", "first", "cancelled"), [
    ("entered-in-error", SEH, "seh.arrived"),
    ("cancelled", SEH, "seh.arrived"),
    ("entered-in-error", WARD, "ward.admitted"),
])
def test_cancelled_and_entered_in_error(status: str, first: str, cancelled: str) -> None:
    got = events(encounter(status, locations=[(first, T0, None)]))
    assert got[-1][0] == "encounter.cancelled" and got[-1][1]["cancelled_type"] == cancelled


def test_a_version_posted_twice_or_extended_repeats_the_same_ids() -> None:
    v1 = encounter("in-progress", cls="IMP", locations=[(SEH, T0, None)])
    v2 = encounter("in-progress", cls="IMP", locations=[(SEH, T0, T1), (WARD, T1, None)])
    v3 = encounter("finished", cls="IMP", locations=[(SEH, "2026-11-22T09:01:00+01:00", T1), (WARD, T1, T2)])
    v3["period"]["end"] = T2

    def ids(res: dict[str, Any]) -> list[str]:
        outcome = map_encounter(res, REG, KEY, "hmc")
        assert isinstance(outcome, Mapped)
        return [e["id"] for e in outcome.events]
    assert ids(v1) == ids(v1)
    assert ids(v2)[:1] == ids(v1)
    assert ids(v3)[:2] == ids(v2)  # the arrival re-timed by a minute: still the same transition


def test_the_visit_number_is_the_identifier_else_the_id() -> None:
    res = encounter(visit=None)
    res["id"] = "enc-77"
    assert events(res)[0][1]["encounter_id"] == encounter_id(KEY, "hmc", "enc-77")


@pytest.mark.parametrize(("res", "reason", "parseable"), [
    (encounter(visit=None), "missing_visit_number", True),
    (encounter(locations=[("SEH-OUD", T0, None)]), "unmapped_location", True),
    (encounter(locations=[]), "unmapped_location", True),
    (encounter(locations=[("Location/haga-leyweg-seh", T0, None)]), "foreign_location", True),
    (encounter(status="finished"), "invalid_time", True),
    (encounter(status="bogus"), "unparseable", False),
    ({"resourceType": "Encounter", "status": "arrived"}, "unparseable", False),  # no class
    (encounter(cls="IMP", locations=[(SEH, T0, None)], period={"start": "not a time"}), "unparseable", False),
])
def test_refusals(res: dict[str, Any], reason: str, parseable: bool) -> None:
    outcome = map_encounter(res, REG, KEY, "hmc")
    assert isinstance(outcome, Refused) and (outcome.reason, outcome.parseable) == (reason, parseable), outcome
    for value in PATIENT_FIELDS:
        assert value not in outcome.detail


def test_measure_report_prefers_icu_beds_for_an_ic() -> None:
    report = {"resourceType": "MeasureReport", "status": "complete", "type": "summary", "measure": "http://x/M",
              "subject": {"reference": "Location/hmc-westeinde-ic"}, "date": T0,
              "period": {"start": T0, "end": T0},
              "group": [{"population": [{"code": {"coding": [{"code": "numbeds"}]}, "count": 300},
                                        {"code": {"coding": [{"code": "numICUBeds"}]}, "count": 22}]}]}
    outcome = map_measure_report(report, REG, KEY, "hmc")
    assert isinstance(outcome, Mapped)
    assert outcome.events[0]["data"] == {"location": "hmc-westeinde-ic", "staffed_beds": 22}
    refused = map_measure_report({**report, "group": []}, REG, KEY, "hmc")
    assert isinstance(refused, Refused) and refused.reason == "unsupported"


def test_bundles_skip_other_resources() -> None:
    bundle = {"resourceType": "Bundle", "type": "transaction",
              "entry": [{"resource": patient()}, {"resource": encounter()}]}
    outcomes = map_resource(bundle, REG, KEY, "hmc")
    assert [type(o) for o in outcomes] == [Mapped]
    assert isinstance(map_resource({**bundle, "type": "searchset"}, REG, KEY, "hmc")[0], Refused)


def test_redact_drops_patient_data() -> None:
    res = encounter("finished", locations=[(SEH, T0, T1)], contained=[patient()],
                    participant=[{"individual": {"display": "Dr. Smit"}}])
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [{"resource": patient()}, {"resource": res}]}
    text = str(redact(bundle)) + str(redact(res)) + str(redact(patient()))
    for value in PATIENT_FIELDS + ("V20261122001", "Smit", "Patient/p1"):
        assert value not in text, value
    assert "hmc-westeinde-seh" in text and "finished" in text
