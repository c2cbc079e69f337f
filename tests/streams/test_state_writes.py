"""What a wall-clock worker writes to its state changelog (streams.regions.Regions): ticks
(ten a second per region) write nothing while they only move the region's clock; a
record whose changes fit one journal writes that journal alone, with no sentinel after it
(Settings.embedded_broker); and a worker killed after quiet ticks restarts from the state
written before them. On the real broker."""

from __future__ import annotations

import signal
import time

import redis

from tests.reliability.rel import CE_HEADERS, Record, http, produce
from tests.streams.kafka_io import read_topic
from tests.support import Stack, wait_until
from topics.catalogue import DEFAULT_APP_ID, STATE_TABLE, changelog
from topics.codec import dumps, format_time, loads, parse_time

CHANGELOG = changelog(DEFAULT_APP_ID, STATE_TABLE)
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


def test_quiet_ticks_write_nothing_one_journal_needs_no_sentinel_and_a_restart_resumes(stack: Stack) -> None:
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

    # Five events, one record each: a journal when it is offered (the reorder buffer) and
    # one when it is applied; before, each journal was followed by a sentinel (~20).
    before = len(read_topic(stack.bootstrap, CHANGELOG))
    for i in range(5):
        produce(stack, [_capacity(f"one-{i}", 50 + i)])
        wait_until(lambda i=i: _staffed_beds(stack) == 50 + i, 30, f"event {i} applied")
    time.sleep(0.5)
    written = len(read_topic(stack.bootstrap, CHANGELOG)) - before
    assert written <= 13, f"{written} state records written for 5 events"

    stack.stop_worker(worker, signal.SIGKILL)
    _w2, port = stack.start_worker("w2", clock="wall")

    def restored_beds() -> int | None:
        code, body = http(port, "/status/haaglanden")
        status = loads(body) if code == 200 else {}
        if not status.get("owner"):
            return None
        return status["snapshots"].get(f"location:{LOCATION}", {}).get("staffed_beds")

    # the last event's journal, written alone with no sentinel after it, is in the state
    # the restarted worker rebuilt (the embedded broker's end offset covers it)
    wait_until(lambda: restored_beds() == 54, 90, f"the restored state; log:\n{stack.log('w2')}")
    produce(stack, [_capacity("quiet-2", 42)])
    wait_until(lambda: _staffed_beds(stack) == 42, 90, f"the restarted worker's snapshot; log:\n{stack.log('w2')}")
    assert "Traceback" not in stack.log("w2")


def test_a_region_without_events_writes_its_read_marks_on_the_event_clock(stack: Stack, tmp_path) -> None:
    """On the event clock a region hears how far every input partition was read only
    through ticks. A tick that moves its marks is not quiet: the marks are written, or
    the next owner of the region would start from stale ones (docs/reliability.md, F4)."""
    from tests.streams.test_nation import _nation_dir

    directory = _nation_dir(tmp_path)
    stack.start_worker(registry=str(directory))
    start = parse_time("2026-11-17T08:00:00Z")
    records = []
    for i in range(20):  # events of zwolle only
        event = {"specversion": "1.0", "id": f"zwo-{i}", "source": "/partners/zwo1-hmc",
                 "type": "nl.acutezorg.capacity.reported.v1", "time": format_time(start + i * 60_000),
                 "datacontenttype": "application/json",
                 "data": {"location": "zwo1-hmc-westeinde-interne", "staffed_beds": 30 + i}}
        records.append(("acute.capacity", b"zwo1-hmc", dumps(event), list(CE_HEADERS)))
    produce(stack, records)

    def marks_written(region: str) -> bool:
        for record in read_topic(stack.bootstrap, CHANGELOG):
            if record.key.startswith(f"{region}|~journal".encode()) and record.value:
                changes = loads(record.value).get("changes") or {}
                if changes.get("~marks"):
                    return True
        return False

    wait_until(lambda: marks_written("zwolle"), 90, f"zwolle's marks; log:\n{stack.log()}")
    wait_until(lambda: marks_written("noordwest"), 30, "the marks of noordwest, a region without events")
