"""A nation on the real broker: regions spread over two workers, the nation's snapshot,
and a worker killed mid-run (events.md, "Many regions, one deployment")."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import yaml
from kafka import KafkaProducer

from processors.replay import run_replay
from simulator.nation import generate_nation, region_data
from tests.streams.kafka_io import last_per_key, read_topic, topic_names
from tests.support import Stack, wait_until
from topics.catalogue import DEFAULT_APP_ID, REGION_EVENTS, STATE_TABLE, changelog
from topics.codec import dumps, parse_time
from topics.nation import NATION_FILE, load_nation

# three small regions whose keys land in three different partitions of the repartition
# topic (of 4): two workers must split them
REGIONS = (("zwolle", "zwo"), ("noordwest", "nwe"), ("limburg", "lim"))
# A placement other than the hash of each id (1, 2, 3), still three partitions
PLACEMENT = {"zwolle": 0, "noordwest": 3, "limburg": 2}
START = "2026-11-17T08:00:00Z"
CHANGELOG = changelog(DEFAULT_APP_ID, STATE_TABLE)


def _nation_dir(tmp_path: Path, placement: dict[str, int] | None = None) -> Path:
    directory = tmp_path / "nation"
    directory.mkdir()
    for rid, prefix in REGIONS:
        (directory / f"{rid}.yaml").write_text(yaml.safe_dump(region_data(rid, rid.title(), prefix, 1)))
    index: dict[str, Any] = {"nation": {"id": "nl", "name": "Nederland"}, "regions": [f"{rid}.yaml" for rid, _ in REGIONS]}
    if placement:
        index["placement"] = placement
    (directory / NATION_FILE).write_text(yaml.safe_dump(index))
    return directory


def _feed(tmp_path: Path, hours: float, seed: int,
          placement: dict[str, int] | None = None) -> tuple[Path, list[bytes], dict[str, dict[str, Any]]]:
    directory = _nation_dir(tmp_path, placement)
    nation = load_nation(directory)
    items = generate_nation(nation, start_ms=parse_time(START), duration_ms=int(hours * 3_600_000), seed=seed)
    lines = [dumps(ev) for _topic, _key, ev in items]
    expected = {f"{r['data']['scope']}:{r['data']['id']}": r["data"]
                for r in run_replay(lines, nation, final=True, lateness_ms=120_000)
                if r.get("type") == "nl.acutezorg.metrics.snapshot.v1"}
    return directory, lines, expected


def _publish(stack: Stack, path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"\n".join(lines) + b"\n")
    subprocess.run([sys.executable, "-c", "from streams.cli import main; main()", "publish", str(path)],
                   env=stack.env, check=True, capture_output=True, timeout=120)


def _wait_for(stack: Stack, expected: dict[str, dict[str, Any]], names: list[str]) -> dict[str, Any]:
    def differing() -> list[str]:
        got = last_per_key(read_topic(stack.bootstrap, "acute.metrics"))
        return [k for k, v in expected.items() if got.get(k, {}).get("data") != v]

    try:
        wait_until(lambda: not differing(), 180, "the workers to reach the replay's snapshots", interval=1.0)
    except AssertionError:
        got = last_per_key(read_topic(stack.bootstrap, "acute.metrics"))
        keys = differing()
        detail = {k: {f: (got.get(k, {}).get("data", {}).get(f), v) for f, v in expected[k].items()
                      if got.get(k, {}).get("data", {}).get(f) != v} for k in keys[:5]}
        logs = "\n".join(stack.log(name)[-1500:] for name in names)
        raise AssertionError(f"{len(keys)} keys differ from the replay: {detail}\nlogs:\n{logs}") from None
    return last_per_key(read_topic(stack.bootstrap, "acute.metrics"))


def _owners(stack: Stack, port: int) -> set[str]:
    from tests.streams.test_pipeline import _get

    return {rid for rid, _ in REGIONS if orjson.loads(_get(port, f"/status/{rid}"))["owner"]}


def test_two_workers_split_the_nation_and_end_equal_to_the_replay(stack: Stack, tmp_path: Path) -> None:
    """With the national file's placement: each region's records and state on its partition."""
    directory, lines, expected = _feed(tmp_path, hours=1.5, seed=5, placement=PLACEMENT)
    assert "nation:nl" in expected and len(expected) > 3 * 10
    _w1, port1 = stack.start_worker("w1", registry=str(directory))
    _w2, port2 = stack.start_worker("w2", registry=str(directory))
    _publish(stack, tmp_path / "feed.ndjson", lines)
    got = _wait_for(stack, expected, ["w1", "w2"])
    assert got["nation:nl"]["source"] == "/spoedstroom/nl"
    assert got["region:limburg"]["source"] == "/spoedstroom/limburg"
    # each region lives on exactly one worker, and both workers hold some
    first, second = _owners(stack, port1), _owners(stack, port2)
    assert first.isdisjoint(second) and first | second == {rid for rid, _ in REGIONS}
    assert first and second, (first, second)
    alerts = [orjson.loads(r.value)["id"] for r in read_topic(stack.bootstrap, "acute.alerts")]
    assert len(alerts) == len(set(alerts)), "an alert event was published twice"
    stack.assert_no_offset_gaps()
    repartitioned = {(r.key.decode(), r.partition) for r in read_topic(stack.bootstrap, REGION_EVENTS)}
    assert repartitioned == set(PLACEMENT.items())
    stored = {(r.key.decode().partition("|")[0], r.partition) for r in read_topic(stack.bootstrap, CHANGELOG)}
    assert stored == set(PLACEMENT.items())
    _nation_expressions_have_data([port1, port2])


def _nation_expressions_have_data(ports: list[int]) -> None:
    """Debian's Prometheus scrapes both workers: every shipped rule and dashboard
    expression on the nation's gauges returns data (the single region's scenario of
    tests/streams/test_pipeline.py checks the others)."""
    from tests.deploy.promql import NATION_METRIC, RULE_FILES, all_expressions, has_data, run_prometheus, wait_for_target

    national = [(origin, expr) for origin, expr in all_expressions(concrete=True) if NATION_METRIC in expr]
    assert len(national) >= 10, national
    with run_prometheus([f"127.0.0.1:{port}" for port in ports], rule_files=RULE_FILES) as url:
        wait_for_target(url)
        wait_until(lambda: has_data(url, "spoedstroom_nation_seh_patients"), 30, "the nation's gauges scraped")
        empty = [(origin, expr) for origin, expr in national if not has_data(url, expr)]
    assert not empty, f"{len(empty)} nation expressions return no data: {empty}"


# Figures that move with the clock alone, and the time of the last change: after a worker
# dies mid-run on the event clock, events of the instant the stream paused at can reach
# their region behind its watermark (docs/reliability.md, "Regions spread over workers"),
# so these may be taken at a later instant; everything counted from the events is exact.
CLOCK_FIELDS = frozenset({"as_of", "longest_boarding_hours", "last_bed_wait_hours", "nedocs", "nedocs_level",
                          "longest_handover_minutes", "wrong_bed_days_open", "wrong_bed_days_24h",
                          "long_stay_patients", "expected_departures_60m", "predicted_patients_60m",
                          "predicted_nedocs_60m", "predicted_nedocs_level_60m", "expected_arrivals_60m",
                          "destination_advice", "sehs_by_nedocs_level", "regions"})


def _counted(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in snapshot.items() if k not in CLOCK_FIELDS}


def _differing(stack: Stack, expected: dict[str, dict[str, Any]]) -> list[str]:
    """The keys whose last snapshot on acute.metrics counts otherwise than the replay's."""
    got = last_per_key(read_topic(stack.bootstrap, "acute.metrics"))
    return [k for k, v in expected.items() if _counted(got.get(k, {}).get("data", {})) != _counted(v)]


