"""The hospitals' SEHs (emergency departments): arrivals, triage, treatment, departure.

A patient arrives on their own (`walk_in`), by ambulance or referred by a HAP
(`arrive`); gets an urgency U0-U5 (more urgent by ambulance), waits for treatment longer
when the SEH is crowded, and leaves (home, transferred, ... or without being seen) or is
admitted: after the decision the patient boards at the SEH until a ward of the right bed
type has a free bed (`wards.py` takes over). A crowded SEH goes on stop (closed to
ambulances) and reopens once it has emptied.
"""

from __future__ import annotations

from typing import Any

from topics.codec import format_time
from topics.registry import Location, Registry

from simulator.capacity import Capacity
from simulator.encounter import Encounter
from simulator.engine import DAY, HOUR, MINUTE, Engine, lognormal_mean, lognormal_median
from simulator.scenario import Calibration
from simulator.wards import Wards

#: The urgency levels of SEH triage and of the partners' call triage (U0 most urgent).
URGENCY = ("U0", "U1", "U2", "U3", "U4", "U5")
# SEH triage urgency mix: (ambulance arrivals, others).
_SEH_URGENCY_W_AMB = (0.02, 0.10, 0.35, 0.40, 0.12, 0.01)
_SEH_URGENCY_W_OTHER = (0.003, 0.02, 0.18, 0.45, 0.28, 0.067)
# Probability of admission by urgency (gives ~37% overall with the mixes above).
_P_ADMIT = {"U0": 0.85, "U1": 0.75, "U2": 0.58, "U3": 0.40, "U4": 0.15, "U5": 0.05}
# Median wait from arrival to treatment start (minutes) by urgency.
_WAIT_MEDIAN_MIN = {"U0": 1.0, "U1": 3.0, "U2": 12.0, "U3": 30.0, "U4": 45.0, "U5": 55.0}


