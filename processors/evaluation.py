"""When the alert rules of a region run (processors.rules says what they are).

A region has hundreds of rule subjects (partners, SEHs, hospitals, escalation levels)
and an evaluation runs at every instant of the stream, yet a step changes nothing
unless the rule's inputs changed or time passed one of its deadlines
(`rules.seh_deadline`, `rules.hospital_deadline`, kept in processors.scheduler's
`Deadlines`). `Rules` steps only those subjects, with the same outcome, in the same
order, as stepping every rule of every subject.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, AbstractSet, Any, Iterable

from processors import escalation
from processors.rules import (
    Alert,
    escalation_rules,
    feed_silent,
    forecast_step,
    hospital_deadline,
    hospital_long_stay,
    hospital_rules,
    hospital_stats,
    seh_rules,
)
from processors.scheduler import Deadlines
from processors.windows import minute_of

if TYPE_CHECKING:
    from processors.view import RegionView


class Rules:
    """Steps the rules of a region at `p.now`, with the same outcome, in the same order, as
    stepping every rule of every subject.

    A region has hundreds of rule subjects and an evaluation runs at every instant of the
    stream, yet a step changes nothing unless the rule's inputs changed or time passed
    one of its deadlines. So only these are stepped: the partners that sent events and
    the SEHs touched since the last evaluation, plus those whose deadline has come
    (processors.scheduler); the hospitals when one of their wards was touched or the
    minute moved; the escalation from figures kept up to date by deltas. All of it is
    derived: after a restore the first evaluation steps everything once.
    """

    def __init__(self, p: RegionView) -> None:
        self.p = p
        # Step every subject at the next evaluation (the first one, and after a restore,
        # when nothing is known about what changed).
        self.everything = True
        self.partners_touched: set[str] = set()  # partners with events since the last evaluation
        self.partner_due = Deadlines()  # a partner turns silent
        self.seh_due = Deadlines()  # an SEH's rule may flip by time (seh_deadline)
        self.forecast_minute: int | None = None  # the stream minute of the last forecast steps
        self.seh_set = frozenset(p.seh_ids)
        # The NEDOCS level of every SEH as of its last step, in registry order: the
        # escalation reads all of them, the evaluation only refreshes the stepped ones.
        self.seh_levels: dict[str, int | None] = {s: None for s in p.seh_ids}
        # Hospital ward figures (hospital_stats) as of their last step, reused while no
        # ward of the hospital is touched.
        self.hosp_stats: dict[str, dict[str, Any]] = {}
        # A hospital's rule may flip by time (hospital_deadline); looked at only when the
        # minute moves, as the rules of an untouched hospital always were.
        self.hosp_due = Deadlines()
        # Regional ward sums for the escalation, kept by adding the change of each
        # hospital's figures rather than summed over all wards at every evaluation
        # (integers, so the running sums are exact).
        self.reg_occ: dict[str, int] = {}
        self.reg_staffed: dict[str, int] = {}
        self.reg_wb = 0
        # The escalation conditions are a pure function of their inputs: the last inputs
        # and their reasons per level, recomputed only when the inputs change.
        self.esc_key: Any = None
        self.esc_reasons: dict[int, list[str]] = {}

    def touch_partner(self, pid: str) -> None:
        """Partner `pid` sent an event: step its feed_silent rule at the next evaluation."""
        self.partners_touched.add(pid)

    def evaluate(self, touched: set[str], reported: AbstractSet[str] = frozenset()) -> list[Alert]:
        """Step the rules at `p.now`; `touched`: the locations whose figures changed since
        the last evaluation; `reported`: those reported on without a change (their rules
        that move with the clock are stepped, as at a new minute). Returns the alerts
        raised and resolved, in rule order."""
        out: list[Alert] = []
        now = self.p.now
        if now is None:
            return out
        everything = self.everything
        self.everything = False
        self._partners(out, now, everything)
        self._sehs(out, now, everything, touched, reported)
        self._hospitals(out, now, touched, reported)
        self._escalation(out)
        return out

    def _partners(self, out: list[Alert], now: int, everything: bool) -> None:
        p = self.p
        pids: Iterable[str]
        if everything:
            pids = sorted(p.partners)
        else:
            due = self.partners_touched
            self.partner_due.pop_due(now, due)
            pids = sorted(due) if len(due) > 1 else due
        self.partners_touched = set()
        for pid in pids:
            turns_silent = feed_silent(p, out, pid, now)
            if turns_silent is not None:
                self.partner_due.set(pid, turns_silent)

    def _sehs(self, out: list[Alert], now: int, everything: bool, touched: set[str], reported: AbstractSet[str]) -> None:
        p = self.p
        minute = minute_of(now)
        new_minute = minute != self.forecast_minute
        self.forecast_minute = minute
        if everything:
            due: AbstractSet[str] = self.seh_set  # a frozenset
        else:
            due = touched & self.seh_set
            self.seh_due.pop_due(now, due)
        # At a new minute every SEH is visited in SEH order: the forecast moves with the
        # clock, so its rule is stepped for all of them, the other rules only where the
        # inputs changed or a deadline came (elsewhere their step would change nothing).
        # (an SEH reported on without a change gets the same forecast-only step now)
        visit = due | (reported & self.seh_set) if reported else due
        sehs: Iterable[str] = p.seh_ids if new_minute else sorted(visit) if len(visit) > 1 else visit
        levels = self.seh_levels
        for lid in sehs:
            if lid in due:
                level, deadline = seh_rules(p, out, lid, now)
                self.seh_due.set(lid, deadline)
            else:
                level, forecast_due = forecast_step(p, out, lid)
                # the SEH's other rules keep their deadline; the forecast's timer may
                # mature before it
                self.seh_due.at_most(lid, forecast_due)
            levels[lid] = level

    def _hospitals(self, out: list[Alert], now: int, touched: set[str], reported: AbstractSet[str]) -> None:
        # A hospital's ward figures only change when one of its wards is touched; the
        # time-driven parts (waits of days, long stays) are looked at when the stream
        # minute changes, in the hospitals whose deadline has come. Untouched hospitals
        # reuse their figures.
        p = self.p
        minute_moved = minute_of(now) != p.snap_min
        locations = p.registry.locations
        touched_h = {locations[lid].partner for lid in touched}
        # of those, the hospitals whose ward figures can have changed: a touched SEH
        # steps its hospital's rules, but leaves the ward figures as they were
        wards_h = {locations[lid].partner for lid in touched if locations[lid].kind != "seh"}
        # hospitals with a location reported on without a change: stepped with their
        # figures reused (only the long stays move), as at a new minute
        reported_h = {locations[lid].partner for lid in reported} - touched_h if reported else set()
        due: set[str] = set()
        if minute_moved:
            self.hosp_due.pop_due(now, due)
        complete = len(self.hosp_stats) == len(p.hospital_ids)
        hosp_iter = p.hospital_ids if not complete else sorted(
            (touched_h | reported_h | due).intersection(p.hospital_ids))
        for hosp in hosp_iter:
            known = hosp in self.hosp_stats
            step = hosp in touched_h or hosp in reported_h or (minute_moved and (hosp in due or not known))
            if not step and known:
                continue
            prev = self.hosp_stats.get(hosp)
            if prev is not None and hosp not in wards_h:
                # No ward touched, only the clock moved: of its figures only the long
                # stays depend on time (occupancy, wrong-bed counts and oldest wait do not).
                stats = dict(prev, ls=hospital_long_stay(p, hosp))
            else:
                stats = hospital_stats(p, hosp)
                self._add_to_region(prev, stats)
            self.hosp_stats[hosp] = stats
            if not step:
                # (after a restore) figures only, the rules keep their state: looked at
                # from the next minute on
                self.hosp_due.set(hosp, now + 1)
                continue
            hospital_rules(p, out, hosp, stats, now)
            self.hosp_due.set(hosp, hospital_deadline(p, hosp, stats, now))

    def _add_to_region(self, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        """Move the regional ward sums from one hospital's `old` figures to its `new` ones."""
        occ, staffed = self.reg_occ, self.reg_staffed
        if old is not None:
            for bt, n in old["occ_bt"].items():
                occ[bt] -= n
            for bt, n in old["staffed_bt"].items():
                staffed[bt] -= n
            self.reg_wb -= old["wb"]
        for bt, n in new["occ_bt"].items():
            occ[bt] = occ.get(bt, 0) + n
        for bt, n in new["staffed_bt"].items():
            staffed[bt] = staffed.get(bt, 0) + n
        self.reg_wb += new["wb"]

    def _escalation(self, out: list[Alert]) -> None:
        reg_occ, reg_staffed = self.reg_occ, self.reg_staffed
        occupancy = {bt: (reg_occ[bt] / reg_staffed[bt] if reg_staffed[bt] else None) for bt in sorted(reg_staffed)}
        total_occ = sum(reg_occ.values())
        wb_share = self.reg_wb / total_occ if total_occ else None
        key = (tuple(self.seh_levels.values()), tuple(occupancy.items()), wb_share)
        if key != self.esc_key:
            reasons = escalation.conditions(self.p.th, self.seh_levels, occupancy, wb_share)
            self.esc_key = key
            self.esc_reasons = {level: escalation.at_least(reasons, level) for level in escalation.LEVELS}
        escalation_rules(self.p, out, self.esc_reasons, self.seh_levels, occupancy, wb_share)
