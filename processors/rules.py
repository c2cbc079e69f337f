"""The alert rules of a region (metrics.md "Alerts"): what each rule is and when it runs.

A rule watches one subject (a partner, an SEH, a hospital, an escalation level) and is
stepped as an alert episode (processors.alerts): a raise condition, a clear condition,
optionally "for N min", and the details an alert carries (values, thresholds, reasons).
The rules read the region's figures from the `RegionProcessor` passed in as `p` and keep
their episode state in `p.rules` (`rule:{kind}:{subject}` entries).

The module is laid out as:
- `step_rule`: one episode step and the alert it raises or resolves;
- the `*_details` builders: what an alert says, built only when one is raised or resolved;
- `escalation_level`: the regional escalation level the open episodes amount to.

Alerts come out as plain `Alert` tuples, which `processors.region` wraps as `Output`:
this module is imported by `processors.region`, never the other way round at runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from processors import alerts, escalation
from processors.windows import MINUTE_MS
from topics.codec import format_time

if TYPE_CHECKING:
    from processors.region import RegionProcessor

DAY_MS = 86_400_000

# ("alert.raised" | "alert.resolved", alert id, time ms, data): the fields of an Output
Alert = tuple[str, str, int, dict[str, Any]]
Details = Callable[[], dict[str, Any]]


# ==================================================================== one episode step
def step_rule(
    p: RegionProcessor,
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
        out.append(("alert.raised", aid, now, data))
    elif action == alerts.RESOLVE:
        assert old is not None
        d = details()
        aid = old["id"]
        data = {"alert_id": aid, "kind": kind, "region": p.region}
        data.update(d["fields"])
        data.update({"resolved_at": format_time(now), "values": d["values"]})
        (resolved_out if resolved_out is not None else out).append(("alert.resolved", aid, now, data))
    if new != old:
        if new is None:
            p.rules.pop(rkey, None)
        else:
            p.rules[rkey] = new
        p._dirty.add(rkey)  # the episode's state entry goes to the changelog


def escalation_level(p: RegionProcessor) -> int:
    """The regional escalation level: the highest level whose episode is open (1: none)."""
    level = 1
    for lv in escalation.LEVELS:
        st = p.rules.get(f"rule:regional_escalation:level{lv}")
        if st is not None and st.get("a") is not None:
            level = lv
    return level


# ==================================================================== alert details
def feed_details(p: RegionProcessor, pid: str, last: int) -> dict[str, Any]:
    """feed_silent: no events from partner `pid` since `last`."""
    now = p.now or 0
    own = p.registry.partners[pid].feed_silent_minutes if pid in p.registry.partners else None
    return {
        "fields": {"partner": pid}, "severity": "warning",
        "values": {"last_event_at": format_time(last), "silent_minutes": round((now - last) / MINUTE_MS, 2)},
        "thresholds": {"feed_silent_minutes": p.th.feed_silent_minutes if own is None else own},
        "reasons": [f"no events from partner {pid} since {format_time(last)}"],
    }


def stop_details(p: RegionProcessor, lid: str) -> dict[str, Any]:
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


def crowding_details(p: RegionProcessor, lid: str, core: dict[str, Any]) -> dict[str, Any]:
    """seh_crowding: the SEH's NEDOCS level and the figures behind it (`core`: seh_core)."""
    th = p.th
    nd = core["nedocs"]
    level = nd.level
    return {
        "fields": {"hospital": p.registry.locations[lid].partner, "location": lid},
        "severity": "critical" if (level or 0) >= 5 else "warning",
        "values": {"nedocs": _r(nd.score, 2), "nedocs_level": level, "patients": core["patients"],
                   "boarders": core["boarders"], "critical": core["critical"],
                   "staffed_beds": core["staffed_beds"],
                   "longest_boarding_hours": round(core["longest_boarding_hours"], 4)},
        "thresholds": {"nedocs_alert_level": th.nedocs_alert_level,
                       "crowding_for_minutes": th.crowding_for_minutes,
                       "crowding_clear_minutes": th.crowding_clear_minutes},
        "reasons": [f"SEH {lid} at NEDOCS level {level} (>= {th.nedocs_alert_level}) "
                    f"for {th.crowding_for_minutes:g} min"],
    }


def handover_details(p: RegionProcessor, lid: str) -> dict[str, Any]:
    """handover_delay: the longest ambulance handover in progress at the SEH."""
    now = p.now or 0
    hos = p.ho.get(lid) or []
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
    p: RegionProcessor, hosp: str, share: float | None, wb: int, occ: int, longest_wait: int,
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


def long_stay_details(p: RegionProcessor, hosp: str, ls: int) -> dict[str, Any]:
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
    p: RegionProcessor, level: int, why: list[str], seh_levels: dict[str, int | None],
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


def _r(x: float | None, nd: int) -> float | None:
    return None if x is None else round(x, nd)
