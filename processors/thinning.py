"""The snapshot interval on the event clock (events.md, "Snapshot interval").

The region processor emits a key's snapshot at every instant its content changes. On
the event clock the contract asks for *the last snapshot of each key within each stream
minute* (`as_of` = the stream time of that last change); alerts are never thinned. The
thinned stream is exactly the every-change stream filtered, in its own order:

- outputs come in non-decreasing time (a processor emits at `now`, which only moves on);
- the outputs of a stream minute are held until an output of a later minute arrives (or
  `flush` is called at the end of the input);
- then the minute's outputs go out in their order, each key's snapshots but the last
  dropped.

Holding the alerts too keeps the order of the filtered stream (a snapshot at 10:00:10
before an alert at 10:00:50); their content and times are untouched. The pipeline, whose
topics are separate, thins snapshots only (streams/app.py).
"""

from __future__ import annotations

from processors.output import Output
from processors.windows import minute_of


class MinuteThinner:
    """Thins a processor's outputs to the last snapshot per key and stream minute."""

    def __init__(self) -> None:
        self.minute: int | None = None
        self.held: list[Output] = []

    def push(self, outputs: list[Output]) -> list[Output]:
        """Take outputs in stream order; return those of minutes now closed, thinned."""
        released: list[Output] = []
        for output in outputs:
            minute = minute_of(output.time)
            if self.minute is not None and minute > self.minute:
                released.extend(self.flush())
            if self.minute is None or minute > self.minute:
                self.minute = minute
            self.held.append(output)
        return released

    def flush(self) -> list[Output]:
        """The held minute's outputs, thinned (at the end of the input, or a minute end)."""
        last = {o.key: i for i, o in enumerate(self.held) if o.kind == "snapshot"}
        out = [o for i, o in enumerate(self.held) if o.kind != "snapshot" or last[o.key] == i]
        self.held = []
        return out


def thin(outputs: list[Output]) -> list[Output]:
    """The whole every-change stream, thinned (tests, and anything holding it whole)."""
    thinner = MinuteThinner()
    return thinner.push(outputs) + thinner.flush()
