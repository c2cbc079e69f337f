"""`spoedstroom backtest FILE --registry R`: how good the nowcast was on a log (thin shell
over `processors.backtest.run_backtest`): a terminal summary, and an HTML report with
plots plus the figures as JSON (streams/backtest_report.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from processors.backtest import METHODS, BacktestResult, run_backtest
from streams import collector
from streams.commands import input_or_exit, lateness_ms_or_exit, load_or_exit, ndjson_lines, settings_or_exit
from topics.registry import load_registry


def _summary(result: BacktestResult) -> None:
    from rich.console import Console
    from rich.table import Table

    seasonal = result.overall.n > 0
    overall, per_seh = ((result.overall, result.per_seh) if seasonal
                        else (result.overall_all_hours, result.per_seh_all_hours))
    what = ("SEH-hours with the same hour a week before in the log" if seasonal
            else "every SEH-hour (the log is too short for the same-hour-last-week baseline)")
    table = Table(title=f"Nowcast backtest, {result.hours} hours: mean absolute error over {what}",
                  caption="NC nowcast, P persistence, W same hour last week; floor: MAE of a perfect "
                          "forecast of a Poisson count; best in green")
    table.add_column("SEH", overflow="fold")  # ids are long: wrap them rather than cut them
    for name in ("n", "arr/h", "floor"):
        table.add_column(name, justify="right")
    for col in ("arr NC", "arr P", "arr W", "pat NC", "pat P", "pat W"):
        table.add_column(col, justify="right")

    def cells(d: dict[str, float]) -> list[str]:
        best = min(d.values()) if d else None
        return [("n/a" if d.get(m) is None else (f"[bold green]{d[m]:.2f}[/]" if d[m] == best else f"{d[m]:.2f}"))
                for m in METHODS]

    rows = [("overall", overall)] + [(lid, per_seh[lid]) for lid in result.sehs]
    for name, s in rows:
        table.add_row(name, str(s.n), f"{s.mean_arrivals:.2f}", f"{s.poisson_floor:.2f}" if s.poisson_floor else "",
                      *cells(s.arrivals), *cells(s.patients))
    console = Console()
    console.print(table)
    c = result.crowding
    fb = "n/a" if c["forecast_before_it_came"] is None else f"{c['forecast_before_it_came']:.0%}"
    fa = "n/a" if c["false_alarm_ratio"] is None else f"{c['false_alarm_ratio']:.0%}"
    console.print(f"crowding forecast: came and forecast {c['tp']}, missed {c['fn']}, false {c['fp']}; "
                  f"forecast before it came {fb}, false alarms {fa}")
    if result.refused:
        console.print(f"[yellow]{sum(result.refused.values()):,} input line(s) refused[/yellow], not scored: "
                      + ", ".join(f"{reason} {n:,}" for reason, n in result.refused.items())
                      + " (`spoedstroom validate` says which)")


def register(app: typer.Typer) -> None:
    @app.command("backtest")
    def backtest(
        file: Path = typer.Argument(..., help="NDJSON file of input CloudEvents."),
        registry: Optional[str] = typer.Option(None, "--registry", help="Region registry YAML (default: SPOEDSTROOM_REGISTRY)."),
        out: Path = typer.Option(Path("backtest-report"), "--out", help="Directory for index.html, figures.json and the plots."),
        no_report: bool = typer.Option(False, "--no-report", help="Only the terminal summary and figures.json."),
        lateness_seconds: float = typer.Option(120, "--lateness-seconds", help="Reorder lateness (seconds)."),
    ) -> None:
        """Replay a log and score the nowcast at every whole hour against the next 60 minutes."""
        import orjson

        from processors.backtest import as_json

        reg = load_or_exit(load_registry, registry)
        input_or_exit(file)
        lateness_ms = lateness_ms_or_exit(lateness_seconds)
        collector.relax()
        result = run_backtest(ndjson_lines(file), reg, lateness_ms=lateness_ms, retention_ms=settings_or_exit().retention_ms)
        _summary(result)
        out.mkdir(parents=True, exist_ok=True)
        if no_report:
            (out / "figures.json").write_bytes(orjson.dumps(as_json(result), option=orjson.OPT_INDENT_2))
            typer.echo(f"figures: {out / 'figures.json'}")
            return
        from streams.backtest_report import ReportError, write_report

        try:
            page = write_report(result, out, f"Nowcast backtest: {file.name} ({reg.region_id})")
        except ReportError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None
        typer.echo(f"report: {page}")
