"""Hostile partner messages at the gateway's mappings (adapters/hl7.py, adapters/fhir.py):
none may raise (an exception closed the MLLP connection without an ACK, so the sender
resent it for ever, or answered HTTP 500), blow up in size, or carry what the sender
wrote into a refusal's detail (which goes to the answer, the dead letter and counts),
a trigger label, or a log line. Pure function calls: no broker."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from adapters.fhir import map_encounter, map_measure_report, map_resource
from adapters.hl7 import map_file, map_message, split_messages
from adapters.outcome import Mapped, Refused
from tests.adapters.messages import BSN, KEY, NAME_FAMILY, PATIENT_FIELDS, adt, encounter
from tests.support import REGISTRY
from topics.registry import load_registry

REG = load_registry(REGISTRY)
# What a sender could put where a code belongs: a name and a BSN.
PLANTED = f"{NAME_FAMILY} {BSN}"


def no_planted_text(outcome: Refused | Mapped) -> None:
    shown = f"{getattr(outcome, 'detail', '')} {outcome.trigger} {outcome.partner}"
    assert NAME_FAMILY not in shown and BSN not in shown, shown


# ---------------------------------------------------------------------------- HL7 v2


@pytest.mark.parametrize("where", ["recorded", "occurred", "msh_time"])
@pytest.mark.parametrize("stamp", ["20261122081200+2400", "20261122081200+9999", "00010101000000+0100",
                                   "99991231235959-1000"])
def test_an_hl7_time_out_of_range_is_refused_as_invalid_time(where: str, stamp: str) -> None:
    fields = {"recorded": "", "occurred": "", "msh_time": ""} | {where: stamp}
    outcome = map_message(adt("A04", **fields), REG, KEY)
    assert isinstance(outcome, Refused) and outcome.reason == "invalid_time", outcome


@pytest.mark.parametrize("visit", ["V1\\.brX\\", "V1\\.sp100000000\\", "V1\\Q\\", "V1\\X0G\\", "V1\\H\\x\\N\\",
                                   "V1\\Zabc\\", "V1\\", "\\.in-99999999\\"])
def test_hl7_escape_sequences_are_read_as_written(visit: str, caplog: pytest.LogCaptureFixture) -> None:
    """python-hl7's unescaping raised on `\\.brX\\`, built a 100 MB string from
    `\\.sp100000000\\`, and logged unknown sequences with the raw field."""
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    for text in (adt("A04", visit=visit), adt("A04", location=f"{visit}^^^HMC"), adt("A04", visit=visit, pv1={36: visit})):
        outcome = map_message(text, REG, KEY)
        assert isinstance(outcome, (Mapped, Refused)), outcome
        assert len(repr(outcome)) < 5_000
    assert time.monotonic() - started < 1.0
    assert not [r for r in caplog.records if "V1" in r.getMessage() or "\\" in r.getMessage()]


def test_the_separator_escapes_are_undone_in_a_visit_number() -> None:
    """`\\F\\`, `\\S\\`, `\\T\\`, `\\R\\`, `\\E\\` stand for the separators: the visit number
    `A|B` written escaped is the visit `A|B`, whichever way its separators are written."""
    (escaped,) = map_message(adt("A04", visit="A\\F\\B\\S\\C"), REG, KEY).events
    (other,) = map_message(adt("A04", visit="A\\F\\B\\S\\D"), REG, KEY).events
    assert escaped["data"]["encounter_id"] != other["data"]["encounter_id"]


def test_lines_before_the_first_msh_are_refused_and_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pid = f"PID|1||{BSN}^^^NLMINBIZA^NNNLD||{NAME_FAMILY}^Hendrika||19470312"
    messages = split_messages(pid + "\r" + adt("A04"))
    assert messages[0].startswith("PID") and messages[1].startswith("MSH")
    outcomes = map_file(pid + "\r" + adt("A04"), REG, KEY)
    assert isinstance(outcomes[0], Refused) and isinstance(outcomes[1], Mapped)
    assert not [r for r in caplog.records if BSN in r.getMessage() or NAME_FAMILY in r.getMessage()]


@pytest.mark.parametrize("trigger", [PLANTED, "A04 " + BSN, "X" * 5000, "a04"])
def test_an_odd_trigger_is_named_other(trigger: str) -> None:
    """MSH-9.2 goes into log lines, a metric label and a dead-letter header: only a
    trigger code is taken as it is."""
    text = adt("A04").replace("ADT^A04^ADT_A01", f"ADT^{trigger}^ADT_A01")
    outcome = map_message(text, REG, KEY)
    assert outcome.trigger == ("A04" if trigger == "a04" else "other")
    no_planted_text(outcome)


def test_an_unmapped_point_of_care_is_not_quoted() -> None:
    outcome = map_message(adt("A04", location=f"{PLANTED}^^^HMC"), REG, KEY)
    assert isinstance(outcome, Refused) and outcome.reason == "unmapped_location"
    no_planted_text(outcome)


# ---------------------------------------------------------------------------- FHIR R4


@pytest.mark.parametrize("stamp", ["0001-01-01", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-10:00"])
@pytest.mark.parametrize("where", ["period", "location", "statusHistory"])
def test_a_fhir_time_out_of_range_is_refused_as_invalid_time(stamp: str, where: str) -> None:
    res = encounter()
    if where == "period":
        res["period"]["start"] = stamp
        res["location"][0]["period"].pop("start")
    elif where == "location":
        res["location"][0]["period"]["start"] = stamp
    else:
        res["statusHistory"] = [{"status": "arrived", "period": {"start": stamp}}]
    outcome = map_encounter(res, REG, KEY, "hmc")
    assert isinstance(outcome, Refused) and outcome.reason == "invalid_time", outcome


def test_a_measure_report_dated_out_of_range_is_refused() -> None:
    report = {"resourceType": "MeasureReport", "status": "complete", "type": "summary",
              "measure": "http://example.org/beds", "date": "0001-01-01",
              "period": {"start": "2026-11-22", "end": "2026-11-22"},
              "subject": {"reference": "Location/hmc-westeinde-chirurgie"}}
    outcome = map_measure_report(report, REG, KEY, "hmc")
    assert isinstance(outcome, Refused) and outcome.reason == "invalid_time", outcome


@pytest.mark.parametrize("resource", [
    {"resourceType": "Bundle", "type": "batch", "entry": [{"resource": {"resourceType": 1}}]},
    {"resourceType": "Bundle", "type": "batch", "entry": [{"resource": {"resourceType": PLANTED}}]},
    {"resourceType": "Bundle", "type": PLANTED, "entry": []},
    encounter(contained=[{"resourceType": PLANTED}]),
    encounter(**{PLANTED: 1}),
    encounter(location=[{"location": {"reference": "Location/x", PLANTED: 2}}]),
    encounter(locations=[(f"Location/{PLANTED}", "2026-11-22T08:12:00+01:00", None)]),
    encounter(locations=[(PLANTED, "2026-11-22T08:12:00+01:00", None)]),
    encounter(period={"start": PLANTED}),
    {"resourceType": PLANTED},
])
def test_odd_fhir_resources_are_refused_without_quoting_them(resource: dict[str, Any]) -> None:
    outcomes = map_resource(resource, REG, KEY, "hmc")
    if resource.get("resourceType") == "Encounter":
        outcomes = [map_encounter(resource, REG, KEY, "hmc")]
    assert outcomes
    for outcome in outcomes:
        assert isinstance(outcome, Refused), outcome
        no_planted_text(outcome)
        for field in PATIENT_FIELDS:
            assert field not in outcome.detail


# ---------------------------------------------------------------------------- the dead-letter copies


@pytest.mark.parametrize("text", [
    "\n" + adt("A04", location="X", pv1={7: f"DRSMIT^{NAME_FAMILY}"}).replace("|", "#"),
    adt("A04", location="X", pv1={7: PLANTED}).replace("MSH|^~\\&|", "MSH#^~\\&#", 1),
    adt("A04", location="X") + f"PV1{PLANTED}|1|E|XX\r",
    adt("A04", location=f"SEHX^^^HMC~{PLANTED}", pv1={37: f"HOME^{PLANTED}"}),
    adt("A04", location=f"SEHX^^^^^^^^{PLANTED}", recorded=f"20261122081200^{PLANTED}"),
    adt("A04", location="X") + f"MSH|^~\\&|HIX|{PLANTED}|X\r",
    f"PV1|1|E|{PLANTED}\r",
])
def test_the_hl7_dead_letter_copy_keeps_no_free_text(text: str) -> None:
    """Separators read from the first MSH; segments not written with them, a second
    MSH, and repetitions and components of the kept fields go."""
    from adapters.hl7 import redact

    red = redact(text)
    assert NAME_FAMILY not in red and BSN not in red, red


def test_one_mllp_block_holds_one_message() -> None:
    """A second message in a block was acknowledged with the first and never mapped."""
    outcome = map_message(adt("A04", visit="V1") + adt("A03", visit="V2", control="MSG00002"), REG, KEY)
    assert isinstance(outcome, Refused) and not outcome.parseable and "2 messages" in outcome.detail


@pytest.mark.parametrize("text", [adt("A04", location="^" * 1_000_000), adt("A04", pv1={5: "|" * 1_000_000}),
                                  adt("A04") + "NTE|1\r" * 5_000])
def test_a_message_of_a_million_separators_is_refused_unread(text: str) -> None:
    """python-hl7 took 4-14 s and 450 MB on one, blocking the gateway's event loop."""
    started = time.monotonic()
    outcome = map_message(text, REG, KEY)
    assert isinstance(outcome, Refused) and not outcome.parseable
    assert time.monotonic() - started < 1.0


