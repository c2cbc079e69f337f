"""The snapshot gauges (streams/telemetry.py): the nation's snapshot reaches Prometheus
too, as docs/internals.md names it, from a hand-written snapshot."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streams.telemetry import Telemetry

NATION = {
    "scope": "nation", "id": "nl", "as_of": "2026-11-22T10:00:00Z",
    "regions": {
        "west": {"stale": False, "as_of": "2026-11-22T10:00:00Z", "escalation_level": 3, "seh_patients": 40},
        "oost": {"stale": True, "as_of": None, "escalation_level": None},
    },
    "stale_regions": ["oost"],
    "regions_by_escalation_level": {"3": 1},
    "seh_patients": 40, "seh_boarders": 6,
    "sehs_by_nedocs_level": {"2": 3, "4": 1},
    "sehs_on_stop": 1,
    "staffed_beds_by_bed_type": {"clinical": 900, "ic": 40},
    "occupied_beds_by_bed_type": {"clinical": 810, "ic": 40},
    "free_beds_by_bed_type": {"clinical": 90, "ic": 0},
    "occupancy_by_bed_type": {"clinical": 0.9, "ic": 1.0},
    "wrong_bed_patients": 55,
    "spreading_advice": {"clinical": [{"region": "west", "free_beds": 90}], "ic": []},
}


def _samples(telemetry: Telemetry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(telemetry.registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples
            if s.name.startswith("spoedstroom_nation")}


def test_the_nation_snapshot_as_gauges() -> None:
    telemetry = Telemetry()
    telemetry.observe_snapshot("nl", NATION)
    got = _samples(telemetry)
    nl = (("nation", "nl"),)
    assert got[("spoedstroom_nation_seh_patients", nl)] == 40
    assert got[("spoedstroom_nation_seh_boarders", nl)] == 6
    assert got[("spoedstroom_nation_sehs_on_stop", nl)] == 1
    assert got[("spoedstroom_nation_wrong_bed_patients", nl)] == 55
    assert got[("spoedstroom_nation_regions_by_escalation_level", (("level", "3"), ("nation", "nl")))] == 1
    assert got[("spoedstroom_nation_sehs_by_nedocs_level", (("level", "4"), ("nation", "nl")))] == 1
    assert got[("spoedstroom_nation_free_beds_by_bed_type", (("bed_type", "ic"), ("nation", "nl")))] == 0
    assert got[("spoedstroom_nation_occupancy_by_bed_type", (("bed_type", "clinical"), ("nation", "nl")))] == 0.9
    # per region: stale as 0/1, and the level only where the nation knows one
    assert got[("spoedstroom_nation_region_stale", (("nation", "nl"), ("region", "oost")))] == 1
    assert got[("spoedstroom_nation_region_stale", (("nation", "nl"), ("region", "west")))] == 0
    assert got[("spoedstroom_nation_region_escalation_level", (("nation", "nl"), ("region", "west")))] == 3
    assert ("spoedstroom_nation_region_escalation_level", (("nation", "nl"), ("region", "oost"))) not in got
    # lists and the advice are not gauges
    assert not any("advice" in name or "stale_regions" in name for name, _labels in got)
