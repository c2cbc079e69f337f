"""A simulated nation: the example nation's registries and one feed for all its regions.

`write_example_nation` writes `deploy/regions/nl/`: the 11 ROAZ regions (acute-care
networks around the 11 trauma centres), each made of one or two copies of the Haaglanden
example with prefixed ids, 85 SEHs in all. Synthetic: names and sizes are plausible, not
real capacity data. `generate_nation` runs the simulator for every region and merges the
feeds in event-time order.
"""

from __future__ import annotations

import heapq
from pathlib import Path
from typing import Any, Iterator

import yaml

from simulator.core import Item, generate
from simulator.scenario import Scenario
from topics.codec import parse_time
from topics.nation import NATION_FILE, Nation
from topics.registry import parse_registry

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_NATION_DIR = ROOT / "deploy" / "regions" / "nl"
TEMPLATE = ROOT / "deploy" / "regions" / "haaglanden.yaml"

#: (region id, name, id prefix, copies of the template): the 11 ROAZ regions.
ROAZ_REGIONS: tuple[tuple[str, str, str, int], ...] = (
    ("noord-nederland", "Acute Zorgnetwerk Noord-Nederland", "nnl", 2),
    ("zwolle", "Netwerk Acute Zorg Zwolle", "zwo", 1),
    ("euregio", "Acute Zorg Euregio", "eur", 1),
    ("oost", "Acute Zorgregio Oost", "oos", 2),
    ("midden-nederland", "Netwerk Acute Zorg Midden-Nederland", "mid", 2),
    ("noordwest", "Netwerk Acute Zorg Noordwest", "nwe", 2),
    ("noord-holland-flevoland", "Netwerk Acute Zorg Noord-Holland en Flevoland", "nhf", 1),
    ("west", "Netwerk Acute Zorg West", "wes", 2),
    ("zuidwest", "Traumazorgnetwerk Zuidwest-Nederland", "zwn", 2),
    ("brabant", "Netwerk Acute Zorg Brabant", "bra", 1),
    ("limburg", "Netwerk Acute Zorg Limburg", "lim", 1),
)


def prefixed_hl7(block: dict[str, Any], tag: str) -> dict[str, Any]:
    """A copy's HL7 block: its own sending facility (MSH-4 is unique across the nation)
    and its own locations."""
    return {**block, "sending_facility": f"{tag.upper()}-{block['sending_facility']}",
            "locations": {code: f"{tag}-{lid}" for code, lid in block.get("locations", {}).items()}}


def region_data(region_id: str, name: str, prefix: str, copies: int, template: Path = TEMPLATE) -> dict[str, Any]:
    """One region: `copies` of the template with ids prefixed `{prefix}{n}-`.

    A prefix rather than a suffix keeps SEH ids ending in `-seh` (the simulator finds a
    site's wards by the shared start of their ids)."""
    raw = yaml.safe_load(template.read_text(encoding="utf-8"))
    out: dict[str, Any] = {
        "region": {"id": region_id, "name": name},
        "partners": [],
        "locations": [],
        "thresholds": raw.get("thresholds") or {},
        "actions": raw.get("actions") or {},
        "webhooks": [],
    }
    for n in range(1, copies + 1):
        tag = f"{prefix}{n}"
        for partner in raw["partners"]:
            copy = {**partner, "id": f"{tag}-{partner['id']}", "name": f"{partner['name']} ({tag})"}
            if "hl7" in partner:
                copy["hl7"] = prefixed_hl7(partner["hl7"], tag)
            out["partners"].append(copy)
        for loc in raw["locations"]:
            out["locations"].append({**loc, "id": f"{tag}-{loc['id']}", "partner": f"{tag}-{loc['partner']}",
                                     "name": f"{loc.get('name', loc['id'])} ({tag})"})
    return out


#: Partitions of the pipeline's internal topics the example is placed over (the default
#: of SPOEDSTROOM_INTERNAL_PARTITIONS).
EXAMPLE_PARTITIONS = 4


def balanced_placement(weights: dict[str, int], partitions: int) -> dict[str, int]:
    """Regions on partitions, the heaviest first, each on the least loaded partition
    (the lowest on a tie): no partition ends more than one region's weight above an
    even share. For the example, weight = copies of the template, which its events
    follow."""
    load = [0] * partitions
    placement: dict[str, int] = {}
    for region_id in sorted(weights, key=lambda rid: -weights[rid]):  # stable: list order on ties
        partition = load.index(min(load))
        placement[region_id] = partition
        load[partition] += weights[region_id]
    return {rid: placement[rid] for rid in weights}


def write_example_nation(directory: Path = EXAMPLE_NATION_DIR) -> Path:
    """Write the example nation (11 region files and `nation.yaml`) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    header = ("# Synthetic region of the example nation (deploy/regions/nl): copies of the Haaglanden\n"
              "# example with prefixed ids. Written by simulator.nation.write_example_nation; not real data.\n")
    files = []
    for region_id, name, prefix, copies in ROAZ_REGIONS:
        data = region_data(region_id, name, prefix, copies)
        path = directory / f"{region_id}.yaml"
        parse_registry(data, str(path))  # validate before writing
        path.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=200), encoding="utf-8")
        files.append(path.name)
    placement = balanced_placement({rid: copies for rid, _name, _prefix, copies in ROAZ_REGIONS}, EXAMPLE_PARTITIONS)
    index = {"nation": {"id": "nl", "name": "Nederland (synthetisch: 11 ROAZ-regio's)"}, "regions": files,
             "placement": placement}
    (directory / NATION_FILE).write_text(
        "# The example nation: the 11 ROAZ regions, one registry file each.\n"
        "# placement: each region's partition of the pipeline's internal topics (of\n"
        f"# SPOEDSTROOM_INTERNAL_PARTITIONS={EXAMPLE_PARTITIONS}), evened out by size; set it before the first start.\n"
        + yaml.safe_dump(index, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return directory


def generate_nation(nation: Nation, *, start_ms: int, duration_ms: int, seed: int,
                    scenario: Scenario | None = None) -> Iterator[Item]:
    """The simulator's events of every region of `nation`, merged in event-time order
    (region i gets seed `seed + i`, so one region's feed does not depend on the others;
    a scenario applies to every region)."""
    feeds = [generate(reg, start_ms=start_ms, duration_ms=duration_ms, seed=seed + i, scenario=scenario)
             for i, reg in enumerate(nation.regions.values())]
    return heapq.merge(*feeds, key=lambda item: parse_time(item[2]["time"]))
