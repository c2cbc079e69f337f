"""The generator core: a seeded discrete-event simulation of a region's partners.

`generate(registry, start_ms=..., duration_ms=..., seed=...)` yields
`(topic, key, cloudevent_dict)` in non-decreasing event time. A heap holds the pending
future actions (an arrival, a triage, a discharge...); popping it in time order runs each
action, which emits the events of that moment and schedules what follows. The only
source of randomness is one `random.Random(seed)` and nothing reads the wall clock, so a
seed always gives the same stream.

Rates scale with the registry: each SEH gets `60 * staffed_beds / 22` visits/day
(calibration), split over arrival modes so that ambulance, HAP-referred and walk-in
patients add up to that target per SEH. Wards start `start_occupancy` full and electives
top them up to the calibrated steady state.
"""

from __future__ import annotations

from collections.abc import Iterator

from topics.registry import Registry

from simulator.ambulance import HAP_RIDE_URGENCY_W, RIDE_URGENCY_W, Ambulances, transported_share
from simulator.calls import Calls
from simulator.capacity import Capacity
from simulator.engine import (
    DIURNAL,
    Engine,
    Item,
    envelope,
    topic_of,
)
from simulator.scenario import Calibration, Scenario
from simulator.seh import Sehs
from simulator.wards import Wards

__all__ = ["Item", "Simulation", "envelope", "generate", "topic_of"]


