"""Registry errors name the file, the entry and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from topics_examples import REGISTRY

from topics.registry import RegistryError, load_registry


def _write(tmp_path: Path, raw: object) -> Path:
    p = tmp_path / "region.yaml"
    p.write_text(yaml.safe_dump(raw) if not isinstance(raw, str) else raw, encoding="utf-8")
    return p


BASE = yaml.safe_load(REGISTRY.read_text(encoding="utf-8"))


def _with(**changes: object) -> dict[str, object]:
    return {**BASE, **changes}


@pytest.mark.parametrize(
    ("raw", "entry", "problem"),
    [
        ("region: [unclosed", "YAML", "not valid YAML"),
        ("", "top level", "expected a mapping"),
        (_with(region={"name": "x"}), "region", "id"),
        (_with(partners={"hmc": "hospital"}), "partners", "list"),
        (_with(partners=[{"id": "hmc", "kind": "clinic"}]), "partner 'hmc'", "kind 'clinic'"),
        (_with(partners=BASE["partners"] + [{"id": "hmc", "kind": "hospital"}]), "partner 'hmc'", "duplicate"),
        (_with(locations=BASE["locations"] + [{"id": "x-seh", "partner": "nobody", "kind": "seh", "staffed_beds": 3}]), "location 'x-seh'", "partner 'nobody'"),
        (_with(locations=[{"id": "x", "partner": "hmc", "kind": "ward", "staffed_beds": 3}]), "location 'x'", "bed_type"),
        (_with(locations=[{"id": "x", "partner": "hmc", "kind": "seh", "staffed_beds": -2}]), "location 'x'", "staffed_beds"),
        (_with(locations=[{"id": "x", "partner": "wzh", "kind": "seh", "staffed_beds": 2}]), "location 'x'", "hospital"),
        (_with(thresholds={"nedocs_alert": 4}), "thresholds", "nedocs_alert"),
        (_with(thresholds={"long_stay_days": {"clinical": "two weeks"}}), "thresholds.long_stay_days.clinical", "number"),
        (_with(actions={5: ["x"]}), "actions.5", "levels"),
        (_with(webhooks=["ftp://x"]), "webhooks", "http"),
    ],
)
def test_errors_name_file_entry_problem(tmp_path: Path, raw: object, entry: str, problem: str) -> None:
    path = _write(tmp_path, raw)
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    message = str(info.value)
    assert str(path) in message
    assert entry in message
    assert problem in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="not found"):
        load_registry(tmp_path / "nope.yaml")


def test_example_region_loads() -> None:
    reg = load_registry(REGISTRY)
    assert reg.region_id == "haaglanden"
    assert len(reg.hospitals()) >= 3 and len(reg.sehs()) >= 3
    assert {p.kind for p in reg.partners.values()} >= {"hospital", "ambulance", "hap", "ggz", "vvt"}
