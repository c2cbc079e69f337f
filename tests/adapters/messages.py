"""Hand-written test messages: HL7 v2 ADT built segment by segment as chapter 3 of HL7
v2.5 lays them out, and FHIR R4 Encounters after the core example
`encounter-example-emerg`. The patient is fictitious; PATIENT_FIELDS lists every value
of hers that must never leave the gateway (the leak tests search all output for them)."""

from __future__ import annotations

from typing import Any

# A fictitious patient. The BSN is one of the official test numbers (eleven-test valid).
NAME_FAMILY, NAME_GIVEN = "Verschoor", "Hendrika"
BSN = "999990019"
MRN = "HMC8812734"
BIRTH_DATE = "19470312"
STREET, CITY = "Lange Voorhout 9", "Den Haag"
NEXT_OF_KIN = "Verschoor-Bakker"
FREE_TEXT = "valt thuis van de trap"
PATIENT_FIELDS = (NAME_FAMILY, NAME_GIVEN, BSN, MRN, BIRTH_DATE, STREET, NEXT_OF_KIN, FREE_TEXT,
                  "1947-03-12")

KEY = b"test-pseudonym-key-0123456789abcdef"


def segment(name: str, fields: dict[int, str]) -> str:
    """`name|f1|f2|...` with the given fields at their HL7 positions."""
    last = max(fields) if fields else 0
    return "|".join([name] + [fields.get(i, "") for i in range(1, last + 1)])


def adt(
    trigger: str,
    visit: str | None = "V20261122001",
    location: str = "SEH^^^HMC",
    *,
    control: str = "MSG00001",
    version: str = "2.5",
    facility: str = "HMC",
    evn_type: str | None = None,
    recorded: str = "20261122081200",
    occurred: str = "",
    msh_time: str = "20261122081230",
    message_type: str = "ADT",
    pv1: dict[int, str] | None = None,
    pv2: dict[int, str] | None = None,
    end: str = "\r",
) -> str:
    """An ADT message with the fictitious patient in PID/NK1/GT1/IN1 and a note."""
    msh = (f"MSH|^~\\&|HIX|{facility}|SPOEDSTROOM|ROAZ|{msh_time}||{message_type}^{trigger}^ADT_A01|"
           f"{control}|P|{version}")
    segments = [
        msh,
        segment("EVN", {1: evn_type or trigger, 2: recorded, 5: "DRSMIT^Smit^Anna", 6: occurred}),
        segment("PID", {1: "1", 3: f"{MRN}^^^HMC^MR~{BSN}^^^NLMINBIZA^NNNLD",
                        5: f"{NAME_FAMILY}^{NAME_GIVEN}^^^^^L", 7: BIRTH_DATE, 8: "F",
                        11: f"{STREET}^^{CITY}^^2514EA^NL"}),
        segment("NK1", {1: "1", 2: f"{NEXT_OF_KIN}^Jan", 3: "SPO"}),
        segment("PV1", {1: "1", 2: "E", 3: location, 19: visit or "", **(pv1 or {})}),
    ]
    if pv2 is not None:
        segments.append(segment("PV2", {3: f"^{FREE_TEXT}", **pv2}))
    segments += [
        segment("GT1", {1: "1", 3: f"{NAME_FAMILY}^{NAME_GIVEN}", 5: f"{STREET}^^{CITY}"}),
        segment("IN1", {1: "1", 2: "ZORG", 16: f"{NAME_FAMILY}^{NAME_GIVEN}", 18: BIRTH_DATE}),
        segment("NTE", {1: "1", 3: FREE_TEXT}),
    ]
    return end.join(segments) + end


def encounter(
    status: str = "in-progress",
    visit: str | None = "V20261122001",
    cls: str = "EMER",
    locations: list[tuple[str, str, str | None]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An Encounter with the fictitious patient as subject (display name) and a narrative;
    `locations` are (reference or code, start, end) triples."""
    locations = locations if locations is not None else [("Location/hmc-westeinde-seh", "2026-11-22T08:12:00+01:00", None)]
    res: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": "enc-1",
        "text": {"status": "generated", "div": f"<div xmlns=\"http://www.w3.org/1999/xhtml\">{NAME_GIVEN} {NAME_FAMILY}, {FREE_TEXT}</div>"},
        "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": cls},
        "subject": {"reference": "Patient/p1", "display": f"{NAME_GIVEN} {NAME_FAMILY}",
                    "identifier": {"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": BSN}},
        "period": {"start": locations[0][1] if locations else "2026-11-22T08:12:00+01:00"},
        "location": [],
    }
    if visit is not None:
        res["identifier"] = [{"use": "official", "system": "urn:oid:2.16.528.1.1007.3.3.1234", "value": visit}]
    else:
        res.pop("id")
    for ref, start, end in locations:
        entry: dict[str, Any] = {"status": "completed" if end else "active", "period": {"start": start}}
        if end:
            entry["period"]["end"] = end
        entry["location"] = {"reference": ref} if ref.startswith("Location/") else {"identifier": {"value": ref}}
        res["location"].append(entry)
    res.update(extra)
    return res


def patient() -> dict[str, Any]:
    """The fictitious patient as a FHIR Patient (what transaction Bundles carry along)."""
    return {"resourceType": "Patient", "id": "p1",
            "identifier": [{"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": BSN}],
            "name": [{"family": NAME_FAMILY, "given": [NAME_GIVEN]}], "birthDate": "1947-03-12",
            "address": [{"line": [STREET], "city": CITY}]}
