"""`spoedstroom replay`: NDJSON in file order -> NDJSON out, deterministic."""

from __future__ import annotations

import orjson
import yaml
from _factory import Factory, fmt
from typer.testing import CliRunner

from streams.cli import app
from topics.envelope import partner_event

REGISTRY = {
    "region": {"id": "test", "name": "Test"},
    "partners": [{"id": "h1", "kind": "hospital"}, {"id": "rav", "kind": "ambulance"}],
    "locations": [
        {"id": "h1-seh", "partner": "h1", "kind": "seh", "staffed_beds": 10},
        {"id": "h1-int", "partner": "h1", "kind": "ward", "bed_type": "clinical", "staffed_beds": 40},
    ],
    "actions": {2: ["a2"]},
}


def test_replay_command(tmp_path):
    reg = tmp_path / "r.yaml"
    reg.write_text(yaml.safe_dump(REGISTRY))
    f = Factory()
    evs = [f.arrive(0, "A"), f.arrive(1, "B"), f.treat(3, "A"), f.status(5, "h1-seh", "stop"),
           f.ev("rav", "dispatch.assigned", 2, ride_id="R", urgency="A1", call_received_at=fmt(0))]
    lines = [orjson.dumps(partner_event(e.type, e.partner, e.id, e.time, e.data)) for e in evs]
    lines.insert(2, lines[0])  # a duplicate
    lines.append(b'{"specversion": "1.0"}')  # not a valid CloudEvent
    log = tmp_path / "in.ndjson"
    log.write_bytes(b"\n".join(lines) + b"\n")
    runner = CliRunner()
    r1 = runner.invoke(app, ["replay", str(log), "--registry", str(reg)])
    r2 = runner.invoke(app, ["replay", str(log), "--registry", str(reg)])
    assert r1.exit_code == 0, r1.output
    assert r1.stdout_bytes == r2.stdout_bytes
    out = [orjson.loads(x) for x in r1.stdout_bytes.splitlines()]
    assert [o["deadletter"]["line"] for o in out if "deadletter" in o] == [7]
    ids = [o["id"] for o in out if "id" in o]
    assert "test:seh_stop:h1-seh:" + str(evs[3].time) + ":raised" in ids
    assert all(o["source"] == "/spoedstroom/test" for o in out if "id" in o)
    fin = runner.invoke(app, ["replay", str(log), "--registry", str(reg), "--final"])
    rows = [orjson.loads(x) for x in fin.stdout_bytes.splitlines()]
    # the region's first events are held by the clock guard until two partners confirm
    # their time range: the ride, read last, confirms it, so it is buffered with the rest
    # and applied in order, not late
    assert rows[-1] == {"summary": {"applied": 5, "duplicates": 1, "late": 0,
                                    "dead_lettered": {"not_cloudevent": 1}}}
    snaps = [r for r in rows if r.get("type", "").endswith("metrics.snapshot.v1")]
    keys = [r["id"].split("@")[0] for r in snaps]
    assert keys == sorted(set(keys))  # the last snapshot per key, once
    seh = [r["data"] for r in snaps if r["id"].startswith("location:h1-seh@")][0]
    assert seh["patients"] == 2 and seh["status"] == "stop"


def test_hostile_input_files_and_options_end_in_one_line(tmp_path):
    """A directory, a lateness of NaN, a line of megabytes: a reason and exit code 2, or
    the line dead-lettered, never a traceback or an unbounded read (found by a probe)."""
    reg = tmp_path / "r.yaml"
    reg.write_text(yaml.safe_dump(REGISTRY))
    runner = CliRunner()
    for command in ("replay", "backtest", "validate"):
        res = runner.invoke(app, [command, str(tmp_path), "--registry", str(reg)])
        assert res.exit_code == 2 and "directory" in res.output and "Traceback" not in res.output, res.output
    log = tmp_path / "in.ndjson"
    arrival = Factory().arrive(0, "A")
    good = orjson.dumps(partner_event(arrival.type, arrival.partner, arrival.id, arrival.time, arrival.data))
    log.write_bytes(b"x" * 3_000_000 + b"\n" + good + b"\n")
    for command in ("replay", "backtest"):
        res = runner.invoke(app, [command, str(log), "--registry", str(reg), "--lateness-seconds", "nan"])
        assert res.exit_code == 2 and "--lateness-seconds" in res.output, res.output
    res = runner.invoke(app, ["replay", str(log), "--registry", str(reg), "--final"])
    summary = orjson.loads(res.stdout_bytes.splitlines()[-1])["summary"]
    assert summary["applied"] == 1 and summary["dead_lettered"] == {"too_large": 1}, summary


def test_backtest_counts_the_lines_it_refuses(tmp_path):
    from processors.backtest import run_backtest
    from topics.registry import parse_registry

    f = Factory()
    evs = [f.arrive(0, "A"), f.arrive(1, "B")]
    lines = [orjson.dumps(partner_event(e.type, e.partner, e.id, e.time, e.data)) for e in evs]
    result = run_backtest([*lines, b"{not json", b'{"specversion": "1.0"}'], parse_registry(REGISTRY))
    assert result.refused == {"invalid_json": 1, "not_cloudevent": 1}
