"""Which snapshots a region builds at an instant, and which of them changed.

The content of a snapshot is `processors.snapshot`'s business; this module decides what
to build when the rules have run at an instant (`Snapshots.emit`), keeps the last
emitted content per key, and turns it into the compact `snap:{key}` state entries and
back (`entry`, `restore`).

Building every snapshot at every instant would cost the size of the region per event.
So: locations whose state changed (`touched`) are built anew; at a new minute, those
whose figures move with the clock alone are refreshed (only those figures recomputed);
a hospital only when one of its locations changed; the region only when a hospital,
an SEH, a follow-up location, its own windows or the escalation level did. Whatever
is not rebuilt would have come out identical, and only changed content is emitted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from processors.output import Output
from processors.scheduler import Deadlines
from processors.snapshot import (
    RegionSums,
    build_hospital,
    build_location,
    build_region,
    fingerprint,
    refresh_hospital,
    refresh_location,
    restore_time_fields,
    snap_entry,
)
from topics.codec import format_time

if TYPE_CHECKING:
    from processors.view import RegionView


class Snapshots:
    """The last emitted snapshot per key (`content`, `at`) and the builds of an instant.

    `content` is the same dict as the region's `snaps` (the builders read the location
    snapshots from it); `sums` the region snapshot's running totals."""

    def __init__(self, view: RegionView, content: dict[str, dict[str, Any]]) -> None:
        self.view = view
        self.content = content  # key -> content (without as_of)
        self.at: dict[str, int] = {}  # key -> as_of ms of the last emission
        # Restored snapshots whose rebuilt content did not match the stored fingerprint
        # (e.g. after an upgrade that changed a field): emitted at their next build, and
        # until then their stored entry is kept as it was.
        self.force: dict[str, dict[str, Any]] = {}
        self.build_all = True  # first emission (and after restore): build everything
        # A region-level window group (calls, rides, responses) moved since the last emission.
        self.region_touched = False
        # The region snapshot's sums as running totals, updated by the change of each
        # rebuilt hospital / SEH / follow-up snapshot, so building the region snapshot
        # does not cost a pass over all of them.
        self.sums = RegionSums(view)
        self._changed_entry = view.mark_changed
        self._bedded = frozenset(view.bedded_ids)
        # When the long-stay count of a ward may next change by time alone, as of its
        # last build: at a new minute only those wards are looked at for it.
        self.long_stays = Deadlines()
        self._ls_due: set[str] = set()  # wards whose long-stay deadline came at this instant

    # ------------------------------------------------------------------ state entries
    def entry(self, key: str) -> dict[str, Any] | None:
        """The `snap:{key}` entry (None: no snapshot of that key)."""
        forced = self.force.get(key)
        if forced is not None:
            return forced
        c = self.content.get(key)
        return None if c is None else snap_entry(c, self.at[key])

    def restore(self, entries: dict[str, dict[str, Any]]) -> None:
        """Rebuild the last emitted contents from the state and the stored entries (see
        processors.region's docstring), after the region's indexes were rebuilt."""
        p = self.view
        content = self.content
        e: dict[str, Any] | None  # an entry, or a key's entry if it has one
        for k, e in entries.items():
            self.at[k] = e["t"]
            if "c" in e:  # the older layout with the full content
                content[k] = e["c"]
        for lid in sorted(p.registry.locations):
            key = p.location_keys[lid]
            e = entries.get(key)
            if e is not None and "c" not in e:
                content[key] = restore_time_fields(build_location(p, lid), e.get("x"))
        for h in p.hospital_ids:
            key = p.hospital_keys[h]
            if key in entries and "c" not in entries[key]:
                content[key] = build_hospital(p, h)
        self.sums.reset()
        e = entries.get(p.region_key)
        if e is not None and "c" not in e:
            content[p.region_key] = build_region(p, self.sums)
        for k, e in entries.items():
            if "c" not in e and (k not in content or fingerprint(content[k]) != e["f"]):
                self.force[k] = e

    # ------------------------------------------------------------------ an instant
    def emit(self, now: int, new_minute: bool, touched: set[str], reported: set[str], out: list[Output]) -> None:
        """Build what can have changed at `now` (`touched`: the locations whose state
        changed; `reported`: those reported on without a change, refreshed like the
        clock-driven ones; both emptied here) and append the changed snapshots to `out`,
        by key."""
        p = self.view
        full = new_minute and self.build_all
        # Locations whose state changed are built anew; on a new minute, those whose
        # state did not change but whose figures move with the clock get only those
        # figures recomputed (the others would be rebuilt to identical content).
        clock_only: set[str] = set()
        self._ls_due.clear()
        if full:
            self.build_all = False
            locs = sorted(p.registry.locations)
        else:
            if new_minute:
                # Every SEH: its nowcast moves with the clock (stays lengthen, the span
                # slides), and with it the figures that move anyway (boarding, handovers,
                # the last bed wait); of the wards, those with figures that can move.
                clock_only = self._moving_wards(now)
                clock_only.update(p.seh_ids)
            if reported:
                # the same test for the locations reported on without a change: the
                # others would be refreshed to the content they have
                bedded = self._bedded
                clock_only |= self._time_driven(now, [lid for lid in reported if lid in bedded])
                clock_only.update(lid for lid in reported if lid not in bedded)
            clock_only -= touched
            locs = sorted(touched | clock_only)
        touched.clear()
        reported.clear()
        changed: list[tuple[str, dict[str, Any]]] = []
        locations = p.registry.locations
        location_keys = p.location_keys
        content = self.content
        put = self._put
        ward_h: set[str] = set()  # hospitals with a ward whose state changed
        seh_h: set[str] = set()  # hospitals with an SEH whose state changed
        clock_h: set[str] = set()  # hospitals with a ward whose clock figures changed
        for lid in locs:
            key = location_keys[lid]
            loc = locations[lid]
            old = content.get(key)
            if loc.kind != "seh" and (lid not in clock_only or lid in self._ls_due):
                # built (its occupants may have changed) or due: the deadline moves; a
                # ward refreshed for its wrong-bed days keeps the one it has
                self.long_stays.set(lid, p.index.long_stay_changes(lid, now))
            if lid in clock_only and old is not None:
                new = refresh_location(p, lid, old)
                if new is None:
                    if key not in self.force:
                        continue  # its clock figures did not move: the same content
                    new = old
                # (a refresh returns new content only when a figure moved: no compare)
                self._store(now, key, old, new, changed)
                if loc.kind != "seh":
                    clock_h.add(loc.partner)  # an SEH's clock figures are not summed
            elif put(now, key, build_location(p, lid), changed):
                (seh_h if loc.kind == "seh" else ward_h).add(loc.partner)
        # A hospital snapshot is a pure function of its locations' snapshots: rebuild
        # it only when one of its wards changed; when only its SEHs or its wards' clock
        # figures did, refresh only those sums (its ward sums stay as they were).
        hospital_ids = p.hospital_ids
        hosps = hospital_ids if full else sorted((ward_h | seh_h | clock_h).intersection(hospital_ids))
        for h in hosps:
            key = p.hospital_keys[h]
            old = content.get(key)
            if full or old is None or h in ward_h:
                put(now, key, build_hospital(p, h), changed)
            else:
                put(now, key, refresh_hospital(p, h, old, h in clock_h, h in seh_h), changed)
        # The region is built from the location and hospital snapshots, its own windows
        # and the escalation level: rebuild it only when one of those moved.
        if self.region_touched:
            self.sums.windows = None  # the region's window figures moved: read them anew
        last = content.get(p.region_key)
        if (
            full
            or changed
            or self.region_touched
            or last is None
            or last["escalation_level"] != p.escalation_level()
        ):
            put(now, p.region_key, build_region(p, self.sums), changed)
        self.region_touched = False
        if changed:
            as_of = format_time(now)
            for key, c in sorted(changed, key=lambda kc: kc[0]):
                out.append(Output("snapshot", key, now, {**c, "as_of": as_of}))

    def _moving_wards(self, now: int) -> set[str]:
        """At a new minute (after the first, full one), the wards and follow-up locations
        whose snapshot may change with the clock alone, as `_time_driven` of all of them
        says, without a look at each: those with wrong-bed days (open or in the last
        24 h) and those whose long-stay count may have changed since their last build."""
        index = self.view.index
        out = {lid for lid, d in index.ready.items() if d}
        out.update(lid for lid, d in index.ready_closed.items() if d)
        self.long_stays.pop_due(now, self._ls_due)
        out |= self._ls_due
        return out

    def _time_driven(self, now: int, bedded: list[str]) -> set[str]:
        """Of the wards and follow-up locations `bedded` (whose state did not change),
        those whose snapshot may change with the clock alone: wrong-bed days accrue or
        leave the 24 h, or the long stays changed. (Window groups that moved with the
        minute are touched already.)"""
        p = self.view
        out: set[str] = set()
        ready, ready_closed = p.index.ready, p.index.ready_closed
        content = self.content
        keys = p.location_keys
        long_stay = p.index.long_stay
        for lid in bedded:
            if ready.get(lid) or ready_closed.get(lid):
                out.add(lid)  # wrong-bed days accrue
                continue
            snap = content.get(keys[lid])
            if snap is None or snap["long_stay_patients"] != long_stay(lid, now):
                out.add(lid)
        return out

    def _put(self, now: int, key: str, new: dict[str, Any], changed: list[tuple[str, dict[str, Any]]]) -> bool:
        """Keep and emit `new` if it differs from the last emitted content of `key`."""
        old = self.content.get(key)
        if old != new or key in self.force:
            self._store(now, key, old, new, changed)
            return True
        return False

    def _store(self, now: int, key: str, old: dict[str, Any] | None, new: dict[str, Any],
               changed: list[tuple[str, dict[str, Any]]]) -> None:
        """`new` is the content of `key` from `now` on (`old`: the last emitted one)."""
        self.force.pop(key, None)
        self.content[key] = new
        self.at[key] = now
        self._changed_entry(f"snap:{key}")
        changed.append((key, new))
        self.sums.update(key, old, new)
