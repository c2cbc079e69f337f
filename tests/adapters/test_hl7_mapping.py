"""The HL7 v2 ADT mapping (adapters/hl7.py), row by row of the mapping table, plus the
quirks of real feeds. Pure function calls: no broker."""

from __future__ import annotations

import re
from typing import Any

import pytest

from adapters.hl7 import map_file, map_message, redact, split_messages
from adapters.outcome import Mapped, Refused
from adapters.pseudonym import encounter_id
from tests.adapters.messages import KEY, PATIENT_FIELDS, adt
from tests.support import REGISTRY
from topics.codec import parse_time
from topics.registry import load_registry
from topics.validation import Validator

REG = load_registry(REGISTRY)
SEH, WARD, WARD2 = "SEH^^^HMC", "4 OOST^12^1^HMC", "CHIR&9.8&ISO^3^1^HMC"
ENC = encounter_id(KEY, "hmc", "V20261122001")


def mapped(text: str) -> list[dict[str, Any]]:
    outcome = map_message(text, REG, KEY)
    assert isinstance(outcome, Mapped), outcome
    validator = Validator(REG)
    for event in outcome.events:
        validator.check(event)  # every event passes the contract's validator
    return list(outcome.events)


def one(text: str) -> tuple[str, dict[str, Any]]:
    (event,) = mapped(text)
    return event["type"].removeprefix("nl.acutezorg.").removesuffix(".v1"), event["data"]


def refused(text: str, **kw: Any) -> Refused:
    outcome = map_message(text, REG, KEY, **kw)
    assert isinstance(outcome, Refused), outcome
    return outcome


# ----------------------------------------------------------------------------- table rows

@pytest.mark.parametrize(("trigger", "pv1", "pv2", "expected"), [
    ("A04", {14: "1"}, None, "gp_referral"),
    ("A04", {14: "2"}, None, "specialist_referral"),
    ("A04", {14: "7"}, None, "other"),
    ("A04", {}, None, "other"),
    ("A04", {14: "HAP"}, None, "hap_referral"),
    ("A01", {14: "EV"}, None, "self_referral"),
    ("A01", {14: "1"}, {38: "A"}, "ambulance"),  # PV2-38 mode of arrival: ambulance wins
])
def test_a04_a01_at_an_seh_is_seh_arrived(trigger: str, pv1: dict[int, str], pv2: dict[int, str] | None,
                                          expected: str) -> None:
    kind, data = one(adt(trigger, location=SEH, pv1=pv1, pv2=pv2))
    assert kind == "seh.arrived"
    assert data == {"encounter_id": ENC, "location": "hmc-westeinde-seh", "arrival_mode": expected}


@pytest.mark.parametrize(("trigger", "pv1", "acute"), [
    ("A01", {4: "E"}, True),
    ("A01", {4: "U"}, True),
    ("A01", {4: "A"}, True),
    ("A01", {4: "R"}, False),    # routine: a planned admission
    ("A01", {4: "C"}, False),
    ("A06", {4: "R", 6: SEH}, True),  # came from the SEH
    ("A06", {4: "E"}, True),
])
def test_a01_a06_at_a_ward_is_ward_admitted(trigger: str, pv1: dict[int, str], acute: bool) -> None:
    kind, data = one(adt(trigger, location=WARD, pv1=pv1))
    assert kind == "ward.admitted"
    assert data == {"encounter_id": ENC, "location": "hmc-westeinde-interne", "acute": acute}


def test_the_kind_of_stay_follows_the_location_not_pv1_2() -> None:
    # PV1-2 says inpatient (I), the location is the SEH: an SEH arrival.
    assert one(adt("A01", location=SEH, pv1={2: "I"}))[0] == "seh.arrived"
    assert one(adt("A01", location=WARD, pv1={2: "E"}))[0] == "ward.admitted"


@pytest.mark.parametrize(("trigger", "location"), [("A04", WARD), ("A06", SEH)])
def test_wrong_kind_of_location_is_refused(trigger: str, location: str) -> None:
    assert refused(adt(trigger, location=location)).reason == "wrong_location_kind"


def test_a02_from_the_seh_to_a_ward_is_ward_admitted() -> None:
    kind, data = one(adt("A02", location=WARD, pv1={6: SEH, 4: "R"}))
    assert (kind, data["acute"], data["location"]) == ("ward.admitted", True, "hmc-westeinde-interne")


def test_a02_between_wards_is_ward_transferred() -> None:
    assert one(adt("A02", location=WARD2, pv1={6: WARD})) == (
        "ward.transferred", {"encounter_id": ENC, "location": "hmc-westeinde-chirurgie"})
    # An unknown prior location: still a transfer to the new one.
    assert one(adt("A02", location=WARD2))[0] == "ward.transferred"


