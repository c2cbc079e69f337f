"""`spoedstroom simulate`: run the partner emulator into an NDJSON file or onto Kafka.

File mode writes one structured CloudEvent per line (as fast as possible unless
`--speed` says otherwise). Kafka mode publishes to the input topics of events.md with
the partner id as key, paced by event time (`--speed 1` real time, `--speed 60` an hour
per minute, `--speed max` no pacing). A progress display goes to stderr.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from simulator import Scenario, generate, parse_incident, parse_surge, parse_time_arg
from simulator import sink
from topics.codec import format_time
from simulator.nation import generate_nation
from streams.commands import settings_or_exit
from topics.nation import load_nation
from topics.registry import RegistryError

HOUR_MS = 3_600_000


def _default_registry() -> str:

    return settings_or_exit().registry


MAX_HOURS = 8_784
MIN_SPEED, MAX_SPEED = 0.001, 1_000_000.0


def parse_speed(text: str | None) -> float | None:
    """`max` -> None (no pacing); otherwise a factor > 0."""
    if text is None or text.strip().lower() in ("max", "inf", "0"):
        return None
    speed = float(text)
    if not MIN_SPEED <= speed <= MAX_SPEED:  # (also refuses NaN)
        raise ValueError(f"speed must be from {MIN_SPEED:g} to {MAX_SPEED:g}, or 'max'")
    return speed


def simulate(
    registry: Optional[str] = typer.Option(
        None, "--registry", "-r",
        help="Region registry YAML, national file or directory (default: $SPOEDSTROOM_REGISTRY, "
             "else deploy/regions/haaglanden.yaml).",
    ),
    seed: int = typer.Option(1, "--seed", help="Random seed: the same seed gives the same events."),
    hours: float = typer.Option(24.0, "--hours", help="Simulated hours."),
    start: Optional[str] = typer.Option(
        None, "--start",
        help="Start time, ISO 8601 (no offset = Dutch local time). Default: now, to the minute.",
    ),
    speed: Optional[str] = typer.Option(
        None, "--speed",
        help="Pacing by event time: 1 = real time, N = N times faster, max = no pacing. "
             "Default: max for --out, 1 for --kafka.",
    ),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write NDJSON here ('-' = stdout)."),
    kafka: bool = typer.Option(False, "--kafka", help="Publish to Kafka (SPOEDSTROOM_BOOTSTRAP_SERVERS)."),
    bootstrap: Optional[str] = typer.Option(None, "--bootstrap", help="Override the bootstrap servers."),
    surge: Optional[str] = typer.Option(None, "--surge", help="Flu-season surge: START/END:FACTOR (ISO times)."),
    incident: Optional[str] = typer.Option(None, "--incident", help="Major incident: ISO:COUNT (A0/A1 rides)."),
    vvt_shortage: float = typer.Option(1.0, "--vvt-shortage", help="Factor on waits for VVT/ELV/GRZ places."),
    start_occupancy: float = typer.Option(0.85, "--start-occupancy", help="Wards start this full (0..1)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
    mllp: Optional[str] = typer.Option(
        None, "--mllp", help="With --kafka and --hl7-partner: the gateway's MLLP listener, HOST:PORT."),
    hl7_partner: Optional[str] = typer.Option(
        None, "--hl7-partner",
        help="With --mllp: this hospital's SEH and ward events go as HL7 v2 ADT over MLLP through the gateway "
             "(its other events to Kafka with the gateway's pseudonymous encounter ids; the key from "
             "SPOEDSTROOM_PSEUDONYM_KEY or _FILE, the gateway's)."),
) -> None:
    """Generate a seeded, calibrated stream of a region's (or a nation's) partner events."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if (out is None) == (not kafka):
        err.print("[red]give exactly one of --out FILE or --kafka[/red]")
        raise typer.Exit(2)
    try:
        nation = load_nation(registry or _default_registry())
    except RegistryError as exc:
        err.print(f"[red]registry error:[/red] {exc}")
        raise typer.Exit(2) from None
    try:
        start_ms = parse_time_arg(start) if start else int(time.time() // 60 * 60_000)
        scenario = Scenario(
            surge=parse_surge(surge) if surge else None,
            major_incident=parse_incident(incident) if incident else None,
            vvt_shortage=vvt_shortage,
            start_occupancy=start_occupancy,
        )
        pace = parse_speed(speed if speed is not None else ("max" if out is not None else "1"))
        if not 0 < hours <= MAX_HOURS:  # (also refuses NaN)
            raise ValueError(f"--hours must be > 0 and at most {MAX_HOURS} (a leap year)")
        if not 0 <= start_occupancy <= 1 or not 0 < vvt_shortage <= 100:
            raise ValueError("--start-occupancy must be from 0 to 1, --vvt-shortage > 0 and at most 100")
        if nation.national and incident:
            raise ValueError("--incident names no region: simulate a major incident with that region's file")
    except ValueError as exc:
        err.print(f"[red]bad option:[/red] {exc}")
        raise typer.Exit(2) from None
    route = None
    sender: sink.MllpSender | None = None
    if (mllp is None) != (hl7_partner is None) or (mllp is not None and not kafka):
        err.print("[red]--mllp and --hl7-partner go together, with --kafka[/red]")
        raise typer.Exit(2)
    stop = threading.Event()
    if mllp is not None and hl7_partner is not None:
        from adapters.pseudonym import PseudonymKeyError, load_key
        from simulator.hl7_feed import AdtFeed, feed_link

        settings = settings_or_exit()
        try:
            host, _, port = mllp.rpartition(":")
            region = nation.region_of_partner.get(hl7_partner)
            if region is None:
                raise ValueError(f"partner {hl7_partner!r} is not in the registry")
            link = feed_link(nation.regions[region], hl7_partner)
            key = load_key(settings.pseudonym_key, settings.pseudonym_key_file)
            sender = sink.MllpSender(host or "127.0.0.1", int(port), stop_event=stop)
        except (ValueError, PseudonymKeyError) as exc:
            err.print(f"[red]bad option:[/red] {exc}")
            raise typer.Exit(2) from None
        route = sink.AdtRoute(AdtFeed(link), sender, key, log=lambda line: err.print(line, markup=False))
    duration_ms = int(hours * HOUR_MS)
    if nation.national:
        events = generate_nation(nation, start_ms=start_ms, duration_ms=duration_ms, seed=seed, scenario=scenario)
    else:
        (reg,) = nation.regions.values()
        events = generate(reg, start_ms=start_ms, duration_ms=duration_ms, seed=seed, scenario=scenario)

    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    show = not quiet and err.is_terminal
    bar = Progress(
        TextColumn("[bold]simulate[/bold] {task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[events]} events"), TextColumn("sim {task.fields[simtime]}"),
        TimeElapsedColumn(), console=err, disable=not show, transient=False,
    )
    task = bar.add_task(nation.id, total=duration_ms, events=0, simtime=format_time(start_ms))
    last = [0.0]

    def on_event(p: sink.Progress) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.2 and p.last_time_ms is not None:
            last[0] = now
            bar.update(task, completed=p.last_time_ms - start_ms, events=p.events,
                       simtime=format_time(p.last_time_ms))

    def stoppable():  # type: ignore[no-untyped-def]
        for item in events:
            if stop.is_set():
                return
            yield item

    try:
        with bar:
            if out is not None:
                paced = (item for item, _t in sink.paced(stoppable(), pace, stop)) if pace else stoppable()
                if str(out) == "-":
                    result = sink.write_ndjson(paced, sys.stdout.buffer, on_event)
                    sys.stdout.buffer.flush()
                else:
                    with out.open("wb") as fh:
                        result = sink.write_ndjson(paced, fh, on_event)
            else:

                servers = bootstrap or settings_or_exit().bootstrap_servers
                try:
                    result = sink.publish(stoppable(), servers, pace, stop, on_event=on_event, route=route)
                except sink.AckMissing as exc:
                    if not stop.is_set():
                        err.print(f"[red]gateway error ({mllp}):[/red] {exc}")
                        raise typer.Exit(1) from None
                    result = sink.Progress()
                except Exception as exc:  # kafka-python raises NoBrokersAvailable etc.
                    err.print(f"[red]kafka error ({servers}):[/red] {exc}")
                    raise typer.Exit(1) from None
                finally:
                    if sender is not None:
                        sender.close()
            bar.update(task, completed=duration_ms if not stop.is_set() else (result.last_time_ms or start_ms) - start_ms,
                       events=result.events)
    finally:
        signal.signal(signal.SIGINT, previous)
    target = str(out) if out is not None else "kafka"
    topics = ", ".join(f"{t} {n}" for t, n in sorted(result.by_topic.items()))
    err.print(f"{result.events} events to {target}" + (" (stopped)" if stop.is_set() else "") + f": {topics}")
    if sender is not None:
        acks = ", ".join(f"{code or 'none'} {n}" for code, n in sorted(sender.acks.items())) or "none"
        err.print(f"{hl7_partner} over MLLP to {mllp}: ACKs {acks}")


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
