"""The discrete-event engine every partner model of the simulator runs on.

One `Engine` per run holds the event clock, the heap of pending actions, the run's only
`random.Random(seed)` and the output queue. A partner model schedules what happens next
with `at(t, fn, *args)` and reports what happens now with `emit(partner, type, data)`;
`run()` pops the heap in time order (ties in scheduling order) and yields the events
each action emitted. Nothing reads the wall clock, so a seed always gives the same
stream, and the order of the random draws is the order in which actions run.

Arrivals (SEH visits, calls, rides, elective admissions) are non-homogeneous Poisson
processes sampled by thinning (`start_process`), shaped by the hour of day and the
scenario's surge (the only part of the scenario the engine knows).

Also here, because every model needs them: the time units, the CloudEvent helpers
(`topic_of`, `envelope`) and the lognormal draws.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

from topics.catalogue import TOPIC_OF_TYPE
from topics.envelope import partner_event

from simulator.scenario import AMSTERDAM, Surge

MINUTE = 60_000
HOUR = 3_600_000
DAY = 86_400_000

#: What the simulator yields: (topic, key = partner id, CloudEvent).
Item = tuple[str, str, dict[str, Any]]


def topic_of(type_name: str) -> str:
    """The input topic of a short event type (events.md table)."""
    return TOPIC_OF_TYPE[type_name]


def envelope(type_name: str, partner: str, event_id: str, time_ms: int, data: dict[str, Any]) -> dict[str, Any]:
    """A structured CloudEvent from a partner."""
    return partner_event(type_name, partner, event_id, time_ms, data)


def lognormal_mean(rng: random.Random, mean: float, sigma: float) -> float:
    """A lognormal draw with the given mean."""
    return rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)


def lognormal_median(rng: random.Random, median: float, sigma: float) -> float:
    """A lognormal draw with the given median."""
    return rng.lognormvariate(math.log(median), sigma)


# Relative arrival intensity by local hour (Europe/Amsterdam), busiest 12:00-20:00.
_DIURNAL_RAW = (
    0.55, 0.45, 0.38, 0.33, 0.30, 0.32, 0.42, 0.60, 0.85, 1.05, 1.20, 1.30,
    1.45, 1.50, 1.50, 1.48, 1.45, 1.45, 1.42, 1.38, 1.25, 1.05, 0.85, 0.68,
)
DIURNAL = tuple(w * 24 / sum(_DIURNAL_RAW) for w in _DIURNAL_RAW)


class _Process:
    """A non-homogeneous Poisson arrival process, sampled by thinning."""

    __slots__ = ("rate_per_day", "shape", "fire", "t", "max_rate")

    def __init__(self, rate_per_day: float, shape: Callable[[int], float], shape_max: float,
                 fire: Callable[[], None], surge_max: float, t0: float) -> None:
        self.rate_per_day = rate_per_day
        self.shape = shape
        self.fire = fire
        self.max_rate = rate_per_day * shape_max * surge_max / DAY  # per ms
        self.t = t0


class Engine:
    """The clock, the pending actions, the random source and the event output of one run."""

    def __init__(self, *, start_ms: int, duration_ms: int, seed: int, surge: Surge | None = None) -> None:
        self.surge = surge
        self.rng = random.Random(seed)
        self.tag = f"{self.rng.getrandbits(24):06x}"
        self.start = int(start_ms)
        self.end = int(start_ms) + int(duration_ms)
        self.now = self.start
        self.surge_max = max(1.0, surge.factor if surge else 1.0)
        self._heap: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self._out: list[Item] = []
        self._event_counter: dict[str, int] = {}
        self._id_counter = {"E": 0, "R": 0, "C": 0}
        self._hour_cache: dict[int, tuple[int, int]] = {}

    def at(self, t: float, fn: Callable[..., None], *args: Any) -> None:
        """Schedule `fn(*args)` at event time `t` (whole seconds, never in the past)."""
        ti = max(self.now, int(t) // 1000 * 1000)
        if ti >= self.end:
            return
        heapq.heappush(self._heap, (ti, self._seq, fn, args))
        self._seq += 1

    def emit(self, partner: str, type_name: str, data: dict[str, Any]) -> None:
        """An event from `partner` now; its id is the run's tag and the partner's counter."""
        n = self._event_counter.get(partner, 0) + 1
        self._event_counter[partner] = n
        ev = envelope(type_name, partner, f"{self.tag}-{n}", self.now, data)
        self._out.append((topic_of(type_name), partner, ev))

    def new_id(self, prefix: str) -> str:
        """A new encounter (`E`), ride (`R`) or call (`C`) id, unique within the run."""
        self._id_counter[prefix] += 1
        return f"{prefix}{self.tag}-{self._id_counter[prefix]}"

    def local(self, t: int) -> tuple[int, int]:
        """(local hour, weekday) in Europe/Amsterdam; cached per UTC hour."""
        key = t // HOUR
        hit = self._hour_cache.get(key)
        if hit is None:
            d = datetime.fromtimestamp(key * 3600, tz=timezone.utc).astimezone(AMSTERDAM)
            hit = (d.hour, d.weekday())
            self._hour_cache[key] = hit
        return hit

    def surge_factor(self, t: int) -> float:
        """The scenario's surge factor at `t` (1.0 outside the surge)."""
        s = self.surge
        if s is not None and s.start_ms <= t < s.end_ms:
            return s.factor
        return 1.0

    def diurnal(self, t: int) -> float:
        return DIURNAL[self.local(t)[0]]

    def diurnal_surge(self, t: int) -> float:
        """The usual shape of an arrival process: hour of day times the surge."""
        return self.diurnal(t) * self.surge_factor(t)

    def start_process(self, rate_per_day: float, shape: Callable[[int], float], shape_max: float,
                      fire: Callable[[], None], t0: float, surge: bool = True) -> None:
        """Call `fire()` at the arrivals of a Poisson process of `rate_per_day * shape(t)`
        (`shape_max` bounds `shape`; `surge`: the scenario's surge may raise it)."""
        p = _Process(rate_per_day, shape, shape_max, fire, self.surge_max if surge else 1.0, t0)
        self._next_candidate(p)

    def _next_candidate(self, p: _Process) -> None:
        p.t += self.rng.expovariate(p.max_rate)
        self.at(p.t, self._candidate, p)

    def _candidate(self, p: _Process) -> None:
        t = int(p.t)
        if self.rng.random() * p.max_rate <= p.rate_per_day * p.shape(t) / DAY:
            p.fire()
        self._next_candidate(p)

    def run(self) -> Iterator[Item]:
        """Run the scheduled actions in time order, yielding the events they emit."""
        while self._heap:
            t, _, fn, args = heapq.heappop(self._heap)
            self.now = t
            fn(*args)
            if self._out:
                out, self._out = self._out, []
                yield from out
