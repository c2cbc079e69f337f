"""The demo's use of the gateway (streams/commands/pipeline.py): which hospital it
connects, and the ACK counts of the board's footer read from the gateway's /metrics."""

from __future__ import annotations

import dataclasses

from adapters.gateway import Metrics
from adapters.outcome import Mapped, Refused
from prometheus_client import generate_latest
from streams.commands.pipeline import gateway_counts, gateway_partner
from streams.settings import ROOT
from tests.support import REGISTRY
from topics.nation import load_nation, nation_of
from topics.registry import load_registry

NATION = str(ROOT / "deploy" / "regions" / "nl")


def test_the_demo_connects_hmc_or_the_first_linked_hospital_with_its_region_file() -> None:
    assert gateway_partner(load_nation(REGISTRY)) == ("hmc", REGISTRY)
    nation = load_nation(NATION)
    partner, path = gateway_partner(nation) or ("", "")
    region = nation.regions[nation.region_of_partner[partner]]
    assert region.path == path and region.partners[partner].hl7 is not None
    assert load_registry(path).region_id == region.region_id  # what the gateway loads
    unlinked = load_registry(REGISTRY)
    unlinked.partners["hmc"] = dataclasses.replace(unlinked.partners["hmc"], hl7=None)
    assert gateway_partner(nation_of(unlinked)) is None


def test_footer_counts_acks_by_code() -> None:
    metrics = Metrics()
    for _ in range(3):
        metrics.count("hl7", Mapped("hmc", "A04", ({"id": "x"},)), "accepted")
    metrics.count("hl7", Mapped("hmc", "A08"), "ignored")
    metrics.count("hl7", Refused("unmapped_location", "PV1-3", "hmc", "A04"), "refused")
    metrics.count("hl7", Refused("unparseable", "no MSH", None, "unknown", False), "rejected")
    metrics.count("fhir", Mapped("hmc", "Encounter", ({"id": "y"},)), "accepted")  # not HL7: not counted
    text = generate_latest(metrics.registry).decode()
    assert gateway_counts(text) == {"AA": 4, "AE": 1, "AR": 1, "none": 0}