class Simulation(Engine):
    """One run. Use :func:`generate`; the class is public for tests and the demo."""

    def __init__(self, registry: Registry, *, start_ms: int, duration_ms: int, seed: int,
                 scenario: Scenario | None = None, calibration: Calibration | None = None) -> None:
        self.reg = registry
        self.cal = calibration or Calibration()
        super().__init__(start_ms=start_ms, duration_ms=duration_ms, seed=seed, scenario=scenario or Scenario())
        self.capacity = Capacity(self, registry, self.cal)
        self.wards = Wards(self, registry, self.cal, self.capacity)
        self.sehs = Sehs(self, registry, self.cal, self.capacity, self.wards)
        self.ambulances = Ambulances(self, registry, self.sehs)
        self.calls = Calls(self, registry, self.cal, self.sehs, self.ambulances)
        self._layout()

    def run(self) -> Iterator[Item]:
        self._begin()
        yield from super().run()

    # ------------------------------------------------------------------ layout
    def _layout(self) -> None:
        cal = self.cal
        self.target = {s.id: cal.seh_visits_per_day * s.staffed_beds / cal.reference_seh_beds for s in self.sehs.locations}
        total = sum(self.target.values())
        self.total_target = total
        beds_total = sum(s.staffed_beds for s in self.sehs.locations) or 1
        self.seh_weight = {s.id: s.staffed_beds / beds_total for s in self.sehs.locations}

        # Split the calibrated visits into flows so each SEH's expected total is its target.
        hap_in = {s.id: 0.0 for s in self.sehs.locations}
        self.hap_calls_per_day: dict[str, float] = {}
        hap_ride_transported = 0.0
        p_tr_hap = transported_share(HAP_RIDE_URGENCY_W)
        if self.calls.haps and self.sehs.locations:
            per_hap = cal.hap_referral_share * total / len(self.calls.haps)
            for h in self.calls.haps:
                r_share, amb_share = self.calls.hap_outcome_shares(h)[0:2]
                calls = per_hap / r_share
                self.hap_calls_per_day[h] = calls
                ids, w = self.calls.hap_dest[h]
                for sid, wi in zip(ids, w):
                    hap_in[sid] += per_hap * wi / sum(w)
                if self.ambulances.ids:
                    hap_ride_transported += calls * amb_share * p_tr_hap
        amb_total = cal.ambulance_share * total if self.ambulances.ids else 0.0
        p_tr = transported_share(RIDE_URGENCY_W)
        self.rides_112_per_day = max(0.0, amb_total - hap_ride_transported) / p_tr
        amb_in = {sid: amb_total * self.seh_weight[sid] for sid in hap_in}
        walk_modes = {
            "gp_referral": cal.gp_referral_share + (0 if self.calls.haps else cal.hap_referral_share),
            "specialist_referral": cal.specialist_referral_share,
            "other": cal.other_share,
        }
        walk_modes["self_referral"] = max(
            0.0, 1 - cal.ambulance_share - cal.hap_referral_share - cal.gp_referral_share
            - cal.specialist_referral_share - cal.other_share,
        ) + (0 if self.ambulances.ids else cal.ambulance_share)
        wsum = sum(walk_modes.values())
        self.walk_modes = list(walk_modes)
        self.walk_weights = [v / wsum for v in walk_modes.values()]
        self.walk_in = {sid: max(0.0, self.target[sid] - amb_in[sid] - hap_in[sid]) for sid in hap_in}

        # Elective admissions per ward: top up the acute bed-days to the target occupancy.
        p_admit = 0.37
        bt_mix = {"clinical": 0.85, "mc": 0.09, "ic": 0.06}
        acute_days = {w.id: 0.0 for w in self.wards.locations}
        for s in self.sehs.locations:
            for bt, share in bt_mix.items():
                cands = self.wards.ward_choice[(s.id, bt)]
                if not cands:
                    continue
                inflow = self.target[s.id] * p_admit * share
                beds = sum(c.staffed_beds for c in cands) or 1
                for c in cands:
                    c_bt = c.bed_type or "clinical"
                    acute_days[c.id] += inflow * c.staffed_beds / beds * self.wards.mean_stay_days(c_bt)
                    # IC/MC patients mostly move on to a clinical ward of the hospital.
                    p_move = {"ic": 0.75, "mc": 0.55}.get(c_bt, 0.0)
                    clin = self.wards.clinical_of_hospital.get(c.partner) or []
                    clin_beds = sum(w.staffed_beds for w in clin) or 1
                    for w in clin:
                        acute_days[w.id] += (inflow * c.staffed_beds / beds * p_move * w.staffed_beds
                                             / clin_beds * 0.8 * self.wards.mean_stay_days("clinical"))
        # IC/MC first: their electives (post-operative care) move on to clinical wards too.
        self.elective_per_day = {}
        for w in sorted(self.wards.locations, key=lambda w: w.bed_type == "clinical"):
            bt = w.bed_type or "clinical"
            need = cal.ward_target_occupancy * w.staffed_beds - acute_days[w.id]
            rate = max(0.0, need / self.wards.mean_stay_days(bt))
            self.elective_per_day[w.id] = rate
            p_move = {"ic": 0.75, "mc": 0.55}.get(bt, 0.0)
            clin = self.wards.clinical_of_hospital.get(w.partner) or []
            clin_beds = sum(c.staffed_beds for c in clin) or 1
            for c in clin:
                acute_days[c.id] += rate * p_move * c.staffed_beds / clin_beds * 0.8 * self.wards.mean_stay_days("clinical")
        self.elective_per_day = {w.id: self.elective_per_day[w.id] for w in self.wards.locations}

    # ------------------------------------------------------------------ start
    def _begin(self) -> None:
        self.at(self.start, self.capacity.report_round)
        if self.sc.start_occupancy > 0:
            self.at(self.start, self.wards.initial_occupancy)
        t0 = float(self.start)
        for s in self.sehs.locations:
            if self.walk_in[s.id] > 0:
                self.start_process(self.walk_in[s.id], self.diurnal_surge, max(DIURNAL),
                                    lambda s=s: self.sehs.walk_in(s, self.walk_modes, self.walk_weights), t0)
        if self.ambulances.ids and self.rides_112_per_day > 0:
            self.start_process(self.rides_112_per_day, self.diurnal_surge, max(DIURNAL), self.ambulances.ride_112, t0)
        for h in self.calls.haps:
            self.start_process(self.hap_calls_per_day[h], self.diurnal_surge, max(DIURNAL),
                                lambda h=h: self.calls.hap_call(h), t0)
        for g in self.calls.ggzs:
            self.start_process(0.06 * self.total_target / len(self.calls.ggzs), self.diurnal_surge, max(DIURNAL),
                                lambda g=g: self.calls.ggz_or_zcc_call(g, "ggz"), t0)
        for z in self.calls.zccs:
            self.start_process(0.15 * self.total_target / len(self.calls.zccs), self.diurnal_surge, max(DIURNAL),
                                lambda z=z: self.calls.ggz_or_zcc_call(z, "zcc"), t0)
        for w in self.wards.locations:
            if self.elective_per_day[w.id] > 0:
                self.start_process(self.elective_per_day[w.id], self.wards.elective_shape,
                                    self.wards.elective_shape_max,
                                    lambda w=w: self.wards.elective(w), t0, surge=False)
        inc = self.sc.major_incident
        if inc is not None and self.ambulances.ids and self.sehs.locations:
            self.at(inc.at_ms, self.ambulances.incident, inc.count)


def generate(registry: Registry, *, start_ms: int, duration_ms: int, seed: int,
             scenario: Scenario | None = None, calibration: Calibration | None = None) -> Iterator[Item]:
    """Yield `(topic, key, cloudevent)` for `duration_ms` of simulated region from `start_ms`.

    Events come in non-decreasing event time; the key is the partner id; the same
    arguments always give the same events.
    """
    return Simulation(registry, start_ms=start_ms, duration_ms=duration_ms, seed=seed,
                      scenario=scenario, calibration=calibration).run()
