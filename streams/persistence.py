"""How a region's state is written to, and read back from, the changelogged table.

Kafka has no atomic write of several keys without transactions, and a worker killed
part-way through writing a record's changes would leave a torn state (an event's id kept
by dedup while the window it counted in is the old one: the event is lost on replay).
And every table write is one changelog record, which costs far more than its bytes. So
the state is written as a **write-ahead journal** with a checkpoint now and then:

- A record's changes go out as one journal, `~journal{slot}` (its sequence number, its
  part count and its first part), after its further parts `~journal{slot}/{i}` if the
  changes exceed JOURNAL_PART_BYTES: one write for an ordinary record. The slot is the
  journal's place in the chain since the last flush, so a journal overwrites only one
  that a flush already covers, and the table holds at most one chain of them.
- When the entries changed since the last checkpoint hold enough bytes (their latest
  values, kept in memory until then), or the journals since it cover enough records or
  bytes (`FlushPolicy`, from Settings), the entries they changed are written, each once
  however often it changed, and then the marker `~flushed` naming the last journal
  they cover (a **flush**).
- A restore takes the entries and applies over them, in order, the complete journals
  after the one the marker names: the state after the last whole record, whatever was
  cut short (entries half-written by a flush are overwritten by the journals that hold
  them, as the marker was not written yet).

A bulk load so writes each changed entry once per flush instead of once per record,
and live traffic one journal per record. All writes of a region go to its partition of
the changelog, in order.

The entries of the GROUPED families (a location's report, a partner's clock, a rule's
episode, a snapshot's compact entry, a nowcast history) are few per region and change
over and over, so a flush found nearly all of them changed: two thirds of a catch-up's
entry writes. They are written in rows of `~group/{family}/{bucket}` instead (an
object of the bucket's entries; the bucket a fixed hash of the entry's name), a few
rows per flush for hundreds of entries. The journals carry them as single entries.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson

JOURNAL = "~journal"
FLUSHED = "~flushed"
GROUP = "~group"
JOURNAL_PART_BYTES = 256 * 1024  # journal parts stay well below Kafka's 1 MB record limit
# Entry families written in rows of many (processors/state.py names them): a region has
# a few hundred of each, a few dozen bytes apiece. Adding a family is safe (its single
# entries move into rows at the next flush); taking one out, or changing GROUP_BUCKETS,
# leaves rows a restore would still read over newer entries: that needs a new
# SPOEDSTROOM_APP_ID (a fresh changelog) or the old rows deleted first.
GROUPED = frozenset({"loc", "partner", "rule", "snap", "nc"})
# Rows per family: a region of 5,000 locations still makes rows of ~125 KB (the rows of a
# ROAZ region of ~50 locations hold ~10 entries each), and a flush that changed a few
# entries of a family writes only their rows.
GROUP_BUCKETS = 4


def group_row(name: str) -> str | None:
    """The row an entry of a GROUPED family is written in (None: written on its own)."""
    family, sep, _ = name.partition(":")
    if not sep or family not in GROUPED:
        return None
    return f"{GROUP}/{family}/{zlib.crc32(name.encode()) % GROUP_BUCKETS}"


@dataclass(frozen=True)
class FlushPolicy:
    """When the entries are written (Settings `journal_*`), whichever comes first:

    - `held`: the latest values of the entries changed since the last flush reach this
      many bytes. They are held in memory until the flush, which writes them all at
      once, so this bounds the memory a region's journal costs. An entry that changes
      again (a location, a snapshot, a partner's clock) replaces its value: it adds
      nothing;
    - `bytes`: the journals since the last flush reach this many bytes (every change
      counted): what a restore applies over the entries, and what the journal slots
      hold in the table;
    - `records`: they cover this many records.

    Larger means fewer writes of entries that change often, and more journal to apply
    on a restore."""

    held: int = 256 * 1024
    bytes: int = 4 * 1024 * 1024
    records: int = 200


@dataclass
class Journal:
    """A region's journal between flushes (the shell's, not part of the state)."""

    policy: FlushPolicy = field(default_factory=FlushPolicy)
    seq: int = 0
    unflushed: dict[str, bytes | None] = field(default_factory=dict)  # name -> value (None: deleted)
    held_bytes: int = 0  # the sizes of the values in `unflushed`
    unflushed_bytes: int = 0  # of the journals since the last flush
    # Every entry of the GROUPED families by row (what the next flush writes of a row)...
    rows: dict[str, dict[str, bytes]] = field(default_factory=dict)
    # ... and those found written on their own by an earlier layout (restore): the next
    # flush writes their rows too, and deletes them.
    single: set[str] = field(default_factory=set)
    records: int = 0  # journals since the last flush


def _size(name: str, value: bytes | None) -> int:
    return len(name) + (len(value) if value is not None else 4) + 8


def journal_writes(journal: Journal, changes: dict[str, bytes | None]) -> list[tuple[str, bytes | None]]:
    """The table writes (entry name, value; None deletes) for one record's `changes`, in
    the order they must reach the changelog; updates `journal`."""
    if not changes:
        return []
    journal.seq += 1
    journal.records += 1
    slot = f"{JOURNAL}{journal.records}"
    parts: list[dict[str, Any]] = [{}]
    size = 0
    for name, value in changes.items():
        n = _size(name, value)
        if parts[-1] and size + n > JOURNAL_PART_BYTES:
            parts.append({})
            size = 0
        parts[-1][name] = None if value is None else orjson.Fragment(value)
        size += n
        _hold(journal, name, value, n)
        row = group_row(name)
        if row is not None:
            _set_in_row(journal, row, name, value)
    # the further parts first, then the journal naming them: a journal on the changelog
    # means all its parts are there before it
    writes: list[tuple[str, bytes | None]] = [
        (f"{slot}/{i}", orjson.dumps({"seq": journal.seq, "changes": part})) for i, part in enumerate(parts) if i
    ]
    writes.append((slot, orjson.dumps({"seq": journal.seq, "parts": len(parts), "changes": parts[0]})))
    policy = journal.policy
    if (journal.held_bytes >= policy.held or journal.unflushed_bytes >= policy.bytes
            or journal.records >= policy.records):
        writes.extend(_flush(journal))
        writes.append((FLUSHED, orjson.dumps({"seq": journal.seq})))
        journal.unflushed = {}
        journal.held_bytes = 0
        journal.unflushed_bytes = 0
        journal.records = 0
    return writes


def _flush(journal: Journal) -> list[tuple[str, bytes | None]]:
    """The entry writes of a flush: the entries changed since the last one, those of the
    GROUPED families as their rows (an empty row deleted), then the deletions of the
    entries of those families written on their own by an earlier layout."""
    writes: list[tuple[str, bytes | None]] = []
    rows = {row for name in journal.single if (row := group_row(name)) is not None}
    for name, value in journal.unflushed.items():
        row = group_row(name)
        if row is None:
            writes.append((name, value))
        else:
            rows.add(row)
    for row in sorted(rows):
        entries = journal.rows.get(row)
        writes.append((row, orjson.dumps({name: orjson.Fragment(value) for name, value in entries.items()})
                       if entries else None))
    writes.extend((name, None) for name in sorted(journal.single))
    journal.single = set()
    return writes


def _hold(journal: Journal, name: str, value: bytes | None, size: int) -> None:
    """`value` is the latest unflushed value of `name` (`size`: `_size` of it)."""
    if name in journal.unflushed:
        journal.held_bytes -= _size(name, journal.unflushed[name])
    journal.unflushed[name] = value
    journal.held_bytes += size
    journal.unflushed_bytes += size


def _set_in_row(journal: Journal, row: str, name: str, value: bytes | None) -> None:
    if value is None:
        journal.rows.get(row, {}).pop(name, None)
    else:
        journal.rows.setdefault(row, {})[name] = value


def journal_changes(journal: dict[str, Any], parts: dict[int, Any]) -> dict[str, Any] | None:
    """The change set of one journal, or None when it is incomplete (a part missing, or
    overwritten by a newer journal being written when the worker stopped)."""
    changes: dict[str, Any] = dict(journal.get("changes") or {})
    for i in range(1, journal.get("parts", 1)):
        part = parts.get(i)
        if part is None or part["seq"] != journal["seq"]:
            return None
        changes.update(part["changes"])
    return changes


def restore(table_entries: dict[str, bytes], policy: FlushPolicy = FlushPolicy()) -> tuple[dict[str, Any], Journal]:
    """A region's entries (decoded, names without the region prefix) as of its last whole
    record, and the journal to go on with: the changes of the journals applied are not
    among the entries yet, so they stay unflushed until the next flush.

    Only the chain after the marker is decoded. Its journals sit in slots 1, 2, ... in
    order (a flush starts the next chain at slot 1), so it ends at the first slot that
    does not hold the next sequence number. The other slots are journals a flush
    already covers, kept until a chain overwrites them: as many bytes as the entries
    after a bulk load, and decoding them was a sixth of a restart."""
    entries: dict[str, Any] = {}
    slots: dict[str, bytes] = {}
    rows: list[dict[str, Any]] = []
    single: set[str] = set()
    flushed = 0
    for name, value in table_entries.items():
        if name.startswith(JOURNAL):
            slots[name] = value
        elif name == FLUSHED:
            flushed = orjson.loads(value)["seq"]
        elif name.startswith(GROUP):
            rows.append(orjson.loads(value))
        elif name != "~sentinel":
            entries[name] = orjson.loads(value)
            if group_row(name) is not None:
                single.add(name)
    for row_entries in rows:  # written after any single entry of their families
        entries.update(row_entries)
    journal = Journal(policy, seq=flushed, single=single)
    while True:
        slot = f"{JOURNAL}{journal.records + 1}"
        raw = slots.get(slot)
        if raw is None:
            break
        head = orjson.loads(raw)
        if head["seq"] != journal.seq + 1:
            break  # covered by the marker, or the chain was cut short here
        parts = {i: orjson.loads(part) for i in range(1, head.get("parts", 1))
                 if (part := slots.get(f"{slot}/{i}")) is not None}
        changes = journal_changes(head, parts)
        if changes is None:
            break
        journal.seq += 1
        journal.records += 1
        for name, value in changes.items():
            if value is None:
                entries.pop(name, None)
            else:
                entries[name] = value
            encoded = None if value is None else orjson.dumps(value)
            _hold(journal, name, encoded, _size(name, encoded))
    for name, value in entries.items():
        row = group_row(name)
        if row is not None:
            _set_in_row(journal, row, name, orjson.dumps(value))
    return entries, journal
