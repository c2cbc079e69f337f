"""The shell-side state of one region a worker owns: its processor, the marks of the
input partitions (the event-clock watermark), the snapshots the throttle holds, what
was published, and its journal (streams/persistence.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from processors.region import RegionProcessor
from streams import persistence


@dataclass
class RegionRuntime:
    """Shell-side state of one region this worker owns: the processor and its outputs."""

    region: str
    partition: int  # of the repartition topic: the region's records and state live there
    processor: RegionProcessor
    # input partition -> [latest event time read (or None), caught up with its end (bool),
    # furthest read position reported] (see streams.watermark.merge_mark)
    marks: dict[str, list[Any]] = field(default_factory=dict)
    # input partition -> monotonic time a reader last reported it (not state: after a
    # restart every mark waits for a fresh report)
    reported: dict[str, float] = field(default_factory=dict)
    pending: dict[str, Any] = field(default_factory=dict)  # key -> snapshot Output awaiting the throttle
    last_sent: dict[str, float] = field(default_factory=dict)  # key -> monotonic time sent
    open_alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    counted: dict[str, int] = field(default_factory=dict)
    persisted: dict[str, bytes] = field(default_factory=dict)  # shell entries as last written
    # (alert id, event type) already on acute.alerts when this worker took over (readback)
    published: set[tuple[str, str]] = field(default_factory=set)
    sentinel: int = 0
    # entry -> serialised value changed by quiet records and not written yet (see
    # streams.regions.Regions._persist)
    unwritten: dict[str, bytes | None] = field(default_factory=dict)
    journal: persistence.Journal = field(default_factory=persistence.Journal)
    last_record: float = 0.0  # monotonic time a repartition record with events was last applied
    # The last release stopped at its step's bound (Settings.release_step_events) with
    # more events due: apply_record goes on with the next step.
    release_more: bool = False
    # Snapshots go out in the order they were taken from `pending`: the agent and the
    # flush timer both send, and a newer snapshot of a key must never overtake an older one.
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
