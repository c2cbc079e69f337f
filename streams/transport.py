"""The worker's Kafka transport: Faust's aiokafka transport with the consumer's fetch
wait taken from `Settings.consumer_fetch_wait_ms`.

Why: Faust 0.15.3 builds its consumer with `fetch_max_wait_ms=1500` and no setting to
change it. Apache Kafka answers a fetch as soon as a record arrives, so the wait costs
nothing there; the embedded broker (Tansu) answers only when the wait is over (about
0.6 s of it, measured), and an event crosses two consumers (input, then repartition):
more than a second of every event's freshness was fetch waiting, not work. A short wait
costs an idle worker a few more fetch requests per second.

How: the transport is a subclass that the pipeline hands to the app through its public
`App.transport` setter (streams.app), not a patch: other apps in the process keep
Faust's transport. The consumer thread builds aiokafka's consumer as Faust does, then
sets the wait before the consumer starts (aiokafka hands it to its fetcher in
`start()`).
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        if not hasattr(consumer, "_fetch_max_wait_ms"):
            # aiokafka changed how its consumer keeps the setting: fail at start-up
            # rather than run with Faust's 1.5 s unnoticed.
            raise RuntimeError("aiokafka's consumer has no _fetch_max_wait_ms: check streams/transport.py")
        consumer._fetch_max_wait_ms = transport.fetch_wait_ms
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """Faust's aiokafka transport whose consumer waits at most `fetch_wait_ms` for a fetch."""

    Consumer = _Consumer

    def __init__(self, url: Any, app: Any, *, fetch_wait_ms: int, **kwargs: Any) -> None:
        super().__init__(url, app, **kwargs)
        self.fetch_wait_ms = fetch_wait_ms
