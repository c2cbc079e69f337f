"""A region's state entries: their names, the dump, the change feed and the restore.

State is a set of string-keyed entries of plain JSON values, so the runtime can keep it
in changelogged tables and write only what changed:

| entry | holds |
|---|---|
| `core` | stream clock, released watermark, snapshot minute, counters |
| `enc:{partner}/{encounter_id}`, `ride:{partner}/{ride_id}`, `call:{partner}/{call_id}` | `{"h": [[time, source, id, type, data], ...], "last": ms}` |
| `loc:{id}` | reported staffed beds / SEH status overriding the registry |
| `partner:{id}` | time of the partner's latest event (feed_silent) |
| `win:{minute}` | a window bucket (processors.windows) |
| `dedup:{minute}[/{part}]`, `buf:{minute}[/{part}]` | seen ids, buffered events by minute (processors.reorder) |
| `rule:{kind}:{subject}` | an alert rule's episode state (processors.alerts) |
| `snap:{key}` | the last emitted snapshot, compact (processors.emission, snapshot.snap_entry): `{"t": as_of ms, "f": fingerprint, "x": [time-driven values]}` |
| `nc:{seh}`, `nc:~` | the nowcast's history per SEH and for the region (processors.nowcast_region): bounded aggregates, updated once per closed hour |

Everything else (the memberships index with the contributions and the retention queue,
the nowcast's indexes, running window totals, the rules' schedule) is derived and
rebuilt by `restore`. So is the
content of the last emitted snapshots: a location's snapshot is a function of the state
and of the time of its last build, and a hospital's or the region's a function of the
location snapshots, so `restore` rebuilds them from the state plus the few time-driven
values kept in `snap:` (`x`) and checks the result against the stored fingerprint (the
full content made the snapshot entries ~90% of the snapshot changelog bytes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from processors import entities
from processors.windows import minute_of

if TYPE_CHECKING:
    from processors.region import RegionProcessor


def dump(p: RegionProcessor) -> dict[str, Any]:
    """Every state entry of the region."""
    out: dict[str, Any] = {"core": core(p)}
    out.update(p.ents)
    for lid, v in p.locs.items():
        out[f"loc:{lid}"] = v
    for pid, t in p.partners.items():
        out[f"partner:{pid}"] = t
    out.update(p.rules)
    for k in p.snaps:
        out[f"snap:{k}"] = p.emission.entry(k)
    out.update(p.win.entries())
    out.update(p.ingress.entries())
    out.update(p.nowcast.entries())
    return out


def take_changes(p: RegionProcessor) -> dict[str, Any]:
    """Entries changed since the last call (None = deleted). Values are live: the
    caller serialises them before applying more events."""
    out: dict[str, Any] = {}
    for k in p._dirty:
        out[k] = entry(p, k)
    p._dirty = set()
    out.update(p.win.take_dirty())
    out.update(p.ingress.take_dirty())
    return out


def load(p: RegionProcessor, entries: dict[str, Any], owned: bool = False) -> None:
    """Load `entries` into a new processor `p`, then rebuild what is derived (the index
    with the contributions, the retention queue, the window totals, the last emitted
    snapshots). `owned`: the entries were decoded for this load alone and become the
    processor's own (no copy)."""
    if not owned:
        # Own copies: the entries are mutated in place from here on.
        entries = orjson.loads(orjson.dumps(entries))
    snap_entries: dict[str, dict[str, Any]] = {}
    for k, v in entries.items():
        if v is None:
            continue
        prefix, _, rest = k.partition(":")
        if k == "core":
            p.now, p.wm, p.snap_min = v["now"], v["wm"], v["snap_min"]
            p.due = v.get("due", False)
            p.counters = v["counters"]
            if p.ingress.guard is not None:
                p.ingress.guard.load_core(v.get("guard"))
        elif prefix in ("enc", "ride", "call"):
            entities.share_history(v["h"])
            p.ents[k] = v
        elif prefix == "loc":
            p.locs[rest] = v
        elif prefix == "partner":
            p.partners[rest] = v
        elif prefix == "rule":
            p.rules[k] = v
        elif prefix == "snap":
            snap_entries[rest] = v
        elif prefix == "win":
            p.win.load(int(rest), v)
        elif prefix == "nc":
            p.nowcast.load(rest, v)
        elif p.ingress.load(prefix, rest, v):
            pass
    p.win.restore_clock(minute_of(p.now) if p.now is not None else None)
    p.ingress.rebuilt()
    for ekey in sorted(p.ents):
        c = entities.contribution(ekey, p.ents[ekey]["h"], p.registry)
        p.index.contributions[ekey] = c
        p._index(ekey, c, 1)
        if not c.has_membership():
            p.index.retain(ekey, p.ents[ekey]["last"])
    p.emission.restore(snap_entries)
    p._touched.clear()
    p._dirty = set()


def core(p: RegionProcessor) -> dict[str, Any]:
    core = {"now": p.now, "wm": p.wm, "snap_min": p.snap_min, "due": p.due, "counters": p.counters}
    if p.ingress.guard is not None:
        core["guard"] = p.ingress.guard.core()
    return core


def entry(p: RegionProcessor, k: str) -> Any:
    """The current value of entry `k` (None: deleted)."""
    if k == "core":
        return core(p)
    prefix, _, rest = k.partition(":")
    if prefix in ("enc", "ride", "call"):
        return p.ents.get(k)
    if prefix == "loc":
        return p.locs.get(rest)
    if prefix == "partner":
        return p.partners.get(rest)
    if prefix == "rule":
        return p.rules.get(k)
    if prefix == "nc":
        return p.nowcast.entry(rest)
    if prefix == "snap":
        return p.emission.entry(rest)
    raise KeyError(k)
