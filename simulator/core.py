"""The simulator's driver: one seeded run over a region's partners, and `generate`.

`generate(registry, start_ms=..., duration_ms=..., seed=...)` yields
`(topic, key, cloudevent_dict)` in non-decreasing event time. A `Simulation` builds the
discrete-event engine and one model per kind of partner, wires them together and starts
the arrival processes; the engine then runs the pending actions in time order, each
emitting the events of its moment and scheduling what follows. The only source of
randomness is the engine's `random.Random(seed)` and nothing reads the wall clock, so a
seed always gives the same stream. Moving code between the models must keep the order of
the random draws: the golden digests (tests/processors/test_proc_golden.py) hash the events.

The parts, each in its own module (none imports this one):

- `engine`: clock, pending actions, random source, event ids, Poisson arrival
  processes; the time units, `topic_of`, `envelope` and the lognormal draws.
- `capacity`: staffed beds per location and the `capacity.reported` rounds.
- `wards`: hospital wards (admissions, stays, transfers, discharges, electives, the
  start occupancy); `encounter`: the patient record the SEH hands to a ward.
- `seh`: the SEHs (arrival to departure or admission, stop and reopen).
- `ambulance`: 112 dispatch and ambulance rides.
- `calls`: the HAP, GGZ crisis and ZCC triage lines.
- `rates`: the calibration split into the rate of every arrival process (each SEH gets
  `60 * staffed_beds / 22` visits/day from ambulance, HAP-referred and walk-in patients;
  electives top the wards up to the calibrated occupancy).

`topic_of`, `envelope` and `Item` are re-exported here, where callers import them.
"""

from __future__ import annotations

from collections.abc import Iterator

from topics.registry import Registry

from simulator.ambulance import Ambulances
from simulator.calls import Calls
from simulator.capacity import Capacity
from simulator.engine import DIURNAL, Engine, Item, envelope, topic_of
from simulator.rates import Rates
from simulator.scenario import Calibration, Scenario
from simulator.seh import Sehs
from simulator.wards import Wards

__all__ = ["Item", "Simulation", "envelope", "generate", "topic_of"]


class Simulation:
    """One run. Use :func:`generate`; the class is public for tests and the demo."""

    def __init__(self, registry: Registry, *, start_ms: int, duration_ms: int, seed: int,
                 scenario: Scenario | None = None, calibration: Calibration | None = None) -> None:
        self.reg = registry
        self.sc = scenario or Scenario()
        self.cal = cal = calibration or Calibration()
        self.engine = engine = Engine(start_ms=start_ms, duration_ms=duration_ms, seed=seed, surge=self.sc.surge)
        self.capacity = Capacity(engine, registry, cal)
        self.wards = Wards(engine, registry, self.sc, cal, self.capacity)
        self.sehs = Sehs(engine, registry, cal, self.capacity, self.wards)
        self.ambulances = Ambulances(engine, registry, self.sehs)
        self.calls = Calls(engine, registry, cal, self.sehs, self.ambulances)
        self.rates = Rates(cal, self.sehs, self.wards, self.ambulances, self.calls)

    def run(self) -> Iterator[Item]:
        """Start the run and yield its events (lazily: nothing happens before the first)."""
        self._begin()
        yield from self.engine.run()

    def _begin(self) -> None:
        """The first capacity round, the start occupancy, every arrival process and the
        scenario's major incident (in this order: it fixes the order of the random draws)."""
        e, rates = self.engine, self.rates
        sehs, ambulances, calls, wards = self.sehs, self.ambulances, self.calls, self.wards
        e.at(e.start, self.capacity.report_round)
        if self.sc.start_occupancy > 0:
            e.at(e.start, wards.initial_occupancy)
        t0 = float(e.start)
        for s in sehs.locations:
            if rates.walk_in[s.id] > 0:
                e.start_process(rates.walk_in[s.id], e.diurnal_surge, max(DIURNAL),
                                lambda s=s: sehs.walk_in(s, rates.walk_modes, rates.walk_weights), t0)
        if ambulances.ids and rates.rides_112_per_day > 0:
            e.start_process(rates.rides_112_per_day, e.diurnal_surge, max(DIURNAL), ambulances.ride_112, t0)
        for h in calls.haps:
            e.start_process(rates.hap_calls_per_day[h], e.diurnal_surge, max(DIURNAL),
                            lambda h=h: calls.hap_call(h), t0)
        for g in calls.ggzs:
            e.start_process(rates.ggz_calls_per_day, e.diurnal_surge, max(DIURNAL),
                            lambda g=g: calls.ggz_or_zcc_call(g, "ggz"), t0)
        for z in calls.zccs:
            e.start_process(rates.zcc_calls_per_day, e.diurnal_surge, max(DIURNAL),
                            lambda z=z: calls.ggz_or_zcc_call(z, "zcc"), t0)
        for w in wards.locations:
            if rates.elective_per_day[w.id] > 0:
                e.start_process(rates.elective_per_day[w.id], wards.elective_shape, wards.elective_shape_max,
                                lambda w=w: wards.elective(w), t0, surge=False)
        inc = self.sc.major_incident
        if inc is not None and ambulances.ids and sehs.locations:
            e.at(inc.at_ms, ambulances.incident, inc.count)


def generate(registry: Registry, *, start_ms: int, duration_ms: int, seed: int,
             scenario: Scenario | None = None, calibration: Calibration | None = None) -> Iterator[Item]:
    """Yield `(topic, key, cloudevent)` for `duration_ms` of simulated region from `start_ms`.

    Events come in non-decreasing event time; the key is the partner id; the same
    arguments always give the same events.
    """
    return Simulation(registry, start_ms=start_ms, duration_ms=duration_ms, seed=seed,
                      scenario=scenario, calibration=calibration).run()
