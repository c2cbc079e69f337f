"""112 dispatch and ambulance rides of the regional ambulance services (RAV).

A 112 call (`ride_112`) is received, triaged within a minute and completed as an
ambulance ride; a HAP can ask for a ride too (`hap_ride`). A ride is assigned, drives
out (response times per urgency A0/A1/A2/B, A1 ~93% within 15 minutes), is on scene,
and either clears there or transports the patient to an SEH (urgent rides to any SEH,
less urgent ones to an open one), where the SEH model takes the patient in and the crew
hands over (longer at a crowded SEH) before it clears. A major incident (`incident`)
is a burst of A0/A1 calls within minutes, all transported to the largest SEHs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from topics.codec import format_time
from topics.registry import Location, Registry

from simulator.engine import MINUTE, Engine, lognormal_median
from simulator.seh import Sehs

# Ride urgency mix and the share transported to an SEH.
_RIDE_URGENCY = ("A0", "A1", "A2", "B")
#: Urgency mix of 112 rides and of rides a HAP asks for (over A0, A1, A2, B).
RIDE_URGENCY_W = (0.03, 0.45, 0.40, 0.12)
HAP_RIDE_URGENCY_W = (0.0, 0.35, 0.65, 0.0)
_P_TRANSPORT = {"A0": 0.92, "A1": 0.85, "A2": 0.72, "B": 0.95}
_P_RIDE_CANCELLED = 0.02
# Response time (call accepted -> on scene), lognormal (median minutes, sigma):
# A1 median 10 min with ~93% within 15 min (domain.md: 92.4% in 2018, norm 95%).
_RESPONSE = {"A0": (8.5, 0.27), "A1": (10.0, 0.27), "A2": (16.0, 0.35), "B": (25.0, 0.4)}
_RIDE_TO_U = {"A0": "U0", "A1": "U1", "A2": "U2", "B": "U3"}


def transported_share(urgency_weights: Sequence[float]) -> float:
    """The share of rides with this urgency mix that bring a patient to an SEH."""
    return sum(w * _P_TRANSPORT[u] for u, w in zip(_RIDE_URGENCY, urgency_weights)) * (1 - _P_RIDE_CANCELLED)


class Ambulances:
    """The region's ambulance services: their 112 calls and rides."""

    def __init__(self, engine: Engine, registry: Registry, sehs: Sehs) -> None:
        self.engine = engine
        self.rng = engine.rng
        self.sehs = sehs
        #: The ambulance service partners (RAV).
        self.ids = [p.id for p in registry.partners.values() if p.kind == "ambulance"]

    def ride_112(self) -> None:
        """A 112 call for an ambulance, of the usual urgency mix."""
        urgency = self.rng.choices(_RIDE_URGENCY, RIDE_URGENCY_W)[0]
        self._call_112(urgency)

    def hap_ride(self, call_id: str) -> None:
        """A ride a HAP asked for on call `call_id`."""
        urgency = self.rng.choices(_RIDE_URGENCY, HAP_RIDE_URGENCY_W)[0]
        self._start_ride(urgency, call_id=call_id)

    def incident(self, count: int) -> None:
        """A major incident now: `count` A0/A1 calls within 12 minutes."""
        e = self.engine
        rng = self.rng
        for _ in range(count):
            urgency = "A0" if rng.random() < 0.3 else "A1"
            e.at(e.now + rng.uniform(0, 12) * MINUTE, self._call_112, urgency, True)

    # ------------------------------------------------------------------ 112 calls
    def _call_112(self, urgency: str, incident: bool = False) -> None:
        e = self.engine
        rng = self.rng
        rav = self.ids[0] if len(self.ids) == 1 else rng.choice(self.ids)
        call_id = e.new_id("C")
        e.emit(rav, "call.received", {"call_id": call_id, "service": "112"})
        triage = e.now + rng.uniform(0.3, 1.0) * MINUTE
        e.at(triage, self._call_112_triaged, rav, call_id, urgency, e.now, incident)

    def _call_112_triaged(self, rav: str, call_id: str, urgency: str, received: int, incident: bool) -> None:
        e = self.engine
        e.emit(rav, "call.triaged", {"call_id": call_id, "urgency": _RIDE_TO_U[urgency]})
        e.emit(rav, "call.completed", {"call_id": call_id, "outcome": "ambulance"})
        self._start_ride(urgency, call_id=call_id, received=received, rav=rav, incident=incident)

    # ------------------------------------------------------------------ rides
    def _start_ride(self, urgency: str, *, call_id: str | None = None, received: int | None = None,
                    rav: str | None = None, incident: bool = False) -> None:
        e = self.engine
        rng = self.rng
        rav = rav or (self.ids[0] if len(self.ids) == 1 else rng.choice(self.ids))
        received = e.now if received is None else received
        ride_id = e.new_id("R")
        median, sigma = _RESPONSE[urgency]
        if incident:
            median *= 1.25
        response = lognormal_median(rng, median, sigma) * MINUTE
        assign = min(received + rng.uniform(40, 120) * 1000, received + response * 0.5)
        e.at(max(e.now, assign), self._assigned, rav, ride_id, urgency, call_id, received,
             received + response, incident)

    def _assigned(self, rav: str, ride_id: str, urgency: str, call_id: str | None,
                  received: int, on_scene: float, incident: bool) -> None:
        e = self.engine
        rng = self.rng
        data: dict[str, Any] = {"ride_id": ride_id, "urgency": urgency,
                                "call_received_at": format_time(received // 1000 * 1000)}
        if call_id:
            data["call_id"] = call_id
        e.emit(rav, "dispatch.assigned", data)
        if not incident and rng.random() < _P_RIDE_CANCELLED:
            e.at(e.now + rng.uniform(0.3, 0.9) * (on_scene - e.now), self._ride_event, rav,
                 "dispatch.cancelled", ride_id)
            return
        e.at(max(on_scene, e.now + 30_000), self._on_scene, rav, ride_id, urgency, incident)

    def _ride_event(self, rav: str, type_name: str, ride_id: str) -> None:
        """An event with only the ride id (cancelled, cleared)."""
        self.engine.emit(rav, type_name, {"ride_id": ride_id})

    def _on_scene(self, rav: str, ride_id: str, urgency: str, incident: bool) -> None:
        e = self.engine
        rng = self.rng
        e.emit(rav, "dispatch.on_scene", {"ride_id": ride_id})
        scene = lognormal_median(rng, 18.0, 0.35) * MINUTE
        if not incident and rng.random() >= _P_TRANSPORT[urgency]:
            e.at(e.now + scene, self._ride_event, rav, "dispatch.cleared", ride_id)
            return
        e.at(e.now + scene, self._transporting, rav, ride_id, urgency, incident)

    def _destination(self, urgency: str, incident: bool) -> Location:
        rng = self.rng
        sehs = self.sehs.locations
        if incident:
            # "Nearest" SEHs: without geography, the largest ones (trauma-capable sites).
            ranked = sorted(sehs, key=lambda s: (-s.staffed_beds, s.id))
            sehs = ranked[: max(1, math.ceil(len(ranked) / 2))]
        elif urgency in ("A2", "B"):
            open_ = [s for s in sehs if self.sehs.status[s.id] == "open"]
            sehs = open_ or sehs
        return rng.choices(sehs, [s.staffed_beds for s in sehs])[0]

    def _transporting(self, rav: str, ride_id: str, urgency: str, incident: bool) -> None:
        e = self.engine
        rng = self.rng
        dest = self._destination(urgency, incident)
        drive = max(3.0, lognormal_median(rng, 12.0, 0.45))
        eta = e.now + int(drive * MINUTE) // 1000 * 1000
        e.emit(rav, "dispatch.transporting", {"ride_id": ride_id, "destination": dest.id, "eta": format_time(eta)})
        actual = eta + rng.uniform(-2.0, 3.0) * MINUTE
        e.at(max(e.now + 2 * MINUTE, actual), self._at_hospital, rav, ride_id, urgency, dest)

    def _at_hospital(self, rav: str, ride_id: str, urgency: str, dest: Location) -> None:
        e = self.engine
        rng = self.rng
        e.emit(rav, "dispatch.at_hospital", {"ride_id": ride_id, "location": dest.id})
        self.sehs.arrive(dest, "ambulance", ride_id=ride_id, ride_urgency=urgency)
        occ = self.sehs.occupancy(dest.id)
        handover = lognormal_median(rng, 15.0, 0.49) * (1.0 + 1.5 * max(0.0, occ - 0.8)) * MINUTE
        e.at(e.now + handover, self._handover, rav, ride_id)

    def _handover(self, rav: str, ride_id: str) -> None:
        e = self.engine
        e.emit(rav, "dispatch.handover_completed", {"ride_id": ride_id})
        e.at(e.now + self.rng.uniform(8, 20) * MINUTE, self._ride_event, rav, "dispatch.cleared", ride_id)
