"""A wall-clock worker's ticks (ten a second per region) write no state while they only
move the region's clock (streams.regions.Regions._persist), and a worker killed after
such ticks restarts from the state written before them. On the real broker."""

from __future__ import annotations

import signal
import time

import redis

from tests.reliability.rel import CE_HEADERS, Record, produce
from tests.streams.kafka_io import read_topic
from tests.support import Stack, wait_until
from topics.codec import dumps, format_time, loads

CHANGELOG = "spoedstroom-region-state-changelog"
LOCATION = "hmc-westeinde-interne"


def _capacity(eid: str, beds: int) -> Record:
    event = {"specversion": "1.0", "id": eid, "source": "/partners/hmc", "type": "nl.acutezorg.capacity.reported.v1",
             "time": format_time(int(time.time() * 1000)), "datacontenttype": "application/json",
             "data": {"location": LOCATION, "staffed_beds": beds}}
    return ("acute.capacity", b"hmc", dumps(event), list(CE_HEADERS))


def _staffed_beds(stack: Stack) -> int | None:
    raw = redis.Redis.from_url(stack.redis_url).get(f"spoedstroom:haaglanden:location:{LOCATION}")
    if not raw:
        return None
    data = loads(raw)
    return (data.get("data", data)).get("staffed_beds")


def test_ticks_that_only_move_the_clock_write_no_state_and_a_restart_resumes(stack: Stack) -> None:
    worker, _port = stack.start_worker(clock="wall")
    produce(stack, [_capacity("quiet-1", 41)])
    wait_until(lambda: _staffed_beds(stack) == 41, 90, f"the first snapshot in Redis; log:\n{stack.log()}")

    # Idle: only ticks. Before, each wrote the clock entry and a sentinel (~20 records/s).
    time.sleep(1.0)
    before = len(read_topic(stack.bootstrap, CHANGELOG))
    time.sleep(3.0)
    written = len(read_topic(stack.bootstrap, CHANGELOG)) - before
    # ~30 ticks; a minute boundary in the window may move time-driven figures (a write)
    assert written <= 8, f"{written} state records written by 3 s of idle ticks"

    stack.stop_worker(worker, signal.SIGKILL)
    stack.start_worker("w2", clock="wall")
    produce(stack, [_capacity("quiet-2", 42)])
    wait_until(lambda: _staffed_beds(stack) == 42, 90, f"the restarted worker's snapshot; log:\n{stack.log('w2')}")
    assert "Traceback" not in stack.log("w2")
