"""Shared helpers for the simulator tests: a cached run and small registries."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from simulator import Calibration, Scenario, generate
from simulator.scenario import parse_time_arg
from topics.codec import parse_time
from topics.event import short_type
from topics.registry import Registry, load_registry, parse_registry

ROOT = Path(__file__).resolve().parents[2]
HAAGLANDEN = ROOT / "deploy" / "regions" / "haaglanden.yaml"
HOUR = 3_600_000
DAY = 86_400_000
# A Sunday in November: local time is UTC+1.
START = parse_time_arg("2026-11-22T00:00:00+01:00")

Item = tuple[str, str, dict[str, Any]]


@functools.cache
def haaglanden() -> Registry:
    return load_registry(HAAGLANDEN)


def small_registry() -> Registry:
    """One hospital with one SEH and wards, one VVT; no ambulance, HAP or GGZ."""
    return parse_registry({
        "region": {"id": "klein", "name": "Klein"},
        "partners": [
            {"id": "zkh", "kind": "hospital", "name": "Ziekenhuis"},
            {"id": "vvt-a", "kind": "vvt", "name": "VVT A"},
        ],
        "locations": [
            {"id": "zkh-seh", "partner": "zkh", "kind": "seh", "staffed_beds": 22},
            {"id": "zkh-kliniek", "partner": "zkh", "kind": "ward", "bed_type": "clinical", "staffed_beds": 150},
            {"id": "zkh-ic", "partner": "zkh", "kind": "ward", "bed_type": "ic", "staffed_beds": 10},
            {"id": "vvt-a-elv", "partner": "vvt-a", "kind": "elv", "staffed_beds": 12},
        ],
    })


@functools.cache
def run(days: float = 1.0, seed: int = 1, scenario: Scenario | None = None,
        calibration: Calibration | None = None, registry: str = "haaglanden") -> tuple[Item, ...]:
    reg = haaglanden() if registry == "haaglanden" else small_registry()
    return tuple(generate(reg, start_ms=START, duration_ms=int(days * DAY), seed=seed,
                          scenario=scenario, calibration=calibration))


def typed(items: Iterable[Item]) -> list[tuple[str, int, str, dict[str, Any]]]:
    """(short type, time ms, partner, data) per event."""
    out = []
    for _topic, key, ev in items:
        out.append((short_type(ev["type"]) or "", parse_time(ev["time"]), key, ev["data"]))
    return out
