"""Output records in batches per partition (streams/record_batches.py) and a published
output's bytes (streams.published.Published): what consumers of acute.metrics read must be
what one `send` per record gave before."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import orjson
from aiokafka import AIOKafkaProducer

from processors.output import Output
from processors.replay import output_event
from streams.devstack import ensure_topics
from streams.record_batches import RecordBatches
from streams.published import Published
from tests.streams.kafka_io import read_topic
from tests.support import Stack
from topics.catalogue import TopicSpec

SNAPSHOT = Output("snapshot", "location:seh-1", 1_763_251_200_000,
                  {"scope": "location", "id": "seh-1", "as_of": "2025-11-16T00:00:00Z", "patients": 12,
                   "nedocs": {"score": 88.5, "level": 3}, "note": "\u00e9\u00e8 \"quoted\""})
ALERT = Output("alert.raised", "alert-1", 1_763_251_200_000,
               {"alert_id": "alert-1", "kind": "seh_crowding", "region": "r1", "reasons": ["nedocs 3"]})


def test_a_published_output_is_its_cloudevent_serialised_once() -> None:
    for out in (SNAPSHOT, ALERT):
        published = Published.of("r1", out)
        assert published.payload == orjson.dumps(output_event("r1", out))
        assert published.cloudevent == output_event("r1", out)
        assert published.data_json == orjson.dumps(out.data)
        assert orjson.loads(published.payload)["data"] == out.data


def test_keys_keep_their_partition_and_their_order_in_batches(stack: Stack) -> None:
    """Records of 40 keys, 30 each, in batches small enough to fill many times: every
    key's records on the partition a plain send gives that key, in publishing order."""
    batched, plain = "test.batched", "test.plain"
    ensure_topics(stack.bootstrap, [TopicSpec(batched, 6), TopicSpec(plain, 6)])
    keys = [f"location:seh-{n}".encode() for n in range(40)]

    async def produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, max_batch_size=2048)
        await producer.start()
        try:
            batches = RecordBatches(lambda: producer, batched)
            deliveries = []
            for round_ in range(30):
                for key in keys:
                    await batches.append(key, orjson.dumps({"key": key.decode(), "round": round_}),
                                         [("content-type", b"application/cloudevents+json")])
                if round_ % 7 == 6:  # several hand-overs, each with batches left open before
                    deliveries += await batches.send()
            deliveries += await batches.send()
            assert await batches.send() == []  # nothing left behind
            for key in keys:
                await producer.send(plain, b"{}", key=key)
            await producer.flush()
            for delivery in deliveries:
                delivery.result()  # the broker took every batch
        finally:
            await producer.stop()

    asyncio.run(produce())
    partition_of = {record.key: record.partition for record in read_topic(stack.bootstrap, plain)}
    rounds: dict[bytes, list[int]] = defaultdict(list)
    for record in read_topic(stack.bootstrap, batched):
        assert record.partition == partition_of[record.key]
        assert dict(record.headers) == {"content-type": b"application/cloudevents+json"}
        rounds[record.key].append(orjson.loads(record.value)["round"])
    assert rounds == {key: list(range(30)) for key in keys}
