"""The rates of the arrival processes: the calibration split over a region's partners.

The calibration gives every SEH a target of `seh_visits_per_day * staffed_beds /
reference_seh_beds` visits a day and the share of each arrival mode. Those visits come
out of three processes: 112 ambulance rides, HAP calls that end in a referral, and
patients who come on their own. `Rates` sets each process's rate so that every SEH's
expected total is its target: the HAP calls from the HAP's referral share, the 112 rides
net of the rides the HAPs ask for, and the walk-ins fill up the rest (their mode mix
takes over the shares of the HAP and ambulance flows a region lacks). Electives per ward
top the acute bed-days up to the calibrated ward occupancy; the GGZ and ZCC lines get a
fixed share of the region's SEH visits as calls.
"""

from __future__ import annotations

from simulator.ambulance import HAP_RIDE_URGENCY_W, RIDE_URGENCY_W, Ambulances, transported_share
from simulator.calls import Calls
from simulator.scenario import Calibration
from simulator.seh import Sehs
from simulator.wards import Wards


class Rates:
    """Daily rates of every arrival process of a region, and the walk-in mode mix."""

    def __init__(self, calibration: Calibration, sehs: Sehs, wards: Wards, ambulances: Ambulances,
                 calls: Calls) -> None:
        cal = calibration
        self.target = {s.id: cal.seh_visits_per_day * s.staffed_beds / cal.reference_seh_beds for s in sehs.locations}
        total = sum(self.target.values())
        self.total_target = total
        beds_total = sum(s.staffed_beds for s in sehs.locations) or 1
        seh_weight = {s.id: s.staffed_beds / beds_total for s in sehs.locations}

        # Split the calibrated visits into flows so each SEH's expected total is its target.
        hap_in = {s.id: 0.0 for s in sehs.locations}
        self.hap_calls_per_day: dict[str, float] = {}
        hap_ride_transported = 0.0
        p_tr_hap = transported_share(HAP_RIDE_URGENCY_W)
        if calls.haps and sehs.locations:
            per_hap = cal.hap_referral_share * total / len(calls.haps)
            for h in calls.haps:
                r_share, amb_share = calls.hap_outcome_shares(h)[0:2]
                n_calls = per_hap / r_share
                self.hap_calls_per_day[h] = n_calls
                ids, w = calls.hap_dest[h]
                for sid, wi in zip(ids, w):
                    hap_in[sid] += per_hap * wi / sum(w)
                if ambulances.ids:
                    hap_ride_transported += n_calls * amb_share * p_tr_hap
        amb_total = cal.ambulance_share * total if ambulances.ids else 0.0
        p_tr = transported_share(RIDE_URGENCY_W)
        self.rides_112_per_day = max(0.0, amb_total - hap_ride_transported) / p_tr
        amb_in = {sid: amb_total * seh_weight[sid] for sid in hap_in}
        walk_modes = {
            "gp_referral": cal.gp_referral_share + (0 if calls.haps else cal.hap_referral_share),
            "specialist_referral": cal.specialist_referral_share,
            "other": cal.other_share,
        }
        walk_modes["self_referral"] = max(
            0.0, 1 - cal.ambulance_share - cal.hap_referral_share - cal.gp_referral_share
            - cal.specialist_referral_share - cal.other_share,
        ) + (0 if ambulances.ids else cal.ambulance_share)
        wsum = sum(walk_modes.values())
        #: The arrival modes of patients who come on their own, and their weights.
        self.walk_modes = list(walk_modes)
        self.walk_weights = [v / wsum for v in walk_modes.values()]
        self.walk_in = {sid: max(0.0, self.target[sid] - amb_in[sid] - hap_in[sid]) for sid in hap_in}

        # Calls to the GGZ crisis services and the ZCCs, per partner.
        self.ggz_calls_per_day = 0.06 * total / len(calls.ggzs) if calls.ggzs else 0.0
        self.zcc_calls_per_day = 0.15 * total / len(calls.zccs) if calls.zccs else 0.0

        self.elective_per_day = self._electives(cal, sehs, wards)

    def _electives(self, cal: Calibration, sehs: Sehs, wards: Wards) -> dict[str, float]:
        """Elective admissions per ward: top up the acute bed-days to the target occupancy."""
        p_admit = 0.37
        bt_mix = {"clinical": 0.85, "mc": 0.09, "ic": 0.06}
        acute_days = {w.id: 0.0 for w in wards.locations}
        for s in sehs.locations:
            for bt, share in bt_mix.items():
                cands = wards.ward_choice[(s.id, bt)]
                if not cands:
                    continue
                inflow = self.target[s.id] * p_admit * share
                beds = sum(c.staffed_beds for c in cands) or 1
                for c in cands:
                    c_bt = c.bed_type or "clinical"
                    acute_days[c.id] += inflow * c.staffed_beds / beds * wards.mean_stay_days(c_bt)
                    # IC/MC patients mostly move on to a clinical ward of the hospital.
                    p_move = {"ic": 0.75, "mc": 0.55}.get(c_bt, 0.0)
                    clin = wards.clinical_of_hospital.get(c.partner) or []
                    clin_beds = sum(w.staffed_beds for w in clin) or 1
                    for w in clin:
                        acute_days[w.id] += (inflow * c.staffed_beds / beds * p_move * w.staffed_beds
                                             / clin_beds * 0.8 * wards.mean_stay_days("clinical"))
        # IC/MC first: their electives (post-operative care) move on to clinical wards too.
        rates: dict[str, float] = {}
        for w in sorted(wards.locations, key=lambda w: w.bed_type == "clinical"):
            bt = w.bed_type or "clinical"
            need = cal.ward_target_occupancy * w.staffed_beds - acute_days[w.id]
            rate = max(0.0, need / wards.mean_stay_days(bt))
            rates[w.id] = rate
            p_move = {"ic": 0.75, "mc": 0.55}.get(bt, 0.0)
            clin = wards.clinical_of_hospital.get(w.partner) or []
            clin_beds = sum(c.staffed_beds for c in clin) or 1
            for c in clin:
                acute_days[c.id] += rate * p_move * c.staffed_beds / clin_beds * 0.8 * wards.mean_stay_days("clinical")
        return {w.id: rates[w.id] for w in wards.locations}
