"""The region registry: partners, locations, thresholds and escalation actions of a region.

One YAML file per region (see `deploy/regions/`). Loading validates it and fails with a
clear :class:`RegistryError` naming the file, the entry and what is wrong.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, replace
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

PARTNER_KINDS = ("hospital", "ambulance", "hap", "ggz", "vvt", "zcc")
LOCATION_KINDS = ("seh", "ward", "elv", "vvt", "grz")
BED_TYPES = ("clinical", "ic", "mc")


class RegistryError(ValueError):
    """The registry file is unusable; the message names file, entry and problem."""


@dataclass(frozen=True)
class Thresholds:
    """Alert and escalation thresholds; defaults from metrics.md, overridable by name."""

    nedocs_alert_level: int = 4
    crowding_for_minutes: int | float = 10
    crowding_clear_minutes: int | float = 15
    handover_delay_minutes: int | float = 30
    wrong_bed_share: int | float = 0.10
    wrong_bed_clear_share: int | float = 0.08
    wrong_bed_max_wait_days: int | float = 3
    long_stay_days: dict[str, int | float] = field(
        default_factory=lambda: {"clinical": 14, "mc": 7, "ic": 7}
    )
    long_stay_alert_patients: int = 5
    feed_silent_minutes: int | float = 15
    escalate_after_minutes: int | float = 10
    deescalate_after_minutes: int | float = 30
    # Escalation conditions (metrics.md, "Regional escalation").
    level2_seh_nedocs_level: int = 4
    level2_clinical_occupancy: int | float = 0.90
    level2_wrong_bed_share: int | float = 0.05
    level3_clinical_occupancy: int | float = 0.95
    level3_ic_occupancy: int | float = 0.95
    level4_seh_nedocs_level: int = 5
    level4_clinical_occupancy: int | float = 0.98
    level4_both_occupancy: int | float = 0.95
    # seh_crowding_forecast (metrics.md, "Nowcast"): raised when the predicted NEDOCS
    # level in 60 min reaches `nedocs_alert_level` while the current level is below it.
    # Unless a registry sets them, they are crowding_for/clear_minutes (the loader).
    forecast_for_minutes: int | float = 10
    forecast_clear_minutes: int | float = 15
    # The nowcast's tuning (processors/nowcast.py; docs/nowcast.md says why these values).
    nowcast_history_weeks: int | float = 8  # memory of the hour-of-week means (exponential)
    nowcast_week_shrink: int | float = 2  # weeks of weight pulling an hour of the week to its hour of day
    nowcast_day_shrink: int | float = 2  # days of weight pulling an hour of day to the prior
    nowcast_recent_hours: int = 3  # closed hours the level correction looks back
    nowcast_ratio_prior_arrivals: int | float = 4  # pseudo-arrivals shrinking that correction to 1
    nowcast_referral_max_hours: int | float = 6  # a referral not arrived by then will not come
    nowcast_referral_prior_share: int | float = 0.5  # chance per hour a referral arrives, before data
    nowcast_los_prior_share: int | float = 0.3  # chance per hour a patient leaves, before data
    # Flat prior: arrivals per SEH treatment space and hour (the simulator's calibration,
    # 60 visits a day for 22 spaces), and the share of them not announced an hour ahead.
    nowcast_prior_arrivals_per_bed_hour: int | float = 0.1136
    nowcast_unannounced_share: int | float = 0.8

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def problem(cls, name: str, value: Any) -> str | None:
        """What is wrong with `value` for the threshold `name` (None: nothing): a finite
        number >= 0, whole where the threshold counts (levels, patients, hours), at most 1
        for a share or an occupancy, above 0 for the nowcast's memory."""
        if not is_number(value) or value < 0:
            return "expected a number >= 0"
        if {f.name: f.type for f in fields(cls)}[name] == "int" and not isinstance(value, int):
            return "expected a whole number >= 0"
        if name.endswith(("_share", "_occupancy")) and value > 1:
            return "expected a share from 0 to 1"
        if name == "nowcast_history_weeks" and value <= 0:
            return "expected a number > 0"
        return None


