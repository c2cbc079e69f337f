"""Backtest of the nowcast (metrics.md, "Nowcast"): replay a log and, at every whole hour,
compare each SEH's prediction with what happened in the next 60 minutes.

The log runs through a RegionProcessor exactly as `run_replay` does (validation, clock
guard, reorder buffer, release up to the latest confirmed time minus the lateness). When
the released watermark passes a whole hour H, every event up to H has been applied; the
processor's clock is then moved to H (as the wall-clock timer would) and each SEH's
snapshot is read: `expected_arrivals_60m`, `predicted_patients_60m`, the predicted and
current NEDOCS level. What happened: the arrivals in `(H, H + 60 min]` (each `seh.arrived`
counted once) and the patients present at H + 60 min.

Two baselines are measured in the same run: persistence (the arrivals of the last hour;
the patients now) and the same hour of the week (the arrivals in the same hour a week
before; the patients present a week before H + 60). The errors are compared over the
hours where all three exist, so the comparison is like for like.

A pure function of the log: the same log gives the same figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

from processors import nowcast
from processors.ingress import DEFAULT_RETENTION_MS
from processors.region import RegionProcessor
from topics.event import Rejected
from topics.registry import Registry
from topics.validation import Validator

HOUR_MS = 3_600_000
WEEK_HOURS = 168
GAP_HOURS = 48  # hours scored at most across a stretch of the log without events


@dataclass
class Point:
    """One SEH at one whole hour: the predictions made then."""

    hour: int  # absolute hour (epoch hours)
    expected_arrivals: float
    predicted_patients: float
    patients: int
    level: int | None
    predicted_level: int | None


@dataclass
class Scores:
    """Mean absolute errors over `n` SEH-hours, for the nowcast and the two baselines."""

    n: int = 0
    arrivals: dict[str, float] = field(default_factory=dict)  # method -> MAE
    patients: dict[str, float] = field(default_factory=dict)
    mean_arrivals: float = 0.0
    poisson_floor: float = 0.0  # the MAE of a perfect forecast of a Poisson count


@dataclass
class BacktestResult:
    hours: int
    sehs: list[str]
    per_seh: dict[str, Scores]
    overall: Scores
    # nowcast and persistence over every scored hour (the first week has no seasonal)
    per_seh_all_hours: dict[str, Scores]
    overall_all_hours: Scores
    crowding: dict[str, Any]
    series: dict[str, dict[str, list[Any]]]  # seh -> columns over time
    error_by_hour_of_day: dict[str, list[float | None]]  # method -> MAE of arrivals per local hour
    refused: dict[str, int] = field(default_factory=dict)  # reason -> input lines dead-lettered


METHODS = ("nowcast", "persistence", "same_hour_last_week")


def poisson_mae(m: float) -> float:
    """The smallest mean absolute error possible for a Poisson count of mean `m`:
    E|X - median| (about sqrt(2m/pi) for larger m)."""
    if m <= 0:
        return 0.0
    # the median of a Poisson is within 1 of m; sum the pmf far enough into both tails
    med = math.floor(m + 1.0 / 3.0 - 0.02 / m) if m >= 1 else (1 if m > math.log(2) else 0)
    hi = int(m + 12 * math.sqrt(m) + 20)
    pmf = math.exp(-m)
    total = 0.0
    for k in range(hi + 1):
        if k > 0:
            pmf *= m / k
        total += pmf * abs(k - med)
    return total


def run_backtest(lines: Iterable[bytes], registry: Registry, lateness_ms: int = 120_000,
                 retention_ms: int = DEFAULT_RETENTION_MS) -> BacktestResult:
    """Replay `lines` and score the nowcast of every SEH at every whole hour."""
    validator = Validator(registry)
    proc = RegionProcessor(registry, reorder_lateness_ms=lateness_ms, clock_guard=True, retention_ms=retention_ms)
    sehs = list(proc.seh_ids)
    points: dict[str, dict[int, Point]] = {s: {} for s in sehs}
    arrivals: dict[str, dict[int, int]] = {s: {} for s in sehs}  # seh -> hour bucket (h-1h, h] -> n
    seen: set[tuple[str, str]] = set()
    next_hour: int | None = None
    refused: dict[str, int] = {}  # counted as a replay counts them: the log's quality is part of the result

    def count(exc: Rejected) -> None:
        refused[exc.reason.value] = refused.get(exc.reason.value, 0) + 1

    def take(hour: int) -> None:
        if proc.now is None:
            return
        if proc.now < hour * HOUR_MS:
            proc.advance(hour * HOUR_MS)
        for lid in sehs:
            s = proc.snaps.get(f"location:{lid}")
            if s is None:
                continue
            points[lid][hour] = Point(hour, s["expected_arrivals_60m"], s["predicted_patients_60m"],
                                      s["patients"], s["nedocs_level"], s["predicted_nedocs_level_60m"])

    def release(watermark: int) -> None:
        nonlocal next_hour
        if next_hour is None:
            return
        if watermark - next_hour * HOUR_MS > GAP_HOURS * HOUR_MS:
            # a gap without events (or a clock jump): nothing to score in between
            next_hour = watermark // HOUR_MS - GAP_HOURS
        while watermark >= next_hour * HOUR_MS:
            proc.release(next_hour * HOUR_MS)
            take(next_hour)
            next_hour += 1
        proc.release(watermark)

    for line in lines:
        if not line.strip():
            continue
        try:
            event = validator.decode(line)
            status, _ = proc.offer(event)
        except Rejected as exc:
            count(exc)
            continue
        if event.type == "seh.arrived" and status != "duplicate":
            key = (event.source, event.id)
            lid = event.data.get("location")
            if key not in seen and lid in arrivals:
                seen.add(key)
                b = -(-event.time // HOUR_MS)  # (b - 1h, b]
                arrivals[lid][b] = arrivals[lid].get(b, 0) + 1
        if next_hour is None and proc.confirmed_time is not None:
            next_hour = -(-proc.confirmed_time // HOUR_MS)  # the first whole hour after the start
        confirmed = proc.confirmed_time
        if status != "duplicate" and confirmed is not None:
            release(confirmed - lateness_ms)
        for _event, exc in proc.take_rejected():
            count(exc)
    proc.finish()
    for _event, exc in proc.take_rejected():
        count(exc)
    result = score(sehs, points, arrivals)
    result.refused = dict(sorted(refused.items()))
    return result


def score(sehs: list[str], points: dict[str, dict[int, Point]], arrivals: dict[str, dict[int, int]]) -> BacktestResult:
    """The figures of a backtest from the predictions per SEH and hour and the arrivals
    per SEH and hour bucket `(b - 1h, b]`."""
    per_seh: dict[str, Scores] = {}
    per_seh_all: dict[str, Scores] = {}
    all_acts: list[int] = []
    all_err: dict[str, list[tuple[float, float]]] = {m: [] for m in METHODS}
    all_hours: dict[str, list[tuple[float, float]]] = {m: [] for m in METHODS[:2]}
    floors: list[float] = []
    actual_all: list[int] = []
    by_hod: dict[str, list[list[float]]] = {m: [[] for _ in range(24)] for m in METHODS}
    crowd = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    series: dict[str, dict[str, list[Any]]] = {}
    hours_seen: set[int] = set()
    for lid in sehs:
        pts = points[lid]
        arr = arrivals[lid]
        errs: dict[str, list[tuple[float, float]]] = {m: [] for m in METHODS}
        errs_all: dict[str, list[tuple[float, float]]] = {m: [] for m in METHODS[:2]}
        acts_all: list[int] = []
        col: dict[str, list[Any]] = {"hour": [], "expected_arrivals": [], "arrivals": [],
                                     "predicted_patients": [], "patients": []}
        fl: list[float] = []
        acts: list[int] = []
        for h in sorted(pts):
            later = pts.get(h + 1)
            if later is None:
                continue  # the end of the log: what happened is not known
            hours_seen.add(h)
            pt = pts[h]
            actual_arr = arr.get(h + 1, 0)
            actual_pat = later.patients
            col["hour"].append(h)
            col["expected_arrivals"].append(pt.expected_arrivals)
            col["arrivals"].append(actual_arr)
            col["predicted_patients"].append(pt.predicted_patients)
            col["patients"].append(actual_pat)
            nc = (abs(pt.expected_arrivals - actual_arr), abs(pt.predicted_patients - actual_pat))
            pers = (abs(arr.get(h, 0) - actual_arr), abs(pt.patients - actual_pat))
            for m, e in (("nowcast", nc), ("persistence", pers)):
                all_hours[m].append(e)
                errs_all[m].append(e)
            acts_all.append(actual_arr)
            # crowding forecast: the current level below the alert level (4)
            if pt.level is not None and pt.level < 4 and later.level is not None:
                came = later.level >= 4
                said = pt.predicted_level is not None and pt.predicted_level >= 4
                crowd[("tp" if came else "fp") if said else ("fn" if came else "tn")] += 1
            # a week before: the arrivals in (h - 168, h - 167] and the patients at h - 167,
            # known when the log covered that whole hour
            week = pts.get(h - WEEK_HOURS + 1)
            if week is None or (h - WEEK_HOURS) not in pts:
                continue
            seas = (abs(arr.get(h - WEEK_HOURS + 1, 0) - actual_arr), abs(week.patients - actual_pat))
            hod = nowcast.slot_of(h) % 24
            for m, e in zip(METHODS, (nc, pers, seas)):
                errs[m].append(e)
                all_err[m].append(e)
                by_hod[m][hod].append(e[0])
            fl.append(poisson_mae(pt.expected_arrivals))
            acts.append(actual_arr)
        floors.extend(fl)
        actual_all.extend(acts)
        per_seh[lid] = _scores(errs, fl, acts)
        per_seh_all[lid] = _scores(errs_all, [], acts_all)
        all_acts.extend(acts_all)
        series[lid] = col
    overall = _scores(all_err, floors, actual_all)
    overall_all = _scores(all_hours, [], all_acts)
    n_pos = crowd["tp"] + crowd["fn"]
    n_said = crowd["tp"] + crowd["fp"]
    crowding = dict(crowd, forecast_before_it_came=(crowd["tp"] / n_pos) if n_pos else None,
                    false_alarm_ratio=(crowd["fp"] / n_said) if n_said else None)
    error_by_hod = {m: [(sum(v) / len(v)) if v else None for v in by_hod[m]] for m in METHODS}
    return BacktestResult(len(hours_seen), sehs, per_seh, overall, per_seh_all, overall_all, crowding, series,
                          error_by_hod)


def _scores(errs: dict[str, list[tuple[float, float]]], floors: list[float], acts: list[int]) -> Scores:
    n = len(next(iter(errs.values()))) if errs else 0
    s = Scores(n=n)
    for m, e in errs.items():
        if e:
            s.arrivals[m] = round(sum(x[0] for x in e) / len(e), 3)
            s.patients[m] = round(sum(x[1] for x in e) / len(e), 3)
    if acts:
        s.mean_arrivals = round(sum(acts) / len(acts), 3)
    if floors:
        s.poisson_floor = round(sum(floors) / len(floors), 3)
    return s


def as_json(r: BacktestResult) -> dict[str, Any]:
    """The figures as plain JSON (no patient-level data: counts and errors per SEH-hour)."""
    def sc(s: Scores) -> dict[str, Any]:
        return {"n": s.n, "mae_expected_arrivals": s.arrivals, "mae_predicted_patients": s.patients,
                "mean_arrivals_per_hour": s.mean_arrivals, "poisson_floor_arrivals": s.poisson_floor}
    return {
        "hours": r.hours,
        "overall": sc(r.overall),
        "overall_all_hours": sc(r.overall_all_hours),
        "per_seh": {lid: sc(r.per_seh[lid]) for lid in r.sehs},
        "per_seh_all_hours": {lid: sc(r.per_seh_all_hours[lid]) for lid in r.sehs},
        "crowding_forecast": r.crowding,
        "error_by_hour_of_day": r.error_by_hour_of_day,
        "refused": r.refused,
        "series": r.series,
    }
