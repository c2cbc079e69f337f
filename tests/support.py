"""Test support: the real embedded stack (Tansu broker + Redis) and real workers.

Nothing here is mocked. Each integration test gets a fresh broker and Redis on free
loopback ports (the Tansu broker is memory-only, so a new one is an empty cluster), and
workers run as separate processes, exactly as `spoedstroom worker` runs in production.
A missing binary fails the test with the stack's own clear message; nothing is skipped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from streams.devstack import EmbeddedStack, free_port
from streams.settings import ROOT, Settings

REGISTRY = str(ROOT / "deploy" / "regions" / "haaglanden.yaml")


@dataclass
class Stack:
    bootstrap: str
    redis_url: str
    state_dir: Path
    env: dict[str, str]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self, name: str = "worker", clock: str = "event", registry: str = REGISTRY,
                     extra_env: dict[str, str] | None = None,
                     loglevel: str | None = None) -> tuple[subprocess.Popen[bytes], int]:
        """Start `spoedstroom worker` as a process; returns it and its web port.
        `loglevel`: else SPOEDSTROOM_TEST_LOGLEVEL, else warning."""
        port = free_port()
        env = dict(self.env)
        env.update({"SPOEDSTROOM_WEB_PORT": str(port), "SPOEDSTROOM_CLOCK": clock, "SPOEDSTROOM_REGISTRY": registry})
        env.update(extra_env or {})
        log = open(self.state_dir / f"{name}.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-c", "from streams.cli import main; main()", "worker", "--loglevel",
             loglevel or os.environ.get("SPOEDSTROOM_TEST_LOGLEVEL", "warning")],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=str(ROOT),
        )
        self.workers.append(proc)
        return proc, port

    def stop_worker(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def assert_no_offset_gaps(self) -> None:
        """No worker skipped input offsets as a gap (streams/faust_fixes.py): the test
        producers use no transactions, so every gap would be records lost."""
        gaps = [f"{path.name}: {line}" for path in sorted(self.state_dir.glob("*.log"))
                for line in path.read_text(errors="replace").splitlines() if "as a gap" in line]
        assert not gaps, "\n".join(gaps[:10])

    def log(self, name: str = "worker") -> str:
        path = self.state_dir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


@contextlib.contextmanager
def make_stack(tmp_path: Path) -> Iterator[Stack]:
    """A fresh embedded broker and Redis on free ports, stopped (with its workers) afterwards."""
    broker_port, redis_port = free_port(), free_port()
    settings = Settings.from_env(state_dir=str(tmp_path), broker_port=broker_port, redis_port=redis_port)
    embedded = EmbeddedStack(settings)
    info = embedded.up(timeout=30)
    env = dict(os.environ)
    env.update({
        "SPOEDSTROOM_BOOTSTRAP_SERVERS": info["bootstrap_servers"],
        "SPOEDSTROOM_REDIS_URL": info["redis_url"],
        "SPOEDSTROOM_STATE_DIR": str(tmp_path),
        "SPOEDSTROOM_REBALANCE_TIMEOUT": "3",
        "SPOEDSTROOM_EMBEDDED_BROKER": "true",  # its workarounds: see Settings.embedded_broker
    })
    st = Stack(info["bootstrap_servers"], info["redis_url"], tmp_path, env)
    try:
        yield st
    finally:
        for proc in st.workers:
            st.stop_worker(proc, signal.SIGKILL)
        embedded.down()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A fresh embedded broker and Redis for one test."""
    with make_stack(tmp_path) as st:
        yield st


def wait_until(check, timeout: float, what: str, interval: float = 0.25):
    """Poll `check()` until it returns a truthy value; an exception counts as "not yet"
    (a service coming back up refuses connections for a moment). Fail with `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:  # noqa: BLE001 - reported if it never succeeds
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
