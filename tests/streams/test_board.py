"""The terminal board renders the nowcast: expected arrivals per SEH and the advice."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from streams.board import render
from topics.registry import load_registry

ROOT = Path(__file__).resolve().parents[2]


def test_board_shows_expected_arrivals_and_destination_advice() -> None:
    reg = load_registry(ROOT / "deploy" / "regions" / "haaglanden.yaml")
    sehs = [loc.id for loc in reg.sehs()]
    snaps = {f"location:{sehs[0]}": {"nedocs": 50.0, "nedocs_level": 2, "patients": 12, "expected_arrivals_60m": 3.46,
                                     "predicted_nedocs_60m": 61.2, "predicted_nedocs_level_60m": 3, "status": "open"},
             f"region:{reg.region_id}": {"escalation_level": 1, "destination_advice": [
                 {"location": sehs[1], "hospital": reg.locations[sehs[1]].partner, "predicted_nedocs_60m": 12.0,
                  "predicted_nedocs_level_60m": 1},
                 {"location": sehs[0], "hospital": reg.locations[sehs[0]].partner, "predicted_nedocs_60m": 61.2,
                  "predicted_nedocs_level_60m": 3}]}}
    console = Console(width=250, record=True)
    console.print(render(reg, snaps, [], {}))
    text = console.export_text()
    assert "verwacht 60 min" in text and "3.5" in text
    name1 = reg.locations[sehs[1]].name or sehs[1]
    assert "bestemmingsadvies" in text and f"{name1} (12)" in text
    assert text.index(f"{name1} (12)") < text.rindex("(61)")
