"""Where a region's outputs go: snapshots through the throttle of the snapshot interval,
alert events each once, to every sink (streams.published.Sink: `acute.metrics` /
`acute.alerts`, Redis, Prometheus, the region's webhooks, the nation agent); the
processor's counters into Prometheus. A part of `streams.app.Pipeline`, which provides
the topics, sinks and telemetry these methods use."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from processors.output import Output
from processors.region import RegionProcessor
from processors.windows import minute_of
from streams.record_batches import RecordBatches
from streams.region_runtime import RegionRuntime
from streams.published import Published, Sink
from streams.sinks import RegionWebhooks

if TYPE_CHECKING:
    import faust

    from streams.nation import NationRuntime
    from streams.sinks import RedisSink, WebhookSink
    from streams.telemetry import Telemetry

log = logging.getLogger("streams.app")

SNAPSHOT_INTERVAL_S = 1.0  # at most one snapshot per key per second (events.md)
CE_HEADERS = [("content-type", b"application/cloudevents+json")]
ALERT_KINDS = ("seh_crowding", "seh_crowding_forecast", "handover_delay", "wrong_bed", "long_stay",
               "regional_escalation", "seh_stop", "feed_silent")


class OutputTopics:
    """`acute.metrics` and `acute.alerts` as a sink. Snapshots are gathered into batches
    per partition (streams/record_batches.py), handed to the producer when a group of
    them has been published (`Outputs.publish_snapshots`)."""

    def __init__(self, outputs: "Outputs") -> None:
        self.outputs = outputs

    async def snapshot(self, published: Published) -> None:
        await self.outputs.metrics_batches.append(published.output.key.encode(), published.payload, CE_HEADERS)

    async def alert(self, published: Published) -> None:
        outputs = self.outputs
        key = published.output.data["alert_id"].encode()
        await outputs.produce(outputs.alerts_topic, key, published.payload, CE_HEADERS)


class Outputs:
    """The output half of the pipeline (mixed into `Pipeline`)."""

    app: "faust.App"
    wall_clock: bool
    telemetry: "Telemetry"
    redis: "RedisSink"
    webhooks: dict[str, "WebhookSink"]
    metrics_topic: Any
    alerts_topic: Any
    nation_runtime: "NationRuntime | None"
    deliveries: list[Any]  # futures of records handed to the producer, not yet checked
    reader: Any  # the input topics' consumer (streams/ingest_consumer.py)
    sinks: list[Sink]  # where each published output goes, in this order (output_sinks)
    metrics_batches: RecordBatches  # snapshots on their way to acute.metrics

    def output_sinks(self) -> list[Sink]:
        """The output topics first, then Redis, Prometheus, the webhooks and, in a
        deployment of several regions, the nation agent."""
        sinks: list[Sink] = [OutputTopics(self), self.redis, self.telemetry, RegionWebhooks(self.webhooks)]
        if self.nation_runtime is not None:
            sinks.append(self.nation_runtime)
        return sinks

    async def produce(self, topic: Any, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        """Hand one output record to the app's producer. Straight to the producer, not
        `Topic.send`: outputs need none of a channel's per-message futures and callbacks
        (a tenth of the worker's time went there). The delivery is checked by
        `Pipeline._drain_producer` before the record's state is written: a record the
        broker refused stops the worker (crash-only) instead of being lost."""
        delivery = await self.app.producer.send(topic.get_topic_name(), key, value, partition=None, timestamp=None,
                                                headers=headers)
        self.deliveries.append(delivery)

    async def _publish(self, rt: RegionRuntime, outputs: list[Any]) -> None:
        region = rt.region
        closed: list[Output] = []
        alerts: list[Output] = []
        for out in outputs:
            kind = out.kind
            if kind == "snapshot":
                held = rt.pending.get(out.key)
                if held is not None and not self.wall_clock and minute_of(held.time) < minute_of(out.time):
                    # the held one is the last of a closed stream minute: it goes out
                    # before any later snapshot of its key (flush_snapshots sends these first)
                    closed.append(held)
                rt.pending[out.key] = out
            elif kind == "observation":
                self.telemetry.observe_duration(region, out.key, out.data)
            else:  # alert.raised / alert.resolved: never throttled
                alerts.append(out)
        # No await between taking the held snapshots above and flush_snapshots taking the
        # due ones: the flush timer could otherwise send a key's newer snapshot first.
        await self.flush_snapshots(rt, closed)
        for out in alerts:
            await self._publish_alert(rt, out)

    async def flush_snapshots(self, rt: RegionRuntime, closed: list[Output] | None = None) -> None:
        """Send the pending snapshots that are due (events.md, "Snapshot interval"):

        - wall clock: a key not sent within the last second of wall time (the last
          change within that second);
        - event clock: a key whose pending snapshot belongs to a stream minute that has
          closed (the last change of that minute), and everything pending once no record
          came for a second (the stream paused: the interval would never close).
        """
        if not rt.pending and not closed:
            return
        clock = time.monotonic()
        if self.wall_clock:
            due = [k for k in rt.pending if clock - rt.last_sent.get(k, 0.0) >= SNAPSHOT_INTERVAL_S]
        else:
            now = rt.processor.now
            current = None if now is None else minute_of(now)
            paused = clock - rt.last_record >= SNAPSHOT_INTERVAL_S
            due = [k for k, o in rt.pending.items() if paused or current is None or minute_of(o.time) < current]
        # Take them and mark them sent before any await: the agent and the flush timer
        # both call this, and a newer snapshot of a key must never overtake an older one.
        outs = [*(closed or ()), *(rt.pending.pop(k) for k in due)]
        for out in outs:
            rt.last_sent[out.key] = clock
        async with rt.send_lock:
            await self.publish_snapshots(rt.region, outs)

    async def publish_snapshots(self, region: str, outs: list[Output]) -> None:
        """Snapshots (of a region's keys, or the nation's) to every sink, in order; then
        their acute.metrics batches to the producer (checked by the next drain)."""
        sinks = self.sinks
        for out in outs:
            published = Published.of(region, out)
            for sink in sinks:
                await sink.snapshot(published)
        self.deliveries.extend(await self.metrics_batches.send())

    async def _publish_alert(self, rt: RegionRuntime, out: Any) -> None:
        data = out.data
        status = "raised" if out.kind == "alert.raised" else "resolved"
        region = rt.region
        # a resolve ends the episode raised before: open here since it was raised, or
        # since this worker loaded the region's state
        published = Published.of(region, out, None if status == "raised" else rt.open_alerts.get(data["alert_id"]))
        if (data["alert_id"], published.cloudevent["type"]) in rt.published:
            # Sent by the worker before this one, which stopped before its state said so.
            log.info("alert event %s %s already published: not sent again", data["alert_id"], status)
        else:
            for sink in self.sinks:
                await sink.alert(published)
        if status == "raised":
            rt.open_alerts[data["alert_id"]] = data
        else:
            rt.open_alerts.pop(data["alert_id"], None)
        kinds: dict[str, int] = {}
        for alert in rt.open_alerts.values():
            kinds[alert["kind"]] = kinds.get(alert["kind"], 0) + 1
        for kind in ALERT_KINDS:
            self.telemetry.open_alerts.labels(region, kind).set(kinds.get(kind, 0))

    @staticmethod
    def _counter_values(proc: RegionProcessor) -> dict[str, int]:
        flat: dict[str, int] = {}
        for name, value in proc.counters.items():
            if isinstance(value, dict):
                for sub, n in value.items():
                    flat[f"{name}/{sub}"] = int(n)
            else:
                flat[name] = int(value)
        return flat

    def _count(self, rt: RegionRuntime) -> None:
        """Move the processor's counters into Prometheus (deltas since the last record)."""
        current = self._counter_values(rt.processor)
        t = self.telemetry
        for name, value in current.items():
            delta = value - rt.counted.get(name, 0)
            if delta <= 0:
                continue
            group, _, sub = name.partition("/")
            if group == "applied_by_type":
                t.applied.labels(rt.region, sub).inc(delta)
            elif group == "duplicates_by_type":
                t.duplicates.labels(rt.region, sub).inc(delta)
            elif group == "late":
                t.late.labels(rt.region).inc(delta)
        rt.counted = current

    def _observe_partners(self, rt: RegionRuntime) -> None:
        t = self.telemetry
        stream_now = rt.processor.now
        if stream_now:
            t.event_time_lag.labels(rt.region).set(max(0.0, time.time() - stream_now / 1000))
        for partner, last in rt.processor.partners.items():
            t.partner_last.labels(rt.region, partner).set(last / 1000)

    def _observe_lag(self) -> None:
        """Per partition read here: its highwater less the offset committed."""
        consumer = getattr(self.app, "consumer", None)
        reader = self.reader
        try:
            if consumer is not None:
                for tp in consumer.assignment():
                    self._set_lag(tp, consumer.highwater(tp), consumer._committed_offset.get(tp))
            for tp in reader.assignment():
                self._set_lag(tp, reader.highwater(tp), reader.committed.get(tp))
        except Exception:  # noqa: BLE001 - lag is best-effort telemetry
            pass

    def _set_lag(self, tp: Any, high: int | None, committed: int | None) -> None:
        if high is not None:
            self.telemetry.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, high - (committed or 0)))
