"""Reading back what the broker holds (streams/readback.py), on the real embedded broker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
from kafka import KafkaProducer

from streams.readback import published_alerts
from streams.settings import Settings
from tests.support import Stack
from topics.catalogue import ALERTS


def test_the_alert_tail_is_read_once_for_every_region_asked(stack: Stack, tmp_path: Path) -> None:
    """A worker taking over several regions reads `acute.alerts` once for them all: each
    region gets its own alert events (ids begin with the region), others are left out."""
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap)
    sent = [("west:seh_crowding:a:1", "raised"), ("west:seh_crowding:a:1", "resolved"),
            ("oost:wrong_bed:b:2", "raised"), ("limburg:long_stay:c:3", "raised")]
    for alert_id, status in sent:
        value = orjson.dumps({"type": f"nl.acutezorg.alert.{status}.v1", "data": {"alert_id": alert_id}})
        producer.send(ALERTS, key=alert_id.encode(), value=value)
    producer.flush()
    producer.close()
    settings = Settings(bootstrap_servers=stack.bootstrap)
    seen = asyncio.run(published_alerts(settings, ["west", "oost", "brabant"]))
    assert seen == {
        "west": {("west:seh_crowding:a:1", "nl.acutezorg.alert.raised.v1"),
                 ("west:seh_crowding:a:1", "nl.acutezorg.alert.resolved.v1")},
        "oost": {("oost:wrong_bed:b:2", "nl.acutezorg.alert.raised.v1")},
        "brabant": set(),
    }
