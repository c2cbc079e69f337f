"""Hospital wards: admissions, stays, transfers and discharges.

A ward takes acute patients from an SEH (`admit`), elective patients in weekday office
hours (`elective`) and, at the start of a run, the patients already there
(`initial_occupancy`). A stay lasts a lognormal number of days by bed type; IC and MC
patients mostly move on to a clinical ward of the same hospital (`ward.transferred`);
some clinical patients end medically ready but wait for a follow-up place in nursing or
home care (VVT, ELV, GRZ, district nursing, GGZ: `ward.discharge_ready`), longer under
the scenario's `vvt_shortage`. A few admissions and readiness reports are entered in
error and cancelled (`encounter.cancelled`), as partners' systems do.

The ward topology is here too: where each SEH admits to per bed type (`ward_choice`) and
the clinical wards of each hospital, which the SEH model and the rate split read.
"""

from __future__ import annotations

import math

from topics.registry import Location, Registry

from simulator.capacity import Capacity
from simulator.encounter import Encounter
from simulator.engine import DAY, HOUR, MINUTE, Engine, lognormal_mean
from simulator.scenario import Calibration, Scenario

# Elective admissions: weekday office hours.
_ELECTIVE_RAW = tuple(1.0 if 8 <= h < 17 else 0.05 for h in range(24))