def _move_zwolle(directory: Path) -> None:
    """The national file's placement changed under the deployment: zwolle 0 -> 1."""
    index = yaml.safe_load((directory / NATION_FILE).read_text())
    index["placement"] = {**PLACEMENT, "zwolle": 1}
    (directory / NATION_FILE).write_text(yaml.safe_dump(index))


def test_a_worker_killed_mid_run_leaves_its_regions_to_the_survivor(stack: Stack, tmp_path: Path) -> None:
    directory, lines, expected = _feed(tmp_path, hours=1.5, seed=6)
    half = len(lines) // 2
    w1, _ = stack.start_worker("w1", registry=str(directory))
    _w2, port2 = stack.start_worker("w2", registry=str(directory))
    _publish(stack, tmp_path / "first.ndjson", lines[:half])
    wait_until(lambda: read_topic(stack.bootstrap, "acute.metrics"), 60, "first snapshots")
    stack.stop_worker(w1, signal.SIGKILL)
    _publish(stack, tmp_path / "second.ndjson", lines[half:])
    wait_until(lambda: not _differing(stack, expected), 180,
               f"the survivor to count what the replay counts ({_differing(stack, expected)[:5]})", interval=1.0)
    assert _owners(stack, port2) == {rid for rid, _ in REGIONS}
    alerts = [orjson.loads(r.value)["id"] for r in read_topic(stack.bootstrap, "acute.alerts")]
    assert len(alerts) == len(set(alerts)), "an alert event was published twice"
    stack.assert_no_offset_gaps()


