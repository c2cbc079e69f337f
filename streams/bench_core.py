"""`spoedstroom bench --core`: the domain core alone, no Kafka (issue 12).

Generates a national day with the simulator (the bench's national registry, ~80 SEHs),
then measures in one process, over the same NDJSON lines:

- the **decode loop**: `orjson.loads` of every line, nothing else: the ceiling of any
  Python consumer of these lines;
- the **validation loop**: `topics.validation.Validator.decode` of every line (decode,
  the contract's JSON Schema, the registry's checks, the `Event`), nothing else: what
  the contract costs before the region does anything, a floor under any replay;
- **replay**: `processors.replay.run_replay(lines, final=True)`: validation, reorder
  buffer, dedup, clock guard, the region's state, rules and snapshots;
- their ratios to the decode loop (the issue's target: replay >= 0.05), as medians of
  `repeat` runs each;
- the state per open SEH encounter: RSS growth of a fresh processor taking
  `open_encounters` arrivals that never leave, divided by their number;
- the peak RSS of this process (`ru_maxrss`: the lines themselves included).

Figures go to the JSON file and to the "Core" block of docs/performance.md. Nothing
here is asserted: the machines are shared and noisy.
"""

from __future__ import annotations

import cProfile
import gc
import io
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from processors.region import RegionProcessor
from processors.replay import run_replay
from simulator.core import generate
from streams import collector
from streams.bench import proc_memory
from topics import compiled
from topics.codec import dumps, format_time, parse_time
from topics.event import Event
from topics.registry import Registry
from topics.validation import Validator

CORE_START = "<!-- bench:core:start -->"
CORE_END = "<!-- bench:core:end -->"
DAY_MS = 86_400_000
START = "2026-11-16T00:00:00Z"


@dataclass
class CoreOptions:
    hours: float = 24.0
    repeat: int = 3
    open_encounters: int = 100_000
    profile: bool = False
    seed: int = 1


def _timed(fn: Callable[[], Any]) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def national_day(registry: Registry, hours: float, seed: int) -> list[bytes]:
    """The simulator's events of `hours` of the registry's partners, as NDJSON lines."""
    items = generate(registry, start_ms=parse_time(START), duration_ms=int(hours * 3_600_000), seed=seed)
    return [dumps(ev) for _topic, _key, ev in items]


def decode_loop(lines: list[bytes]) -> None:
    loads = orjson.loads
    for line in lines:
        loads(line)


def validation_loop(lines: list[bytes], registry: Registry) -> None:
    decode = Validator(registry).decode
    for line in lines:
        decode(line)


def replay_final(lines: list[bytes], registry: Registry) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for record in run_replay(lines, registry, final=True):
        if "summary" in record:
            summary = record["summary"]
    return summary


