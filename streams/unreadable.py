"""Reading past input records the Kafka client cannot parse.

aiokafka refuses a whole fetch when one of its records cannot be parsed: a header name
that is not UTF-8 raises `UnicodeDecodeError` from its C parser (`CorruptRecordException`
from the pure-Python one). Kafka's Java client reads such a record, so a partner's
producer can write one. Left alone, `getmany` raises on every call, the worker exits,
its successor reads the same offset and exits too: one record would stop every worker
in turn. And the failed call has already moved other partitions past records it then
never returned.

`read_around(consumer, resume)` finds the partitions that hold such a record and reads
every other record as usual. The client parses a record batch from its start, so every
record after the unreadable one in the same batch (the rest of one producer request,
usually the same partner's) cannot be read either: the whole run, from the first
unreadable record to the end of its batch, is reported back, to be dead-lettered by its
coordinates (`unreadable_record`: the client could not read the value to pass it on) and
skipped. The records stay in the input topic for the partner to inspect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CorruptRecordException, UnsupportedCodecError

#: What aiokafka raises when it cannot parse a fetched record: `UnicodeDecodeError` (a
#: `ValueError`) for a header name, `CorruptRecordException`, another `ValueError` of
#: its parsers for malformed bytes, or `UnsupportedCodecError` for a batch compressed
#: with a codec it has no library for (snappy, lz4 and zstd need cramjam, a dependency;
#: a codec Kafka adds later would not have one). Any of them from `getmany` is the
#: data's, not the worker's: `read_around` finds the record or, if none raises again,
#: skips nothing.
UNREADABLE = (ValueError, CorruptRecordException, UnsupportedCodecError)

#: How long one probing fetch waits for records. Only partitions with records left are
#: probed (their log ends are asked for first), so a probe rarely waits at all.
PROBE_TIMEOUT_MS = 500


@dataclass
class ReadAround:
    """What `read_around` read: records per partition, in order, and per partition the
    offsets skipped as unreadable."""

    batches: dict[Any, list[Any]] = field(default_factory=dict)
    unreadable: dict[Any, range] = field(default_factory=dict)


async def read_around(consumer: AIOKafkaConsumer, resume: dict[Any, int | None]) -> ReadAround:
    """After `getmany` raised one of UNREADABLE: every assigned partition read again from
    `resume` (the offset after the last record handed over, or None: its committed
    offset or its beginning), one at a time, and the unreadable run of each partition
    that has one located."""
    result = ReadAround()
    partitions = sorted(consumer.assignment())
    for tp in partitions:  # what the failed call consumed and dropped is read again
        await _seek(consumer, tp, resume.get(tp))
    # One request for where every partition's log ends: a partition read to its end is
    # not probed (a probe there waits PROBE_TIMEOUT_MS for nothing: with 30 partitions
    # one unreadable record held up all reading for 15 s).
    ends = await consumer.end_offsets(partitions)
    for tp in partitions:
        if await consumer.position(tp) >= ends[tp]:
            continue
        records, unreadable_at = await _read_one_by_one(consumer, tp)
        if records:
            result.batches[tp] = records
        if unreadable_at is not None:
            end = await _end_of_unreadable(consumer, tp, unreadable_at, ends[tp])
            result.unreadable[tp] = range(unreadable_at, end)
            consumer.seek(tp, end)
    return result


async def _seek(consumer: AIOKafkaConsumer, tp: Any, offset: int | None) -> None:
    if offset is not None:
        consumer.seek(tp, offset)
        return
    committed = await consumer.committed(tp)
    if committed is not None:
        consumer.seek(tp, committed)
    else:
        await consumer.seek_to_beginning(tp)


async def _read_one_by_one(consumer: AIOKafkaConsumer, tp: Any) -> tuple[list[Any], int | None]:
    """The partition's buffered records up to an unreadable one, and that one's offset.

    One record per call: a call that raises leaves the position where it was, so the
    records before the unreadable one come out and the position stops at it."""
    records: list[Any] = []
    while True:
        try:
            got = await consumer.getmany(tp, timeout_ms=PROBE_TIMEOUT_MS if not records else 0, max_records=1)
        except UNREADABLE:
            return records, await consumer.position(tp)
        if not got:
            return records, None
        records.extend(got[tp])


async def _readable_from(consumer: AIOKafkaConsumer, tp: Any, offset: int, log_end: int) -> bool:
    """Whether reading from `offset` gets past the unreadable batch: the log's end (known
    without a fetch), a record, nothing, or a reset to the beginning (past the log's end
    on Apache Kafka, with `auto_offset_reset="earliest"`: the position is then below
    `offset`)."""
    if offset >= log_end:
        return True
    consumer.seek(tp, offset)
    try:
        await consumer.getmany(tp, timeout_ms=PROBE_TIMEOUT_MS, max_records=1)
    except UNREADABLE:
        return await consumer.position(tp) < offset
    return True


async def _end_of_unreadable(consumer: AIOKafkaConsumer, tp: Any, first: int, log_end: int) -> int:
    """The first offset after `first` from which the partition reads again: the end of
    the unreadable record's batch (reading from any offset inside it parses the batch
    from its start). Found in a few probes: steps that double, then halving."""
    low, step = first, 1  # `low` is unreadable
    while not await _readable_from(consumer, tp, first + step, log_end):
        low, step = first + step, step * 2
    high = min(first + step, max(log_end, first + 1))  # readable (a record, or the log's end)
    while high - low > 1:
        middle = (low + high) // 2
        if await _readable_from(consumer, tp, middle, log_end):
            high = middle
        else:
            low = middle
    return high
