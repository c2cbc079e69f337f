"""The region's view of how far each input partition has been read (streams.watermark.merge_mark).

Times are minutes, offsets small integers. Finding F4: after a hand-over the new reader
of an input partition reported it caught up from a position behind what its predecessor
had already read, and the watermark passed events it had not read yet.
"""

from __future__ import annotations

import time

from processors.region import RegionProcessor
from streams.region_runtime import RegionRuntime
from streams.regions import Regions
from streams.settings import Settings
from streams.watermark import RELEASE_ALL, event_clock_horizon, merge_mark, partitions_ahead
from tests.processors._factory import T0, Factory, registry


def _replay(*reports: list) -> list:
    mark = None
    for report in reports:
        mark = merge_mark(mark, report)
    return mark


def test_a_partition_only_known_to_exist_holds_the_watermark() -> None:
    assert merge_mark(None, [None, None]) == [None, False, 0]
    # and a later "known to exist" changes nothing
    assert merge_mark([10, True, 7], [None, None]) == [10, True, 7]


def test_the_reader_reports_move_time_offset_and_caught_up() -> None:
    assert _replay([5, False, 3], [9, True, 7], [9, False, 7]) == [9, False, 7]


def test_a_new_reader_behind_its_predecessor_is_not_caught_up_until_it_passes_it() -> None:
    # w1 read to offset 15 (minute 14) with more to come; w2 takes over from the committed
    # offset 12 and, comparing with an end offset that lags (embedded broker), says caught up.
    mark = _replay([14, False, 15])
    mark = merge_mark(mark, [None, True, 12])
    assert mark == [14, False, 15]  # holds the watermark at minute 14
    mark = merge_mark(mark, [14, False, 13])  # reads 12 again: duplicates, still behind
    assert mark == [14, False, 15]
    mark = merge_mark(mark, [16, True, 17])  # passes its predecessor: its word counts
    assert mark == [16, True, 17]


def test_an_older_report_can_only_say_not_caught_up() -> None:
    assert merge_mark([12, False, 15], [11, True, 12]) == [12, False, 15]
    assert merge_mark([12, True, 15], [11, False, 12]) == [12, False, 15]


def test_a_reader_starting_ahead_of_every_report_is_taken_at_its_word() -> None:
    # A fresh region state with the group's offsets at the end (the bench's state worker,
    # a replay into a new group): nothing was reported, nothing is on its way.
    assert _replay([None, None], [None, True, 40]) == [None, True, 40]


def test_marks_and_reports_of_the_previous_layout_are_read() -> None:
    assert merge_mark([9, True], [None, None]) == [9, True, 0]
    assert merge_mark([9, False], [10, True]) == [10, True, 0]


# ----------------------------------------------------------- how far a region may release
def horizon(marks: dict, reported: dict, last_record: float, clock: float = 100.0) -> object:
    return event_clock_horizon(marks, reported, last_record, clock, lateness_ms=1_000, mark_fresh_s=2.0, still_s=2.0)


def test_the_slowest_partition_with_data_holds_the_watermark_minus_the_lateness() -> None:
    marks = {"a/0": [50_000, False, 10], "b/0": [20_000, True, 4], "c/0": [None, True, 0]}
    reported = dict.fromkeys(marks, 99.5)
    # c/0 is idle and caught up since its start: it holds nothing; b/0 holds at its latest
    assert horizon(marks, reported, last_record=99.9) == 19_000


def test_an_idle_partition_whose_reader_went_quiet_holds_everything() -> None:
    # c/0 was idle and caught up when last reported, 5 s ago: its reader died, or it is
    # between readers in a rebalance, and events published there since are unknown here
    marks = {"a/0": [50_000, False, 10], "b/0": [20_000, True, 4], "c/0": [None, True, 0]}
    assert horizon(marks, {"a/0": 99.5, "b/0": 99.5, "c/0": 95.0}, last_record=99.9) is None
    assert horizon(marks, {"a/0": 99.5, "b/0": 99.5}, last_record=99.9) is None  # never reported
    # reported again: it holds nothing
    assert horizon(marks, dict.fromkeys(marks, 99.5), last_record=99.9) == 19_000


def test_a_partition_behind_without_events_read_holds_everything() -> None:
    marks = {"a/0": [50_000, False, 10], "b/0": [None, False, 0]}
    assert horizon(marks, dict.fromkeys(marks, 99.5), last_record=99.9) is None
    assert horizon({}, {}, last_record=0.0) is None


def test_everything_is_released_only_when_the_stream_is_still_and_the_reports_fresh() -> None:
    marks = {"a/0": [50_000, True, 10], "b/0": [20_000, True, 4]}
    assert horizon(marks, dict.fromkeys(marks, 99.5), last_record=97.0) == RELEASE_ALL
    # a record came 1 s ago: the stream flows, the slowest partition holds
    assert horizon(marks, dict.fromkeys(marks, 99.5), last_record=99.0) == 19_000
    # b/0's last report is 5 s old: its reader may have died after saying "caught up"
    assert horizon(marks, {"a/0": 99.5, "b/0": 95.0}, last_record=97.0) == 19_000


def test_a_record_with_events_after_a_pause_is_not_released_whole_by_the_still_rule() -> None:
    """The shell's order (streams.regions.Regions._process): a record with events counts
    as the stream flowing before the release is judged. A batch read after a pause of
    more than `still_s` reaches a region in chunks, only the last one with the marks that
    say "not caught up"; judged with the old marks and the old time of the last record,
    the first chunk was released whole (RELEASE_ALL) and the batch's other chunks were
    applied late (found in the join/leave fault test with a faster ingest reader)."""
    regions = Regions.__new__(Regions)  # the use case alone: no app, no broker
    regions.settings = Settings()
    regions.wall_clock = False
    processor = RegionProcessor(registry(), reorder_lateness_ms=120_000)
    runtime = RegionRuntime(region="test", partition=0, processor=processor)
    clock = time.monotonic()
    runtime.marks = {"acute.admissions/0": [T0, True, 5]}  # caught up when last read
    runtime.reported = {"acute.admissions/0": clock}  # and said so just now, by a tick
    runtime.last_record = clock - 60  # the stream paused a minute ago
    factory = Factory()
    first_chunk = [factory.arrive(60 + minute, f"enc{minute}") for minute in range(3)]
    body = {"events": [[e.id, e.source, e.partner, e.type, e.time, e.data, 0.0, "acute.admissions", 0, 5 + n]
                       for n, e in enumerate(first_chunk)]}
    regions._process(runtime, body, wall=0)
    assert processor.wm is None or processor.wm < first_chunk[0].time


def test_a_reader_pauses_only_what_it_read_too_far_ahead_of_its_slowest_partition() -> None:
    minute = 60_000
    times = {"acute.capacity/0": 10 * minute, "acute.discharges/0": 200 * minute, "acute.calls/0": 19 * minute}
    assert partitions_ahead(times, 10 * minute) == {"acute.discharges/0"}
    assert partitions_ahead(times, 8 * minute) == {"acute.discharges/0", "acute.calls/0"}
    assert partitions_ahead(times, 300 * minute) == set()
    # a partition not read yet may be the slowest: nothing is paused until it is
    assert partitions_ahead({**times, "acute.admissions/0": None}, minute) == set()
    assert partitions_ahead({}, minute) == set()
