"""`spoedstroom backtest`: the scoring with hand-computed numbers, and the command on a
few simulated hours of one region (report, figures, plots)."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

import simulator.core as simulator_core
from processors.backtest import Point, poisson_mae, score
from streams.cli import app
from topics.registry import load_registry

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_767_596_400_000  # 2026-01-05T07:00Z, a Monday morning


def test_poisson_mae_is_the_noise_floor():
    assert poisson_mae(0) == 0.0
    # X ~ Poisson(1), median 1: E|X - 1| = 2 * P(X = 0) = 2/e
    assert poisson_mae(1.0) == pytest.approx(2 / math.e)
    assert poisson_mae(6.6) == pytest.approx(math.sqrt(2 * 6.6 / math.pi), abs=0.05)


def test_score_against_both_baselines_over_the_same_hours():
    # one SEH, hours 0..170: the nowcast always says 2 arrivals and 5 patients; 3 arrive
    # every hour and 5 are present: persistence and last week are exact, the nowcast 1 off
    pts = {h: Point(h, 2.0, 5.0, 5, 2, 4 if h == 169 else 2) for h in range(171)}
    arrivals = {b: 3 for b in range(172)}
    r = score(["s"], {"s": pts}, {"s": arrivals})
    # scored: hours with the next hour known (0..169); with last week too: 168, 169
    assert r.hours == 170
    assert r.overall.n == 2
    assert r.overall.arrivals == {"nowcast": 1.0, "persistence": 0.0, "same_hour_last_week": 0.0}
    assert r.overall.patients == {"nowcast": 0.0, "persistence": 0.0, "same_hour_last_week": 0.0}
    assert r.overall_all_hours.n == 170 and r.overall_all_hours.arrivals["nowcast"] == 1.0
    assert r.overall.mean_arrivals == 3.0
    # crowding: forecast once (at 169), level 2 an hour later: a false alarm
    assert r.crowding["fp"] == 1 and r.crowding["tp"] == 0 and r.crowding["false_alarm_ratio"] == 1.0
    assert r.crowding["forecast_before_it_came"] is None


def test_backtest_command_writes_report_and_figures(tmp_path):
    reg_path = ROOT / "deploy" / "regions" / "haaglanden.yaml"
    reg = load_registry(reg_path)
    log = tmp_path / "log.ndjson"
    log.write_bytes(b"".join(orjson.dumps(ev) + b"\n" for _, _, ev in simulator_core.generate(
        reg, start_ms=T0 + 30 * 60_000, duration_ms=4 * 3_600_000, seed=3)))
    out = tmp_path / "report"
    res = CliRunner(env={"COLUMNS": "160"}).invoke(app, ["backtest", str(log), "--registry", str(reg_path),
                                                      "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "Nowcast backtest" in res.output and "overall" in res.output
    figures = orjson.loads((out / "figures.json").read_bytes())
    # from 08:00 to 11:00 scored (11:00 has no next hour within the log)
    assert figures["hours"] == 3
    assert set(figures["per_seh"]) == {loc.id for loc in reg.sehs()}
    assert figures["overall"]["n"] == 0  # no week of history: no same-hour-last-week baseline
    assert figures["overall_all_hours"]["n"] == 3 * 5
    assert set(figures["overall_all_hours"]["mae_expected_arrivals"]) == {"nowcast", "persistence"}
    page = (out / "index.html").read_text()
    assert "error_by_hour_of_day.png" in page and "1.59-1.82" in page
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) == 1 + 5 and all((out / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)
