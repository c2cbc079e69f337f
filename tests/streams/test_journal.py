"""The state journal (streams/app.py `Pipeline._persist` / `_journal_changes`): a restore
applies the last record's change set only when its header and all its parts are there."""

from __future__ import annotations

from streams.app import Pipeline


def _part(seq: int, changes: dict) -> dict:
    return {"seq": seq, "changes": changes}


def test_a_complete_journal_is_applied_in_part_order() -> None:
    header = {"seq": 7, "parts": 2}
    parts = {0: _part(7, {"enc:a": {"n": 1}, "buf:x": None}), 1: _part(7, {"enc:b": {"n": 2}, "enc:a": {"n": 3}})}
    assert Pipeline._journal_changes(header, parts) == {"enc:a": {"n": 3}, "buf:x": None, "enc:b": {"n": 2}}


def test_a_newer_journal_cut_short_leaves_the_older_one_unapplied() -> None:
    # Record 8 wrote part 0 and was killed before its header: header 7's part 0 is
    # overwritten by 8's, so 7 cannot be applied (and need not: its entries were complete).
    header = {"seq": 7, "parts": 2}
    parts = {0: _part(8, {"enc:a": {"n": 9}}), 1: _part(7, {"enc:b": {"n": 2}})}
    assert Pipeline._journal_changes(header, parts) == {}


def test_a_missing_part_or_no_journal_applies_nothing() -> None:
    assert Pipeline._journal_changes({"seq": 3, "parts": 2}, {0: _part(3, {"enc:a": 1})}) == {}
    assert Pipeline._journal_changes({}, {}) == {}


def test_parts_left_over_from_a_longer_older_journal_are_ignored() -> None:
    header = {"seq": 9, "parts": 1}
    parts = {0: _part(9, {"enc:a": 1}), 1: _part(5, {"enc:z": 1}), 2: _part(5, {"enc:y": 1})}
    assert Pipeline._journal_changes(header, parts) == {"enc:a": 1}
