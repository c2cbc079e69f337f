"""Where simulated events go: an NDJSON file, or Kafka topics paced by event time.

Both take the `(topic, key, cloudevent)` iterator of :func:`simulator.generate`. The Kafka
writer is reusable by other commands (the demo): `publish(events, bootstrap, speed)`.
Pacing: an event with time `t` is sent at wall time `wall0 + (t - t0) / speed`, where
`t0` is the first event's time; `speed=None` (max) sends as fast as the producer can.
A `route` (:class:`AdtRoute`) sends one hospital's events another way at their due time:
as HL7 v2 ADT over MLLP to the partner gateway (:class:`MllpSender`), as the demo does.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from simulator.hl7_feed import AdtFeed, pseudonymised
from topics.codec import parse_time
from topics.envelope import kafka_headers

Item = tuple[str, str, dict[str, Any]]
MLLP_START, MLLP_END = b"\x0b", b"\x1c\r"


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
            flush_every: int = 5000, route: Callable[[Item], Item | None] | None = None) -> Progress:
    """Send each event to its input topic (key = partner id, structured mode).

    Pass either `bootstrap` (a producer is created and closed here) or an existing
    `producer`. With pacing, the producer is flushed whenever the writer is about to
    sleep so that paced events are not held back by batching. `route`, when given, sees
    each event at its due time and returns what goes to Kafka, or None when it sent the
    event another way itself (a hospital's ADT feed over MLLP: :class:`AdtRoute`).
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
        for item, t in paced(events, speed, stop_event, sleep=sleep_and_flush):
            routed = route(item) if route is not None else item
            if routed is None:  # sent over MLLP: counted apart from the Kafka topics
                progress.add("gateway.hl7", t)
                if on_event is not None:
                    on_event(progress)
                continue
            topic, key, event = routed
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


class AckMissing(Exception):
    """The gateway gave no ACK (it closes the connection when Kafka did not acknowledge)."""


class MllpSender:
    """A blocking MLLP client as an interface engine is: one message at a time, the next
    only after the ACK. A connection closed without an ACK means the message is not safe
    at the gateway: reconnect and resend (its deterministic event ids make a resend a
    duplicate downstream), up to `attempts` times. Counts the ACK codes."""

    def __init__(self, host: str, port: int, timeout: float = 60.0, attempts: int = 5,
                 stop_event: threading.Event | None = None) -> None:
        self.address = (host, port)
        self.timeout = timeout
        self.attempts = attempts
        self.stop_event = stop_event
        self.acks: dict[str, int] = {}
        self._conn: socket.socket | None = None

    def _exchange(self, block: bytes) -> bytes:
        if self._conn is None:
            self._conn = socket.create_connection(self.address, timeout=self.timeout)
        self._conn.sendall(block)
        data = b""
        while not data.endswith(MLLP_END):
            chunk = self._conn.recv(65536)
            if not chunk:
                raise AckMissing("connection closed without ACK")
            data += chunk
        return data

    def send(self, text: str) -> tuple[str, str]:
        """Send one message; its ACK code (`AA`, `AE`, `AR`) and MSA-3 reason code."""
        block = MLLP_START + text.encode("utf-8") + MLLP_END
        for attempt in range(1, self.attempts + 1):
            try:
                ack = self._exchange(block)
                break
            except (OSError, AckMissing) as exc:
                self.close()
                if attempt == self.attempts:
                    raise AckMissing(f"no ACK from {self.address[0]}:{self.address[1]} after {attempt} "
                                     f"attempts ({type(exc).__name__})") from None
                # The gateway may be restarting, or waiting for Kafka: back off, then resend.
                if self.stop_event is not None and self.stop_event.wait(min(2.0 ** attempt, 10.0)):
                    raise AckMissing("stopped while resending") from None
                if self.stop_event is None:
                    time.sleep(min(2.0 ** attempt, 10.0))
        msa = next((seg.split("|") for seg in ack.strip(b"\x0b\x1c\r").decode("utf-8", "replace").split("\r")
                    if seg.startswith("MSA|")), ["MSA", "", "", ""])
        code = msa[1] if len(msa) > 1 else ""
        reason = msa[3].split(":", 1)[0] if len(msa) > 3 else ""
        self.acks[code] = self.acks.get(code, 0) + 1
        return code, reason

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class AdtRoute:
    """One hospital's events through the gateway, for :func:`publish`'s `route`: its SEH
    and ward transitions as HL7 v2 ADT over MLLP (`simulator.hl7_feed`), its other events
    to Kafka with the encounter id the gateway gives the visit; other partners' events
    unchanged. AE/AR answers are logged with their reason code (a simulator has no patient
    data; the code is all an operator needs) and counted in the sender's `acks`."""

    def __init__(self, feed: AdtFeed, sender: MllpSender, key: bytes,
                 log: Callable[[str], None] | None = None) -> None:
        self.feed = feed
        self.sender = sender
        self.key = key
        self.log = log

    def __call__(self, item: Item) -> Item | None:
        topic, key, event = item
        if key != self.feed.link.partner:
            return item
        adt = self.feed.message(event)
        if adt is None:
            return topic, key, pseudonymised(event, self.key, key)
        code, reason = self.sender.send(adt.text)
        if code != "AA" and self.log is not None:
            self.log(f"gateway answered {code or 'nothing'} to {key}'s {adt.trigger}: {reason or 'no reason'}")
        return None
