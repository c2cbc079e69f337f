"""The registry's `hl7:` block: checked at load time, so a wrong table fails the deploy,
not a message at night."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.support import REGISTRY
from topics.registry import RegistryError, parse_registry


def registry_with(hl7: Any, partner: str = "hmc") -> dict[str, Any]:
    raw = yaml.safe_load(open(REGISTRY, encoding="utf-8"))
    for entry in raw["partners"]:
        entry.pop("hl7", None)
        if entry["id"] == partner:
            entry["hl7"] = hl7
    return raw


def test_the_example_region_has_hmc_linked() -> None:
    reg = parse_registry(yaml.safe_load(open(REGISTRY, encoding="utf-8")))
    link = reg.partners["hmc"].hl7
    assert link is not None and link.sending_facility == "HMC"
    assert link.location_of("4 OOST") == "hmc-westeinde-interne" and link.location_of("nope") is None
    assert reg.partner_of_facility("HMC") is reg.partners["hmc"] and reg.partner_of_facility("X") is None


@pytest.mark.parametrize(("hl7", "partner", "message"), [
    ({"sending_facility": "HMC", "locations": {"SEH": "hmc-nowhere"}}, "hmc", "is not defined under locations"),
    ({"sending_facility": "HMC", "locations": {"SEH": "haga-leyweg-seh"}}, "hmc", "belongs to partner 'haga'"),
    ({"sending_facility": "HMC", "locations": {}}, "rav-haaglanden", "only hospital partners"),
    ({"locations": {}}, "hmc", "sending_facility"),
    ({"sending_facility": "HMC", "locations": ["SEH"]}, "hmc", "expected a mapping"),
    ({"sending_facility": "HMC", "facility": "x"}, "hmc", "unknown key"),
    ("HMC", "hmc", "expected {sending_facility"),
])
def test_bad_hl7_blocks_are_load_errors(hl7: Any, partner: str, message: str) -> None:
    with pytest.raises(RegistryError, match="hl7") as err:
        parse_registry(registry_with(hl7, partner))
    assert message in str(err.value)


def test_a_sending_facility_belongs_to_one_partner() -> None:
    raw = registry_with({"sending_facility": "HMC"})
    next(p for p in raw["partners"] if p["id"] == "haga")["hl7"] = {"sending_facility": "HMC"}
    with pytest.raises(RegistryError, match="also partner 'hmc'"):
        parse_registry(raw)
