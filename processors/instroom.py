"""Instroom: calls (112, HAP, GGZ, ZCC) and ambulance rides, from their events.

Like encounters, a call or ride keeps its transitions (`[time, source, id, type, data]`)
and its contribution to the region (window items, rides en route to an SEH, handovers in
progress) is derived by a fold; the region applies the difference.
"""

from __future__ import annotations

from typing import Any, Container

from processors.doorstroom import empty_contribution
from processors.windows import minute_of
from topics.codec import parse_time

FIRST_LINE_OUTCOMES = ("self_care", "appointment", "home_visit")
A1_URGENCIES = ("A0", "A1")


def call_contribution(h: list[list[Any]]) -> dict[str, Any]:
    received = service = urgency = completed = outcome = destination = call_id = None
    for t, _src, _id, typ, d in h:
        call_id = d.get("call_id", call_id)
        if typ == "call.received":
            received, service = t, d.get("service")
            if d.get("urgency"):
                urgency = d["urgency"]
        elif typ == "call.triaged":
            urgency = d.get("urgency")
        elif typ == "call.completed":
            completed, outcome, destination = t, d.get("outcome"), d.get("destination")
    counts: list[tuple[int, str, str]] = []
    if received is not None:
        m = minute_of(received)
        counts.append((m, "calls", service or "other"))
        if urgency:
            counts.append((m, "call_urgency", urgency))
    if completed is not None:
        m = minute_of(completed)
        counts.append((m, "first_line", "completed"))
        if outcome in FIRST_LINE_OUTCOMES:
            counts.append((m, "first_line", "first_line"))
    c = empty_contribution()
    c["counts"] = tuple(counts)
    if outcome == "seh_referral" and destination and call_id and completed is not None:
        c["ref"] = (call_id, destination, completed)  # an announced arrival (nowcast)
    return c


def ride_contribution(h: list[list[Any]]) -> dict[str, Any]:
    urgency = call_at = assigned = on_scene = dest = at_loc = at_t = done = None
    eta = tx = ride_id = None
    ended = False
    for t, _src, _id, typ, d in h:
        ride_id = d.get("ride_id", ride_id)
        if typ == "dispatch.assigned":
            assigned, urgency = t, d.get("urgency")
            try:
                call_at = parse_time(d["call_received_at"])
            except (KeyError, ValueError):
                call_at = None
        elif typ == "dispatch.on_scene":
            if on_scene is None:
                on_scene = t
        elif typ == "dispatch.transporting":
            dest, tx = d.get("destination"), t
            try:
                eta = parse_time(d["eta"])
            except (KeyError, ValueError, TypeError):
                eta = None
        elif typ == "dispatch.at_hospital":
            at_loc, at_t = d.get("location"), t
        elif typ == "dispatch.handover_completed":
            done = t
        elif typ in ("dispatch.cleared", "dispatch.cancelled"):
            ended = True
    c = empty_contribution()
    counts: list[tuple[int, str, str]] = []
    values: list[tuple[int, str, int]] = []
    obs: list[tuple[str, str, str, int, int]] = []
    if assigned is not None:
        counts.append((minute_of(assigned), "rides", urgency or "unknown"))
    # On scene before the call was received is a clock error at the partner: no response
    # time at all, rather than a zero that would count as "within 15 minutes".
    if call_at is not None and on_scene is not None and on_scene >= call_at:
        resp = on_scene - call_at
        obs.append(("ambulance_response", "urgency", urgency or "unknown", resp, on_scene))
        if urgency in A1_URGENCIES:
            values.append((minute_of(on_scene), "a1_response", resp))
    if at_t is not None and at_loc is not None:
        if done is not None:
            ho = max(0, done - at_t)
            values.append((minute_of(done), f"handover|{at_loc}", ho))
            obs.append(("ambulance_handover", "location", at_loc, ho, done))
        elif not ended:
            c["ho"] = (at_loc, at_t)
    elif dest is not None and not ended and done is None:
        c["enroute"] = dest
        if eta is not None:
            c["eta"] = (dest, eta)
    if tx is not None and ride_id:
        c["tx"] = (ride_id, tx)  # when the destination was announced (nowcast history)
    c["counts"] = tuple(counts)
    c["values"] = tuple(values)
    c["obs"] = tuple(obs)
    return c


HANDOVER_GROUP = "handover|"


def localise_ride(c: dict[str, Any], own_locations: Container[str], home: bool) -> dict[str, Any]:
    """A ride's contribution as one region of a nation sees it (events.md, "Many regions,
    one deployment"): the dispatching (`home`) region keeps the ride counts and response
    times; what happens at an SEH (en route to it with its ETA, handover in progress,
    handover durations, when the destination was announced) counts in the region of that
    SEH. In a single region every location is its own and `c` comes back unchanged."""
    enroute, ho, eta, values, obs = c["enroute"], c["ho"], c["eta"], c["values"], c["obs"]

    def own_value(v: tuple[int, str, int]) -> bool:
        group = v[1]
        return group[len(HANDOVER_GROUP):] in own_locations if group.startswith(HANDOVER_GROUP) else home

    def own_obs(o: tuple[str, str, str, int, int]) -> bool:
        return o[2] in own_locations if o[0] == "ambulance_handover" else home

    seh_side_own = ((enroute is None or enroute in own_locations) and (ho is None or ho[0] in own_locations)
                    and (eta is None or eta[0] in own_locations))
    if home and seh_side_own and all(map(own_value, values)) and all(map(own_obs, obs)):
        return c
    local = dict(c)
    local["counts"] = c["counts"] if home else ()
    local["values"] = tuple(v for v in values if own_value(v))
    local["obs"] = tuple(o for o in obs if own_obs(o))
    local["enroute"] = enroute if enroute in own_locations else None
    local["ho"] = ho if ho is not None and ho[0] in own_locations else None
    local["eta"] = eta if eta is not None and eta[0] in own_locations else None
    # the announcement belongs where the ride arrives: here if it was routed here for
    # our SEH, or if it is ours and goes to none of another region's
    local["tx"] = c["tx"] if not home or seh_side_own else None
    return local


def localise_call(c: dict[str, Any], own_locations: Container[str], home: bool) -> dict[str, Any]:
    """A call's contribution as one region of a nation sees it: the home region keeps
    its counts; a referral to an SEH counts (as an announced arrival) where that SEH is."""
    ref = c["ref"]
    own_ref = ref is not None and ref[1] in own_locations
    if home and (ref is None or own_ref):
        return c
    local = dict(c)
    if not home:
        local["counts"] = ()
    local["ref"] = ref if own_ref else None
    return local