@dataclass(frozen=True)
class Hl7Link:
    """How the partner gateway recognises a hospital's HL7 v2 feed (`hl7:` in its entry).

    `sending_facility` is MSH-4 (first component); `locations` maps a PV1-3 point of care
    (first component, first subcomponent) to one of the partner's own SEH or ward
    locations. Pairs rather than a dict so the registry stays hashable and immutable.
    """

    sending_facility: str
    locations: tuple[tuple[str, str], ...] = ()

    def location_of(self, point_of_care: str) -> str | None:
        """The registry location of a point of care; None when the table has no entry."""
        for code, location_id in self.locations:
            if code == point_of_care:
                return location_id
        return None


@dataclass(frozen=True)
class Partner:
    id: str
    kind: str
    name: str
    #: Own feed_silent threshold for a partner that reports rarely (None: the region's).
    feed_silent_minutes: float | None = None
    #: The partner's HL7 v2 link for the gateway (hospitals only); None: no HL7 feed.
    hl7: Hl7Link | None = None


@dataclass(frozen=True)
class Location:
    id: str
    partner: str
    kind: str
    staffed_beds: int
    bed_type: str | None = None
    name: str | None = None
    #: SEH only, optional: expected arrivals per hour of day (24 numbers, local time),
    #: the nowcast's prior until it has a week of the stream's own history.
    expected_arrivals_per_hour: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Registry:
    region_id: str
    region_name: str
    partners: dict[str, Partner]
    locations: dict[str, Location]
    thresholds: Thresholds = field(default_factory=Thresholds)
    actions: dict[int, tuple[str, ...]] = field(default_factory=dict)
    webhooks: tuple[str, ...] = ()
    path: str | None = None

    def hospital_of(self, location_id: str) -> str:
        """The partner id owning a location (for hospital locations: the hospital)."""
        return self.locations[location_id].partner

    def sehs(self) -> list[Location]:
        return [loc for loc in self.locations.values() if loc.kind == "seh"]

    def hospitals(self) -> list[Partner]:
        return [p for p in self.partners.values() if p.kind == "hospital"]

    def partner_of_facility(self, sending_facility: str) -> Partner | None:
        """The partner whose `hl7.sending_facility` is this MSH-4 value, if any."""
        for partner in self.partners.values():
            if partner.hl7 is not None and partner.hl7.sending_facility == sending_facility:
                return partner
        return None


#: libyaml's safe loader when PyYAML was built with it (the wheels are): the pure-Python
#: one took 0.3 s of every worker start on the national file.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SAFE_LOADER):  # type: ignore[misc, valid-type]
    """The safe loader, refusing a key given twice in one mapping: YAML keeps the last
    one silently, so a second `staffed_beds:` or `region:` would win unseen."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice",
                                                            key_node.start_mark)
                seen.add(key)
            except TypeError:
                pass  # an unhashable key: the safe loader refuses it itself
        return super().construct_mapping(node, deep=deep)


#: Region, partner and location ids: they go into keys (`location:{id}`, Redis
#: `spoedstroom:{region}:...`, whose status scan is a glob) and URLs (`/status/{region}`).
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_NAME_MAX = 200
MAX_STAFFED_BEDS = 100_000  # a sanity bound, far above any location (capacity reports: validation.MAX_BEDS_BY_KIND)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: The keys each part of a region file may have: a misspelt one (`threshold:`,
#: `webhook:`) would otherwise be ignored, and its alerts or webhooks never happen.
TOP_KEYS = frozenset({"region", "partners", "locations", "thresholds", "actions", "webhooks"})
REGION_KEYS = frozenset({"id", "name"})
PARTNER_KEYS = frozenset({"id", "kind", "name", "feed_silent_minutes", "hl7"})
LOCATION_KEYS = frozenset({"id", "partner", "kind", "staffed_beds", "name", "bed_type", "expected_arrivals_per_hour"})


def read_yaml(path: Path) -> Any:
    """A registry (or national) file's YAML; a RegistryError saying what is wrong."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except FileNotFoundError:
        raise RegistryError(f"{path}: registry file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{path}: cannot read the registry file: {exc}") from None
    except yaml.YAMLError as exc:
        raise RegistryError(f"{path}: not valid YAML: {exc}") from None
    except (ValueError, RecursionError) as exc:  # an integer of thousands of digits, a list nested thousands deep
        raise RegistryError(f"{path}: cannot read the registry file: {type(exc).__name__}: {str(exc)[:200]}") from None


