"""`spoedstroom dev up | status | down` on the real embedded broker and Redis.

Runs the commands as a user would (subprocesses, settings from the environment), checks
the topics against the catalogue, reads an hour of simulator events back with
kafka-python and validates them, and checks that `dev down` leaves no process behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from streams.devstack import free_port
from tests.streams.kafka_io import read_topic
from tests.support import REGISTRY
from topics.catalogue import ALL_TOPICS, INPUT_TOPICS
from topics.registry import load_registry
from topics.validation import Validator

CLI = [sys.executable, "-c", "from streams.cli import main; main()"]


def _run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CLI + args, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    broker, redis = free_port(), free_port()
    out = dict(os.environ)
    out.update({
        "SPOEDSTROOM_STATE_DIR": str(tmp_path / "state"),
        "SPOEDSTROOM_BROKER_PORT": str(broker),
        "SPOEDSTROOM_REDIS_PORT": str(redis),
        "SPOEDSTROOM_BOOTSTRAP_SERVERS": f"127.0.0.1:{broker}",
        "SPOEDSTROOM_REDIS_URL": f"redis://127.0.0.1:{redis}/0",
    })
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_dev_up_topics_simulator_hour_and_down(env: dict[str, str], tmp_path: Path) -> None:
    up = _run(["dev", "up"], env)
    assert up.returncode == 0, up.stderr
    state = Path(env["SPOEDSTROOM_STATE_DIR"])
    pids = [int((state / f"{name}.pid").read_text()) for name in ("broker", "redis")]
    try:
        status = _run(["dev", "status"], env)
        assert status.returncode == 0, status.stdout + status.stderr
        # Topics exist with the catalogue's partitions and cleanup policies.
        admin = KafkaAdminClient(bootstrap_servers=env["SPOEDSTROOM_BOOTSTRAP_SERVERS"])
        try:
            described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics([s.name for s in ALL_TOPICS])}
        finally:
            admin.close()
        assert described == {s.name: s.partitions for s in ALL_TOPICS}
        # An hour of simulator events into Kafka, read back and validated.
        sim = _run(["simulate", "--registry", REGISTRY, "--seed", "3", "--hours", "1",
                    "--start", "2026-11-18T10:00:00Z", "--speed", "max", "--kafka", "--quiet"], env)
        assert sim.returncode == 0, sim.stderr
        validator = Validator(load_registry(REGISTRY))
        total = 0
        for spec in INPUT_TOPICS:
            for record in read_topic(env["SPOEDSTROOM_BOOTSTRAP_SERVERS"], spec.name):
                event = validator.decode(record.value, record.headers, spec.name)
                assert record.key.decode() == event.partner
                total += 1
        assert total > 100
        # A second `dev up` is idempotent; the ports being taken by it is reported clearly
        # to a stack in another state folder.
        assert _run(["dev", "up"], env).returncode == 0
        other = dict(env, SPOEDSTROOM_STATE_DIR=str(tmp_path / "other"))
        busy = _run(["dev", "up"], other)
        assert busy.returncode == 2
        assert f"port {env['SPOEDSTROOM_BROKER_PORT']} for the embedded broker is busy" in busy.stderr.replace("\n", " ")
    finally:
        down = _run(["dev", "down"], env)
    assert down.returncode == 0, down.stderr
    assert not any(_alive(pid) for pid in pids), "dev down left a process behind"
    assert not list(state.glob("*.pid"))
    assert _run(["dev", "status"], env).returncode == 1


def test_missing_broker_binary_fails_with_a_clear_message(env: dict[str, str]) -> None:
    bad = dict(env, CALF_TANSU_BIN="/nonexistent/tansu")
    result = _run(["dev", "up"], bad)
    assert result.returncode == 2
    assert "the embedded Kafka broker is missing" in result.stderr.replace("\n", " ")
