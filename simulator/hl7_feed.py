"""Contract events -> HL7 v2.5 ADT messages: the reverse of `adapters.hl7`, so the demo
can play one hospital as a real EPD would, over MLLP through `spoedstroom gateway`.

The mapping is pure: :func:`to_adt` turns one simulated SEH or ward event of a hospital
into the ADT message whose forward mapping (`adapters.hl7.map_message`) gives an event
of the same type, location and time back; :func:`pseudonymised` gives the events that
ADT cannot carry (triage, treatment, discharge-ready, ...) the encounter id the gateway
gives that visit, so they still link to it. :class:`AdtFeed` only keeps the little
state the mapping needs (where each visit is, a counter for control ids).

Visit number (PV1-19) is the simulator's encounter id: every message of one visit has
the same one, so the gateway's pseudonymous encounter id is the same for all of them.
ADT has no field for the ambulance ride or the referral call of an arrival: a
`seh.arrived` loses its `ride_id` and `call_id` on the way (the gateway maps none).
No PID field is filled (the simulator has no patients; the segment is there because ADT
messages have one): nothing of a person exists here to leak.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final

from adapters.pseudonym import encounter_id
from topics.codec import parse_time
from topics.event import short_type
from topics.registry import Registry

#: `seh.arrived.arrival_mode` -> PV1-14 admit source: codes that `adapters.tables`
#: (HL7 table 0023 and the local Dutch codes) maps back to the same mode. `other`
#: leaves PV1-14 empty, which maps to `other`.
ADMIT_SOURCE: Final[dict[str, str]] = {
    "ambulance": "AMB",
    "gp_referral": "HA",
    "hap_referral": "HAP",
    "specialist_referral": "SP",
    "self_referral": "EV",
}

#: `seh.departed.disposition` -> PV1-36 discharge disposition (HL7 table 0112).
SEH_DISPOSITION: Final[dict[str, str]] = {
    "home": "01",
    "transferred": "02",
    "other": "07",
    "admitted": "09",
    "deceased": "20",
    "left_without_being_seen": "LWBS",
}

#: `ward.discharged.destination` -> (PV1-36 disposition, PV1-37 discharged-to location).
#: A death is a disposition; places are the more specific PV1-37 codes.
WARD_DESTINATION: Final[dict[str, tuple[str, str]]] = {
    "home": ("01", "HOME"),
    "vvt": ("", "VVT"),
    "elv": ("", "ELV"),
    "grz": ("", "GRZ"),
    "ggz": ("", "GGZ"),
    "other_hospital": ("", "ZKH"),
    "deceased": ("20", ""),
    "other": ("05", ""),
}

#: Cancelled type -> the HL7 cancel trigger and whether PV1-3 names the location the
#: cancelled transition left from (A13: the patient is back where the discharge was).
CANCEL_TRIGGER: Final[dict[str, str]] = {
    "seh.arrived": "A11",
    "ward.admitted": "A11",
    "seh.departed": "A13",
    "ward.discharged": "A13",
}

_HL7_SPECIAL = frozenset("|^~\\&\r\n")


@dataclass(frozen=True)
class FeedLink:
    """What the reverse mapping needs of one hospital: its MSH-4 and, per registry
    location, the PV1-3 point-of-care code (the first code of its `hl7.locations` that
    maps there) and the location's kind."""

    partner: str
    sending_facility: str
    point_of_care: Mapping[str, str]
    kind: Mapping[str, str]


def feed_link(registry: Registry, partner_id: str) -> FeedLink:
    """The link of a partner with an `hl7:` block (ValueError if it has none)."""
    partner = registry.partners.get(partner_id)
    if partner is None or partner.hl7 is None:
        raise ValueError(f"partner {partner_id!r} has no hl7 block in the registry")
    codes: dict[str, str] = {}
    for code, location_id in partner.hl7.locations:
        codes.setdefault(location_id, code)
    kinds = {loc_id: registry.locations[loc_id].kind for loc_id in codes}
    return FeedLink(partner.id, partner.hl7.sending_facility, codes, kinds)


@dataclass(frozen=True)
class Adt:
    """One ADT message, and where the visit is after it (the last location it was at)."""

    trigger: str
    text: str
    location: str


def hl7_time(time_ms: int) -> str:
    """An HL7 DTM in UTC with its offset, to the second (the simulator's resolution)."""
    return datetime.fromtimestamp(time_ms / 1000, tz=timezone.utc).strftime("%Y%m%d%H%M%S+0000")


