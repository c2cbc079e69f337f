"""Every code table of the partner gateway, in one place: HL7 v2 and FHIR codes -> the
values of the event contract (docs/contract.md).

A code not listed maps to the contract's `other`: the tables widen nothing and guess
nothing. HL7 tables 0023 and 0112 are "user-defined" (the standard suggests values, sites
add their own), so each table lists the suggested values of HL7 v2.5 and a few local codes
seen in Dutch feeds; a site with other codes extends the table here, reviewed, not in a
configuration file nobody reads.
"""

from __future__ import annotations

from typing import Final

# --------------------------------------------------------------------------------------
# HL7 v2

#: HL7 table 0023 "Admit source" (PV1-14) -> `seh.arrived.arrival_mode`.
HL7_0023_ADMIT_SOURCE: Final[dict[str, str]] = {
    "1": "gp_referral",          # physician referral: in the Netherlands the GP refers
    "2": "specialist_referral",  # clinic referral
    "3": "other",                # HMO referral
    "4": "specialist_referral",  # transfer from a hospital: specialist to specialist
    "5": "other",                # transfer from a skilled nursing facility
    "6": "other",                # transfer from another health care facility
    "7": "other",                # emergency room
    "8": "other",                # court/law enforcement
    "9": "other",                # information not available
    # local codes of Dutch feeds
    "HA": "gp_referral",         # huisarts
    "HAP": "hap_referral",       # huisartsenpost
    "SP": "specialist_referral",  # medisch specialist
    "EV": "self_referral",       # eigen verwijzing
    "ZV": "self_referral",       # zelfverwijzer
    "AMB": "ambulance",
}

#: HL7 table 0430 "Mode of arrival code" (PV2-38): only the codes that mean an ambulance
#: override the admit source; the contract's handover metrics need to know.
HL7_0430_MODE_OF_ARRIVAL_AMBULANCE: Final[frozenset[str]] = frozenset({"A", "H"})  # ambulance, helicopter

#: HL7 table 0007 "Admission type" (PV1-4): the types that make a ward admission acute.
HL7_0007_ACUTE_ADMISSION_TYPES: Final[frozenset[str]] = frozenset({"E", "A", "U"})  # emergency, accident, urgent

#: HL7 table 0112 "Discharge disposition" (PV1-36) -> `seh.departed.disposition`.
HL7_0112_SEH_DISPOSITION: Final[dict[str, str]] = {
    "01": "home",         # discharged to home or self care
    "02": "transferred",  # to another short-term general hospital
    "03": "transferred",  # to a skilled nursing facility
    "04": "transferred",  # to an intermediate care facility
    "05": "transferred",  # to another type of institution
    "06": "home",         # home under care of a home health service
    "07": "other",        # left against medical advice (not "without being seen")
    "09": "admitted",     # admitted as an inpatient to this hospital
    "20": "deceased",     # expired
    "40": "deceased",     # expired at home
    "41": "deceased",     # expired in a medical facility
    "42": "deceased",     # expired, place unknown
    "43": "transferred",  # to a federal hospital
    "62": "transferred",  # to an inpatient rehabilitation facility
    "63": "transferred",  # to a long-term care hospital
    "65": "transferred",  # to a psychiatric hospital
    "66": "transferred",  # to a critical access hospital
    # local codes of Dutch feeds
    "LWBS": "left_without_being_seen",
    "OPN": "admitted",
}

#: HL7 table 0112 "Discharge disposition" (PV1-36) -> `ward.discharged.destination`.
HL7_0112_WARD_DESTINATION: Final[dict[str, str]] = {
    "01": "home",
    "02": "other_hospital",
    "03": "vvt",             # skilled nursing facility: verpleeghuis
    "04": "vvt",             # intermediate care facility
    "05": "other",
    "06": "home",            # home health service: still home
    "07": "home",            # left against medical advice
    "20": "deceased",
    "40": "deceased",
    "41": "deceased",
    "42": "deceased",
    "43": "other_hospital",
    "62": "grz",             # inpatient rehabilitation facility
    "63": "other_hospital",  # long-term care hospital
    "64": "vvt",             # nursing facility
    "65": "ggz",             # psychiatric hospital
    "66": "other_hospital",
}

