"""The snapshot interval on the event clock, by hand (processors.thinning)."""

from __future__ import annotations

from processors.output import Output
from processors.thinning import MinuteThinner, thin
from tests.processors._factory import MIN, T0


def snap(key: str, second: float, n: int) -> Output:
    return Output("snapshot", key, T0 + int(second * 1000), {"n": n})


def alert(second: float) -> Output:
    return Output("alert.raised", "a1", T0 + int(second * 1000), {})


def test_last_snapshot_per_key_and_minute_in_stream_order() -> None:
    stream = [
        snap("location:a", 10, 1), snap("region:r", 10, 1),
        snap("location:a", 50, 2), alert(50), snap("region:r", 50, 2),
        snap("location:a", 60, 3),  # the next minute: 10:01:00
        snap("location:b", 119.9, 1),
        snap("location:a", 121, 4),
    ]
    assert thin(stream) == [
        snap("location:a", 50, 2), alert(50), snap("region:r", 50, 2),
        snap("location:a", 60, 3), snap("location:b", 119.9, 1),
        snap("location:a", 121, 4),
    ]


def test_a_minute_goes_out_when_the_next_one_starts() -> None:
    thinner = MinuteThinner()
    assert thinner.push([snap("location:a", 1, 1), snap("location:a", 2, 2)]) == []
    assert thinner.push([alert(59)]) == []
    assert thinner.push([snap("location:a", 60, 3)]) == [snap("location:a", 2, 2), alert(59)]
    assert thinner.flush() == [snap("location:a", 60, 3)]
    assert thinner.flush() == []


def test_minutes_are_stream_minutes() -> None:
    assert T0 % MIN == 0
    assert thin([snap("k", 59.999, 1), snap("k", 60, 2)]) == [snap("k", 59.999, 1), snap("k", 60, 2)]
