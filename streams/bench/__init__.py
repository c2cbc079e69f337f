"""`spoedstroom bench`: the performance benchmark of the streaming pipeline.

One run, on one broker (a fresh embedded Tansu broker + Redis on free ports in a temporary
state folder, or an existing Kafka via `bootstrap`), on a nation (by default the example
nation `deploy/regions/nl/`, 11 ROAZ regions, 85 SEHs; `--registry` takes a directory, a
national file or one region file, read as the worker reads it), measures:

1. **fill**: N simulated events of the nation (`simulator.nation.generate_nation`)
   produced as raw bytes with kafka-python;
2. **ceiling**: a plain aiokafka consumer reading those records from the beginning and
   decoding every value with orjson (what Python can do at all on this machine);
3. **pipeline**: `spoedstroom worker` on the nation (event clock, a fresh consumer group)
   over the same records, from the first event applied until applied + duplicate +
   dead-lettered = N (polled from its /metrics), and the ratio pipeline / ceiling;
4. **workers**: the same records through N workers in one new consumer group, their
   rate against one worker's, and which regions each worker owned;
5. **freshness** (run first, on empty topics): a worker on the wall clock with background simulator load at steady
   offered rates (10, 100, 1,000 events/s, event times = now) plus probe events in the
   nation's largest region (`capacity.reported` with a unique `staffed_beds`, locations
   rotated so that no key is probed twice within 2 s): publish -> snapshot in
   `acute.metrics` and in Redis, p50/p95/p99 (nearest rank);
6. **memory and state**: a fresh worker with `open_encounters` open SEH encounters spread
   over every SEH of the nation: its RSS (VmRSS, VmHWM) and the size of its changelog
   topic (all records and the live entries);
7. **recovery**: SIGTERM (and SIGKILL) of that worker and a restart on its changelog:
   time until /readyz, until /status shows the largest region's and then every region's
   restored snapshot, until a new event is applied.

Each worker gets its own consumer group (`SPOEDSTROOM_APP_ID`) whose input offsets are
committed up front (at the start of the bench's records, or at the current end), so the
phases never see each other's records and the changelog is fresh per phase. Results go to
JSON and to the "Latest run" section of docs/performance.md.

Modules: `common` (options, constants, helpers), `registry` (the bench's nation, its
largest region, the synthetic registry of `--core`), `kafka_io`, `stack` (broker, Redis,
worker processes), one per group of phases (`throughput`, `workers`, `freshness`,
`state`), `profiling` (py-spy), `report` (targets, markdown, JSON) and `runner` (the
phases in order).
"""

from __future__ import annotations

from streams.bench.common import (
    DEFAULT_DOC, LATEST_END, LATEST_START, BenchError, BenchOptions, counter_sums, percentile, proc_memory,
)
from streams.bench.registry import NATIONAL_REGISTRY, bench_registry, national_registry_data, write_national_registry
from streams.bench.report import latest_markdown, write_doc, write_json
from streams.bench.runner import Bench, run_bench

__all__ = ["DEFAULT_DOC", "LATEST_END", "LATEST_START", "NATIONAL_REGISTRY", "Bench", "BenchError", "BenchOptions",
           "bench_registry", "counter_sums", "latest_markdown", "national_registry_data", "percentile", "proc_memory",
           "run_bench", "write_doc", "write_json", "write_national_registry"]
