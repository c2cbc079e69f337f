"""The bench's run: the phases in order, the results, the files they go to."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from streams.bench.common import BenchError, BenchOptions, machine_info, relative
from streams.bench.freshness import FreshnessPhase
from streams.bench.report import evaluate_targets, latest_markdown, render_phase, write_doc, write_json
from streams.bench.state import StatePhases
from streams.bench.throughput import ThroughputPhases
from streams.bench.workers import WorkersPhase
from topics.codec import format_time


class Bench(ThroughputPhases, WorkersPhase, FreshnessPhase, StatePhases):
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
                "recovery": o.recovery, "sigkill": o.sigkill, "state_store": o.state_store,
                "static_membership": o.static_membership, "profile": o.profile, "seed": o.seed,
                "workers": o.workers, "registry": o.registry, "phase_timeout": o.phase_timeout, "bootstrap": o.bootstrap or "embedded",
            },
            "registry": {
                "path": relative(self.registry_path), "nation": self.nation.id, "national": self.nation.national,
                "regions": len(self.nation.regions),
                "sehs": len(self.combined.sehs()), "locations": len(self.combined.locations),
                "partners": len(self.combined.partners),
                "seh_treatment_spaces": sum(s.staffed_beds for s in self.combined.sehs()),
                # the one region that the freshness probes and the /status reads look at
                "region": self.region, "region_sehs": len(self.registry.sehs()),
                "region_locations": len(self.registry.locations),
            },
        }
        tmp: tempfile.TemporaryDirectory[str] | None = None
        if o.state_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="spoedstroom-bench-")
            self.state_dir = Path(tmp.name)
        else:
            self.state_dir = Path(o.state_dir)
            self.state_dir.mkdir(parents=True, exist_ok=True)
        # A SIGTERM (e.g. `timeout`) unwinds like an error, so the workers and the embedded
        # stack are stopped and the phases finished so far stay in the JSON file.
        previous = signal.signal(signal.SIGTERM, _terminated)
        try:
            self._stack_up()
            # Freshness first, on topics still empty: the embedded broker's fetches slow
            # down with the size of a partition's log (after the 500,000-event fill no probe
            # came through within 28 s), which Apache Kafka's offset index does not.
            if o.freshness and o.rates and o.freshness_seconds > 0:
                self._phase("freshness", self.freshness)
            self._phase("fill", self.fill)
            self._phase("ceiling", self.ceiling)
            self._phase("pipeline", self.pipeline)
            if o.workers > 1:
                self._phase("workers", self.scale_out)
            if o.memory and o.open_encounters > 0:
                self._phase("memory", self.memory)
                if o.recovery and "error" not in self.results["memory"]:
                    self._phase("recovery", self.recovery)
        except Terminated as exc:  # keep what was measured; the doc says where it stopped
            self.results["stopped"] = str(exc)
        finally:
            signal.signal(signal.SIGTERM, previous)
            for w in self.workers:
                w.stop(signal.SIGKILL, timeout=10)
            if self.embedded is not None:
                self.embedded.down()
            if tmp is not None:
                failed = "stopped" in self.results or any(isinstance(v, dict) and "error" in v
                                                          for v in self.results.values())
                if sys.exc_info()[0] is not None or failed:  # keep the logs of a failed run
                    self.console.print(f"[yellow]logs kept in {tmp.name}[/yellow]")
                    tmp._finalizer.detach()  # type: ignore[attr-defined]
                else:
                    tmp.cleanup()
        self.results["finished_at"] = format_time(int(time.time() * 1000))
        self.results["duration_s"] = round(time.monotonic() - t0, 1)
        self.results["targets"] = evaluate_targets(self.results)
        return self.results

    def _phase(self, name: str, fn: Callable[[], dict[str, Any]]) -> None:
        """Run one phase. A phase that cannot finish (a timeout, a worker that exits) is
        recorded with its error (which says how far it got) and the run goes on with the
        phases that do not depend on it; fill and ceiling are needed by all."""
        self.console.rule(f"[bold]{name}")
        t0 = time.monotonic()
        try:
            result = fn()
        except Terminated as exc:
            self.results[name] = {"error": f"{exc} after {time.monotonic() - t0:.0f} s in this phase",
                                  "phase_seconds": round(time.monotonic() - t0, 1)}
            raise
        except BenchError as exc:
            if name in ("fill", "ceiling"):
                raise
            self.console.print(f"[red]{name} did not finish:[/red] {exc}")
            for w in list(self.workers):  # whatever the phase left running
                self._retire(w, signal.SIGKILL)
            result = {"error": str(exc).split("\n", 1)[0]}
        result.setdefault("phase_seconds", round(time.monotonic() - t0, 1))
        # the machine is shared: how busy it was (1-minute load average) when the phase ended
        result["loadavg_1min_after"] = round(os.getloadavg()[0], 2)
        self.results[name] = result
        if self.o.out is not None:  # what is finished so far, should the run stop later
            write_json(self.o.out, {**self.results, "partial": True})
        self.console.print(render_phase(name, result), soft_wrap=False)


class Terminated(BenchError):
    """The run was stopped from outside (SIGTERM): no further phase runs."""


def _terminated(signum: int, frame: Any) -> None:
    raise Terminated(f"stopped by {signal.Signals(signum).name}")


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
    failed = [name for name, r in results.items() if isinstance(r, dict) and "error" in r]
    if "stopped" in results:
        raise BenchError(f"{results['stopped']}; results and the doc written for the phases so far")
    if failed:
        raise BenchError(f"phase(s) that did not finish: {', '.join(failed)} (results and the doc written)")
    return results
