"""What the rules and the snapshot builders may read of a region: `RegionView`.

`processors.region.RegionProcessor` implements it. The rules (processors.rules), the
snapshot builders (processors.snapshot) and the emission (processors.emission) are
written against this protocol instead of the processor class, so none of them imports
the region, and what they depend on is listed in one place. The builders only read;
the rules also keep their episode states in `rules` and report changed entries with
`mark_changed`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from processors.crowding import SehFigures
    from processors.index import Memberships
    from processors.nowcast import Forecast
    from processors.windows import Windows
    from topics.registry import Registry, Thresholds


class RegionView(Protocol):
    # -- static, from the registry
    registry: Registry
    th: Thresholds
    region: str
    seh_ids: list[str]
    ward_ids: list[str]
    followup_ids: list[str]
    bedded_ids: list[str]  # wards and follow-up locations
    hospital_ids: list[str]
    wards_of: dict[str, list[str]]  # hospital -> its wards
    sehs_of: dict[str, list[str]]  # hospital -> its SEHs
    location_keys: dict[str, str]  # location -> its snapshot key
    hospital_keys: dict[str, str]
    region_key: str
    silent_ms: dict[str, int]  # partners with their own feed_silent threshold
    # -- the region's clock and state
    now: int | None
    snap_min: int | None  # the stream minute of the last snapshot emission
    partners: dict[str, int]  # partner -> time of its latest event
    locs: dict[str, dict[str, Any]]  # reported beds and SEH status per location
    rules: dict[str, dict[str, Any]]  # `rule:{kind}:{subject}` -> episode state
    win: Windows
    index: Memberships
    snaps: dict[str, dict[str, Any]]  # the last emitted snapshot content per key

    # -- figures
    def beds(self, lid: str) -> int: ...
    def hospital_ward_beds(self, hospital: str) -> int: ...
    def seh_core(self, lid: str) -> SehFigures: ...
    def seh_forecast(self, lid: str) -> Forecast: ...
    def status(self, lid: str) -> tuple[str, int | None]: ...
    def occupied(self, lid: str) -> int: ...
    def long_stay(self, lid: str) -> int: ...
    def escalation_level(self) -> int: ...

    # -- state changes (the rules' episodes)
    def mark_changed(self, entry: str) -> None: ...
