"""The bench's run: the phases in order, the results, the files they go to."""

from __future__ import annotations

import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from streams.bench.common import BenchOptions, machine_info, relative
from streams.bench.freshness import FreshnessPhase
from streams.bench.report import evaluate_targets, latest_markdown, render_phase, write_doc, write_json
from streams.bench.state import StatePhases
from streams.bench.throughput import ThroughputPhases
from topics.codec import format_time


class Bench(ThroughputPhases, FreshnessPhase, StatePhases):
    """Runs the phases in order and collects the results."""

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
                "path": relative(self.registry_path), "region": self.region,
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
