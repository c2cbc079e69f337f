"""Phase 5: freshness on the wall clock, probes among a steady background load."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

from streams.bench.common import LIVE_LATENESS_MS, summary_ms
from streams.bench.kafka_io import end_offsets
from streams.bench.stack import BenchBase, WorkerProc
from topics import catalogue
from topics.codec import format_time
from topics.envelope import kafka_headers, partner_event


class FreshnessPhase(BenchBase):
    """5. freshness: publish -> snapshot latency on the wall clock."""

    # -------------------------------------------------------------- 5. freshness
    def freshness(self) -> dict[str, Any]:
        offsets = end_offsets(self.bootstrap, self.input_topics)
        w = self.start_worker("freshness", "wall", offsets)
        self._wait("the wall-clock worker to become ready", w.ready, 120, w)
        # The runtime loads on the first tick; a probe before that would measure start-up.
        self._wait("the wall-clock worker to tick", lambda: (w.status() or {}).get("owner"), 60, w)
        try:
            rates = asyncio.run(self._freshness(w))
        finally:
            memory = w.memory()
            cpu, alive_s = w.cpu_seconds(), time.monotonic() - w.started
            self._retire(w)
        return {
            "region": self.region,  # the probed locations are this region's ELV/VVT/GRZ
            "reorder_lateness_live_ms": LIVE_LATENESS_MS,
            "note": ("end to end from the probe's publish (event time = now) to the snapshot; on the wall clock "
                     f"every event is held {LIVE_LATENESS_MS} ms (reorder_lateness_live) and released on the next "
                     "record or the 100 ms tick; snapshots go out at most once per second per key"),
            "rates": rates,
            "peak_rss_bytes": memory["hwm_bytes"],
            # CPU seconds per second of its life (start-up included): near 1 means it was CPU-bound
            "worker_cpu_share": round(cpu / max(alive_s, 1e-6), 2),
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
            tps = [TopicPartition(catalogue.METRICS, p) for p in sorted(consumer.partitions_for_topic(catalogue.METRICS) or ())]
            if not tps:
                await consumer._client.force_metadata_update()  # noqa: SLF001 - first metadata fetch
                tps = [TopicPartition(catalogue.METRICS, p) for p in sorted(consumer.partitions_for_topic(catalogue.METRICS) or ())]
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
                    await prober.send(catalogue.CAPACITY, key=loc.partner.encode(), value=payload, headers=headers)
                    probe = [loc.id, value, t_sent, None, None, pid]
                    inflight[pid] = probe
                    by_loc[loc.id] = pid
                    probes.append(probe)
                    probes_sent += 1
                    sent += 1
            await asyncio.sleep(tick)
        return {"sent": sent, "seconds": max(time.perf_counter() - t0, 1e-6), "probes": probes_sent}
