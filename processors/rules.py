"""The alert rules of a region (metrics.md): what each rule is.

A rule watches one subject (a partner, an SEH, a hospital, an escalation level) and is
stepped as an alert episode (processors.alerts): a raise condition, a clear condition,
optionally "for N min", and the details an alert carries (values, thresholds, reasons).
The rules read the region's figures through the `RegionView` (processors.view) passed
in as `p` and keep their episode state in `p.rules` (`rule:{kind}:{subject}` entries).

The module is laid out as:
- what each rule is: `feed_silent`, `seh_rules`, `hospital_rules`, `escalation_rules`
  step the rules of one subject (their conditions and thresholds), and the figures some
  of them read (`hospital_stats`);
- `step_rule`: one episode step and the alert it raises or resolves;
- the `*_details` builders: what an alert says, built only when one is raised or resolved;
- `escalation_level`: the regional escalation level the open episodes amount to;
- `seh_deadline`, `hospital_deadline`: from when the passing of time alone may change
  the outcome of a subject's rules.

When the rules run (which subjects are stepped at an instant) is
`processors.evaluation`'s business.

Alerts come out as `processors.output.Output`; this module is imported by
`processors.region` and never imports it (it reads the region through its protocol).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Callable

from processors import alerts, escalation
from processors.output import Output
from processors.windows import MINUTE_MS
from topics.codec import format_time

if TYPE_CHECKING:
    from processors.crowding import SehFigures
    from processors.view import RegionView

DAY_MS = 86_400_000
HOUR_MS = 3_600_000

Alert = Output  # an Output of kind "alert.raised" or "alert.resolved"
Details = Callable[[], dict[str, Any]]


# ==================================================================== what each rule is
def feed_silent(p: RegionView, out: list[Alert], pid: str, now: int) -> int | None:
    """feed_silent: partner `pid` sent no event for its feed_silent_minutes (its own in the
    registry, else the region's). Returns when the partner turns silent if no event comes
    (None: silent already)."""
    last = p.partners[pid]
    silent_ms = p.silent_ms.get(pid, int(p.th.feed_silent_minutes * MINUTE_MS))
    silent = now - last >= silent_ms
    if silent or f"rule:feed_silent:{pid}" in p.rules:
        step_rule(p, out, "feed_silent", pid, silent, not silent, held_since=last + silent_ms,
                  details=partial(feed_details, p, pid, last))
    return None if silent else last + silent_ms


def seh_rules(p: RegionView, out: list[Alert], lid: str, now: int) -> tuple[int | None, int | None]:
    """seh_stop, seh_crowding, seh_crowding_forecast and handover_delay of SEH `lid`.
    Returns its NEDOCS level (for the regional escalation) and the time from which
    stepping these rules again may change something while the SEH's inputs stay the
    same (None: only when they change), the forecast aside: it moves with the clock,
    so `processors.evaluation.Rules` steps it alone at every new minute (`forecast_step`)."""
    th = p.th
    delay_ms = int(th.handover_delay_minutes * MINUTE_MS)
    raise_crowd_ms = int(th.crowding_for_minutes * MINUTE_MS)
    clear_crowd_ms = int(th.crowding_clear_minutes * MINUTE_MS)
    core = p.seh_core(lid)
    level = core.nedocs.level
    status, since = p.status(lid)
    stop = status == "stop"
    step_rule(p, out, "seh_stop", lid, stop, not stop, held_since=since,
              details=partial(stop_details, p, lid))
    crowded = level is not None and level >= th.nedocs_alert_level
    calm = level is None or level <= th.nedocs_alert_level - 1
    step_rule(p, out, "seh_crowding", lid, crowded, calm,
              raise_for_ms=raise_crowd_ms,
              clear_for_ms=clear_crowd_ms,
              details=partial(crowding_details, p, lid, core))
    forecast_rule(p, out, lid, level)
    hos = p.index.handovers.get(lid)
    oldest = hos[0] if hos else None
    longest = now - oldest if oldest is not None else 0
    step_rule(p, out, "handover_delay", lid, longest > delay_ms, longest < delay_ms,
              held_since=(oldest + delay_ms) if oldest is not None else None,
              details=partial(handover_details, p, lid))
    return level, seh_deadline(p, lid, core, oldest, delay_ms, raise_crowd_ms, clear_crowd_ms)


def forecast_step(p: RegionView, out: list[Alert], lid: str) -> tuple[int | None, int | None]:
    """An SEH whose inputs did not change and whose deadline has not come, at a new
    minute: of its rules only the forecast can move (its span slides with the clock), so
    only that one is stepped. Returns the NEDOCS level, as `seh_rules` does, and when
    the forecast's own timer matures (`forecast_deadline`; the step may have started it)."""
    level = p.seh_core(lid).nedocs.level
    forecast_rule(p, out, lid, level)
    return level, forecast_deadline(p, lid)


def forecast_rule(p: RegionView, out: list[Alert], lid: str, level: int | None) -> None:
    """seh_crowding_forecast: the predicted NEDOCS level in 60 min reaches the crowding
    alert level while the current level is below it, for `forecast_for_minutes`;
    resolved when the prediction stays below it for `forecast_clear_minutes`, or at
    once when crowding is actually reached (seh_crowding takes over)."""
    th = p.th
    alert_level = th.nedocs_alert_level
    fc = p.seh_forecast(lid)
    predicted = fc.predicted_level
    reached = level is not None and level >= alert_level
    coming = predicted is not None and predicted >= alert_level
    step_rule(p, out, "seh_crowding_forecast", lid, coming and level is not None and not reached,
              not coming or reached,
              raise_for_ms=int(th.forecast_for_minutes * MINUTE_MS),
              clear_for_ms=0 if reached else int(th.forecast_clear_minutes * MINUTE_MS),
              details=partial(forecast_details, p, lid, level, fc))


def hospital_rules(p: RegionView, out: list[Alert], hosp: str, stats: dict[str, Any], now: int) -> None:
    """wrong_bed and long_stay of hospital `hosp`, from its ward figures (`hospital_stats`)."""
    th = p.th
    max_wait_ms = int(th.wrong_bed_max_wait_days * DAY_MS)
    occ, wb, ls, oldest_ready = stats["occ"], stats["wb"], stats["ls"], stats["oldest_ready"]
    share = wb / occ if occ else None
    longest_wait = now - oldest_ready if oldest_ready is not None else 0
    over_share = share is not None and share >= th.wrong_bed_share
    over_wait = longest_wait > max_wait_ms
    step_rule(p, out, "wrong_bed", hosp, over_share or over_wait,
              (share is None or share < th.wrong_bed_clear_share) and not over_wait,
              details=partial(wrong_bed_details, p, hosp, share, wb, occ, longest_wait))
    step_rule(p, out, "long_stay", hosp, ls >= th.long_stay_alert_patients,
              ls < th.long_stay_alert_patients,
              details=partial(long_stay_details, p, hosp, ls))


def escalation_rules(
    p: RegionView,
    out: list[Alert],
    reasons: dict[int, list[str]],
    seh_levels: dict[str, int | None],
    occupancy: dict[str, float | None],
    wb_share: float | None,
) -> None:
    """regional_escalation, one episode per level: "at least level L" holds while
    `reasons[L]` is not empty (processors.escalation)."""
    th = p.th
    raised: list[Alert] = []
    resolved: list[Alert] = []
    for level in escalation.LEVELS:
        why = list(reasons[level])
        step_rule(p, raised, "regional_escalation", f"level{level}", bool(why), not why,
                  raise_for_ms=int(th.escalate_after_minutes * MINUTE_MS),
                  clear_for_ms=int(th.deescalate_after_minutes * MINUTE_MS),
                  details=partial(escalation_details, p, level, why, seh_levels, occupancy, wb_share),
                  resolved_out=resolved)
    out.extend(raised)  # climbing: 2 then 3 then 4
    out.extend(reversed(resolved))  # falling: 4 then 3 then 2


def hospital_stats(p: RegionView, hosp: str) -> dict[str, Any]:
    """The ward figures of a hospital the rules read: occupied beds, wrong-bed patients,
    long stays, the oldest wait for a follow-up place, and occupied and staffed beds per
    bed type (for the regional occupancy of the escalation)."""
    occ = wb = ls = 0
    oldest_ready: int | None = None
    occ_bt: dict[str, int] = {}
    staffed_bt: dict[str, int] = {}
    for w in p.wards_of.get(hosp, ()):
        bt = p.registry.locations[w].bed_type or "clinical"
        o = len(p.index.occupants.get(w, ()))
        occ += o
        occ_bt[bt] = occ_bt.get(bt, 0) + o
        staffed_bt[bt] = staffed_bt.get(bt, 0) + p.beds(w)
        wb += len(p.index.ready.get(w, ()))
        rs = p.index.ready_starts.get(w)
        if rs and (oldest_ready is None or rs[0] < oldest_ready):
            oldest_ready = rs[0]
        if o:
            ls += p.long_stay(w)
    return {"occ": occ, "wb": wb, "ls": ls, "oldest_ready": oldest_ready,
            "occ_bt": occ_bt, "staffed_bt": staffed_bt}


def hospital_long_stay(p: RegionView, hosp: str) -> int:
    """The long stays of a hospital's wards (the one ward figure that grows with time)."""
    ls = 0
    for w in p.wards_of.get(hosp, ()):
        if p.index.occupants.get(w):
            ls += p.long_stay(w)
    return ls


# ==================================================================== one episode step
def step_rule(
    p: RegionView,
    out: list[Alert],
    kind: str,
    subject: str,
    raise_cond: bool,
    clear_cond: bool,
    *,
    details: Details,
    raise_for_ms: int = 0,
    clear_for_ms: int = 0,
    held_since: int | None = None,
    resolved_out: list[Alert] | None = None,
) -> None:
    """Step the episode of rule `kind` for `subject` at `p.now` and append the alert it
    raises or resolves to `out` (a resolve to `resolved_out` when given). `details` is
    called only then: most steps change nothing and need no values or reasons."""
    rkey = f"rule:{kind}:{subject}"
    old = p.rules.get(rkey)
    if old is None and not raise_cond:
        return  # idle and nothing pending: the common case, no work
    now = p.now
    assert now is not None
    # The other states in which alerts.step would change nothing are answered here,
    # which saves its copy of the state on the many steps that only hold.
    if old is not None:
        if old["a"] is None:
            if raise_cond and now - old["p"] < raise_for_ms:
                return  # raise pending, not yet due
        elif not clear_cond:
            if old["c"] is None:
                return  # open episode, still holding
        elif old["c"] is not None and now - old["c"] < clear_for_ms:
            return  # clear pending, not yet due
    new, action = alerts.step(old, now, raise_cond, clear_cond, raise_for_ms, clear_for_ms, held_since)
    if action == alerts.RAISE:
        assert new is not None
        d = details()
        aid = alerts.alert_id(p.region, kind, subject, new["a"])
        data: dict[str, Any] = {"alert_id": aid, "kind": kind, "severity": d["severity"], "region": p.region}
        data.update(d["fields"])
        data.update({
            "started_at": format_time(new["a"]),
            "values": d["values"],
            "thresholds": d["thresholds"],
            "reasons": list(d["reasons"]),
            "actions": list(d.get("actions", [])),
        })
        new["id"] = aid
        new["raised"] = data
        out.append(Output("alert.raised", aid, now, data))
    elif action == alerts.RESOLVE:
        assert old is not None
        d = details()
        aid = old["id"]
        data = {"alert_id": aid, "kind": kind, "region": p.region}
        data.update(d["fields"])
        data.update({"resolved_at": format_time(now), "values": d["values"]})
        (resolved_out if resolved_out is not None else out).append(Output("alert.resolved", aid, now, data))
    if new != old:
        if new is None:
            p.rules.pop(rkey, None)
        else:
            p.rules[rkey] = new
        p.mark_changed(rkey)  # the episode's state entry is saved with the next checkpoint


def escalation_level(p: RegionView) -> int:
    """The regional escalation level: the highest level whose episode is open (1: none)."""
    level = 1
    for lv in escalation.LEVELS:
        st = p.rules.get(f"rule:regional_escalation:level{lv}")
        if st is not None and st.get("a") is not None:
            level = lv
    return level


# ==================================================================== alert details
def feed_details(p: RegionView, pid: str, last: int) -> dict[str, Any]:
    """feed_silent: no events from partner `pid` since `last`."""
    now = p.now or 0
    own = p.registry.partners[pid].feed_silent_minutes if pid in p.registry.partners else None
    return {
        "fields": {"partner": pid}, "severity": "warning",
        "values": {"last_event_at": format_time(last), "silent_minutes": round((now - last) / MINUTE_MS, 2)},
        "thresholds": {"feed_silent_minutes": p.th.feed_silent_minutes if own is None else own},
        "reasons": [f"no events from partner {pid} since {format_time(last)}"],
    }


def stop_details(p: RegionView, lid: str) -> dict[str, Any]:
    """seh_stop: the SEH declared a stop (seh.status_changed)."""
    status, since = p.status(lid)
    st = p.locs.get(lid) or {}
    return {
        "fields": {"hospital": p.registry.locations[lid].partner, "location": lid},
        "severity": "warning",
        "values": {"status": status, "status_since": format_time(since) if since is not None else None,
                   "reason": st.get("reason"), "expected_until": st.get("expected_until")},
        "thresholds": {},
        "reasons": [f"SEH {lid} declared stop" + (f": {st['reason']}" if st.get("reason") else "")],
    }


def crowding_details(p: RegionView, lid: str, core: SehFigures) -> dict[str, Any]:
    """seh_crowding: the SEH's NEDOCS level and the figures behind it (`core`: seh_core)."""
    th = p.th
    nd = core.nedocs
    level = nd.level
    return {
        "fields": {"hospital": p.registry.locations[lid].partner, "location": lid},
        "severity": "critical" if (level or 0) >= 5 else "warning",
        "values": {"nedocs": _r(nd.score, 2), "nedocs_level": level, "patients": core.patients,
                   "boarders": core.boarders, "critical": core.critical,
                   "staffed_beds": core.staffed_beds,
                   "longest_boarding_hours": round(core.longest_boarding_hours, 4)},
        "thresholds": {"nedocs_alert_level": th.nedocs_alert_level,
                       "crowding_for_minutes": th.crowding_for_minutes,
                       "crowding_clear_minutes": th.crowding_clear_minutes},
        "reasons": [f"SEH {lid} at NEDOCS level {level} (>= {th.nedocs_alert_level}) "
                    f"for {th.crowding_for_minutes:g} min"],
    }


def forecast_details(p: RegionView, lid: str, level: int | None, fc: Any) -> dict[str, Any]:
    """seh_crowding_forecast: the SEH's predicted NEDOCS in 60 min and what it is made of."""
    th = p.th
    return {
        "fields": {"hospital": p.registry.locations[lid].partner, "location": lid},
        "severity": "warning",
        "values": {"predicted_nedocs_60m": _r(fc.predicted_nedocs, 2),
                   "predicted_nedocs_level_60m": fc.predicted_level,
                   "nedocs_level": level,
                   "expected_arrivals_60m": round(fc.expected_arrivals, 2),
                   "expected_departures_60m": round(fc.expected_departures, 2),
                   "predicted_patients_60m": round(fc.predicted_patients, 2)},
        "thresholds": {"nedocs_alert_level": th.nedocs_alert_level,
                       "forecast_for_minutes": th.forecast_for_minutes,
                       "forecast_clear_minutes": th.forecast_clear_minutes},
        "reasons": [f"SEH {lid} predicted at NEDOCS level {fc.predicted_level} (>= {th.nedocs_alert_level}) "
                    f"within 60 min, now at level {level}"],
    }


def handover_details(p: RegionView, lid: str) -> dict[str, Any]:
    """handover_delay: the longest ambulance handover in progress at the SEH."""
    now = p.now or 0
    hos = p.index.handovers.get(lid) or []
    longest = now - hos[0] if hos else 0
    th = p.th
    return {
        "fields": {"hospital": p.registry.locations[lid].partner, "location": lid},
        "severity": "warning",
        "values": {"longest_handover_minutes": round(longest / MINUTE_MS, 2),
                   "handovers_in_progress": len(hos)},
        "thresholds": {"handover_delay_minutes": th.handover_delay_minutes},
        "reasons": [f"an ambulance handover at {lid} ongoing > {th.handover_delay_minutes:g} min"],
    }


def wrong_bed_details(
    p: RegionView, hosp: str, share: float | None, wb: int, occ: int, longest_wait: int,
) -> dict[str, Any]:
    """wrong_bed: the hospital's wrong-bed share and its longest wait for a follow-up place."""
    th = p.th
    reasons = []
    if share is not None and share >= th.wrong_bed_share:
        reasons.append(f"wrong-bed share {share:.2f} >= {th.wrong_bed_share}")
    if longest_wait > th.wrong_bed_max_wait_days * DAY_MS:
        reasons.append(f"a patient waiting {longest_wait / DAY_MS:.1f} days > {th.wrong_bed_max_wait_days:g}")
    return {
        "fields": {"hospital": hosp}, "severity": "warning",
        "values": {"wrong_bed_share": _r(share, 4), "wrong_bed_patients": wb, "occupied_beds": occ,
                   "longest_wait_days": round(longest_wait / DAY_MS, 4)},
        "thresholds": {"wrong_bed_share": th.wrong_bed_share,
                       "wrong_bed_clear_share": th.wrong_bed_clear_share,
                       "wrong_bed_max_wait_days": th.wrong_bed_max_wait_days},
        "reasons": reasons,
    }


def long_stay_details(p: RegionView, hosp: str, ls: int) -> dict[str, Any]:
    """long_stay: patients on the hospital's wards longer than their bed type's limit."""
    th = p.th
    return {
        "fields": {"hospital": hosp}, "severity": "warning",
        "values": {"long_stay_patients": ls},
        "thresholds": {"long_stay_alert_patients": th.long_stay_alert_patients,
                       "long_stay_days": dict(sorted(th.long_stay_days.items()))},
        "reasons": [f"{ls} patients on a ward longer than the long-stay limit of their bed type"],
    }


def escalation_details(
    p: RegionView, level: int, why: list[str], seh_levels: dict[str, int | None],
    occupancy: dict[str, float | None], wb_share: float | None,
) -> dict[str, Any]:
    """regional_escalation: the level, the regional figures its conditions read, and the
    registry's actions for it."""
    th = p.th
    counts: dict[str, int] = {}
    for lv in seh_levels.values():
        if lv is not None:
            counts[str(lv)] = counts.get(str(lv), 0) + 1
    return {
        "fields": {"level": level},
        "severity": "warning" if level == 2 else "critical",
        "values": {
            "level": level,
            "clinical_occupancy": _r(occupancy.get("clinical"), 4),
            "ic_occupancy": _r(occupancy.get("ic"), 4),
            "wrong_bed_share": _r(wb_share, 4),
            "sehs_by_nedocs_level": dict(sorted(counts.items())),
        },
        "thresholds": {
            "escalate_after_minutes": th.escalate_after_minutes,
            "deescalate_after_minutes": th.deescalate_after_minutes,
            "level2_seh_nedocs_level": th.level2_seh_nedocs_level,
            "level2_clinical_occupancy": th.level2_clinical_occupancy,
            "level2_wrong_bed_share": th.level2_wrong_bed_share,
            "level3_clinical_occupancy": th.level3_clinical_occupancy,
            "level3_ic_occupancy": th.level3_ic_occupancy,
            "level4_seh_nedocs_level": th.level4_seh_nedocs_level,
            "level4_clinical_occupancy": th.level4_clinical_occupancy,
            "level4_both_occupancy": th.level4_both_occupancy,
        },
        "reasons": why,
        "actions": list(p.registry.actions.get(level, ())),
    }


# ==================================================================== when a step may change something
def seh_deadline(p: RegionView, lid: str, core: SehFigures, oldest_ho: int | None, delay_ms: int,
                 raise_crowd_ms: int, clear_crowd_ms: int) -> int | None:
    """The earliest time at which a step of this SEH's rules may do something while its
    inputs stay the same (None: never). Conservative: stepping early or more often is
    harmless, stepping late is not."""
    now = p.now
    assert now is not None
    dl: int | None = None

    def at(t: int) -> None:
        nonlocal dl
        if dl is None or t < dl:
            dl = t

    nd = core.nedocs
    if nd.level is not None:
        # NEDOCS grows with the longest boarding time (0.93 per hour): the level can
        # go up when the unclamped score passes the level's upper bound.
        board = p.index.boarding.get(lid)
        if board and nd.level < 6:
            if board[0] > now:
                at(now)
            else:
                upper = (20.0, 60.0, 100.0, 140.0, 180.0)[nd.level - 1]
                raw = (-20.0 + 85.8 * core.patients / core.staffed_beds
                       + 600.0 * core.boarders / p.hospital_ward_beds(p.registry.locations[lid].partner)
                       + 13.4 * core.critical + 0.93 * core.longest_boarding_hours
                       + 5.64 * core.last_bed_wait_hours)
                # (1 s of margin against rounding: a step before the crossing is a no-op)
                at(now + max(0, int((upper - raw) / 0.93 * HOUR_MS) - 1000))
        # ... and can go down when the last bed wait leaves the 24h
        best = p.index.last_treatment.get(lid)
        if best is not None and best[0] > now - DAY_MS:
            at(best[0] + DAY_MS)
    if oldest_ho is not None and now <= oldest_ho + delay_ms:
        at(oldest_ho + delay_ms)  # the handover turns "> 30 min" just after this
    st = p.rules.get(f"rule:seh_crowding:{lid}")
    if st is not None:  # a "for N min" timer running
        if st["p"] is not None:
            at(st["p"] + raise_crowd_ms)
        if st["c"] is not None:
            at(st["c"] + clear_crowd_ms)
    forecast_due = forecast_deadline(p, lid)
    if forecast_due is not None:
        at(forecast_due)
    return dl


def forecast_deadline(p: RegionView, lid: str) -> int | None:
    """When the forecast rule's pending raise or clear of SEH `lid` falls due (None:
    nothing pending). The prediction moves only at a new minute or a touch, but a "for
    N min" timer matures at any instant and fires at the first evaluation from then on
    (metrics.md), not at the next minute."""
    st = p.rules.get(f"rule:seh_crowding_forecast:{lid}")
    if st is None:
        return None
    th = p.th
    due: int | None = None
    if st["p"] is not None:
        due = st["p"] + int(th.forecast_for_minutes * MINUTE_MS)
    if st["c"] is not None:
        clear_due = st["c"] + int(th.forecast_clear_minutes * MINUTE_MS)
        due = clear_due if due is None else min(due, clear_due)
    return due


def hospital_deadline(p: RegionView, hosp: str, stats: dict[str, Any], now: int) -> int | None:
    """The earliest time at which a step of this hospital's rules may do something while
    its wards stay the same (None: never): a long-stay count grows, the oldest wait for
    a follow-up place passes the limit, or an episode is open (its clear may come at a
    later look). Conservative, as `seh_deadline`."""
    if f"rule:wrong_bed:{hosp}" in p.rules or f"rule:long_stay:{hosp}" in p.rules:
        return now + 1
    dl: int | None = None
    oldest_ready = stats["oldest_ready"]
    if oldest_ready is not None:
        turns = oldest_ready + int(p.th.wrong_bed_max_wait_days * DAY_MS) + 1  # "> max wait" from here
        if turns > now:
            dl = turns
    occupants = p.index.occupants
    for w in p.wards_of.get(hosp, ()):
        if occupants.get(w):
            t = p.index.long_stay_changes(w, now)
            if t is not None and (dl is None or t < dl):
                dl = t
    return dl


def _r(x: float | None, nd: int) -> float | None:
    return None if x is None else round(x, nd)
