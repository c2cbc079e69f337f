"""Staffed beds: what every location can take, and the periodic `capacity.reported` feed.

Every location of the registry (SEH, hospital wards, and the ELV/VVT/GRZ places of
nursing and home care) reports its staffed beds at the start and then every
`capacity_interval_ms`. Wards and nursing-home locations now and then lose a few beds
for lack of staff, or gain one; the SEH and ward models read the current figure here
(`staffed`) for their occupancy and free beds.
"""

from __future__ import annotations

from topics.registry import Registry

from simulator.engine import Engine
from simulator.scenario import Calibration


class Capacity:
    """The staffed beds of every location and the rounds that report them."""

    def __init__(self, engine: Engine, registry: Registry, calibration: Calibration) -> None:
        self.engine = engine
        self.reg = registry
        self.cal = calibration
        #: Current staffed beds per location id.
        self.staffed = {loc.id: loc.staffed_beds for loc in registry.locations.values()}
        self.staff_delta = {loc.id: 0 for loc in registry.locations.values()}

    def report_round(self) -> None:
        """Report every location's staffed beds (after a possible change) and schedule
        the next round."""
        e = self.engine
        rng = e.rng
        for loc in self.reg.locations.values():
            if loc.kind in ("ward", "elv", "vvt", "grz") and e.now > e.start and rng.random() < 0.02:
                # Small staffing variation: a few beds closed for lack of staff, or one extra.
                span = max(1, round(0.03 * loc.staffed_beds))
                self.staff_delta[loc.id] = rng.randint(-span, 1) if loc.staffed_beds > 0 else 0
            beds = max(0, loc.staffed_beds + self.staff_delta[loc.id])
            self.staffed[loc.id] = beds
            e.emit(loc.partner, "capacity.reported", {"location": loc.id, "staffed_beds": beds})
        e.at(e.now + self.cal.capacity_interval_ms, self.report_round)
