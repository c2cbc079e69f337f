"""Settings reach the Faust app they configure (no broker needed: the app is only built)."""

from __future__ import annotations

import asyncio

import pytest
from typing import Any

from streams.app import Pipeline
from streams.settings import Settings
from topics.nation import load_nation
from topics.registry import load_registry


def test_static_membership_and_fetch_size_reach_the_consumer() -> None:
    registry = load_registry("deploy/regions/haaglanden.yaml")
    static = Pipeline(Settings(group_instance_id="spoedstroom-worker-0", consumer_fetch_bytes=8 << 20), registry)
    assert static.app.conf.consumer_group_instance_id == "spoedstroom-worker-0"
    assert static.app.conf.consumer_max_fetch_size == 8 << 20
    # by default dynamic membership: a worker that stops leaves the group at once
    assert Pipeline(Settings(), registry).app.conf.consumer_group_instance_id is None


def test_the_worker_logs_at_its_level_not_at_debug() -> None:
    """Faust's terminal spinner would lower the root logger to DEBUG, and every library's
    debug call (aiokafka logs each send) would build a record: the worker has none."""
    import logging

    from streams.app import faust_worker

    registry = load_registry("deploy/regions/haaglanden.yaml")
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        faust_worker(Pipeline(Settings(), registry), "warning")._setup_logging()
        assert root.level == logging.WARNING
        assert not logging.getLogger("aiokafka.producer.producer").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers


def test_the_consumer_fetch_wait_reaches_the_worker_consumer() -> None:
    """Faust builds its consumer with a 1.5 s fetch wait and no setting for it; on the
    embedded broker that wait was most of an event's freshness (streams/transport.py)."""
    from streams.transport import Transport

    registry = load_registry("deploy/regions/haaglanden.yaml")
    app = Pipeline(Settings(consumer_fetch_wait_ms=40), registry).app
    assert isinstance(app.transport, Transport)
    thread = app.consumer._thread  # built, not started: nothing connects

    async def build() -> Any:
        return thread._create_worker_consumer(app.transport)

    consumer = asyncio.run(build())
    assert consumer._fetch_max_wait_ms == 40
    # the producer stays Faust's own
    assert not isinstance(app.producer_transport, Transport)


def test_the_consumer_and_stream_tuning_reach_faust(monkeypatch) -> None:
    monkeypatch.setenv("SPOEDSTROOM_COMMIT_INTERVAL_S", "2.5")
    monkeypatch.setenv("SPOEDSTROOM_HEARTBEAT_INTERVAL_S", "0.5")
    monkeypatch.setenv("SPOEDSTROOM_STREAM_BUFFER_RECORDS", "4096")
    registry = load_registry("deploy/regions/haaglanden.yaml")
    conf = Pipeline(Settings.from_env(), registry).app.conf
    assert (conf.broker_commit_interval, conf.broker_heartbeat_interval, conf.stream_buffer_maxsize) == (2.5, 0.5, 4096)


def test_the_internal_topics_are_named_after_the_app_id() -> None:
    # A deployment under a new SPOEDSTROOM_APP_ID (to move regions or rebuild the state)
    # must start on internal topics of its own: on the old ones a new consumer group
    # read every forwarded record of the old deployment again, on the old placement.
    nation = load_nation("deploy/regions/nl")
    default = Pipeline(Settings(), nation)
    assert default.region_events.get_topic_name() == "spoedstroom-region-events"
    assert default.nation_runtime.topic.get_topic_name() == "spoedstroom-nation"
    moved = Pipeline(Settings(app_id="spoedstroom-v2"), nation)
    assert moved.region_events.get_topic_name() == "spoedstroom-v2-region-events"
    assert moved.nation_runtime.topic.get_topic_name() == "spoedstroom-v2-nation"
    assert moved.table.changelog_topic.get_topic_name() == "spoedstroom-v2-region-state-changelog"


def test_the_state_retention_setting_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """1 to 366 days (NaN refused): a typo must not make every event too_old, or keep
    nothing from being late."""
    monkeypatch.setenv("SPOEDSTROOM_STATE_RETENTION_DAYS", "7")
    assert Settings.from_env().retention_ms == 7 * 86_400_000
    for bad in ("0.5", "400", "nan"):
        monkeypatch.setenv("SPOEDSTROOM_STATE_RETENTION_DAYS", bad)
        with pytest.raises(ValueError, match="STATE_RETENTION_DAYS"):
            Settings.from_env()
    monkeypatch.delenv("SPOEDSTROOM_STATE_RETENTION_DAYS")
    assert Settings.from_env().retention_ms == 30 * 86_400_000
