"""Output records gathered per partition into producer batches, handed over together.

A snapshot is ~800 bytes and a catch-up publishes ~1.8 of them per event. Sent one by
one (`producer.send`), each record paid Faust's wrapper, the partitioner (murmur2 in
Python), a future and the accumulator's bookkeeping. Here a record is appended to its
partition's batch (aiokafka's C record builder) and the batches are handed to the
producer when the caller has published what it had (`send`): one future per batch,
the partition of a key computed once (docs/performance.md: with the release steps,
-13% worker CPU in a 500,000-event catch-up).

Order: the records of one key go to one partition, appended in publishing order. Every
record appended before a `send` goes with it, and one send hands its batches over
completely before the next begins (several coroutines publish: the region agent, the
flush timer, the nation agent), so a key's records keep the order they were published
in (the producer keeps one queue per partition).
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

Headers = list[tuple[str, bytes]]


class RecordBatches:
    """Records for one topic, per partition, until `send` hands them to the producer.

    `producer` returns the app's aiokafka producer (it exists only once the app has
    started). Keys go to the partition Kafka's default partitioner gives them, as a
    plain `send` would have (a key's records stay where they were before batching)."""

    def __init__(self, producer: Callable[[], Any], topic: str) -> None:
        self.producer = producer
        self.topic = topic
        self.partitioner = DefaultPartitioner()
        self.partitions: list[int] = []  # of the topic, as the producer's metadata knows them
        self.partition_of: dict[bytes, int] = {}
        self.open: dict[int, BatchBuilder] = {}
        self.full: list[tuple[int, BatchBuilder]] = []  # closed batches, in the order they filled
        # One hand-over at a time: the producer may make one wait (a partition's previous
        # batch not yet drained), and a later hand-over must not pass it with newer records.
        self.handing_over = asyncio.Lock()

    async def append(self, key: bytes, value: bytes, headers: Headers) -> None:
        """Add one record to its partition's batch (nothing is sent before `send`)."""
        partition = self.partition_of.get(key)
        if partition is None:
            partition = await self._partition(key)
        batch = self.open.get(partition)
        if batch is None:
            batch = self.open[partition] = self._new_batch()
        if batch.append(timestamp=None, key=key, value=value, headers=headers) is None:
            # Full: it goes before the next one of its partition. An empty batch takes any
            # record, however large.
            self.full.append((partition, batch))
            batch = self.open[partition] = self._new_batch()
            batch.append(timestamp=None, key=key, value=value, headers=headers)

    async def send(self) -> list[asyncio.Future[Any]]:
        """Hand every batch to the producer, in order; returns their delivery futures
        (done once the broker answered: `.result()` raises a refusal)."""
        if not self.open and not self.full:
            return []
        batches = [*self.full, *self.open.items()]
        self.full, self.open = [], {}
        producer = self.producer()
        deliveries = []
        async with self.handing_over:
            for partition, batch in batches:
                batch.close()
                deliveries.append(await producer.send_batch(batch, self.topic, partition=partition))
        return deliveries

    def _new_batch(self) -> BatchBuilder:
        # the producer's batch size (Faust's producer_max_batch_size) and compression
        return self.producer().create_batch()

    async def _partition(self, key: bytes) -> int:
        partitions = sorted(await self.producer().partitions_for(self.topic))
        if partitions != self.partitions:  # first use, or the topic has grown
            self.partitions = partitions
            self.partition_of = {}
        partition: int = self.partitioner(key, partitions, partitions)
        self.partition_of[key] = partition
        return partition