def test_a02_to_the_same_location_is_no_event() -> None:
    assert mapped(adt("A02", location="INT^14^2", pv1={6: "4 OOST^12^1"})) == []  # both hmc-westeinde-interne


def test_a02_into_an_seh_is_refused() -> None:
    assert refused(adt("A02", location=SEH, pv1={6: WARD})).reason == "wrong_location_kind"


@pytest.mark.parametrize(("code", "disposition"), [
    ("01", "home"), ("1", "home"), ("09", "admitted"), ("02", "transferred"), ("20", "deceased"),
    ("07", "other"), ("LWBS", "left_without_being_seen"), ("", "other"), ("99", "other"),
])
def test_a03_at_an_seh_is_seh_departed(code: str, disposition: str) -> None:
    assert one(adt("A03", location=SEH, pv1={36: code})) == (
        "seh.departed", {"encounter_id": ENC, "disposition": disposition})


@pytest.mark.parametrize(("pv1", "destination"), [
    ({36: "01"}, "home"), ({36: "03"}, "vvt"), ({36: "62"}, "grz"), ({36: "65"}, "ggz"),
    ({36: "02"}, "other_hospital"), ({36: "20"}, "deceased"), ({}, "other"),
    ({36: "05", 37: "ELV^20261125"}, "elv"),      # PV1-37 is more specific
    ({36: "20", 37: "ELV"}, "deceased"),           # a death always wins
])
def test_a03_at_a_ward_is_ward_discharged(pv1: dict[int, str], destination: str) -> None:
    assert one(adt("A03", location=WARD, pv1=pv1)) == (
        "ward.discharged", {"encounter_id": ENC, "destination": destination})


@pytest.mark.parametrize(("trigger", "location", "cancelled"), [
    ("A11", SEH, "seh.arrived"),
    ("A11", WARD, "ward.admitted"),
    ("A12", WARD, "ward.transferred"),
    ("A12", SEH, "ward.admitted"),  # back in the SEH: the SEH -> ward move is undone
    ("A13", SEH, "seh.departed"),
    ("A13", WARD, "ward.discharged"),
])
def test_cancellations(trigger: str, location: str, cancelled: str) -> None:
    assert one(adt(trigger, location=location)) == (
        "encounter.cancelled", {"encounter_id": ENC, "cancelled_type": cancelled})


@pytest.mark.parametrize("trigger", ["A08", "A28", "A31", "A05", "A60"])
def test_other_triggers_are_acknowledged_without_event(trigger: str) -> None:
    outcome = map_message(adt(trigger, visit=None, location="NOWHERE"), REG, KEY)
    assert isinstance(outcome, Mapped) and outcome.ignored and outcome.trigger == trigger


def test_other_message_types_are_ignored() -> None:
    outcome = map_message(adt("R01", message_type="ORU"), REG, KEY)
    assert isinstance(outcome, Mapped) and outcome.ignored


# ----------------------------------------------------------------------------- refusals

def test_no_visit_number_is_refused_never_guessed() -> None:
    r = refused(adt("A04", visit=None))
    assert (r.reason, r.partner, r.parseable) == ("missing_visit_number", "hmc", True)


@pytest.mark.parametrize("location", ["SEH-OUD^^^HMC", ""])
def test_unmapped_location_is_refused(location: str) -> None:
    r = refused(adt("A04", location=location))
    assert r.reason == "unmapped_location" and "hl7.locations" in r.detail


def test_unknown_sending_facility() -> None:
    r = refused(adt("A04", facility="HAGA-X"))
    assert r.reason == "unknown_sending_facility" and "HAGA-X" not in r.detail


def test_convert_checks_msh4_against_the_given_partner() -> None:
    assert refused(adt("A04", facility="OTHER"), partner_id="hmc").reason == "wrong_sending_facility"
    assert refused(adt("A04"), partner_id="haga").reason == "wrong_sending_facility"  # no hl7 block
    assert isinstance(map_message(adt("A04"), REG, KEY, partner_id="hmc"), Mapped)


@pytest.mark.parametrize("text", ["garbage", "", "PID|1||x\r", "MSH|^~\\&|HIX|HMC\r"])
def test_unparseable_is_refused_as_such(text: str) -> None:
    r = refused(text)
    assert r.reason == "unparseable" and r.parseable is False


def test_invalid_time_is_refused() -> None:
    assert refused(adt("A04", recorded="2026-11-22 08:12")).reason == "invalid_time"


# ----------------------------------------------------------------------------- times, ids

