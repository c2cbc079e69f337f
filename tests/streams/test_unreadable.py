"""`streams.unreadable.read_around` on the real broker: a record the client cannot parse
in one partition of many, the others read to their end or holding records.

Before: every assigned partition was probed with a fetch that waits up to 500 ms for
records; a partition at its log's end answers nothing and so cost the whole wait. With
30 input partitions one unreadable record held up all reading for ~15 s, and a partner
sending one every 15 s kept the worker's ingest almost stopped."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaProducer

from streams.devstack import ensure_topics
from streams.unreadable import UNREADABLE, read_around
from tests.streams.kafka_io import NotUtf8
from tests.support import Stack
from topics.catalogue import TopicSpec

TOPIC = "unreadable-probe"
PARTITIONS = 12


def test_only_partitions_with_records_are_probed(stack: Stack) -> None:
    ensure_topics(stack.bootstrap, [TopicSpec(TOPIC, PARTITIONS)])
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap, linger_ms=500, acks=1)
    try:
        # partition 0: one batch of readable, unreadable, readable (offsets 0-2), then a
        # batch after it (offset 3); partition 5: two records; the rest: empty
        producer.send(TOPIC, value=b"a", partition=0)
        producer.send(TOPIC, value=b"b", headers=[(NotUtf8("x"), b"1")], partition=0)
        producer.send(TOPIC, value=b"c", partition=0)
        producer.flush()
        producer.send(TOPIC, value=b"d", partition=0)
        producer.send(TOPIC, value=b"e", partition=5)
        producer.send(TOPIC, value=b"f", partition=5)
        producer.flush()
    finally:
        producer.close()

    async def scenario() -> tuple[Any, list[tuple[int, int]]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=stack.bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest", group_id="unreadable-probe")
        await consumer.start()
        try:
            partitions = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
            consumer.assign(partitions)
            try:
                for _ in range(20):
                    await consumer.getmany(timeout_ms=500)
                raise AssertionError("the unreadable record was read")
            except UNREADABLE:
                pass
            probes: list[tuple[int, int]] = []  # (partition, timeout) of every fetch read_around makes
            real = consumer.getmany

            async def counted(*tps: Any, timeout_ms: int = 0, max_records: int | None = None) -> Any:
                probes.extend((tp.partition, timeout_ms) for tp in tps)
                return await real(*tps, timeout_ms=timeout_ms, max_records=max_records)

            consumer.getmany = counted  # type: ignore[method-assign]
            around = await read_around(consumer, {tp: 0 for tp in partitions})
            return around, probes
        finally:
            await consumer.stop()

    around, probes = asyncio.run(scenario())
    tp0, tp5 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 5)
    assert [r.value for r in around.batches[tp0]] == [b"a"]
    assert [r.value for r in around.batches[tp5]] == [b"e", b"f"]
    assert around.unreadable == {tp0: range(1, 3)}  # the rest of its batch; offset 3 reads again
    assert {partition for partition, _timeout in probes} == {0, 5}, probes
