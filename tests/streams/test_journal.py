"""The state journal (streams/persistence.py): whatever point a worker is killed at while
writing, a restore gives the state after the last record whose journal is complete."""

from __future__ import annotations

import random
from typing import Any

import orjson

from streams import persistence
from streams.persistence import Journal, journal_writes, restore


def _changes(values: dict[str, Any]) -> dict[str, bytes | None]:
    return {k: None if v is None else orjson.dumps(v) for k, v in values.items()}


def _apply(table: dict[str, bytes], writes: list[tuple[str, bytes | None]]) -> None:
    for name, value in writes:
        if value is None:
            table.pop(name, None)
        else:
            table[name] = value


def test_a_record_costs_its_journal_and_no_entries_until_a_flush() -> None:
    journal = Journal()
    writes = journal_writes(journal, _changes({"enc:a": {"n": 1}, "core": {"now": 5}}))
    assert [name for name, _ in writes] == ["~journal1/0", "~journal1"]
    writes = journal_writes(journal, _changes({"enc:a": {"n": 2}}))
    assert [name for name, _ in writes] == ["~journal0/0", "~journal0"]
    # cumulative: the second journal still holds core, with enc:a's newest value
    assert orjson.loads(writes[0][1])["changes"] == {"enc:a": {"n": 2}, "core": {"now": 5}}
    assert journal_writes(journal, {}) == []


def test_the_entries_are_written_after_flush_records_and_the_journal_starts_again() -> None:
    journal = Journal()
    for i in range(persistence.FlushPolicy().records - 1):
        assert all(name.startswith("~journal") for name, _ in journal_writes(journal, _changes({f"e{i}": i})))
    writes = journal_writes(journal, _changes({"last": 1}))
    names = [name for name, _ in writes]
    assert names[:2] == ["~journal0/0", "~journal0"]  # the journal first, then the entries
    assert sorted(names[2:]) == sorted([f"e{i}" for i in range(persistence.FlushPolicy().records - 1)] + ["last"])
    assert journal.unflushed == {} and journal.records == 0


def test_restore_takes_the_highest_complete_journal() -> None:
    table: dict[str, bytes] = {"enc:a": orjson.dumps({"n": 0})}
    header = {"seq": 7, "parts": 1}
    table["~journal1/0"] = orjson.dumps({"seq": 7, "changes": {"enc:a": {"n": 7}, "buf:x": None}})
    table["~journal1"] = orjson.dumps(header)
    # journal 8 cut short: its part is there, its header is not
    table["~journal0/0"] = orjson.dumps({"seq": 8, "changes": {"enc:a": {"n": 8}}})
    table["~journal0"] = orjson.dumps({"seq": 6, "parts": 1})
    entries, journal = restore(table)
    assert entries == {"enc:a": {"n": 7}}
    assert journal.seq == 7 and journal.unflushed == {"enc:a": b'{"n":7}', "buf:x": None}


def test_a_kill_at_any_write_restores_the_last_whole_record() -> None:
    """Records with random changes (deletes included, flushes by count and by size);
    the writes cut after every single one of them: a restore always gives the state
    after the last record whose journal header was written, and going on from there
    gives the right state again."""
    rng = random.Random(7)
    names = [f"enc:{i}" for i in range(40)]
    records = []
    for _ in range(160):
        changes: dict[str, Any] = {}
        for name in rng.sample(names, rng.randint(1, 6)):
            changes[name] = None if rng.random() < 0.15 else {"v": rng.randint(0, 999), "pad": "x" * rng.randint(0, 9000)}
        records.append(changes)
    # the full write stream, and after which write each record's state is complete
    journal = Journal()
    stream: list[tuple[str, bytes | None]] = []
    header_at: list[int] = []
    states: list[dict[str, Any]] = []
    state: dict[str, Any] = {}
    for changes in records:
        writes = journal_writes(journal, _changes(changes))
        header_at.append(len(stream) + next(i for i, (n, _) in enumerate(writes) if n.startswith("~journal") and "/" not in n))
        stream.extend(writes)
        for k, v in changes.items():
            if v is None:
                state.pop(k, None)
            else:
                state[k] = v
        states.append(dict(state))
    for cut in range(len(stream) + 1):
        table: dict[str, bytes] = {}
        _apply(table, stream[:cut])
        entries, restored = restore(table)
        whole = [i for i, at in enumerate(header_at) if at < cut]
        expected = states[whole[-1]] if whole else {}
        assert entries == expected, cut
        # a worker going on from here, then killed after its next record's header
        nxt = {"enc:next": {"v": cut}}
        writes = journal_writes(restored, _changes(nxt))
        _apply(table, writes[: next(i for i, (n, _) in enumerate(writes) if "/" not in n) + 1])
        assert restore(table)[0] == {**expected, **nxt}, cut
