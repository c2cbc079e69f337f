"""The nation's snapshot in the pipeline (metrics.md, "The nation").

Regions live on different workers, so the nation is built in one place of its own: every
region snapshot a worker publishes is also sent to the internal topic
`{app id}-nation` (one partition, keyed by the nation id). Whichever worker owns that
partition keeps the latest snapshot per region in the changelogged table `nation-state`
(one row per region, so a worker taking over starts from them, not from nothing), builds
the nation's snapshot with `processors.nation.build_nation` and publishes it like any
other: `acute.metrics` (`nation:{id}`), Redis, Prometheus.

Stream time for the nation: the wall clock minus the live lateness on the wall clock; on
the event clock, the latest `as_of` among the region snapshots. A tick every second lets
a region turn `stale` while nothing arrives, and sends a held snapshot once due (at most
one per second of wall time, or per stream minute on the event clock, like the others).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import faust
import orjson

from processors.nation import build_nation
from processors.output import Output
from processors.windows import minute_of
from streams.published import Published
from topics import catalogue
from topics.codec import format_time, parse_time

if TYPE_CHECKING:
    from streams.app import Pipeline

log = logging.getLogger(__name__)


def _valid_as_of(snapshot: dict[str, Any]) -> bool:
    try:
        parse_time(snapshot.get("as_of"))  # type: ignore[arg-type]
        return True
    except (TypeError, ValueError):
        return False


class NationRuntime:
    """The nation agent's wiring and state (only in a deployment of several regions)."""

    def __init__(self, pipeline: "Pipeline") -> None:
        self.pipeline = pipeline
        self.nation = pipeline.nation
        self.key = self.nation.id.encode()
        self.snapshot_key = f"nation:{self.nation.id}"
        self.latest: dict[str, dict[str, Any]] | None = None  # read from the table on first use
        self.content: dict[str, Any] | None = None  # the last snapshot built (without as_of)
        self.pending: Output | None = None
        self.last_sent = 0.0
        self.last_record = 0.0

    def wire(self, app: faust.App) -> None:
        raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
        self.topic = app.topic(catalogue.nation_topic(self.pipeline.settings.app_id), partitions=1, internal=True, **raw)
        topic_name = self.topic.get_topic_name()
        self.table = app.Table(catalogue.NATION_TABLE, default=None, partitions=1, key_type=bytes, value_type=bytes)

        @app.agent(self.topic, name="nation")
        async def nation(stream: faust.StreamT) -> None:
            async for event in stream.events():
                try:
                    body = orjson.loads(event.value)
                except orjson.JSONDecodeError:
                    body = None
                if not isinstance(body, dict):
                    # only workers write this topic: never a partner's data, but still no
                    # reason to stop the nation (and no content in the log line)
                    log.warning("a record on %s that is not a JSON object: skipped", topic_name)
                    continue
                await self.apply(body)

        @app.timer(self.pipeline.settings.nation_tick_s)
        async def nation_tick() -> None:
            await self.topic.send(key=self.key, value=b'{"tick":1}')

        @app.on_partitions_revoked.connect
        async def revoked(app_: faust.App, revoked: set, **kwargs: Any) -> None:
            if any(tp.topic == topic_name for tp in revoked):
                self.latest = None  # read from the table again when the partition returns

    # ------------------------------------------------------------------ as a sink
    async def snapshot(self, published: Published) -> None:
        """A region snapshot was published: send it to the nation's owner."""
        if published.output.data["scope"] == "region":
            # {"region": ..., "snapshot": ...} around the snapshot's bytes as published
            body = b"".join((b'{"region":', orjson.dumps(published.region), b',"snapshot":', published.data_json, b"}"))
            await self.topic.send(key=self.key, value=body)

    async def alert(self, published: Published) -> None:
        pass

    def _latest(self) -> dict[str, dict[str, Any]]:
        if self.latest is None:
            self.latest = {}
            for key, value in self.table.items():
                region = key.decode()
                if value is not None and region in self.nation.regions:
                    self.latest[region] = orjson.loads(value)
        return self.latest

    async def apply(self, body: dict[str, Any]) -> None:
        latest = self._latest()
        region = body.get("region")
        snapshot = body.get("snapshot")
        if region in self.nation.regions and isinstance(snapshot, dict) and _valid_as_of(snapshot):
            old = latest.get(region)
            # a worker taking a region over may send its last snapshot again: keep the newest
            if old is None or parse_time(snapshot["as_of"]) >= parse_time(old["as_of"]):
                latest[region] = snapshot
                self.table[region.encode()] = orjson.dumps(snapshot)
            self.last_record = time.monotonic()
        now = self._now(latest)
        if now is not None:
            content = build_nation(self.nation, latest, now)
            if content != self.content:
                self.content = content
                if self.pending is not None and not self.pipeline.wall_clock \
                        and minute_of(self.pending.time) < minute_of(now):
                    await self._send(self.pending)  # the last of a closed stream minute
                self.pending = Output("snapshot", self.snapshot_key, now, {**content, "as_of": format_time(now)})
        await self._flush()

    def _now(self, latest: dict[str, dict[str, Any]]) -> int | None:
        if self.pipeline.wall_clock:
            return int(time.time() * 1000) - self.pipeline.settings.reorder_lateness_live_ms
        times = [parse_time(s["as_of"]) for s in latest.values()]
        return max(times) if times else None

    async def _flush(self) -> None:
        pending = self.pending
        if pending is None:
            return
        clock = time.monotonic()
        if self.pipeline.wall_clock:
            due = clock - self.last_sent >= 1.0
        else:
            due = clock - self.last_record >= 1.0  # the stream paused: the minute would never close
        if due:
            await self._send(pending)

    async def _send(self, out: Output) -> None:
        if self.pending is out:
            self.pending = None
        self.last_sent = time.monotonic()
        await self.pipeline.publish_snapshots(self.nation.id, [out])
