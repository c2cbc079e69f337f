"""What leaves the pipeline, and the interface of every place it goes.

Every snapshot and alert event the pipeline publishes is handed, as one `Published`, to
each `Sink` in turn (streams.outputs): the output topics, Redis and the webhooks
(streams.sinks), Prometheus (streams.telemetry) and, for region snapshots, the nation
agent (streams.nation). A sink takes what concerns it and ignores the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from processors.output import Output
from processors.replay import output_event


@dataclass(frozen=True)
class Published:
    """One output leaving the pipeline: the region (or nation) it is of, the output, its
    CloudEvent, that event's bytes as published and the bytes of its data alone; for an
    `alert.resolved`, the data of the `alert.raised` that began its episode when it is
    known (`raised`: the contract's resolved event does not repeat the severity and the
    start, which an Alertmanager receiver matches the two notifications by)."""

    region: str
    output: Output
    cloudevent: dict[str, Any]
    payload: bytes
    data_json: bytes
    raised: dict[str, Any] | None = field(default=None, compare=False)

    @classmethod
    def of(cls, region: str, output: Output, raised: dict[str, Any] | None = None) -> "Published":
        """The output's data is serialised once: the CloudEvent's bytes are its envelope
        with those bytes as `data` (its last member), which is what `orjson.dumps` of the
        whole CloudEvent gives; Redis and the nation take the data bytes as they are."""
        cloudevent = output_event(region, output)
        if cloudevent is None:
            raise ValueError(f"an output of kind {output.kind!r} is not published")
        data_json = orjson.dumps(output.data)
        envelope = orjson.dumps({name: value for name, value in cloudevent.items() if name != "data"})
        return cls(region, output, cloudevent, b"".join((envelope[:-1], b',"data":', data_json, b"}")), data_json,
                   raised)


class Sink(Protocol):
    """Takes the snapshots and alert events the pipeline publishes, in order."""

    async def snapshot(self, published: Published) -> None: ...

    async def alert(self, published: Published) -> None: ...