def test_a_changed_placement_stops_the_worker_before_it_splits_a_region(stack: Stack, tmp_path: Path) -> None:
    """A region's state stays on the partition it was written from: restarted with a
    placement that moves a region, the worker refuses (exit 70, the reason in its log)
    instead of writing the region's state on a second partition."""
    directory, lines, _expected = _feed(tmp_path, hours=0.5, seed=7, placement=PLACEMENT)
    first, _ = stack.start_worker("first", registry=str(directory))
    _publish(stack, tmp_path / "feed.ndjson", lines)

    def zwolle_stored() -> bool:
        return any(r.key.startswith(b"zwolle|") for r in read_topic(stack.bootstrap, CHANGELOG))

    wait_until(zwolle_stored, 120, "zwolle's state on the changelog", interval=1.0)
    stack.stop_worker(first)
    _move_zwolle(directory)
    moved, _ = stack.start_worker("moved", registry=str(directory))
    _publish(stack, tmp_path / "more.ndjson", lines[-5:])  # a record for every region, duplicates
    assert moved.wait(timeout=90) == 70
    _assert_refused(stack)


def test_a_changed_placement_stops_the_worker_also_after_records_left_on_the_old_partition(
        stack: Stack, tmp_path: Path) -> None:
    """The first worker stopped before its region stage took all it had forwarded: the
    restarted worker loads zwolle from what is left on the old partition (its state's),
    then the new records come on the new one. Seen under load in CI: the worker went on
    and wrote zwolle's state from both partitions."""
    directory, lines, expected = _feed(tmp_path, hours=0.5, seed=7, placement=PLACEMENT)
    first, _ = stack.start_worker("first", registry=str(directory))
    _publish(stack, tmp_path / "feed.ndjson", lines)
    # All applied and its input committed (at its stop), so the next worker forwards
    # nothing of the feed again, to the new partition.
    wait_until(lambda: not _differing(stack, expected), 120,
               f"the first worker to apply the feed ({_differing(stack, expected)[:5]})", interval=1.0)
    stack.stop_worker(first)
    # A record the first worker forwarded and its region stage had not taken yet: one
    # already taken, sent again (its events are duplicates, dropped after the load).
    left = [r for r in read_topic(stack.bootstrap, REGION_EVENTS) if r.key == b"zwolle"][-1]
    assert left.partition == 0
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap, acks=1, client_id="left-on-the-old-partition")
    producer.send(REGION_EVENTS, key=left.key, value=left.value, partition=0).get(timeout=30)
    producer.close()
    _move_zwolle(directory)
    # No tick for zwolle on the new partition before the record on the old one is taken.
    moved, _ = stack.start_worker("moved", registry=str(directory), loglevel="info",
                                  extra_env={"SPOEDSTROOM_TICK_EVENT_CLOCK_S": "120"})
    wait_until(lambda: "region zwolle: state rebuilt" in (stack.state_dir / "moved.log").read_text(errors="replace"),
               60, "zwolle loaded on partition 0")
    _publish(stack, tmp_path / "more.ndjson", lines[-5:])
    assert moved.wait(timeout=90) == 70
    _assert_refused(stack)


def _assert_refused(stack: Stack) -> None:
    log = stack.log("moved")
    assert "region zwolle: its state was written from partition 0 of spoedstroom-region-events" in log, log[-3000:]
    assert {(r.key.decode().partition("|")[0], r.partition) for r in read_topic(stack.bootstrap, CHANGELOG)} \
        == set(PLACEMENT.items())


def test_internal_topics_with_other_partitions_than_the_setting_stop_the_worker_with_the_reason(
        stack: Stack, tmp_path: Path) -> None:
    """The internal topics exist with 2 partitions (a first start with
    SPOEDSTROOM_INTERNAL_PARTITIONS=2), the setting now says 4 and the placement names
    partition 3: the worker stops at its start and says which setting to put right,
    before a send to a partition the topic does not have fails half-way."""
    directory, lines, _expected = _feed(tmp_path, hours=0.25, seed=8)
    first, _ = stack.start_worker("two", registry=str(directory), extra_env={"SPOEDSTROOM_INTERNAL_PARTITIONS": "2"})
    wait_until(lambda: REGION_EVENTS in topic_names(stack.bootstrap), 60, "the internal topics")
    stack.stop_worker(first)
    placed = tmp_path / "placed"
    placed.mkdir()
    for file in directory.iterdir():
        (placed / file.name).write_bytes(file.read_bytes())
    index = yaml.safe_load((placed / NATION_FILE).read_text())
    index["placement"] = PLACEMENT
    (placed / NATION_FILE).write_text(yaml.safe_dump(index))
    four, _ = stack.start_worker("four", registry=str(placed))
    _publish(stack, tmp_path / "feed.ndjson", lines)
    assert four.wait(timeout=90) == 70
    log = stack.log("four")
    assert ("spoedstroom-region-events has 2 partitions, SPOEDSTROOM_INTERNAL_PARTITIONS says 4" in log), log[-2000:]