def test_the_ack_is_one_message_whatever_the_header() -> None:
    from adapters.gateway import ack_for

    ack = ack_for(adt("A04"), "AE", "unmapped_location: a|b^c~d&e\\f#g")
    assert not ack.endswith("\r\r")
    assert ack.count("\r") == 2 and ack.split("\r")[1].count("|") == 3, ack
    long_header = adt("A04").replace("|HIX|", "|" + "H" * 100_000 + "|", 1)
    assert len(ack_for(long_header, "AR")) < 500


@pytest.mark.parametrize("resource", [
    encounter(status={"text": PLANTED}), encounter(status=PLANTED),
    encounter(period={"start": [PLANTED]}), encounter(meta={"versionId": {"x": PLANTED}}),
    encounter(locations=[(f"Location/{PLANTED}", "2026-11-22T08:12:00+01:00", None)]),
    {"resourceType": PLANTED},
])
def test_the_fhir_dead_letter_copy_keeps_no_free_text(resource: dict[str, Any]) -> None:
    """An allow-listed leaf keeps a number, a boolean or code-shaped text only."""
    from adapters.fhir import redact

    red = str(redact(resource))
    assert NAME_FAMILY not in red and BSN not in red, red


def test_deep_or_huge_fhir_resources_are_refused_and_redacted_in_bounds() -> None:
    from adapters.fhir import MAX_BUNDLE_ENTRIES, bundle_entries, redact

    deep: dict[str, Any] = {"resourceType": "Encounter", "period": []}
    inner = deep["period"]
    for _ in range(5_000):
        inner.append([])
        inner = inner[0]
    assert isinstance(map_encounter(deep, REG, KEY, "hmc"), Refused)
    assert redact(deep) == {"resourceType": "Encounter", "period": []}
    nested: dict[str, Any] = {"resourceType": "Bundle", "type": "batch", "entry": []}
    level = nested
    for _ in range(2_000):
        inner_bundle = {"resourceType": "Bundle", "type": "batch", "entry": []}
        level["entry"].append({"resource": inner_bundle})
        level = inner_bundle
    assert redact(nested)["entry"] == [{"resource": {"resourceType": "Bundle"}}]
    huge = {"resourceType": "Bundle", "type": "batch", "entry": [{}] * (MAX_BUNDLE_ENTRIES + 1)}
    refused = bundle_entries(huge)
    assert isinstance(refused, Refused) and refused.reason == "unsupported"
    assert len(redact(huge)["entry"]) == MAX_BUNDLE_ENTRIES


