"""Small helpers for tests that read and write the real broker with kafka-python."""

from __future__ import annotations

import time
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition


class NotUtf8(str):
    """A header name that kafka-python writes as bytes that are not UTF-8 (it writes
    `name.encode("utf-8")`): what a partner's own producer can send (Kafka's Java client
    reads such a record), and what aiokafka cannot parse."""

    def encode(self, *args: Any, **kwargs: Any) -> bytes:  # type: ignore[override]
        return b"\xff\xfe-name"


def topic_names(bootstrap: str) -> set[str]:
    """The names of the topics the broker has."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="spoedstroom-test-reader")
    try:
        return set(consumer.topics())
    finally:
        consumer.close()


def read_topic(bootstrap: str, topic: str, timeout: float = 60.0) -> list[Any]:
    """Every record of a topic from the beginning to its current end (all partitions).

    Raises TimeoutError when the end is not reached in `timeout` seconds: a partial read
    must never pass for the whole topic (a fast replay on the event clock puts a snapshot
    per key and stream minute on acute.metrics, and a loaded machine reads slowly)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=500, client_id="spoedstroom-test-reader")
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: end not reached in {timeout:.0f} s ({len(records)} records read)")
            for batch in consumer.poll(timeout_ms=300, max_records=50_000).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def last_per_key(records: list[Any]) -> dict[str, dict[str, Any]]:
    """Compacted view of a topic of CloudEvents: the last value per key."""
    out: dict[str, dict[str, Any]] = {}
    for rec in sorted(records, key=lambda r: (r.timestamp, r.partition, r.offset)):
        if rec.value is not None:
            out[rec.key.decode()] = orjson.loads(rec.value)
    return out


def headers_of(record: Any) -> dict[str, str]:
    return {k: v.decode("utf-8", "replace") for k, v in (record.headers or [])}
