"""`spoedstroom replay FILE`: the processors over an NDJSON log, without Kafka, on the
event clock; prints every event the pipeline would publish as NDJSON (thin shell over
`processors.replay.run_replay`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import orjson
import typer

from processors.replay import run_replay
from streams import collector
from streams.commands import input_or_exit, lateness_ms_or_exit, load_or_exit, ndjson_lines, settings_or_exit
from topics.nation import load_nation


def register(app: typer.Typer) -> None:
    @app.command("replay")
    def replay(
        file: Path = typer.Argument(..., help="NDJSON file of input CloudEvents ('-' for stdin)."),
        registry: Optional[str] = typer.Option(None, "--registry", help="Region registry YAML, national file or directory of region files "
                                                  "(default: SPOEDSTROOM_REGISTRY)."),
        final: bool = typer.Option(False, "--final", help="Only the last snapshot per key, every alert, and a summary line."),
        lateness_seconds: float = typer.Option(120, "--lateness-seconds", help="Reorder lateness (seconds)."),
    ) -> None:
        """Replay an event log through the processors and print what would be published."""
        reg = load_or_exit(load_nation, registry)
        input_or_exit(file)
        lateness_ms = lateness_ms_or_exit(lateness_seconds)
        collector.relax()
        out = sys.stdout.buffer
        opt = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
        retention_ms = settings_or_exit().retention_ms
        for rec in run_replay(ndjson_lines(file), reg, final=final, lateness_ms=lateness_ms, retention_ms=retention_ms):
            out.write(orjson.dumps(rec, option=opt))
        out.flush()
