"""The capacity managers' web board (streams/board_page/, served by streams/web.py).

- Its model, the script that turns `/status` answers into what the board shows, runs in
  Node on real answers: a region and the nation replayed from simulated hours, against
  figures computed here from the same snapshots (tests/web/board_model.test.mjs).
- A real worker serves the page and its files with a policy that lets only its own
  script and style run and fetch only from the worker; `/status` lists the regions with
  the registry's names and wants the token like the other data pages; no other file is
  served, whatever the path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson

from processors.region import RegionProcessor
from processors.replay import run_replay
from simulator.core import generate
from simulator.nation import generate_nation
from streams import web
from streams.settings import ROOT
from tests.reliability import rel
from tests.support import REGISTRY, Stack, wait_until
from topics.codec import dumps, parse_time
from topics.nation import load_nation
from topics.validation import Validator

TOKEN = "board-test-token-0123456789abcdef"
START = "2026-11-16T06:00:00Z"
NODE_TEST = ROOT / "tests" / "web" / "board_model.test.mjs"


def _region_status() -> dict[str, Any]:
    """`/status/{region}` as the worker answers it, after six simulated hours."""
    (registry,) = load_nation(REGISTRY).regions.values()
    proc = RegionProcessor(registry, reorder_lateness_ms=0)
    validator = Validator(registry)
    for _topic, _key, event in generate(registry, start_ms=parse_time(START), duration_ms=6 * 3_600_000, seed=3):
        proc.offer(validator.decode(dumps(event)))
    proc.finish()
    return {"region": registry.region_id, "owner": True, "snapshots": proc.snapshots(),
            "open_alerts": proc.open_alerts(), "redis_connected": True}


def _nation_status() -> dict[str, Any]:
    """`/status/{nation}` after two simulated hours of the example nation."""
    nation = load_nation(ROOT / "deploy" / "regions" / "nl")
    lines = [dumps(ev) for _t, _k, ev in generate_nation(nation, start_ms=parse_time(START),
                                                          duration_ms=2 * 3_600_000, seed=3)]
    snapshot = None
    for record in run_replay(lines, nation, final=True):
        if record.get("type", "").endswith("metrics.snapshot.v1") and record["data"].get("scope") == "nation":
            snapshot = record["data"]
    assert snapshot is not None
    return {"nation": nation.id, "regions": list(nation.regions), "snapshot": snapshot, "redis_connected": True}


def test_the_board_model_in_node_on_real_status_answers(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "Node.js (18 or newer) is needed to test the web board's script: apt-get install nodejs"
    region = _region_status()
    nation_status = _nation_status()
    names = {**web.scopes(load_nation(REGISTRY))["names"], **web.scopes(load_nation(ROOT / "deploy" / "regions" / "nl"))["names"]}
    snaps = region["snapshots"]
    region_snap = snaps[f"region:{region['region']}"]
    sehs = [s for key, s in snaps.items() if key.startswith("location:") and s["kind"] == "seh"]
    nation_snap = nation_status["snapshot"]
    levels = [int(level) for level in nation_snap["regions_by_escalation_level"]]
    fixture = {
        "names": names,
        "region": {"status": region, "expected": {
            "name": names[region["region"]],
            "escalation_level": region_snap["escalation_level"],
            "as_of": region_snap["as_of"],
            "seh_ids": [s["id"] for s in sehs],
            "seh_names": [names.get(s["id"], s["id"]) for s in sehs],
            "hospitals": sum(1 for key in snaps if key.startswith("hospital:")),
            "advice": len(region_snap["destination_advice"]),
            "open_alerts": len(region["open_alerts"]),
        }},
        "nation": {"status": nation_status, "expected": {
            "region_ids": list(nation_snap["regions"]),
            "region_names": [names[rid] for rid in nation_snap["regions"]],
            "seh_patients": nation_snap["seh_patients"],
            "highest_level": max(levels) if levels else None,
            "advice_bed_types": list(nation_snap["spreading_advice"]),
        }},
    }
    assert len(sehs) >= 5 and region["open_alerts"], "the scenario should exercise the board"
    path = tmp_path / "fixture.json"
    path.write_bytes(orjson.dumps(fixture))
    done = subprocess.run([node, "--test", str(NODE_TEST)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "BOARD_FIXTURE": str(path)}, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    # the page's own script (its DOM half runs only in a browser) must at least parse
    script = tmp_path / "board.mjs"
    script.write_bytes((ROOT / "streams" / "board_page" / "board.js").read_bytes())
    checked = subprocess.run([node, "--check", str(script)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr[-2000:]


def _get(port: int, path: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_a_worker_serves_the_board_closed_to_everything_else(stack: Stack) -> None:
    worker, port = stack.start_worker(extra_env={"SPOEDSTROOM_WEB_TOKEN": TOKEN})
    wait_until(lambda: worker.poll() is None and rel.http(port, "/healthz", timeout=2)[0] == 200, 60,
               f"the worker's web server; log:\n{stack.log()}")

    status, headers, body = _get(port, "/board")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8", headers
    assert body == (ROOT / "streams" / "board_page" / "index.html").read_bytes()
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy and headers["X-Content-Type-Options"] == "nosniff"
    for asset, kind in (("board.js", "text/javascript"), ("board-model.mjs", "text/javascript"), ("board.css", "text/css")):
        status, headers, body = _get(port, f"/board/{asset}")
        assert status == 200 and headers["Content-Type"].startswith(kind) and body, (asset, status, headers)
        assert headers["Content-Security-Policy"] == policy
    # nothing but those files, whatever the path asks for
    for path in ("/board/..%2F..%2Fpyproject.toml", "/board/index.html%00", "/board/web.py", "/board/%2e%2e"):
        assert _get(port, path)[0] == 404, path

    # the data: the token, like /status/{region}; a refusal says how to authenticate and
    # is not cached either
    for path in ("/status", "/status/haaglanden", "/metrics"):
        status, headers, _body = _get(port, path)
        assert status == 401 and headers["WWW-Authenticate"] == 'Bearer realm="spoedstroom"', (path, headers)
        assert headers["Cache-Control"] == "no-store", (path, headers)
    status, headers, body = _get(port, "/status", token=TOKEN)
    assert status == 200 and headers["Cache-Control"] == "no-store"
    index = orjson.loads(body)
    (registry,) = load_nation(REGISTRY).regions.values()
    assert index["nation"] is None
    assert index["regions"] == [{"id": registry.region_id, "name": registry.region_name}]
    assert index["names"] == web.scopes(load_nation(REGISTRY))["names"]
    status, headers, body = _get(port, f"/status/{registry.region_id}", token=TOKEN)
    assert status == 200 and headers["Cache-Control"] == "no-store" and orjson.loads(body)["region"] == registry.region_id
    assert worker.poll() is None


def test_scopes_of_a_nation_name_the_nation_its_regions_and_their_places() -> None:
    nation = load_nation(ROOT / "deploy" / "regions" / "nl")
    answer = web.scopes(nation)
    assert answer["nation"] == {"id": nation.id, "name": nation.name}
    assert [r["id"] for r in answer["regions"]] == list(nation.regions)
    for registry in nation.regions.values():
        assert answer["names"][registry.region_id] == registry.region_name
        for hospital in registry.hospitals():
            assert answer["names"][hospital.id] == hospital.name
        for location in registry.locations.values():
            assert answer["names"].get(location.id) == location.name  # None: the board shows the id
