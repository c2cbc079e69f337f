"""`spoedstroom bench`: the performance benchmark of the streaming pipeline.

One run, on one broker (a fresh embedded Tansu broker + Redis on free ports in a temporary
state folder, or an existing Kafka via `bootstrap`), measures:

1. **fill**: N simulated events of a national-scale registry (`nl-synthetic`: 16 copies
   of Haaglanden, 80 SEHs) produced as raw bytes with kafka-python;
2. **ceiling**: a plain aiokafka consumer reading those records from the beginning and
   decoding every value with orjson (what Python can do at all on this machine);
3. **pipeline**: `spoedstroom worker` (event clock, a fresh consumer group) over the same
   records, from the first event applied until applied + duplicate + dead-lettered = N
   (polled from its /metrics), and the ratio pipeline / ceiling;
4. **freshness**: a worker on the wall clock with background simulator load at steady
   offered rates (10, 100, 1,000 events/s, event times = now) plus probe events
   (`capacity.reported` with a unique `staffed_beds`, locations rotated so that no key is
   probed twice within 2 s): publish -> snapshot in `acute.metrics` and in Redis,
   p50/p95/p99 (nearest rank);
5. **memory and state**: a fresh worker with `open_encounters` open SEH encounters: its
   RSS (VmRSS, VmHWM) and the size of its changelog topic (all records and the live entries);
6. **recovery**: SIGTERM (and SIGKILL) of that worker and a restart on its changelog:
   time until /readyz, until /status shows the restored region snapshot, until a new event
   is applied.

Each worker gets its own consumer group (`SPOEDSTROOM_APP_ID`) whose input offsets are
committed up front (at the start of the bench's records, or at the current end), so the
phases never see each other's records and the changelog is fresh per phase. Results go to
JSON and to the "Latest run" section of docs/performance.md.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from simulator.nation import prefixed_hl7
from streams import persistence
from streams.devstack import EmbeddedStack, ensure_topics, free_port
from streams.settings import ROOT, Settings
from topics.catalogue import INPUT_TOPICS
from topics.codec import format_time
from topics.envelope import kafka_headers, partner_event
from topics.registry import Registry, load_registry, parse_registry

REGION_EVENTS_TOPIC = "spoedstroom-region-events"  # streams.app.REGION_EVENTS_TOPIC (not imported: no Faust here)
CHANGELOG_SUFFIX = "-region-state-changelog"
NATIONAL_REGISTRY = ROOT / "deploy" / "regions" / "nl-synthetic.yaml"
BASE_REGISTRY = ROOT / "deploy" / "regions" / "haaglanden.yaml"
DEFAULT_DOC = ROOT / "docs" / "performance.md"
LATEST_START = "<!-- bench:latest:start -->"
LATEST_END = "<!-- bench:latest:end -->"
FILL_START_MS = 1_799_193_600_000  # 2027-01-06T00:00:00Z: fixed, so a seed always gives the same records
LIVE_LATENESS_MS = Settings().reorder_lateness_live_ms  # the wall-clock hold before an event applies
TARGETS = {
    "pipeline_ratio": 0.10,
    "freshness_p99_ms_at_100": 500.0,
    "rss_mb_open_encounters": 400.0,
    "recovery_s": 10.0,
}
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


# ---------------------------------------------------------------------------- registry
def national_registry_data(copies: int = 16, base: Path = BASE_REGISTRY) -> dict[str, Any]:
    """A national-scale registry: `copies` of the example region with prefixed ids.

    Ids get a prefix (`r01-hmc-westeinde-seh`) rather than a suffix so SEH ids keep their
    `-seh` ending (the simulator finds a site's wards by that prefix) and each copy's HAP
    shares a token with its own SEHs (the simulator prefers same-town referrals).
    """
    raw = yaml.safe_load(base.read_text(encoding="utf-8"))
    out: dict[str, Any] = {
        "region": {"id": "nl-synthetic", "name": f"Nederland (synthetisch, {copies} x {raw['region']['name']})"},
        "partners": [],
        "locations": [],
        "thresholds": raw.get("thresholds") or {},
        "actions": raw.get("actions") or {},
        "webhooks": [],
    }
    for i in range(1, copies + 1):
        p = f"r{i:02d}-"
        for x in raw["partners"]:
            copy = {**x, "id": p + x["id"], "name": f"{x['name']} ({p[:-1]})"}
            if "hl7" in x:
                copy["hl7"] = prefixed_hl7(x["hl7"], p[:-1])
            out["partners"].append(copy)
        for x in raw["locations"]:
            out["locations"].append({**x, "id": p + x["id"], "partner": p + x["partner"],
                                     "name": f"{x.get('name', x['id'])} ({p[:-1]})"})
    return out


def write_national_registry(path: Path = NATIONAL_REGISTRY, copies: int = 16) -> Path:
    data = national_registry_data(copies)
    parse_registry(data, str(path))  # validate before writing
    header = (
        "# Synthetic national registry for `spoedstroom bench`: "
        f"{copies} copies of deploy/regions/haaglanden.yaml with ids prefixed r01-..r{copies:02d}-\n"
        "# (~80 SEHs, like the Netherlands' ~87). Generated by streams.bench.write_national_registry;\n"
        "# not real capacity data.\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=200), encoding="utf-8")
    return path


def bench_registry(path: str | None) -> Registry:
    if path:
        return load_registry(path)
    if not NATIONAL_REGISTRY.exists():
        write_national_registry()
    return load_registry(NATIONAL_REGISTRY)


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


# ----------------------------------------------------------------------------- kafka
def _tps(bootstrap: str, topics: list[str]) -> list[Any]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="spoedstroom-bench-meta")
    try:
        out = []
        for topic in topics:
            for p in sorted(consumer.partitions_for_topic(topic) or ()):
                out.append(TopicPartition(topic, p))
        return out
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topics: list[str]) -> dict[Any, int]:
    """The end offset of every partition of the topics that exist, checked by reading.

    The embedded Tansu broker answers ListOffsets(latest) with a stale offset (seen: the
    base offset of the last batch, so up to a whole batch short), so the reported end is
    only the starting point: records found after it move the end forward.
    """
    from kafka import KafkaConsumer

    tps = _tps(bootstrap, topics)
    if not tps:
        return {}
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="spoedstroom-bench-meta",
                             max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_wait_ms=50)
    try:
        ends = dict(consumer.end_offsets(tps))
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, ends[tp])
        empty = 0
        while empty < 2:
            got = consumer.poll(timeout_ms=200, max_records=100_000)
            if not got:
                empty += 1
                continue
            empty = 0
            for tp, records in got.items():
                if records:
                    ends[tp] = max(ends[tp], records[-1].offset + 1)
        return ends
    finally:
        consumer.close()


def commit_group_offsets(bootstrap: str, group: str, offsets: dict[Any, int]) -> None:
    """Commit offsets for a consumer group that has no members yet, so its first worker
    starts exactly there (instead of at the earliest record)."""
    from kafka import KafkaConsumer
    from kafka.structs import OffsetAndMetadata

    if not offsets:
        return
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                             client_id="spoedstroom-bench-offsets")
    try:
        consumer.assign(list(offsets))
        consumer.commit({tp: OffsetAndMetadata(off, "", -1) for tp, off in offsets.items()})
    finally:
        consumer.close()


def make_producer(bootstrap: str, **overrides: Any) -> Any:
    from kafka import KafkaProducer

    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap.split(","),
        "linger_ms": 20,
        "batch_size": 512 * 1024,
        "acks": 1,
        "enable_idempotence": False,
        "max_request_size": 4 * 1024 * 1024,
        "client_id": "spoedstroom-bench",
    }
    config.update(overrides)
    return KafkaProducer(**config)


# ---------------------------------------------------------------------------- workers
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

    def status(self) -> dict[str, Any] | None:
        status, body = http_get(self.url(f"/status/{self.region}"), timeout=10.0)
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


# ------------------------------------------------------------------------------- bench
class Bench:
    """Runs the phases in order and collects the results."""

    def __init__(self, options: BenchOptions, console: Console | None = None) -> None:
        self.o = options
        self.console = console or Console(stderr=True)
        self.registry = bench_registry(options.registry)
        self.registry_path = self.registry.path or str(NATIONAL_REGISTRY)
        self.region = self.registry.region_id
        self.workers: list[WorkerProc] = []
        self.results: dict[str, Any] = {}
        self.bootstrap = ""
        self.redis_url = ""
        self.state_dir = Path()
        self.embedded: EmbeddedStack | None = None
        self.run_tag = time.strftime("%Y%m%d%H%M%S")
        self.input_topics = [t.name for t in INPUT_TOPICS]
        self.start_offsets: dict[Any, int] = {}

    # ------------------------------------------------------------------ lifecycle
    def run(self) -> dict[str, Any]:
        o = self.o
        started = time.time()
        t0 = time.monotonic()
        self.results = {
            "version": 1,
            "started_at": format_time(int(started * 1000)),
            "machine": machine_info(),
            "options": {
                "events": o.events, "freshness_seconds": o.freshness_seconds, "rates": list(o.rates),
                "open_encounters": o.open_encounters, "freshness": o.freshness, "memory": o.memory,
                "recovery": o.recovery, "sigkill": o.sigkill, "profile": o.profile, "seed": o.seed,
                "bootstrap": o.bootstrap or "embedded",
            },
            "registry": {
                "path": _relative(self.registry_path), "region": self.region,
                "sehs": len(self.registry.sehs()), "locations": len(self.registry.locations),
                "partners": len(self.registry.partners),
                "seh_treatment_spaces": sum(s.staffed_beds for s in self.registry.sehs()),
            },
        }
        tmp: tempfile.TemporaryDirectory[str] | None = None
        if o.state_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="spoedstroom-bench-")
            self.state_dir = Path(tmp.name)
        else:
            self.state_dir = Path(o.state_dir)
            self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._stack_up()
            self._phase("fill", self.fill)
            self._phase("ceiling", self.ceiling)
            self._phase("pipeline", self.pipeline)
            if o.freshness and o.rates and o.freshness_seconds > 0:
                self._phase("freshness", self.freshness)
            if o.memory and o.open_encounters > 0:
                self._phase("memory", self.memory)
                if o.recovery:
                    self._phase("recovery", self.recovery)
        finally:
            for w in self.workers:
                w.stop(signal.SIGKILL, timeout=10)
            if self.embedded is not None:
                self.embedded.down()
            if tmp is not None:
                if sys.exc_info()[0] is not None:  # keep the logs of a failed run
                    self.console.print(f"[yellow]logs kept in {tmp.name}[/yellow]")
                    tmp._finalizer.detach()  # type: ignore[attr-defined]
                else:
                    tmp.cleanup()
        self.results["finished_at"] = format_time(int(time.time() * 1000))
        self.results["duration_s"] = round(time.monotonic() - t0, 1)
        self.results["targets"] = evaluate_targets(self.results)
        return self.results

    def _phase(self, name: str, fn: Callable[[], dict[str, Any]]) -> None:
        self.console.rule(f"[bold]{name}")
        t0 = time.monotonic()
        result = fn()
        result.setdefault("phase_seconds", round(time.monotonic() - t0, 1))
        self.results[name] = result
        self.console.print(render_phase(name, result))

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

    def start_worker(self, name: str, clock: str, offsets: dict[Any, int] | None) -> WorkerProc:
        """A worker in its own consumer group, starting at `offsets` (None: the earliest)."""
        app_id = f"bench-{self.run_tag}-{name}"
        if offsets:
            commit_group_offsets(self.bootstrap, app_id, offsets)
        return self._spawn(name, clock, app_id)

    def _spawn(self, name: str, clock: str, app_id: str) -> WorkerProc:
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

    # ------------------------------------------------------------------- 1. fill
    def simulated(self, n: int, start_ms: int, seed: int) -> Iterator[tuple[str, str, dict[str, Any]]]:
        from simulator import generate

        return itertools.islice(
            generate(self.registry, start_ms=start_ms, duration_ms=3 * 365 * 86_400_000, seed=seed), n)

    def fill(self) -> dict[str, Any]:
        n = self.o.events
        self.start_offsets = end_offsets(self.bootstrap, self.input_topics)
        producer = make_producer(self.bootstrap)
        headers = kafka_headers(structured=True)
        by_topic: dict[str, int] = {}
        nbytes = 0
        first_time = last_time = ""
        dumps = orjson.dumps
        t0 = time.perf_counter()
        with self._progress("fill") as bar:
            task = bar.add_task("fill", total=n, info="")
            sent = 0
            send = producer.send
            for topic, key, event in self.simulated(n, FILL_START_MS, self.o.seed):
                value = dumps(event)
                send(topic, key=key.encode(), value=value, headers=headers)
                nbytes += len(value)
                by_topic[topic] = by_topic.get(topic, 0) + 1
                sent += 1
                if sent == 1:
                    first_time = event["time"]
                if sent % 5000 == 0:
                    bar.update(task, completed=sent, info=f"{sent / (time.perf_counter() - t0):,.0f}/s")
            last_time = event["time"] if sent else ""
            producer.flush()
            bar.update(task, completed=sent, info="flushed")
        elapsed = time.perf_counter() - t0
        producer.close()
        ends = end_offsets(self.bootstrap, self.input_topics)
        in_topics = sum(ends.values()) - sum(self.start_offsets.get(tp, 0) for tp in ends)
        if in_topics < sent:
            raise BenchError(f"fill: sent {sent} records but the input topics grew by only {in_topics}")
        from topics.codec import parse_time

        span_h = (parse_time(last_time) - parse_time(first_time)) / 3_600_000 if sent else 0.0
        return {
            "events": sent,
            "bytes": nbytes,
            "mean_record_bytes": round(nbytes / max(sent, 1), 1),
            "seconds": round(elapsed, 2),
            "events_per_s": round(sent / elapsed, 1),
            "event_time_span_hours": round(span_h, 2),
            "events_per_simulated_day": round(sent / span_h * 24, 0) if span_h else None,
            "by_topic": dict(sorted(by_topic.items())),
        }

    # ---------------------------------------------------------------- 2. ceiling
    def ceiling(self) -> dict[str, Any]:
        return asyncio.run(self._ceiling())

    async def _ceiling(self) -> dict[str, Any]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        n = self.o.events
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None,
                                    auto_offset_reset="earliest", client_id="spoedstroom-bench-ceiling",
                                    max_partition_fetch_bytes=4 * 1024 * 1024)
        await consumer.start()
        try:
            tps = [TopicPartition(tp.topic, tp.partition) for tp in _tps(self.bootstrap, self.input_topics)]
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, self.start_offsets.get(_kp(tp), 0))
            count = 0
            t_first = t_last = 0.0
            loads = orjson.loads
            t0 = time.perf_counter()
            while count < n:
                batches = await consumer.getmany(timeout_ms=1000, max_records=20000)
                if not batches:
                    if time.perf_counter() - t0 > self.o.phase_timeout:
                        raise BenchError(f"ceiling: read only {count} of {n} records")
                    continue
                if not t_first:
                    t_first = time.perf_counter()
                for records in batches.values():
                    for rec in records:
                        loads(rec.value)
                    count += len(records)
                t_last = time.perf_counter()
        finally:
            await consumer.stop()
        elapsed = max(t_last - t_first, 1e-6)
        return {"events": count, "seconds": round(elapsed, 3), "events_per_s": round(count / elapsed, 1),
                "seconds_incl_first_fetch": round(t_last - t0, 3)}

    # --------------------------------------------------------------- 3. pipeline
    def pipeline(self) -> dict[str, Any]:
        n = self.o.events
        offsets = dict(self.start_offsets)
        for tp in _tps(self.bootstrap, self.input_topics):
            offsets.setdefault(tp, 0)
        offsets.update(end_offsets(self.bootstrap, [REGION_EVENTS_TOPIC]))
        w = self.start_worker("pipeline", "event", offsets)
        spawn = time.monotonic()
        peak = 0
        profile: dict[str, Any] | None = None
        spy: subprocess.Popen[bytes] | None = None
        spy_out = self.state_dir / "pipeline.pyspy.txt"
        t_first = 0.0
        t_ready = 0.0
        c_first = 0.0
        last = 0.0
        last_change = time.monotonic()
        sums: dict[str, float] = {}
        with self._progress("pipeline") as bar:
            task = bar.add_task("pipeline", total=n, info="starting worker")
            while True:
                if not w.alive():
                    raise BenchError(f"the pipeline worker exited ({w.proc.returncode}):\n    {w.tail()}")
                got = w.counters()
                now = time.monotonic()
                peak = max(peak, w.memory()["hwm_bytes"])
                if not t_ready and w.ready():
                    t_ready = now
                if got is not None:
                    sums = got
                    total = sum(got.values())
                    if total > last:
                        last, last_change = total, now
                    if total > 0 and not t_first:
                        t_first, c_first = now, total
                        if self.o.profile:
                            spy = start_py_spy(w.pid, self.o.profile_seconds, spy_out)
                    rate = (total - c_first) / (now - t_first) if t_first and now > t_first else 0.0
                    bar.update(task, completed=min(total, n), info=f"{rate:,.0f} events/s" if t_first else "waiting for the first event")
                    if total >= n:
                        break
                if now - spawn > self.o.phase_timeout or (t_first and now - last_change > 120):
                    raise BenchError(f"pipeline: {last:.0f} of {n} events handled when it stalled or timed out:\n    {w.tail()}")
                # Not faster: one /metrics scrape costs the worker ~20 ms of CPU (py-spy: 19% of
                # its time at 10 scrapes/s), which would slow down what is measured.
                time.sleep(0.5)
        t_done = time.monotonic()
        if spy is not None:
            try:
                spy.wait(timeout=self.o.profile_seconds + 30)
            except subprocess.TimeoutExpired:
                spy.kill()
            profile = summarize_py_spy(spy_out)
        # From the first event applied (polled every 0.5 s) to all N. When most events were
        # already applied at the first poll (tiny runs: the event clock releases a small log
        # at once), fall back to the time from the worker being ready (partitions assigned).
        if t_first and n - c_first >= n / 2 and t_done > t_first:
            method, elapsed, rate = "first_applied_to_all", t_done - t_first, (n - c_first) / (t_done - t_first)
        else:
            start = t_ready or t_first or spawn
            method, elapsed = "ready_to_all", max(t_done - start, 1e-6)
            rate = n / elapsed
        ceiling = self.results.get("ceiling", {}).get("events_per_s") or 0.0
        memory = w.memory()
        self._retire(w)
        result = {
            "events": n,
            "applied": int(sums.get("spoedstroom_events_applied_total", 0)),
            "duplicates": int(sums.get("spoedstroom_events_duplicate_total", 0)),
            "deadlettered": int(sums.get("spoedstroom_events_deadlettered_total", 0)),
            "seconds": round(elapsed, 2),
            "events_per_s": round(rate, 1),
            "method": method,
            "ratio_to_ceiling": round(rate / ceiling, 4) if ceiling else None,
            "worker_start_to_ready_s": round(t_ready - spawn, 2) if t_ready else None,
            "worker_start_to_first_applied_s": round(t_first - spawn, 2),
            "applied_at_first_poll": int(c_first),
            "peak_rss_bytes": max(peak, memory["hwm_bytes"]),
            "profiled": bool(spy is not None),
            "note": "event clock: the tail includes the 3 s idle-partition wait before the last events are released",
        }
        if profile is not None:
            self.results["profile"] = profile
        return result

    # -------------------------------------------------------------- 4. freshness
    def freshness(self) -> dict[str, Any]:
        offsets = end_offsets(self.bootstrap, self.input_topics + [REGION_EVENTS_TOPIC])
        w = self.start_worker("freshness", "wall", offsets)
        self._wait("the wall-clock worker to become ready", w.ready, 120, w)
        # The runtime loads on the first tick; a probe before that would measure start-up.
        self._wait("the wall-clock worker to tick", lambda: (w.status() or {}).get("owner"), 60, w)
        try:
            rates = asyncio.run(self._freshness(w))
        finally:
            memory = w.memory()
            self._retire(w)
        return {
            "reorder_lateness_live_ms": LIVE_LATENESS_MS,
            "note": ("end to end from the probe's publish (event time = now) to the snapshot; on the wall clock "
                     f"every event is held {LIVE_LATENESS_MS} ms (reorder_lateness_live) and released on the next "
                     "record or the 100 ms tick; snapshots go out at most once per second per key"),
            "rates": rates,
            "peak_rss_bytes": memory["hwm_bytes"],
        }

    async def _freshness(self, w: WorkerProc) -> list[dict[str, Any]]:
        import redis.asyncio as aioredis
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

        from topics.codec import dumps as codec_dumps, loads

        probe_locs = [loc for loc in self.registry.locations.values() if loc.kind in ("elv", "vvt", "grz")]
        if not probe_locs:
            probe_locs = [loc for loc in self.registry.locations.values() if loc.kind == "ward"]
        probe_ids = {loc.id for loc in probe_locs}
        headers = kafka_headers(structured=True)
        background = self.simulated(10**9, int(time.time() * 1000), self.o.seed + 101)
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=5, acks=1,
                                    client_id="spoedstroom-bench-load")
        prober = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=0, acks=1,
                                  client_id="spoedstroom-bench-probe")
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None,
                                    fetch_max_wait_ms=20, client_id="spoedstroom-bench-metrics")
        client = aioredis.Redis.from_url(self.redis_url)
        await producer.start()
        await prober.start()
        await consumer.start()
        # probe id -> [location, value, t_sent, t_metrics, t_redis]
        inflight: dict[str, list[Any]] = {}
        by_loc: dict[str, str] = {}  # location -> probe id awaiting metrics
        done = asyncio.Event()
        results: list[dict[str, Any]] = []
        try:
            tps = [TopicPartition("acute.metrics", p) for p in sorted(consumer.partitions_for_topic("acute.metrics") or ())]
            if not tps:
                await consumer._client.force_metadata_update()  # noqa: SLF001 - first metadata fetch
                tps = [TopicPartition("acute.metrics", p) for p in sorted(consumer.partitions_for_topic("acute.metrics") or ())]
            consumer.assign(tps)
            await consumer.seek_to_end(*tps)

            async def watch_metrics() -> None:
                while not done.is_set():
                    batches = await consumer.getmany(timeout_ms=50)
                    now = time.perf_counter()
                    for records in batches.values():
                        for rec in records:
                            key = rec.key or b""
                            if not key.startswith(b"location:"):
                                continue
                            loc = key[9:].decode()
                            pid = by_loc.get(loc)
                            if pid is None:
                                continue
                            data = loads(rec.value).get("data", {})
                            probe = inflight[pid]
                            if data.get("staffed_beds") == probe[1] and probe[3] is None:
                                probe[3] = now
                                by_loc.pop(loc, None)

            async def watch_redis() -> None:
                while not done.is_set():
                    waiting = [(pid, p) for pid, p in list(inflight.items()) if p[4] is None]
                    if waiting:
                        keys = [f"spoedstroom:{self.region}:location:{p[0]}" for _pid, p in waiting]
                        values = await client.mget(keys)
                        now = time.perf_counter()
                        for (_pid, p), raw in zip(waiting, values):
                            if raw and p[4] is None:
                                try:
                                    data = loads(raw)
                                except ValueError:
                                    continue
                                if isinstance(data, dict) and "data" in data and "staffed_beds" not in data:
                                    data = data["data"]
                                if data.get("staffed_beds") == p[1]:
                                    p[4] = now
                    await asyncio.sleep(0.005)

            watchers = [asyncio.ensure_future(watch_metrics()), asyncio.ensure_future(watch_redis())]
            seq = itertools.count(1)
            rotation = itertools.cycle(probe_locs)
            # Warm-up: a few seconds of the lowest rate so the first probes see a running pipeline.
            await self._offer_load(producer, prober, background, probe_ids, headers, min(self.o.rates), 2.0,
                                   None, None, None, codec_dumps)
            for rate in self.o.rates:
                probes: list[list[Any]] = []
                probe_rate = max(1.0, min(10.0, rate / 2, len(probe_locs) / 2.5))
                stats = await self._offer_load(producer, prober, background, probe_ids, headers, rate,
                                               self.o.freshness_seconds, probe_rate,
                                               (rotation, seq, inflight, by_loc, probes), None, codec_dumps)
                # Let the last probes through: lateness hold + tick + margin.
                deadline = time.perf_counter() + LIVE_LATENESS_MS / 1000 + 8.0
                while time.perf_counter() < deadline and any(p[3] is None or p[4] is None for p in probes):
                    await self._offer_load(producer, prober, background, probe_ids, headers, rate, 0.25,
                                           None, None, None, codec_dumps)
                metrics_ms = [(p[3] - p[2]) * 1000 for p in probes if p[3] is not None]
                redis_ms = [(p[4] - p[2]) * 1000 for p in probes if p[4] is not None]
                row = {
                    "rate": rate,
                    "seconds": self.o.freshness_seconds,
                    "offered_events": stats["sent"],
                    "achieved_rate": round(stats["sent"] / stats["seconds"], 1),
                    "probes": len(probes),
                    "probe_rate": probe_rate,
                    "metrics": summary_ms(metrics_ms),
                    "redis": summary_ms(redis_ms),
                    "missing_metrics": sum(1 for p in probes if p[3] is None),
                    "missing_redis": sum(1 for p in probes if p[4] is None),
                    "worker_rss_bytes": w.memory()["rss_bytes"],
                }
                results.append(row)
                self.console.print(
                    f"  {rate:>5}/s offered ({row['achieved_rate']}/s achieved): acute.metrics p50 "
                    f"{row['metrics']['p50_ms']} p95 {row['metrics']['p95_ms']} p99 {row['metrics']['p99_ms']} ms; "
                    f"Redis p50 {row['redis']['p50_ms']} p95 {row['redis']['p95_ms']} p99 {row['redis']['p99_ms']} ms "
                    f"({len(probes)} probes, missing {row['missing_metrics']}/{row['missing_redis']})")
                for p in probes:
                    inflight.pop(p[5], None)
                by_loc.clear()
            done.set()
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
        finally:
            done.set()
            await producer.stop()
            await prober.stop()
            await consumer.stop()
            await client.aclose()
        return results

    async def _offer_load(self, producer: Any, prober: Any, background: Iterator[Any], probe_ids: set[str],
                          headers: list[tuple[str, bytes]], rate: float, seconds: float,
                          probe_rate: float | None, probing: tuple[Any, ...] | None, _unused: Any,
                          dumps: Callable[[Any], bytes]) -> dict[str, Any]:
        """Offer `rate` events/s for `seconds` (background simulator events restamped to now,
        plus probes when `probing` is given; probes count towards the rate)."""
        t0 = time.perf_counter()
        sent = 0
        probes_sent = 0
        bg_rate = rate - (probe_rate or 0.0) if probing else rate
        bg_sent = 0
        tick = 0.01
        while True:
            now = time.perf_counter()
            elapsed = now - t0
            if elapsed >= seconds:
                break
            due_bg = int(bg_rate * elapsed) - bg_sent
            for _ in range(max(0, due_bg)):
                topic, key, event = next(background)
                data = event["data"]
                if event["type"].endswith("capacity.reported.v1") and data.get("location") in probe_ids:
                    continue  # the probes own these keys
                event["time"] = format_time(int(time.time() * 1000))
                await producer.send(topic, key=key.encode(), value=dumps(event), headers=headers)
                bg_sent += 1
                sent += 1
            if probing is not None and probe_rate:
                rotation, seq, inflight, by_loc, probes = probing
                due_p = int(probe_rate * elapsed) + 1 - probes_sent
                for _ in range(max(0, due_p)):
                    loc = next(rotation)
                    for _try in range(len(probe_ids)):  # still waiting for its previous probe: take the next
                        if loc.id not in by_loc:
                            break
                        loc = next(rotation)
                    else:
                        probes_sent += 1  # every probe key is still in flight: skip this slot
                        continue
                    n = next(seq)
                    # Unlike any real bed count (< 1,000) yet plausible for a follow-up
                    # place (the validator refuses more than 5,000), and never the previous
                    # probe's value of the same location: its snapshot must change.
                    value = 1_000 + n % 3_000
                    pid = f"bench-probe-{self.run_tag}-{n}"
                    event = partner_event("capacity.reported", loc.partner, pid, int(time.time() * 1000),
                                          {"location": loc.id, "staffed_beds": value})
                    payload = dumps(event)
                    t_sent = time.perf_counter()
                    await prober.send("acute.capacity", key=loc.partner.encode(), value=payload, headers=headers)
                    probe = [loc.id, value, t_sent, None, None, pid]
                    inflight[pid] = probe
                    by_loc[loc.id] = pid
                    probes.append(probe)
                    probes_sent += 1
                    sent += 1
            await asyncio.sleep(tick)
        return {"sent": sent, "seconds": max(time.perf_counter() - t0, 1e-6), "probes": probes_sent}

    # ----------------------------------------------------------------- 5. memory
    def memory(self) -> dict[str, Any]:
        n = self.o.open_encounters
        offsets = end_offsets(self.bootstrap, self.input_topics + [REGION_EVENTS_TOPIC])
        w = self.start_worker("state", "event", offsets)
        self._wait("the state worker to become ready", w.ready, 120, w)
        base_mem = w.memory()
        sehs = self.registry.sehs()
        modes = ("self_referral", "gp_referral", "hap_referral", "specialist_referral", "other")
        headers = kafka_headers(structured=True)
        producer = make_producer(self.bootstrap)
        span = 12 * 3_600_000
        start = FILL_START_MS + 30 * 86_400_000
        t0 = time.perf_counter()
        for i in range(n):
            seh = sehs[i % len(sehs)]
            t = start + i * span // max(n, 1)
            event = partner_event("seh.arrived", seh.partner, f"bench-open-{i}", t,
                                  {"encounter_id": f"bench-open-{i}", "location": seh.id, "arrival_mode": modes[i % len(modes)]})
            producer.send("acute.admissions", key=seh.partner.encode(), value=orjson.dumps(event), headers=headers)
        producer.flush()
        producer.close()
        publish_s = time.perf_counter() - t0
        peak = 0
        t_spawn = time.monotonic()
        with self._progress("open encounters") as bar:
            task = bar.add_task("state", total=n, info="")
            while True:
                total = w.handled()
                peak = max(peak, w.memory()["hwm_bytes"])
                if total is not None:
                    bar.update(task, completed=min(total, n))
                    if total >= n:
                        break
                if not w.alive():
                    raise BenchError(f"the state worker exited:\n    {w.tail()}")
                if time.monotonic() - t_spawn > self.o.phase_timeout:
                    raise BenchError(f"state: only {total} of {n} encounters applied:\n    {w.tail()}")
                time.sleep(0.2)
        apply_s = time.monotonic() - t_spawn
        region_snapshot = self._wait("the region snapshot with the open encounters",
                                     lambda: _region_snapshot(w.status(), self.region, n), 120, w, interval=0.5)
        time.sleep(1.5)  # the table flushes its changelog writes within the commit interval
        mem = w.memory()
        state = asyncio.run(self._changelog_size(w.app_id))
        self._state_worker = w
        return {
            "open_encounters": n,
            "patients_in_region_snapshot": region_snapshot.get("patients"),
            "rss_bytes": mem["rss_bytes"],
            "hwm_bytes": max(mem["hwm_bytes"], peak),
            "rss_before_bytes": base_mem["rss_bytes"],
            "rss_per_encounter_bytes": round((mem["rss_bytes"] - base_mem["rss_bytes"]) / max(n, 1), 1),
            "publish_seconds": round(publish_s, 2),
            "apply_seconds": round(apply_s, 2),
            **state,
        }

    async def _changelog_size(self, app_id: str) -> dict[str, Any]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        topic = f"{app_id}{CHANGELOG_SUFFIX}"
        ends = {(tp.topic, tp.partition): off for tp, off in end_offsets(self.bootstrap, [topic]).items()}
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None,
                                    auto_offset_reset="earliest", client_id="spoedstroom-bench-changelog",
                                    max_partition_fetch_bytes=8 * 1024 * 1024)
        await consumer.start()
        records = 0
        nbytes = 0
        live: dict[bytes, bytes] = {}
        try:
            tps = [TopicPartition(t, p) for (t, p), end in ends.items() if end > 0]
            if tps:
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                remaining = {tp for tp in tps}
                deadline = time.monotonic() + self.o.phase_timeout
                while remaining and time.monotonic() < deadline:
                    batches = await consumer.getmany(timeout_ms=1000, max_records=50000)
                    for tp, recs in batches.items():
                        for rec in recs:
                            size = len(rec.key or b"") + len(rec.value or b"")
                            records += 1
                            nbytes += size
                            if rec.value is None:
                                live.pop(rec.key, None)
                            else:
                                live[rec.key] = rec.key + rec.value
                        if recs and recs[-1].offset + 1 >= ends[(tp.topic, tp.partition)]:
                            remaining.discard(tp)
        finally:
            await consumer.stop()
        # the state as a restore sees it: per region, its entries with its last journal
        # applied (streams/persistence.py), not the table's keys
        by_region: dict[str, dict[str, bytes]] = {}
        for key, record in live.items():
            region, _, name = key.decode(errors="replace").partition("|")
            by_region.setdefault(region, {})[name] = record[len(key):]
        kinds: dict[str, int] = {}
        state_entries = state_bytes = 0
        for stored in by_region.values():
            entries, _journal = persistence.restore(stored)
            for name, value in entries.items():
                kind = re.split(r"[:~]", name, maxsplit=1)[0] or name
                kinds[kind] = kinds.get(kind, 0) + 1
                state_entries += 1
                state_bytes += len(name) + len(orjson.dumps(value))
        return {
            "changelog_topic": topic,
            "changelog_records": records,
            "changelog_bytes": nbytes,
            "changelog_live_keys": len(live),
            "state_entries": state_entries,
            "state_bytes": state_bytes,
            "state_entries_by_kind": dict(sorted(kinds.items(), key=lambda kv: -kv[1])[:12]),
        }

    # --------------------------------------------------------------- 6. recovery
    def recovery(self) -> dict[str, Any]:
        w: WorkerProc = self._state_worker
        n = self.o.open_encounters
        runs = []
        sigs = [signal.SIGTERM] + ([signal.SIGKILL] if self.o.sigkill else [])
        for i, sig in enumerate(sigs):
            stop_s = self._retire(w, sig)
            t0 = time.monotonic()
            w = self._spawn(f"state-restart{i + 1}", "event", w.app_id)
            self._wait("the restarted worker to become ready", w.ready, self.o.phase_timeout, w, interval=0.05)
            t_ready = time.monotonic()
            snap = self._wait("the restored region snapshot", lambda: _region_snapshot(w.status(), self.region, n),
                              self.o.phase_timeout, w, interval=0.05)
            t_restored = time.monotonic()
            # One new event: applied once the event clock releases it (3 s idle-partition rule).
            # Dated just after the open encounters (which span 12 h): a lone event a day
            # ahead would be a clock jump the region holds until confirmed (clock guard).
            seh = self.registry.sehs()[0]
            after_ms = FILL_START_MS + 30 * 86_400_000 + 12 * 3_600_000 + (i + 1) * 60_000
            event = partner_event("seh.arrived", seh.partner, f"bench-after-{i}", after_ms,
                                  {"encounter_id": f"bench-after-{i}", "location": seh.id, "arrival_mode": "other"})
            producer = make_producer(self.bootstrap, linger_ms=0)
            t_sent = time.monotonic()
            producer.send("acute.admissions", key=seh.partner.encode(), value=orjson.dumps(event),
                          headers=kafka_headers(structured=True))
            producer.flush()
            producer.close()
            have = int(snap.get("patients") or n)
            self._wait("the first new event applied after the restart",
                       lambda: _region_snapshot(w.status(), self.region, have + 1), self.o.phase_timeout, w, interval=0.05)
            t_resumed = time.monotonic()
            n = have + 1
            runs.append({
                "signal": signal.Signals(sig).name,
                "stop_seconds": round(stop_s, 2),
                "ready_seconds": round(t_ready - t0, 2),
                "restored_seconds": round(t_restored - t0, 2),
                "first_new_event_seconds": round(t_resumed - t_sent, 2),
                "patients_after_restore": snap.get("patients"),
                "rss_bytes_after_restore": w.memory()["rss_bytes"],
            })
            self.console.print(f"  {runs[-1]['signal']}: stopped in {stop_s:.1f}s; restarted: ready {t_ready - t0:.1f}s, "
                               f"region snapshot restored {t_restored - t0:.1f}s, new event applied "
                               f"{t_resumed - t_sent:.1f}s after publish")
        self._retire(w)
        return {
            "runs": runs,
            "recovery_seconds": max(r["restored_seconds"] for r in runs),
            "note": ("restart = spawn of the new worker process to /status showing the restored region "
                     "snapshot (memory:// store: the whole changelog is replayed)"),
        }


def _kp(tp: Any) -> Any:
    from kafka import TopicPartition

    return TopicPartition(tp.topic, tp.partition)


def _relative(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return path


def _region_snapshot(status: dict[str, Any] | None, region: str, patients: int) -> dict[str, Any] | None:
    """The region snapshot from /status once it holds at least `patients` SEH patients."""
    if not status or not status.get("owner"):
        return None
    snapshot = (status.get("snapshots") or {}).get(f"region:{region}")
    if not isinstance(snapshot, dict):
        return None
    have = snapshot.get("patients")
    if isinstance(have, (int, float)) and have >= patients:
        return snapshot
    return None


# ----------------------------------------------------------------------------- py-spy
def py_spy_binary() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def start_py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    binary = py_spy_binary()
    if binary is None:
        return None
    return subprocess.Popen(
        [binary, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "100",
         "--format", "raw", "--nonblocking", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )


def summarize_py_spy(path: Path, top: int = 15) -> dict[str, Any] | None:
    """Self and inclusive shares per function from py-spy's collapsed stacks."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    total = 0
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    for line in lines:
        stack, _, count = line.rpartition(" ")
        try:
            c = int(count)
        except ValueError:
            continue
        frames = [_short_frame(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += c
        own[frames[-1]] = own.get(frames[-1], 0) + c
        for f in set(frames):
            incl[f] = incl.get(f, 0) + c
    if not total:
        return None

    def ranked(d: dict[str, int]) -> list[dict[str, Any]]:
        return [{"function": k, "share": round(v / total, 4)} for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top]]

    return {"tool": "py-spy record --nonblocking --rate 100", "samples": total, "top_self": ranked(own),
            "top_inclusive": ranked({k: v for k, v in incl.items() if not k.startswith(("<module>", "main ", "run "))}),
            "raw": str(path)}


def _short_frame(frame: str) -> str:
    # "function (path/to/file.py:123)" -> "function (file.py:123)"; idle/native frames kept
    m = re.match(r"^(.*) \((.*?):?(\d*)\)$", frame)
    if not m:
        return frame
    fn, path, line = m.groups()
    parts = Path(path).parts
    for anchor in ("site-packages", "main"):
        if anchor in parts:
            parts = parts[parts.index(anchor) + 1:]
            break
    short = "/".join(parts[-3:])
    return f"{fn} ({short}:{line})" if line else f"{fn} ({short})"


# ---------------------------------------------------------------------------- results
def evaluate_targets(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ratio = (r.get("pipeline") or {}).get("ratio_to_ceiling")
    out["pipeline_ratio"] = {"target": f">= {TARGETS['pipeline_ratio']}", "value": ratio,
                             "met": None if ratio is None else ratio >= TARGETS["pipeline_ratio"]}
    p99 = None
    for row in (r.get("freshness") or {}).get("rates", []):
        if row["rate"] == 100:
            p99 = row["metrics"]["p99_ms"]
    out["freshness_p99_ms_at_100"] = {"target": f"<= {TARGETS['freshness_p99_ms_at_100']:.0f} ms", "value": p99,
                                      "met": None if p99 is None else p99 <= TARGETS["freshness_p99_ms_at_100"]}
    mem = r.get("memory") or {}
    rss = mem.get("hwm_bytes")
    mb = None if rss is None else round(rss / 2**20, 1)
    out["rss_mb_open_encounters"] = {"target": f"<= {TARGETS['rss_mb_open_encounters']:.0f} MB at {mem.get('open_encounters')} open encounters",
                                     "value": mb, "met": None if mb is None else mb <= TARGETS["rss_mb_open_encounters"]}
    rec = (r.get("recovery") or {}).get("recovery_seconds")
    out["recovery_s"] = {"target": f"<= {TARGETS['recovery_s']:.0f} s", "value": rec,
                         "met": None if rec is None else rec <= TARGETS["recovery_s"]}
    return out


def _mb(x: Any) -> str:
    return "-" if not x else f"{x / 2**20:,.0f} MB"


def _n(x: Any, fmt: str = ",.0f") -> str:
    return "-" if x is None else format(x, fmt)


def render_phase(name: str, result: dict[str, Any]) -> Table:
    table = Table(title=f"{name}", show_header=False, title_justify="left")
    for k, v in result.items():
        if isinstance(v, (list, dict)):
            v = orjson.dumps(v).decode()
            if len(v) > 160:
                v = v[:157] + "..."
        table.add_row(k, str(v))
    return table


def latest_markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    reg = r["registry"]
    fill = r.get("fill", {})
    ceil = r.get("ceiling", {})
    pipe = r.get("pipeline", {})
    fresh = r.get("freshness") or {}
    mem = r.get("memory") or {}
    rec = r.get("recovery") or {}
    lines = [
        f"Run {r['started_at']} ({r.get('duration_s', '-')} s), `spoedstroom bench "
        + " ".join(_cli_args(r["options"])) + "`.",
        "",
        f"- Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['ram_bytes'] / 2**30:.1f} GiB RAM, Python {m['python']}, "
        f"load average at start {', '.join(str(x) for x in m.get('loadavg_at_start', []))} (shared, noisy).",
        f"- Broker: {r['options']['bootstrap']} (Tansu, memory-only, when embedded); registry `{reg['path']}` "
        f"({reg['sehs']} SEHs, {reg['locations']} locations, {reg['partners']} partners).",
        f"- N = {_n(fill.get('events'))} events ({_n(fill.get('event_time_span_hours'), '.1f')} simulated hours, "
        f"~{_n(fill.get('events_per_simulated_day'))} events per simulated day, {_n(fill.get('mean_record_bytes'), '.0f')} bytes per record).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| fill (kafka-python producer, raw bytes) | {_n(fill.get('events_per_s'))} events/s |",
        f"| ceiling (aiokafka consumer + orjson.loads) | {_n(ceil.get('events_per_s'))} events/s |",
        f"| pipeline (`spoedstroom worker`, event clock) | {_n(pipe.get('events_per_s'))} events/s "
        f"({_n(pipe.get('seconds'), '.1f')} s from first to last applied{', profiled' if pipe.get('profiled') else ''}) |",
        f"| ratio pipeline / ceiling | {_n(pipe.get('ratio_to_ceiling'), '.3f')} |",
        f"| pipeline worker peak RSS | {_mb(pipe.get('peak_rss_bytes'))} |",
    ]
    for row in fresh.get("rates", []):
        mt, rd = row["metrics"], row["redis"]
        lines.append(
            f"| freshness at {row['rate']:,}/s ({row['achieved_rate']:,}/s achieved, {row['probes']} probes): "
            f"acute.metrics / Redis p50, p95, p99 | {_n(mt['p50_ms'])} / {_n(rd['p50_ms'])}, "
            f"{_n(mt['p95_ms'])} / {_n(rd['p95_ms'])}, {_n(mt['p99_ms'])} / {_n(rd['p99_ms'])} ms |")
    if mem:
        lines += [
            f"| worker RSS with {_n(mem.get('open_encounters'))} open encounters (VmRSS / VmHWM) | "
            f"{_mb(mem.get('rss_bytes'))} / {_mb(mem.get('hwm_bytes'))} ({_n(mem.get('rss_per_encounter_bytes'))} bytes per encounter) |",
            f"| state: live changelog entries / bytes | {_n(mem.get('state_entries'))} / {_mb(mem.get('state_bytes'))} |",
            f"| state: changelog topic records / bytes (uncompacted) | {_n(mem.get('changelog_records'))} / {_mb(mem.get('changelog_bytes'))} |",
            f"| applying {_n(mem.get('open_encounters'))} `seh.arrived` | {_n(mem.get('apply_seconds'), '.1f')} s |",
        ]
    for run in rec.get("runs", []):
        lines.append(
            f"| recovery after {run['signal']}: ready / region snapshot restored / new event applied | "
            f"{run['ready_seconds']:.1f} / {run['restored_seconds']:.1f} / {run['first_new_event_seconds']:.1f} s "
            f"(stop took {run['stop_seconds']:.1f} s) |")
    lines += ["", "Targets (from the issue):", "", "| target | value | met |", "|---|---|---|"]
    for name, t in (r.get("targets") or {}).items():
        met = {True: "yes", False: "**no**", None: "not measured"}[t["met"]]
        lines.append(f"| {name}: {t['target']} | {t['value'] if t['value'] is not None else '-'} | {met} |")
    prof = r.get("profile")
    if prof:
        lines += ["", f"Profile of the pipeline worker ({prof['tool']}, {prof['samples']} samples), top self time:", ""]
        lines += ["| share | function |", "|---|---|"]
        lines += [f"| {p['share'] * 100:.1f}% | `{p['function']}` |" for p in prof["top_self"][:10]]
        lines += ["", "Top inclusive time:", "", "| share | function |", "|---|---|"]
        lines += [f"| {p['share'] * 100:.1f}% | `{p['function']}` |" for p in prof["top_inclusive"][:12]]
    if fresh:
        lines += ["", "Freshness note: " + fresh.get("note", "")]
    return "\n".join(lines)


def _cli_args(opts: dict[str, Any]) -> list[str]:
    args = [f"--events {opts['events']}"]
    if opts.get("freshness"):
        args.append(f"--freshness-seconds {opts['freshness_seconds']:g}")
    else:
        args.append("--skip-freshness")
    if opts.get("memory"):
        args.append(f"--open-encounters {opts['open_encounters']}")
    if not opts.get("recovery"):
        args.append("--skip-recovery")
    if opts.get("profile"):
        args.append("--profile")
    return args


DOC_TEMPLATE = """# Performance

`spoedstroom bench` measures the pipeline on one broker; see the options with
`spoedstroom bench --help`.

## Latest run

{start}
{end}

## Optimisation log
"""


def write_doc(path: Path, r: dict[str, Any]) -> None:
    """Replace the "Latest run" block of docs/performance.md (other sections are kept)."""
    text = path.read_text(encoding="utf-8") if path.exists() else DOC_TEMPLATE.format(start=LATEST_START, end=LATEST_END)
    if LATEST_START not in text or LATEST_END not in text:
        text = text.rstrip() + f"\n\n## Latest run\n\n{LATEST_START}\n{LATEST_END}\n"
    head, rest = text.split(LATEST_START, 1)
    _, tail = rest.split(LATEST_END, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head + LATEST_START + "\n" + latest_markdown(r) + "\n" + LATEST_END + tail, encoding="utf-8")


def write_json(path: Path, r: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(r, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")


def run_bench(options: BenchOptions, console: Console | None = None) -> dict[str, Any]:
    console = console or Console(stderr=True)
    results = Bench(options, console).run()
    if options.out is not None:
        write_json(options.out, results)
        console.print(f"results: {options.out}")
    if options.doc is not None:
        write_doc(options.doc, results)
        console.print(f"updated {options.doc} (section 'Latest run')")
    console.print(latest_markdown(results))
    return results


__all__ = ["BenchOptions", "Bench", "run_bench", "percentile", "counter_sums", "write_doc", "latest_markdown",
           "national_registry_data", "write_national_registry", "asdict"]
