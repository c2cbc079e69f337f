"""How a region's state is written to, and read back from, the changelogged table.

Kafka has no atomic write of several keys without transactions, and a worker killed
part-way through writing a record's changes would leave a torn state (an event's id kept
by dedup while the window it counted in is the old one: the event is lost on replay).
So every record's changes go out first as a **journal**, and the entries themselves only
now and then:

- The journal of a record holds every change since the entries were last written in
  full (it is cumulative), in parts of at most JOURNAL_PART_BYTES, then a header naming
  the parts' sequence number. Journals alternate between two slots (`~journal0`,
  `~journal1` and their parts `~journal{slot}/{i}`), so writing one never touches the
  last complete one.
- When the journal has grown past a size, or a number of records, or the record itself
  was big (`FlushPolicy`, from Settings), the entries it holds are written one by one after it (a **flush**)
  and the next journal starts empty.
- A restore takes the entries and applies over them the complete journal with the
  highest sequence: the state after the last whole record, whatever was cut short.

A record that changes a few entries (live traffic) so costs the journal's part(s), its
header and, on the embedded broker, a sentinel, instead of one record per entry.
All writes of a region go to its partition of the changelog, in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

JOURNAL = "~journal"
JOURNAL_PART_BYTES = 256 * 1024  # journal parts stay well below Kafka's 1 MB record limit


@dataclass(frozen=True)
class FlushPolicy:
    """When the entries are written in full (Settings `journal_*`). The journal is
    rewritten whole with every record, so it is kept small: the entries are written once
    it has grown past `bytes` or covered `records` records, and at once after a record
    whose own changes reach `big_record_bytes` (a bulk load would otherwise be carried,
    and rewritten, record after record)."""

    bytes: int = 64 * 1024
    records: int = 20
    big_record_bytes: int = 16 * 1024


@dataclass
class Journal:
    """A region's journal between flushes (the shell's, not part of the state)."""

    policy: FlushPolicy = field(default_factory=FlushPolicy)
    seq: int = 0
    unflushed: dict[str, bytes | None] = field(default_factory=dict)  # name -> value (None: deleted)
    unflushed_bytes: int = 0
    records: int = 0  # records since the last flush


def journal_writes(journal: Journal, changes: dict[str, bytes | None]) -> list[tuple[str, bytes | None]]:
    """The table writes (entry name, value; None deletes) for one record's `changes`, in
    the order they must reach the changelog; updates `journal`."""
    if not changes:
        return []
    own_bytes = 0
    for name, value in changes.items():
        journal.unflushed[name] = value
        n = len(name) + (len(value) if value is not None else 4) + 8
        journal.unflushed_bytes += n
        own_bytes += n
    journal.records += 1
    journal.seq += 1
    slot = f"{JOURNAL}{journal.seq % 2}"
    parts: list[dict[str, Any]] = [{}]
    size = 0
    for name, value in journal.unflushed.items():
        n = len(name) + (len(value) if value is not None else 4) + 8
        if parts[-1] and size + n > JOURNAL_PART_BYTES:
            parts.append({})
            size = 0
        parts[-1][name] = None if value is None else orjson.Fragment(value)
        size += n
    # parts first, then the header naming them: a header on the changelog means all its
    # parts are there before it
    writes: list[tuple[str, bytes | None]] = [
        (f"{slot}/{i}", orjson.dumps({"seq": journal.seq, "changes": part})) for i, part in enumerate(parts)
    ]
    writes.append((slot, orjson.dumps({"seq": journal.seq, "parts": len(parts)})))
    policy = journal.policy
    if (journal.unflushed_bytes >= policy.bytes or journal.records >= policy.records
            or own_bytes >= policy.big_record_bytes):
        writes.extend(journal.unflushed.items())
        journal.unflushed = {}
        journal.unflushed_bytes = 0
        journal.records = 0
    return writes


def journal_changes(header: dict[str, Any], parts: dict[int, Any]) -> dict[str, Any] | None:
    """The change set of one journal slot, or None when it is incomplete (a part missing,
    or overwritten by a newer journal being written when the worker stopped)."""
    if not header:
        return None
    changes: dict[str, Any] = {}
    for i in range(header.get("parts", 0)):
        part = parts.get(i)
        if part is None or part["seq"] != header["seq"]:
            return None
        changes.update(part["changes"])
    return changes


def restore(table_entries: dict[str, bytes], policy: FlushPolicy = FlushPolicy()) -> tuple[dict[str, Any], Journal]:
    """A region's entries (decoded, names without the region prefix) as of its last whole
    record, and the journal to go on with: the changes of the journal applied are not
    all among the entries yet, so the next journals carry them on until a flush."""
    entries: dict[str, Any] = {}
    headers: dict[str, dict[str, Any]] = {}
    parts: dict[str, dict[int, Any]] = {}
    for name, value in table_entries.items():
        if name.startswith(JOURNAL):
            slot, _, index = name.partition("/")
            if index:
                parts.setdefault(slot, {})[int(index)] = orjson.loads(value)
            else:
                headers[slot] = orjson.loads(value)
        elif name != "~sentinel":
            entries[name] = orjson.loads(value)
    complete = []
    for slot, header in headers.items():
        changes = journal_changes(header, parts.get(slot, {}))
        if changes is not None:
            complete.append((header["seq"], changes))
    journal = Journal(policy)
    if complete:
        journal.seq, changes = max(complete, key=lambda item: item[0])
        for name, value in changes.items():
            if value is None:
                entries.pop(name, None)
            else:
                entries[name] = value
            encoded = None if value is None else orjson.dumps(value)
            journal.unflushed[name] = encoded
            journal.unflushed_bytes += len(name) + (len(encoded) if encoded is not None else 4) + 8
    return entries, journal
