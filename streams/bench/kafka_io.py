"""Kafka helpers of the bench (kafka-python): partitions, true end offsets on the embedded
broker, committing a new consumer group's offsets, a bulk producer."""

from __future__ import annotations

from typing import Any


def topic_partitions(bootstrap: str, topics: list[str]) -> list[Any]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="spoedstroom-bench-meta")
    try:
        out = []
        for topic in topics:
            for p in sorted(consumer.partitions_for_topic(topic) or ()):
                out.append(TopicPartition(topic, p))
        return out
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topics: list[str]) -> dict[Any, int]:
    """The end offset of every partition of the topics that exist, checked by reading.

    The embedded Tansu broker answers ListOffsets(latest) with a stale offset (seen: the
    base offset of the last batch, so up to a whole batch short), so the reported end is
    only the starting point: records found after it move the end forward.
    """
    from kafka import KafkaConsumer

    tps = topic_partitions(bootstrap, topics)
    if not tps:
        return {}
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="spoedstroom-bench-meta",
                             max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_wait_ms=50)
    try:
        ends = dict(consumer.end_offsets(tps))
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, ends[tp])
        empty = 0
        while empty < 2:
            got = consumer.poll(timeout_ms=200, max_records=100_000)
            if not got:
                empty += 1
                continue
            empty = 0
            for tp, records in got.items():
                if records:
                    ends[tp] = max(ends[tp], records[-1].offset + 1)
        return ends
    finally:
        consumer.close()


def commit_group_offsets(bootstrap: str, group: str, offsets: dict[Any, int]) -> None:
    """Commit offsets for a consumer group that has no members yet, so its first worker
    starts exactly there (instead of at the earliest record)."""
    from kafka import KafkaConsumer
    from kafka.structs import OffsetAndMetadata

    if not offsets:
        return
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                             client_id="spoedstroom-bench-offsets")
    try:
        consumer.assign(list(offsets))
        consumer.commit({tp: OffsetAndMetadata(off, "", -1) for tp, off in offsets.items()})
    finally:
        consumer.close()


def make_producer(bootstrap: str, **overrides: Any) -> Any:
    from kafka import KafkaProducer

    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap.split(","),
        "linger_ms": 20,
        "batch_size": 512 * 1024,
        "acks": 1,
        "enable_idempotence": False,
        "max_request_size": 4 * 1024 * 1024,
        "client_id": "spoedstroom-bench",
    }
    config.update(overrides)
    return KafkaProducer(**config)


def kp(tp: Any) -> Any:
    from kafka import TopicPartition

    return TopicPartition(tp.topic, tp.partition)
