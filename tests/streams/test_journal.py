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


def test_a_record_costs_one_journal_and_no_entries_until_a_flush() -> None:
    journal = Journal()
    writes = journal_writes(journal, _changes({"enc:a": {"n": 1}, "core": {"now": 5}}))
    assert [name for name, _ in writes] == ["~journal1"]
    assert orjson.loads(writes[0][1]) == {"seq": 1, "parts": 1, "changes": {"enc:a": {"n": 1}, "core": {"now": 5}}}
    writes = journal_writes(journal, _changes({"enc:a": {"n": 2}}))
    assert [name for name, _ in writes] == ["~journal2"]
    # a journal holds its own record's changes only
    assert orjson.loads(writes[0][1])["changes"] == {"enc:a": {"n": 2}}
    assert journal_writes(journal, {}) == []


def test_big_changes_go_out_in_parts_before_the_journal_naming_them() -> None:
    journal = Journal(persistence.FlushPolicy(held=4 * 1024 * 1024))  # no flush with them
    big = {f"enc:{i}": {"pad": "x" * 1000} for i in range(600)}  # ~600 KB
    names = [name for name, _ in journal_writes(journal, _changes(big))]
    assert names == ["~journal1/1", "~journal1/2", "~journal1"]


def test_a_flush_writes_each_changed_entry_once_then_the_marker() -> None:
    policy = persistence.FlushPolicy()
    journal = Journal(policy)
    for i in range(policy.records - 1):
        writes = journal_writes(journal, _changes({f"e{i % 5}": i, "core": i}))
        assert [name for name, _ in writes] == [f"~journal{i + 1}"]
    writes = journal_writes(journal, _changes({"last": 1}))
    names = [name for name, _ in writes]
    assert names[0] == f"~journal{policy.records}"  # the journal first, then the entries
    assert sorted(names[1:-1]) == sorted([f"e{i}" for i in range(5)] + ["core", "last"])
    assert names[-1] == "~flushed" and orjson.loads(writes[-1][1]) == {"seq": policy.records}
    assert journal.unflushed == {} and journal.records == 0
    # the next chain starts again at the first slot
    assert [name for name, _ in journal_writes(journal, _changes({"x": 1}))] == ["~journal1"]


def test_an_entry_changed_again_adds_nothing_to_what_is_held() -> None:
    """The memory bound (`held`) counts each entry's latest value once: a location or a
    snapshot changed in every record never flushes by it; the journals' own bound does."""
    policy = persistence.FlushPolicy(held=8 * 1024, bytes=64 * 1024, records=1000)
    journal = Journal(policy)
    value = {"pad": "x" * 1000}
    flushed_at = []
    for i in range(1, 200):
        names = [name for name, _ in journal_writes(journal, _changes({"loc:a": {**value, "n": i}}))]
        assert journal.held_bytes <= 2 * 1024
        if "~flushed" in names:
            flushed_at.append(i)
    # ~1 KB of journal per record: a flush every ~64 records, by the journals' bytes
    assert flushed_at and all(60 <= b - a <= 66 for a, b in zip([0, *flushed_at], flushed_at))
    # eight new entries of ~1 KB reach the held bound
    names = []
    for i in range(9):
        names += [name for name, _ in journal_writes(journal, _changes({f"enc:{i}": value}))]
    assert "~flushed" in names


def test_restore_applies_the_chain_after_the_marker_up_to_the_first_gap() -> None:
    table: dict[str, bytes] = {"enc:a": orjson.dumps({"n": 0}), "~flushed": orjson.dumps({"seq": 6})}
    table["~journal3"] = orjson.dumps({"seq": 6, "parts": 1, "changes": {"enc:a": {"n": 6}}})  # covered
    table["~journal1"] = orjson.dumps({"seq": 7, "parts": 1, "changes": {"enc:a": {"n": 7}, "buf:x": None}})
    # journal 8 cut short: its journal names two parts, part 1 is of an older one
    table["~journal2/1"] = orjson.dumps({"seq": 5, "changes": {"enc:b": {"n": 5}}})
    table["~journal2"] = orjson.dumps({"seq": 8, "parts": 2, "changes": {"enc:a": {"n": 8}}})
    entries, journal = restore(table)
    assert entries == {"enc:a": {"n": 7}}
    assert journal.seq == 7 and journal.records == 1 and journal.unflushed == {"enc:a": b'{"n":7}', "buf:x": None}
    assert journal.held_bytes == persistence._size("enc:a", b'{"n":7}') + persistence._size("buf:x", None)


def test_restore_decodes_only_the_chain_after_the_marker() -> None:
    """Slots a flush covers stay in the table until a chain overwrites them (after a bulk
    load as many bytes as the entries): a restore never decodes them."""
    table: dict[str, bytes] = {"enc:a": orjson.dumps({"n": 0}), "~flushed": orjson.dumps({"seq": 9})}
    table["~journal1"] = orjson.dumps({"seq": 10, "parts": 1, "changes": {"enc:a": {"n": 10}}})
    table["~journal2"] = orjson.dumps({"seq": 8, "parts": 1, "changes": {"enc:a": {"n": 8}}})  # covered: ends the chain
    for slot in range(3, 200):  # never read: not JSON at all
        table[f"~journal{slot}"] = b"\xff stale"
        table[f"~journal{slot}/1"] = b"\xff stale"
    entries, journal = restore(table)
    assert entries == {"enc:a": {"n": 10}}
    assert journal.seq == 10 and journal.records == 1