#: PV1-37 "Discharged to location" (first component), local codes -> destination. More
#: specific than PV1-36, so it wins, except that a death (PV1-36) always wins.
HL7_PV1_37_DESTINATION: Final[dict[str, str]] = {
    "HOME": "home",
    "THUIS": "home",
    "VVT": "vvt",
    "VPH": "vvt",  # verpleeghuis
    "ELV": "elv",
    "GRZ": "grz",
    "GGZ": "ggz",
    "ZKH": "other_hospital",
}

#: HL7 v2 triggers the gateway turns into events (hl7.py); every other trigger (A08,
#: A28, A31, ...) is acknowledged `AA` and counted as ignored.
HL7_MAPPED_TRIGGERS: Final[frozenset[str]] = frozenset(
    {"A01", "A02", "A03", "A04", "A06", "A11", "A12", "A13"})

#: Segments kept in a dead-lettered HL7 message, and in them the fields kept (numbered as HL7 does).
#: Everything else goes: PID, NK1, GT1, IN1 (the patient, kin, guarantor, insurance),
#: MRG (prior patient ids), PV2/NTE/OBX/DG1/AL1 (free text, clinical data), and PV1-19
#: (the visit number) and the PV1/EVN fields naming staff.
HL7_DEADLETTER_KEEP: Final[dict[str, frozenset[int]]] = {
    # MSH-2 encoding characters, MSH-3..7 applications, facilities and time, MSH-9..12
    # message type, control id, processing id and version (not MSH-8 security, MSH-13+)
    "MSH": frozenset({2, 3, 4, 5, 6, 7, 9, 10, 11, 12}),
    "EVN": frozenset({1, 2, 3, 4, 6}),
    "PV1": frozenset({1, 2, 3, 4, 6, 10, 14, 18, 36, 37, 39, 41, 44, 45}),
}

# --------------------------------------------------------------------------------------
# FHIR R4

#: Encounter.class (v3 ActCode) of an emergency visit: a ward admission from one is acute.
#: Which stay a location period is follows from its location's kind, not from the class:
#: the class changes as the visit does (EMER in the SEH, IMP once admitted, the earlier
#: ones in classHistory), so one Encounter holds both stays (README, "Connecting a hospital").
FHIR_EMERGENCY_CLASS: Final[str] = "EMER"

#: Encounter.status values (R4 `encounter-status`); the models do not check the code.
FHIR_ENCOUNTER_STATUSES: Final[frozenset[str]] = frozenset({
    "planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled",
    "entered-in-error", "unknown"})

#: Encounter.priority (v3 ActPriority) codes that make a ward admission acute.
FHIR_ACUTE_PRIORITIES: Final[frozenset[str]] = frozenset({"EM", "UR", "S", "A"})

#: `hospitalization.admitSource` (terminology.hl7.org CodeSystem `admit-source`) ->
#: `seh.arrived.arrival_mode`.
FHIR_ADMIT_SOURCE: Final[dict[str, str]] = {
    "gp": "gp_referral",
    "mp": "specialist_referral",
    "hosp-trans": "specialist_referral",
    "outp": "specialist_referral",
    "emd": "other",
    "nursing": "other",
    "psych": "other",
    "rehab": "other",
    "born": "other",
    "other": "other",
}

#: `hospitalization.dischargeDisposition` (CodeSystem `discharge-disposition`) ->
#: `seh.departed.disposition`.
FHIR_SEH_DISPOSITION: Final[dict[str, str]] = {
    "home": "home",
    "alt-home": "home",
    "other-hcf": "transferred",
    "hosp": "transferred",
    "long": "transferred",
    "snf": "transferred",
    "psy": "transferred",
    "rehab": "transferred",
    "exp": "deceased",
    "aadvice": "other",
    "oth": "other",
}

#: `hospitalization.dischargeDisposition` -> `ward.discharged.destination`.
FHIR_WARD_DESTINATION: Final[dict[str, str]] = {
    "home": "home",
    "alt-home": "home",
    "other-hcf": "other",
    "hosp": "other_hospital",
    "long": "vvt",
    "snf": "vvt",
    "psy": "ggz",
    "rehab": "grz",
    "exp": "deceased",
    "aadvice": "home",
    "oth": "other",
}

#: SANER MeasureReport population codes holding the staffed (operational) beds of a
#: location, by preference; the first present wins.
SANER_STAFFED_BED_CODES: Final[dict[str, tuple[str, ...]]] = {
    "ic": ("numICUBeds", "numbeds", "numTotBeds"),
    "default": ("numbeds", "numTotBeds"),
}