def is_number(value: Any) -> bool:
    """An int or a finite float (YAML's `.nan` and `.inf` are floats; a bool is no number)."""
    return isinstance(value, int) and not isinstance(value, bool) or isinstance(value, float) and math.isfinite(value)


def _unknown_keys(entry: dict[Any, Any], known: frozenset[str]) -> str | None:
    """What `entry` has beyond `known`, for an error message (None: nothing)."""
    extra = [str(k)[:40] for k in entry if k not in known]
    return ", ".join(sorted(extra)) if extra else None


def checked_id(value: Any) -> str | None:
    """`value` when it is a valid id (ID_PATTERN), else None."""
    return value if isinstance(value, str) and ID_PATTERN.fullmatch(value) else None


def checked_name(value: Any, default: str) -> str | None:
    """A display name: a string of at most 200 characters without control characters
    (`default` when absent); None when it is something else."""
    if value is None or value == "":
        return default
    if isinstance(value, str) and len(value) <= _NAME_MAX and not _CONTROL.search(value):
        return value
    return None


def load_registry(path: str | Path) -> Registry:
    """Load and validate a region registry YAML file."""
    p = Path(path)
    return parse_registry(read_yaml(p), str(p))


def parse_registry(raw: Any, origin: str = "<registry>") -> Registry:
    """Build a :class:`Registry` from parsed YAML, validating every entry."""

    def fail(where: str, what: str) -> RegistryError:
        return RegistryError(f"{origin}: {where}: {what}")

    if not isinstance(raw, dict):
        raise fail("top level", "expected a mapping with region, partners, locations")
    extra = _unknown_keys(raw, TOP_KEYS)
    if extra:
        raise fail("top level", f"unknown key(s) {extra} (known: {', '.join(sorted(TOP_KEYS))})")
    region = raw.get("region")
    if not isinstance(region, dict) or not isinstance(region.get("id"), str) or not region["id"]:
        raise fail("region", "expected {id: ..., name: ...} with a non-empty id")
    if checked_id(region["id"]) is None:
        raise fail("region", f"id must match {ID_PATTERN.pattern}")
    extra = _unknown_keys(region, REGION_KEYS)
    if extra:
        raise fail("region", f"unknown key(s) {extra} (known: id, name)")
    region_name = checked_name(region.get("name"), region["id"])
    if region_name is None:
        raise fail("region", f"name must be a string of at most {_NAME_MAX} characters")
    for section in ("partners", "locations"):
        if not isinstance(raw.get(section) or [], list):
            raise fail(section, "expected a list of entries ({id: ..., ...})")
    if not isinstance(raw.get("actions") or {}, dict):
        raise fail("actions", "expected a mapping of escalation level (2, 3, 4) to a list of actions")
    partners: dict[str, Partner] = {}
    for i, entry in enumerate(raw.get("partners") or []):
        where = f"partners[{i}]"
        if not isinstance(entry, dict):
            raise fail(where, "expected a mapping")
        pid, kind = entry.get("id"), entry.get("kind")
        if not isinstance(pid, str) or not pid:
            raise fail(where, "missing id")
        if checked_id(pid) is None:
            raise fail(where, f"id must match {ID_PATTERN.pattern}")
        where = f"partner {pid!r}"
        extra = _unknown_keys(entry, PARTNER_KEYS)
        if extra:
            raise fail(where, f"unknown key(s) {extra} (known: {', '.join(sorted(PARTNER_KEYS))})")
        if kind not in PARTNER_KINDS:
            raise fail(where, f"kind {kind!r} is not one of {', '.join(PARTNER_KINDS)}")
        if pid in partners:
            raise fail(where, "duplicate partner id")
        silent = entry.get("feed_silent_minutes")
        if silent is not None and (not is_number(silent) or silent <= 0):
            raise fail(where, f"feed_silent_minutes must be a positive number of minutes, not {str(silent)[:40]}")
        name = checked_name(entry.get("name"), pid)
        if name is None:
            raise fail(where, f"name must be a string of at most {_NAME_MAX} characters")
        partners[pid] = Partner(pid, kind, name, None if silent is None else float(silent))
    if not partners:
        raise fail("partners", "no partners defined")
    hl7_raw = {pid: entry.get("hl7") for entry in raw.get("partners") or []
               if isinstance(entry, dict) and (pid := entry.get("id")) in partners and entry.get("hl7") is not None}
    locations: dict[str, Location] = {}
    for i, entry in enumerate(raw.get("locations") or []):
        where = f"locations[{i}]"
        if not isinstance(entry, dict):
            raise fail(where, "expected a mapping")
        lid = entry.get("id")
        if not isinstance(lid, str) or not lid:
            raise fail(where, "missing id")
        if checked_id(lid) is None:
            raise fail(where, f"id must match {ID_PATTERN.pattern}")
        where = f"location {lid!r}"
        extra = _unknown_keys(entry, LOCATION_KEYS)
        if extra:
            raise fail(where, f"unknown key(s) {extra} (known: {', '.join(sorted(LOCATION_KEYS))})")
        if lid in locations:
            raise fail(where, "duplicate location id")
        partner, kind = entry.get("partner"), entry.get("kind")
        if partner not in partners:
            raise fail(where, f"partner {partner!r} is not defined under partners")
        if kind not in LOCATION_KINDS:
            raise fail(where, f"kind {kind!r} is not one of {', '.join(LOCATION_KINDS)}")
        beds = entry.get("staffed_beds")
        if not isinstance(beds, int) or isinstance(beds, bool) or not 0 <= beds <= MAX_STAFFED_BEDS:
            raise fail(where, f"staffed_beds must be a whole number from 0 to {MAX_STAFFED_BEDS:,}, "
                              f"got {str(beds)[:40]}")
        bed_type = entry.get("bed_type")
        if kind == "ward":
            if bed_type not in BED_TYPES:
                raise fail(where, f"a ward needs bed_type one of {', '.join(BED_TYPES)}")
        elif bed_type is not None:
            raise fail(where, "bed_type is only for kind: ward")
        if kind in ("seh", "ward") and partners[partner].kind != "hospital":
            raise fail(where, f"kind {kind} must belong to a hospital partner")
        profile = entry.get("expected_arrivals_per_hour")
        if profile is not None:
            if kind != "seh":
                raise fail(where, "expected_arrivals_per_hour is only for kind: seh")
            if (not isinstance(profile, list) or len(profile) != 24
                    or not all(is_number(x) and x >= 0 for x in profile)):
                raise fail(where, "expected_arrivals_per_hour must be 24 numbers >= 0 (hours 0..23, local time)")
            profile = tuple(float(x) for x in profile)
        location_name = entry.get("name")
        if location_name is not None and checked_name(location_name, lid) is None:
            raise fail(where, f"name must be a string of at most {_NAME_MAX} characters")
        locations[lid] = Location(lid, partner, kind, beds, bed_type, location_name, profile)
    for pid, block in hl7_raw.items():
        partners[pid] = replace(partners[pid], hl7=_parse_hl7(block, partners[pid], locations, partners, fail))
    overrides = raw.get("thresholds") or {}
    if not isinstance(overrides, dict):
        raise fail("thresholds", "expected a mapping of threshold names to values")
    if not all(isinstance(name, str) for name in overrides):
        raise fail("thresholds", "threshold names are strings")
    unknown = sorted(set(overrides) - set(Thresholds.names()))
    if unknown:
        raise fail("thresholds", f"unknown threshold name(s): {', '.join(unknown)}")
    for name, value in overrides.items():
        if name == "long_stay_days":
            if not isinstance(value, dict) or set(value) - set(BED_TYPES):
                raise fail("thresholds.long_stay_days", "expected {clinical|ic|mc: days}")
            for bed_type, days in value.items():
                if not is_number(days) or days < 0:
                    raise fail(f"thresholds.long_stay_days.{bed_type}", f"expected a number >= 0, got {str(days)[:40]}")
        else:
            problem = Thresholds.problem(name, value)
            if problem is not None:
                raise fail(f"thresholds.{name}", f"{problem}, got {str(value)[:40]}")
    if "long_stay_days" in overrides:
        overrides = {**overrides, "long_stay_days": {**Thresholds().long_stay_days, **overrides["long_stay_days"]}}
    # metrics.md ("Nowcast"): the forecast alert is raised and cleared "for
    # crowding_for_minutes" / "crowding_clear_minutes": a region that changes those
    # changes both rules, unless it sets the forecast's own.
    for own, crowding in (("forecast_for_minutes", "crowding_for_minutes"),
                          ("forecast_clear_minutes", "crowding_clear_minutes")):
        if own not in overrides and crowding in overrides:
            overrides = {**overrides, own: overrides[crowding]}
    actions: dict[int, tuple[str, ...]] = {}
    for level, items in (raw.get("actions") or {}).items():
        if level not in (2, 3, 4):
            raise fail(f"actions.{level}", "levels are 2, 3 and 4")
        if not isinstance(items, list) or not all(isinstance(a, str) for a in items):
            raise fail(f"actions.{level}", "expected a list of strings")
        actions[int(level)] = tuple(items)
    hooks = raw.get("webhooks") or []
    if not isinstance(hooks, list) or not all(
            isinstance(h, str) and urlsplit(h).scheme in ("http", "https") and urlsplit(h).hostname for h in hooks):
        raise fail("webhooks", "expected a list of http(s) URLs with a host")
    return Registry(
        region_id=region["id"],
        region_name=region_name,
        partners=partners,
        locations=locations,
        thresholds=Thresholds(**overrides),
        actions=actions,
        webhooks=tuple(hooks),
        path=origin,
    )


