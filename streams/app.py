"""The Faust runtime: the app wired from settings.

Two stages, so that any number of workers can share the input partitions while each
region's state lives in exactly one place:

1. `ingest` (streams/ingest.py) reads the five input topics as raw bytes in batches,
   decodes and validates each record (`topics.validation`), sends rejects unchanged to
   `acute.deadletter` with the reason in headers, and forwards the valid events, packed
   per batch, to the repartition topic `{app id}-region-events` keyed by region (the
   region of the partner, and for a ride into another region's SEH that region too).
2. `regions` (streams/regions.py) applies them with the domain core (`processors.region.RegionProcessor`):
   reorder buffer, dedup, state, metrics, alerts. Each region is one key, so its records
   and its state (the changelogged table `region-state`, written as a journal per record,
   streams/persistence.py) live in one partition: one worker owns a region, and regions
   spread over the workers. On the event clock, what is due follows the input
   partitions' read marks (streams/watermark.py). Outputs (streams/outputs.py) go to
   every sink (streams/sinks.py): `acute.metrics` (throttled per key), `acute.alerts`,
   Redis, Prometheus and webhooks; region snapshots also to the nation agent
   (streams/nation.py) in a deployment of several regions.

A timer sends a `tick` through the repartition topic (every 100 ms on the wall clock,
500 ms on the event clock), so the watermark
moves and (on the wall clock) the rules re-evaluate while nothing arrives, always on the
worker that owns the region and inside the stream (table writes need that).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import faust
import orjson

from processors.nation import NationRouter
from streams import collector, faust_fixes, persistence, web
from streams.ingest import Ingest
from streams.ingest_consumer import IngestConsumer, run_forever
from streams.membership import Memberships, leave_left_behind, member_id
from streams.nation import NationRuntime
from streams.outputs import ALERT_KINDS, Outputs
from streams.readback import true_end_offsets
from streams.record_batches import RecordBatches
from streams.region_runtime import RegionRuntime
from streams.regions import Regions
from streams.settings import Settings
from streams.sinks import RedisSink, WebhookSink
from streams.telemetry import Telemetry
from streams.tables import TableManager
from streams.transport import Transport
from topics import catalogue
from topics.catalogue import INPUT_TOPICS, INPUT_TYPES, ingest_group
from topics.event import Reason
from topics.nation import Nation, nation_of
from topics.registry import Registry
from topics.validation import Validator

log = logging.getLogger(__name__)

# Ticks through the repartition topic move the watermark and (wall clock) the rules while
# no record arrives; on the wall clock they bound how long a due event waits.
# events.md: on the wall clock the watermark moves at least every 100 ms
WALL_CLOCK_TICK_S = 0.1


class Pipeline(Ingest, Regions, Outputs):
    """Builds the Faust app for a nation (one region or many) and wires agents to outputs.

    Each region is one key of the repartition topic: its records, and its state in the
    table, live in that key's partition, so the worker that owns the partition owns the
    region, and regions spread over the workers (events.md, "Many regions, one
    deployment")."""

    def __init__(self, settings: Settings, nation: Nation | Registry) -> None:
        faust_fixes.apply(on_gap=self._offset_gap)
        self.settings = settings
        self.nation = nation if isinstance(nation, Nation) else nation_of(nation)
        self.regions = self.nation.regions
        self.nation.check_placement(settings.internal_partitions)
        self.router = NationRouter(self.nation)
        self.wall_clock = settings.clock == "wall"
        self.validator = Validator(self.nation.combined())
        self.telemetry = Telemetry()
        for region in self.regions:
            self.telemetry.initialise(region, sorted(INPUT_TYPES), [t.name for t in INPUT_TOPICS],
                                      [r.value for r in Reason], list(ALERT_KINDS))
        self.redis = RedisSink(settings.redis_url, self.telemetry)
        external = f"http://{settings.web_host}:{settings.web_port}"
        # alerts go to the webhooks of their own region
        self.webhooks = {rid: WebhookSink(list(reg.webhooks), self.telemetry, external)
                         for rid, reg in self.regions.items()}
        self.runtimes: dict[str, RegionRuntime] = {}
        self.revocations = 0  # partition revocations so far (Regions._load)
        self.deliveries: list[Any] = []
        self.unloaded_entries: dict[str, dict[str, bytes]] = {}
        self.unloaded_alerts: dict[str, set[tuple[str, str]]] = {}
        self.flush_policy = persistence.FlushPolicy(held=settings.journal_flush_bytes,
                                                  bytes=settings.journal_chain_bytes,
                                                  records=settings.journal_flush_records)
        self.nation_runtime = NationRuntime(self) if self.nation.national else None
        self.sinks = self.output_sinks()
        # Per input partition read by this worker: next offset and latest event time.
        self.read_pos: dict[Any, int] = {}
        self.forwards: list[Any] = []
        self.read_time: dict[str, int] = {}
        self.pace_time: dict[str, int] = {}
        self.read_wall: dict[Any, float] = {}  # monotonic time a partition last delivered
        self.marks_lock = asyncio.Lock()
        # Embedded broker only: input partitions whose end offset is being read back, and
        # the ends read (see _probe_ends).
        self.unprobed: set[Any] = set()
        self.true_end: dict[Any, int] = {}
        self.probes: set[asyncio.Future[None]] = set()
        self.memberships = Memberships(settings.state_dir)  # held by run_worker (streams/membership.py)
        self.placement_checked = asyncio.Event()  # see Ingest.ingest_batch
        self.app = self._make_app()
        self._wire()

    # ------------------------------------------------------------------ app
    def _store_options(self) -> dict[str, Any] | None:
        """RocksDB's memory per partition of the state table (`rocksdb://` only)."""
        s = self.settings
        if not s.store.startswith("rocksdb"):
            return None
        return {"write_buffer_size": s.rocksdb_write_buffer_bytes, "max_write_buffer_number": s.rocksdb_write_buffers,
                "block_cache_size": s.rocksdb_block_cache_bytes}

    def _make_app(self) -> faust.App:
        s = self.settings
        brokers = [f"kafka://{hp.strip()}" for hp in s.bootstrap_servers.split(",") if hp.strip()]
        options: dict[str, Any] = {}
        if s.security_protocol.upper().startswith("SASL"):
            import ssl

            options["broker_credentials"] = faust.SASLCredentials(
                username=s.sasl_username,
                password=s.sasl_password,
                mechanism=s.sasl_mechanism or "SCRAM-SHA-512",
                ssl_context=ssl.create_default_context() if s.security_protocol.upper() == "SASL_SSL" else None,
            )
        app = faust.App(
            s.app_id,
            broker=brokers,
            store=s.store,
            datadir=str(Path(s.state_dir) / "faust-data"),
            recovery_consistency_check=not s.embedded_broker,
            autodiscover=False,
            topic_partitions=s.internal_partitions,
            topic_replication_factor=s.replication_factor,
            topic_disable_leader=True,
            consumer_auto_offset_reset="earliest",
            broker_rebalance_timeout=s.rebalance_timeout,
            broker_session_timeout=max(6.0, s.rebalance_timeout * 2),
            broker_heartbeat_interval=s.heartbeat_interval_s,
            broker_commit_interval=s.commit_interval_s,
            stream_buffer_maxsize=s.stream_buffer_records,
            consumer_max_fetch_size=s.consumer_fetch_bytes,
            consumer_group_instance_id=s.group_instance_id or None,
            stream_wait_empty=False,
            table_standby_replicas=0,
            web_enabled=True,
            web_port=s.web_port,
            web_bind=s.web_host,
            web_host=s.web_host,
            web_tables_enabled=False,
            web_router_enabled=False,
            web_graph_enabled=False,
            web_stats_enabled=False,
            web_metrics_enabled=False,
            TableManager=TableManager,  # without Faust's 1 s pause at start (streams/tables.py)
            **options,
        )
        # The consumer's fetch wait is not a Faust setting (streams/transport.py).
        app.transport = Transport(app.conf.broker_consumer, app, fetch_wait_ms=s.consumer_fetch_wait_ms)
        return app

    def _wire(self) -> None:
        app = self.app
        raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
        self.input_names = frozenset(t.name for t in INPUT_TOPICS)
        self.region_events = app.topic(catalogue.region_events(self.settings.app_id), partitions=self.settings.internal_partitions, internal=True, **raw)
        self.deadletter = app.topic(catalogue.DEADLETTER, **raw)
        self.metrics_topic = app.topic(catalogue.METRICS, **raw)
        # Faust's producer wraps aiokafka's, created when the app starts; batches are
        # handed to it directly (Faust's Producer has no batch call).
        self.metrics_batches = RecordBatches(lambda: app.producer._ensure_producer(), catalogue.METRICS)
        self.alerts_topic = app.topic(catalogue.ALERTS, **raw)
        self.table = app.Table(catalogue.STATE_TABLE, default=None, partitions=self.settings.internal_partitions,
                               key_type=bytes, value_type=bytes, options=self._store_options())

        # The input topics are read by a plain consumer (streams/ingest_consumer.py), not
        # an agent: Faust's per-message path cost ~30 times the client's per record.
        self.reader = IngestConsumer(
            self.settings, sorted(self.input_names), ingest=self.ingest_batch, acknowledge=self.acknowledge_forwards,
            on_assigned=self._inputs_assigned,
            on_revoked=self._inputs_revoked, on_gap=self._offset_gap, on_unreadable=self.deadletter_unreadable,
            read_times=None if self.wall_clock else (lambda: self.pace_time))

        self.reader_task: asyncio.Future[None] | None = None

        @app.on_before_shutdown.connect
        async def stop_reader(app_: faust.App, **kwargs: Any) -> None:
            # After Faust's consumer stopped, before its producer's last flush: the
            # reader's final commit flushes the forwards it made first.
            task = self.reader_task
            if task is not None:
                task.cancel()
                await asyncio.wait([task])

        @app.agent(self.region_events, name="regions")
        async def regions(stream: faust.StreamT) -> None:
            async for event in stream.events():
                try:
                    await self.apply_record(event)
                except Exception:  # noqa: BLE001 - see _crash
                    _crash("applying a region record")

        @app.timer(WALL_CLOCK_TICK_S if self.wall_clock else self.settings.tick_event_clock_s)
        async def tick() -> None:
            async with self.marks_lock:
                body = orjson.dumps({"tick": 1, "marks": self._marks_report()})
                for region in self.regions:
                    await self.to_region(region, body)

        @app.timer(self.settings.snapshot_flush_s)
        async def flush() -> None:
            # Snapshots held back by the throttle go out without waiting for a record.
            for rt in list(self.runtimes.values()):
                await self.flush_snapshots(rt)

        if self.settings.malloc_trim_s > 0:
            @app.timer(self.settings.malloc_trim_s)
            async def trim_memory() -> None:
                collector.trim()

        @app.timer(self.settings.telemetry_interval_s)
        async def telemetry() -> None:
            self._observe_lag()
            for rt in list(self.runtimes.values()):
                self._observe_partners(rt)

        @app.task
        async def start_sinks() -> None:
            # Table changelog writes go through this buffer (Settings.producer_buffer_messages).
            self.app.producer.buffer.max_messages = self.settings.producer_buffer_messages
            self.redis.start()
            for sink in self.webhooks.values():
                sink.start()

        @app.on_partitions_revoked.connect
        async def revoked(app_: faust.App, revoked: set, **kwargs: Any) -> None:
            self.forget_stored_entries()
            self.revocations += 1
            self._start_reader()
            gone = {tp.partition for tp in revoked if tp.topic == self.region_events.get_topic_name()}
            if gone:
                log.info("region partitions revoked: %s", sorted(gone))
                for region, rt in list(self.runtimes.items()):
                    if rt.partition in gone:  # rebuilt from the table when the partition returns
                        del self.runtimes[region]

        @app.on_partitions_assigned.connect
        async def assigned(app_: faust.App, assigned: set, **kwargs: Any) -> None:
            # Faust's aiokafka consumer lives in its consumer thread (Faust reads its
            # coordinator the same way for the generation).
            agents_consumer = getattr(getattr(self.app.consumer, "_thread", None), "_consumer", None)
            self.memberships.record(self.settings.app_id, member_id(agents_consumer))
            self._check_internal_partitions()
            self.placement_checked.set()
            self.forget_stored_entries()
            self._start_reader()

        if self.nation_runtime is not None:
            self.nation_runtime.wire(app)
        web.register(self)  # /healthz, /readyz, /metrics, /status (streams/web.py)

    def _start_reader(self) -> None:
        """Start the input topics' reader once, when Faust's consumer first joins its
        group (the first revocation signal comes before the first join, with nothing
        revoked; Faust's producer, which the reader forwards with, is up by then). The two
        groups then join at the same time: on Tansu a static member's join is held 6 s."""
        if self.reader_task is None:
            self._check_internal_partitions()  # when the topic is known already: forward to none
            self.reader_task = asyncio.ensure_future(run_forever(self.reader, _crash))

    def _inputs_assigned(self, inputs: list[Any]) -> None:
        self.memberships.record(ingest_group(self.settings.app_id), member_id(self.reader.consumer))
        if inputs and self.settings.embedded_broker:
            # Until read back, these partitions hold the event-clock watermark.
            self.unprobed.update(inputs)
            task = asyncio.ensure_future(self._probe_ends(inputs))
            self.probes.add(task)  # a reference, so the task is not collected mid-way
            task.add_done_callback(self.probes.discard)

    def _inputs_revoked(self, inputs: list[Any]) -> None:
        for tp in inputs:  # read here no more: if it comes back, from the committed offset
            self.read_pos.pop(tp, None)
            self.read_wall.pop(tp, None)

    def _check_internal_partitions(self) -> None:
        """Stop the worker, with the reason, if the repartition topic exists with other
        partitions than `SPOEDSTROOM_INTERNAL_PARTITIONS` (made by a first start with
        another setting). With fewer, a region placed beyond them failed in the middle
        of forwarding a batch; with more, the regions' records and their state would be
        cut into partitions differently. A setting to put right, not data: checked at
        every assignment, before any record of the new assignment is read."""
        name = self.region_events.get_topic_name()
        found = self.app.consumer.topic_partitions(name)
        wanted = self.settings.internal_partitions
        if found is not None and found != wanted:
            log.critical("%s has %d partitions, SPOEDSTROOM_INTERNAL_PARTITIONS says %d: set it to %d, or start a "
                         "new SPOEDSTROOM_APP_ID, which makes new internal topics (docs/operations.md, Scaling); "
                         "the worker stops (exit %d)", name, found, wanted, found, CRASH_EXIT_CODE)
            _exit_for_restart()

    async def _probe_ends(self, tps: list[Any]) -> None:
        """Embedded broker: the true end offsets of newly assigned input partitions. Tansu
        reports the last batch's base offset + 1; a worker that took over a partition in
        the middle of a batch would count it as read to the end, release the clock past
        events it has not read yet, and raise feed_silent for partners that did send."""
        ends = await true_end_offsets(self.settings, tps)
        self.true_end.update(ends)
        self.unprobed.difference_update(tps)

    def _offset_gap(self, topic: str, partition: int, first: int, last: int) -> None:
        """Faust skipped offsets first..last as a gap. Partners' producers that use
        transactions leave such gaps (control records); otherwise records were lost."""
        log.warning("consumer skipped offsets %d..%d of %s/%d as a gap (transaction markers, or records lost)",
                    first, last, topic, partition)
        self.telemetry.offset_gaps.labels(topic).inc(last - first + 1)

    # ----------------------------------------------------------------- web
    async def status(self, region: str) -> dict[str, Any]:
        """A region's latest snapshots (no per-encounter data) and open alerts."""
        rt = self.runtimes.get(region)
        if rt is not None:
            snapshots = rt.processor.snapshots()
            alerts = rt.processor.open_alerts()
            owner = True
        else:  # another worker owns the region: read what it published to Redis
            snapshots, alerts, owner = await self._status_from_redis(region), [], False
        return {"region": region, "owner": owner, "snapshots": snapshots, "open_alerts": alerts,
                "redis_connected": self.redis.connected}

    async def nation_status(self) -> dict[str, Any]:
        """The nation's latest snapshot, as published to Redis (any worker can answer)."""
        snapshots = await self._status_from_redis(self.nation.id)
        return {"nation": self.nation.id, "regions": list(self.regions),
                "snapshot": snapshots.get(f"nation:{self.nation.id}"), "redis_connected": self.redis.connected}

    async def _status_from_redis(self, region: str) -> dict[str, Any]:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self.settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
        out: dict[str, Any] = {}
        try:
            async for key in client.scan_iter(match=f"spoedstroom:{region}:*:*"):
                name = key.decode()
                if name.endswith(":alerts"):
                    continue
                value = await client.get(key)
                if value:
                    _, _, scope, ident = name.split(":", 3)
                    out[f"{scope}:{ident}"] = orjson.loads(value)
        except Exception:  # noqa: BLE001 - status is best effort when Redis is down
            pass
        finally:
            await client.aclose()
        return out


CRASH_EXIT_CODE = 70  # EX_SOFTWARE: restart me (Compose and Kubernetes restart policies do)


def _crash(what: str) -> None:
    """Stop the process at once, from inside the agent.

    Bad input never gets here: it is dead-lettered, and an event whose application (or
    the judging of its instant) fails is quarantined (apply_record). An exception here
    is the runtime failing (a send refused, state unreadable) with no event to blame. Faust would ack the record or batch
    anyway (its stream iterators ack in a `finally`), restart the agent, and the events
    would be lost without a trace. Exiting before that ack leaves the offsets where
    they were: the restarted worker processes them again (at-least-once, made exact by
    dedup and the alert read-back)."""
    # The stack without the exception's message: a message may quote a value, and no
    # record content may reach a log line.
    error, _value, tb = sys.exc_info()
    log.critical("failed %s (%s); the worker stops without acknowledging it (exit %d) and must be restarted\n%s",
                 what, getattr(error, "__name__", "?"), CRASH_EXIT_CODE, "".join(traceback.format_tb(tb)))
    _exit_for_restart()


def _exit_for_restart() -> None:
    """End the process at once with CRASH_EXIT_CODE, its log lines written first: no
    shutdown that would acknowledge what was read, and the orchestrator restarts it."""
    logging.shutdown()
    os._exit(CRASH_EXIT_CODE)


def faust_worker(pipeline: Pipeline, loglevel: str = "warning") -> Any:
    """The Faust worker that runs `pipeline`'s app, logging at `loglevel`."""
    from faust.worker import Worker

    worker = Worker(pipeline.app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    # Faust's terminal spinner, when it sets up logging, lowers the root logger to DEBUG
    # so that every library's debug call builds a log record for it (aiokafka logs each
    # send: 7.5% of a busy worker's time). The worker runs without a spinner: the root
    # logger keeps `loglevel`.
    worker.spinner = None
    return worker


def run_worker(settings: Settings, nation: Nation | Registry, loglevel: str = "warning") -> None:
    """Run the Faust worker until stopped (SIGINT/SIGTERM)."""
    collector.limit_arenas(settings.malloc_arenas)  # before any thread starts
    pipeline = Pipeline(settings, nation)
    if not settings.group_instance_id:  # streams/membership.py
        leave_left_behind(pipeline.memberships, settings.kafka_client_options())
    pipeline.memberships.hold()
    worker = faust_worker(pipeline, loglevel)
    collector.relax(settings.gc_young_threshold)
    worker.execute_from_commandline()
