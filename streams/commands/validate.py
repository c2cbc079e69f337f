"""`spoedstroom validate FILE`: check a partner's NDJSON feed against contract v1.

For partners' integrators before going live: every line is decoded exactly as the
pipeline would (`topics.validation.Validator`), problems are printed with their line
number, reason and detail, and a summary table follows. Exit code 1 when any line is
invalid. Repeated (`source`, `id`) pairs are reported as duplicates (a warning: the
pipeline counts them once) but do not fail the run.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from streams.commands import input_or_exit, ndjson_lines
from topics.event import Reason, Rejected
from topics.nation import load_nation
from topics.registry import RegistryError
from topics.validation import Validator


def _default_registry() -> str:
    from streams.settings import Settings

    return Settings.from_env().registry


def validate(
    file: Path = typer.Argument(..., help="NDJSON file: one CloudEvent (structured JSON) per line ('-': standard input)."),
    registry: Optional[str] = typer.Option(
        None,
        "--registry",
        "-r",
        help="Region registry YAML (default: $SPOEDSTROOM_REGISTRY, else deploy/regions/haaglanden.yaml).",
    ),
    wall_clock: bool = typer.Option(
        False, "--wall-clock", help="Also reject events more than 5 minutes ahead of now (future_time)."
    ),
    max_problems: int = typer.Option(1000, "--max-problems", help="Print at most this many problems."),
) -> None:
    """Validate a partner's NDJSON feed line by line and print a summary."""
    console = Console(highlight=False, soft_wrap=True)
    try:
        # a nation validates against every partner and location of all its regions
        reg = load_nation(registry or _default_registry()).combined()
    except RegistryError as exc:
        console.print(f"[red]registry error:[/red] {exc}")
        raise typer.Exit(2) from None
    input_or_exit(file)
    validator = Validator(reg)
    lines = valid = blank = duplicates = printed = 0
    invalid: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    seen: set[tuple[str, str]] = set()
    for lineno, raw in enumerate(ndjson_lines(file), start=1):
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            blank += 1
            continue
        lines += 1
        now_ms = int(time.time() * 1000) if wall_clock else None
        try:
            event = validator.decode(line, wall_now_ms=now_ms)
        except Rejected as rej:
            invalid[rej.reason.value] += 1
            if printed < max_problems:
                printed += 1
                console.print(
                    f"line {lineno}: [red]{rej.reason.value}[/red]: {escape(rej.detail)}",
                    soft_wrap=True,
                )
            continue
        valid += 1
        by_type[event.type] += 1
        key = (event.source, event.id)
        if key in seen:
            duplicates += 1
            if printed < max_problems:
                printed += 1
                console.print(
                    f"line {lineno}: [yellow]duplicate[/yellow] (warning): "
                    f"{escape(event.source)} id {escape(repr(event.id))} seen before; counted once",
                    soft_wrap=True,
                )
        else:
            seen.add(key)

    n_invalid = sum(invalid.values())
    summary = Table(title=f"{file.name} against region {reg.region_id}")
    summary.add_column("")
    summary.add_column("count", justify="right")
    summary.add_row("lines", str(lines))
    summary.add_row("valid", str(valid))
    summary.add_row("invalid", str(n_invalid))
    summary.add_row("duplicate (warning)", str(duplicates))
    for reason in Reason:
        if invalid[reason.value]:
            summary.add_row(f"  invalid: {reason.value}", str(invalid[reason.value]))
    console.print(summary, soft_wrap=False)
    if by_type:
        types = Table(title="valid events by type")
        types.add_column("type")
        types.add_column("count", justify="right")
        for name, count in sorted(by_type.items()):
            types.add_row(name, str(count))
        console.print(types, soft_wrap=False)
    if n_invalid:
        console.print(f"[red]{n_invalid} of {lines} lines invalid[/red]")
        raise typer.Exit(1)
    console.print(f"[green]all {lines} lines valid[/green]")


def register(app: typer.Typer) -> None:
    """Add the `validate` command to the CLI."""
    app.command("validate")(validate)
