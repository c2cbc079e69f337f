"""Building `metrics.snapshot` content per location, hospital and region (metrics.md names,
field lists of docs/internals.md) from the live indexes of a region, read through
`processors.view.RegionView` (this module never imports the region).

Values are rounded (hours/days/shares to 4 decimals, minutes and NEDOCS to 2) so a
snapshot only counts as changed when a visible value changed; "by X" objects have sorted
keys and leave zeros out; undefined values are None.
"""

from __future__ import annotations

from base64 import b64encode
from bisect import bisect_left, insort
from hashlib import blake2b
from typing import TYPE_CHECKING, Any

import orjson

from processors.nowcast import fields as nowcast_fields
from processors.uitstroom import DAY_MS, wrong_bed_ms_24h_sorted, wrong_bed_ms_open_sorted
from processors.windows import by_key, count_above, count_at_most, nearest_rank
from topics.codec import format_time

if TYPE_CHECKING:
    from processors.crowding import SehFigures
    from processors.view import RegionView

MIN_MS = 60_000
BED_TYPES = ("clinical", "ic", "mc")
FOUR_HOURS_MS = 4 * 3_600_000
THIRTY_MIN_MS = 30 * MIN_MS
FIFTEEN_MIN_MS = 15 * MIN_MS


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


def _share(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _minutes(ms: int | None) -> float | None:
    return None if ms is None else round(ms / MIN_MS, 2)


def build_location(p: RegionView, lid: str) -> dict[str, Any]:
    loc = p.registry.locations[lid]
    if loc.kind == "seh":
        return _seh(p, lid)
    return _ward(p, lid)


def _seh_clock_fields(p: RegionView, lid: str, core: SehFigures) -> dict[str, Any]:
    """The SEH figures that move with the clock alone (boarding, handover and the last
    bed wait grow or age; NEDOCS follows them; the nowcast's span slides)."""
    now = p.now or 0
    nd = core.nedocs
    ho_open = p.index.handovers.get(lid, [])
    return {
        "longest_boarding_hours": round(core.longest_boarding_hours, 4),
        "last_bed_wait_hours": round(core.last_bed_wait_hours, 4),
        "nedocs": _r(nd.score, 2),
        "nedocs_level": nd.level,
        "nedocs_null_reason": nd.null_reason,
        "longest_handover_minutes": _minutes(max(0, now - ho_open[0]) if ho_open else 0),
        **nowcast_fields(p.seh_forecast(lid)),
    }


def _ward_clock_fields(p: RegionView, lid: str) -> dict[str, Any]:
    """The ward figures that move with the clock alone (wrong-bed days accrue and leave
    the 24 h window; stays pass the long-stay limit)."""
    now = p.now or 0
    # integer sums do not depend on the order: the region keeps the ready starts sorted
    starts = p.index.ready_starts.get(lid, [])
    wbc = p.index.ready_closed.get(lid)
    closed = [iv for ivs in wbc.values() for iv in ivs] if wbc else ()
    return {
        "wrong_bed_days_open": round(wrong_bed_ms_open_sorted(now, starts) / DAY_MS, 4),
        "wrong_bed_days_24h": round(wrong_bed_ms_24h_sorted(now, starts, closed) / DAY_MS, 4),
        "long_stay_patients": p.long_stay(lid),
    }


def _ward_clock_sums(wards: list[dict[str, Any]]) -> dict[str, Any]:
    # floats summed in ward order, as a plain sum over the wards would
    days_open = 0.0
    days_24 = 0.0
    long_stay = 0
    for ward in wards:
        days_open += ward["wrong_bed_days_open"]
        days_24 += ward["wrong_bed_days_24h"]
        long_stay += ward["long_stay_patients"]
    return {
        "wrong_bed_days_open": round(days_open, 4),
        "wrong_bed_days_24h": round(days_24, 4),
        "long_stay_patients": long_stay,
    }


def refresh_location(p: RegionView, lid: str, old: dict[str, Any]) -> dict[str, Any] | None:
    """A location snapshot whose state did not change since `old` was built, at the
    processor's clock: `old` with its clock-driven figures recomputed (same key order);
    None when none of them moved (the content would be `old` again)."""
    clock = _seh_clock_fields(p, lid, p.seh_core(lid)) if old["kind"] == "seh" else _ward_clock_fields(p, lid)
    for k, v in clock.items():
        if old[k] != v:
            new = dict(old)
            new.update(clock)
            return new
    return None


def refresh_hospital(p: RegionView, h: str, old: dict[str, Any], clock: bool, sehs: bool) -> dict[str, Any]:
    """A hospital snapshot none of whose wards changed in state since `old`: `old` with
    the sums its wards' clock-driven figures (`clock`) and its SEHs (`sehs`) moved."""
    new = dict(old)
    if clock:
        new.update(_ward_clock_sums([p.snaps[f"location:{w}"] for w in p.wards_of.get(h, [])]))
    if sehs:
        new.update(_seh_sums(p, h))
    return new


def _seh(p: RegionView, lid: str) -> dict[str, Any]:
    core = p.seh_core(lid)
    clock = _seh_clock_fields(p, lid, core)
    staffed = core.staffed_beds
    tot1, tot24, vals = p.win.tot1, p.win.tot24, p.win.vals24
    arr24 = by_key(tot24, f"arr|{lid}")
    n_arr24 = sum(arr24.values())
    los = vals.get(f"los|{lid}", [])
    ho_done = vals.get(f"handover|{lid}", [])
    ho_open = p.index.handovers.get(lid, [])
    status, since = p.status(lid)
    return {
        "scope": "location",
        "id": lid,
        "kind": "seh",
        "hospital": p.registry.locations[lid].partner,
        "patients": core.patients,
        "waiting": core.waiting,
        "boarders": core.boarders,
        "critical": core.critical,
        "staffed_beds": staffed,
        "occupancy": _share(core.patients, staffed),
        "longest_boarding_hours": clock["longest_boarding_hours"],
        "last_bed_wait_hours": clock["last_bed_wait_hours"],
        "nedocs": clock["nedocs"],
        "nedocs_level": clock["nedocs_level"],
        "nedocs_null_reason": clock["nedocs_null_reason"],
        "arrivals_1h": by_key(tot1, f"arr|{lid}"),
        "arrivals_24h": arr24,
        "self_referral_share_24h": _share(arr24.get("self_referral", 0), n_arr24),
        "los_p50_minutes_24h": _minutes(nearest_rank(los, 50)),
        "los_p90_minutes_24h": _minutes(nearest_rank(los, 90)),
        "los_over_4h_share_24h": _share(count_above(los, FOUR_HOURS_MS), len(los)),
        "ambulances_en_route": p.index.en_route.get(lid, 0),
        "handovers_in_progress": len(ho_open),
        "longest_handover_minutes": clock["longest_handover_minutes"],
        "handover_p90_minutes_24h": _minutes(nearest_rank(ho_done, 90)),
        "handovers_over_30m_24h": count_above(ho_done, THIRTY_MIN_MS),
        "expected_arrivals_60m": clock["expected_arrivals_60m"],
        "expected_departures_60m": clock["expected_departures_60m"],
        "predicted_patients_60m": clock["predicted_patients_60m"],
        "predicted_nedocs_60m": clock["predicted_nedocs_60m"],
        "predicted_nedocs_level_60m": clock["predicted_nedocs_level_60m"],
        "status": status,
        "status_since": format_time(since) if since is not None else None,
    }


def _ward(p: RegionView, lid: str) -> dict[str, Any]:
    loc = p.registry.locations[lid]
    staffed = p.beds(lid)
    occupied = p.occupied(lid)
    ready = p.index.ready.get(lid, {})
    by_wf: dict[str, int] = {}
    for _start, wf in ready.values():
        by_wf[wf] = by_wf.get(wf, 0) + 1
    clock = _ward_clock_fields(p, lid)
    return {
        "scope": "location",
        "id": lid,
        "kind": loc.kind,
        "bed_type": loc.bed_type,
        "hospital": loc.partner,
        "occupied_beds": occupied,
        "staffed_beds": staffed,
        "free_beds": staffed - occupied,
        "occupancy": _share(occupied, staffed),
        "discharges_24h": by_key(p.win.tot24, f"dis|{lid}"),
        "wrong_bed_patients": len(ready),
        "wrong_bed_patients_by_waiting_for": dict(sorted(by_wf.items())),
        "wrong_bed_days_open": clock["wrong_bed_days_open"],
        "wrong_bed_days_24h": clock["wrong_bed_days_24h"],
        "long_stay_patients": clock["long_stay_patients"],
    }


def _ward_sums(wards: list[dict[str, Any]]) -> dict[str, Any]:
    occ: dict[str, int] = {}
    staffed: dict[str, int] = {}
    dis: dict[str, int] = {}
    wf: dict[str, int] = {}
    wb = 0
    for s in wards:
        bt = s.get("bed_type") or "clinical"
        occ[bt] = occ.get(bt, 0) + s["occupied_beds"]
        staffed[bt] = staffed.get(bt, 0) + s["staffed_beds"]
        for k, v in s["discharges_24h"].items():
            dis[k] = dis.get(k, 0) + v
        for k, v in s["wrong_bed_patients_by_waiting_for"].items():
            wf[k] = wf.get(k, 0) + v
        wb += s["wrong_bed_patients"]
    clock = _ward_clock_sums(wards)
    o, st = sum(occ.values()), sum(staffed.values())
    bts = sorted(staffed)
    return {
        "occupied_beds": o,
        "staffed_beds": st,
        "free_beds": st - o,
        "occupancy": _share(o, st),
        "occupied_beds_by_bed_type": {bt: occ[bt] for bt in bts},
        "staffed_beds_by_bed_type": {bt: staffed[bt] for bt in bts},
        "free_beds_by_bed_type": {bt: staffed[bt] - occ[bt] for bt in bts},
        "occupancy_by_bed_type": {bt: _share(occ[bt], staffed[bt]) for bt in bts},
        "discharges_24h": dict(sorted((k, v) for k, v in dis.items() if v)),
        "wrong_bed_patients": wb,
        "wrong_bed_patients_by_waiting_for": dict(sorted((k, v) for k, v in wf.items() if v)),
        "wrong_bed_days_open": clock["wrong_bed_days_open"],
        "wrong_bed_days_24h": clock["wrong_bed_days_24h"],
        "wrong_bed_share": _share(wb, o),
        "long_stay_patients": clock["long_stay_patients"],
    }


SEH_SUMS = ("patients", "waiting", "boarders", "critical", "ambulances_en_route")


def build_hospital(p: RegionView, h: str) -> dict[str, Any]:
    wards = [p.snaps[f"location:{w}"] for w in p.wards_of.get(h, [])]
    out: dict[str, Any] = {"scope": "hospital", "id": h}
    out.update(_ward_sums(wards))
    out.update(_seh_sums(p, h))
    return out


def _seh_sums(p: RegionView, h: str) -> dict[str, int]:
    sehs = [p.snaps[f"location:{s}"] for s in p.sehs_of.get(h, [])]
    return {f: sum(s[f] for s in sehs) for f in SEH_SUMS}


HOSPITAL_SUMS = ("occupied_beds", "staffed_beds", "free_beds", "wrong_bed_patients", "long_stay_patients",
                 *SEH_SUMS)
HOSPITAL_BY = ("occupied_beds_by_bed_type", "staffed_beds_by_bed_type", "free_beds_by_bed_type",
               "discharges_24h", "wrong_bed_patients_by_waiting_for")


def build_region(p: RegionView, rs: RegionSums) -> dict[str, Any]:
    # Sums over the hospital snapshots (every ward and SEH belongs to a hospital), the
    # SEH and the follow-up location snapshots: kept as running totals (`rs`, RegionSums
    # below), so a build costs the size of the output, not of the region.
    out: dict[str, Any] = {"scope": "region", "id": p.region}
    out.update(rs.ints)
    for f in HOSPITAL_BY:
        keep_zero = f.endswith("_by_bed_type")
        acc = rs.by[f]
        out[f] = {k: acc[k][0] for k in sorted(acc) if acc[k][1] and (acc[k][0] or keep_zero)}
    out["occupancy"] = _share(out["occupied_beds"], out["staffed_beds"])
    out["occupancy_by_bed_type"] = {
        bt: _share(out["occupied_beds_by_bed_type"].get(bt, 0), n)
        for bt, n in out["staffed_beds_by_bed_type"].items()
    }
    # floats: summed afresh in hospital order, so the rounding is that of a plain sum
    out["wrong_bed_days_open"] = round(sum(rs.days_open), 4)
    out["wrong_bed_days_24h"] = round(sum(rs.days_24h), 4)
    out["wrong_bed_share"] = _share(out["wrong_bed_patients"], out["occupied_beds"])
    out["sehs_by_nedocs_level"] = {k: n for k, n in sorted(rs.levels.items()) if n}
    out["sehs_on_stop"] = rs.on_stop
    if rs.advice_list is None:
        rows = rs.advice_rows
        rs.advice_list = [rows[lid] for _pred, lid in rs.ranked]
    out["destination_advice"] = rs.advice_list
    if rs.windows is None:
        rs.windows = _region_windows(p)
    out.update(rs.windows)
    out["escalation_level"] = p.escalation_level()
    out["follow_up_free_beds_by_kind"] = {k: v[0] for k, v in sorted(rs.free.items()) if v[1]}
    return out


def destination_advice(sehs: dict[str, tuple[str, float | None, int | None, bool]]) -> list[dict[str, Any]]:
    """metrics.md, "Destination advice": the open SEHs (not on stop) ranked by predicted
    NEDOCS in 60 min, lowest first (ties by id); SEHs without a predicted NEDOCS (no
    staffed beds known) are left out, as nothing can be said of them."""
    ranked = sorted((pred, lid, hosp, level) for lid, (hosp, pred, level, stop) in sehs.items()
                    if not stop and pred is not None)
    return [{"location": lid, "hospital": hosp, "predicted_nedocs_60m": pred, "predicted_nedocs_level_60m": level}
            for pred, lid, hosp, level in ranked]


def _region_windows(p: RegionView) -> dict[str, Any]:
    tot1, tot24, vals = p.win.tot1, p.win.tot24, p.win.vals24
    fl = tot24.get("first_line", {})
    resp = vals.get("a1_response", [])
    return {
        "calls_1h": by_key(tot1, "calls"),
        "calls_24h": by_key(tot24, "calls"),
        "calls_by_urgency_24h": by_key(tot24, "call_urgency"),
        "first_line_share_24h": _share(fl.get("first_line", 0), fl.get("completed", 0)),
        "rides_24h": by_key(tot24, "rides"),
        "a1_response_p95_minutes_24h": _minutes(nearest_rank(resp, 95)),
        "a1_within_15m_share_24h": _share(count_at_most(resp, FIFTEEN_MIN_MS), len(resp)),
    }


class RegionSums:
    """Running totals behind `build_region`, updated by `update(key, old, new)`
    whenever a hospital, SEH or follow-up location snapshot changes.

    Integer sums and "by X" objects are exact under deltas. A "by X" key counts how many
    hospitals have it (`[sum, present]`), so a key present with 0 appears exactly when a
    plain sum over the hospitals would have produced it. The float wrong-bed days are
    kept per hospital and summed at build time in hospital order (same rounding)."""

    def __init__(self, p: RegionView) -> None:
        self.p = p
        self.hidx = {p.hospital_keys[h]: i for i, h in enumerate(p.hospital_ids)}
        self.seh_keys = frozenset(p.location_keys[s] for s in p.seh_ids)
        self.followup_keys = frozenset(p.location_keys[s] for s in p.followup_ids)
        self.reset(rebuild=False)

    def reset(self, rebuild: bool = True) -> None:
        n = len(self.hidx)
        self.ints: dict[str, int] = {f: 0 for f in HOSPITAL_SUMS}
        self.by: dict[str, dict[str, list[int]]] = {f: {} for f in HOSPITAL_BY}
        self.days_open: list[float] = [0.0] * n
        self.days_24h: list[float] = [0.0] * n
        self.levels: dict[str, int] = {}
        self.on_stop = 0
        self.free: dict[str, list[int]] = {}
        # SEH -> (hospital, predicted NEDOCS, its level, on stop): the destination advice
        self.advice: dict[str, tuple[str, float | None, int | None, bool]] = {}
        # ... kept ranked as `destination_advice` ranks them (an SEH's entry moves when it
        # changes, rather than all of them sorted at every region build), with each SEH's
        # row of the advice, and the advice itself until one of them changes
        self.ranked: list[tuple[float, str]] = []  # (predicted NEDOCS, SEH) of the open SEHs
        self.advice_rows: dict[str, dict[str, Any]] = {}
        self.advice_list: list[dict[str, Any]] | None = None
        # the region-level window figures (calls, rides, responses), reused until
        # the processor sees a region-level window group move (None: recompute)
        self.windows: dict[str, Any] | None = None
        if rebuild:
            for key, content in self.p.snaps.items():
                self.update(key, None, content)

    def update(self, key: str, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        e: list[int] | None  # a [sum, count] accumulator, or a key's if it has one
        i = self.hidx.get(key)
        if i is not None:
            ints = self.ints
            for f in HOSPITAL_SUMS:
                ints[f] += new[f] - (old[f] if old is not None else 0)
            for f in HOSPITAL_BY:
                a = old[f] if old is not None else None
                b = new[f]
                if a == b:
                    continue
                acc = self.by[f]
                if a:
                    for k, v in a.items():
                        e = acc[k]
                        e[0] -= v
                        e[1] -= 1
                for k, v in b.items():
                    e = acc.get(k)
                    if e is None:
                        acc[k] = [v, 1]
                    else:
                        e[0] += v
                        e[1] += 1
            self.days_open[i] = new["wrong_bed_days_open"]
            self.days_24h[i] = new["wrong_bed_days_24h"]
        elif key in self.seh_keys:
            lv = self.levels
            if old is not None and old["nedocs_level"] is not None:
                k = str(old["nedocs_level"])
                lv[k] -= 1
            if new["nedocs_level"] is not None:
                k = str(new["nedocs_level"])
                lv[k] = lv.get(k, 0) + 1
            self.on_stop += (new["status"] == "stop") - (old is not None and old["status"] == "stop")
            lid = new["id"]
            hosp, pred, level = new["hospital"], new["predicted_nedocs_60m"], new["predicted_nedocs_level_60m"]
            stop = new["status"] == "stop"
            before = self.advice.get(lid)
            if before != (hosp, pred, level, stop):
                self.advice[lid] = (hosp, pred, level, stop)
                ranked = self.ranked
                if before is not None and not before[3] and before[1] is not None:
                    del ranked[bisect_left(ranked, (before[1], lid))]
                if not stop and pred is not None:
                    insort(ranked, (pred, lid))
                    self.advice_rows[lid] = {"location": lid, "hospital": hosp, "predicted_nedocs_60m": pred,
                                             "predicted_nedocs_level_60m": level}
                self.advice_list = None
        elif key in self.followup_keys:
            fr = self.free
            if old is not None:
                e = fr[old["kind"]]
                e[0] -= old["free_beds"]
                e[1] -= 1
            e = fr.get(new["kind"])
            if e is None:
                fr[new["kind"]] = [new["free_beds"], 1]
            else:
                e[0] += new["free_beds"]
                e[1] += 1


# -- compact state entries of emitted snapshots (a region's `snap:{key}`) ---------------
# The values of a location snapshot that depend on the time of its build, not only on the
# state: everything else is rebuilt from the state on restore.
SEH_TIME_FIELDS = ("longest_boarding_hours", "last_bed_wait_hours", "nedocs", "nedocs_level",
                   "longest_handover_minutes", "expected_arrivals_60m", "expected_departures_60m",
                   "predicted_patients_60m", "predicted_nedocs_60m", "predicted_nedocs_level_60m")
WARD_TIME_FIELDS = ("wrong_bed_days_open", "wrong_bed_days_24h", "long_stay_patients")


def _time_fields(content: dict[str, Any]) -> tuple[str, ...]:
    if content["scope"] != "location":
        return ()
    return SEH_TIME_FIELDS if content["kind"] == "seh" else WARD_TIME_FIELDS


def fingerprint(content: dict[str, Any]) -> str:
    """blake2b-128 of the content's orjson bytes (without `as_of`), base64 (22 chars)."""
    return b64encode(blake2b(orjson.dumps(content), digest_size=16).digest()).decode()[:22]


def snap_entry(content: dict[str, Any], as_of_ms: int) -> dict[str, Any]:
    e: dict[str, Any] = {"t": as_of_ms, "f": fingerprint(content)}
    fields = _time_fields(content)
    if fields:
        e["x"] = [content[f] for f in fields]
    return e


def restore_time_fields(content: dict[str, Any], x: list[Any] | None) -> dict[str, Any]:
    """A location snapshot rebuilt from the state, with the time-driven values it had."""
    if x is not None:
        for f, v in zip(_time_fields(content), x):
            content[f] = v
    return content
