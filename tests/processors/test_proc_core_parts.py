"""The domain core's parts against their plain definitions (no timing here).

The region keeps several figures incrementally for speed; each must equal what its plain
definition computes from the same state: the destination advice (ranked as SEHs change,
`snapshot.destination_advice` sorts them all), and the memberships index (rebuilt from
the entities it must be identical).
"""

from __future__ import annotations

from pathlib import Path

import orjson

import simulator.core as simulator_core
from processors.region import RegionProcessor
from processors.snapshot import destination_advice
from topics.registry import load_registry
from topics.validation import Validator

ROOT = Path(__file__).resolve().parents[2]
HOUR = 3_600_000
T0 = 1_767_225_600_000 + 6 * HOUR  # 2026-01-01T06:00Z


def _run(hours: int) -> RegionProcessor:
    reg = load_registry(ROOT / "deploy" / "regions" / "haaglanden.yaml")
    validator = Validator(reg)
    p = RegionProcessor(reg)
    for i, (_topic, _key, ev) in enumerate(simulator_core.generate(reg, start_ms=T0, duration_ms=hours * HOUR,
                                                                    seed=5)):
        event = validator.decode(orjson.dumps(ev))
        p.offer(event)
        if i % 50 == 49:
            p.release(event.time - 120_000)
            rs = p.emission.sums
            region = p.snaps.get(p.region_key)
            if region is not None:
                assert region["destination_advice"] == destination_advice(rs.advice)
    p.release_all()
    return p


def test_incremental_figures_equal_their_definitions() -> None:
    p = _run(3)
    rs = p.emission.sums
    assert p.snaps[p.region_key]["destination_advice"] == destination_advice(rs.advice)
    assert len(rs.ranked) > 1
    # the memberships index is derived: a restored region rebuilds the same one
    q = RegionProcessor.restore(p.registry, orjson.loads(orjson.dumps(p.dump())))
    for name in ("boarding", "treatments", "last_treatment", "en_route", "handovers", "occupants", "ready",
                 "ready_starts"):
        mine = {k: v for k, v in getattr(p.index, name).items() if v}
        theirs = {k: v for k, v in getattr(q.index, name).items() if v}
        assert mine == theirs, name
    counts = {k: vars_of(v) for k, v in p.index.seh_counts.items()}
    assert counts == {k: vars_of(v) for k, v in q.index.seh_counts.items()}
    assert p.index.contributions == q.index.contributions


def vars_of(c: object) -> tuple[int, ...]:
    return tuple(getattr(c, f) for f in ("patients", "waiting", "boarders", "critical"))


def test_a_restore_that_owns_its_entries_equals_one_that_copies_them() -> None:
    """The worker hands a restore entries decoded for it alone (`owned`: no copy)."""
    p = _run(2)
    state = orjson.loads(orjson.dumps(p.dump()))
    copied = RegionProcessor.restore(p.registry, state)
    owned = RegionProcessor.restore(p.registry, orjson.loads(orjson.dumps(p.dump())), owned=True)
    assert owned.snapshots() == copied.snapshots() == p.snapshots()
    assert orjson.dumps(owned.dump(), option=orjson.OPT_SORT_KEYS) == orjson.dumps(copied.dump(), option=orjson.OPT_SORT_KEYS)
    assert state == orjson.loads(orjson.dumps(p.dump())), "a restore that copies leaves its input alone"
