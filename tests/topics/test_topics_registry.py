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


def _partner(**changes: object) -> dict[str, object]:
    return _with(partners=[{**BASE["partners"][0], **changes}, *BASE["partners"][1:]])


def _location(**changes: object) -> dict[str, object]:
    return _with(locations=[{**BASE["locations"][0], **changes}, *BASE["locations"][1:]])


# Nine levels of ten aliases each: a billion strings once expanded (stringified, or
# turned into JSON by the board), from a few hundred bytes.
BOMB = "[&a [x, x, x, x, x, x, x, x, x, x], " + ", ".join(
    f"&{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(8)) + "]"


@pytest.mark.parametrize(("raw", "problem"), [
    # a YAML bomb named as a partner's name: refused, not expanded
    (yaml.safe_dump({k: v for k, v in BASE.items() if k != "partners"})
     + f"partners: [{{id: hmc, kind: hospital, name: {BOMB}}}]\n", "name must be a string"),
    ("region: {id: r, name: " + "[" * 20_000 + "]" * 20_000 + "}\n", "name must be a string"),
    (yaml.safe_dump(BASE).replace("staffed_beds: ", "staffed_beds: " + "9" * 5_000 + "0 #", 1), "cannot read"),
    (_with(thresholds={1: 2}), "threshold names are strings"),
    (_with(thresholds={"nedocs_alert_level": float("nan")}), "number >= 0"),
    (_with(thresholds={"nedocs_alert_level": 4.5}), "whole number"),
    (_with(thresholds={"wrong_bed_share": 50}), "share from 0 to 1"),
    (_with(thresholds={"nowcast_history_weeks": 0}), "number > 0"),
    (_with(thresholds={"long_stay_days": {"ic": float("nan")}}), "number >= 0"),
    (_partner(feed_silent_minutes=float("inf")), "feed_silent_minutes"),
    (_location(expected_arrivals_per_hour=[float("inf")] * 24) if BASE["locations"][0]["kind"] == "seh" else
     _with(thresholds={"crowding_for_minutes": float("inf")}), "number"),
    ("region: {id: r}\nregion: {id: other}\n" + yaml.safe_dump({k: v for k, v in BASE.items() if k != "region"}),
     "given twice"),
    (_with(threshold={"nedocs_alert_level": 3}), "unknown key(s) threshold"),
    (_with(region={**BASE["region"], "nmae": "x"}), "unknown key(s) nmae"),
    (_partner(webhook="http://x"), "unknown key(s) webhook"),
    (_location(bedtype="ic"), "unknown key(s) bedtype"),
    (_with(region={"id": "w*", "name": "x"}), "id must match"),
    (_partner(id="a b"), "id must match"),
    (_location(id="x/../y"), "id must match"),
    (_with(webhooks=["http://"]), "with a host"),
    (_partner(name=["a", "list"]), "name must be a string"),
    (_location(staffed_beds=10**4000), "staffed_beds must be a whole number from 0 to 100,000"),
])
def test_a_hostile_or_mistyped_registry_is_refused_with_the_reason(tmp_path: Path, raw: object, problem: str) -> None:
    """Refused quickly with a RegistryError naming the file: not a hang, a crash with a
    traceback, a silently ignored key or a value the rules cannot use (found by a probe)."""
    path = _write(tmp_path, raw)
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    assert str(path) in str(info.value) and problem in str(info.value), info.value


def test_a_nation_whose_id_is_a_regions_is_refused(tmp_path: Path) -> None:
    from topics.nation import load_nation

    region = _write(tmp_path, BASE)
    (tmp_path / "nl.yaml").write_text(f"nation: {{id: {BASE['region']['id']}}}\nregions: [{region.name}]\n")
    with pytest.raises(RegistryError, match="also a region's"):
        load_nation(tmp_path / "nl.yaml")
    (tmp_path / "nl.yaml").write_text(f"nation: {{id: nl}}\nregions: [{region.name}]\nplacment: {{}}\n")
    with pytest.raises(RegistryError, match="unknown key"):
        load_nation(tmp_path / "nl.yaml")


def test_the_forecast_alert_follows_the_crowding_timing_unless_set(tmp_path: Path) -> None:
    """metrics.md ("Nowcast"): raised for crowding_for_minutes, cleared after
    crowding_clear_minutes; its own settings win when a region gives them."""
    th = load_registry(_write(tmp_path, _with(thresholds={"crowding_for_minutes": 20, "crowding_clear_minutes": 30}))).thresholds
    assert (th.forecast_for_minutes, th.forecast_clear_minutes) == (20, 30)
    th = load_registry(_write(tmp_path, _with(thresholds={"crowding_for_minutes": 20, "forecast_for_minutes": 5}))).thresholds
    assert (th.forecast_for_minutes, th.forecast_clear_minutes) == (5, 15)
    th = load_registry(_write(tmp_path, BASE)).thresholds
    assert (th.forecast_for_minutes, th.forecast_clear_minutes) == (th.crowding_for_minutes, th.crowding_clear_minutes) == (10, 15)
