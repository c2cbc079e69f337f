"""Deadlines: when a subject (a partner, an SEH) must be looked at again.

The rules of a subject only need stepping when its inputs changed or when the passing of
time alone may change their outcome (a condition that turns true at a known time, a
"for N min" timer that matures). `Deadlines` remembers that time per subject and hands
back the subjects whose time has come, so an evaluation touches a few subjects instead
of all of them.

Each subject has at most one live deadline. Setting a new one pushes it on a heap and
leaves the old heap entry behind; entries that no longer match the subject's live
deadline are skipped when they surface, which keeps `set` and `pop_due` O(log n)
without searching the heap.
"""

from __future__ import annotations

import builtins
import heapq


class Deadlines:
    """The next time each subject must be stepped, with a heap to find the due ones."""

    __slots__ = ("_at", "_heap")

    def __init__(self) -> None:
        self._at: dict[str, int] = {}  # subject -> its live deadline
        self._heap: list[tuple[int, str]] = []  # (deadline, subject), stale entries included

    def set(self, key: str, deadline: int | None) -> None:
        """Step `key` again at `deadline` (None: only when its inputs change)."""
        if deadline is None:
            self._at.pop(key, None)
        elif self._at.get(key) != deadline:
            self._at[key] = deadline
            heapq.heappush(self._heap, (deadline, key))

    def at_most(self, key: str, deadline: int | None) -> None:
        """Step `key` again by `deadline` at the latest: its live deadline if earlier."""
        if deadline is not None:
            live = self._at.get(key)
            if live is None or deadline < live:
                self.set(key, deadline)

    def pop_due(self, now: int, into: builtins.set[str]) -> None:
        """Add to `into` the subjects whose live deadline is at or before `now`, and
        forget those deadlines."""
        heap, at = self._heap, self._at
        while heap and heap[0][0] <= now:
            deadline, key = heapq.heappop(heap)
            if at.get(key) == deadline:
                del at[key]
                into.add(key)
