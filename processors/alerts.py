"""Alert episodes: "raised when ... for N min", "resolved when ... for M min".

An episode rule is a small state machine over a plain dict (one state entry per rule
and subject, `rule:{kind}:{subject}`), stepped at every evaluation (whenever the clock
moves). metrics.md: a rule "for N min" holds from the first evaluation at which the
condition was true and fires at the first evaluation at least N min later at which it is
still true; one false evaluation in between restarts it. The same holds for the clear
condition while an episode is open. One raise and one resolve per episode, never a
repeat. The alert id is stable for the episode: `{region}:{kind}:{subject}:{started_ms}`.
"""

from __future__ import annotations

from typing import Any

RAISE = "raise"
RESOLVE = "resolve"


def alert_id(region: str, kind: str, subject: str, started_ms: int) -> str:
    return f"{region}:{kind}:{subject}:{started_ms}"


def step(
    state: dict[str, Any] | None,
    now: int,
    raise_cond: bool,
    clear_cond: bool,
    raise_for_ms: int = 0,
    clear_for_ms: int = 0,
    held_since: int | None = None,
) -> tuple[dict[str, Any] | None, str | None]:
    """Advance one rule; returns (new state or None when idle, RAISE/RESOLVE/None).

    State: `p` (raise condition pending since), `a` (open episode: started_at ms),
    `c` (clear condition pending since). `held_since` overrides when the raise condition
    first held, for conditions that become true by the passing of time (a handover
    turning 30 minutes old) rather than at an evaluation.
    """
    st: dict[str, Any] = dict(state) if state else {"p": None, "a": None, "c": None}
    action = None
    if st["a"] is None:
        if raise_cond:
            if st["p"] is None:
                st["p"] = now if held_since is None else min(held_since, now)
            if now - st["p"] >= raise_for_ms:
                st["a"], st["p"], st["c"] = st["p"], None, None
                action = RAISE
        else:
            st["p"] = None
    elif clear_cond and now > st["a"]:
        # Never resolved at the instant it started: a later look at that same instant
        # (a late event) could raise it again, and two episodes would share one id.
        if st["c"] is None:
            st["c"] = now
        if now - st["c"] >= clear_for_ms:
            st = {"p": None, "a": None, "c": None}
            action = RESOLVE
    elif not clear_cond:
        st["c"] = None
    if st["a"] is None and st["p"] is None:
        return None, action
    return st, action
