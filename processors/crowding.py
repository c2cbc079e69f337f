"""SEH crowding: the NEDOCS score (Weiss et al. 2004) and its level, exactly as metrics.md.

A pure function of the SEH's current counts; the score is undefined (None, with a
reason) when the SEH has no staffed treatment spaces known or its hospital no staffed
ward beds, never a division error.
"""

from __future__ import annotations

from typing import NamedTuple


class Nedocs(NamedTuple):
    score: float | None
    level: int | None
    null_reason: str | None


class SehFigures(NamedTuple):
    """An SEH's live figures (exact, unrounded) and the NEDOCS they give: what its rules,
    its snapshot and its forecast read (RegionProcessor.seh_core)."""

    patients: int
    waiting: int  # treatment not started
    boarders: int  # waiting for a ward bed
    critical: int  # urgency U0/U1
    staffed_beds: int  # treatment spaces
    longest_boarding_hours: float
    last_bed_wait_hours: float  # the wait of the latest treatment start within 24 h
    nedocs: Nedocs


NO_SEH_BEDS = "seh_staffed_beds_unknown_or_zero"
NO_WARD_BEDS = "hospital_ward_staffed_beds_zero"


def nedocs(
    *,
    patients: float,  # a count, or a forecast's expected count
    seh_staffed_beds: int | None,
    boarders: int,
    hospital_ward_staffed_beds: int | None,
    critical: int,
    longest_boarding_hours: float,
    last_bed_wait_hours: float,
) -> Nedocs:
    """NEDOCS clamped to [0, 200] with its level 1..6."""
    if not seh_staffed_beds:
        return Nedocs(None, None, NO_SEH_BEDS)
    if not hospital_ward_staffed_beds:
        return Nedocs(None, None, NO_WARD_BEDS)
    score = (
        -20.0
        + 85.8 * patients / seh_staffed_beds
        + 600.0 * boarders / hospital_ward_staffed_beds
        + 13.4 * critical
        + 0.93 * longest_boarding_hours
        + 5.64 * last_bed_wait_hours
    )
    score = min(200.0, max(0.0, score))
    return Nedocs(score, nedocs_level(score), None)


def nedocs_level(score: float) -> int:
    """1 <= 20 not busy, 2 <= 60 busy, 3 <= 100 extremely busy, 4 <= 140 overcrowded,
    5 <= 180 severely overcrowded, 6 above: dangerously overcrowded."""
    for level, upper in ((1, 20), (2, 60), (3, 100), (4, 140), (5, 180)):
        if score <= upper:
            return level
    return 6
