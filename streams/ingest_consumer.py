"""The ingest stage's reader: a plain aiokafka consumer of the five input topics.

Why not a Faust agent: Faust's per-message path (a `Message` and an `Event` per record,
the conductor, a channel queue, the stream iterator, a per-record ack) cost 128-165 us
of CPU per input record on this project's machines, against 4-6 us for aiokafka's
`getmany` on the same records (docs/performance.md), as much as the domain core's whole
work per event. The ingest stage needs none of it: it reads records in batches, keeps
no table, and forwards what it reads to the repartition topic, whose records Faust's
agents then apply.

What it owes the pipeline, and how:
- **Partitions shared over workers**: its own consumer group, `{app id}-ingest`, on the
  input topics (static membership under `{instance id}-ingest` when the worker has one).
- **At least once**: a partition's offset is committed only after everything forwarded
  from it is acknowledged (`acknowledge`: every send's future checked after the producer
  flushed; a refused one stops the worker), every `commit_interval_s`, when
  partitions are revoked and when the worker stops. A crash in between forwards those
  records again; the regions' dedup drops them.
- **Read marks** (streams/ingest.py, `_marks_report`): its assignment, highwaters and
  committed offsets.
- **Gaps**: a record whose offset is past the one after the partition's previous record
  is reported (`on_gap`), as Faust's consumer did.
- **No record stops it**: a record the client cannot parse is located, reported with the
  rest of its batch (`on_unreadable`, dead-lettered by coordinates) and skipped
  (streams/unreadable.py).
- **Paced reading on the event clock** (`read_times`): a partition read more than
  `read_ahead_ms` of event time ahead of the slowest one with records left is paused
  until that one catches up. The regions release only up to the slowest partition, so
  everything read ahead of it waits in their reorder buffers; in a catch-up the sparse
  topics (one fetch of a partition of discharges covers hours) were read to their end
  first, and a 500,000-event backlog held ~180,000 events there (830 MB).
"""

from __future__ import annotations

import asyncio
import logging
import time
from itertools import zip_longest
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.settings import Settings
from streams.unreadable import UNREADABLE, read_around
from streams.watermark import partitions_ahead
from topics.catalogue import ingest_group

log = logging.getLogger("streams.app")

Records = list[Any]  # aiokafka ConsumerRecords of one or more input partitions, in order

FINAL_COMMIT_TIMEOUT_S = 10.0  # the stopping worker's last commit (see `run`)
REBALANCE_POLL_S = 0.05  # how often a rebalancing reader looks whether it may read again