def test_event_time_evn6_then_evn2_then_msh7_amsterdam_without_offset() -> None:
    def time_of(**kw: Any) -> int:
        return parse_time(mapped(adt("A04", **kw))[0]["time"])
    assert time_of(occurred="20261122080500") == parse_time("2026-11-22T07:05:00Z")  # CET, +01:00
    assert time_of() == parse_time("2026-11-22T07:12:00Z")  # EVN-2
    assert time_of(recorded="", msh_time="20260715101500") == parse_time("2026-07-15T08:15:00Z")  # CEST
    assert time_of(recorded="202611220812+0000") == parse_time("2026-11-22T08:12:00Z")


def test_trigger_comes_from_msh9_not_evn1() -> None:
    # EVN-1 copied from an A01 template into a discharge: MSH-9 says A03.
    assert one(adt("A03", evn_type="A01", location=SEH))[0] == "seh.departed"


def test_repeated_control_ids_do_not_collide_and_resends_are_duplicates() -> None:
    a = mapped(adt("A04", visit="V1", control="MSG00001"))[0]
    b = mapped(adt("A04", visit="V2", control="MSG00001"))[0]
    c = mapped(adt("A03", visit="V1", control="MSG00001"))[0]
    again = mapped(adt("A04", visit="V1", control="MSG00001"))[0]
    assert len({a["id"], b["id"], c["id"]}) == 3
    assert again == a


def test_the_same_visit_through_a01_then_a04_is_one_encounter() -> None:
    first = mapped(adt("A01", location=SEH, control="1"))[0]
    second = mapped(adt("A04", location=SEH, control="2"))[0]
    assert first["data"]["encounter_id"] == second["data"]["encounter_id"] == ENC
    assert first["id"] != second["id"]  # two messages; the pipeline sees the second arrival


def test_ids_are_opaque() -> None:
    event = mapped(adt("A04", visit="V123456782", control="123456782"))[0]
    for value in (event["id"], event["data"]["encounter_id"]):
        assert re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", value)
        assert not re.search(r"\d{9}", value) and "V123456782" not in value
    assert encounter_id(b"another-key-of-32-characters-long!!", "hmc", "V1") != encounter_id(KEY, "hmc", "V1")
    assert encounter_id(KEY, "haga", "V1") != encounter_id(KEY, "hmc", "V1")


# ----------------------------------------------------------------------------- files as written

@pytest.mark.parametrize("version", ["2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8"])
def test_versions(version: str) -> None:
    assert one(adt("A04", version=version))[0] == "seh.arrived"


@pytest.mark.parametrize("end", ["\r", "\n", "\r\n"])
def test_files_with_any_line_end_a_bom_and_several_messages(end: str) -> None:
    text = "".join(adt(t, location=loc, control=f"MSG0000{i}", end=end, pv1={6: SEH} if t == "A02" else None)
                   for i, (t, loc) in enumerate([("A04", SEH), ("A08", SEH), ("A02", WARD), ("A03", WARD)]))
    data = b"\xef\xbb\xbf" + text.encode()
    assert len(split_messages(data)) == 4
    outcomes = map_file(data, REG, KEY)
    kinds = [e["type"].removeprefix("nl.acutezorg.") for o in outcomes if isinstance(o, Mapped) for e in o.events]
    assert kinds == ["seh.arrived.v1", "ward.admitted.v1", "ward.discharged.v1"]


def test_batch_headers_are_dropped_and_leading_junk_is_refused() -> None:
    data = ("FHS|^~\\&\rBHS|^~\\&\r" + adt("A04") + "BTS|1\rFTS|1\r").encode()
    assert [type(o) for o in map_file(data, REG, KEY)] == [Mapped]
    junk = map_file(("junk line\r" + adt("A04")).encode(), REG, KEY)
    assert isinstance(junk[0], Refused) and junk[0].reason == "unparseable" and isinstance(junk[1], Mapped)


def test_latin1_files() -> None:
    text = adt("A04").replace("Verschoor", "Verschoör").encode("latin-1")
    assert isinstance(map_file(text, REG, KEY)[0], Mapped)


# ----------------------------------------------------------------------------- dead letters

def test_redact_keeps_no_patient_data() -> None:
    text = adt("A04", location="SEH-OUD", pv2={38: "A"})
    red = redact(text)
    for value in PATIENT_FIELDS + ("V20261122001", "Smit"):
        assert value not in red, value
    assert red.startswith("MSH|^~\\&|HIX|HMC|") and "PV1|1|E|SEH-OUD" in red
    assert {s[:3] for s in red.split("\r") if s} == {"MSH", "EVN", "PV1"}
    assert "PID" not in redact("garbage\rPID|1||x")
