"""The bench's stack and processes: the broker and Redis (embedded or given), the
`spoedstroom worker` processes it starts, and the state every phase shares (`BenchBase`)."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from streams.bench.common import (
    COUNTER_NAMES, BenchError, BenchOptions, counter_sums, http_get, proc_cpu_seconds, proc_memory,
)
from streams.bench.kafka_io import commit_group_offsets, topic_partitions
from streams.bench.registry import bench_nation, largest_region
from streams.devstack import EmbeddedStack, ensure_topics, free_port
from streams.settings import ROOT, Settings
from topics.catalogue import INPUT_TOPICS


@dataclass
class WorkerProc:
    """One `spoedstroom worker` process started by the bench."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    app_id: str
    region: str
    log: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def counters(self) -> dict[str, float] | None:
        # only the counters: the full exposition (a gauge per snapshot field and location)
        # costs the worker tens of milliseconds per scrape
        query = "&".join(f"name[]={name}" for name in COUNTER_NAMES)
        status, body = http_get(self.url(f"/metrics?{query}"))
        if status != 200:
            return None
        return counter_sums(body.decode(errors="replace"))

    def handled(self) -> float | None:
        sums = self.counters()
        return None if sums is None else sum(sums.values())

    def ready(self) -> bool:
        status, body = http_get(self.url("/readyz"))
        return status == 200

    def status(self, region: str | None = None) -> dict[str, Any] | None:
        """`/status/{region}` (by default the bench's measured region), or None."""
        status, body = http_get(self.url(f"/status/{region or self.region}"), timeout=10.0)
        if status != 200:
            return None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            return None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def memory(self) -> dict[str, int]:
        return proc_memory(self.pid)

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n    ".join(text)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> float:
        """Signal the worker's process group; returns seconds until it exited."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return time.monotonic() - t0


class BenchBase:
    """The stack, the worker processes and the results so far; the phases are mixins of it."""

    def __init__(self, options: BenchOptions, console: Console | None = None) -> None:
        self.o = options
        self.console = console or Console(stderr=True)
        self.nation = bench_nation(options.registry)
        self.registry_path = str(self.nation.path)
        self.combined = self.nation.combined()  # every partner and location of the nation
        # the region the one-region probes look at (freshness probes, /status reads)
        self.region = largest_region(self.nation)
        self.registry = self.nation.regions[self.region]
        self.workers: list[WorkerProc] = []
        self.results: dict[str, Any] = {}
        self.bootstrap = ""
        self.redis_url = ""
        self.state_dir = Path()
        self.embedded: EmbeddedStack | None = None
        self.run_tag = time.strftime("%Y%m%d%H%M%S")
        self.input_topics = [t.name for t in INPUT_TOPICS]
        self.start_offsets: dict[Any, int] = {}
        self._state_worker: WorkerProc | None = None  # the memory phase's worker, killed by recovery
        self._expected_patients: dict[str, int] = {}  # open encounters per region (memory phase)

    def _stack_up(self) -> None:
        o = self.o
        if o.bootstrap:
            self.bootstrap = o.bootstrap
            self.redis_url = o.redis_url or Settings.from_env().redis_url
            ensure_topics(self.bootstrap)
            self.console.print(f"using the broker at {self.bootstrap} and Redis at {self.redis_url}")
            return
        settings = Settings.from_env(state_dir=str(self.state_dir), broker_port=free_port(), redis_port=free_port())
        self.embedded = EmbeddedStack(settings)
        self.console.print(f"starting a fresh embedded broker and Redis in {self.state_dir} ...")
        info = self.embedded.up(timeout=30)
        self.bootstrap, self.redis_url = info["bootstrap_servers"], info["redis_url"]
        self.console.print(f"broker {self.bootstrap}, Redis {self.redis_url}")

    def start_worker(self, name: str, clock: str, offsets: dict[Any, int] | None,
                     extra_env: dict[str, str] | None = None) -> WorkerProc:
        """A worker in its own consumer group, starting at `offsets` (None: the earliest)."""
        app_id = f"bench-{self.run_tag}-{name}"
        if offsets:
            commit_group_offsets(self.bootstrap, app_id, offsets)
        return self._spawn(name, clock, app_id, extra_env)

    def bench_records_offsets(self) -> dict[Any, int]:
        """Offsets that make a new consumer group read exactly the bench's records: the
        input topics from where the fill began (its internal topics are its own, new)."""
        offsets = dict(self.start_offsets)
        for tp in topic_partitions(self.bootstrap, self.input_topics):
            offsets.setdefault(tp, 0)
        return offsets

    def _spawn(self, name: str, clock: str, app_id: str, extra_env: dict[str, str] | None = None) -> WorkerProc:
        port = free_port()
        env = dict(os.environ)
        env.update({
            "SPOEDSTROOM_BOOTSTRAP_SERVERS": self.bootstrap,
            "SPOEDSTROOM_REDIS_URL": self.redis_url,
            "SPOEDSTROOM_REGISTRY": self.registry_path,
            "SPOEDSTROOM_CLOCK": clock,
            "SPOEDSTROOM_APP_ID": app_id,
            "SPOEDSTROOM_WEB_PORT": str(port),
            "SPOEDSTROOM_WEB_HOST": "127.0.0.1",
            "SPOEDSTROOM_STATE_DIR": str(self.state_dir),
        })
        env.update(extra_env or {})
        if self.embedded is not None:
            env["SPOEDSTROOM_REBALANCE_TIMEOUT"] = "3"
            env["SPOEDSTROOM_EMBEDDED_BROKER"] = "true"  # see Settings.embedded_broker
        log = self.state_dir / f"worker-{name}.log"
        with open(log, "ab") as fh:
            proc = subprocess.Popen(
                [sys.executable, "-c", "from streams.cli import main; main()", "worker", "--loglevel", "warning"],
                env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=str(ROOT),
            )
        w = WorkerProc(name, proc, port, app_id, self.region, log)
        self.workers.append(w)
        return w

    def _retire(self, w: WorkerProc, sig: int = signal.SIGTERM) -> float:
        took = w.stop(sig)
        if w in self.workers:
            self.workers.remove(w)
        return took

    def _wait(self, what: str, check: Callable[[], Any], timeout: float, w: WorkerProc | None = None,
              interval: float = 0.1) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            if w is not None and not w.alive():
                raise BenchError(f"worker {w.name} exited ({w.proc.returncode}) while waiting for {what}:\n    {w.tail()}")
            time.sleep(interval)
        tail = f"\n    {w.tail()}" if w is not None else ""
        raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}{tail}")

    def _progress(self, label: str) -> Progress:
        return Progress(
            TextColumn(f"[bold]{label}[/bold]"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
            console=self.console, transient=False,
        )

    # ------------------------------------------------------------- simulated events
    def simulated(self, n: int, start_ms: int, seed: int) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """The first `n` simulator events of the whole nation, in event-time order."""
        from simulator.nation import generate_nation

        return itertools.islice(
            generate_nation(self.nation, start_ms=start_ms, duration_ms=3 * 365 * 86_400_000, seed=seed), n)