def _message(link: FeedLink, trigger: str, control_id: str, time_ms: int, location: str,
             visit: str, pv1: Mapping[int, str]) -> str:
    stamp = hl7_time(time_ms)
    fields = {1: "1", 2: "E" if link.kind[location] == "seh" else "I",
              3: f"{link.point_of_care[location]}^^^{link.sending_facility}", 19: visit, **pv1}
    segments = [
        f"MSH|^~\\&|SIMULATOR|{link.sending_facility}|SPOEDSTROOM|ROAZ|{stamp}||ADT^{trigger}^ADT_A01|"
        f"{control_id}|P|2.5",
        f"EVN|{trigger}|{stamp}",
        "PID|1",
        "|".join(["PV1"] + [fields.get(i, "") for i in range(1, max(fields) + 1)]),
    ]
    return "\r".join(segments) + "\r"


def to_adt(event: Mapping[str, Any], link: FeedLink, last_location: str | None, control_id: str) -> Adt | None:
    """The ADT message of a contract event of `link`'s hospital, or None when ADT has no
    message for it (triage, treatment, admission request, discharge-ready, capacity,
    status) or the mapping would need what is not known (a location outside the hospital's
    `hl7.locations`, a follow-up of a visit not seen arriving). `last_location` is where
    the visit last was (None: not seen yet)."""
    name = short_type(str(event.get("type", "")))
    data = event.get("data") or {}
    visit = data.get("encounter_id")
    if not isinstance(visit, str) or not visit or _HL7_SPECIAL & set(visit):
        return None
    time_ms = parse_time(event["time"])
    location = data.get("location")

    def at(trigger: str, where: str | None, pv1: Mapping[int, str] | None = None) -> Adt | None:
        if where is None or where not in link.point_of_care:
            return None
        return Adt(trigger, _message(link, trigger, control_id, time_ms, where, visit, pv1 or {}), where)

    if name == "seh.arrived":
        return at("A04", location, {14: ADMIT_SOURCE.get(data.get("arrival_mode", ""), "")})
    if name == "seh.departed":
        if last_location is None or link.kind.get(last_location) != "seh":
            return None
        return at("A03", last_location, {36: SEH_DISPOSITION.get(data.get("disposition", ""), "07")})
    if name == "ward.admitted":
        # PV1-4 admission type: E(mergency) makes the admission acute, R(outine) does not.
        return at("A01", location, {4: "E" if data.get("acute") else "R"})
    if name == "ward.transferred":
        if last_location is None or link.kind.get(last_location) != "ward":
            return None
        return at("A02", location, {6: f"{link.point_of_care[last_location]}^^^{link.sending_facility}"})
    if name == "ward.discharged":
        if last_location is None or link.kind.get(last_location) != "ward":
            return None
        disposition, to = WARD_DESTINATION.get(data.get("destination", ""), ("05", ""))
        return at("A03", last_location, {36: disposition, 37: to})
    if name == "encounter.cancelled":
        cancelled = data.get("cancelled_type", "")
        trigger = CANCEL_TRIGGER.get(cancelled)
        # The cancel names the location the cancelled transition was at: its kind tells
        # the gateway whether an SEH or a ward transition is undone.
        if trigger is None or last_location is None or link.kind.get(last_location) != cancelled.split(".")[0]:
            return None
        return at(trigger, last_location)
    return None


def pseudonymised(event: dict[str, Any], key: bytes, partner: str) -> dict[str, Any]:
    """The event with the encounter id the gateway gives its visit (PV1-19 = the
    simulator's encounter id), for a hospital's events that go to Kafka beside its ADT
    feed. Events without an encounter id are returned as they are."""
    data = event.get("data") or {}
    visit = data.get("encounter_id")
    if not isinstance(visit, str):
        return event
    return {**event, "data": {**data, "encounter_id": encounter_id(key, partner, visit)}}


@dataclass
class AdtFeed:
    """One hospital's ADT feed: the state around :func:`to_adt` (where each visit last
    was; control ids). Visits are kept for the whole run, as a cancel of a discharge
    (A13) needs the location after the discharge."""

    link: FeedLink
    prefix: str = "SIM"
    sent: int = 0
    last_location: dict[str, str] = field(default_factory=dict)

    def message(self, event: Mapping[str, Any]) -> Adt | None:
        """The ADT message of `event` (None: it goes as a CloudEvent), state updated."""
        visit = (event.get("data") or {}).get("encounter_id")
        adt = to_adt(event, self.link, self.last_location.get(visit) if isinstance(visit, str) else None,
                     f"{self.prefix}{self.sent + 1}")
        if adt is not None:
            self.sent += 1
            self.last_location[str(visit)] = adt.location
        return adt
