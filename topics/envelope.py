"""Building CloudEvents envelopes (structured JSON mode) for what Spoedstroom emits and
for producers of partner events (the simulator, tests, partner examples)."""

from __future__ import annotations

from typing import Any

from topics.codec import format_time
from topics.event import full_type

SPECVERSION = "1.0"
#: Record content-type header of a structured-mode CloudEvent (Kafka binding).
CLOUDEVENTS_JSON = "application/cloudevents+json; charset=UTF-8"
#: `datacontenttype` of every event's data (and the binary-mode content-type header).
DATA_CONTENT_TYPE = "application/json"
PARTNER_SOURCE = "/partners/{partner}"
SPOEDSTROOM_SOURCE = "/spoedstroom/{region}"


def emitted(
    type_name: str, region_id: str, time_ms: int, data: dict[str, Any], event_id: str
) -> dict[str, Any]:
    """A CloudEvent emitted by Spoedstroom (`source=/spoedstroom/{region}`).

    `type_name` is short (`metrics.snapshot`); `time_ms` epoch ms UTC; ids are deterministic
    (`"{key}@{as_of}"` for snapshots, `"{alert_id}:raised"` / `":resolved"` for alerts).
    """
    return {
        "specversion": SPECVERSION,
        "id": event_id,
        "source": f"/spoedstroom/{region_id}",
        "type": full_type(type_name),
        "time": format_time(time_ms),
        "datacontenttype": DATA_CONTENT_TYPE,
        "data": data,
    }


def partner_event(
    type_name: str, partner_id: str, event_id: str, time_ms: int, data: dict[str, Any]
) -> dict[str, Any]:
    """A partner's CloudEvent (`source=/partners/{partner}`), as a producer would send it."""
    return {
        "specversion": SPECVERSION,
        "id": event_id,
        "source": f"/partners/{partner_id}",
        "type": full_type(type_name),
        "time": format_time(time_ms),
        "datacontenttype": DATA_CONTENT_TYPE,
        "data": data,
    }


def kafka_headers(structured: bool = True) -> list[tuple[str, bytes]]:
    """The content-type header of a structured-mode record."""
    return [("content-type", CLOUDEVENTS_JSON.encode())] if structured else []


def binary_headers(event: dict[str, Any]) -> list[tuple[str, bytes]]:
    """`ce_` headers of a binary-mode record (the value is then `dumps(event["data"])`)."""
    headers = [
        (f"ce_{k}", str(v).encode()) for k, v in event.items() if k not in ("data", "datacontenttype")
    ]
    headers.append(("content-type", str(event.get("datacontenttype", DATA_CONTENT_TYPE)).encode()))
    return headers
