"""Regional escalation (opschaling): the level conditions of metrics.md with hysteresis.

`conditions()` is a pure function of the region's current metrics returning, per level
2..4, the reasons that hold (empty: the level's own condition is false). "At least L"
holds when L or any higher level has reasons. Activation/deactivation timing is done by
the episode rule of `alerts.py` (escalate_after / deescalate_after minutes of stream
time); because "at least L+1" implies "at least L", levels nest by construction.
"""

from __future__ import annotations

from typing import Mapping

from topics.registry import Thresholds

LEVELS = (2, 3, 4)


def _pct(x: float) -> str:
    return f"{x:.2f}"


def conditions(
    th: Thresholds,
    seh_levels: Mapping[str, int | None],
    occupancy: Mapping[str, float | None],
    wrong_bed_share: float | None,
) -> dict[int, list[str]]:
    """Reasons per level (2, 3, 4) for the region's current metrics.

    `seh_levels`: NEDOCS level per SEH of the region (None when undefined);
    `occupancy`: regional occupancy per bed type (`clinical`, `ic`, `mc`; None if no beds).
    """
    n_sehs = len(seh_levels)
    at4 = sorted(s for s, lv in seh_levels.items() if lv is not None and lv >= th.level2_seh_nedocs_level)
    at5 = sorted(s for s, lv in seh_levels.items() if lv is not None and lv >= th.level4_seh_nedocs_level)
    clin = occupancy.get("clinical")
    ic = occupancy.get("ic")
    out: dict[int, list[str]] = {2: [], 3: [], 4: []}
    # Level 2: pressure.
    for s in at4:
        out[2].append(f"SEH {s} at NEDOCS level {seh_levels[s]} (>= {th.level2_seh_nedocs_level})")
    if clin is not None and clin >= th.level2_clinical_occupancy:
        out[2].append(f"clinical occupancy {_pct(clin)} >= {th.level2_clinical_occupancy}")
    if wrong_bed_share is not None and wrong_bed_share >= th.level2_wrong_bed_share:
        out[2].append(f"wrong-bed share {_pct(wrong_bed_share)} >= {th.level2_wrong_bed_share}")
    # Level 3: severe.
    if at4 and (len(at4) >= 2 or 2 * len(at4) >= n_sehs):
        out[3].append(
            f"{len(at4)} of {n_sehs} SEHs at NEDOCS level >= {th.level2_seh_nedocs_level}: {', '.join(at4)}"
        )
    if clin is not None and clin >= th.level3_clinical_occupancy:
        out[3].append(f"clinical occupancy {_pct(clin)} >= {th.level3_clinical_occupancy}")
    if ic is not None and ic >= th.level3_ic_occupancy:
        out[3].append(f"IC occupancy {_pct(ic)} >= {th.level3_ic_occupancy}")
    # Level 4: critical, regional scale-up.
    if at5 and 2 * len(at5) >= n_sehs:
        out[4].append(
            f"{len(at5)} of {n_sehs} SEHs at NEDOCS level >= {th.level4_seh_nedocs_level}: {', '.join(at5)}"
        )
    if clin is not None and clin >= th.level4_clinical_occupancy:
        out[4].append(f"clinical occupancy {_pct(clin)} >= {th.level4_clinical_occupancy}")
    if (
        clin is not None
        and ic is not None
        and clin >= th.level4_both_occupancy
        and ic >= th.level4_both_occupancy
    ):
        out[4].append(
            f"clinical {_pct(clin)} and IC {_pct(ic)} occupancy both >= {th.level4_both_occupancy}"
        )
    return out


def at_least(reasons: Mapping[int, list[str]], level: int) -> list[str]:
    """Reasons for "at least `level`": those of `level` and of every higher level."""
    out: list[str] = []
    for lv in LEVELS:
        if lv >= level:
            out.extend(reasons.get(lv, []))
    return out
