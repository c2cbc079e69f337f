"""The region's view of how far each input partition has been read (streams.app.merge_mark).

Times are minutes, offsets small integers. The scenario of finding F4: a second worker
takes over an input partition while the first one's last forwarded records are still on
their way; its first report, from the committed offset, must not let the watermark jump.
"""

from __future__ import annotations

from streams.app import merge_mark


def _replay(*reports: list) -> list:
    mark = None
    for report in reports:
        mark = merge_mark(mark, report)
    return mark


def test_a_partition_only_known_to_exist_holds_the_watermark() -> None:
    assert merge_mark(None, [None, None]) == [None, False, 0]
    # and a later "known to exist" changes nothing
    assert merge_mark([10, True, 7], [None, None]) == [10, True, 7]


def test_the_reader_own_reports_move_time_offset_and_caught_up() -> None:
    assert _replay([5, False, 3, True], [9, True, 7, True]) == [9, True, 7]


def test_a_new_reader_claim_ahead_of_the_arrived_records_is_not_caught_up() -> None:
    # w1 read to offset 7 (minute 9) and its report arrived; it then read 7..11 (minute 12)
    # and committed 12, but that record is still in flight when w2 takes over.
    mark = _replay([9, True, 7, True])
    mark = merge_mark(mark, [None, True, 12, False])  # w2: committed 12 = end, read nothing yet
    assert mark == [9, False, 7]  # holds the watermark at minute 9: w1's events are not late
    mark = merge_mark(mark, [12, True, 12, True])  # w1's last record arrives
    assert mark == [12, True, 12]
    assert merge_mark(mark, [None, True, 12, False]) == [12, True, 12]  # w2's claim now holds


def test_an_older_report_can_only_say_not_caught_up() -> None:
    mark = [12, False, 15]  # the current reader is at 15 with more to read
    assert merge_mark(mark, [11, True, 12, True]) == [12, False, 15]  # stale "caught up": ignored
    assert merge_mark([12, True, 15], [11, False, 12, True]) == [12, False, 15]


def test_a_new_reader_starting_below_what_arrived_rereads_and_then_leads() -> None:
    # After a kill w1's uncommitted tail (offsets 12..14) is read again by w2 from 12.
    mark = [14, True, 15]
    mark = merge_mark(mark, [14, False, 13, True])
    assert mark == [14, False, 15]
    mark = merge_mark(mark, [16, True, 17, True])
    assert mark == [16, True, 17]


def test_marks_and_reports_of_the_previous_layout_are_read() -> None:
    assert merge_mark([9, True], [None, None]) == [9, True, 0]
    assert merge_mark([9, False], [10, True]) == [10, True, 0]