def test_fhir_times_are_read_as_the_contract_reads_them() -> None:
    """A leap second was read as no time at all (and another time of the resource used);
    a year-month alone cannot place an event."""
    leap = encounter(locations=[("Location/hmc-westeinde-seh", "2026-12-31T23:59:60Z", None)])
    (arrived,) = map_encounter(leap, REG, KEY, "hmc").events
    assert arrived["time"] == "2026-12-31T23:59:59.999Z"
    partial = encounter()
    partial["location"][0]["period"]["start"] = "2026-11"
    outcome = map_encounter(partial, REG, KEY, "hmc")
    assert isinstance(outcome, Refused) and outcome.reason == "invalid_time", outcome


def test_a_location_named_two_ways_must_name_one() -> None:
    res = encounter()
    res["location"][0]["location"] = {"reference": "Location/haga-leyweg-seh", "identifier": {"value": "SEH"}}
    outcome = map_encounter(res, REG, KEY, "hmc")
    assert isinstance(outcome, Refused) and outcome.reason == "foreign_location", outcome
    res["location"][0]["location"] = {"reference": "Location/hmc-westeinde-chirurgie", "identifier": {"value": "SEH"}}
    outcome = map_encounter(res, REG, KEY, "hmc")
    assert isinstance(outcome, Refused) and outcome.reason == "unmapped_location", outcome


def test_the_hl7_dead_letter_keeps_the_message_type_as_codes_only() -> None:
    from adapters.hl7 import redact

    red = redact(adt("A04").replace("ADT^A04^ADT_A01", f"ADT^{PLANTED}^ADT_A01"))
    assert NAME_FAMILY not in red and "|ADT^^ADT_A01|" in red, red
    assert "|ADT^A04^ADT_A01|" in redact(adt("A04"))