def test_a_kill_at_any_write_restores_the_last_whole_record() -> None:
    """Records with random changes (deletes included, flushes by count and by size);
    the writes cut after every single one of them: a restore always gives the state
    after the last record whose journal was written, and going on from there gives the
    right state again."""
    rng = random.Random(7)
    names = [f"enc:{i}" for i in range(20)] + [f"loc:{i}" for i in range(20)]  # half of them grouped
    records = []
    for _ in range(160):
        changes: dict[str, Any] = {}
        for name in rng.sample(names, rng.randint(1, 6)):
            pad = "x" * (rng.randint(0, 9000) if rng.random() < 0.95 else 150_000)  # some records need parts
            changes[name] = None if rng.random() < 0.15 else {"v": rng.randint(0, 999), "pad": pad}
        records.append(changes)
    # the full write stream, and after which write each record's state is complete;
    # flushes by count and by size (and a part-split journal now and then)
    # with these bounds each of the three ends some chains on its own (and some together)
    policy = persistence.FlushPolicy(held=72 * 1024, bytes=96 * 1024, records=8)
    journal = Journal(policy)
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
        entries, restored = restore(table, policy)
        whole = [i for i, at in enumerate(header_at) if at < cut]
        expected = states[whole[-1]] if whole else {}
        assert entries == expected, cut
        # a worker going on from here, then killed after its next record's header
        nxt = {"enc:next": {"v": cut}}
        writes = journal_writes(restored, _changes(nxt))
        _apply(table, writes[: next(i for i, (n, _) in enumerate(writes) if "/" not in n) + 1])
        assert restore(table, policy)[0] == {**expected, **nxt}, cut
    assert sum(name == "~flushed" for name, _ in stream) >= 8
    assert any(name.startswith("~journal") and "/" in name for name, _ in stream)
    assert any(name.startswith("~group/loc/") for name, _ in stream)
    assert not any(name.startswith("loc:") for name, _ in stream)


def test_a_flush_writes_the_grouped_families_in_rows() -> None:
    """Locations, snapshots, partners, rules and nowcasts: a row per bucket that changed,
    holding every entry of that bucket; an emptied row is deleted."""
    policy = persistence.FlushPolicy(records=2)
    journal = Journal(policy)
    first = {f"loc:{i}": {"beds": i} for i in range(40)} | {"snap:region:x": {"t": 1}, "enc:a": {"n": 1}}
    writes = journal_writes(journal, _changes(first)) + journal_writes(journal, _changes({"partner:p": 5}))
    table: dict[str, bytes] = {}
    _apply(table, writes)
    assert sorted(n for n in table if not n.startswith(("~journal", "~group"))) == ["enc:a", "~flushed"]
    rows = [n for n in table if n.startswith("~group/")]
    assert {n.rsplit("/", 1)[0] for n in rows} == {"~group/loc", "~group/snap", "~group/partner"}
    assert len([n for n in rows if n.startswith("~group/loc/")]) <= persistence.GROUP_BUCKETS
    expected = {**first, "partner:p": 5}
    assert restore(table, policy)[0] == expected
    # one location changed, one deleted: only their rows are written again, whole
    _, journal = restore(table, policy)
    changes = {"loc:3": {"beds": 99}, "loc:4": None}
    writes = journal_writes(journal, _changes(changes)) + journal_writes(journal, _changes({"partner:p": 6}))
    written = {n for n, _ in writes if n.startswith("~group/")}
    assert written == {persistence.group_row("loc:3"), persistence.group_row("loc:4"), persistence.group_row("partner:p")}
    _apply(table, writes)
    expected = {**expected, "loc:3": {"beds": 99}, "partner:p": 6}
    del expected["loc:4"]
    assert restore(table, policy)[0] == expected
    # a bucket emptied: its row deleted
    _, journal = restore(table, policy)
    _apply(table, journal_writes(journal, _changes({"snap:region:x": None})) + journal_writes(journal, {"enc:b": b"1"}))
    assert persistence.group_row("snap:region:x") not in table
    assert restore(table, policy)[0] == {k: v for k, v in expected.items() if k != "snap:region:x"} | {"enc:b": 1}


def test_entries_of_the_grouped_families_written_on_their_own_move_into_rows() -> None:
    """A table written before the rows (each location its own entry): restored as it
    is, and the next flush writes their rows and deletes the single entries."""
    policy = persistence.FlushPolicy(records=1)
    table = {"loc:a": orjson.dumps({"beds": 1}), "loc:b": orjson.dumps({"beds": 2}), "enc:x": orjson.dumps(3)}
    entries, journal = restore(table, policy)
    assert entries == {"loc:a": {"beds": 1}, "loc:b": {"beds": 2}, "enc:x": 3}
    _apply(table, journal_writes(journal, _changes({"loc:a": {"beds": 7}})))
    assert not {"loc:a", "loc:b"} & set(table)
    assert restore(table, policy)[0] == {"loc:a": {"beds": 7}, "loc:b": {"beds": 2}, "enc:x": 3}
