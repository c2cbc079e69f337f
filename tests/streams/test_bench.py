"""`spoedstroom bench` end to end on the real embedded stack, tiny: the harness works and
its JSON is complete. No timing assertions (the machine is shared; see docs/performance.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml

from simulator.nation import region_data
from streams.bench import LATEST_END, LATEST_START, counter_sums, percentile
from streams.bench.common import HandledRate
from streams.bench.registry import bench_nation, largest_region
from streams.settings import ROOT
from topics.nation import NATION_FILE

REGISTRY = str(ROOT / "deploy" / "regions" / "haaglanden.yaml")
# three small regions whose keys land in three different partitions of the repartition
# topic (of 4), as in tests/streams/test_nation.py: two workers must split them
REGIONS = (("zwolle", "zwo", 1), ("noordwest", "nwe", 2), ("limburg", "lim", 1))


def _nation_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "nation"
    directory.mkdir()
    for rid, prefix, copies in REGIONS:
        (directory / f"{rid}.yaml").write_text(yaml.safe_dump(region_data(rid, rid.title(), prefix, copies)))
    (directory / NATION_FILE).write_text(yaml.safe_dump(
        {"nation": {"id": "nl", "name": "Nederland"}, "regions": [f"{rid}.yaml" for rid, _, _ in REGIONS]}))
    return directory


def test_the_default_nation_and_its_largest_region() -> None:
    nation = bench_nation(None)
    assert nation.national and len(nation.regions) == 11
    assert len(nation.combined().sehs()) == 85
    largest = largest_region(nation)
    assert len(nation.regions[largest].sehs()) == max(len(r.sehs()) for r in nation.regions.values())


def test_percentile_is_nearest_rank() -> None:
    assert percentile([5, 1, 4, 2, 3], 50) == 3
    assert percentile([1, 2, 3, 4], 50) == 2  # lower middle of an even count
    assert percentile(list(range(1, 101)), 99) == 99
    assert percentile([7], 99) == 7
    assert percentile([], 50) is None


def test_counter_sums_reads_the_exposition() -> None:
    text = (
        "# HELP spoedstroom_events_applied_total x\n"
        'spoedstroom_events_applied_total{region="r",type="seh.arrived"} 3.0\n'
        'spoedstroom_events_applied_total{region="r",type="ward.admitted"} 4.0\n'
        'spoedstroom_events_applied_created{region="r",type="seh.arrived"} 1.7e9\n'
        'spoedstroom_events_deadlettered_total{topic="acute.calls",reason="schema"} 1.0\n'
    )
    sums = counter_sums(text)
    assert sums["spoedstroom_events_applied_total"] == 7.0
    assert sums["spoedstroom_events_deadlettered_total"] == 1.0
    assert sums["spoedstroom_events_duplicate_total"] == 0.0


def _positive(value: object, where: str) -> None:
    assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{where}: {value!r} is not a number"
    assert value > 0, f"{where}: {value!r} is not > 0"


@pytest.mark.timeout(400)
def test_the_rate_runs_from_the_first_applied_event_and_a_stall_gives_up() -> None:
    handled = HandledRate(events=1_000, spawn=0.0)
    assert handled.poll(0, 1.0) == 0.0 and handled.give_up(100.0, phase_timeout=900) is None
    handled.poll(200, 2.0)  # the first poll with events: the rate counts from here
    assert handled.poll(600, 4.0) == 200.0
    assert handled.give_up(125.0, phase_timeout=900) == "stalled"  # nothing new for 121 s
    assert handled.give_up(901.0, phase_timeout=900).startswith("hit --phase-timeout")
    assert handled.so_far(4.0) == "600 of 1,000 events handled, 200 events/s from the first applied (2 s)"
    handled.poll(1_000, 6.0)
    assert handled.done()
    assert handled.measured(t_done=6.0, t_ready=1.5) == ("first_applied_to_all", 4.0, 200.0)
    # most of a tiny log applied at the first poll: the time from ready counts instead
    tiny = HandledRate(events=100, spawn=0.0)
    tiny.poll(90, 3.0)
    tiny.poll(100, 3.5)
    assert tiny.measured(t_done=3.5, t_ready=1.0) == ("ready_to_all", 2.5, 40.0)


def test_tiny_bench_end_to_end(tmp_path: Path) -> None:
    """On a nation of three regions, with the two-worker phase."""
    out = tmp_path / "bench.json"
    doc = tmp_path / "performance.md"
    doc.write_text(f"# Performance\n\n## Latest run\n\n{LATEST_START}\nold\n{LATEST_END}\n\n## Optimisation log\n\nkept\n")
    proc = subprocess.run(
        [sys.executable, "-c", "from streams.cli import main; main()", "bench",
         "--events", "1500", "--freshness-seconds", "3", "--rates", "10,100", "--open-encounters", "300",
         "--no-sigkill", "--registry", str(_nation_dir(tmp_path)), "--out", str(out), "--doc", str(doc),
         "--state-dir", str(tmp_path / "state"), "--phase-timeout", "120"],
        cwd=str(ROOT), capture_output=True, timeout=360,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    r = orjson.loads(out.read_bytes())

    for key in ("version", "started_at", "finished_at", "duration_s", "machine", "options", "registry",
                "fill", "ceiling", "pipeline", "workers", "freshness", "memory", "recovery", "targets"):
        assert key in r, key
    assert r["registry"]["regions"] == 3 and r["registry"]["region"] == "noordwest"  # two copies: the largest
    _positive(r["machine"]["nproc"], "machine.nproc")
    _positive(r["machine"]["ram_bytes"], "machine.ram_bytes")
    assert r["machine"]["cpu_model"]
    assert r["fill"]["events"] == 1500
    for key in ("bytes", "seconds", "events_per_s"):
        _positive(r["fill"][key], f"fill.{key}")
    assert r["ceiling"]["events"] == 1500
    _positive(r["ceiling"]["events_per_s"], "ceiling.events_per_s")
    pipe = r["pipeline"]
    assert pipe["applied"] + pipe["duplicates"] + pipe["deadlettered"] >= 1500
    for key in ("applied", "seconds", "events_per_s", "ratio_to_ceiling", "peak_rss_bytes"):
        _positive(pipe[key], f"pipeline.{key}")

    wk = r["workers"]
    assert wk["workers"] == 2 and len(wk["per_worker"]) == 2
    assert wk["applied"] + wk["duplicates"] + wk["deadlettered"] >= 1500
    for key in ("events_per_s", "ratio_to_one_worker", "seconds"):
        _positive(wk[key], f"workers.{key}")
    assert wk["split"]["each_region_owned_once"], wk
    assert sorted(rid for p in wk["per_worker"] for rid in p["regions"]) == sorted(rid for rid, _, _ in REGIONS)

    assert r["freshness"]["region"] == "noordwest"
    rates = r["freshness"]["rates"]
    assert [row["rate"] for row in rates] == [10, 100]
    for row in rates:
        _positive(row["offered_events"], "freshness.offered_events")
        _positive(row["probes"], "freshness.probes")
        for sink in ("metrics", "redis"):
            assert set(row[sink]) == {"n", "p50_ms", "p95_ms", "p99_ms", "max_ms"}
            _positive(row[sink]["n"], f"freshness.{row['rate']}.{sink}.n")
            for p in ("p50_ms", "p95_ms", "p99_ms"):
                _positive(row[sink][p], f"freshness.{row['rate']}.{sink}.{p}")
            assert row[sink]["p50_ms"] <= row[sink]["p95_ms"] <= row[sink]["p99_ms"] <= row[sink]["max_ms"]

    mem = r["memory"]
    assert mem["open_encounters"] == 300
    assert sum(mem["open_encounters_by_region"].values()) == 300
    assert mem["patients_in_nation"] >= 300
    assert mem["patients_in_region_snapshot"] >= mem["open_encounters_by_region"]["noordwest"]
    for key in ("rss_bytes", "hwm_bytes", "changelog_records", "changelog_bytes", "state_entries", "state_bytes"):
        _positive(mem[key], f"memory.{key}")
    assert mem["state_entries_by_kind"].get("enc", 0) >= 300

    runs = r["recovery"]["runs"]
    assert [run["signal"] for run in runs] == ["SIGTERM"]
    for key in ("ready_seconds", "region_restored_seconds", "restored_seconds", "first_new_event_seconds"):
        _positive(runs[0][key], f"recovery.{key}")
    assert runs[0]["patients_after_restore"] >= mem["open_encounters_by_region"]["noordwest"]
    _positive(r["recovery"]["recovery_seconds"], "recovery.recovery_seconds")

    assert set(r["targets"]) == {"pipeline_ratio", "freshness_p99_ms_at_100", "rss_mb_open_encounters", "recovery_s"}
    for name, target in r["targets"].items():
        assert target["value"] is not None
        # the RSS target is judged at 100,000 open encounters only, never extrapolated
        assert target["met"] in ((None,) if name == "rss_mb_open_encounters" else (True, False)), name

    text = doc.read_text()
    assert "old" not in text.split(LATEST_START)[1].split(LATEST_END)[0]
    assert "| ratio pipeline / ceiling |" in text and "kept" in text
    assert "| ratio 2 workers / 1 worker |" in text and "noordwest" in text


def test_tiny_core_bench(tmp_path: Path) -> None:
    """`spoedstroom bench --core`: replay and the validation loop vs the decode loop, the state per open encounter,
    no broker; the doc block is written and the figures are there (never judged)."""
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\nkept\n", encoding="utf-8")
    out = tmp_path / "core.json"
    done = subprocess.run(
        [sys.executable, "-c", "from streams.cli import main; main()", "bench", "--core", "--hours", "0.5",
         "--repeat", "1", "--open-encounters", "200", "--registry", REGISTRY, "--out", str(out), "--doc", str(doc)],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    r = orjson.loads(out.read_bytes())
    assert r["events"] > 100 and r["summary"]["applied"] > 0
    for key in ("decode_loop_events_per_s", "replay_events_per_s", "ratio_replay_to_decode", "peak_rss_mb",
                "validation_loop_events_per_s", "ratio_validation_to_decode"):
        _positive(r[key], key)
    assert r["state"]["open_encounters"] == 200 and r["state"]["patients_counted"] == 200
    # the install built the compiled core: timed in the same run
    assert r["core"] == "source" and r["compiled"]["speedup"] > 0, r["compiled"]
    text = doc.read_text(encoding="utf-8")
    assert "kept" in text and "bench:core:start" in text and "events/s" in text
