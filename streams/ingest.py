"""The ingest half of the pipeline: input records decoded and validated (rejects to the
dead-letter topic, unchanged, with the reason), routed to their region(s), and forwarded
packed per batch to the repartition topic keyed by region, each region's records with
the read positions (marks) of the input partitions that say how far its clock may go.
A part of `streams.app.Pipeline`, which provides the topics and the consumer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import faust
import orjson
from aiokafka import TopicPartition

from processors.region import RegionProcessor
from topics.catalogue import INPUT_TOPICS, TOPIC_OF_TYPE
from topics.envelope import partner_event
from topics.event import Event, Reason, Rejected
from topics.validation import deadletter_headers, deadletter_record

if TYPE_CHECKING:
    from streams.ingest_consumer import IngestConsumer
    from processors.nation import NationRouter
    from topics.nation import Nation
    from streams.settings import Settings
    from streams.telemetry import Telemetry
    from topics.validation import Validator

log = logging.getLogger("streams.app")

FORWARD_CHUNK_BYTES = 256 * 1024  # input bytes per repartition record (well below 1 MB)


def admit(decode: Callable[..., Event], route: Callable[[Event], list[str]], msg: Any,
          wall_now_ms: int | None) -> tuple[Event, list[str]] | Rejected:
    """One input record validated and routed: the event and its regions, or why it is
    refused. The validator refuses bad input with `Rejected`; anything else it or the
    router raises is a bug met by this record's content, refused as `processing_error`
    (named by its exception type only: a message may quote the record) rather than
    stopping the reader, whose successor would read the same record and stop again."""
    try:
        event = decode(msg.value, msg.headers, msg.topic, wall_now_ms)
        return event, route(event)
    except Rejected as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - see above: no record may stop the reader
        log.error("ingest: validating or routing a record of %s/%d at offset %d failed (%s): dead-lettered",
                  msg.topic, msg.partition, msg.offset, type(exc).__name__)
        return Rejected(Reason.PROCESSING_ERROR, f"{type(exc).__name__} while validating or routing the record")
INPUT_PARTITIONS = {spec.name: spec.partitions for spec in INPUT_TOPICS}


def now_ms() -> int:
    return int(time.time() * 1000)


class Ingest:
    """The ingest half of the pipeline (mixed into `Pipeline`)."""

    app: faust.App
    settings: "Settings"
    telemetry: "Telemetry"
    validator: "Validator"
    router: "NationRouter"
    wall_clock: bool
    region_events: Any
    nation: "Nation"
    deadletter: Any
    input_names: frozenset[str]
    read_pos: dict[Any, int]
    read_time: dict[str, int]
    pace_time: dict[str, int]  # per input partition: the event time of the last valid record read
    read_wall: dict[Any, float]
    marks_lock: asyncio.Lock
    unprobed: set[Any]
    true_end: dict[Any, int]
    reader: "IngestConsumer"
    forwards: list[Any]  # futures of records the ingest stage sent, not yet checked (acknowledge_forwards)
    placement_checked: asyncio.Event  # set once the repartition topic's partitions were checked
    deliveries: list[Any]  # futures of records the region stage sent, checked after its drain

    async def ingest_batch(self, batch: list[Any]) -> dict[Any, int]:
        """Decode, validate, route and forward a batch of input records (aiokafka
        ConsumerRecords, in order per partition: streams/ingest_consumer.py). Returns,
        per partition, the offset after its last record in the batch."""
        if not self.placement_checked.is_set():
            # The reader joins its group while the agents' consumer joins its own; nothing
            # is forwarded before the agents' first assignment has checked the repartition
            # topic's partitions (Pipeline._check_internal_partitions): with fewer than
            # the placement names, a send would fail half-way through a batch.
            await self.placement_checked.wait()
        wall = now_ms() if self.wall_clock else None
        # The valid events per region, cut into chunks of one repartition record each.
        chunks: dict[str, list[list[Any]]] = {}
        sizes: dict[str, int] = {}
        route = self.router.route
        chunk_events = self.settings.forward_chunk_events
        # Read progress of this batch; it becomes visible to the marks reports (and so
        # to ticks) only once the events it covers are in the producer, in order.
        pos: dict[Any, int] = {}
        times: dict[str, int] = dict.fromkeys(self.read_time, -1)
        decode = self.validator.decode
        for msg in batch:
            pos[TopicPartition(msg.topic, msg.partition)] = msg.offset + 1
            admitted = admit(decode, route, msg, wall)
            if isinstance(admitted, Rejected):
                self.forwards.append(await self._deadletter(msg.key, msg.value, admitted, msg.topic, msg.partition,
                                                            msg.offset, msg.headers))
                continue
            e, regions = admitted
            tp = f"{msg.topic}/{msg.partition}"
            if e.time > times.get(tp, -1):
                times[tp] = e.time
            # The reader's pacing goes by the last record's time, not the latest: one
            # event with a wrong clock (a year ahead) must not pause its partition, and
            # the other partners on it, for the rest of a catch-up.
            self.pace_time[tp] = e.time
            n = len(msg.value)
            item = [e.id, e.source, e.partner, e.type, e.time, e.data, msg.timestamp / 1000 if msg.timestamp else 0.0,
                    msg.topic, msg.partition, msg.offset]
            for region in regions:
                own = chunks.setdefault(region, [[]])
                size = sizes.get(region, 0)
                if own[-1] and (len(own[-1]) >= chunk_events or size + n > FORWARD_CHUNK_BYTES):
                    own.append([])
                    size = 0
                sizes[region] = size + n
                own[-1].append(item)
        # The marks travel with a region's last chunk only: they claim "read up to here",
        # which must not move its watermark before the chunks carrying those events are
        # applied. A region with no event in this batch hears of them with the next tick.
        for region, own in chunks.items():
            for chunk in own[:-1]:
                await self.to_region(region, orjson.dumps({"events": chunk}))
        async with self.marks_lock:  # a tick's report is queued before or after, never between
            clock = time.monotonic()
            self.read_pos.update(pos)
            self.read_wall.update(dict.fromkeys(pos, clock))
            for tp, t in times.items():
                if t > self.read_time.get(tp, -1):
                    self.read_time[tp] = t
            marks = self._marks_report()
            for region, own in chunks.items():
                await self.to_region(region, orjson.dumps({"events": own[-1], "marks": marks}))
        return pos

    async def to_region(self, region: str, body: bytes) -> None:
        """A record for `region`'s agent, on the region's partition of the repartition
        topic: its placement in the national file, else the hash of its id."""
        self.forwards.append(await self.region_events.send(key=region.encode(), value=body,
                                                           partition=self.nation.placement.get(region)))

    async def acknowledge_forwards(self) -> None:
        """Wait until every record the ingest stage sent so far (forwards, dead letters)
        is acknowledged; raise what the broker answered for a refused one. Before the
        reader commits input offsets: Faust's producer only logs a failed send, and its
        flush returns all the same, so a commit after the flush alone could cover
        events that never reached their region."""
        forwards, self.forwards = self.forwards, []
        await self.app.producer.flush()
        for forward in forwards:
            await forward  # done after the flush; raises the send's error

    def _marks_report(self) -> dict[str, list[Any]]:
        """For every input partition assigned here: [latest event time read, caught up,
        read position] (see `streams.watermark.merge_mark`).

        A partition is caught up when this worker has read up to its highwater mark. Only
        partitions that are not caught up hold the event-clock watermark back; a partition
        paused by a rebalance keeps its last report (not caught up) and so keeps holding.
        The read position of a partition not read here since it was assigned is the
        committed offset this worker starts from.
        """
        reader = self.reader
        report: dict[str, list[Any]] = {}
        inputs = self.input_names
        clock = time.monotonic()
        # Every partition of the input topics, so one nobody has reported yet holds too
        # (before the consumer knows the topics, their count in the catalogue: with
        # regions spread over workers, a region can hear from one worker long before the
        # other reports the partitions it reads).
        for topic in inputs:
            for partition in range(reader.partitions_of(topic) or INPUT_PARTITIONS[topic]):
                report[f"{topic}/{partition}"] = [None, None]
        for tp in reader.assignment():
            high = reader.highwater(tp)
            pos = self.read_pos.get(tp)
            if pos is None:
                pos = reader.committed.get(tp)
            # The end offset alone is not enough: the embedded Tansu reports the last
            # batch's base offset + 1, so records of that batch may still be on their way;
            # a partition also counts as behind while it delivered very recently
            quiet = clock - self.read_wall.get(tp, 0.0) >= self.settings.partition_quiet_s
            if high is not None and tp in self.true_end:
                high = max(high, self.true_end[tp])
            caught_up = (high is not None and quiet and tp not in self.unprobed
                         and (high == 0 or (pos is not None and pos >= high)))
            name = f"{tp.topic}/{tp.partition}"
            report[name] = [self.read_time.get(name), caught_up, pos or 0]
        return report

    async def _deadletter(self, key: bytes | None, value: bytes | None, exc: Rejected,
                          topic: str, partition: int, offset: int,
                          original_headers: Any = None, reencoded: bool = False) -> Any:
        """Send a rejected record to acute.deadletter: key, value and every header as they
        came, the verdict in `dlq.*` headers, cut to fit one broker record if needed.
        Returns the send's future, for the caller to check once flushed."""
        added = deadletter_headers(exc.reason, exc.detail, topic, partition, offset)
        if reencoded:
            added.append(("dlq.reencoded", b"true"))
        copy = deadletter_record(key, value, original_headers, added, self.app.conf.producer_max_request_size)
        sent = await self.deadletter.send(key=copy.key, value=copy.value, headers=copy.headers)
        self.telemetry.deadlettered.labels(topic, exc.reason.value).inc()
        return sent

    async def deadletter_unreadable(self, topic: str, partition: int, offsets: range) -> None:
        """Input records the Kafka client cannot parse (streams/unreadable.py): each
        dead-lettered by its coordinates alone (no key and an empty value: they could not
        be read; they stay in the input topic), counted and logged without their content."""
        exc = Rejected(Reason.UNREADABLE_RECORD,
                       f"the Kafka client cannot parse the record at offset {offsets.start} (a header name that is not "
                       f"UTF-8, a corrupt batch, or a compression codec it has no library for), nor the records after it in its batch, up to offset {offsets.stop - 1}")
        log.warning("ingest: %s/%d offsets %d-%d cannot be parsed by the Kafka client: dead-lettered as %s, skipped",
                    topic, partition, offsets.start, offsets.stop - 1, exc.reason.value)
        for offset in offsets:
            self.forwards.append(await self._deadletter(None, b"", exc, topic, partition, offset))
        async with self.marks_lock:  # read past them: the read marks may say so
            self.read_pos[TopicPartition(topic, partition)] = offsets.stop

    async def _deadletter_refused(self, proc: RegionProcessor) -> None:
        """Events the region refused after they were offered: re-encoded (their raw bytes
        stay in the input topic), found there by `ce_source`/`ce_id`."""
        for e, exc in proc.take_rejected():
            value = orjson.dumps(reencode(e))
            self.deliveries.append(await self._deadletter(
                e.partner.encode(), value, exc, TOPIC_OF_TYPE[e.type], -1, -1,
                [("ce_source", e.source.encode()), ("ce_id", e.id.encode())], reencoded=True))


def reencode(e: Event) -> dict[str, Any]:
    return partner_event(e.type, e.partner, e.id, e.time, e.data)
