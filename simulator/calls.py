"""Calls to the triage lines: GP out-of-hours posts (HAP), crisis mental health (GGZ) and
the care coordination centres of nursing and home care (ZCC).

Every call is received, triaged (urgency U0-U5, each service its own mix) and completed
with an outcome. Most stay in first-line care; a HAP call can end in an SEH referral (the
patient arrives at an SEH, preferably in the HAP's own town, some 40 minutes later) or in
an ambulance ride (always for U0/U1 when the region has an ambulance service). The share
kept in first-line care is calibrated per HAP (`hap_first_line_share`), and the rate
split reads the HAP's referral and ride shares here (`hap_outcome_shares`).
"""

from __future__ import annotations

from typing import Any

from topics.registry import Registry

from simulator.ambulance import Ambulances
from simulator.engine import MINUTE, Engine, lognormal_median
from simulator.scenario import Calibration
from simulator.seh import URGENCY, Sehs

# Call triage urgency mix (over U0-U5) per service.
_CALL_URGENCY_W = {"hap": (0.0, 0.01, 0.08, 0.27, 0.40, 0.24), "ggz": (0.0, 0.02, 0.25, 0.45, 0.23, 0.05),
                   "zcc": (0.0, 0.0, 0.10, 0.45, 0.35, 0.10)}


def _tokens(ident: str) -> set[str]:
    return {t for t in ident.split("-") if t not in ("seh", "hap", "ggz", "zcc", "rav")}


class Calls:
    """The region's HAP, GGZ and ZCC lines and their calls."""

    def __init__(self, engine: Engine, registry: Registry, calibration: Calibration, sehs: Sehs,
                 ambulances: Ambulances) -> None:
        self.engine = engine
        self.rng = engine.rng
        self.reg = registry
        self.sehs = sehs
        self.ambulances = ambulances
        kinds = lambda k: [p.id for p in registry.partners.values() if p.kind == k]  # noqa: E731
        self.haps, self.ggzs, self.zccs = kinds("hap"), kinds("ggz"), kinds("zcc")

        # HAP referral destinations (same-named town preferred) and first-line shares.
        self.hap_dest: dict[str, tuple[list[str], list[float]]] = {}
        self.hap_first_line: dict[str, float] = {}
        for h in self.haps:
            ids = [s.id for s in sehs.locations]
            w = [s.staffed_beds * (4.0 if _tokens(h) & _tokens(s.id) else 1.0) for s in sehs.locations]
            self.hap_dest[h] = (ids, w)
            self.hap_first_line[h] = calibration.hap_first_line_share.get(h, calibration.hap_first_line_default)

    def hap_outcome_shares(self, hap: str) -> tuple[float, float, list[str], list[float]]:
        """(SEH referral share, ambulance share, outcomes, their weights) of a HAP's calls."""
        f = self.hap_first_line[hap]
        rest = 1 - f
        outcomes = ["self_care", "appointment", "home_visit", "seh_referral", "ambulance", "ggz_referral", "other"]
        weights = [f * 0.35, f * 0.50, f * 0.15, rest * 0.67, rest * 0.10, rest * 0.03, rest * 0.20]
        return rest * 0.67, rest * 0.10, outcomes, weights

    def hap_call(self, hap: str) -> None:
        """A call to a HAP: triaged 1-10 minutes later."""
        e = self.engine
        rng = self.rng
        call_id = e.new_id("C")
        e.emit(hap, "call.received", {"call_id": call_id, "service": "hap"})
        urgency = self._urgency("hap")
        e.at(e.now + rng.uniform(1, 10) * MINUTE, self._triaged, hap, call_id, urgency, "hap")

    def ggz_or_zcc_call(self, partner: str, service: str) -> None:
        """A call to a GGZ crisis service (`service="ggz"`) or a ZCC (`"zcc"`): triaged
        2-15 minutes later."""
        e = self.engine
        call_id = e.new_id("C")
        e.emit(partner, "call.received", {"call_id": call_id, "service": service})
        e.at(e.now + self.rng.uniform(2, 15) * MINUTE, self._triaged, partner, call_id,
             self._urgency(service), service)

    def _urgency(self, service: str) -> str:
        return self.rng.choices(URGENCY, _CALL_URGENCY_W[service])[0]

    def _triaged(self, partner: str, call_id: str, urgency: str, service: str) -> None:
        e = self.engine
        rng = self.rng
        e.emit(partner, "call.triaged", {"call_id": call_id, "urgency": urgency})
        if service == "hap":
            _, _, outcomes, weights = self.hap_outcome_shares(partner)
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
        done = e.now + (rng.uniform(1, 5) if outcome == "ambulance" else rng.uniform(3, 30)) * MINUTE
        e.at(done, self._completed, partner, call_id, outcome)

    def _completed(self, partner: str, call_id: str, outcome: str) -> None:
        e = self.engine
        rng = self.rng
        data: dict[str, Any] = {"call_id": call_id, "outcome": outcome}
        if outcome == "seh_referral":
            sehs = self.sehs.locations
            ids, w = self.hap_dest.get(partner) or ([s.id for s in sehs], [s.staffed_beds for s in sehs])
            dest = rng.choices(ids, w)[0]
            data["destination"] = dest
            e.emit(partner, "call.completed", data)
            travel = max(10.0, lognormal_median(rng, 40.0, 0.5)) * MINUTE
            e.at(e.now + travel, self.sehs.arrive, self.reg.locations[dest], "hap_referral", None, call_id)
            return
        e.emit(partner, "call.completed", data)
        if outcome == "ambulance":
            self.ambulances.hap_ride(call_id)
