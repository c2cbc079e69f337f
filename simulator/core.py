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
from typing import Any

from topics.registry import Registry

from simulator.ambulance import HAP_RIDE_URGENCY_W, RIDE_URGENCY_W, Ambulances, transported_share
from simulator.capacity import Capacity
from simulator.engine import (
    DIURNAL,
    MINUTE,
    Engine,
    Item,
    envelope,
    lognormal_median,
    topic_of,
)
from simulator.scenario import Calibration, Scenario
from simulator.seh import URGENCY, Sehs
from simulator.wards import Wards

__all__ = ["Item", "Simulation", "envelope", "generate", "topic_of"]

def _tokens(ident: str) -> set[str]:
    return {t for t in ident.split("-") if t not in ("seh", "hap", "ggz", "zcc", "rav")}


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
        self._layout()

    def run(self) -> Iterator[Item]:
        self._begin()
        yield from super().run()

    # ------------------------------------------------------------------ layout
    def _layout(self) -> None:
        reg, cal = self.reg, self.cal
        kinds = lambda k: [p.id for p in reg.partners.values() if p.kind == k]  # noqa: E731
        self.haps = kinds("hap")
        self.ggzs, self.zccs = kinds("ggz"), kinds("zcc")
        self.target = {s.id: cal.seh_visits_per_day * s.staffed_beds / cal.reference_seh_beds for s in self.sehs.locations}
        total = sum(self.target.values())
        self.total_target = total
        beds_total = sum(s.staffed_beds for s in self.sehs.locations) or 1
        self.seh_weight = {s.id: s.staffed_beds / beds_total for s in self.sehs.locations}

        # HAP referral destinations (same-named town preferred) and first-line shares.
        self.hap_dest: dict[str, tuple[list[str], list[float]]] = {}
        self.hap_first_line: dict[str, float] = {}
        for h in self.haps:
            ids = [s.id for s in self.sehs.locations]
            w = [s.staffed_beds * (4.0 if _tokens(h) & _tokens(s.id) else 1.0) for s in self.sehs.locations]
            self.hap_dest[h] = (ids, w)
            self.hap_first_line[h] = cal.hap_first_line_share.get(h, cal.hap_first_line_default)

        # Split the calibrated visits into flows so each SEH's expected total is its target.
        hap_in = {s.id: 0.0 for s in self.sehs.locations}
        self.hap_calls_per_day: dict[str, float] = {}
        hap_ride_transported = 0.0
        p_tr_hap = transported_share(HAP_RIDE_URGENCY_W)
        if self.haps and self.sehs.locations:
            per_hap = cal.hap_referral_share * total / len(self.haps)
            for h in self.haps:
                r_share, amb_share = self._hap_outcome_shares(h)[0:2]
                calls = per_hap / r_share
                self.hap_calls_per_day[h] = calls
                ids, w = self.hap_dest[h]
                for sid, wi in zip(ids, w):
                    hap_in[sid] += per_hap * wi / sum(w)
                if self.ambulances.ids:
                    hap_ride_transported += calls * amb_share * p_tr_hap
        amb_total = cal.ambulance_share * total if self.ambulances.ids else 0.0
        p_tr = transported_share(RIDE_URGENCY_W)
        self.rides_112_per_day = max(0.0, amb_total - hap_ride_transported) / p_tr
        amb_in = {sid: amb_total * self.seh_weight[sid] for sid in hap_in}
        walk_modes = {
            "gp_referral": cal.gp_referral_share + (0 if self.haps else cal.hap_referral_share),
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

    def _hap_outcome_shares(self, hap: str) -> tuple[float, float, list[str], list[float]]:
        f = self.hap_first_line[hap]
        rest = 1 - f
        outcomes = ["self_care", "appointment", "home_visit", "seh_referral", "ambulance", "ggz_referral", "other"]
        weights = [f * 0.35, f * 0.50, f * 0.15, rest * 0.67, rest * 0.10, rest * 0.03, rest * 0.20]
        return rest * 0.67, rest * 0.10, outcomes, weights

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
        for h in self.haps:
            self.start_process(self.hap_calls_per_day[h], self.diurnal_surge, max(DIURNAL),
                                lambda h=h: self._hap_call(h), t0)
        for g in self.ggzs:
            self.start_process(0.06 * self.total_target / len(self.ggzs), self.diurnal_surge, max(DIURNAL),
                                lambda g=g: self._simple_call(g, "ggz"), t0)
        for z in self.zccs:
            self.start_process(0.15 * self.total_target / len(self.zccs), self.diurnal_surge, max(DIURNAL),
                                lambda z=z: self._simple_call(z, "zcc"), t0)
        for w in self.wards.locations:
            if self.elective_per_day[w.id] > 0:
                self.start_process(self.elective_per_day[w.id], self.wards.elective_shape,
                                    self.wards.elective_shape_max,
                                    lambda w=w: self.wards.elective(w), t0, surge=False)
        inc = self.sc.major_incident
        if inc is not None and self.ambulances.ids and self.sehs.locations:
            self.at(inc.at_ms, self.ambulances.incident, inc.count)

    # ------------------------------------------------------------------ calls
    def _call_urgency(self, service: str) -> str:
        w = {"hap": (0.0, 0.01, 0.08, 0.27, 0.40, 0.24), "ggz": (0.0, 0.02, 0.25, 0.45, 0.23, 0.05),
             "zcc": (0.0, 0.0, 0.10, 0.45, 0.35, 0.10)}[service]
        return self.rng.choices(URGENCY, w)[0]

    def _hap_call(self, hap: str) -> None:
        rng = self.rng
        call_id = self.new_id("C")
        self.emit(hap, "call.received", {"call_id": call_id, "service": "hap"})
        urgency = self._call_urgency("hap")
        self.at(self.now + rng.uniform(1, 10) * MINUTE, self._call_triaged, hap, call_id, urgency, "hap")

    def _simple_call(self, partner: str, service: str) -> None:
        call_id = self.new_id("C")
        self.emit(partner, "call.received", {"call_id": call_id, "service": service})
        self.at(self.now + self.rng.uniform(2, 15) * MINUTE, self._call_triaged, partner, call_id,
                self._call_urgency(service), service)

    def _call_triaged(self, partner: str, call_id: str, urgency: str, service: str) -> None:
        rng = self.rng
        self.emit(partner, "call.triaged", {"call_id": call_id, "urgency": urgency})
        if service == "hap":
            _, _, outcomes, weights = self._hap_outcome_shares(partner)
            outcome = rng.choices(outcomes, weights)[0]
            if urgency in ("U0", "U1") and self.ambulances.ids:
                outcome = "ambulance"
        elif service == "ggz":
            outcome = rng.choices(("ggz_referral", "home_visit", "appointment", "self_care", "other"),
                                  (0.40, 0.20, 0.20, 0.15, 0.05))[0]
        else:
            outcome = rng.choices(("appointment", "home_visit", "self_care", "other"), (0.3, 0.3, 0.1, 0.3))[0]
        if outcome == "ambulance" and not self.ambulances.ids:
            outcome = "other"
        if outcome == "seh_referral" and not self.sehs.locations:
            outcome = "other"
        done = self.now + (rng.uniform(1, 5) if outcome == "ambulance" else rng.uniform(3, 30)) * MINUTE
        self.at(done, self._call_completed, partner, call_id, outcome)

    def _call_completed(self, partner: str, call_id: str, outcome: str) -> None:
        rng = self.rng
        data: dict[str, Any] = {"call_id": call_id, "outcome": outcome}
        if outcome == "seh_referral":
            ids, w = self.hap_dest.get(partner) or ([s.id for s in self.sehs.locations], [s.staffed_beds for s in self.sehs.locations])
            dest = rng.choices(ids, w)[0]
            data["destination"] = dest
            self.emit(partner, "call.completed", data)
            travel = max(10.0, lognormal_median(rng, 40.0, 0.5)) * MINUTE
            self.at(self.now + travel, self.sehs.arrive, self.reg.locations[dest], "hap_referral", None, call_id)
            return
        self.emit(partner, "call.completed", data)
        if outcome == "ambulance":
            self.ambulances.hap_ride(call_id)



def generate(registry: Registry, *, start_ms: int, duration_ms: int, seed: int,
             scenario: Scenario | None = None, calibration: Calibration | None = None) -> Iterator[Item]:
    """Yield `(topic, key, cloudevent)` for `duration_ms` of simulated region from `start_ms`.

    Events come in non-decreasing event time; the key is the partner id; the same
    arguments always give the same events.
    """
    return Simulation(registry, start_ms=start_ms, duration_ms=duration_ms, seed=seed,
                      scenario=scenario, calibration=calibration).run()