def _parse_hl7(
    block: Any,
    partner: Partner,
    locations: dict[str, Location],
    partners: dict[str, Partner],
    fail: Callable[[str, str], RegistryError],
) -> Hl7Link:
    """Validate a partner's `hl7:` block: a hospital, a unique sending facility, and a
    locations table naming only the partner's own SEH and ward locations (an unknown or
    foreign location is an error now, not a refused message at 3 a.m.)."""
    where = f"partner {partner.id!r}: hl7"
    if partner.kind != "hospital":
        raise fail(where, "only hospital partners send HL7 ADT")
    if not isinstance(block, dict):
        raise fail(where, "expected {sending_facility: ..., locations: {point of care: location id}}")
    unknown_keys = sorted(set(block) - {"sending_facility", "locations"})
    if unknown_keys:
        raise fail(where, f"unknown key(s): {', '.join(map(str, unknown_keys))}")
    facility = block.get("sending_facility")
    if not isinstance(facility, str) or not facility.strip():
        raise fail(f"{where}.sending_facility", "expected a non-empty string (MSH-4, first component)")
    for other in partners.values():
        if other.hl7 is not None and other.id != partner.id and other.hl7.sending_facility == facility:
            raise fail(f"{where}.sending_facility", f"{facility!r} is also partner {other.id!r}'s")
    table = block.get("locations") or {}
    if not isinstance(table, dict):
        raise fail(f"{where}.locations", "expected a mapping of point of care (PV1-3) to location id")
    pairs: list[tuple[str, str]] = []
    for code, location_id in table.items():
        if not isinstance(code, (str, int)) or isinstance(code, bool) or not str(code):
            raise fail(f"{where}.locations", f"point of care {code!r} must be a non-empty string")
        loc = locations.get(location_id) if isinstance(location_id, str) else None
        if loc is None:
            raise fail(f"{where}.locations.{code}", f"location {location_id!r} is not defined under locations")
        if loc.partner != partner.id:
            raise fail(f"{where}.locations.{code}", f"location {location_id!r} belongs to partner {loc.partner!r}")
        if loc.kind not in ("seh", "ward"):
            raise fail(f"{where}.locations.{code}", f"location {location_id!r} is a {loc.kind}, not an seh or ward")
        pairs.append((str(code), location_id))
    return Hl7Link(facility.strip(), tuple(pairs))
