"""Instroom: calls (112, HAP, GGZ, ZCC) and ambulance rides, from their events.

Like encounters, a call or ride keeps its transitions (`[time, source, id, type, data]`)
and its contribution to the region (window items, rides en route to an SEH, handovers in
progress) is derived by a fold; the region applies the difference.
"""

from __future__ import annotations

from typing import Any, Container

from processors.contribution import (
    Announced,
    Contribution,
    CountItem,
    Eta,
    Handover,
    Observation,
    Referral,
    ValueItem,
)
from processors.windows import minute_of
from topics.codec import parse_time

FIRST_LINE_OUTCOMES = ("self_care", "appointment", "home_visit")
A1_URGENCIES = ("A0", "A1")


def call_contribution(h: list[list[Any]]) -> Contribution:
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
    counts: list[CountItem] = []
    if received is not None:
        m = minute_of(received)
        counts.append(CountItem(m, "calls", service or "other"))
        if urgency:
            counts.append(CountItem(m, "call_urgency", urgency))
    if completed is not None:
        m = minute_of(completed)
        counts.append(CountItem(m, "first_line", "completed"))
        if outcome in FIRST_LINE_OUTCOMES:
            counts.append(CountItem(m, "first_line", "first_line"))
    referral = None
    if outcome == "seh_referral" and destination and call_id and completed is not None:
        referral = Referral(call_id, destination, completed)  # an announced arrival (nowcast)
    return Contribution(counts=tuple(counts), referral=referral)


def ride_contribution(h: list[list[Any]]) -> Contribution:
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
    counts: list[CountItem] = []
    values: list[ValueItem] = []
    obs: list[Observation] = []
    en_route = handover = eta_at = announced = None
    if assigned is not None:
        counts.append(CountItem(minute_of(assigned), "rides", urgency or "unknown"))
    # On scene before the call was received is a clock error at the partner: no response
    # time at all, rather than a zero that would count as "within 15 minutes".
    if call_at is not None and on_scene is not None and on_scene >= call_at:
        resp = on_scene - call_at
        obs.append(Observation("ambulance_response", "urgency", urgency or "unknown", resp, on_scene))
        if urgency in A1_URGENCIES:
            values.append(ValueItem(minute_of(on_scene), "a1_response", resp))
    if at_t is not None and at_loc is not None:
        if done is not None:
            ho = max(0, done - at_t)
            values.append(ValueItem(minute_of(done), f"handover|{at_loc}", ho))
            obs.append(Observation("ambulance_handover", "location", at_loc, ho, done))
        elif not ended:
            handover = Handover(at_loc, at_t)
    elif dest is not None and not ended and done is None:
        en_route = dest
        if eta is not None:
            eta_at = Eta(dest, eta)
    if tx is not None and ride_id:
        announced = Announced(ride_id, tx)  # when the destination was announced (nowcast history)
    return Contribution(counts=tuple(counts), values=tuple(values), obs=tuple(obs), en_route=en_route,
                        handover=handover, eta=eta_at, announced=announced)


HANDOVER_GROUP = "handover|"


def localise_ride(c: Contribution, own_locations: Container[str], home: bool) -> Contribution:
    """A ride's contribution as one region of a nation sees it (events.md, "Many regions,
    one deployment"): the dispatching (`home`) region keeps the ride counts and response
    times; what happens at an SEH (en route to it with its ETA, handover in progress,
    handover durations, when the destination was announced) counts in the region of that
    SEH. In a single region every location is its own and `c` comes back unchanged."""
    enroute, ho, eta, values, obs = c.en_route, c.handover, c.eta, c.values, c.obs

    def own_value(v: ValueItem) -> bool:
        group = v.key
        return group[len(HANDOVER_GROUP):] in own_locations if group.startswith(HANDOVER_GROUP) else home

    def own_obs(o: Observation) -> bool:
        return o.label_value in own_locations if o.metric == "ambulance_handover" else home

    seh_side_own = ((enroute is None or enroute in own_locations)
                    and (ho is None or ho.location in own_locations)
                    and (eta is None or eta.location in own_locations))
    if home and seh_side_own and all(map(own_value, values)) and all(map(own_obs, obs)):
        return c
    return c._replace(
        counts=c.counts if home else (),
        values=tuple(v for v in values if own_value(v)),
        obs=tuple(o for o in obs if own_obs(o)),
        en_route=enroute if enroute in own_locations else None,
        handover=ho if ho is not None and ho.location in own_locations else None,
        eta=eta if eta is not None and eta.location in own_locations else None,
        # the announcement belongs where the ride arrives: here if it was routed here for
        # our SEH, or if it is ours and goes to none of another region's
        announced=c.announced if not home or seh_side_own else None,
    )


def localise_call(c: Contribution, own_locations: Container[str], home: bool) -> Contribution:
    """A call's contribution as one region of a nation sees it: the home region keeps
    its counts; a referral to an SEH counts (as an announced arrival) where that SEH is."""
    ref = c.referral
    own_ref = ref is not None and ref.destination in own_locations
    if home and (ref is None or own_ref):
        return c
    return c._replace(counts=c.counts if home else (), referral=ref if own_ref else None)
