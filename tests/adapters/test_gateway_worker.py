"""The partner gateway in the whole chain, on the real embedded broker (no mocks): a
hospital's interface engine (an MLLP client) -> `spoedstroom gateway` -> Kafka ->
`spoedstroom worker` -> the SEH snapshot on `acute.metrics` and in Redis.

The worker runs on the wall clock, as in production: the messages carry the current
time, so the SEH census is the live one (on the event clock a region's first events are
held until a second partner confirms the time range, which one hospital cannot do).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import redis

from adapters.pseudonym import encounter_id
from streams.devstack import ensure_topics
from tests.adapters.messages import KEY, PATIENT_FIELDS, adt
from tests.adapters.support import msa, start_gateway
from tests.streams.kafka_io import last_per_key, read_topic
from tests.support import Stack, make_stack, wait_until

SEH = "hmc-westeinde-seh"
SNAPSHOT_KEY = f"location:{SEH}"
REDIS_KEY = f"spoedstroom:haaglanden:location:{SEH}"
VISIT = "V-CHAIN-0001"


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[tuple[Stack, Any]]:
    with make_stack(tmp_path) as stack:
        ensure_topics(stack.bootstrap)
        stack.start_worker(clock="wall")
        yield stack, start_gateway(stack, tmp_path)


def hl7_now() -> str:
    """The current time as an HL7 DTM without offset: local time, as Dutch EPDs send it."""
    return datetime.now(ZoneInfo("Europe/Amsterdam")).strftime("%Y%m%d%H%M%S")


def seh_patients(stack: Stack) -> tuple[int | None, int | None]:
    """The SEH's patient count in its latest snapshot on acute.metrics and in Redis."""
    on_topic = last_per_key(read_topic(stack.bootstrap, "acute.metrics", timeout=20)).get(SNAPSHOT_KEY)
    in_redis = redis.Redis.from_url(stack.redis_url).get(REDIS_KEY)
    return (on_topic["data"]["patients"] if on_topic else None,
            orjson.loads(in_redis)["patients"] if in_redis else None)


def test_an_adt_feed_moves_the_seh_census(chain: tuple[Stack, Any]) -> None:
    stack, gateway = chain
    arrival = adt("A04", visit=VISIT, control="CHAIN-1", pv1={14: "HA"}, recorded=hl7_now(), msh_time=hl7_now())
    ack = gateway.send_hl7(arrival)
    assert msa(ack)[1:3] == ["AA", "CHAIN-1"], ack
    # AA means the event is already in Kafka (acks=all): it is there when we look.
    admissions = [orjson.loads(r.value) for r in read_topic(stack.bootstrap, "acute.admissions", timeout=20)]
    assert [(e["type"], e["data"]["location"], e["data"]["encounter_id"]) for e in admissions] == [
        ("nl.acutezorg.seh.arrived.v1", SEH, encounter_id(KEY, "hmc", VISIT))]

    wait_until(lambda: seh_patients(stack) == (1, 1), 45,
               f"the worker to count the patient in {SEH}; worker log:\n{stack.log()}", interval=0.5)

    departure = adt("A03", visit=VISIT, control="CHAIN-2", pv1={36: "01"}, recorded=hl7_now(), msh_time=hl7_now())
    ack = gateway.send_hl7(departure)
    assert msa(ack)[1:3] == ["AA", "CHAIN-2"], ack
    wait_until(lambda: seh_patients(stack) == (0, 0), 45,
               f"the worker to count the departure in {SEH}; worker log:\n{stack.log()}", interval=0.5)

    # Nothing was dead-lettered, and no patient data reached any output.
    assert read_topic(stack.bootstrap, "acute.deadletter", timeout=20) == []
    outputs = b"".join(r.value or b"" for t in ("acute.admissions", "acute.discharges", "acute.metrics")
                       for r in read_topic(stack.bootstrap, t, timeout=20))
    outputs += b"".join(v for v in redis.Redis.from_url(stack.redis_url).mget(
        redis.Redis.from_url(stack.redis_url).keys("spoedstroom:*:location:*")) if v)
    for value in PATIENT_FIELDS + (VISIT,):
        assert value.encode() not in outputs, value
    stack.assert_no_offset_gaps()


def test_the_demo_path_counts_what_the_replay_of_the_simulation_counts(tmp_path: Path) -> None:
    """What `./scripts/run` does, at full speed: `spoedstroom simulate --mllp ...
    --hl7-partner hmc` sends HMC's SEH and ward events through the gateway and the rest
    to Kafka; the worker's final census of every SEH and ward equals the replay of the
    simulation as generated (HMC's encounter ids differ, its visits do not)."""
    import subprocess
    import sys

    from processors.replay import run_replay
    from simulator.core import generate
    from topics.codec import dumps, parse_time
    from topics.registry import load_registry
    from tests.support import REGISTRY

    start, hours, seed = "2026-11-16T06:00:00Z", 3, 5
    registry = load_registry(REGISTRY)
    lines = [dumps(ev) for _t, _k, ev in generate(registry, start_ms=parse_time(start),
                                                  duration_ms=hours * 3_600_000, seed=seed)]
    census_fields = ("patients", "occupied_beds")
    expected = {}
    for rec in run_replay(lines, registry, final=True):
        data = rec.get("data") or {}
        if rec.get("type") == "nl.acutezorg.metrics.snapshot.v1" and data.get("scope") == "location":
            expected[f"location:{data['id']}"] = {f: data[f] for f in census_fields if f in data}
    assert any(k.startswith("location:hmc-") for k in expected)

    with make_stack(tmp_path) as stack:
        ensure_topics(stack.bootstrap)
        stack.start_worker(clock="event")
        gateway = start_gateway(stack, tmp_path)
        env = {**stack.env, "SPOEDSTROOM_PSEUDONYM_KEY": KEY.decode()}
        res = subprocess.run(
            [sys.executable, "-c", "from streams.cli import main; main()", "simulate", "--registry", REGISTRY,
             "--seed", str(seed), "--hours", str(hours), "--start", start, "--speed", "max", "--kafka", "--quiet",
             "--mllp", f"127.0.0.1:{gateway.mllp}", "--hl7-partner", "hmc"],
            env=env, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr[-3000:]
        acks = next(line for line in res.stderr.splitlines() if "over MLLP" in line)
        assert " AA " in acks and " AE " not in acks and " AR " not in acks, acks

        def census() -> dict[str, dict[str, Any]]:
            got = last_per_key(read_topic(stack.bootstrap, "acute.metrics", timeout=30))
            return {k: {f: v["data"][f] for f in census_fields if f in v["data"]} for k, v in got.items()
                    if k in expected}

        wait_until(lambda: census() == expected, 60,
                   f"the worker's census to equal the replay's; worker log:\n{stack.log()}", interval=1.0)
        assert read_topic(stack.bootstrap, "acute.deadletter", timeout=20) == []
        stack.assert_no_offset_gaps()
