"""What to simulate: the scenario knobs (surge, major incident, VVT shortage, start
occupancy) and the calibration figures of `shared/spec/product.md`.

`Scenario` is what a user varies per run; `Calibration` holds the national figures the
simulator is tuned to and rarely changes. Both are frozen dataclasses so a run is fully
described by (registry, start, duration, seed, scenario, calibration).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

#: Bounds of the scenario knobs: beyond them a run would not end, or not fit in memory.
MAX_SURGE_FACTOR = 20.0
MAX_INCIDENT_RIDES = 10_000
FIRST_YEAR, LAST_YEAR = 1900, 2200

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@dataclass(frozen=True)
class Surge:
    """Arrivals (SEH visits, calls, rides) multiplied by `factor` in [start_ms, end_ms)."""

    start_ms: int
    end_ms: int
    factor: float = 1.5

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise ValueError("surge: end must be after start")
        if not 0 < self.factor <= MAX_SURGE_FACTOR:  # (also refuses NaN)
            raise ValueError(f"surge: factor must be > 0 and at most {MAX_SURGE_FACTOR:g}")


@dataclass(frozen=True)
class Incident:
    """A major incident at `at_ms`: `count` A0/A1 rides to the largest SEHs within minutes."""

    at_ms: int
    count: int = 20

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_INCIDENT_RIDES:
            raise ValueError(f"incident: count must be from 1 to {MAX_INCIDENT_RIDES}")


@dataclass(frozen=True)
class Scenario:
    """Per-run scenario options.

    - `surge`: a flu-season window with a factor on all arrivals.
    - `major_incident`: a burst of A0/A1 rides at a given time.
    - `vvt_shortage`: factor on the waiting time for a follow-up place (1.0 = normal).
    - `start_occupancy`: wards start this full (0..1) with patients already admitted
      (initial `ward.admitted` events at the start time); 0 starts with empty wards.
    """

    surge: Surge | None = None
    major_incident: Incident | None = None
    vvt_shortage: float = 1.0
    start_occupancy: float = 0.85

    def __post_init__(self) -> None:
        if self.vvt_shortage <= 0:
            raise ValueError("vvt_shortage must be > 0")
        if not 0 <= self.start_occupancy <= 1.2:
            raise ValueError("start_occupancy must be within 0..1.2")


@dataclass(frozen=True)
class Calibration:
    """National figures the simulator is tuned to (product.md, domain.md)."""

    # ~1.95 M visits/year over 87 SEHs: ~60/day for an SEH of this many treatment spaces.
    seh_visits_per_day: float = 60.0
    reference_seh_beds: int = 22
    # Arrival modes (share of all SEH visits). Ambulance and HAP arrivals come out of the
    # ride and call processes; the walk-in modes fill up each SEH's remaining target.
    ambulance_share: float = 0.16
    hap_referral_share: float = 0.20
    gp_referral_share: float = 0.30
    specialist_referral_share: float = 0.03
    other_share: float = 0.02
    # (self_referral gets the rest: ~0.29)
    # SEH length of stay (minutes): lognormal means.
    los_discharged_mean_min: float = 119.0
    los_admitted_mean_min: float = 146.0
    # Share of HAP calls kept in first-line care (self_care/appointment/home_visit), per
    # HAP partner id; others get the default. Lower where the SEH does the triage.
    hap_first_line_share: dict[str, float] = field(default_factory=dict)
    hap_first_line_default: float = 0.70
    # Ward stays (days): lognormal mean and sigma per bed type.
    ward_los_days: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"clinical": (5.0, 0.8), "mc": (2.0, 0.7), "ic": (3.0, 0.8)}
    )
    # Share of clinical stays that end medically ready but waiting for follow-up care.
    follow_up_share: float = 0.10
    # Mean wait (days) for a follow-up place, per waiting_for.
    follow_up_wait_days: dict[str, float] = field(
        default_factory=lambda: {"vvt": 4.0, "elv": 1.5, "grz": 2.5, "wijkverpleging": 1.0, "ggz": 2.0}
    )
    # Steady-state ward occupancy the elective admissions top up to.
    ward_target_occupancy: float = 0.83
    # SEH stop when patients/treatment spaces reaches this; reopen below `reopen`.
    stop_occupancy: float = 0.95
    reopen_occupancy: float = 0.75
    capacity_interval_ms: int = 300_000


def parse_time_arg(text: str) -> int:
    """An ISO 8601 time from the command line -> epoch ms. Without an offset it is read as
    Dutch local time (Europe/Amsterdam)."""
    t = datetime.fromisoformat(text.strip())
    if t.tzinfo is None:
        t = t.replace(tzinfo=AMSTERDAM)
    if not FIRST_YEAR <= t.year <= LAST_YEAR:  # (local times near the years 1 and 9999 overflow)
        raise ValueError(f"{text.strip()[:40]!r}: a simulation runs between the years {FIRST_YEAR} and {LAST_YEAR}")
    return int(t.astimezone(timezone.utc).timestamp() * 1000)


def parse_surge(text: str) -> Surge:
    """`START/END:FACTOR` (ISO times) -> :class:`Surge`."""
    window, sep, factor = text.rpartition(":")
    start, slash, end = window.partition("/")
    if not sep or not slash:
        raise ValueError(f"expected START/END:FACTOR, got {text!r}")
    return Surge(parse_time_arg(start), parse_time_arg(end), float(factor))


def parse_incident(text: str) -> Incident:
    """`ISO:COUNT` -> :class:`Incident`."""
    at, sep, count = text.rpartition(":")
    if not sep:
        raise ValueError(f"expected ISO:COUNT, got {text!r}")
    return Incident(parse_time_arg(at), int(count))
