"""Narrowing F3 (docs/reliability.md): the region state survives a restore at any point.

The pipeline persists `RegionProcessor.take_changes()` into the changelogged table and a
restarted worker calls `RegionProcessor.restore(...)` on what the table holds. Here, with
no Kafka at all, the same scenario as the SIGKILL test runs through a processor whose
changes are accumulated exactly as the table would hold them; at a cut point the
processor is replaced by one restored from them, and the rest follows. Final snapshots
(and alerts) must equal the uninterrupted run: if they do, lost events after a SIGKILL
come from the runtime (what reaches the changelog and which offsets are committed), not
from the processors' state format.
"""

from __future__ import annotations

from typing import Any

import pytest

from processors.region import RegionProcessor
from tests.reliability import rel
from tests.reliability.test_process_faults import _slices
from topics.codec import dumps
from topics.validation import Validator


def _run(events: list[Any], cut: int | None) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    registry = rel.registry()
    proc = RegionProcessor(registry, reorder_lateness_ms=120_000)
    table: dict[str, Any] = {}
    alerts: list[tuple[str, str]] = []
    latest = None
    for i, ev in enumerate(events):
        if i == cut:
            proc = RegionProcessor.restore(registry, dict(table), reorder_lateness_ms=120_000)
        status, outs = proc.offer(ev)
        if status != "duplicate":
            latest = ev.time if latest is None or ev.time > latest else latest
            outs = outs + proc.release(latest - 120_000)
        alerts += [(o.kind, o.key) for o in outs if o.kind.startswith("alert.")]
        for key, value in proc.take_changes().items():
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
    alerts += [(o.kind, o.key) for o in proc.release_all() if o.kind.startswith("alert.")]
    return proc.snapshots(), alerts


@pytest.fixture(scope="module")
def events() -> list[Any]:
    items, _ref, _slices3 = _slices(hours=6, seed=31)
    validator = Validator(rel.registry())
    return [validator.decode(dumps(ev)) for _t, _k, ev in items]


@pytest.fixture(scope="module")
def uninterrupted(events: list[Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    return _run(events, None)


@pytest.mark.parametrize("fraction", [0.1, 0.35, 0.4, 0.5, 0.75, 0.95])
def test_restore_from_the_accumulated_changes_at_any_point(events: list[Any], uninterrupted: Any, fraction: float) -> None:
    snapshots, alerts = _run(events, int(len(events) * fraction))
    base_snapshots, base_alerts = uninterrupted
    assert snapshots == base_snapshots
    assert alerts == base_alerts
