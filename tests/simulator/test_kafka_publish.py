"""Publishing simulated events to a real (embedded) broker: topics, keys, headers."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from simulator import sink
from tests.simulator.helpers import run
from tests.support import Stack

pytestmark = pytest.mark.integration


def test_publish_to_the_embedded_broker(stack: Stack) -> None:
    from kafka import KafkaConsumer

    items = run(0.25, 1)
    progress = sink.publish(items, stack.bootstrap, speed=None)
    assert progress.events == len(items)
    expected = Counter(t for t, _, _ in items)
    consumer = KafkaConsumer(*expected, bootstrap_servers=stack.bootstrap, auto_offset_reset="earliest",
                             group_id=None, enable_auto_commit=False, consumer_timeout_ms=3000)
    got: Counter[str] = Counter()
    deadline = time.monotonic() + 30
    try:
        while sum(got.values()) < len(items) and time.monotonic() < deadline:
            for rec in consumer:
                got[rec.topic] += 1
                assert rec.key.decode() == rec.value.split(b'"source":"/partners/')[1].split(b'"')[0].decode()
                assert dict(rec.headers)["content-type"].startswith(b"application/cloudevents+json")
    finally:
        consumer.close()
    assert got == expected
