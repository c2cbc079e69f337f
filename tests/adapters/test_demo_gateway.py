"""The demo's use of the gateway (streams/commands/pipeline.py): which hospital it
connects, and the ACK counts of the board's footer read from the gateway's /metrics."""

from __future__ import annotations

from adapters.gateway import Metrics
from adapters.outcome import Mapped, Refused
from prometheus_client import generate_latest
from streams.commands.pipeline import gateway_counts, gateway_partner
from tests.support import REGISTRY
from topics.nation import Nation, load_nation
from topics.registry import load_registry


def test_the_demo_connects_hmc_of_a_region_and_nothing_for_a_nation() -> None:
    assert gateway_partner(load_nation(REGISTRY)) == "hmc"
    region = load_registry(REGISTRY)
    nation = Nation("nl", "Nederland", {region.region_id: region}, national=True)
    assert gateway_partner(nation) is None  # a gateway loads one region file


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
