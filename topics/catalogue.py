"""The topic catalogue of event contract v1 (`shared/spec/events.md`).

Which topics exist, with their partitions and Kafka configs; which event type goes on
which input topic; which partner kinds may send each type; and which `data` fields name
a registry location (with the location kind they must have). `streams/` creates topics
from :data:`ALL_TOPICS`; `topics.validation` enforces the per-type rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

DAY_MS = 86_400_000
RETENTION_MS = 30 * DAY_MS
INPUT_PARTITIONS = 6
OUTPUT_PARTITIONS = 6


@dataclass(frozen=True)
class TopicSpec:
    """A Kafka topic: name, partition count and topic-level configs (string values)."""

    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


_DELETE_30D = {"cleanup.policy": "delete", "retention.ms": str(RETENTION_MS)}

CALLS = "acute.calls"
DISPATCHES = "acute.dispatches"
ADMISSIONS = "acute.admissions"
DISCHARGES = "acute.discharges"
CAPACITY = "acute.capacity"
METRICS = "acute.metrics"
ALERTS = "acute.alerts"
DEADLETTER = "acute.deadletter"

# The runtime's internal topics (Faust creates them, under the app's prefix ACL). Named
# after the app id (`SPOEDSTROOM_APP_ID`), like Faust's changelogs: a deployment under a
# new app id starts on new internal topics, never on another's records (moving regions,
# rebuilding the state: docs/operations.md).
DEFAULT_APP_ID = "spoedstroom"


def region_events(app_id: str) -> str:
    """Events re-keyed by region (one region's records and state in one partition)."""
    return f"{app_id}-region-events"


def nation_topic(app_id: str) -> str:
    """The regions' snapshots for the one worker that builds the nation's (one partition)."""
    return f"{app_id}-nation"


def ingest_group(app_id: str) -> str:
    """The consumer group of the workers' input readers (streams/ingest_consumer.py); the
    app id itself names the group of their Faust agents."""
    return f"{app_id}-ingest"


#: The worker's changelogged tables: a region's state (one row per entry, streams/
#: persistence.py) and the nation's latest snapshot per region.
STATE_TABLE = "region-state"
NATION_TABLE = "nation-state"


def changelog(app_id: str, table: str) -> str:
    """The changelog topic Faust keeps for `table`."""
    return f"{app_id}-{table}-changelog"


#: the repartition topic's name under the default app id (as deployed)
REGION_EVENTS = region_events(DEFAULT_APP_ID)

INPUT_TOPICS: tuple[TopicSpec, ...] = tuple(
    TopicSpec(name, INPUT_PARTITIONS, dict(_DELETE_30D))
    for name in (CALLS, DISPATCHES, ADMISSIONS, DISCHARGES, CAPACITY)
)
OUTPUT_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(METRICS, OUTPUT_PARTITIONS, {"cleanup.policy": "compact"}),
    TopicSpec(ALERTS, OUTPUT_PARTITIONS, dict(_DELETE_30D)),
    TopicSpec(DEADLETTER, OUTPUT_PARTITIONS, dict(_DELETE_30D)),
)
ALL_TOPICS: tuple[TopicSpec, ...] = INPUT_TOPICS + OUTPUT_TOPICS
INPUT_TOPIC_NAMES: frozenset[str] = frozenset(t.name for t in INPUT_TOPICS)
TOPICS_BY_NAME: dict[str, TopicSpec] = {t.name: t for t in ALL_TOPICS}

#: Short type name -> the input topic that carries it (events.md, "Input topics").
TOPIC_OF_TYPE: dict[str, str] = {
    "call.received": CALLS,
    "call.triaged": CALLS,
    "call.completed": CALLS,
    "dispatch.assigned": DISPATCHES,
    "dispatch.on_scene": DISPATCHES,
    "dispatch.transporting": DISPATCHES,
    "dispatch.at_hospital": DISPATCHES,
    "dispatch.handover_completed": DISPATCHES,
    "dispatch.cleared": DISPATCHES,
    "dispatch.cancelled": DISPATCHES,
    "seh.arrived": ADMISSIONS,
    "seh.triaged": ADMISSIONS,
    "seh.treatment_started": ADMISSIONS,
    "seh.admission_requested": ADMISSIONS,
    "ward.admitted": ADMISSIONS,
    "ward.transferred": ADMISSIONS,
    "encounter.cancelled": ADMISSIONS,
    "seh.departed": DISCHARGES,
    "ward.discharge_ready": DISCHARGES,
    "ward.discharged": DISCHARGES,
    "capacity.reported": CAPACITY,
    "seh.status_changed": CAPACITY,
}

#: The 22 partner (input) types, in the order of events.md.
INPUT_TYPES: tuple[str, ...] = tuple(TOPIC_OF_TYPE)
#: The types Spoedstroom itself emits (never accepted on input).
EMITTED_TYPES: tuple[str, ...] = ("metrics.snapshot", "alert.raised", "alert.resolved")
#: Output topic of each emitted type.
TOPIC_OF_EMITTED: dict[str, str] = {
    "metrics.snapshot": METRICS,
    "alert.raised": ALERTS,
    "alert.resolved": ALERTS,
}

_CALLERS = ("ambulance", "hap", "ggz", "zcc")
#: Partner kinds allowed to send each type (else `wrong_partner_kind`). Calls come from
#: the 112 dispatch centre (kind ambulance), HAP, GGZ crisis services and ZCC; rides from
#: ambulance services; encounters from hospitals; capacity from any partner that owns the
#: location (ownership is checked separately).
SENDER_KINDS: dict[str, tuple[str, ...]] = {
    t: (
        _CALLERS
        if t.startswith("call.")
        else ("ambulance",)
        if t.startswith("dispatch.")
        else ("hospital", "ambulance", "hap", "ggz", "vvt", "zcc")
        if t == "capacity.reported"
        else ("hospital",)
    )
    for t in INPUT_TYPES
}


class LocationField(NamedTuple):
    """A `data` field naming a registry location.

    `kinds`: the location kinds allowed there (empty: any kind). `foreign`: True when the
    location may belong to another partner (an ambulance bringing a patient to any SEH, a
    HAP/GGZ/ZCC referring to any SEH).
    """

    name: str
    kinds: tuple[str, ...]
    foreign: bool


#: Short type -> the location fields of its `data`.
LOCATION_FIELDS: dict[str, tuple[LocationField, ...]] = {
    "call.completed": (LocationField("destination", ("seh",), True),),
    "dispatch.transporting": (LocationField("destination", ("seh",), True),),
    "dispatch.at_hospital": (LocationField("location", ("seh",), True),),
    "seh.arrived": (LocationField("location", ("seh",), False),),
    "ward.admitted": (LocationField("location", ("ward",), False),),
    "ward.transferred": (LocationField("location", ("ward",), False),),
    "capacity.reported": (LocationField("location", (), False),),
    "seh.status_changed": (LocationField("location", ("seh",), False),),
}

#: The pseudonymous id fields of `data` (checked for a possible BSN).
ID_FIELDS: tuple[str, ...] = ("call_id", "ride_id", "encounter_id")
#: `data` fields holding an RFC 3339 time, per type (parsed as well as pattern-checked).
TIME_FIELDS: dict[str, tuple[str, ...]] = {
    "dispatch.assigned": ("call_received_at",),
    "dispatch.transporting": ("eta",),
    "seh.status_changed": ("expected_until",),
}