class IngestConsumer(ConsumerRebalanceListener):
    """Reads the input topics for `ingest(records)` (which returns, per partition, the
    offset after its last record handed over) and commits what it forwarded."""

    def __init__(self, settings: Settings, topics: list[str],
                 ingest: Callable[[Records], Awaitable[dict[Any, int]]],
                 acknowledge: Callable[[], Awaitable[None]],
                 on_assigned: Callable[[list[Any]], None], on_revoked: Callable[[list[Any]], None],
                 on_gap: Callable[[str, int, int, int], None],
                 on_unreadable: Callable[[str, int, range], Awaitable[None]],
                 read_times: Callable[[], dict[str, int]] | None = None) -> None:
        self.settings = settings
        # the event time of the last record forwarded per input partition
        # ("topic/partition"): the event clock paces reading by it (_pace); None on the
        # wall clock
        self.read_times = read_times
        self.topics = topics
        self.ingest = ingest
        self.acknowledge = acknowledge
        self.on_assigned = on_assigned
        self.on_revoked = on_revoked
        self.on_gap = on_gap
        self.on_unreadable = on_unreadable
        self.consumer: AIOKafkaConsumer | None = None
        self.committed: dict[Any, int] = {}  # per assigned partition: the offset committed (or to start from)
        self.next_offset: dict[Any, int] = {}  # per partition: the offset after the last record read
        # per partition: the offset after the last record whose batch was handed over whole
        # (a batch cut short by the worker stopping is not: it is read again)
        self.forwarded: dict[Any, int] = {}
        self.last_commit = time.monotonic()
        # Held while a batch is forwarded: a revocation (aiokafka calls the listener from
        # its own task) commits only after the batch it read is handed over whole.
        self.batch_lock = asyncio.Lock()
        self.generation = 0  # revocations so far: a fetch read before one is not handed over
        # Between a revocation and the assignment that follows it (and before the first
        # one) the group is rebalancing: the worker is not ready (/readyz).
        self.rebalancing = True

    def _make_consumer(self) -> AIOKafkaConsumer:
        s = self.settings
        instance = f"{s.group_instance_id}-ingest" if s.group_instance_id else None
        return AIOKafkaConsumer(
            group_id=ingest_group(s.app_id), group_instance_id=instance, client_id=ingest_group(s.app_id),
            enable_auto_commit=False, auto_offset_reset="earliest",
            max_partition_fetch_bytes=s.ingest_fetch_bytes, fetch_max_wait_ms=s.consumer_fetch_wait_ms,
            session_timeout_ms=int(max(6.0, s.rebalance_timeout * 2) * 1000),
            heartbeat_interval_ms=int(s.heartbeat_interval_s * 1000),
            rebalance_timeout_ms=int(s.rebalance_timeout * 1000),
            **s.kafka_client_options())

    async def run(self) -> None:
        """Read, forward and commit until cancelled (the worker stopping)."""
        self.consumer = consumer = self._make_consumer()
        consumer.subscribe(self.topics, listener=self)
        try:
            await consumer.start()
            while True:
                if self.rebalancing:
                    # Nothing is read before the assignment's start offsets are set
                    # (on_partitions_assigned): the client starts fetching a partition it
                    # has no commit for at its earliest offset meanwhile.
                    await asyncio.sleep(REBALANCE_POLL_S)
                    continue
                generation = self.generation
                unreadable: dict[Any, range] = {}
                try:
                    batches = await consumer.getmany(timeout_ms=100)
                except UNREADABLE:
                    around = await read_around(consumer, {tp: self.next_offset.get(tp) for tp in consumer.assignment()})
                    batches, unreadable = around.batches, around.unreadable
                if self.generation != generation:
                    continue  # a rebalance came while fetching: read again from the offsets it set
                for tp, batch in batches.items():
                    self._check_gap(tp, batch)
                await self._hand_over(interleaved(list(batches.values())), unreadable, generation)
                self._pace(consumer)
                if time.monotonic() - self.last_commit >= self.settings.commit_interval_s:
                    await self.commit(consumer.assignment())
        finally:
            try:
                # Bounded: with the broker away the client retries forever, and the worker
                # must still stop. What is not committed is forwarded again by the next
                # reader and dropped there as duplicates.
                await asyncio.wait_for(self.commit(consumer.assignment()), FINAL_COMMIT_TIMEOUT_S)
            except (asyncio.TimeoutError, KafkaError):
                log.warning("ingest: the last commit of input offsets did not finish; those records are read again")
            finally:
                await consumer.stop()
                self.consumer = None

    async def _hand_over(self, records: Records, unreadable: dict[Any, range], generation: int) -> None:
        """Ingest a fetch in slices of `ingest_batch_records`, each under `batch_lock`: a
        revocation waits for the slice under way, not for a whole fetch (up to 1 MiB per
        partition, which could outlast the rebalance timeout), and the slices after it
        are dropped: the partitions' next reader reads them again from the commit.
        `generation`: the rebalances counted when the fetch began."""
        size = self.settings.ingest_batch_records
        for start in range(0, len(records), size):
            piece = records[start:start + size]
            async with self.batch_lock:
                if self.generation != generation:
                    return
                self.forwarded.update(await self.ingest(piece))
            # Let the region agents, timers and web server run between slices: the sends
            # rarely wait (the producer buffers), so a catch-up fetch held the event loop
            # until all of it was forwarded. At 150,000 events of backlog the first event
            # was applied 30 s after the start without this, 20 s with it.
            await asyncio.sleep(0)
        if unreadable:
            async with self.batch_lock:
                if self.generation != generation:
                    return
                for tp, offsets in unreadable.items():
                    await self.on_unreadable(tp.topic, tp.partition, offsets)
                    self.next_offset[tp] = self.forwarded[tp] = offsets.stop

    def _pace(self, consumer: AIOKafkaConsumer) -> None:
        """Event clock: pause the partitions read too far ahead (streams.watermark.
        partitions_ahead), resume the others. A paused partition keeps its position: the
        records fetched for it and not returned are fetched again when it resumes."""
        if self.read_times is None:
            return
        times = self.read_times()
        assignment = consumer.assignment()
        left: dict[Any, int | None] = {}  # partitions with records left to read
        for tp in assignment:
            high = consumer.highwater(tp)
            pos = self.next_offset.get(tp, self.committed.get(tp))
            if high == 0 or (high is not None and pos is not None and pos >= high):
                continue  # at its end (as far as this reader knows)
            left[tp] = times.get(f"{tp.topic}/{tp.partition}")
        ahead = partitions_ahead(left, self.settings.read_ahead_ms)
        consumer.resume(*(assignment - ahead))
        if ahead:
            consumer.pause(*ahead)

    def _check_gap(self, tp: Any, batch: Records) -> None:
        expected = self.next_offset.get(tp)
        for record in batch:
            if expected is not None and record.offset > expected:
                self.on_gap(tp.topic, tp.partition, expected, record.offset - 1)
            expected = record.offset + 1
        if expected is not None:
            self.next_offset[tp] = expected

    async def commit(self, partitions: Any) -> None:
        """Commit, for `partitions`, what was forwarded from them once it is acknowledged."""
        self.last_commit = time.monotonic()
        consumer = self.consumer
        if consumer is None:
            return
        forwarded = self.forwarded
        offsets = {tp: forwarded[tp] for tp in partitions
                   if tp in forwarded and forwarded[tp] > self.committed.get(tp, -1)}
        if not offsets:
            return
        await self.acknowledge()
        try:
            await consumer.commit({TopicPartition(tp.topic, tp.partition): offset for tp, offset in offsets.items()})
        except KafkaError as exc:
            # A rebalance took the partitions meanwhile, or the broker is away: their next
            # reader forwards those records again (dropped as duplicates), or the next
            # commit covers them.
            log.warning("ingest: committing input offsets failed (%s); they are committed later or read again",
                        type(exc).__name__)
            return
        self.committed.update(offsets)

    # ------------------------------------------------------------ rebalance listener
    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.rebalancing = True
        self.generation += 1
        async with self.batch_lock:
            await self.commit(list(revoked))
        for tp in revoked:
            self.committed.pop(tp, None)
            self.next_offset.pop(tp, None)
            self.forwarded.pop(tp, None)
        self.on_revoked(list(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        """Set where every assigned partition starts, then let reading go on.

        The client already fetches while this runs (from a partition's commit, or its
        earliest offset when it has none), so a fetch begun before the start offsets
        are set is dropped (`generation`) and every partition is sought to its start:
        its commit, else where the agents' group stopped, else its earliest offset.
        Forwarding what such a fetch held made a partition this group never committed
        start at its earliest offset whatever the agents' group said (seen once, under
        load: the upgrade test applied its input twice)."""
        self.generation += 1
        try:
            await self._set_starts(assigned)
        finally:
            # Reading goes on even if setting a start failed (aiokafka only logs a
            # listener's exception): a partition not sought starts at its commit, or
            # at its earliest offset, as the client would have it.
            self.rebalancing = False

    async def _set_starts(self, assigned: Any) -> None:
        # First: the new partitions hold the event clock until their ends are known.
        self.on_assigned(list(assigned))
        consumer = self.consumer
        if consumer is not None:
            async with self.batch_lock:
                never_committed = []
                for tp in assigned:
                    try:
                        committed = await consumer.committed(tp)
                    except KafkaError:
                        committed = None
                    if committed is None:
                        never_committed.append(tp)
                    else:
                        self.committed[tp] = max(committed, self.committed.get(tp, -1))
                        self._start_at(consumer, tp, self.committed[tp])
                if never_committed:
                    await self._start_where_the_agents_stopped(consumer, never_committed)
                earliest = [tp for tp in never_committed if tp not in self.committed]
                for tp in earliest:
                    self.next_offset.pop(tp, None)
                if earliest:
                    await consumer.seek_to_beginning(*earliest)

    def _start_at(self, consumer: AIOKafkaConsumer, tp: Any, offset: int) -> None:
        consumer.seek(tp, offset)
        self.next_offset[tp] = offset

    async def _start_where_the_agents_stopped(self, consumer: AIOKafkaConsumer, partitions: list[Any]) -> None:
        """Partitions this group never committed start at the offsets the workers' Faust
        group (`{app id}`) committed for them, when it has. Until 2026-12-07 that group read
        the input topics; without this, the first start after an upgrade read all their
        retained input again (7 to 30 days). The bench sets the start of a new deployment
        the same way. Partitions neither group committed start at the earliest offset."""
        admin = AIOKafkaAdminClient(client_id=ingest_group(self.settings.app_id), **self.settings.kafka_client_options())
        try:
            await admin.start()
            offsets = await admin.list_consumer_group_offsets(
                self.settings.app_id, partitions=[TopicPartition(tp.topic, tp.partition) for tp in partitions])
        except KafkaError as exc:
            log.warning("ingest: the agents' group's input offsets could not be read (%s); partitions this group "
                        "never committed start at the earliest offset", type(exc).__name__)
            return
        finally:
            await admin.close()
        for tp in partitions:
            found = offsets.get(TopicPartition(tp.topic, tp.partition))
            if found is not None and found.offset >= 0:
                self._start_at(consumer, tp, found.offset)
                self.committed[tp] = found.offset

    # ------------------------------------------------------------ what the marks read
    def ready(self) -> bool:
        """Reading: joined its group, partitions assigned, not rebalancing."""
        return not self.rebalancing and bool(self.assignment())

    def assignment(self) -> set[Any]:
        return set(self.consumer.assignment()) if self.consumer is not None else set()

    def highwater(self, tp: Any) -> int | None:
        return self.consumer.highwater(tp) if self.consumer is not None else None

    def partitions_of(self, topic: str) -> int | None:
        parts = self.consumer.partitions_for_topic(topic) if self.consumer is not None else None
        return len(parts) if parts else None


def interleaved(batches: list[Records]) -> Records:
    """The records of several partitions taken in turn, each partition's in order.

    aiokafka returns a fetch partition by partition, each up to its fetch size: taken as
    they come, a region would get hours of one partition before the first record of
    the next, and on the event clock it could release nothing until the last one was
    reached (the watermark is the slowest partition's)."""
    if len(batches) == 1:
        return batches[0]
    return [record for group in zip_longest(*batches) for record in group if record is not None]


async def run_forever(reader: IngestConsumer, crash: Callable[[str], None]) -> None:
    """The reader as a worker task: anything but the worker stopping ends the process."""
    try:
        await reader.run()
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - see streams.app._crash
        crash("reading and forwarding input records")
