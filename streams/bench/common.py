"""What every part of the bench shares: its options, constants, errors and small helpers
(percentiles, machine facts, process memory, HTTP, the Prometheus counters)."""

from __future__ import annotations

import math
import os
import platform
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.settings import ROOT, Settings
from topics import compiled

DEFAULT_DOC = ROOT / "docs" / "performance.md"
LATEST_START = "<!-- bench:latest:start -->"
LATEST_END = "<!-- bench:latest:end -->"
FILL_START_MS = 1_799_193_600_000  # 2027-01-06T00:00:00Z: fixed, so a seed always gives the same records
LIVE_LATENESS_MS = Settings().reorder_lateness_live_ms  # the wall-clock hold before an event applies
TARGETS = {
    "pipeline_ratio": 0.05,  # stretch 0.10
    "freshness_p99_ms_at_100": 500.0,
    "rss_mb_open_encounters": 400.0,
    "recovery_s": 10.0,
}
RSS_TARGET_ENCOUNTERS = 100_000  # the RSS target holds at this many open encounters
COUNTER_NAMES = (
    "spoedstroom_events_applied_total",
    "spoedstroom_events_duplicate_total",
    "spoedstroom_events_deadlettered_total",
)


class BenchError(RuntimeError):
    """The bench cannot go on; the message says why (and where the logs are)."""


@dataclass
class BenchOptions:
    """What one run measures. Defaults are the full national bench."""

    events: int = 500_000
    freshness_seconds: float = 20.0
    rates: tuple[int, ...] = (10, 100, 1000)
    open_encounters: int = 100_000
    workers: int = 2  # workers of the scale-out phase; 1 leaves it out
    freshness: bool = True
    memory: bool = True
    recovery: bool = True
    sigkill: bool = True
    profile: bool = False
    profile_seconds: float = 30.0
    bootstrap: str | None = None
    redis_url: str | None = None
    registry: str | None = None
    seed: int = 1
    out: Path | None = ROOT / "bench-results" / "bench.json"
    doc: Path | None = DEFAULT_DOC
    state_dir: Path | None = None
    phase_timeout: float = 900.0
    # The memory worker and its restarts as deployed (compose.yaml, k8s): RocksDB state
    # under the state dir, and no group instance name (dynamic membership: a restarted
    # worker removes the members a killed one left, streams/membership.py). Static
    # membership costs ~6 s per start on the embedded broker (docs/operations.md).
    state_store: str = "rocksdb://"
    static_membership: bool = False


# ----------------------------------------------------------------------------- helpers
def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (metrics.md): the value at position ceil(p/100 * n)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_ms(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50_ms": _round(percentile(values, 50)),
        "p95_ms": _round(percentile(values, 95)),
        "p99_ms": _round(percentile(values, 99)),
        "max_ms": _round(max(values) if values else None),
    }


def _round(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(float(x), nd)


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) * 1024
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "nproc": os.cpu_count() or 0,
        "cpu_model": cpu,
        "ram_bytes": ram,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": [round(x, 2) for x in load],
        # the workers inherit this process's environment and checkout: the same core
        "core": compiled.active(),
    }


def proc_memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in bytes."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":", 1)
                out[name] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return {"rss_bytes": out.get("VmRSS", 0), "hwm_bytes": out.get("VmHWM", 0)}


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (0.0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback worker
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError, TimeoutError):
        return 0, b""


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def counter_sums(text: str, names: tuple[str, ...] = COUNTER_NAMES) -> dict[str, float]:
    """Sum of every sample of the named metrics in a Prometheus text exposition."""
    sums = {n: 0.0 for n in names}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        m = _SAMPLE.match(line)
        if m and m.group(1) in sums:
            try:
                sums[m.group(1)] += float(m.group(3))
            except ValueError:
                pass
    return sums


def relative(path: str) -> str:
    """A path relative to the project root, when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return path


@dataclass
class HandledRate:
    """Events handled by the worker(s) of a throughput phase, polled until all `events`
    are: the rate from the first applied event, and when to give up."""

    events: int
    spawn: float  # monotonic time the worker(s) started
    last: float = 0.0  # handled at the last poll
    last_change: float = 0.0  # when that number last grew
    t_first: float = 0.0  # first poll with events handled ...
    c_first: float = 0.0  # ... and how many then

    def poll(self, total: float, now: float) -> float:
        """Take a poll's total; the rate from the first applied event so far."""
        if total > self.last:
            self.last, self.last_change = total, now
        if total > 0 and not self.t_first:
            self.t_first, self.c_first = now, total
        return (total - self.c_first) / (now - self.t_first) if self.t_first and now > self.t_first else 0.0

    def done(self) -> bool:
        return self.last >= self.events

    def progress(self, rate: float) -> str:
        """The progress bar's text."""
        return f"{rate:,.0f} events/s" if self.t_first else "waiting for the first event"

    def so_far(self, now: float) -> str:
        """How far it got (for the message of a phase that gave up)."""
        since = now - self.t_first if self.t_first else 0.0
        rate = (self.last - self.c_first) / since if since > 0 else 0.0
        return (f"{self.last:,.0f} of {self.events:,} events handled, {rate:,.0f} events/s from the first "
                f"applied ({since:.0f} s)")

    def give_up(self, now: float, phase_timeout: float) -> str | None:
        """Why to stop waiting ("stalled": nothing handled for 120 s; the phase timeout),
        or None."""
        if now - self.spawn > phase_timeout:
            return f"hit --phase-timeout {phase_timeout:.0f} s"
        if self.t_first and now - self.last_change > 120:
            return "stalled"
        return None

    def measured(self, t_done: float, t_ready: float) -> tuple[str, float, float]:
        """(method, seconds, events/s): from the first event applied (polled every 0.5 s)
        to all of them. When most were already applied at the first poll (tiny runs: the
        event clock releases a small log at once), from the worker(s) being ready
        (partitions assigned) instead."""
        n = self.events
        if self.t_first and n - self.c_first >= n / 2 and t_done > self.t_first:
            return "first_applied_to_all", t_done - self.t_first, (n - self.c_first) / (t_done - self.t_first)
        start = t_ready or self.t_first or self.spawn
        elapsed = max(t_done - start, 1e-6)
        return "ready_to_all", elapsed, n / elapsed