class Sehs:
    """The region's SEHs, their patients and their open/stop status."""

    def __init__(self, engine: Engine, registry: Registry, calibration: Calibration, capacity: Capacity,
                 wards: Wards) -> None:
        self.engine = engine
        self.rng = engine.rng
        self.cal = calibration
        self.staffed = capacity.staffed
        self.wards = wards
        self.locations = registry.sehs()
        self.patients = {s.id: 0 for s in self.locations}
        #: "open" or "stop" per SEH.
        self.status = {s.id: "open" for s in self.locations}
        self.status_since = {s.id: -DAY for s in self.locations}

    def occupancy(self, sid: str) -> float:
        """Patients per staffed treatment space of SEH `sid`."""
        beds = self.staffed.get(sid, 0)
        return self.patients[sid] / beds if beds else 0.0

    def walk_in(self, seh: Location, modes: list[str], weights: list[float]) -> None:
        """A patient who comes on their own; the arrival mode drawn from `modes`."""
        mode = self.rng.choices(modes, weights)[0]
        self.arrive(seh, mode)

    def arrive(self, seh: Location, mode: str, ride_id: str | None = None,
               call_id: str | None = None, ride_urgency: str | None = None) -> None:
        """A patient arrives at `seh` now (by ambulance: `ride_id`, `ride_urgency`;
        referred by a HAP: `call_id`)."""
        e = self.engine
        rng = self.rng
        enc = Encounter(e.new_id("E"), seh.partner, seh, e.now, mode)
        data: dict[str, Any] = {"encounter_id": enc.id, "location": seh.id, "arrival_mode": mode}
        if ride_id:
            data["ride_id"] = ride_id
        if call_id:
            data["call_id"] = call_id
        e.emit(seh.partner, "seh.arrived", data)
        self.patients[seh.id] += 1
        self._check_stop(seh)
        weights = _SEH_URGENCY_W_AMB if mode == "ambulance" else _SEH_URGENCY_W_OTHER
        enc.urgency = rng.choices(URGENCY, weights)[0]
        if ride_urgency in ("A0", "A1") and enc.urgency > "U2":
            enc.urgency = "U2" if ride_urgency == "A1" else "U1"
        enc.admit = rng.random() < _P_ADMIT[enc.urgency]
        fast = enc.urgency in ("U0", "U1")
        triage_min = rng.uniform(0.5, 3) if fast else min(30.0, lognormal_median(rng, 6.0, 0.5))
        e.at(e.now + triage_min * MINUTE, self._triaged, enc)

    def _triaged(self, enc: Encounter) -> None:
        e = self.engine
        rng = self.rng
        e.emit(enc.hospital, "seh.triaged", {"encounter_id": enc.id, "urgency": enc.urgency})
        assert enc.seh is not None
        occ = self.occupancy(enc.seh.id)
        crowd = 1.0 + 2.5 * max(0.0, occ - 0.7)
        wait = lognormal_median(rng, _WAIT_MEDIAN_MIN[enc.urgency], 0.6) * crowd * MINUTE
        if enc.urgency in ("U4", "U5") and enc.mode != "ambulance" and rng.random() < 0.03 * crowd:
            e.at(e.now + rng.uniform(30, 150) * MINUTE, self._departed, enc, "left_without_being_seen")
            return
        e.at(max(e.now, enc.arrived + wait), self._treatment, enc)

    def _treatment(self, enc: Encounter) -> None:
        e = self.engine
        rng = self.rng
        enc.treated = True
        e.emit(enc.hospital, "seh.treatment_started", {"encounter_id": enc.id})
        if enc.admit and self.wards.ward_choice.get((enc.seh.id if enc.seh else "", "clinical")):
            decide = lognormal_mean(rng, self.cal.los_admitted_mean_min - 36.0, 0.45) * MINUTE
            e.at(max(e.now + 15 * MINUTE, enc.arrived + decide), self._admission_requested, enc)
        else:
            # x0.96: the floor below (treatment + 10 min) lengthens a few stays.
            los = lognormal_mean(rng, self.cal.los_discharged_mean_min * 0.96, 0.55) * MINUTE
            r = rng.random()
            disp = "home"
            if enc.admit or r < 0.015:
                disp = "transferred"
            elif r < 0.025:
                disp = "other"
            elif enc.urgency in ("U0", "U1") and r < 0.05:
                disp = "deceased"
            e.at(max(e.now + 10 * MINUTE, enc.arrived + los), self._departed, enc, disp)

    def _departed(self, enc: Encounter, disposition: str) -> None:
        self.engine.emit(enc.hospital, "seh.departed", {"encounter_id": enc.id, "disposition": disposition})
        if enc.seh is not None:
            self.patients[enc.seh.id] -= 1

    # ------------------------------------------------------------------ admission
    def _admission_requested(self, enc: Encounter) -> None:
        e = self.engine
        rng = self.rng
        u = enc.urgency
        if u == "U0":
            bt = rng.choices(("ic", "mc", "clinical"), (0.5, 0.3, 0.2))[0]
        elif u == "U1":
            bt = rng.choices(("ic", "mc", "clinical"), (0.25, 0.3, 0.45))[0]
        else:
            bt = rng.choices(("ic", "mc", "clinical"), (0.03, 0.07, 0.90))[0]
        enc.bed_type = bt
        enc.boarding_since = e.now
        e.emit(enc.hospital, "seh.admission_requested", {"encounter_id": enc.id, "bed_type": bt})
        # Boarding until a bed is ready (longer when the wards are full: _try_admit).
        board = lognormal_mean(rng, 30.0, 0.6) * MINUTE
        e.at(e.now + board, self._try_admit, enc)

    def _try_admit(self, enc: Encounter) -> None:
        assert enc.seh is not None
        e = self.engine
        wards = self.wards
        cands = wards.ward_choice[(enc.seh.id, enc.bed_type)]
        free = [w for w in cands if wards.free(w) > 0]
        if not free:  # another ward of the hospital with that bed type
            free = [w for w in wards.locations if w.partner == enc.hospital
                    and w.bed_type == enc.bed_type and wards.free(w) > 0]
        if not free and e.now - enc.boarding_since < 10 * HOUR:
            # No bed: keep boarding and look again (bed managers free a bed or overflow).
            e.at(e.now + self.rng.uniform(15, 30) * MINUTE, self._try_admit, enc)
            return
        pool = free or cands
        ward = self.rng.choices(pool, [max(wards.free(w), 0) + 1 for w in pool])[0]
        e.emit(enc.hospital, "seh.departed", {"encounter_id": enc.id, "disposition": "admitted"})
        self.patients[enc.seh.id] -= 1
        wards.admit(enc, ward, acute=True)

    # ------------------------------------------------------------------ stop
    def _check_stop(self, seh: Location) -> None:
        e = self.engine
        sid = seh.id
        if (self.status[sid] == "open" and self.occupancy(sid) >= self.cal.stop_occupancy
                and e.now - self.status_since[sid] >= HOUR):
            until = e.now + int(self.rng.uniform(60, 120)) * MINUTE
            self.status[sid] = "stop"
            self.status_since[sid] = e.now
            e.emit(seh.partner, "seh.status_changed", {
                "location": sid, "status": "stop", "reason": "crowding", "expected_until": format_time(until)})
            e.at(until, self._stop_review, seh)

    def _stop_review(self, seh: Location) -> None:
        """Reopen at the planned time once the SEH has emptied (or after 4 h at most)."""
        e = self.engine
        sid = seh.id
        if self.status[sid] != "stop":
            return
        if self.occupancy(sid) < self.cal.reopen_occupancy or e.now - self.status_since[sid] >= 4 * HOUR:
            self.status[sid] = "open"
            self.status_since[sid] = e.now
            e.emit(seh.partner, "seh.status_changed", {"location": sid, "status": "open"})
        else:
            e.at(e.now + 30 * MINUTE, self._stop_review, seh)
