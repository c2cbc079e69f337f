"""The backtest report: an HTML page with PNG plots and the figures as JSON, from a
`processors.backtest.BacktestResult` (`spoedstroom backtest`).

Plots (matplotlib, the `report` extra): predicted against actual arrivals and patients
per SEH over time, and the mean absolute error of the arrivals by local hour of day for
the nowcast and both baselines. Only counts and errors per SEH-hour are written: no
patient-level data.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from processors.backtest import METHODS, BacktestResult, Scores, as_json
from processors.nowcast import LOCAL

LITERATURE = ("Literature, one hour ahead, four EDs: MAE 1.59-1.82 arrivals with ARIMA/regression against "
              "2.19-2.36 for naive forecasts (Bentham Open TOERGJ-10-1). A Poisson count with mean m cannot "
              "be forecast better than about sqrt(2m/pi) (m = 6.6 gives ~2.05).")


class ReportError(RuntimeError):
    """The report cannot be drawn (matplotlib is missing)."""


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display
        import matplotlib.pyplot as plt
    except ModuleNotFoundError:
        raise ReportError("the backtest report needs matplotlib: pip install 'spoedstroom[report]'") from None
    return plt


def _times(hours: list[int]) -> list[datetime]:
    return [datetime.fromtimestamp(h * 3600, tz=timezone.utc).astimezone(LOCAL) for h in hours]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def write_report(result: BacktestResult, out_dir: Path, title: str) -> Path:
    """Write `index.html`, `figures.json` and the PNG plots into `out_dir`; returns the
    page's path."""
    plt = _pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "figures.json").write_bytes(orjson.dumps(as_json(result), option=orjson.OPT_INDENT_2))
    images: list[tuple[str, str]] = []
    # error by hour of day
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for m in METHODS:
        ys = result.error_by_hour_of_day[m]
        ax.plot(range(24), [float("nan") if y is None else y for y in ys], marker="o", label=m.replace("_", " "))
    ax.set_xlabel("hour of day (local)")
    ax.set_ylabel("MAE of arrivals in 60 min")
    ax.set_xticks(range(0, 24, 2))
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_dir / "error_by_hour_of_day.png", dpi=90)
    plt.close(fig)
    images.append(("error_by_hour_of_day.png", "Mean absolute error of the arrivals by hour of day"))
    for lid in result.sehs:
        col = result.series[lid]
        if not col["hour"]:
            continue
        ts = _times(col["hour"])
        fig, (a1, a2) = plt.subplots(2, 1, figsize=(10, 4.8), sharex=True)
        a1.plot(ts, col["arrivals"], lw=0.8, color="0.4", label="arrivals (actual)")
        a1.plot(ts, col["expected_arrivals"], lw=1.2, label="expected_arrivals_60m")
        a1.set_ylabel("arrivals / 60 min")
        a1.legend(loc="upper left", fontsize=8)
        a2.plot(ts, col["patients"], lw=0.8, color="0.4", label="patients at +60 min (actual)")
        a2.plot(ts, col["predicted_patients"], lw=1.2, label="predicted_patients_60m")
        a2.set_ylabel("patients")
        a2.legend(loc="upper left", fontsize=8)
        for a in (a1, a2):
            a.grid(alpha=0.3)
        a1.set_title(lid)
        fig.autofmt_xdate()
        fig.tight_layout()
        name = f"seh_{_safe(lid)}.png"
        fig.savefig(out_dir / name, dpi=80)
        plt.close(fig)
        images.append((name, f"{lid}: predicted against actual"))
    page = out_dir / "index.html"
    page.write_text(_html(result, title, images), encoding="utf-8")
    return page


def _row(name: str, s: Scores) -> str:
    def cell(d: dict[str, float], m: str) -> str:
        v = d.get(m)
        best = min(d.values()) if d else None
        txt = "n/a" if v is None else f"{v:.2f}"
        return f"<td class='{'best' if v is not None and v == best else ''}'>{txt}</td>"
    cells = "".join(cell(s.arrivals, m) for m in METHODS) + "".join(cell(s.patients, m) for m in METHODS)
    return (f"<tr><td>{html.escape(name)}</td><td>{s.n}</td><td>{s.mean_arrivals:.2f}</td>"
            f"<td>{s.poisson_floor:.2f}</td>{cells}</tr>")


def _html(r: BacktestResult, title: str, images: list[tuple[str, str]]) -> str:
    heads = "".join(f"<th>{m.replace('_', ' ')}</th>" for m in METHODS)
    rows = [_row("overall", r.overall)] + [_row(lid, r.per_seh[lid]) for lid in r.sehs]
    c = r.crowding
    fb = "n/a" if c["forecast_before_it_came"] is None else f"{c['forecast_before_it_came']:.0%}"
    fa = "n/a" if c["false_alarm_ratio"] is None else f"{c['false_alarm_ratio']:.0%}"
    verdict = []
    for what, d in (("expected_arrivals_60m", r.overall.arrivals), ("predicted_patients_60m", r.overall.patients)):
        nc = d.get("nowcast")
        others = [v for m, v in d.items() if m != "nowcast"]
        if nc is None or len(others) < 2:
            verdict.append(f"{what}: not enough history in this log for both baselines (needs over a week).")
        elif nc < min(others):
            verdict.append(f"{what}: the nowcast beats both baselines.")
        else:
            verdict.append(f"{what}: the nowcast does NOT beat both baselines here.")
    imgs = "\n".join(f"<figure><img src='{html.escape(src)}' alt='{html.escape(cap)}'>"
                     f"<figcaption>{html.escape(cap)}</figcaption></figure>" for src, cap in images)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:80em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child{{text-align:left}}
.best{{font-weight:bold;background:#e6f4e6}}figure{{margin:1em 0}}img{{max-width:100%}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>{r.hours} whole hours scored; each SEH's prediction at the hour against what happened in the next
60 minutes. The comparison with the baselines is over the SEH-hours where the same hour a week
before is in the log too.</p>
<ul>{''.join(f'<li>{html.escape(v)}</li>' for v in verdict)}</ul>
<table><tr><th rowspan=2>SEH</th><th rowspan=2>SEH-hours</th><th rowspan=2>mean arrivals / h</th>
<th rowspan=2>Poisson floor (MAE)</th><th colspan=3>MAE expected_arrivals_60m</th>
<th colspan=3>MAE predicted_patients_60m</th></tr><tr>{heads}{heads}</tr>
{''.join(rows)}</table>
<h2>Crowding forecast (NEDOCS level 4 or more in 60 min, while below it)</h2>
<p>Came and forecast: {c['tp']}; came without forecast: {c['fn']}; forecast but did not come: {c['fp']};
neither: {c['tn']}. Forecast before it came: {fb}; false alarms among the forecasts: {fa}.</p>
<p>{html.escape(LITERATURE)}</p>
{imgs}
</body></html>
"""
