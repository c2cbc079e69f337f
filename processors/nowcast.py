"""Nowcast: what is coming to each SEH in the next 60 minutes (metrics.md, "Nowcast").

For a span `(now, now + 60 min]` and one SEH:

- **announced arrivals**: ambulance rides transporting here with an ETA up to the span's
  end (overdue ones included: they are still coming), plus the SEH referrals issued to
  it and not yet arrived, each weighted by the chance it arrives in the span given how
  long ago it was issued (from the observed referral-to-arrival delays);
- **unannounced arrivals**: a forecast from the stream's own history. Every arrival is
  counted in an hour-of-week aggregate with the weight `1 - lead / 60 min` (1 without
  an announcement, 0 when announced 60 min or more ahead): the share of the 60-minute
  spans containing it in which it was not yet announced. So the history counts exactly
  what the announced part leaves out, and the two add up without double counting.
  The rate of an hour of the week is its (exponentially weighted) mean, shrunk towards
  the mean of its hour of day, which is shrunk towards a prior (the registry's expected
  arrivals per hour of day, else a flat rate per treatment space); then multiplied by
  how the last hours compare with their forecast (a ratio shrunk towards 1);
- **departures**: for every present patient who has stayed `a`, the chance of leaving in
  `(a, a + 60 min]` given a stay longer than `a`, from a bounded histogram of observed
  lengths of stay.

State is small and bounded: per SEH 168 hour-of-week sums and weights, a histogram of
lengths of stay (145 bins), the last few hours' actual and forecast; per region a
histogram of referral delays. It is updated once per closed hour (`close_hour`), never
per event, and stored as plain JSON (`nc:{seh}` and `nc:~` state entries). Everything
here is a pure function of its arguments and `now`.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Iterable, NamedTuple
from zoneinfo import ZoneInfo

from processors.crowding import SehFigures, nedocs
from topics.registry import Thresholds

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
SPAN_MS = HOUR_MS  # the nowcast looks 60 minutes ahead
WEEK_HOURS = 168
LOCAL = ZoneInfo("Europe/Amsterdam")  # arrival patterns follow local hours (DST included)
LOS_BIN_MS = 10 * MINUTE_MS
LOS_BINS = 144  # 24 h in 10-minute bins; one more bin holds the longer stays
REF_BIN_MS = 5 * MINUTE_MS
STALE_ETA_MS = HOUR_MS  # an ETA this far past without arrival is a ride that went elsewhere
DIGITS = 6  # floats kept in state: enough for the forecast, short in the changelog


class Params(NamedTuple):
    """The nowcast's tuning, from the registry thresholds."""

    decay: float  # per closed hour, of the hour-of-week sums (same slot: once a week)
    los_decay: float  # per closed hour, of the histograms
    week_shrink: float
    day_shrink: float
    recent_hours: int
    ratio_prior: float
    referral_max_ms: int
    referral_prior: float
    los_prior: float
    prior_per_bed_hour: float
    unannounced_share: float


def params(th: Thresholds) -> Params:
    weeks = max(1.0, th.nowcast_history_weeks)
    return Params(
        decay=1.0 - 1.0 / weeks,
        los_decay=1.0 - 1.0 / (weeks * WEEK_HOURS),
        week_shrink=th.nowcast_week_shrink,
        day_shrink=th.nowcast_day_shrink,
        recent_hours=max(0, int(th.nowcast_recent_hours)),
        ratio_prior=th.nowcast_ratio_prior_arrivals,
        referral_max_ms=int(th.nowcast_referral_max_hours * HOUR_MS),
        referral_prior=min(1.0, th.nowcast_referral_prior_share),
        los_prior=min(1.0, th.nowcast_los_prior_share),
        prior_per_bed_hour=th.nowcast_prior_arrivals_per_bed_hour,
        unannounced_share=th.nowcast_unannounced_share,
    )


# ==================================================================== time
def hour_of(t_ms: int) -> int:
    """The absolute hour (epoch hours, UTC) of a time."""
    return t_ms // HOUR_MS