def state_per_open_encounter(registry: Registry, n: int) -> dict[str, Any]:
    """RSS growth of a processor holding `n` SEH encounters that arrived and never left."""
    if n <= 0:
        return {}
    sehs = [lid for lid, loc in registry.locations.items() if loc.kind == "seh"]
    start = parse_time(START)
    step = max(1, (6 * 3_600_000) // n)  # all within six hours: none leaves the windows
    gc.collect()
    before = proc_memory(os.getpid())["rss_bytes"]
    proc = RegionProcessor(registry, reorder_lateness_ms=0)
    t0 = time.perf_counter()
    for i in range(n):
        lid = sehs[i % len(sehs)]
        partner = registry.locations[lid].partner
        ev = Event(f"open-{i}", f"/partners/{partner}", partner, "seh.arrived", start + i * step,
                   {"encounter_id": f"open-{i}", "location": lid, "arrival_mode": "self_referral"})
        proc.offer(ev)
        if i % 1000 == 999:
            proc.release(ev.time)
    proc.release_all()
    seconds = time.perf_counter() - t0
    gc.collect()
    grown = proc_memory(os.getpid())["rss_bytes"] - before
    patients = sum(s.get("patients", 0) for k, s in proc.snapshots().items() if k.startswith("location:"))
    return {"open_encounters": n, "patients_counted": patients, "rss_growth_mb": round(grown / 2**20, 1),
            "process_rss_mb": round(proc_memory(os.getpid())["rss_bytes"] / 2**20, 1),
            "process_peak_rss_mb": round(proc_memory(os.getpid())["hwm_bytes"] / 2**20, 1),
            "bytes_per_encounter": round(grown / n), "apply_seconds": round(seconds, 2),
            "state_json_mb": round(len(orjson.dumps(proc.dump())) / 1e6, 1)}


def state_in_fresh_process(registry_path: Path, n: int) -> dict[str, Any]:
    """`state_per_open_encounter` in a new interpreter, so freed memory of the replay
    runs cannot hide the growth."""
    if n <= 0:
        return {}
    done = subprocess.run([sys.executable, "-m", "streams.bench_core", "state", str(registry_path), str(n)],
                          capture_output=True, check=True, timeout=1800)
    result: dict[str, Any] = orjson.loads(done.stdout)
    return result


def child_replays(lines: list[bytes], registry_path: Path, repeat: int, core: str) -> list[float]:
    """`replay_final` timed as in this process, in a fresh child process running the
    sources or the compiled core (`core`, topics/compiled.py): both from the same start
    (a fresh heap, unlike this process after generating the day)."""
    with tempfile.NamedTemporaryFile(suffix=".ndjson") as day:
        day.write(b"\n".join(lines))
        day.flush()
        done = subprocess.run([sys.executable, "-m", "streams.bench_core", "replay", str(registry_path), day.name,
                               str(repeat)], capture_output=True, check=True, timeout=3600,
                              env={**os.environ, compiled.SETTING: core})
    seconds: list[float] = orjson.loads(done.stdout)
    return [round(x, 2) for x in seconds]


def compiled_against_sources(lines: list[bytes], registry_path: Path, repeat: int, decode_s: float) -> dict[str, Any]:
    """The compiled core against the sources, each replaying in a child process, when
    the compiled core is built from the current sources; else why not."""
    if not compiled.built():
        return {"skipped": "the compiled core is not built from these sources (scripts/compile_core.py)"}
    source = child_replays(lines, registry_path, repeat, "source")
    built = child_replays(lines, registry_path, repeat, "compiled")
    source_med, built_med = statistics.median(source), statistics.median(built)
    return {"source_replay_seconds": source, "replay_seconds": built,
            "replay_events_per_s": round(len(lines) / built_med),
            "ratio_replay_to_decode": round(decode_s / built_med, 4),
            "speedup": round(source_med / built_med, 2)}


def run_core(registry: Registry, registry_path: Path, options: CoreOptions, console: Console) -> dict[str, Any]:
    collector.relax()  # as `replay` runs
    console.print(f"generating {options.hours:g} h of {len(registry.partners)} partners "
                  f"({sum(1 for x in registry.locations.values() if x.kind == 'seh')} SEHs) ...")
    lines = national_day(registry, options.hours, options.seed)
    size_mb = sum(map(len, lines)) / 1e6
    console.print(f"{len(lines):,} events, {size_mb:.0f} MB; timing decode loop and replay x{options.repeat}")
    decode_s: list[float] = []
    validate_s: list[float] = []
    replay_s: list[float] = []
    summary: dict[str, Any] = {}
    for _ in range(options.repeat):
        decode_s.append(_timed(lambda: decode_loop(lines)))
        validate_s.append(_timed(lambda: validation_loop(lines, registry)))

        def one_replay() -> None:
            nonlocal summary
            summary = replay_final(lines, registry)

        replay_s.append(_timed(one_replay))
    decode_med, replay_med = statistics.median(decode_s), statistics.median(replay_s)
    validate_med = statistics.median(validate_s)
    result: dict[str, Any] = {
        "events": len(lines),
        "input_mb": round(size_mb, 1),
        "registry": {"partners": len(registry.partners), "locations": len(registry.locations),
                     "sehs": sum(1 for x in registry.locations.values() if x.kind == "seh")},
        "decode_loop_events_per_s": round(len(lines) / decode_med),
        "replay_events_per_s": round(len(lines) / replay_med),
        "ratio_replay_to_decode": round(decode_med / replay_med, 4),
        "validation_loop_events_per_s": round(len(lines) / validate_med),
        "ratio_validation_to_decode": round(decode_med / validate_med, 4),
        # the replay's time budget at the target ratio, and how much of it validation takes
        "target_replay_seconds": round(decode_med / 0.05, 2),
        "validation_share_of_target": round(validate_med / (decode_med / 0.05), 2),
        "decode_seconds": [round(x, 3) for x in decode_s],
        "validation_seconds": [round(x, 3) for x in validate_s],
        "replay_seconds": [round(x, 2) for x in replay_s],
        "summary": summary,
        "national_year_minutes_at_this_rate": round(70_000_000 / (len(lines) / replay_med) / 60, 1),
    }
    result["core"] = compiled.active()
    console.print("timing the replay on the sources and on the compiled core (child processes) ...")
    result["compiled"] = compiled_against_sources(lines, registry_path, options.repeat, decode_med)
    if options.profile:
        prof = cProfile.Profile()
        prof.enable()
        replay_final(lines, registry)
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(15)
        result["profile_top_tottime"] = buf.getvalue().splitlines()[-25:]
    lines = []  # free them before the state measurement
    console.print(f"state of {options.open_encounters:,} open encounters (fresh process) ...")
    result["state"] = state_in_fresh_process(registry_path, options.open_encounters)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["measured_at"] = format_time(int(time.time() * 1000))
    return result


def core_markdown(r: dict[str, Any]) -> str:
    st = r.get("state") or {}
    rows = [
        "| figure | value |",
        "|---|---|",
        f"| input | {r['events']:,} events of a simulated national day ({r['registry']['sehs']} SEHs), {r['input_mb']} MB NDJSON |",
        f"| decode loop (`orjson.loads` per line), median | {r['decode_loop_events_per_s']:,} events/s |",
        f"| `replay --final` ({'the compiled core' if r.get('core') == 'compiled' else 'the sources'}), median | "
        f"{r['replay_events_per_s']:,} events/s |",
        f"| ratio replay / decode loop (target >= 0.05) | {r['ratio_replay_to_decode']} |",
        f"| validation loop (`Validator.decode` per line: the contract's checks alone), median | "
        f"{r['validation_loop_events_per_s']:,} events/s, ratio {r['ratio_validation_to_decode']} to the decode loop |",
        f"| the replay's time at the target (0.05) / validation's share of it | "
        f"{r['target_replay_seconds']} s / {round(100 * r['validation_share_of_target'])}% |",
        f"| a national year (70 M events) at this rate | {r['national_year_minutes_at_this_rate']} min |",
        f"| runs (s): decode / validation / replay | {r['decode_seconds']} / {r['validation_seconds']} / "
        f"{r['replay_seconds']} |",
    ]
    built = r.get("compiled") or {}
    if "replay_seconds" in built:
        rows += [
            f"| `replay --final` on the compiled core (mypyc, `SPOEDSTROOM_CORE=compiled`, a fresh process), "
            f"median | {built['replay_events_per_s']:,} events/s: {built['speedup']}x the sources in a fresh process |",
            f"| ratio compiled replay / decode loop | {built['ratio_replay_to_decode']} |",
            f"| runs (s), fresh processes: sources / compiled | {built['source_replay_seconds']} / "
            f"{built['replay_seconds']} |",
        ]
    elif built:
        rows.append(f"| compiled core | not measured: {built['skipped']} |")
    if st:
        rows += [
            f"| {st['open_encounters']:,} open SEH encounters: RSS growth | {st['rss_growth_mb']} MB "
            f"({st['bytes_per_encounter']:,} bytes each; state as JSON {st['state_json_mb']} MB); "
            f"that process's peak RSS {st['process_peak_rss_mb']} MB (target < 400 MB) |",
        ]
    rows.append(f"| peak RSS of the process (lines in memory included) | {r['peak_rss_mb']} MB |")
    return f"Measured {r['measured_at']} by `spoedstroom bench --core`.\n\n" + "\n".join(rows)


def write_core_doc(path: Path, r: dict[str, Any]) -> None:
    """Replace the "Core" block of docs/performance.md (other sections are kept)."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    if CORE_START not in text or CORE_END not in text:
        text = text.rstrip() + f"\n\n## The domain core alone (`spoedstroom bench --core`)\n\n{CORE_START}\n{CORE_END}\n"
    head, rest = text.split(CORE_START, 1)
    _, tail = rest.split(CORE_END, 1)
    path.write_text(head + CORE_START + "\n" + core_markdown(r) + "\n" + CORE_END + tail, encoding="utf-8")


if __name__ == "__main__":  # the fresh processes of state_in_fresh_process and child_replays
    from topics.registry import load_registry

    collector.relax()  # as the worker and replay run
    what, registry_file = sys.argv[1], load_registry(sys.argv[2])
    if what == "state":
        sys.stdout.buffer.write(orjson.dumps(state_per_open_encounter(registry_file, int(sys.argv[3]))))
    else:
        day_lines = Path(sys.argv[3]).read_bytes().split(b"\n")
        times = [_timed(lambda: replay_final(day_lines, registry_file)) for _ in range(int(sys.argv[4]))]
        sys.stdout.buffer.write(orjson.dumps(times))
