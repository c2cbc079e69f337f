"""What the broker holds, read back with a plain aiokafka client.

`published_alerts`: the alert events already on `acute.alerts`, read back when a worker
takes over a region.

A record's outputs are acknowledged before the state that records them (see
`Pipeline._persist`). A worker that stops in between leaves alerts on the topic that its
successor's state does not know about; the successor replays the same records from the
committed offset and computes the very same alert events again. Before it starts, it
reads the tail of `acute.alerts` and does not send those again, so each alert event is
published once (and reaches Redis and the webhooks once).

Only the tail is read: a repeat can only concern records processed after the last
committed offset, a few seconds of output.

`true_end_offsets`: the end offsets of partitions on the embedded Tansu broker, which
reports a partition's end as its last batch's base offset + 1 (see Settings.embedded_broker).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from typing import Any

import orjson

from streams.settings import Settings
from topics import catalogue

log = logging.getLogger(__name__)

ALERTS_TOPIC = catalogue.ALERTS


async def published_alerts(settings: Settings, regions: Collection[str],
                           timeout_s: float = 15.0) -> dict[str, set[tuple[str, str]]]:
    """Per region of `regions`: (alert id, CloudEvents type) of its alert events in the
    topic's tail. One read for all of them: a worker that takes over several regions at
    once (a restart) reads the tail once, not once per region.

    On failure (broker unreachable within `timeout_s`) it logs and returns what it has:
    the worker then falls back to at-least-once, it never waits forever."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    seen: dict[str, set[tuple[str, str]]] = {region: set() for region in regions}
    consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None, client_id="spoedstroom-alert-tail",
                                **settings.kafka_client_options())
    deadline = time.monotonic() + timeout_s
    try:
        await consumer.start()
        await consumer.topics()  # metadata of every topic, so the partitions are known
        partitions = consumer.partitions_for_topic(ALERTS_TOPIC) or set()
        tps = [TopicPartition(ALERTS_TOPIC, p) for p in sorted(partitions)]
        if not tps:
            return seen
        consumer.assign(tps)
        begin = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(begin[tp], end[tp] - settings.alert_tail_records))
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    if not (record.key and record.value):
                        continue
                    alert_id = record.key.decode("utf-8", "replace")
                    own = seen.get(alert_id.partition(":")[0])  # alert ids begin with the region
                    if own is not None:
                        own.add((alert_id, orjson.loads(record.value)["type"]))
            # An empty poll with every position at the end: nothing more (a broker that
            # under-reports the end offset still delivers the rest in the same fetch).
            if not batches and all([await consumer.position(tp) >= end[tp] for tp in tps]):
                return seen
        log.warning("reading back %s timed out after %.0f s; alerts may be published twice", ALERTS_TOPIC, timeout_s)
    except Exception as exc:  # noqa: BLE001 - never blocks taking over the region
        log.warning("could not read back %s (%s); alerts may be published twice", ALERTS_TOPIC, exc)
    finally:
        await consumer.stop()
    return seen


async def true_end_offsets(settings: Settings, tps: list[Any], timeout_s: float = 10.0) -> dict[Any, int]:
    """Offset after the last record of each partition, read rather than asked for: the last
    batch is fetched from the reported end - 1 and its last offset counts. On failure the
    reported end offsets are returned (and it is logged)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    wanted = [TopicPartition(tp.topic, tp.partition) for tp in tps]
    ends: dict[Any, int] = {}
    consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None, client_id="spoedstroom-end-probe",
                                **settings.kafka_client_options())
    deadline = time.monotonic() + timeout_s
    try:
        await consumer.start()
        consumer.assign(wanted)
        reported = await consumer.end_offsets(wanted)
        ends = dict(reported)
        todo = {tp for tp in wanted if reported[tp] > 0}
        for tp in todo:
            consumer.seek(tp, reported[tp] - 1)
        while todo and time.monotonic() < deadline:
            batches = await consumer.getmany(*todo, timeout_ms=200)
            for tp, records in batches.items():
                if records:
                    ends[tp] = max(ends[tp], records[-1].offset + 1)
                    todo.discard(tp)
        if todo:
            log.warning("end offsets of %s not read back within %.0f s", sorted(map(str, todo)), timeout_s)
    except Exception as exc:  # noqa: BLE001 - the reported offsets are the fallback
        log.warning("could not read back end offsets (%s)", exc)
    finally:
        await consumer.stop()
    return {tp: ends.get(TopicPartition(tp.topic, tp.partition), 0) for tp in tps}
