"""`spoedstroom validate` on a good and a bad partner feed."""

from __future__ import annotations

from pathlib import Path

from topics_examples import EXAMPLES, REGISTRY, T0
from typer.testing import CliRunner

from streams.cli import app
from topics.codec import dumps
from topics.envelope import partner_event

runner = CliRunner()


def _feed(tmp_path: Path, lines: list[bytes]) -> Path:
    p = tmp_path / "feed.ndjson"
    p.write_bytes(b"\n".join(lines) + b"\n")
    return p


def _good_lines() -> list[bytes]:
    return [
        dumps(partner_event(t, partner, f"ev-{i}", T0 + i * 1000, data))
        for i, (t, (partner, data)) in enumerate(EXAMPLES.items())
    ]


def test_good_feed(tmp_path: Path) -> None:
    path = _feed(tmp_path, _good_lines())
    result = runner.invoke(app, ["validate", str(path), "--registry", str(REGISTRY)])
    assert result.exit_code == 0, result.output
    assert "all 22 lines valid" in result.output
    assert "seh.arrived" in result.output


def test_bad_feed(tmp_path: Path) -> None:
    good = _good_lines()
    partner, data = EXAMPLES["seh.arrived"]
    lines = [
        good[0],
        b"{not json",  # line 2
        good[0],  # line 3: duplicate (warning only)
        dumps(partner_event("seh.arrived", partner, "x-1", T0, {**data, "arrival_mode": "helicopter"})),  # 4
        b"",  # blank line 5 is skipped
        dumps(partner_event("seh.arrived", "hmc", "x-2", T0, data)),  # 6: foreign location
    ]
    path = _feed(tmp_path, lines)
    result = runner.invoke(app, ["validate", str(path), "--registry", str(REGISTRY)])
    assert result.exit_code == 1, result.output
    out = result.output
    assert "line 2: invalid_json" in out
    assert "line 3: duplicate" in out
    assert "line 4: schema" in out and "arrival_mode" in out
    assert "line 6: foreign_location" in out
    assert "3 of 5 lines invalid" in out


def test_registry_from_environment(tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    missing = tmp_path / ("a-long-directory-name-" * 3) / "missing.yaml"  # longer than a terminal line
    monkeypatch.setenv("SPOEDSTROOM_REGISTRY", str(missing))
    path = _feed(tmp_path, _good_lines())
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    # the whole path on one line, as in a CI log (no wrapping at the console's width)
    assert str(missing) in result.output


def test_wall_clock_flag(tmp_path: Path) -> None:
    partner, data = EXAMPLES["seh.triaged"]
    path = _feed(tmp_path, [dumps(partner_event("seh.triaged", partner, "f-1", 4_102_444_800_000, data))])
    assert runner.invoke(app, ["validate", str(path), "-r", str(REGISTRY)]).exit_code == 0
    result = runner.invoke(app, ["validate", str(path), "-r", str(REGISTRY), "--wall-clock"])
    assert result.exit_code == 1 and "line 1: future_time" in result.output
