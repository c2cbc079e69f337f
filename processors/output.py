"""What the domain core hands to its callers: one `Output` per snapshot, alert event or
observation, in the order they happened. Its own module so every producer of outputs
(region, rules, snapshot thinning) can name the type without importing the region."""

from __future__ import annotations

from typing import Any, NamedTuple


class Output(NamedTuple):
    kind: str  # "snapshot" | "alert.raised" | "alert.resolved" | "observation"
    key: str  # the snapshot key (`location:{id}`, ...), the alert id, or the metric name
    time: int  # stream time (epoch ms) it was emitted at
    data: dict[str, Any]
