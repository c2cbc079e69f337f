"""processors.scheduler.Deadlines: the subjects an evaluation must step because time passed."""

from __future__ import annotations

from processors.scheduler import Deadlines


def _due(deadlines: Deadlines, now: int) -> set[str]:
    due: set[str] = set()
    deadlines.pop_due(now, due)
    return due


def test_a_subject_is_due_once_at_its_live_deadline() -> None:
    deadlines = Deadlines()
    deadlines.set("seh-a", 100)
    deadlines.set("seh-a", 300)  # replaces 100: the old heap entry is skipped
    deadlines.set("seh-b", 200)
    assert _due(deadlines, 150) == set()
    assert _due(deadlines, 250) == {"seh-b"}
    assert _due(deadlines, 300) == {"seh-a"}
    assert _due(deadlines, 10_000) == set()


def test_at_most_keeps_the_earlier_deadline() -> None:
    """A forecast step may start a "for N min" timer on an SEH whose other rules wait
    for a later deadline: the SEH is looked at again when the timer matures."""
    deadlines = Deadlines()
    deadlines.set("seh-a", 500)
    deadlines.at_most("seh-a", 800)  # later: the live deadline stays
    deadlines.at_most("seh-a", None)  # nothing pending: no change
    assert _due(deadlines, 500) == {"seh-a"}
    deadlines.set("seh-a", 900)
    deadlines.at_most("seh-a", 600)  # earlier: it becomes the deadline
    assert _due(deadlines, 600) == {"seh-a"}
    assert _due(deadlines, 900) == set()
    deadlines.at_most("seh-b", 50)  # no deadline yet: set
    assert _due(deadlines, 50) == {"seh-b"}
