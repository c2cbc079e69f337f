"""What one entity (an encounter, a ride, a call) contributes to its region.

The folds (processors.doorstroom, processors.instroom) turn an entity's history into a
`Contribution`; the region removes the entity's old contribution and adds the new one
whenever it changes (processors.index, processors.nowcast_region, the windows), so no
aggregate is ever recomputed by scanning entities.

A contribution has two kinds of parts:
- **open places** (memberships), each None when the entity holds none: present in an SEH,
  on a ward, discharge-ready, en route to an SEH, in a handover at one. An entity with an
  open place is never forgotten;
- **items** of the past, kept for the windows and histograms: window counts and values
  (per minute) and completed durations (observations), plus what the nowcast learns from
  (the last SEH arrival and what announced it).

All are NamedTuples: immutable, compared and hashed as plain tuples (equality of two
contributions is what tells the region nothing changed), and as cheap to build.
"""

from __future__ import annotations

from typing import NamedTuple


# -------------------------------------------------------------------- open places
class InSeh(NamedTuple):
    """Present in an SEH."""

    location: str
    waiting: bool  # treatment not started yet
    boarding_since: int | None  # admission requested (waiting for a ward bed) since
    critical: bool  # urgency U0 or U1


class WardStay(NamedTuple):
    """On a ward (or a follow-up location) since `since`."""

    location: str
    since: int


class Ready(NamedTuple):
    """Medically ready for discharge (wrong-bed) since `since`, waiting for a place."""

    location: str
    since: int
    waiting_for: str


class Handover(NamedTuple):
    """An ambulance at the SEH since `since`, its handover not completed."""

    location: str
    since: int


# -------------------------------------------------------------------- facts of the past
class Treatment(NamedTuple):
    """Treatment started at the SEH after a wait (the "last bed wait" of NEDOCS)."""

    location: str
    started: int
    wait_ms: int


class ReadyInterval(NamedTuple):
    """A closed wrong-bed interval on a ward (counts in the wrong-bed days for 24 h)."""

    location: str
    start: int
    end: int


class CountItem(NamedTuple):
    """One count in a window group (`group`, e.g. `arr|{seh}`, by `sub`) at a minute."""

    minute: int
    group: str
    sub: str


class ValueItem(NamedTuple):
    """One value (ms) for a window's percentiles (`key`, e.g. `los|{seh}`) at a minute."""

    minute: int
    key: str
    value: int


class Observation(NamedTuple):
    """One completed duration for a histogram metric, labelled `label`=`label_value`."""

    metric: str
    label: str
    label_value: str
    ms: int
    time: int


# -------------------------------------------------------------------- for the nowcast
class Stay(NamedTuple):
    """Present in an SEH since its arrival (departures are forecast from it)."""

    location: str
    arrived: int


class Arrival(NamedTuple):
    """The entity's last SEH arrival and what announced it (the nowcast's history)."""

    location: str
    time: int
    ride_id: str | None
    call_id: str | None


class Eta(NamedTuple):
    """A ride transporting to an SEH, expected at `eta`."""

    location: str
    eta: int


class Announced(NamedTuple):
    """When a ride announced its destination."""

    ride_id: str
    time: int


class Referral(NamedTuple):
    """A call referred to an SEH (an announced arrival)."""

    call_id: str
    destination: str
    issued: int


class Contribution(NamedTuple):
    """Everything one entity contributes to its region (see the module docstring)."""

    seh: InSeh | None = None
    treatment: Treatment | None = None
    ward: WardStay | None = None
    ready: Ready | None = None
    ready_closed: tuple[ReadyInterval, ...] = ()
    counts: tuple[CountItem, ...] = ()
    values: tuple[ValueItem, ...] = ()
    obs: tuple[Observation, ...] = ()
    en_route: str | None = None  # the SEH a ride transports to
    handover: Handover | None = None
    held: int = 0  # transitions waiting for their predecessor
    stay: Stay | None = None
    arrival: Arrival | None = None
    eta: Eta | None = None
    announced: Announced | None = None
    referral: Referral | None = None

    def has_membership(self) -> bool:
        """Whether the entity still holds an open place (so must not be forgotten)."""
        return bool(self.seh or self.ward or self.en_route or self.handover)


EMPTY = Contribution()
