"""An event's entity and the change the event makes to it, worked out before anything
changes.

Calls (`call:{partner}/{call_id}`), ambulance rides (`ride:{partner}/{ride_id}`) and
hospital encounters (`enc:{partner}/{encounter_id}`) keep their events (`h`: rows
`[time, source, id, type, data]` in `Event.key` order) in their state entry; their
contribution to the region is a fold of that history (processors.doorstroom,
processors.instroom). `prepare` computes an event's new history and contribution
without touching the region's state, so an event that is refused, or whose fold fails,
leaves the state as if it never came.
"""

from __future__ import annotations

from bisect import insort
from typing import Any, NamedTuple

from processors.contribution import Contribution
from processors.doorstroom import effective_transitions, encounter_contribution
from processors.instroom import call_contribution, localise_call, localise_ride, ride_contribution
from topics.codec import format_time
from topics.event import Event, Reason, Rejected, shared, shared_data
from topics.registry import Registry

# Events kept per call, ride or encounter. A real one has a few to a few dozen (a long
# ward stay with transfers); the cap keeps one entity's state entry far below the
# changelog's record limit whatever a partner sends.
MAX_ENTITY_EVENTS = 256


def entity_key(ev: Event) -> str | None:
    """The state entry of the event's entity (None: the event has none, e.g. a capacity
    report or an SEH status)."""
    d = ev.data
    t = ev.type
    if t.startswith("call."):
        return f"call:{ev.partner}/{d.get('call_id')}"
    if t.startswith("dispatch."):
        return f"ride:{ev.partner}/{d.get('ride_id')}"
    if t.startswith(("seh.", "ward.", "encounter.")) and "encounter_id" in d:
        return f"enc:{ev.partner}/{d['encounter_id']}"
    return None


def contribution(ekey: str, h: list[list[Any]], registry: Registry) -> Contribution:
    """The contribution of entity `ekey` with history `h` to the region of `registry`."""
    if ekey.startswith("enc:"):
        return encounter_contribution(h)
    if ekey.startswith("ride:"):
        # in a nation, a ride can be another region's, or end at another region's SEH
        partner = ekey[len("ride:"):].partition("/")[0]
        return localise_ride(ride_contribution(h), registry.locations, partner in registry.partners)
    partner = ekey[len("call:"):].partition("/")[0]
    return localise_call(call_contribution(h), registry.locations, partner in registry.partners)


def share_history(h: list[list[Any]]) -> None:
    """A history read back from the state, its repeated strings shared as the decoder
    shares them (topics.event.shared_data): a restarted worker holds no more than the
    one that applied the events."""
    for row in h:
        row[1], row[3] = shared(row[1]), shared(row[3])
        if type(row[4]) is dict:
            shared_data(row[4])


class EntityChange(NamedTuple):
    """What applying one event does to its entity, worked out before anything changes."""

    key: str
    history: list[list[Any]]
    contribution: Contribution


ALREADY_APPLIED = object()  # the event is in its entity's history already


def prepare(ev: Event, entities: dict[str, dict[str, Any]], registry: Registry) -> EntityChange | object | None:
    """The entity change `ev` makes, computed without touching state (`entities`: the
    region's entity entries): its new history and contribution (None for events without
    an entity; ALREADY_APPLIED when the history holds the event already, e.g. a census
    re-sent after the dedup horizon). Raises Rejected for a contradiction."""
    ekey = entity_key(ev)
    if ekey is None:
        return None
    ent = entities.get(ekey)
    h: list[list[Any]] = ent["h"] if ent is not None else []
    for e in h:
        if e[2] == ev.id and e[1] == ev.source:
            return ALREADY_APPLIED
    if len(h) >= MAX_ENTITY_EVENTS:
        raise Rejected(Reason.TOO_LARGE, f"{ekey.partition(':')[0]} has {len(h)} events already, "
                                         f"the most one can have ({MAX_ENTITY_EVENTS})")
    if ev.type == "seh.arrived":
        loc = ev.data["location"]
        for e in effective_transitions(h):
            if e[3] == "seh.arrived" and e[4]["location"] != loc:
                raise Rejected(
                    Reason.CONFLICT,
                    f"encounter arrived at {e[4]['location']} at {format_time(e[0])} already; "
                    f"an arrival at {loc} needs a new encounter_id (or cancel the first arrival)",
                )
    row = [ev.time, ev.source, ev.id, ev.type, ev.data]
    k = (ev.time, ev.source, ev.id)
    if not h or (h[-1][0], h[-1][1], h[-1][2]) <= k:
        new_h = [*h, row]
    else:
        new_h = list(h)
        insort(new_h, row, key=lambda e: (e[0], e[1], e[2]))
    return EntityChange(ekey, new_h, contribution(ekey, new_h, registry))