class Wards:
    """The region's hospital wards and the patients in them."""

    def __init__(self, engine: Engine, registry: Registry, scenario: Scenario, calibration: Calibration,
                 capacity: Capacity) -> None:
        self.engine = engine
        self.rng = engine.rng
        self.sc = scenario
        self.cal = calibration
        self.staffed = capacity.staffed
        self.locations = [loc for loc in registry.locations.values() if loc.kind == "ward"]
        self.occupied = {w.id: 0 for w in self.locations}
        en = sum(_ELECTIVE_RAW[h] * (1.0 if wd < 5 else 0.15) for h in range(24) for wd in range(7)) / 168
        self._elective_norm = 1.0 / en
        #: The maximum of `elective_shape`.
        self.elective_shape_max = max(_ELECTIVE_RAW) * self._elective_norm

        # Where each SEH admits to: wards of the same site first, else of the hospital.
        self.ward_choice: dict[tuple[str, str], list[Location]] = {}
        for s in registry.sehs():
            site = s.id[: -len("-seh")] if s.id.endswith("-seh") else s.id
            same_hosp = [w for w in self.locations if w.partner == s.partner]
            for bt in ("clinical", "mc", "ic"):
                of_type = [w for w in same_hosp if w.bed_type == bt]
                on_site = [w for w in of_type if w.id.startswith(site + "-")]
                cands = on_site or of_type
                if not cands and bt != "clinical":
                    cands = [w for w in same_hosp if w.bed_type == "clinical"]
                if not cands:
                    cands = same_hosp
                self.ward_choice[(s.id, bt)] = cands
        self.clinical_of_hospital = {
            p.id: [w for w in self.locations if w.partner == p.id and w.bed_type == "clinical"]
            for p in registry.hospitals()
        }

    def elective_shape(self, t: int) -> float:
        """The relative rate of elective admissions at `t` (weekday office hours; mean 1)."""
        hour, wd = self.engine.local(t)
        return _ELECTIVE_RAW[hour] * (1.0 if wd < 5 else 0.15) * self._elective_norm

    def mean_stay_days(self, bed_type: str) -> float:
        """The mean stay on a ward of `bed_type`, including the wait for follow-up care."""
        mean, _ = self.cal.ward_los_days.get(bed_type, (5.0, 0.8))
        if bed_type == "clinical":
            waits = self.cal.follow_up_wait_days
            mean += self.cal.follow_up_share * self.sc.vvt_shortage * sum(waits.values()) / len(waits)
        return mean

    def free(self, w: Location) -> int:
        """Staffed beds of ward `w` not taken (negative when overfull)."""
        return self.staffed[w.id] - self.occupied[w.id]

    # ------------------------------------------------------------------ admissions
    def initial_occupancy(self) -> None:
        """Fill the wards to the scenario's `start_occupancy` with patients mid-stay."""
        e = self.engine
        rng, occ = self.rng, self.sc.start_occupancy
        for w in self.locations:
            n = round(occ * w.staffed_beds * rng.uniform(0.95, 1.05))
            bt = w.bed_type or "clinical"
            mean, sigma = self.cal.ward_los_days.get(bt, (5.0, 0.8))
            mu = math.log(mean) - sigma * sigma / 2
            for _ in range(n):
                enc = Encounter(e.new_id("E"), w.partner, None, e.now, "initial")
                enc.ward = w
                self.occupied[w.id] += 1
                e.emit(w.partner, "ward.admitted", {"encounter_id": enc.id, "location": w.id,
                                                    "acute": rng.random() < 0.7})
                # A patient present now has a length-biased stay; the rest of it is uniform.
                if bt == "clinical" and rng.random() < 0.06:
                    self._discharge_ready(enc)
                    continue
                total = rng.lognormvariate(mu + sigma * sigma, sigma) * DAY
                self._schedule_stay_end(enc, e.now + rng.random() * total)

    def elective(self, w: Location) -> None:
        """An elective admission to ward `w`."""
        e = self.engine
        enc = Encounter(e.new_id("E"), w.partner, None, e.now, "elective")
        self.admit(enc, w, acute=False)

    def admit(self, enc: Encounter, ward: Location, acute: bool) -> None:
        """Admit `enc` to `ward` now (from the SEH when `acute`) and schedule its stay."""
        e = self.engine
        rng = self.rng
        enc.ward = ward
        self.occupied[ward.id] += 1
        e.emit(enc.hospital, "ward.admitted", {"encounter_id": enc.id, "location": ward.id, "acute": acute})
        if rng.random() < 0.002:
            # Entered in error (wrong ward): cancelled and re-done a little later.
            e.at(e.now + rng.uniform(5, 30) * MINUTE, self._cancel_admission, enc, acute)
        self._start_stay(enc, ward.bed_type or "clinical")

    def _cancel_admission(self, enc: Encounter, acute: bool) -> None:
        if enc.ward is None:
            return
        e = self.engine
        e.emit(enc.hospital, "encounter.cancelled", {"encounter_id": enc.id, "cancelled_type": "ward.admitted"})
        self.occupied[enc.ward.id] -= 1
        old = enc.ward
        enc.ward = None
        enc.stay_gen += 1
        cands = self.clinical_of_hospital.get(enc.hospital) or [old]
        if old.bed_type != "clinical":
            cands = [w for w in self.locations if w.partner == enc.hospital and w.bed_type == old.bed_type] or [old]
        new = self.rng.choice(cands)
        e.at(e.now + self.rng.uniform(1, 5) * MINUTE, self._readmit, enc, new, acute)

    def _readmit(self, enc: Encounter, ward: Location, acute: bool) -> None:
        enc.ward = ward
        self.occupied[ward.id] += 1
        self.engine.emit(enc.hospital, "ward.admitted", {"encounter_id": enc.id, "location": ward.id, "acute": acute})
        self._start_stay(enc, ward.bed_type or "clinical")

    # ------------------------------------------------------------------ stays
    def _start_stay(self, enc: Encounter, bed_type: str) -> None:
        mean, sigma = self.cal.ward_los_days.get(bed_type, (5.0, 0.8))
        los = max(2 * HOUR, lognormal_mean(self.rng, mean, sigma) * DAY)
        self._schedule_stay_end(enc, self.engine.now + los)

    def _schedule_stay_end(self, enc: Encounter, t: float) -> None:
        enc.stay_gen += 1
        self.engine.at(t, self._stay_end, enc, enc.stay_gen)

    def _stay_end(self, enc: Encounter, gen: int) -> None:
        if gen != enc.stay_gen or enc.ward is None:
            return
        e = self.engine
        rng = self.rng
        ward = enc.ward
        bt = ward.bed_type or "clinical"
        if bt in ("ic", "mc") and rng.random() < (0.75 if bt == "ic" else 0.55):
            cands = self.clinical_of_hospital.get(enc.hospital) or []
            if cands:
                new = rng.choices(cands, [max(self.free(w), 0) + 1 for w in cands])[0]
                self.occupied[ward.id] -= 1
                self.occupied[new.id] += 1
                enc.ward = new
                e.emit(enc.hospital, "ward.transferred", {"encounter_id": enc.id, "location": new.id})
                mean, sigma = self.cal.ward_los_days.get("clinical", (5.0, 0.8))
                los = max(2 * HOUR, lognormal_mean(rng, mean * 0.8, sigma) * DAY)
                self._schedule_stay_end(enc, e.now + los)
                return
        if bt == "clinical" and rng.random() < self.cal.follow_up_share:
            self._discharge_ready(enc)
            return
        r = rng.random()
        dest = "home" if r < 0.90 else "other_hospital" if r < 0.93 else "deceased" if r < 0.96 else "other"
        self._discharge(enc, dest)

    # ------------------------------------------------------------------ discharges
    def _discharge_ready(self, enc: Encounter) -> None:
        e = self.engine
        rng = self.rng
        waiting = rng.choices(("vvt", "elv", "grz", "wijkverpleging", "ggz"), (0.35, 0.25, 0.2, 0.15, 0.05))[0]
        e.emit(enc.hospital, "ward.discharge_ready", {"encounter_id": enc.id, "waiting_for": waiting})
        enc.stay_gen += 1
        if rng.random() < 0.02:
            # Not medically ready after all: the readiness is cancelled, the stay goes on.
            e.at(e.now + rng.uniform(0.2, 1.0) * DAY, self._cancel_ready, enc, enc.stay_gen)
            return
        mean = self.cal.follow_up_wait_days.get(waiting, 2.0) * self.sc.vvt_shortage
        wait = lognormal_mean(rng, mean, 0.7) * DAY
        dest = {"wijkverpleging": "home"}.get(waiting, waiting)
        e.at(e.now + wait, self._ready_discharge, enc, enc.stay_gen, dest)

    def _cancel_ready(self, enc: Encounter, gen: int) -> None:
        if gen != enc.stay_gen or enc.ward is None:
            return
        e = self.engine
        e.emit(enc.hospital, "encounter.cancelled", {"encounter_id": enc.id, "cancelled_type": "ward.discharge_ready"})
        self._schedule_stay_end(enc, e.now + self.rng.uniform(1, 3) * DAY)

    def _ready_discharge(self, enc: Encounter, gen: int, dest: str) -> None:
        if gen != enc.stay_gen or enc.ward is None:
            return
        self._discharge(enc, dest)

    def _discharge(self, enc: Encounter, dest: str) -> None:
        assert enc.ward is not None
        self.engine.emit(enc.hospital, "ward.discharged", {"encounter_id": enc.id, "destination": dest})
        self.occupied[enc.ward.id] -= 1
        enc.ward = None
        enc.stay_gen += 1