@lru_cache(maxsize=4096)
def slot_of(hour: int) -> int:
    """Hour of the week (0 = Monday 00:00-01:00 local time .. 167) of an absolute hour."""
    try:
        t = datetime.fromtimestamp(hour * 3600, tz=timezone.utc).astimezone(LOCAL)
    except (OverflowError, OSError, ValueError):
        # beyond the calendar (a partner's clock error near year 9999): UTC arithmetic,
        # 1970-01-01 being a Thursday
        return ((hour // 24 + 3) % 7) * 24 + hour % 24
    return t.weekday() * 24 + t.hour


# ==================================================================== state
def empty_seh() -> dict[str, Any]:
    """A new SEH's nowcast state: hour-of-week sums `s` and weights `w` of unannounced
    arrivals, totals `u` ([unannounced weight, arrivals], decayed: the unannounced share),
    recent hours `r` ([hour, actual, forecast]), the length-of-stay histogram `los`, and
    for departures the recent hours `rd` ([hour, actual, expected]) and the expectation
    `d` ([hour, expected]) made when the current hour began."""
    return {"s": [0.0] * WEEK_HOURS, "w": [0.0] * WEEK_HOURS, "u": [0.0, 0.0], "r": [],
            "los": [0.0] * (LOS_BINS + 1), "rd": [], "d": None}


def empty_region(max_ms: int) -> dict[str, Any]:
    """The region's nowcast state: the last closed hour `h`, the referral-delay histogram
    `ref` (5-minute bins up to the referral horizon) and `never` (referrals that did not
    arrive within it)."""
    return {"h": None, "ref": [0.0] * max(1, -(-max_ms // REF_BIN_MS)), "never": 0.0}


def unannounced_weight(lead_ms: int | None) -> float:
    """The share of the 60-minute spans containing an arrival in which it was not yet
    announced, for an announcement `lead_ms` ahead (None: never announced)."""
    if lead_ms is None or lead_ms <= 0:
        return 1.0
    if lead_ms >= SPAN_MS:
        return 0.0
    return 1.0 - lead_ms / SPAN_MS


def _round(x: float) -> float:
    return round(x, DIGITS)


# ==================================================================== unannounced arrivals
def prior_rate(hour: int, beds: int, profile: tuple[float, ...] | None, st: dict[str, Any], pr: Params) -> float:
    """Unannounced arrivals per hour before any history of this hour of day: the
    registry's expected arrivals of that local hour, else a flat rate per treatment
    space; times the unannounced share (observed once there are arrivals, else the
    registry's)."""
    if profile is not None:
        total = profile[slot_of(hour) % 24]
    else:
        total = pr.prior_per_bed_hour * beds
    weight, arrivals = st["u"]
    share = (weight + pr.unannounced_share) / (arrivals + 1.0)  # one pseudo-arrival
    return total * share


def slot_rate(st: dict[str, Any], hour: int, prior: float, pr: Params) -> float:
    """Unannounced arrivals per hour expected in absolute hour `hour`: the hour-of-week
    mean shrunk towards the hour-of-day mean, itself shrunk towards `prior`."""
    slot = slot_of(hour)
    s, w = st["s"], st["w"]
    hod = slot % 24
    ds = dw = 0.0
    for d in range(7):
        i = d * 24 + hod
        ds += s[i]
        dw += w[i]
    day_rate = (ds + pr.day_shrink * prior) / (dw + pr.day_shrink) if dw + pr.day_shrink > 0 else prior
    return (s[slot] + pr.week_shrink * day_rate) / (w[slot] + pr.week_shrink) if w[slot] + pr.week_shrink > 0 \
        else day_rate


def level_ratio(st: dict[str, Any], partial_actual: float, partial_expected: float, pr: Params) -> float:
    """How the recent hours compare with their forecast (actual / forecast of the
    unannounced arrivals of the last closed hours plus the current hour so far), shrunk
    towards 1 by `ratio_prior` pseudo-arrivals."""
    a, e = partial_actual, partial_expected
    for _h, actual, expected in st["r"]:
        a += actual
        e += expected
    c = pr.ratio_prior
    return (a + c) / (e + c) if e + c > 0 else 1.0


def expected_unannounced(st: dict[str, Any], now: int, prior_now: float, prior_next: float,
                         partial_actual: float, pr: Params) -> float:
    """Unannounced arrivals expected in `(now, now + 60 min]`: the rates of the current
    and the next hour, weighted by how much of each the span covers, times the level
    ratio. `partial_actual`: the unannounced weight of this hour's arrivals so far."""
    h = hour_of(now)
    return unannounced_in_span(st, now, slot_rate(st, h, prior_now, pr), slot_rate(st, h + 1, prior_next, pr),
                               partial_actual, pr)


def unannounced_in_span(st: dict[str, Any], now: int, r_now: float, r_next: float, partial_actual: float,
                        pr: Params) -> float:
    """`expected_unannounced` from the slot rates of the current and the next hour
    (they hold for a whole hour: a region computes them once per hour and SEH)."""
    h = hour_of(now)
    f = (now - h * HOUR_MS) / HOUR_MS  # share of the current hour gone
    ratio = level_ratio(st, partial_actual, r_now * f, pr)
    return ((1.0 - f) * r_now + f * r_next) * ratio


# ==================================================================== histograms
def cumulative(hist: list[float]) -> list[float]:
    """Prefix sums: `c[i]` = mass of bins < i (length len(hist) + 1). The last bin is
    the overflow bin (see `_mass_below`): give a histogram without one a 0 bin more."""
    out = [0.0]
    acc = 0.0
    for x in hist:
        acc += x
        out.append(acc)
    return out


def _mass_below(cum: list[float], bin_ms: int, t_ms: float) -> float:
    """Mass of values < t, spreading each bin evenly over its width. The last bin holds
    the values beyond the histogram's range, whose spread is unknown: it never counts
    as below (a stay of more than 24 h leaves at the prior's pace)."""
    nb = len(cum) - 1
    if t_ms <= 0:
        return 0.0
    pos = t_ms / bin_ms
    i = int(pos)
    if i >= nb - 1:
        return cum[nb - 1]
    return cum[i] + (cum[i + 1] - cum[i]) * (pos - i)


def conditional_share(cum: list[float], bin_ms: int, elapsed_ms: float, extra: float,
                      prior: float, prior_weight: float = 1.0) -> float:
    """P(value <= elapsed + 60 min | value > elapsed) from a histogram (with `extra`
    mass that never ends, e.g. referrals that never arrive), shrunk towards `prior`
    by `prior_weight` observations so a thin tail does not give 0 or 1."""
    total = cum[-1] + extra
    below_a = _mass_below(cum, bin_ms, elapsed_ms)
    below_b = _mass_below(cum, bin_ms, elapsed_ms + SPAN_MS)
    survivors = total - below_a
    ending = below_b - below_a
    return (ending + prior_weight * prior) / (survivors + prior_weight)


def departure_ratio(st: dict[str, Any], pr: Params) -> float:
    """How the departures of the last closed hours compare with what was expected of
    them when each began, shrunk towards 1 like the arrivals' level ratio: stays
    lengthen when the wards are full (boarding), which a histogram of the past weeks
    does not know yet."""
    a = e = 0.0
    for _h, actual, expected in st.get("rd") or ():
        a += actual
        e += expected
    c = pr.ratio_prior
    return (a + c) / (e + c) if e + c > 0 else 1.0


def close_departures(st: dict[str, Any], hour: int, actual: int, expected_next: float,
                     pr: Params) -> dict[str, Any]:
    """After `hour` closed with `actual` departures: keep how they compare with what was
    expected at its start, and the expectation for the hour that begins now."""
    rd = list(st.get("rd") or ())
    d = st.get("d")
    if d is not None and d[0] == hour:
        rd = [*rd, [hour, actual, d[1]]][-pr.recent_hours:] if pr.recent_hours else []
    return dict(st, rd=rd, d=[hour + 1, _round(expected_next)])


def expected_departures(los_cum: list[float], stayed_ms: Iterable[int], pr: Params) -> float:
    """Present patients expected to leave within 60 minutes (`stayed_ms`: how long each
    has been here)."""
    # `conditional_share(los_cum, LOS_BIN_MS, max(0, a), 0.0, pr.los_prior)` per patient,
    # unrolled: this runs for every present patient of every SEH at every minute. The
    # float operations are the same ones in the same order, so are the results.
    cum = los_cum
    last = len(cum) - 2  # bin index from which `_mass_below` answers cum[-2]
    top = cum[last]
    total = cum[-1] + 0.0
    weighted_prior = 1.0 * pr.los_prior
    shares: list[float] = []
    for a in stayed_ms:
        t = a if a > 0 else 0
        if t <= 0:
            below_a = 0.0
        else:
            pos = t / LOS_BIN_MS
            i = int(pos)
            below_a = top if i >= last else cum[i] + (cum[i + 1] - cum[i]) * (pos - i)
        pos = (t + SPAN_MS) / LOS_BIN_MS
        i = int(pos)
        below_b = top if i >= last else cum[i] + (cum[i + 1] - cum[i]) * (pos - i)
        shares.append((below_b - below_a + weighted_prior) / (total - below_a + 1.0))
    return sum(shares)


def referral_chance(ref_cum: list[float], never: float, age_ms: int, pr: Params) -> float:
    """The chance that a referral issued `age_ms` ago and not arrived yet arrives within
    60 minutes (0 past the referral horizon: it is not coming)."""
    if age_ms >= pr.referral_max_ms:
        return 0.0
    return conditional_share(ref_cum, REF_BIN_MS, max(0, age_ms), never, pr.referral_prior)


# ==================================================================== closing an hour
def close_seh_hour(st: dict[str, Any], hour: int, unannounced: float, arrivals: int,
                   stays_ms: Iterable[int], forecast: float, pr: Params) -> dict[str, Any]:
    """The SEH state after absolute hour `hour` closed: `unannounced` (the summed weights
    of its arrivals), `arrivals` (their number), the lengths of stay of its departures,
    and the unannounced rate forecast for it (for the level ratio)."""
    slot = slot_of(hour)
    s, w = list(st["s"]), list(st["w"])
    # The same slot comes once a week: an exponential mean over the weeks.
    s[slot] = _round(s[slot] * pr.decay + unannounced)
    w[slot] = _round(w[slot] * pr.decay + 1.0)
    u0, u1 = st["u"]
    u = [_round(u0 * pr.los_decay + unannounced), _round(u1 * pr.los_decay + arrivals)]
    r = [*st["r"], [hour, _round(unannounced), _round(forecast)]][-pr.recent_hours:] if pr.recent_hours else []
    los = [x * pr.los_decay for x in st["los"]]
    for ms in stays_ms:
        los[min(LOS_BINS, max(0, ms) // LOS_BIN_MS)] += 1.0
    return dict(st, s=s, w=w, u=u, r=r, los=[_round(x) for x in los])


def close_region_hour(st: dict[str, Any], hour: int, delays_ms: Iterable[int], expired: int,
                      pr: Params) -> dict[str, Any]:
    """The region state after `hour` closed: the referral delays observed in it and the
    referrals that reached the horizon without arriving."""
    ref = [x * pr.los_decay for x in st["ref"]]
    never = st["never"] * pr.los_decay + expired
    n = len(ref)
    for d in delays_ms:
        if d >= pr.referral_max_ms:
            never += 1.0
        else:
            ref[min(n - 1, max(0, d) // REF_BIN_MS)] += 1.0
    return {"h": hour, "ref": [_round(x) for x in ref], "never": _round(never)}


# ==================================================================== the prediction
class Forecast(NamedTuple):
    expected_arrivals: float
    expected_departures: float
    predicted_patients: float
    predicted_nedocs: float | None
    predicted_level: int | None


def predict(
    *,
    now: int,
    core: SehFigures,
    ward_beds: int,
    etas: list[int],
    referral_ages_ms: Iterable[int],
    ref_cum: list[float],
    never: float,
    stayed_ms: Iterable[int],
    los_cum: list[float],
    unannounced: float,
    pr: Params,
    departure_factor: float = 1.0,
) -> tuple[Forecast, float]:
    """The SEH's forecast for `(now, now + 60 min]` from its current figures (`core`, as
    RegionProcessor.seh_core), the ETAs of rides en route here, the ages of referrals
    not arrived, the stays of present patients and the unannounced forecast. NEDOCS is
    applied to the predicted patients, with boarders, critical patients and times
    carried forward. Returns the forecast and its announced part."""
    end = now + SPAN_MS
    rides = sum(1 for e in etas if now - STALE_ETA_MS < e <= end)
    refs = sum(referral_chance(ref_cum, never, a, pr) for a in referral_ages_ms)
    arrivals = rides + refs + unannounced
    departures = expected_departures(los_cum, stayed_ms, pr) * departure_factor
    patients = max(0.0, core.patients + arrivals - departures)
    nd = nedocs(
        patients=patients,
        seh_staffed_beds=core.staffed_beds,
        boarders=core.boarders,
        hospital_ward_staffed_beds=ward_beds,
        critical=core.critical,
        longest_boarding_hours=core.longest_boarding_hours,
        last_bed_wait_hours=core.last_bed_wait_hours,
    )
    return Forecast(arrivals, departures, patients, nd.score, nd.level), rides + refs


def fields(f: Forecast) -> dict[str, Any]:
    """The snapshot fields of a forecast, rounded like the other counts (2 decimals)."""
    return {
        "expected_arrivals_60m": round(f.expected_arrivals, 2),
        "expected_departures_60m": round(f.expected_departures, 2),
        "predicted_patients_60m": round(f.predicted_patients, 2),
        "predicted_nedocs_60m": None if f.predicted_nedocs is None else round(f.predicted_nedocs, 2),
        "predicted_nedocs_level_60m": f.predicted_level,
    }


EMPTY_FIELDS = fields(Forecast(0.0, 0.0, 0.0, None, None))


def poisson_mae_floor(mean: float) -> float:
    """The MAE below which an hourly Poisson count with this mean cannot be forecast
    (about sqrt(2m/pi) for larger m)."""
    return math.sqrt(2.0 * mean / math.pi)
