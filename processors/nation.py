"""The nation: routing events to their region(s) and the nation's snapshot (metrics.md,
"The nation"; events.md, "Many regions, one deployment").

- `NationRouter` decides which regions an input event belongs to: its partner's region,
  and for an ambulance ride that reaches an SEH of another region, or a referral to one,
  that region too (the SEH side counts there: `instroom.localise_ride`, `localise_call`).
- `build_nation` is a pure function of the latest region snapshots and the stream time.
- `NationProcessor` runs one `RegionProcessor` per region over one input and adds the
  nation's snapshot whenever a region snapshot changed. On the event clock the nation's
  stream time is the latest `as_of` of its region snapshots (the pipeline's nation agent,
  which sees only those, uses the same), so a region is stale when its snapshot is more
  than 15 minutes behind the newest one.
"""

from __future__ import annotations

from typing import Any

from processors.ingress import DEFAULT_RETENTION_MS
from processors.output import Output
from processors.region import RegionProcessor
from processors.windows import MINUTE_MS
from topics.codec import format_time, parse_time
from topics.event import Event, Rejected
from topics.nation import Nation

#: A region whose last snapshot is older than this (stream time) is `stale`.
STALE_AFTER_MS = 15 * MINUTE_MS
#: Ride events naming the SEH the ride goes to or is at.
RIDE_SEH_FIELDS = {"dispatch.transporting": "destination", "dispatch.at_hospital": "location"}
#: How long (event time) the router remembers that a ride reached another region's SEH:
#: its later events (handover completed, cleared) name no location but end the ride there.
RIDE_MEMORY_MS = 24 * 60 * MINUTE_MS
RIDE_MEMORY_MAX = 200_000
SPREAD_BED_TYPES = ("clinical", "ic")
NO_ADVICE_LEVEL = 4  # a region at escalation level 4 takes no patients from others


class NationRouter:
    """Which regions an input event belongs to, home region first."""

    def __init__(self, nation: Nation) -> None:
        self.nation = nation
        # ride (partner/ride_id) -> (other regions it reached, latest event time seen);
        # insertion order is age order, so the oldest entries are dropped first
        self.rides: dict[str, tuple[tuple[str, ...], int]] = {}

    def route(self, ev: Event) -> list[str]:
        home = self.nation.region_of_partner[ev.partner]
        if len(self.nation.regions) == 1:
            return [home]
        if ev.type == "call.completed":
            # a referral to another region's SEH is an arrival announced there
            there = self.nation.region_of_location.get(ev.data.get("destination") or "")
            return [home] if there is None or there == home else [home, there]
        if not ev.type.startswith("dispatch."):
            return [home]
        ride = f"{ev.partner}/{ev.data.get('ride_id')}"
        known = self.rides.pop(ride, None)
        regions = known[0] if known is not None else ()
        field = RIDE_SEH_FIELDS.get(ev.type)
        if field is not None:
            there = self.nation.region_of_location.get(ev.data.get(field, ""))
            if there is not None and there != home and there not in regions:
                regions = tuple(sorted((*regions, there)))
        if regions:
            self.rides[ride] = (regions, max(ev.time, known[1]) if known is not None else ev.time)
            self._forget(ev.time)
        return [home, *regions]

    def _forget(self, now: int) -> None:
        rides = self.rides
        while rides:
            oldest = next(iter(rides))
            if len(rides) <= RIDE_MEMORY_MAX and rides[oldest][1] >= now - RIDE_MEMORY_MS:
                break
            del rides[oldest]


def _region_row(snap: dict[str, Any] | None, now: int) -> dict[str, Any]:
    if snap is None:
        return {"stale": True, "as_of": None, "escalation_level": None}
    return {
        "stale": now - parse_time(snap["as_of"]) > STALE_AFTER_MS,
        "as_of": snap["as_of"],
        "escalation_level": snap["escalation_level"],
        "seh_patients": snap["patients"],
        "seh_boarders": snap["boarders"],
        "sehs_by_nedocs_level": snap["sehs_by_nedocs_level"],
        "sehs_on_stop": snap["sehs_on_stop"],
        "staffed_beds_by_bed_type": snap["staffed_beds_by_bed_type"],
        "occupied_beds_by_bed_type": snap["occupied_beds_by_bed_type"],
        "free_beds_by_bed_type": snap["free_beds_by_bed_type"],
        "occupancy_by_bed_type": snap["occupancy_by_bed_type"],
        "wrong_bed_patients": snap["wrong_bed_patients"],
    }


def _add(into: dict[str, int], by: dict[str, int]) -> None:
    for k, v in by.items():
        into[k] = into.get(k, 0) + v


