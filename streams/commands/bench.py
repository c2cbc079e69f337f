"""`spoedstroom bench`: the performance benchmark (see streams/bench/ and docs/performance.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console


def _rates(text: str) -> tuple[int, ...]:
    try:
        rates = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise typer.BadParameter("rates: comma-separated integers, e.g. 10,100,1000") from None
    if any(r <= 0 for r in rates):
        raise typer.BadParameter("rates must be > 0")
    return rates


def bench(
    events: int = typer.Option(500_000, "--events", "-n", min=1, help="Simulated events to fill the input topics with."),
    freshness_seconds: float = typer.Option(20.0, "--freshness-seconds", min=0, help="Seconds of probing per offered rate."),
    rates: str = typer.Option("10,100,1000", "--rates", help="Offered rates (events/s) for the freshness phase."),
    open_encounters: int = typer.Option(100_000, "--open-encounters", min=0, help="Open SEH encounters for the memory/state phase "
                                        "(spread over every SEH of the nation)."),
    workers: int = typer.Option(2, "--workers", min=1, help="Workers of the scale-out phase: the pipeline's records again through "
                                "N workers in one consumer group, against one (1: leave the phase out)."),
    skip_freshness: bool = typer.Option(False, "--skip-freshness", help="Skip the freshness phase."),
    skip_memory: bool = typer.Option(False, "--skip-memory", help="Skip the memory/state phase (and recovery)."),
    skip_recovery: bool = typer.Option(False, "--skip-recovery", help="Skip the kill/restart recovery phase."),
    sigkill: bool = typer.Option(True, "--sigkill/--no-sigkill", help="Also recover after SIGKILL (after the SIGTERM run)."),
    profile: bool = typer.Option(False, "--profile", help="Sample the pipeline worker with py-spy (if installed) during the pipeline phase."),
    profile_seconds: float = typer.Option(30.0, "--profile-seconds", min=1, help="Seconds of py-spy sampling."),
    bootstrap: Optional[str] = typer.Option(None, "--bootstrap", help="Use this Kafka instead of a fresh embedded broker."),
    redis_url: Optional[str] = typer.Option(None, "--redis-url", help="Redis with --bootstrap (default: SPOEDSTROOM_REDIS_URL)."),
    registry: Optional[str] = typer.Option(None, "--registry", help="A nation: a directory of region files, a national file or one "
                                           "region file (default: deploy/regions/nl, 11 regions, 85 SEHs). With --core a single "
                                           "region file (default: deploy/regions/nl-synthetic.yaml, 80 SEHs)."),
    seed: int = typer.Option(1, "--seed", help="Simulator seed."),
    out: Path = typer.Option(Path("bench-results/bench.json"), "--out", help="Write the results as JSON here."),
    doc: Optional[Path] = typer.Option(None, "--doc", help="Markdown file whose 'Latest run' section is rewritten (default: docs/performance.md)."),
    no_doc: bool = typer.Option(False, "--no-doc", help="Do not touch docs/performance.md."),
    state_dir: Optional[Path] = typer.Option(None, "--state-dir", help="Folder for the embedded stack and worker logs (default: a temporary one)."),
    phase_timeout: float = typer.Option(900.0, "--phase-timeout", min=10, help="Give up a phase after this many seconds."),
    state_store: str = typer.Option("rocksdb://", "--state-store", help="Store of the memory/recovery worker "
                                    "(rocksdb:// as deployed; memory:// replays the whole changelog on a restart)."),
    static_membership: bool = typer.Option(False, "--static-membership/--dynamic-membership",
                                           help="The memory/recovery worker restarts under one group instance name "
                                           "(SPOEDSTROOM_GROUP_INSTANCE_ID), or joins anew each time (as deployed)."),
    core: bool = typer.Option(False, "--core", help="Only the domain core, no Kafka: replay vs a plain decode loop "
                              "over a simulated national day, state per open encounter, peak RSS."),
    hours: float = typer.Option(24.0, "--hours", min=0.1, help="With --core: simulated hours."),
    repeat: int = typer.Option(3, "--repeat", min=1, help="With --core: runs of each measurement (medians are reported)."),
) -> None:
    """Measure throughput (ceiling vs pipeline, one worker vs N), freshness, memory/state and recovery
    on one broker, on a nation; with --core, the domain core alone."""
    if core:
        _core(registry, hours, repeat, open_encounters, profile, seed, out, doc, not no_doc)
        return
    from streams.bench import DEFAULT_DOC, BenchError, BenchOptions, run_bench
    from streams.devstack import StackError

    console = Console(stderr=True, soft_wrap=True)
    options = BenchOptions(
        events=events, freshness_seconds=freshness_seconds, rates=_rates(rates), open_encounters=open_encounters,
        workers=workers,
        freshness=not skip_freshness, memory=not skip_memory, recovery=not skip_recovery and not skip_memory,
        sigkill=sigkill, profile=profile, profile_seconds=profile_seconds, bootstrap=bootstrap, redis_url=redis_url,
        registry=registry, seed=seed, out=out, doc=None if no_doc else (doc or DEFAULT_DOC), state_dir=state_dir,
        phase_timeout=phase_timeout, state_store=state_store, static_membership=static_membership,
    )
    try:
        run_bench(options, console)
    except (BenchError, StackError) as exc:
        console.print(f"[red]bench failed:[/red] {exc}")
        raise typer.Exit(1) from None


def _core(registry: Optional[str], hours: float, repeat: int, open_encounters: int, profile: bool, seed: int,
          out: Path, doc: Optional[Path], update_doc: bool) -> None:
    from streams.bench import DEFAULT_DOC, NATIONAL_REGISTRY, bench_registry, write_json
    from streams.bench_core import CoreOptions, core_markdown, run_core, write_core_doc

    console = Console(stderr=True, soft_wrap=True)
    options = CoreOptions(hours=hours, repeat=repeat, open_encounters=open_encounters, profile=profile, seed=seed)
    result = run_core(bench_registry(registry), Path(registry) if registry else NATIONAL_REGISTRY, options, console)
    target = out.with_name("core.json") if out == Path("bench-results/bench.json") else out
    write_json(target, result)
    console.print(f"results: {target}")
    if update_doc:
        path = doc or DEFAULT_DOC
        write_core_doc(path, result)
        console.print(f"updated {path} (section 'The domain core alone')")
    console.print(core_markdown(result))
    for line in result.get("profile_top_tottime", []):
        console.print(line, markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
