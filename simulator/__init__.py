"""A seeded, calibrated partner emulator for a region.

`generate(registry, start_ms=..., duration_ms=..., seed=..., scenario=Scenario(...))`
yields `(topic, key, cloudevent_dict)` in event-time order; `simulator.sink` writes them
to an NDJSON file or publishes them to Kafka.
"""

from simulator.core import Simulation, generate, topic_of
from simulator.scenario import (
    Calibration,
    Incident,
    Scenario,
    Surge,
    parse_incident,
    parse_surge,
    parse_time_arg,
)

__all__ = [
    "Calibration",
    "Incident",
    "Scenario",
    "Simulation",
    "Surge",
    "generate",
    "parse_incident",
    "parse_surge",
    "parse_time_arg",
    "topic_of",
]
