"""The writers: NDJSON file, paced Kafka publishing (with a fake producer), the CLI."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from simulator import sink
from streams.cli import app
from topics.validation import Validator

from tests.simulator.helpers import HAAGLANDEN, HOUR, START, haaglanden, run


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes, list]] = []
        self.flushes = 0

    def send(self, topic, key=None, value=None, headers=None):  # noqa: ANN001, ANN201
        self.sent.append((topic, key, value, headers))

    def flush(self) -> None:
        self.flushes += 1


def test_write_ndjson_one_event_per_line(tmp_path) -> None:
    items = run(0.25, 1)
    path = tmp_path / "out.ndjson"
    with path.open("wb") as fh:
        progress = sink.write_ndjson(items, fh)
    lines = path.read_bytes().splitlines()
    assert len(lines) == len(items) == progress.events
    assert [orjson.loads(x) for x in lines] == [e for _, _, e in items]
    assert sum(progress.by_topic.values()) == progress.events


def test_publish_sends_to_the_topic_of_each_type_keyed_by_partner() -> None:
    items = run(0.25, 1)
    fake = FakeProducer()
    progress = sink.publish(items, producer=fake, speed=None)
    assert progress.events == len(fake.sent) == len(items)
    for (topic, key, value, headers), (t, k, e) in zip(fake.sent, items):
        assert topic == t and key == k.encode() and orjson.loads(value) == e
        assert dict(headers)["content-type"].startswith(b"application/cloudevents+json")
    assert fake.flushes >= 1


def test_paced_waits_by_event_time_over_speed() -> None:
    items = [("acute.capacity", "hmc", {"time": t}) for t in
             ("2026-11-22T10:00:00Z", "2026-11-22T10:00:00Z", "2026-11-22T10:01:00Z", "2026-11-22T11:00:00Z")]
    clock = [100.0]
    slept: list[float] = []

    def sleep(d: float) -> None:
        slept.append(round(d, 6))
        clock[0] += d

    out = list(sink.paced(items, 60.0, clock=lambda: clock[0], sleep=sleep))
    assert len(out) == 4
    assert slept == [1.0, 59.0]  # one minute / 60, then 59 minutes / 60
    assert list(sink.paced(items, None, sleep=sleep)) == [(i, sink.parse_time(i[2]["time"])) for i in items]


def test_cli_simulate_writes_a_valid_file(tmp_path) -> None:
    out = tmp_path / "sim.ndjson"
    result = CliRunner().invoke(app, [
        "simulate", "--registry", str(HAAGLANDEN), "--seed", "4", "--hours", "2",
        "--start", "2026-11-22T10:00:00+01:00", "--out", str(out), "--quiet",
        "--surge", "2026-11-22T10:00/2026-11-22T11:00:1.5", "--incident", "2026-11-22T10:30:5",
        "--vvt-shortage", "1.5",
    ])
    assert result.exit_code == 0, result.output
    lines = out.read_bytes().splitlines()
    assert len(lines) > 500
    validator = Validator(haaglanden())
    events = [validator.decode(line) for line in lines]
    assert events[0].time == START + 10 * HOUR
    assert max(e.time for e in events) < START + 12 * HOUR


def test_cli_needs_exactly_one_output() -> None:
    result = CliRunner().invoke(app, ["simulate", "--registry", str(HAAGLANDEN), "--hours", "1"])
    assert result.exit_code == 2
