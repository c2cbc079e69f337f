"""A simulated hospital encounter: one patient's SEH visit and/or ward stay.

Shared by the SEH model (arrival to departure or admission) and the ward model
(admission to discharge), which hand the same object over on admission.
"""

from __future__ import annotations

from topics.registry import Location


class Encounter:
    """A simulated hospital encounter (SEH visit and/or ward stay)."""

    __slots__ = (
        "id", "hospital", "seh", "arrived", "mode", "urgency", "admit", "bed_type",
        "ward", "boarding_since", "stay_gen", "treated",
    )

    def __init__(self, eid: str, hospital: str, seh: Location | None, arrived: int, mode: str) -> None:
        self.id = eid
        self.hospital = hospital
        self.seh = seh
        self.arrived = arrived
        self.mode = mode
        self.urgency = "U3"
        self.admit = False
        self.bed_type = "clinical"
        self.ward: Location | None = None
        self.boarding_since = 0
        self.stay_gen = 0  # bumped when a scheduled stay end is superseded
        self.treated = False
