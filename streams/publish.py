"""Publishing NDJSON event logs into the input topics, keyed by partner.

Lines are sent as they are (bytes unchanged), so a bad line reaches the pipeline and is
dead-lettered there, as it would be from a partner. The topic follows the event type
(events.md); a line whose type cannot be read goes to `fallback_topic`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson
from kafka import KafkaProducer

from simulator.sink import make_producer as simulator_producer
from topics.catalogue import ADMISSIONS, TOPIC_OF_TYPE
from topics.codec import parse_time
from topics.event import short_type

HEADERS = [("content-type", b"application/cloudevents+json")]


def route(line: bytes, fallback_topic: str) -> tuple[str, bytes | None, int | None]:
    """(topic, key, event time ms) of one NDJSON line; tolerant of bad input."""
    try:
        obj = orjson.loads(line)
        name = short_type(obj["type"]) or ""
        topic = TOPIC_OF_TYPE.get(name, fallback_topic)
        source = str(obj.get("source", ""))
        key = source.rsplit("/", 1)[-1].encode() if source else None
        try:
            t = parse_time(obj["time"])
        except Exception:  # noqa: BLE001 - unparseable times are the pipeline's to reject
            t = None
        return topic, key, t
    except Exception:  # noqa: BLE001
        return fallback_topic, None, None


def read_lines(path: str | Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        for line in fh:
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield line


def make_producer(bootstrap: str) -> KafkaProducer:
    producer: KafkaProducer = simulator_producer(bootstrap, max_request_size=2 * 1024 * 1024,
                                                 client_id="spoedstroom-publish")
    return producer


def publish_lines(lines: Iterable[bytes], bootstrap: str, *, speed: float | None = None,
                  fallback_topic: str = ADMISSIONS, producer: KafkaProducer | None = None) -> int:
    """Send lines to their topics. `speed` None = as fast as possible; N = N x event time."""
    own = producer is None
    producer = producer or make_producer(bootstrap)
    sent = 0
    first_event: int | None = None
    started = time.monotonic()
    try:
        for line in lines:
            topic, key, t = route(line, fallback_topic)
            if speed and t is not None:
                if first_event is None:
                    first_event = t
                due = started + (t - first_event) / 1000 / speed
                delay = due - time.monotonic()
                if delay > 0:
                    producer.flush() if delay > 0.05 else None
                    time.sleep(max(0.0, due - time.monotonic()))
            producer.send(topic, key=key, value=line, headers=HEADERS)
            sent += 1
        producer.flush()
    finally:
        if own:
            producer.close()
    return sent
