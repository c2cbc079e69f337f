"""A small local event factory and test registry for the processor tests (no simulator)."""

from __future__ import annotations

from typing import Any

from processors.output import Output
from processors.region import RegionProcessor
from topics.event import Event
from topics.registry import Registry, parse_registry

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000


def registry(**thresholds: Any) -> Registry:
    raw = {
        "region": {"id": "test", "name": "Test"},
        "partners": [
            {"id": "h1", "kind": "hospital"},
            {"id": "h2", "kind": "hospital"},
            {"id": "rav", "kind": "ambulance"},
            {"id": "hap", "kind": "hap"},
            {"id": "vvt", "kind": "vvt"},
        ],
        "locations": [
            {"id": "h1-seh", "partner": "h1", "kind": "seh", "staffed_beds": 10},
            {"id": "h1-int", "partner": "h1", "kind": "ward", "bed_type": "clinical", "staffed_beds": 40},
            {"id": "h1-ic", "partner": "h1", "kind": "ward", "bed_type": "ic", "staffed_beds": 10},
            {"id": "h2-seh", "partner": "h2", "kind": "seh", "staffed_beds": 10},
            {"id": "h2-kl", "partner": "h2", "kind": "ward", "bed_type": "clinical", "staffed_beds": 50},
            {"id": "vvt-elv", "partner": "vvt", "kind": "elv", "staffed_beds": 12},
        ],
        "thresholds": thresholds,
        "actions": {2: ["a2"], 3: ["a3"], 4: ["a4"]},
    }
    return parse_registry(raw)


class Factory:
    """Builds events with unique ids; times are given as minutes after T0 (floats ok)."""

    def __init__(self) -> None:
        self.n = 0

    def ev(self, partner: str, type_: str, minute: float, eid: str | None = None, **data: Any) -> Event:
        self.n += 1
        return Event(
            id=eid or f"e{self.n}",
            source=f"/partners/{partner}",
            partner=partner,
            type=type_,
            time=T0 + int(round(minute * MIN)),
            data=data,
        )

    # hospital encounters
    def arrive(self, m: float, enc: str, loc: str = "h1-seh", mode: str = "gp_referral", hosp: str = "h1") -> Event:
        return self.ev(hosp, "seh.arrived", m, encounter_id=enc, location=loc, arrival_mode=mode)

    def triage(self, m: float, enc: str, urgency: str, hosp: str = "h1") -> Event:
        return self.ev(hosp, "seh.triaged", m, encounter_id=enc, urgency=urgency)

    def treat(self, m: float, enc: str, hosp: str = "h1") -> Event:
        return self.ev(hosp, "seh.treatment_started", m, encounter_id=enc)

    def request(self, m: float, enc: str, bed_type: str = "clinical", hosp: str = "h1") -> Event:
        return self.ev(hosp, "seh.admission_requested", m, encounter_id=enc, bed_type=bed_type)

    def depart(self, m: float, enc: str, disposition: str = "home", hosp: str = "h1") -> Event:
        return self.ev(hosp, "seh.departed", m, encounter_id=enc, disposition=disposition)

    def admit(self, m: float, enc: str, ward: str = "h1-int", hosp: str = "h1") -> Event:
        return self.ev(hosp, "ward.admitted", m, encounter_id=enc, location=ward, acute=True)

    def transfer(self, m: float, enc: str, ward: str, hosp: str = "h1") -> Event:
        return self.ev(hosp, "ward.transferred", m, encounter_id=enc, location=ward)

    def ready(self, m: float, enc: str, waiting_for: str = "vvt", hosp: str = "h1") -> Event:
        return self.ev(hosp, "ward.discharge_ready", m, encounter_id=enc, waiting_for=waiting_for)

    def discharge(self, m: float, enc: str, destination: str = "home", hosp: str = "h1") -> Event:
        return self.ev(hosp, "ward.discharged", m, encounter_id=enc, destination=destination)

    def cancel(self, m: float, enc: str, cancelled_type: str, hosp: str = "h1") -> Event:
        return self.ev(hosp, "encounter.cancelled", m, encounter_id=enc, cancelled_type=cancelled_type)

    def capacity(self, m: float, loc: str, beds: int, partner: str = "h1") -> Event:
        return self.ev(partner, "capacity.reported", m, location=loc, staffed_beds=beds)

    def status(self, m: float, loc: str, status: str, partner: str = "h1") -> Event:
        return self.ev(partner, "seh.status_changed", m, location=loc, status=status)


def fmt(minute: float) -> str:
    from topics.codec import format_time

    return format_time(T0 + int(round(minute * MIN)))


def run(proc: RegionProcessor, events: list[Event]) -> list[Output]:
    """Offer in order and release after each (event clock, zero lateness: in-order feed)."""
    out: list[Output] = []
    for e in events:
        _, o = proc.offer(e)
        out.extend(o)
        out.extend(proc.release(e.time))
    return out


def snap(proc: RegionProcessor, key: str) -> dict[str, Any]:
    return proc.snapshots()[key]


def alerts(outputs: list[Output], kind: str | None = None) -> list[tuple[str, str, int]]:
    """(raised|resolved, alert subject id, minute after T0) of the alert outputs."""
    return [
        (o.kind.split(".")[1], o.key, (o.time - T0) / MIN)
        for o in outputs
        if o.kind.startswith("alert.") and (kind is None or o.data["kind"] == kind)
    ]
