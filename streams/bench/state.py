"""Phases 6-7: memory and state with many open encounters, recovery after a kill."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from typing import Any

import orjson

from streams import persistence
from streams.bench.common import FILL_START_MS, BenchError
from streams.bench.kafka_io import end_offsets, make_producer
from streams.bench.stack import BenchBase, WorkerProc
from topics import catalogue
from topics.envelope import kafka_headers, partner_event


class StatePhases(BenchBase):
    """6. memory and state; 7. recovery (kills and restarts the memory phase's worker)."""

    def state_worker_env(self) -> dict[str, str]:
        """The memory phase's worker and its restarts: the store and the group membership
        of the options (by default as deployed: RocksDB, a stable instance name)."""
        env = {"SPOEDSTROOM_STORE": self.o.state_store}
        if self.o.static_membership:
            env["SPOEDSTROOM_GROUP_INSTANCE_ID"] = f"bench-{self.run_tag}-state-worker"
        return env

    # ----------------------------------------------------------------- 6. memory
    def memory(self) -> dict[str, Any]:
        n = self.o.open_encounters
        offsets = end_offsets(self.bootstrap, self.input_topics)
        w = self.start_worker("state", "event", offsets, self.state_worker_env())
        self._wait("the state worker to become ready", w.ready, 120, w)
        base_mem = w.memory()
        # spread over every SEH of the nation (round robin), so every region holds its share
        sehs = self.combined.sehs()
        expected = {rid: 0 for rid in self.nation.region_ids}
        for i in range(n):
            expected[self.nation.region_of_location[sehs[i % len(sehs)].id]] += 1
        self._expected_patients = expected
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
            producer.send(catalogue.ADMISSIONS, key=seh.partner.encode(), value=orjson.dumps(event), headers=headers)
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
        patients = self._wait("every region's snapshot with its open encounters",
                              lambda: self._nation_patients(w, expected), 120, w, interval=0.5)
        time.sleep(1.5)  # the table flushes its changelog writes within the commit interval
        mem = w.memory()
        state = asyncio.run(self._changelog_size(w.app_id))
        self._state_worker = w
        return {
            "open_encounters": n,
            "spread": f"round robin over the {len(sehs)} SEHs of the {len(expected)} region(s)",
            "region": self.region,
            "patients_in_region_snapshot": patients[self.region],
            "patients_in_nation": sum(patients.values()),
            "open_encounters_by_region": expected,
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

        topic = catalogue.changelog(app_id, catalogue.STATE_TABLE)
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

    # --------------------------------------------------------------- 7. recovery
    def recovery(self) -> dict[str, Any]:
        w = self._state_worker
        if w is None:
            raise BenchError("recovery needs the memory phase's worker")
        expected = dict(self._expected_patients)
        runs = []
        sigs = [signal.SIGTERM] + ([signal.SIGKILL] if self.o.sigkill else [])
        for i, sig in enumerate(sigs):
            stop_s = self._retire(w, sig)
            t0 = time.monotonic()
            w = self._spawn(f"state-restart{i + 1}", "event", w.app_id, self.state_worker_env())
            self._wait("the restarted worker to become ready", w.ready, self.o.phase_timeout, w, interval=0.05)
            t_ready = time.monotonic()
            snap = self._wait(f"the restored snapshot of {self.region}",
                              lambda: _region_snapshot(w.status(), self.region, expected[self.region]),
                              self.o.phase_timeout, w, interval=0.05)
            t_restored = time.monotonic()
            by_region = self._restore_times(w, expected, t0)
            t_all = time.monotonic()
            # One new event: applied once the event clock releases it (3 s idle-partition rule).
            # Dated just after the open encounters (which span 12 h): a lone event a day
            # ahead would be a clock jump the region holds until confirmed (clock guard).
            seh = self.registry.sehs()[0]
            after_ms = FILL_START_MS + 30 * 86_400_000 + 12 * 3_600_000 + (i + 1) * 60_000
            event = partner_event("seh.arrived", seh.partner, f"bench-after-{i}", after_ms,
                                  {"encounter_id": f"bench-after-{i}", "location": seh.id, "arrival_mode": "other"})
            producer = make_producer(self.bootstrap, linger_ms=0)
            t_sent = time.monotonic()
            producer.send(catalogue.ADMISSIONS, key=seh.partner.encode(), value=orjson.dumps(event),
                          headers=kafka_headers(structured=True))
            producer.flush()
            producer.close()
            have = int(snap.get("patients") or expected[self.region])
            self._wait("the first new event applied after the restart",
                       lambda: _region_snapshot(w.status(), self.region, have + 1), self.o.phase_timeout, w, interval=0.05)
            t_resumed = time.monotonic()
            expected[self.region] = have + 1
            runs.append({
                "signal": signal.Signals(sig).name,
                "stop_seconds": round(stop_s, 2),
                "ready_seconds": round(t_ready - t0, 2),
                "region_restored_seconds": round(t_restored - t0, 2),
                "restored_seconds": round(t_all - t0, 2),
                "restored_seconds_by_region": by_region,
                "first_new_event_seconds": round(t_resumed - t_sent, 2),
                "patients_after_restore": snap.get("patients"),
                "rss_bytes_after_restore": w.memory()["rss_bytes"],
            })
            self.console.print(f"  {runs[-1]['signal']}: stopped in {stop_s:.1f}s; restarted: ready {t_ready - t0:.1f}s, "
                               f"{self.region} restored {t_restored - t0:.1f}s, every region restored "
                               f"{t_all - t0:.1f}s, new event applied {t_resumed - t_sent:.1f}s after publish")
        self._retire(w)
        last = runs[-1]  # after SIGKILL when that ran (the target), else after SIGTERM
        return {
            "runs": runs,
            "region": self.region,
            "recovery_signal": last["signal"],
            "recovery_seconds": last["restored_seconds"],
            "note": ("restart = spawn of the new worker process to /status showing every region's restored "
                     "snapshot with all its open encounters (memory:// store: the whole changelog is replayed); "
                     f"the new event goes to {self.region}"),
        }

    def _restore_times(self, w: WorkerProc, expected: dict[str, int], t0: float) -> dict[str, float]:
        """Seconds from `t0` until each region's snapshot (`/status/{region}`) holds its
        expected patients, polled every 0.2 s until all do."""
        times: dict[str, float] = {}
        deadline = time.monotonic() + self.o.phase_timeout
        while len(times) < len(expected):
            for rid, want in expected.items():
                if rid not in times and (want == 0 or _region_snapshot(w.status(rid), rid, want) is not None):
                    times[rid] = round(time.monotonic() - t0, 2)
            if len(times) == len(expected):
                break
            if not w.alive():
                raise BenchError(f"worker {w.name} exited while restoring:\n    {w.tail()}")
            if time.monotonic() > deadline:
                missing = sorted(set(expected) - set(times))
                raise BenchError(f"recovery: regions {missing} not restored after {self.o.phase_timeout:.0f} s")
            time.sleep(0.2)
        return times

    def _nation_patients(self, w: WorkerProc, expected: dict[str, int]) -> dict[str, int] | None:
        """SEH patients per region from `/status/{region}` once every region's snapshot
        holds at least its expected number (None before)."""
        out: dict[str, int] = {}
        for rid, want in expected.items():
            if want == 0:  # no open encounter there (fewer encounters than SEHs)
                out[rid] = 0
                continue
            snapshot = _region_snapshot(w.status(rid), rid, want)
            if snapshot is None:
                return None
            out[rid] = int(snapshot.get("patients") or 0)
        return out


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
