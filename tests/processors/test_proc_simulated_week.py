"""A week of simulator output replays without error, with sane figures."""

from __future__ import annotations

from pathlib import Path

import orjson

from processors.replay import run_replay
from topics.registry import load_registry

import simulator.core as simulator_core  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z


def _numbers(obj, path=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _numbers(v, f"{path}.{k}")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield path, obj


def test_a_week_replays_cleanly():
    reg = load_registry(ROOT / "deploy" / "regions" / "haaglanden.yaml")
    lines = [
        orjson.dumps(ev)
        for _, _, ev in simulator_core.generate(reg, start_ms=T0, duration_ms=7 * 86_400_000, seed=7)
    ]
    raised: dict[str, int] = {}
    resolved: dict[str, int] = {}
    last: dict[str, dict] = {}
    dead = 0
    for rec in run_replay(lines, reg):
        if "deadletter" in rec:
            dead += 1
            continue
        t = rec["type"]
        d = rec["data"]
        if t.endswith("alert.raised.v1"):
            raised[d["alert_id"]] = raised.get(d["alert_id"], 0) + 1
        elif t.endswith("alert.resolved.v1"):
            resolved[d["alert_id"]] = resolved.get(d["alert_id"], 0) + 1
        else:
            last[rec["id"].rsplit("@", 1)[0]] = d
    assert dead == 0
    assert all(n == 1 for n in raised.values())
    assert all(n == 1 for n in resolved.values())
    assert set(resolved) <= set(raised)  # nothing resolved that was not raised
    assert last, "snapshots were emitted"
    for key, snap in last.items():
        for path, v in _numbers(snap):
            name = path.rsplit(".", 1)[-1]
            if "share" in path or name == "occupancy" or "occupancy" in path:
                if "occupancy" in path:
                    assert v >= 0, (key, path, v)
                else:
                    assert 0 <= v <= 1, (key, path, v)
            elif "free_beds" in path:
                continue  # may be negative: over capacity
            else:
                assert v >= 0, (key, path, v)
        if snap.get("nedocs") is not None:
            assert 0 <= snap["nedocs"] <= 200 and 1 <= snap["nedocs_level"] <= 6


def test_emitted_events_match_the_contract_schemas():
    """Every snapshot and alert of a simulated day validates against topics/schemas."""
    from topics.validation import compiled_schema

    reg = load_registry(ROOT / "deploy" / "regions" / "haaglanden.yaml")
    lines = [
        orjson.dumps(ev)
        for _, _, ev in simulator_core.generate(reg, start_ms=T0, duration_ms=86_400_000, seed=11)
    ]
    envelope = compiled_schema("cloudevent")
    schemas = {name: compiled_schema(name) for name in ("metrics.snapshot", "alert.raised", "alert.resolved")}
    seen: set[str] = set()
    for rec in run_replay(lines, reg):
        assert "deadletter" not in rec
        envelope(rec)
        name = rec["type"][len("nl.acutezorg."):-len(".v1")]
        schemas[name](rec["data"])
        seen.add(name)
    assert "metrics.snapshot" in seen
