"""The nation: many region registries served by one deployment (events.md, "Many regions,
one deployment").

`--registry` takes a single region file (a nation of one region, which behaves exactly as
before), a national file (`nation: {id, name}` + `regions: [files]`, paths relative to
it), or a directory of region files (a `nation.yaml` in it, if present, names the nation
and lists its files). Partner and location ids must be unique across the nation: every
partner belongs to exactly one region, and its events are that region's.

A national file may also place regions on partitions of the pipeline's internal topics
(`placement: {region id: partition}`). A region's records and state live on one
partition, owned by one worker; by the hash of its id, as any Kafka key, 11 regions fall
unevenly into 4 partitions. A placement evens the work out between workers, and, unlike
a placement computed from the list, it does not move when a region is added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from topics.registry import (
    ID_PATTERN,
    Location,
    Partner,
    Registry,
    RegistryError,
    checked_id,
    checked_name,
    load_registry,
    parse_registry,
    read_yaml,
)

NATION_FILE = "nation.yaml"


@dataclass(frozen=True)
class Nation:
    """The regions of one deployment and where every partner and location belongs."""

    id: str
    name: str
    regions: dict[str, Registry]  # region id -> registry, in the order they were listed
    #: True for a national file or a directory; False for a single region file, whose
    #: output stays exactly what it was before there were nations (no nation snapshot).
    national: bool
    path: str | None = None
    region_of_partner: dict[str, str] = field(default_factory=dict)
    region_of_location: dict[str, str] = field(default_factory=dict)
    #: region id -> partition of the repartition and state topics; a region not listed
    #: goes by the hash of its id (Kafka's default partitioner).
    placement: dict[str, int] = field(default_factory=dict)

    @property
    def region_ids(self) -> list[str]:
        return list(self.regions)

    def check_placement(self, partitions: int) -> None:
        """Refuse a placement on a partition the internal topics do not have."""
        for rid, partition in self.placement.items():
            if partition >= partitions:
                raise RegistryError(f"{self.path}: placement: region {rid!r} on partition {partition}, but the "
                                    f"internal topics have {partitions} (SPOEDSTROOM_INTERNAL_PARTITIONS)")

    def combined(self) -> Registry:
        """One registry holding every partner and location of the nation: what an input
        is validated against before it is routed to its region(s)."""
        partners: dict[str, Partner] = {}
        locations: dict[str, Location] = {}
        for reg in self.regions.values():
            partners.update(reg.partners)
            locations.update(reg.locations)
        return Registry(region_id=self.id, region_name=self.name, partners=partners, locations=locations,
                        path=self.path)


def nation_of(registry: Registry) -> Nation:
    """A single region as a nation of one (not `national`)."""
    return _build(registry.region_id, registry.region_name, [registry], national=False, path=registry.path)


def _build(nid: str, name: str, registries: list[Registry], national: bool, path: str | None,
           placement: dict[str, int] | None = None) -> Nation:
    regions: dict[str, Registry] = {}
    partner_region: dict[str, str] = {}
    location_region: dict[str, str] = {}
    facility_partner: dict[str, str] = {}  # the gateway names a message's partner by MSH-4
    for reg in registries:
        where = reg.path or reg.region_id
        if reg.region_id in regions:
            raise RegistryError(f"{where}: region {reg.region_id!r} is listed twice in the nation")
        regions[reg.region_id] = reg
        for pid in reg.partners:
            if pid in partner_region:
                raise RegistryError(f"{where}: partner {pid!r} is also in region {partner_region[pid]!r} "
                                    "(partner ids are unique across the nation)")
            partner_region[pid] = reg.region_id
            link = reg.partners[pid].hl7
            if link is not None:
                if link.sending_facility in facility_partner:
                    raise RegistryError(f"{where}: partner {pid!r} has hl7.sending_facility "
                                        f"{link.sending_facility!r}, as partner {facility_partner[link.sending_facility]!r} "
                                        "has (MSH-4 values are unique across the nation)")
                facility_partner[link.sending_facility] = pid
        for lid in reg.locations:
            if lid in location_region:
                raise RegistryError(f"{where}: location {lid!r} is also in region {location_region[lid]!r} "
                                    "(location ids are unique across the nation)")
            location_region[lid] = reg.region_id
    if national and nid in regions:
        raise RegistryError(f"{path}: the nation's id {nid!r} is also a region's: ids name one thing each "
                            "(`nation:{id}` and `region:{id}` share /status/{id} and the Redis keys)")
    if national and checked_id(nid) is None:
        raise RegistryError(f"{path}: the nation's id {nid[:64]!r} (a directory's name, without nation.yaml) must "
                            f"match {ID_PATTERN.pattern}")
    unknown = sorted(set(placement or {}) - set(regions))
    if unknown:
        raise RegistryError(f"{path}: placement: {', '.join(map(repr, unknown))} not a region of this nation")
    return Nation(nid, name, regions, national, path, partner_region, location_region, dict(placement or {}))


def _national_file(raw: dict[str, Any], path: Path) -> Nation:
    extra = sorted(str(k)[:40] for k in raw if k not in ("nation", "regions", "placement"))
    if extra:
        raise RegistryError(f"{path}: unknown key(s) {', '.join(extra)} (known: nation, regions, placement)")
    head = raw.get("nation")
    if not isinstance(head, dict) or not isinstance(head.get("id"), str) or not head["id"]:
        raise RegistryError(f"{path}: nation: expected {{id: ..., name: ...}} with a non-empty id")
    extra = sorted(str(k)[:40] for k in head if k not in ("id", "name"))
    name = checked_name(head.get("name"), head["id"])
    if extra or name is None:
        raise RegistryError(f"{path}: nation: expected {{id: ..., name: ...}}: a name of at most 200 characters, "
                            "no other keys")
    files = raw.get("regions")
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        raise RegistryError(f"{path}: regions: expected a non-empty list of region registry files")
    placement = raw.get("placement")
    if placement is None:
        placement = {}
    if not isinstance(placement, dict) or not all(
            isinstance(rid, str) and type(partition) is int and partition >= 0 for rid, partition in placement.items()):
        raise RegistryError(f"{path}: placement: expected region id: partition (0, 1, ...)")
    registries = [load_registry(path.parent / f) for f in files]
    return _build(head["id"], name, registries, national=True, path=str(path),
                  placement=placement)


def load_nation(path: str | Path) -> Nation:
    """Load a region file, a national file or a directory of region files."""
    p = Path(path)
    if p.is_dir():
        index = p / NATION_FILE
        if index.exists():
            return load_nation(index)
        files = sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml"))
        if not files:
            raise RegistryError(f"{p}: no region registry files (*.yaml) in this directory")
        registries = [load_registry(f) for f in files]
        return _build(p.name, p.name, registries, national=True, path=str(p))
    raw = read_yaml(p)
    if isinstance(raw, dict) and "nation" in raw:
        return _national_file(raw, p)
    return nation_of(parse_registry(raw, str(p)))
