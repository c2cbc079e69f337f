"""Phase 4: the same records through N worker processes in one consumer group.

After the one-worker pipeline phase, a new consumer group (a fresh `SPOEDSTROOM_APP_ID`,
so a fresh changelog) gets the pipeline's offsets (the bench's records in the input
topics, the repartition topic from its end) and N `spoedstroom worker` processes are
started in it at once. They share the input partitions (the ingest stage) and split the
regions, i.e. the partitions of the repartition topic (the region stage). The rate is
measured as in the pipeline phase, over the sum of the workers' counters; each worker's
regions are read from its `/status/{region}` owner flags once all records are handled.
"""

from __future__ import annotations

import time
from typing import Any

from streams.bench.common import COUNTER_NAMES, BenchError, HandledRate
from streams.bench.kafka_io import commit_group_offsets
from streams.bench.stack import BenchBase, WorkerProc

CORES_NOTE = ("the machine's {nproc} CPU(s) are shared by the workers, the embedded broker, Redis and the bench "
              "itself (and by other users of the machine): this is a scale-out check, not the speed-up of "
              "workers on their own cores")


class WorkersPhase(BenchBase):
    """4. workers (scale-out): N workers against one on the same records."""

    def scale_out(self) -> dict[str, Any]:
        n = self.o.events
        count = self.o.workers
        app_id = f"bench-{self.run_tag}-workers"
        commit_group_offsets(self.bootstrap, app_id, self.bench_records_offsets())
        ws = [self._spawn(f"workers-{i + 1}", "event", app_id) for i in range(count)]
        spawn = time.monotonic()
        cpu0 = {w.name: w.cpu_seconds() for w in ws}
        last_sums: dict[str, dict[str, float]] = {}
        peak: dict[str, int] = {w.name: 0 for w in ws}
        handled = HandledRate(n, spawn)
        t_all_ready = 0.0
        with self._progress(f"{count} workers") as bar:
            task = bar.add_task("workers", total=n, info="starting workers")
            while True:
                for w in ws:
                    if not w.alive():
                        raise BenchError(f"worker {w.name} exited ({w.proc.returncode}):\n    {w.tail()}")
                    got = w.counters()
                    if got is not None:
                        last_sums[w.name] = got
                    peak[w.name] = max(peak[w.name], w.memory()["hwm_bytes"])
                now = time.monotonic()
                if not t_all_ready and all(w.ready() for w in ws):
                    t_all_ready = now
                rate = handled.poll(sum(sum(s.values()) for s in last_sums.values()), now)
                bar.update(task, completed=min(handled.last, n), info=handled.progress(rate))
                if handled.done():
                    break
                why = handled.give_up(now, self.o.phase_timeout)
                if why:
                    raise BenchError(f"workers: {why}: {handled.so_far(now)} by {count} workers, peak RSS "
                                     + ", ".join(f"{p / 2**20:,.0f} MB" for p in peak.values()))
                time.sleep(0.5)  # as in the pipeline phase: a scrape costs each worker CPU
        method, elapsed, rate = handled.measured(time.monotonic(), t_all_ready)
        owners = self._owners(ws)
        per_worker = []
        for w in ws:
            sums = last_sums.get(w.name, {})
            per_worker.append({
                "name": w.name,
                "regions": owners[w.name],
                "applied": int(sums.get(COUNTER_NAMES[0], 0)),
                "duplicates": int(sums.get(COUNTER_NAMES[1], 0)),
                "deadlettered": int(sums.get(COUNTER_NAMES[2], 0)),
                "cpu_seconds": round(w.cpu_seconds() - cpu0[w.name], 1),
                "peak_rss_bytes": max(peak[w.name], w.memory()["hwm_bytes"]),
            })
        for w in ws:
            self._retire(w)
        owned = [rid for names in owners.values() for rid in names]
        split = {
            "each_region_owned_once": sorted(owned) == sorted(self.nation.region_ids),
            "unowned": [rid for rid in self.nation.region_ids if rid not in owned],
            "owned_twice": sorted({rid for rid in owned if owned.count(rid) > 1}),
            "workers_owning_regions": sum(1 for names in owners.values() if names),
        }
        one = (self.results.get("pipeline") or {}).get("events_per_s")
        ceiling = (self.results.get("ceiling") or {}).get("events_per_s")
        return {
            "workers": count,
            "events": n,
            "applied": sum(p["applied"] for p in per_worker),
            "duplicates": sum(p["duplicates"] for p in per_worker),
            "deadlettered": sum(p["deadlettered"] for p in per_worker),
            "seconds": round(elapsed, 2),
            "events_per_s": round(rate, 1),
            "method": method,
            "one_worker_events_per_s": one,
            "ratio_to_one_worker": round(rate / one, 3) if one else None,
            "ratio_to_ceiling": round(rate / ceiling, 4) if ceiling else None,
            "start_to_all_ready_s": round(t_all_ready - spawn, 2) if t_all_ready else None,
            "start_to_first_applied_s": round(handled.t_first - spawn, 2) if handled.t_first else None,
            "per_worker": per_worker,
            "split": split,
            "nproc": self.results["machine"]["nproc"],
            "note": CORES_NOTE.format(nproc=self.results["machine"]["nproc"]),
        }

    def _owners(self, ws: list[WorkerProc], timeout: float = 15.0) -> dict[str, list[str]]:
        """The regions each worker owns (`owner` in its `/status/{region}`). A worker makes a
        region's runtime on the region's first record or tick (every 0.5 s on the event
        clock), so this waits, up to `timeout`, for every region to have an owner."""
        deadline = time.monotonic() + timeout
        while True:
            owners = {w.name: [rid for rid in self.nation.region_ids if (w.status(rid) or {}).get("owner")]
                      for w in ws}
            owned = [rid for names in owners.values() for rid in names]
            if set(owned) == set(self.nation.region_ids) or time.monotonic() > deadline:
                return owners
            time.sleep(0.5)
