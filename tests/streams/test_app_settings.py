"""Settings reach the Faust app they configure (no broker needed: the app is only built)."""

from __future__ import annotations

from streams.app import Pipeline
from streams.settings import Settings
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
