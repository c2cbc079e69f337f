"""Doorstroom: the state of one hospital encounter (SEH stay and ward stay) from its events.

An encounter's state entry keeps its transitions (`h`: `[time, source, id, type, data]`,
in `Event.key` order). `fold_encounter` derives the current state from them, so late
events, held transitions and cancellations are all exact:

- a transition whose predecessor is missing (seh.triaged before seh.arrived, ward.*
  before ward.admitted) is held and applied as soon as the predecessor is applied;
- `encounter.cancelled` undoes the latest transition of the named type before it (or, if
  that has not arrived yet, the one that arrives later: the cancel is held); undoing
  `ward.discharge_ready` ends the wrong-bed time at the cancel instead of erasing it
  ("no longer medically ready"); the others are removed as if never sent (HL7 A11-A13);
- `ward.admitted` of an encounter still in the SEH ends the SEH stay as a
  `seh.departed` with disposition `admitted` would.

`contribution()` turns the state into what the region aggregates: open memberships
(in an SEH, boarding, on a ward, discharge-ready), window items and observations.
The region subtracts the old contribution and adds the new one whenever an encounter
changes, so no aggregate is ever recomputed by scanning encounters.
"""

from __future__ import annotations

from typing import Any

from processors.contribution import (
    Arrival,
    Contribution,
    CountItem,
    InSeh,
    Observation,
    Ready,
    ReadyInterval,
    Stay,
    Treatment,
    ValueItem,
    WardStay,
)
from processors.windows import minute_of

CANCEL = "encounter.cancelled"
READY_CANCELLED = "ready.cancelled"  # synthetic: a cancelled discharge_ready ends here
CRITICAL_URGENCIES = ("U0", "U1")

SEH_FOLLOWERS = ("seh.triaged", "seh.treatment_started", "seh.admission_requested", "seh.departed")
WARD_FOLLOWERS = ("ward.transferred", "ward.discharge_ready", "ward.discharged")


def _key(e: list[Any]) -> tuple[int, str, str]:
    return (e[0], e[1], e[2])


def effective_transitions(h: list[list[Any]]) -> list[list[Any]]:
    """The transitions left after applying the cancels, in key order."""
    trans = [e for e in h if e[3] != CANCEL]
    cancels = [e for e in h if e[3] == CANCEL]
    if not cancels:
        return trans
    gone: set[int] = set()
    extra: list[list[Any]] = []
    for c in cancels:
        ctype = c[4].get("cancelled_type")
        ck = _key(c)
        cands = [i for i, e in enumerate(trans) if e[3] == ctype and i not in gone]
        if not cands:
            continue  # held: nothing to undo yet
        before = [i for i in cands if _key(trans[i]) < ck]
        target = before[-1] if before else cands[-1]
        gone.add(target)
        if ctype == "ward.discharge_ready" and before:
            # Keep the wrong-bed time already incurred; it ends at the cancel.
            extra.append([c[0], c[1], c[2], READY_CANCELLED, {"_ready": trans[target]}])
    out = [e for i, e in enumerate(trans) if i not in gone]
    for x in extra:
        out.append(x[4]["_ready"])
        out.append([x[0], x[1], x[2], READY_CANCELLED, {}])
    out.sort(key=_key)
    return out


def new_state() -> dict[str, Any]:
    return {
        "seh": None, "arr": None, "mode": None, "urg": None, "treat": None, "board": None,
        "bt": None, "dep": None, "disp": None,
        "ward": None, "since": None, "ready": None, "rstart": None, "wf": None,
        "dis": None, "dest": None, "dis_ward": None, "intervals": [],
        "ride": None, "call": None,  # what announced the last SEH arrival (the nowcast)
        # window items and observations, accumulated as transitions apply (so a second
        # stay of the same encounter does not erase the first one's)
        "counts": [], "values": [], "obs": [],
    }


def _in_seh(st: dict[str, Any]) -> bool:
    return st["arr"] is not None and st["dep"] is None


def _on_ward(st: dict[str, Any]) -> bool:
    return st["ward"] is not None and st["dis"] is None


def _close_ready(st: dict[str, Any], t: int) -> None:
    if st["ready"] is not None:
        st["intervals"].append(ReadyInterval(st["ward"], st["rstart"], max(t, st["rstart"])))
        st["ready"] = st["rstart"] = st["wf"] = None


def _depart(st: dict[str, Any], t: int, disposition: str | None) -> None:
    st["dep"], st["disp"] = t, disposition
    los = max(0, t - st["arr"])
    st["values"].append(ValueItem(minute_of(t), f"los|{st['seh']}", los))
    st["obs"].append(Observation("seh_length_of_stay", "location", st["seh"], los, t))


