"""The reorder buffer's state entries (processors.reorder): events stored in parts per
minute of event time, a batch writing only the parts it touched, and a restore from
those entries releasing the same events in the same order."""

from __future__ import annotations

from typing import Any

import orjson

from processors.reorder import BUFFER_PART, BUFFER_PART_BYTES, ReorderBuffer
from topics.event import Event

MINUTE = 60_000
T0 = 1_767_225_600_000


def event(i: int, t: int) -> Event:
    return Event(f"e{i}", "/partners/p", "p", "capacity.reported", t, {"location": "w", "staffed_beds": i})


def apply(table: dict[str, Any], changes: dict[str, Any]) -> None:
    for k, v in changes.items():
        if v is None:
            assert k in table, f"tombstone for {k}, never written"
            del table[k]
        else:
            table[k] = orjson.loads(orjson.dumps(v))


def test_a_census_minute_is_cut_into_parts_and_a_release_empties_them() -> None:
    buf = ReorderBuffer()
    census = [event(i, T0 + 5_000) for i in range(2 * BUFFER_PART + 10)]  # one instant
    for ev in census:
        buf.push(ev)
    buf.push(event(10_000, T0 + MINUTE + 1))
    changes = buf.take_dirty()
    minute = T0 // MINUTE
    assert sorted(changes) == sorted([f"buf:{minute}", f"buf:{minute}/1", f"buf:{minute}/2", f"buf:{minute + 1}"])
    assert [len(changes[f"buf:{minute}/{p}" if p else f"buf:{minute}"]) for p in range(3)] == [BUFFER_PART, BUFFER_PART, 10]
    table: dict[str, Any] = {}
    apply(table, changes)

    released = []
    while (ev := buf.pop_until(T0 + 5_000)) is not None:
        released.append(ev)
    assert released == sorted(census, key=lambda e: e.key)
    apply(table, buf.take_dirty())  # the three parts deleted, the next minute kept
    assert sorted(table) == [f"buf:{minute + 1}"]


def test_events_buffered_and_released_between_two_writes_leave_no_trace() -> None:
    buf = ReorderBuffer()
    buf.push(event(1, T0))
    assert buf.pop_until(T0) is not None
    assert buf.take_dirty() == {}


def test_a_restored_buffer_releases_the_same_events_and_adds_after_the_stored_parts() -> None:
    buf = ReorderBuffer()
    events = [event(i, T0 + (i % 7) * 20_000) for i in range(BUFFER_PART + 50)]
    for ev in events:
        buf.push(ev)
    table: dict[str, Any] = {}
    apply(table, buf.take_dirty())

    restored = ReorderBuffer()
    for k, v in table.items():
        restored.load(k.partition(":")[2], v)
    restored.rebuilt()
    later = event(99_999, T0 + 1)
    restored.push(later)
    apply(table, restored.take_dirty())
    assert all(len(v) <= BUFFER_PART for v in table.values())

    out = []
    while (ev := restored.pop_any()) is not None:
        out.append(ev)
    assert out == sorted([*events, later], key=lambda e: e.key)
    apply(table, restored.take_dirty())
    assert table == {}


def test_big_events_cut_a_part_by_bytes_so_no_entry_nears_the_record_limit() -> None:
    buf = ReorderBuffer()
    for i in range(60):  # ~20 KB each: 60 of them are more than BUFFER_PART_BYTES
        buf.push(Event(f"b{i}", "/partners/p", "p", "capacity.reported", T0,
                       {"location": "w", "staffed_beds": i, "note": "x" * 20_000}))
    entries = buf.take_dirty()
    assert len(entries) > 1
    assert all(len(orjson.dumps(v)) <= BUFFER_PART_BYTES for v in entries.values())
    assert sum(len(v) for v in entries.values()) == 60


def test_a_release_step_ends_at_a_minute_once_enough_events_are_due() -> None:
    buf = ReorderBuffer()
    for i in range(30):  # ten events in each of minutes 0, 1 and 2
        buf.push(event(i, T0 + (i // 10) * MINUTE + i))
    end = T0 + 3 * MINUTE
    assert buf.step_watermark(end, 10) == T0 + MINUTE - 1  # minute 0 holds enough
    assert buf.step_watermark(end, 15) == T0 + 2 * MINUTE - 1  # whole minutes: 20
    assert buf.step_watermark(end, 30) == end  # no more than the limit due: all of it
    assert buf.step_watermark(None, 25) == T0 + 3 * MINUTE - 1
    assert buf.step_watermark(None, 31) is None
    # never past the watermark asked for, nor cut in its own minute
    assert buf.step_watermark(T0 + MINUTE + 5, 5) == T0 + MINUTE - 1
    assert buf.step_watermark(T0 + 5, 1) == T0 + 5


def test_a_release_in_steps_applies_what_one_release_does() -> None:
    """A region offered a backlog of three hours at once, then released to its end in
    one go or in steps of ~200 events: the same outputs in the same order, the same state."""
    from pathlib import Path

    import simulator.core as simulator_core
    from processors.region import RegionProcessor
    from topics.registry import load_registry
    from topics.validation import Validator

    reg = load_registry(Path(__file__).resolve().parents[2] / "deploy" / "regions" / "haaglanden.yaml")
    validator = Validator(reg)
    events = [validator.decode(orjson.dumps(ev)) for _, _, ev in
              simulator_core.generate(reg, start_ms=T0, duration_ms=3 * 3_600_000, seed=3)]
    whole, stepped = RegionProcessor(reg), RegionProcessor(reg)
    for ev in events:
        whole.offer(ev)
        stepped.offer(ev)
    watermark = max(ev.time for ev in events) - 120_000
    expected = whole.release(watermark)
    outputs, steps, more = [], 0, True
    while more:
        out, more = stepped.release_step(watermark, 200)
        outputs += out
        steps += 1
    assert steps > 5
    assert outputs == expected
    assert orjson.dumps(stepped.dump()) == orjson.dumps(whole.dump())
    # and everything, as at the end of a stream
    expected = whole.release_all()
    outputs, more = [], True
    while more:
        out, more = stepped.release_step(None, 200)
        outputs += out
    assert outputs == expected
    assert orjson.dumps(stepped.dump()) == orjson.dumps(whole.dump())
