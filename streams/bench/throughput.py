"""Phases 1-3: fill the input topics, the ceiling of a plain consumer, the pipeline worker."""

from __future__ import annotations

import asyncio
import subprocess
import time
from typing import Any

import orjson

from streams.bench.common import FILL_START_MS, BenchError, HandledRate
from streams.bench.kafka_io import end_offsets, kp, make_producer, topic_partitions
from streams.bench.profiling import start_py_spy, summarize_py_spy
from streams.bench.stack import BenchBase
from topics.envelope import kafka_headers


class ThroughputPhases(BenchBase):
    """1. fill, 2. ceiling, 3. pipeline."""

    # ------------------------------------------------------------------- 1. fill
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
            tps = [TopicPartition(tp.topic, tp.partition) for tp in topic_partitions(self.bootstrap, self.input_topics)]
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, self.start_offsets.get(kp(tp), 0))
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
        w = self.start_worker("pipeline", "event", self.bench_records_offsets())
        spawn = time.monotonic()
        peak = 0
        profile: dict[str, Any] | None = None
        spy: subprocess.Popen[bytes] | None = None
        spy_out = self.state_dir / "pipeline.pyspy.txt"
        handled = HandledRate(n, spawn)
        t_ready = 0.0
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
                    first = handled.t_first
                    rate = handled.poll(sum(got.values()), now)
                    if handled.t_first and not first and self.o.profile:
                        spy = start_py_spy(w.pid, self.o.profile_seconds, spy_out)
                    bar.update(task, completed=min(handled.last, n), info=handled.progress(rate))
                    if handled.done():
                        break
                why = handled.give_up(now, self.o.phase_timeout)
                if why:
                    raise BenchError(f"pipeline: {why}: {handled.so_far(now)}, worker peak RSS {peak / 2**20:,.0f} MB"
                                     f":\n    {w.tail()}")
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
        method, elapsed, rate = handled.measured(t_done, t_ready)
        ceiling = self.results.get("ceiling", {}).get("events_per_s") or 0.0
        memory = w.memory()
        cpu = w.cpu_seconds()
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
            "worker_start_to_first_applied_s": round(handled.t_first - spawn, 2),
            "applied_at_first_poll": int(handled.c_first),
            "peak_rss_bytes": max(peak, memory["hwm_bytes"]),
            "worker_cpu_seconds": round(cpu, 1),  # from its start (imports and start-up included)
            "profiled": bool(spy is not None),
            "note": "event clock: the tail includes the 3 s idle-partition wait before the last events are released",
        }
        if profile is not None:
            self.results["profile"] = profile
        return result
