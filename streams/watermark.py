"""The event clock's watermark in the pipeline (events.md, "Order, lateness, duplicates").

Each ingest reader reports, per input partition it reads, how far it has read: the
latest event time, whether it is caught up with the partition's end, and its read
position. The reports travel with the events through the repartition topic, so a
region hears them in order with the events they cover (streams.ingest). Here:

- `merge_mark`: a region's mark of one input partition after a report about it;
- `event_clock_horizon`: how far the region may release its reorder buffer now;
- `partitions_ahead`: which partitions a reader pauses so as not to read far beyond
  what the regions can release.

Both are pure: the clock and the settings are arguments.
"""

from __future__ import annotations

from typing import Any, TypeVar

Partition = TypeVar("Partition")

#: `event_clock_horizon`'s answer when everything read may be released.
RELEASE_ALL = "all"


def merge_mark(mark: list[Any] | None, report: list[Any]) -> list[Any]:
    """The region's mark of one input partition after a marks report about it.

    A mark is [latest event time read, caught up, offset], the offset being the furthest
    read position any report has given. A report is [latest, caught up, offset]: the
    reporter's read position, or, before it has read the partition since it was
    assigned, the committed offset it starts from; or [None, None] for a partition only
    known to exist.

    A report behind the mark's offset is older news: from a worker that no longer reads
    the partition, or from a new reader starting again below what its predecessor read
    (after a crash, or a hand-over during a batch: on the embedded broker the end offset
    it compares with lags by up to a batch). It can only say "not caught up"; taken at
    face value it released the clock past events not read yet (F4, docs/reliability.md).
    """
    m = [None, False, 0] if mark is None else [*mark[:3], 0][:3]
    caught_up = report[1]
    if caught_up is None:
        return m  # only known to exist: its reader reports it
    latest = report[0]
    if latest is not None and (m[0] is None or latest > m[0]):
        m[0] = latest
    offset = report[2] if len(report) > 2 else m[2]  # (two items: a worker from before offsets)
    if offset >= m[2]:
        m[2] = offset
        m[1] = bool(caught_up)
    else:
        m[1] = m[1] and bool(caught_up)
    return m


def event_clock_horizon(marks: dict[str, list[Any]], reported: dict[str, float], last_record: float,
                        clock: float, lateness_ms: int, mark_fresh_s: float, still_s: float) -> int | str | None:
    """How far a region may release on the event clock: a watermark (ms), RELEASE_ALL,
    or None (nothing is safe to release yet).

    While the stream flows: up to the minimum, over the input partitions that have
    delivered events or are behind their end, of the latest event time read, minus
    the reorder lateness. One with data holds at its latest time, because "caught
    up" is only what its reader saw when it reported: data published since, maybe
    read by another worker, is not known here yet (with regions spread over workers,
    the reports about one partition come from another process than the events). A
    partition idle and caught up since its start holds nothing while its reader
    keeps saying so (a report of the last `mark_fresh_s` seconds); once its reports
    stop (the reader died, or the partition is between readers in a rebalance) it
    holds everything: events published there meanwhile may be older than any other
    partition's, and releasing past them made their partners look silent
    (`feed_silent` raised and resolved again) and applied them late.

    Everything read is released only once the stream is still: every partition
    caught up by a report of the last `mark_fresh_s` seconds (its reader may have died
    after saying so; `reported`: the monotonic time of each partition's last report)
    and no record with events since `still_s` seconds (`last_record`)."""
    if not marks:
        return None
    fresh = all(clock - reported.get(tp, float("-inf")) <= mark_fresh_s for tp in marks)
    if fresh and all(m[1] for m in marks.values()) and clock - last_record >= still_s:
        return RELEASE_ALL
    holding: list[Any] = []
    for tp, m in marks.items():
        if m[0] is not None or not m[1]:
            holding.append(m[0])
        elif clock - reported.get(tp, float("-inf")) > mark_fresh_s:
            return None  # idle when last heard of, but not heard of lately
    if not holding or any(t is None for t in holding):
        return None  # a partition with data not read yet: nothing is safe to release
    return int(min(holding)) - lateness_ms


def partitions_ahead(read_times: dict[Partition, int | None], allowance_ms: int) -> set[Partition]:
    """The partitions read more than `allowance_ms` of event time ahead of the slowest.

    `read_times`: the latest event time read per partition with records left to read
    (None: nothing read from it yet). The slowest of them holds the watermark, so what
    is read ahead of it waits in the reorder buffers; pausing the others bounds that to
    the allowance plus one fetch. Never the slowest: reading goes on. Nothing while a
    partition's time is not known yet (it may be the slowest)."""
    if not read_times or any(t is None for t in read_times.values()):
        return set()
    slowest = min(t for t in read_times.values() if t is not None)
    return {tp for tp, t in read_times.items() if t is not None and t > slowest + allowance_ms}
