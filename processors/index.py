"""The region's memberships index: who is where right now, kept from contributions.

Every entity (encounter, ride, call) contributes to the region through a contribution
derived from its own history (processors.doorstroom, processors.instroom). The region
adds a new contribution and removes the old one (`apply` with sign +1 / -1), so the
figures the snapshots and the rules read are always up to date without ever scanning
the entities: per SEH the patients, waiting, boarding and critical counts, boarding
and treatment start times, rides en route and handovers in progress; per ward the
admission times of its occupants and its wrong-bed (discharge-ready) intervals.

It also holds the contributions themselves and the retention queue of entities without
an open place (`expiry`): such an entity is forgotten `ENTITY_RETENTION_MS` after its
last event (the windows keep the aggregated buckets, not the entities).

All of it is derived: rebuilt from the entities on restore, never stored. The reads
(`occupied`, `wrong_bed_patients`, `long_stay`) are here too, next to what they read.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from typing import Any

from processors.contribution import Contribution
from topics.registry import Registry

DAY_MS = 86_400_000
ENTITY_RETENTION_MS = DAY_MS  # closed entities kept this long after their last event


class SehCounts:
    """The present patients of one SEH, and how many of them wait for treatment, board
    (wait for a ward bed) or are critical (urgency U0/U1)."""

    __slots__ = ("patients", "waiting", "boarders", "critical")

    def __init__(self) -> None:
        self.patients = 0
        self.waiting = 0
        self.boarders = 0
        self.critical = 0


class Memberships:
    """Memberships of the open entities per location, their contributions and the
    retention queue (see the module docstring). `touched` is the region's set of
    locations whose figures changed since its last evaluation: every change here adds
    its location to it."""

    def __init__(self, registry: Registry, seh_ids: list[str], touched: set[str]) -> None:
        self.registry = registry
        self.touched = touched
        self.contributions: dict[str, Contribution] = {}
        # -- SEH
        self.seh_counts: dict[str, SehCounts] = {s: SehCounts() for s in seh_ids}
        self.boarding: dict[str, list[int]] = {s: [] for s in seh_ids}  # boarding since, sorted
        # per SEH: entity -> (treatment start, wait before it); and the latest of them
        # as (time, entity, wait): the "last bed wait" NEDOCS reads
        self.treatments: dict[str, dict[str, tuple[int, int]]] = {s: {} for s in seh_ids}
        self.last_treatment: dict[str, tuple[int, str, int] | None] = {s: None for s in seh_ids}
        self.en_route: dict[str, int] = {}  # rides transporting to the SEH
        self.handovers: dict[str, list[int]] = {}  # at the SEH since, sorted
        # -- wards (and follow-up locations)
        self.occupants: dict[str, list[int]] = {}  # on the ward since, sorted
        self.ready: dict[str, dict[str, tuple[int, str]]] = {}  # entity -> (ready since, waiting for)
        self.ready_starts: dict[str, list[int]] = {}  # the same starts, sorted
        # closed discharge-ready intervals per entity (they count for 24 h in the wrong-bed days)
        self.ready_closed: dict[str, dict[str, list[tuple[int, int]]]] = {}
        # Long stays per ward as (count, valid through): the count only grows when `now`
        # passes the next `since + limit`, so it is recomputed then or when the ward's
        # occupants change, rather than searched per ward at every minute.
        self._long_stay: dict[str, tuple[int, int | None]] = {}
        self._limits: dict[str, int | None] = {}  # location -> its long-stay limit (ms)
        # (time to forget, entity): entities without an open place, checked when due
        self.expiry: list[tuple[int, str]] = []

    # ------------------------------------------------------------------ updates
    def apply(self, ekey: str, c: Contribution, sign: int) -> None:
        """Add (sign 1) or remove (sign -1) an entity's memberships."""
        touched = self.touched
        s = c.seh
        if s is not None:
            loc, waiting, board, crit = s
            n = self.seh_counts.get(loc)
            if n is None:
                n = self.seh_counts[loc] = SehCounts()
            n.patients += sign
            if waiting:
                n.waiting += sign
            if board is not None:
                n.boarders += sign
                sorted_change(self.boarding.setdefault(loc, []), board, sign)
            if crit:
                n.critical += sign
            touched.add(loc)
        ts = c.treatment
        if ts is not None:
            loc, t, wait = ts
            d = self.treatments.setdefault(loc, {})
            best = self.last_treatment.get(loc)
            if sign > 0:
                d[ekey] = (t, wait)
                if best is None or (t, ekey) > (best[0], best[1]):
                    self.last_treatment[loc] = (t, ekey, wait)
            else:
                d.pop(ekey, None)
                if best is not None and best[1] == ekey:
                    self.last_treatment[loc] = max(((v[0], k, v[1]) for k, v in d.items()), default=None)
            touched.add(loc)
        w = c.ward
        if w is not None:
            loc, since = w
            sorted_change(self.occupants.setdefault(loc, []), since, sign)
            self._long_stay.pop(loc, None)
            touched.add(loc)
        r = c.ready
        if r is not None:
            loc, start, wf = r
            d2 = self.ready.setdefault(loc, {})
            if sign > 0:
                d2[ekey] = (start, wf)
            else:
                d2.pop(ekey, None)
            sorted_change(self.ready_starts.setdefault(loc, []), start, sign)
            touched.add(loc)
        if c.ready_closed:
            by_loc: dict[str, list[tuple[int, int]]] = {}
            for loc, s0, e0 in c.ready_closed:
                by_loc.setdefault(loc, []).append((s0, e0))
            for loc, ivs in by_loc.items():
                d3 = self.ready_closed.setdefault(loc, {})
                if sign > 0:
                    d3[ekey] = ivs
                else:
                    d3.pop(ekey, None)
                touched.add(loc)
        er = c.en_route
        if er is not None:
            self.en_route[er] = self.en_route.get(er, 0) + sign
            touched.add(er)
        ho = c.handover
        if ho is not None:
            loc, start = ho
            sorted_change(self.handovers.setdefault(loc, []), start, sign)
            touched.add(loc)

    def retain(self, ekey: str, last_event: int) -> None:
        """The entity holds no open place: forget it a retention after its last event
        (unless something happens to it by then)."""
        heapq.heappush(self.expiry, (last_event + ENTITY_RETENTION_MS, ekey))

    def expired(self, now: int, last_event: dict[str, dict[str, Any]]) -> list[str]:
        """The entities to forget at `now`: due in the queue, still without an open place,
        and no event since (`last_event`: the entity entries, with their `last`)."""
        out: list[str] = []
        seen: set[str] = set()
        queue = self.expiry
        while queue and queue[0][0] <= now:
            _, ekey = heapq.heappop(queue)
            ent = last_event.get(ekey)
            if ent is None or ent["last"] + ENTITY_RETENTION_MS > now:
                continue
            c = self.contributions.get(ekey)
            if (c is not None and c.has_membership()) or ekey in seen:
                continue
            seen.add(ekey)  # (an entity can be queued more than once)
            out.append(ekey)
        return out

    # ------------------------------------------------------------------ reads
    def occupied(self, lid: str) -> int:
        return len(self.occupants.get(lid, ()))

    def wrong_bed_patients(self, lid: str) -> int:
        return len(self.ready.get(lid, ()))

    def long_stay(self, lid: str, now: int | None) -> int:
        """Patients on ward `lid` longer than the long-stay limit of its bed type."""
        if now is None:
            return 0
        cached = self._long_stay.get(lid)
        if cached is not None and (cached[1] is None or now <= cached[1]):
            return cached[0]
        limit = self._limits.get(lid, -1)
        if limit == -1:
            limit = self._limits[lid] = self._limit(lid)
        if limit is None:
            return 0
        lst = self.occupants.get(lid, [])
        # on the ward longer than the limit: since < now - limit
        n = bisect_left(lst, now - limit)
        # the same while now - limit <= lst[n], i.e. now <= lst[n] + limit
        self._long_stay[lid] = (n, lst[n] + limit if n < len(lst) else None)
        return n

    def long_stay_changes(self, lid: str, now: int) -> int | None:
        """When `long_stay(lid)` may next change while the ward's occupants stay the
        same (None: not by time alone)."""
        self.long_stay(lid, now)
        cached = self._long_stay.get(lid)
        if cached is None or cached[1] is None:
            return None
        return cached[1] + 1

    def _limit(self, lid: str) -> int | None:
        """The long-stay limit (ms) of a location's bed type (None: it has none)."""
        bed_type = self.registry.locations[lid].bed_type
        days = None if bed_type is None else self.registry.thresholds.long_stay_days.get(bed_type)
        return None if days is None else int(days * DAY_MS)


def sorted_change(lst: list[int], value: int, sign: int) -> None:
    """Insert (sign 1) or remove (sign -1) one occurrence of `value` in a sorted list."""
    if sign > 0:
        insort(lst, value)
    else:
        i = bisect_left(lst, value)
        if i < len(lst) and lst[i] == value:
            del lst[i]
