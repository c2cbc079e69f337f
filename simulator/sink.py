"""Where simulated events go: an NDJSON file, or Kafka topics paced by event time.

Both take the `(topic, key, cloudevent)` iterator of :func:`simulator.generate`. The Kafka
writer is reusable by other commands (the demo): `publish(events, bootstrap, speed)`.
Pacing: an event with time `t` is sent at wall time `wall0 + (t - t0) / speed`, where
`t0` is the first event's time; `speed=None` (max) sends as fast as the producer can.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from topics.codec import parse_time
from topics.envelope import kafka_headers

Item = tuple[str, str, dict[str, Any]]


@dataclass
class Progress:
    """Counts of what has been written, by topic; `last_time_ms` is the latest event time."""

    events: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)
    last_time_ms: int | None = None

    def add(self, topic: str, time_ms: int) -> None:
        self.events += 1
        self.by_topic[topic] = self.by_topic.get(topic, 0) + 1
        self.last_time_ms = time_ms


def encode(event: dict[str, Any]) -> bytes:
    """One structured CloudEvent as compact JSON bytes."""
    return orjson.dumps(event)


def write_ndjson(events: Iterable[Item], out: IO[bytes],
                 on_event: Callable[[Progress], None] | None = None) -> Progress:
    """Write one CloudEvent JSON per line to a binary file; returns the counts."""
    progress = Progress()
    write = out.write
    for topic, _key, event in events:
        write(encode(event) + b"\n")
        progress.add(topic, parse_time(event["time"]))
        if on_event is not None:
            on_event(progress)
    return progress


def paced(events: Iterable[Item], speed: float | None, stop_event: threading.Event | None = None,
          clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], Any] | None = None) -> Iterator[tuple[Item, int]]:
    """Yield `(item, time_ms)` no earlier than its event time allows at `speed`x.

    `speed=None` means no pacing. Stops early when `stop_event` is set (it is also used
    to sleep, so a stop interrupts a long wait).
    """
    wait = sleep or (stop_event.wait if stop_event is not None else time.sleep)
    t0: int | None = None
    wall0 = 0.0
    for item in events:
        if stop_event is not None and stop_event.is_set():
            return
        t = parse_time(item[2]["time"])
        if speed is not None:
            if t0 is None:
                t0, wall0 = t, clock()
            due = wall0 + (t - t0) / 1000.0 / speed
            delay = due - clock()
            if delay > 0:
                wait(delay)
                if stop_event is not None and stop_event.is_set():
                    return
        yield item, t


def make_producer(bootstrap: str, **overrides: Any) -> Any:
    """A kafka-python producer tuned for throughput (batching with a short linger)."""
    from kafka import KafkaProducer

    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap.split(","),
        "linger_ms": 20,
        "batch_size": 256 * 1024,
        "compression_type": None,
        "acks": 1,
        "enable_idempotence": False,
        "client_id": "spoedstroom-simulator",
    }
    config.update(overrides)
    return KafkaProducer(**config)


def publish(events: Iterable[Item], bootstrap: str | None = None, speed: float | None = None,
            stop_event: threading.Event | None = None, *, producer: Any = None,
            on_event: Callable[[Progress], None] | None = None,
            flush_every: int = 5000) -> Progress:
    """Send each event to its input topic (key = partner id, structured mode).

    Pass either `bootstrap` (a producer is created and closed here) or an existing
    `producer`. With pacing, the producer is flushed whenever the writer is about to
    sleep so that paced events are not held back by batching.
    """
    own = producer is None
    if own:
        if not bootstrap:
            raise ValueError("publish: give bootstrap servers or a producer")
        producer = make_producer(bootstrap)
    progress = Progress()
    headers = kafka_headers(structured=True)
    pending = 0

    def sleep_and_flush(delay: float) -> None:
        nonlocal pending
        if pending:
            producer.flush()
            pending = 0
        if stop_event is not None:
            stop_event.wait(delay)
        else:
            time.sleep(delay)

    try:
        for (topic, key, event), t in paced(events, speed, stop_event, sleep=sleep_and_flush):
            producer.send(topic, key=key.encode(), value=encode(event), headers=headers)
            pending += 1
            progress.add(topic, t)
            if pending >= flush_every:
                producer.flush()
                pending = 0
            if on_event is not None:
                on_event(progress)
        producer.flush()
    finally:
        if own:
            producer.close()
    return progress
