"""Loading a nation: a directory, a national file, a single region file (events.md,
"Many regions, one deployment")."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from simulator.nation import EXAMPLE_NATION_DIR, EXAMPLE_PARTITIONS, ROAZ_REGIONS, balanced_placement, write_example_nation
from topics.nation import load_nation
from topics.registry import RegistryError

ROOT = Path(__file__).resolve().parents[2]


def _region(path: Path, rid: str, partner: str, location: str) -> Path:
    path.write_text(yaml.safe_dump({
        "region": {"id": rid, "name": rid.title()},
        "partners": [{"id": partner, "kind": "hospital"}],
        "locations": [{"id": location, "partner": partner, "kind": "seh", "staffed_beds": 10}],
    }), encoding="utf-8")
    return path


def test_a_single_region_file_is_a_nation_of_one_that_is_not_national():
    nation = load_nation(ROOT / "deploy" / "regions" / "haaglanden.yaml")
    assert nation.region_ids == ["haaglanden"]
    assert not nation.national
    assert nation.region_of_partner["hmc"] == "haaglanden"


def test_a_directory_of_region_files(tmp_path: Path):
    _region(tmp_path / "b.yaml", "beta", "hb", "hb-seh")
    _region(tmp_path / "a.yaml", "alpha", "ha", "ha-seh")
    nation = load_nation(tmp_path)
    assert nation.national and nation.id == tmp_path.name
    assert nation.region_ids == ["alpha", "beta"]  # file name order
    assert nation.region_of_location == {"ha-seh": "alpha", "hb-seh": "beta"}
    combined = nation.combined()
    assert set(combined.partners) == {"ha", "hb"} and combined.region_id == tmp_path.name


def test_a_national_file_lists_its_regions_relative_to_itself(tmp_path: Path):
    (tmp_path / "regions").mkdir()
    _region(tmp_path / "regions" / "a.yaml", "alpha", "ha", "ha-seh")
    (tmp_path / "nl.yaml").write_text("nation: {id: nl, name: Nederland}\nregions: [regions/a.yaml]\n")
    nation = load_nation(tmp_path / "nl.yaml")
    assert (nation.id, nation.name, nation.region_ids, nation.national) == ("nl", "Nederland", ["alpha"], True)


@pytest.mark.parametrize("clash", ["partner", "location"])
def test_ids_must_be_unique_across_the_nation(tmp_path: Path, clash: str):
    _region(tmp_path / "a.yaml", "alpha", "ha", "ha-seh")
    if clash == "partner":
        _region(tmp_path / "b.yaml", "beta", "ha", "hb-seh")
    else:
        _region(tmp_path / "b.yaml", "beta", "hb", "ha-seh")
    with pytest.raises(RegistryError, match=f"{clash} .* is also in region 'alpha'"):
        load_nation(tmp_path)


def test_hl7_sending_facilities_are_unique_across_the_nation(tmp_path: Path):
    """The gateway names a message's partner by MSH-4: two partners with one facility
    would be one partner to it."""
    for path, rid, partner in ((tmp_path / "a.yaml", "alpha", "ha"), (tmp_path / "b.yaml", "beta", "hb")):
        _region(path, rid, partner, f"{partner}-seh")
        raw = yaml.safe_load(path.read_text())
        raw["partners"][0]["hl7"] = {"sending_facility": "HMC", "locations": {"SEH": f"{partner}-seh"}}
        path.write_text(yaml.safe_dump(raw))
    with pytest.raises(RegistryError, match="hl7.sending_facility 'HMC', as partner 'ha' has"):
        load_nation(tmp_path)


def test_bad_national_files_fail_clearly(tmp_path: Path):
    (tmp_path / "n.yaml").write_text("nation: {id: nl}\nregions: []\n")
    with pytest.raises(RegistryError, match="regions: expected a non-empty list"):
        load_nation(tmp_path / "n.yaml")
    (tmp_path / "m.yaml").write_text("nation: {id: nl}\nregions: [missing.yaml]\n")
    with pytest.raises(RegistryError, match="registry file not found"):
        load_nation(tmp_path / "m.yaml")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RegistryError, match="no region registry files"):
        load_nation(tmp_path / "empty")


def test_the_shipped_example_nation_is_what_the_generator_writes(tmp_path: Path):
    write_example_nation(tmp_path)
    for path in sorted(tmp_path.iterdir()):
        assert (EXAMPLE_NATION_DIR / path.name).read_text() == path.read_text(), path.name
    nation = load_nation(EXAMPLE_NATION_DIR)
    assert nation.id == "nl" and len(nation.regions) == len(ROAZ_REGIONS) == 11
    assert sum(len(reg.sehs()) for reg in nation.regions.values()) == 85


def _placed(tmp_path: Path, placement: str) -> Path:
    _region(tmp_path / "a.yaml", "alpha", "ha", "ha-seh")
    _region(tmp_path / "b.yaml", "beta", "hb", "hb-seh")
    path = tmp_path / "nl.yaml"
    path.write_text(f"nation: {{id: nl}}\nregions: [a.yaml, b.yaml]\nplacement: {placement}\n")
    return path


def test_a_national_file_places_regions_on_partitions(tmp_path: Path):
    nation = load_nation(_placed(tmp_path, "{alpha: 3}"))
    assert nation.placement == {"alpha": 3}  # beta: by the hash of its id
    nation.check_placement(4)
    with pytest.raises(RegistryError, match="region 'alpha' on partition 3, but the internal topics have 2"):
        nation.check_placement(2)
    assert load_nation(tmp_path / "a.yaml").placement == {}  # a single region: the hash


@pytest.mark.parametrize("placement, error", [
    ("{alpha: -1}", "expected region id: partition"),
    ("{alpha: one}", "expected region id: partition"),
    ("{alpha: true}", "expected region id: partition"),
    ("[alpha]", "expected region id: partition"),
    ("[]", "expected region id: partition"),
    ("0", "expected region id: partition"),
    ("{gamma: 0}", "'gamma' not a region of this nation"),
])
def test_a_bad_placement_fails_clearly(tmp_path: Path, placement: str, error: str):
    with pytest.raises(RegistryError, match=error):
        load_nation(_placed(tmp_path, placement))


def test_the_example_is_placed_evenly_over_the_default_partitions():
    # weights: copies of the template (2 = 10 SEHs, 1 = 5), 17 in all over 4 partitions
    assert balanced_placement({"a": 2, "b": 1, "c": 2, "d": 1, "e": 1}, 2) == {"a": 0, "b": 0, "c": 1, "d": 1, "e": 0}
    nation = load_nation(EXAMPLE_NATION_DIR)
    load = [0] * EXAMPLE_PARTITIONS
    for rid, _name, _prefix, copies in ROAZ_REGIONS:
        load[nation.placement[rid]] += copies
    assert sorted(load) == [4, 4, 4, 5]
