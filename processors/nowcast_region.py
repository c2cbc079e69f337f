"""The nowcast of one region: what it learns from the stream and what it forecasts.

`processors.nowcast` holds the model as pure functions; this module is its state and
bookkeeping inside a region:

- the history it learns (state entries `nc:{seh}` per SEH and `nc:~` for the region:
  hour-of-week aggregates, length-of-stay and referral-delay histograms), updated once
  per closed hour (`close_hours`), never per event;
- its indexes over the entities' contributions (`apply`, like the memberships index):
  arrival times of present SEH patients, ETAs of rides en route, referrals by call and
  destination, the calls and rides that announced arrivals, and the SEH arrivals per
  hour with what announced them;
- the forecast of an SEH at `now` (`forecast`), computed once per instant and SEH: its
  rules and its snapshot read the same one.

The indexes and caches are derived (rebuilt from the entities on restore); the history
is state, kept as plain JSON values.
"""

from __future__ import annotations

from typing import Any, Callable

from processors import nowcast
from processors.contribution import Contribution
from processors.crowding import SehFigures
from processors.index import sorted_change
from processors.windows import MINUTE_MS
from topics.registry import Registry

HOUR_MS = nowcast.HOUR_MS
REGION_ENTRY = "nc:~"


class RegionNowcast:
    """The nowcast's history, indexes and forecasts for the SEHs of one region.

    `touched`: the region's set of locations whose figures changed (an SEH whose
    announced arrivals change is touched); `mark_changed(entry)`: a state entry changed."""

    def __init__(self, registry: Registry, seh_ids: list[str], touched: set[str],
                 mark_changed: Callable[[str], None]) -> None:
        self.registry = registry
        self.seh_ids = seh_ids
        self.touched = touched
        self.mark_changed = mark_changed
        self.params = nowcast.params(registry.thresholds)
        # -- state: per SEH (`nc:{seh}`) and the region (`nc:~`); None until the first event
        self.seh: dict[str, dict[str, Any]] = {}
        self.region: dict[str, Any] | None = None
        # -- derived, from the entities' contributions
        self.stays: dict[str, list[int]] = {s: [] for s in seh_ids}  # arrival times of present patients, sorted
        self.etas: dict[str, list[int]] = {}  # ETAs of rides en route, sorted
        self.refs: dict[str, tuple[str, int, str]] = {}  # call_id -> (seh, issued, entity)
        self.refs_to: dict[str, dict[str, int]] = {}  # seh -> {call_id: issued}
        self.arrived_calls: dict[str, tuple[str, int]] = {}  # call_id -> (entity, arrival)
        self.ride_tx: dict[str, tuple[str, int]] = {}  # ride_id -> (entity, destination announced)
        # hour -> seh -> entity -> (arrival, ride_id, call_id)
        self.arrivals: dict[int, dict[str, dict[str, tuple[int, str | None, str | None]]]] = {}
        # -- caches
        self._forecasts: dict[str, tuple[int, nowcast.Forecast]] = {}  # seh -> (now, forecast)
        self._los_cum: dict[str, list[float]] = {}  # seh -> cumulative LOS histogram
        self._ref_cum: list[float] | None = None
        self._rates: dict[str, tuple[int, dict[str, Any], int, float, float, float]] = {}  # see `forecast`
        self._empty = nowcast.empty_seh()  # the history of an SEH that has none yet

    # ------------------------------------------------------------------ state entries
    def entries(self) -> dict[str, Any]:
        out: dict[str, Any] = {f"nc:{lid}": v for lid, v in self.seh.items()}
        if self.region is not None:
            out[REGION_ENTRY] = self.region
        return out

    def entry(self, rest: str) -> Any:
        """The value of entry `nc:{rest}` (None: absent)."""
        return self.region if rest == "~" else self.seh.get(rest)

    def load(self, rest: str, value: Any) -> None:
        if rest == "~":
            self.region = value
        else:
            self.seh[rest] = value

    # ------------------------------------------------------------------ indexes
    def apply(self, ekey: str, c: Contribution, sign: int) -> None:
        """Add (sign 1) or remove (sign -1) what an entity's contribution tells the
        nowcast (see the module docstring)."""
        stay = c.stay
        if stay is not None:
            sorted_change(self.stays.setdefault(stay[0], []), stay[1], sign)
        arr = c.arrival
        if arr is not None:
            loc, t, ride, call = arr
            hour = nowcast.hour_of(t)
            if sign > 0:
                self.arrivals.setdefault(hour, {}).setdefault(loc, {})[ekey] = (t, ride, call)
                if call:
                    self.arrived_calls[call] = (ekey, t)
            else:
                self.arrivals.get(hour, {}).get(loc, {}).pop(ekey, None)
                if call and self.arrived_calls.get(call, ("",))[0] == ekey:
                    del self.arrived_calls[call]
            self.touched.add(loc)
        eta = c.eta
        if eta is not None:
            sorted_change(self.etas.setdefault(eta[0], []), eta[1], sign)
            self.touched.add(eta[0])
        tx = c.announced
        if tx is not None:
            if sign > 0:
                self.ride_tx[tx[0]] = (ekey, tx[1])
            elif self.ride_tx.get(tx[0], ("",))[0] == ekey:
                del self.ride_tx[tx[0]]
        ref = c.referral
        if ref is not None:
            call, dest, issued = ref
            if sign > 0:
                self.refs[call] = (dest, issued, ekey)
                self.refs_to.setdefault(dest, {})[call] = issued
            elif self.refs.get(call, ("", 0, ""))[2] == ekey:
                del self.refs[call]
                self.refs_to.get(dest, {}).pop(call, None)
            self.touched.add(dest)

    # ------------------------------------------------------------------ learning
    def close_hours(self, prev: int | None, now: int, buckets: dict[int, dict[str, Any]],
                    beds: Callable[[str], int]) -> None:
        """Close the hours that ended since the clock was last moved (from `prev` to
        `now`): each SEH's arrivals and departures of the hour go into its history, the
        referral delays into the region's. Hours without any event of the region (a feed
        outage, a restart after a pause) are skipped rather than learnt as hours without
        arrivals. `buckets`: the region's window buckets (the lengths of stay)."""
        hour = nowcast.hour_of(now)
        nr = self.region
        if nr is None:
            # the stream starts part-way through this hour: it is not learnt from
            self.region = nowcast.empty_region(self.params.referral_max_ms)
            self.region["h"] = hour
            self.mark_changed(REGION_ENTRY)
            return
        last = nr["h"]
        if last is None or hour - 1 <= last:
            return
        # hours after the one of the previous event had no event at all
        upto = min(hour, nowcast.hour_of(prev) + 1) if prev is not None else hour
        for h in range(max(last + 1, hour - 48), upto):
            self._close_hour(h, buckets, beds)
        self.region = dict(self.region, h=hour - 1)  # type: ignore[arg-type]
        self.mark_changed(REGION_ENTRY)
        for old in [k for k in self.arrivals if k < hour - 48]:
            del self.arrivals[old]  # only the current and the last hour are read
        # A referral past the horizon adds nothing to a forecast (nowcast.referral_chance)
        # but stays until its call is forgotten (days): the forecasts, every minute for
        # every SEH, need not look at it again. (`refs` keeps it for the hour it expires.)
        horizon = now - self.params.referral_max_ms
        for pending in self.refs_to.values():
            for call in [call for call, issued in pending.items() if issued <= horizon]:
                del pending[call]

    def _close_hour(self, h: int, buckets: dict[int, dict[str, Any]], beds: Callable[[str], int]) -> None:
        pr = self.params
        start, end = h * HOUR_MS, (h + 1) * HOUR_MS
        stays: dict[str, list[int]] = {}
        for m in range(start // MINUTE_MS, end // MINUTE_MS):
            b = buckets.get(m)
            if b is None:
                continue
            for key, vals in b["v"].items():
                if key.startswith("los|"):
                    stays.setdefault(key[4:], []).extend(vals)
        arrived = self.arrivals.get(h, {})
        delays: list[int] = []
        for lid in self.seh_ids:
            un = 0.0
            n = 0
            for ekey in sorted(arrived.get(lid, {})):
                t, ride, call = arrived[lid][ekey]
                un += nowcast.unannounced_weight(self._lead(t, ride, call))
                n += 1
                ref = self.refs.get(call) if call else None
                if ref is not None and t - ref[1] < pr.referral_max_ms:
                    delays.append(max(0, t - ref[1]))
            st = self._state(lid)
            forecast = nowcast.slot_rate(st, h, self._prior(lid, h, st, beds(lid)), pr)
            st = nowcast.close_seh_hour(st, h, un, n, sorted(stays.get(lid, ())), forecast, pr)
            # what is expected of the departures of the hour that begins now (the
            # clock is just past its start), to compare with what comes
            los_cum = nowcast.cumulative(st["los"])
            start_next = end
            expected_next = nowcast.expected_departures(
                los_cum, [start_next - t for t in self.stays.get(lid, ()) if t <= start_next], pr)
            self.seh[lid] = nowcast.close_departures(st, h, len(stays.get(lid, ())), expected_next, pr)
            self.mark_changed(f"nc:{lid}")
            self._los_cum[lid] = los_cum
        # referrals whose horizon ended in this hour without an arrival before it
        expired = 0
        for call, (_dest, issued, _ekey) in self.refs.items():
            due = issued + pr.referral_max_ms
            if start <= due < end:
                came = self.arrived_calls.get(call)
                if came is None or came[1] >= due:
                    expired += 1
        assert self.region is not None
        self.region = nowcast.close_region_hour(self.region, h, sorted(delays), expired, pr)
        self._ref_cum = None

    # ------------------------------------------------------------------ forecasting
    def forget_forecasts(self) -> None:
        """The region's state may have changed: forecasts are computed anew."""
        self._forecasts.clear()

    def cached(self, lid: str, now: int) -> nowcast.Forecast | None:
        hit = self._forecasts.get(lid)
        return hit[1] if hit is not None and hit[0] == now else None

    def forecast(self, lid: str, now: int, core: SehFigures, beds: int, ward_beds: int) -> nowcast.Forecast:
        """SEH `lid`'s forecast for the next 60 minutes at `now`, from its live figures
        (`core`: RegionProcessor.seh_core), its treatment spaces and its hospital's ward
        beds. Kept until `forget_forecasts` (see `cached`)."""
        pr = self.params
        st = self._state(lid)
        hour = nowcast.hour_of(now)
        partial = 0.0
        for t, ride, call in self.arrivals.get(hour, {}).get(lid, {}).values():
            if t <= now:
                partial += nowcast.unannounced_weight(self._lead(t, ride, call))
        # The slot rates depend on the hour, the SEH's history (a new object once an hour
        # closes) and its treatment spaces (the prior), the departure ratio on the
        # history alone: reused while those stay the same.
        rates = self._rates.get(lid)
        if rates is None or rates[0] != hour or rates[1] is not st or rates[2] != beds:
            rates = (hour, st, beds,
                     nowcast.slot_rate(st, hour, self._prior(lid, hour, st, beds), pr),
                     nowcast.slot_rate(st, hour + 1, self._prior(lid, hour + 1, st, beds), pr),
                     nowcast.departure_ratio(st, pr))
            self._rates[lid] = rates
        unannounced = nowcast.unannounced_in_span(st, now, rates[3], rates[4], partial, pr)
        los_cum = self._los_cum.get(lid)
        if los_cum is None:
            los_cum = self._los_cum[lid] = nowcast.cumulative(st["los"])
        ref_cum = self._ref_cum
        nr = self.region or nowcast.empty_region(pr.referral_max_ms)
        if ref_cum is None:
            ref_cum = self._ref_cum = nowcast.cumulative([*nr["ref"], 0.0])
        arrived = self.arrived_calls
        ages = [now - issued for call, issued in self.refs_to.get(lid, {}).items()
                if call not in arrived and issued <= now]
        fc, _announced = nowcast.predict(
            now=now, core=core, ward_beds=ward_beds,
            etas=self.etas.get(lid, []), referral_ages_ms=sorted(ages), ref_cum=ref_cum, never=nr["never"],
            stayed_ms=[now - t for t in self.stays.get(lid, ())], los_cum=los_cum,
            unannounced=unannounced, pr=pr, departure_factor=rates[5])
        self._forecasts[lid] = (now, fc)
        return fc

    def _state(self, lid: str) -> dict[str, Any]:
        """The SEH's history (never modified in place: closing an hour makes a new one)."""
        st = self.seh.get(lid)
        if st is None:
            st = self._empty
        return st

    def _lead(self, t: int, ride: str | None, call: str | None) -> int | None:
        """How long before arrival `t` it was announced (None: it was not)."""
        lead = None
        if ride:
            tx = self.ride_tx.get(ride)
            if tx is not None:
                lead = t - tx[1]
        if call:
            ref = self.refs.get(call)
            if ref is not None and (lead is None or t - ref[1] > lead):
                lead = t - ref[1]
        return lead

    def _prior(self, lid: str, hour: int, st: dict[str, Any], beds: int) -> float:
        return nowcast.prior_rate(hour, beds, self.registry.locations[lid].expected_arrivals_per_hour,
                                  st, self.params)

