"""RFC 3339 <-> epoch ms and the orjson codec."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from topics.codec import dumps, format_time, loads, parse_time

T0 = 1_795_352_700_000  # 2026-11-22T13:05:00Z


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2026-11-22T13:05:00Z", T0),
        ("2026-11-22T14:05:00+01:00", T0),
        ("2026-11-22T08:35:00-04:30", T0),
        ("2026-11-22T13:05:00.250Z", T0 + 250),
        ("2026-11-22T13:05:00.2Z", T0 + 200),
        ("2026-11-22T13:05:00.123456789+00:00", T0 + 123),
        ("2026-11-22t13:05:00z", T0),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999Z", -1),
        ("2024-02-29T00:00:00Z", 1_709_164_800_000),
    ],
)
def test_parse_time(text: str, ms: int) -> None:
    assert parse_time(text) == ms
    assert parse_time(text) == ms  # second call: the cached fast path


@pytest.mark.parametrize(
    "bad",
    [
        "2026-11-22T13:05:00",  # no offset
        "2026-11-22 13:05:00Z",
        "2026-11-22T13:05Z",
        "2026-11-22T13:05:00+0100",
        "2026-11-22T13:05:00.Z",
        "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-11-22T24:00:00Z",
        "2026-11-22T13:60:00Z",
        "2026-11-22T13:05:00+24:00",
        "2026-11-22T13:05:00Z\n",
        "20261122T130500Z",
        "",
        1795352700000,
        None,
    ],
)
def test_parse_time_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_time(bad)  # type: ignore[arg-type]


def test_format_time() -> None:
    assert format_time(T0) == "2026-11-22T13:05:00Z"
    assert format_time(T0 + 5) == "2026-11-22T13:05:00.005Z"
    assert format_time(0) == "1970-01-01T00:00:00Z"
    assert format_time(-1) == "1969-12-31T23:59:59.999Z"


def test_round_trip_against_datetime() -> None:
    rng = random.Random(7)
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    for _ in range(5000):
        ms = rng.randint(0, 4_102_444_800_000)
        dt = epoch + timedelta(milliseconds=ms)
        assert format_time(ms).startswith(dt.strftime("%Y-%m-%dT%H:%M:%S"))
        assert parse_time(format_time(ms)) == ms
        offset = timezone(timedelta(minutes=rng.choice([-300, -90, 0, 60, 120, 330])))
        assert parse_time(dt.astimezone(offset).isoformat()) == ms


def test_json_codec() -> None:
    assert dumps({"a": 1, "b": [True, None]}) == b'{"a":1,"b":[true,null]}'
    assert loads(b'{"a":1}') == {"a": 1}
    with pytest.raises(ValueError):
        loads(b"\xff")