def _apply(st: dict[str, Any], e: list[Any]) -> bool:
    """Apply one transition; False when its predecessor is missing (hold it)."""
    t, typ, d = e[0], e[3], e[4]
    if typ == "seh.arrived":
        if _in_seh(st):
            return True  # already in an SEH: a repeated arrival changes nothing
        mode = d.get("arrival_mode") or "other"
        st.update(seh=d["location"], arr=t, mode=mode, urg=None, treat=None,
                  board=None, bt=None, dep=None, disp=None, ride=d.get("ride_id"), call=d.get("call_id"))
        st["counts"].append(CountItem(minute_of(t), f"arr|{d['location']}", mode))
        return True
    if typ in SEH_FOLLOWERS:
        if st["arr"] is None:
            return False
        if not _in_seh(st):
            return True  # the stay already ended (e.g. by ward.admitted): nothing to do
        if typ == "seh.triaged":
            st["urg"] = d.get("urgency")
        elif typ == "seh.treatment_started":
            if st["treat"] is None:
                st["treat"] = t
                st["obs"].append(Observation("seh_waiting", "location", st["seh"], max(0, t - st["arr"]), t))
        elif typ == "seh.admission_requested":
            if st["board"] is None:
                st["board"] = t
            st["bt"] = d.get("bed_type")
        else:
            _depart(st, t, d.get("disposition"))
        return True
    if typ == "ward.admitted":
        if _in_seh(st):
            _depart(st, t, "admitted")
        if _on_ward(st):
            # Admitted again while on a ward: a move to the new ward.
            ready, wf = st["ready"], st["wf"]
            _close_ready(st, t)
            st["ward"] = d["location"]
            if ready is not None:
                st["ready"], st["rstart"], st["wf"] = ready, t, wf
        else:
            st.update(ward=d["location"], since=t, ready=None, rstart=None, wf=None,
                      dis=None, dest=None, dis_ward=None)
        return True
    if typ in WARD_FOLLOWERS or typ == READY_CANCELLED:
        if st["ward"] is None:
            return False
        if not _on_ward(st):
            return True
        if typ == "ward.transferred":
            ready, wf = st["ready"], st["wf"]
            _close_ready(st, t)
            st["ward"] = d["location"]
            if ready is not None:
                st["ready"], st["rstart"], st["wf"] = ready, t, wf
        elif typ == "ward.discharge_ready":
            if st["ready"] is None:
                st["ready"] = st["rstart"] = t
            st["wf"] = d.get("waiting_for")
        elif typ == READY_CANCELLED:
            _close_ready(st, t)
        else:
            _close_ready(st, t)
            dest = d.get("destination") or "other"
            st["dis"], st["dest"], st["dis_ward"] = t, dest, st["ward"]
            st["counts"].append(CountItem(minute_of(t), f"dis|{st['ward']}", dest))
        return True
    return True  # unknown to this fold: ignore


def fold_encounter(h: list[list[Any]]) -> tuple[dict[str, Any], int]:
    """(state, number of held transitions) from the transition history."""
    st = new_state()
    pending: list[list[Any]] = []
    for e in effective_transitions(h):
        if not _apply(st, e):
            pending.append(e)
            continue
        progress = bool(pending)
        while progress:
            progress = False
            for p in pending:
                if _apply(st, p):
                    pending.remove(p)
                    progress = True
                    break
    return st, len(pending)


def encounter_contribution(h: list[list[Any]]) -> Contribution:
    st, held = fold_encounter(h)
    seh, arr = st["seh"], st["arr"]
    in_seh = stay = arrival = treatment = ward = ready = None
    if _in_seh(st) and seh is not None:
        in_seh = InSeh(seh, st["treat"] is None, st["board"], st["urg"] in CRITICAL_URGENCIES)
        stay = Stay(seh, arr)
    if seh is not None and arr is not None:
        # the last SEH arrival and what announced it: the nowcast's history
        arrival = Arrival(seh, arr, st["ride"], st["call"])
        if st["treat"] is not None:
            treatment = Treatment(seh, st["treat"], max(0, st["treat"] - arr))
    if _on_ward(st):
        ward = WardStay(st["ward"], st["since"])
        if st["ready"] is not None:
            ready = Ready(st["ward"], st["rstart"], st["wf"] or "other")
    return Contribution(
        seh=in_seh, treatment=treatment, ward=ward, ready=ready, ready_closed=tuple(st["intervals"]),
        counts=tuple(st["counts"]), values=tuple(st["values"]), obs=tuple(st["obs"]), held=held,
        stay=stay, arrival=arrival,
    )
