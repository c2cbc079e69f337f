"""`spoedstroom simulate`: option values it cannot run with end in one line and exit
code 2, never a traceback, a run without end or a run out of memory (found by a probe:
NaN hours, a start near the year 1, a surge factor of NaN, an incident of 10^8 rides)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from streams.cli import app
from streams.settings import ROOT


@pytest.mark.parametrize("option", [
    ["--hours", "nan"], ["--hours", "0"], ["--hours", "-1"], ["--hours", "1e9"],
    ["--speed", "nan"], ["--speed", "1e-300"],
    ["--start", "0001-01-01T00:00"], ["--start", "9999-12-31T23:00"],
    ["--surge", "2026-11-16T08:00/2026-11-17T08:00:nan"], ["--surge", "2026-11-16T08:00/2026-11-17T08:00:1e9"],
    ["--incident", "2026-11-16T08:10:100000000"],
    ["--start-occupancy", "nan"], ["--vvt-shortage", "inf"],
])
def test_an_option_value_simulate_cannot_run_with_is_refused(tmp_path, option) -> None:
    res = CliRunner().invoke(app, ["simulate", "--registry", str(ROOT / "deploy" / "regions" / "haaglanden.yaml"), "--quiet",
                                   "--out", str(tmp_path / "out.ndjson"), *option])
    assert res.exit_code == 2 and "bad option" in res.output, (res.exit_code, res.output)
    assert res.exception is None or isinstance(res.exception, SystemExit)
