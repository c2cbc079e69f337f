"""Every snapshot a replay publishes, of every scope, the nation's included, is valid
against topics/schemas/metrics.snapshot.json, and every field it carries is described
there: the schema is what partners' consumers read."""

from __future__ import annotations

import json

import jsonschema

from processors.replay import run_replay
from simulator.core import generate
from simulator.nation import generate_nation
from streams.settings import ROOT
from tests.support import REGISTRY
from topics.codec import dumps, parse_time
from topics.nation import load_nation

START = "2026-11-16T06:00:00Z"


def _snapshots(registry_path: str, hours: float) -> list[dict]:
    nation = load_nation(registry_path)
    start, duration = parse_time(START), int(hours * 3_600_000)
    if nation.national:
        events = generate_nation(nation, start_ms=start, duration_ms=duration, seed=5)
    else:
        (registry,) = nation.regions.values()
        events = generate(registry, start_ms=start, duration_ms=duration, seed=5)
    lines = [dumps(ev) for _t, _k, ev in events]
    return [r["data"] for r in run_replay(lines, nation, thin_snapshots=False)
            if r.get("type", "").endswith("metrics.snapshot.v1")]


def test_every_published_snapshot_is_valid_and_every_field_described() -> None:
    schema = json.loads((ROOT / "topics" / "schemas" / "metrics.snapshot.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    snapshots = _snapshots(REGISTRY, 6) + _snapshots(str(ROOT / "deploy" / "regions" / "nl"), 1)
    scopes = {s["scope"] for s in snapshots}
    assert scopes == {"location", "hospital", "region", "nation"}, scopes
    undescribed: set[str] = set()
    for snap in snapshots:
        errors = list(validator.iter_errors(snap))
        assert not errors, (snap["scope"], snap["id"], errors[0].message)
        undescribed |= set(snap) - set(schema["properties"])
    assert not undescribed, f"fields missing from metrics.snapshot.json: {sorted(undescribed)}"