def build_nation(nation: Nation, region_snapshots: dict[str, dict[str, Any]], now: int) -> dict[str, Any]:
    """The nation's snapshot from the latest snapshot of each region (metrics.md, "The
    nation"). Totals are over every region with a snapshot, stale ones included (their
    last known figures); `spreading_advice` leaves out stale regions and regions at
    escalation level 4."""
    rows = {rid: _region_row(region_snapshots.get(rid), now) for rid in nation.regions}
    known = [row for row in rows.values() if row["escalation_level"] is not None]
    staffed: dict[str, int] = {}
    occupied: dict[str, int] = {}
    free: dict[str, int] = {}
    nedocs: dict[str, int] = {}
    by_level: dict[str, int] = {}
    for row in known:
        _add(staffed, row["staffed_beds_by_bed_type"])
        _add(occupied, row["occupied_beds_by_bed_type"])
        _add(free, row["free_beds_by_bed_type"])
        _add(nedocs, row["sehs_by_nedocs_level"])
        _add(by_level, {str(row["escalation_level"]): 1})
    advice: dict[str, list[dict[str, Any]]] = {}
    for bed_type in SPREAD_BED_TYPES:
        candidates = [
            (row["free_beds_by_bed_type"].get(bed_type, 0), rid) for rid, row in rows.items()
            if row["escalation_level"] is not None and not row["stale"]
            and row["escalation_level"] < NO_ADVICE_LEVEL and row["free_beds_by_bed_type"].get(bed_type, 0) > 0
        ]
        candidates.sort(key=lambda c: (-c[0], c[1]))
        advice[bed_type] = [{"region": rid, "free_beds": n} for n, rid in candidates]
    return {
        "scope": "nation",
        "id": nation.id,
        "regions": rows,
        "stale_regions": sorted(rid for rid, row in rows.items() if row["stale"]),
        "regions_by_escalation_level": dict(sorted(by_level.items())),
        "seh_patients": sum(row["seh_patients"] for row in known),
        "seh_boarders": sum(row["seh_boarders"] for row in known),
        "sehs_by_nedocs_level": dict(sorted(nedocs.items())),
        "sehs_on_stop": sum(row["sehs_on_stop"] for row in known),
        "staffed_beds_by_bed_type": dict(sorted(staffed.items())),
        "occupied_beds_by_bed_type": dict(sorted(occupied.items())),
        "free_beds_by_bed_type": dict(sorted(free.items())),
        "occupancy_by_bed_type": {bt: round(occupied.get(bt, 0) / n, 4) if n else None
                                  for bt, n in sorted(staffed.items())},
        "wrong_bed_patients": sum(row["wrong_bed_patients"] for row in known),
        "spreading_advice": advice,
    }


class NationProcessor:
    """One RegionProcessor per region of a nation over one input, plus the nation's
    snapshot. `offer` routes an event, applies what each region may release and returns
    the outputs per region (`None` holds the nation's own)."""

    def __init__(self, nation: Nation, *, reorder_lateness_ms: int, clock_guard: bool = True,
                 retention_ms: int = DEFAULT_RETENTION_MS) -> None:
        self.nation = nation
        self.lateness_ms = reorder_lateness_ms
        self.regions = {rid: RegionProcessor(reg, reorder_lateness_ms=reorder_lateness_ms, clock_guard=clock_guard,
                                             retention_ms=retention_ms)
                        for rid, reg in nation.regions.items()}
        self.router = NationRouter(nation)
        self.region_snapshots: dict[str, dict[str, Any]] = {}
        self.snapshot: dict[str, Any] | None = None
        self.key = f"nation:{nation.id}"
        self.now: int | None = None  # the latest as_of of the region snapshots

    def offer(self, ev: Event) -> tuple[str, dict[str | None, list[Output]]]:
        """Route and offer `ev`; the status is its home region's."""
        outputs: dict[str | None, list[Output]] = {}
        status = ""
        for i, rid in enumerate(self.router.route(ev)):
            proc = self.regions[rid]
            try:
                region_status, outs = proc.offer(ev)
            except Rejected:
                if i == 0:
                    raise  # refused by its own region: a dead letter
                continue  # (the other region's copy only: the home region has it)
            if i == 0:
                status = region_status
            if region_status != "duplicate" and proc.confirmed_time is not None:
                outs = outs + proc.release(proc.confirmed_time - self.lateness_ms)
            outputs[rid] = outs
        outputs[None] = self._nation(outputs)
        return status, outputs

    def finish(self) -> dict[str | None, list[Output]]:
        outputs: dict[str | None, list[Output]] = {rid: p.finish() for rid, p in self.regions.items()}
        outputs[None] = self._nation(outputs)
        return outputs

    def take_rejected(self) -> list[tuple[Event, Rejected]]:
        return [item for p in self.regions.values() for item in p.take_rejected()]

    def _nation(self, outputs: dict[str | None, list[Output]]) -> list[Output]:
        moved = False
        for rid, outs in outputs.items():
            for o in outs:
                if o.kind == "snapshot" and o.key == f"region:{rid}":
                    self.region_snapshots[rid] = o.data
                    self.now = o.time if self.now is None else max(self.now, o.time)
                    moved = True
        now = self.now
        if not moved or now is None:
            return []
        content = build_nation(self.nation, self.region_snapshots, now)
        if content == self.snapshot:
            return []
        self.snapshot = content
        return [Output("snapshot", self.key, now, {**content, "as_of": format_time(now)})]
