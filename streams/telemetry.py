"""Prometheus metrics of the worker: the domain metrics as gauges, the completed durations
as histograms in seconds, and the pipeline's own health counters.

Names and labels are listed in docs/internals.md ("Prometheus names"); the shipped rules
and dashboards in deploy/ query exactly these. Labels are region, hospital, location,
topic, type, reason (never an encounter or ride id).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from streams.published import Published

# The label a "by X" snapshot object becomes (docs/internals.md).
BY_LABEL = {
    "arrivals_1h": "arrival_mode",
    "arrivals_24h": "arrival_mode",
    "discharges_24h": "destination",
    "calls_1h": "service",
    "calls_24h": "service",
    "calls_by_urgency_24h": "urgency",
    "rides_24h": "urgency",
    "sehs_by_nedocs_level": "level",
    "regions_by_escalation_level": "level",
    "follow_up_free_beds_by_kind": "kind",
}
SCOPE_LABELS = {
    "location": ("region", "hospital", "location"),
    "hospital": ("region", "hospital"),
    "region": ("region",),
    "nation": ("nation",),
}
# Of the nation snapshot's row per region (metrics.md, "The nation"), what the region's
# own snapshot does not export: whether the nation sees it as stale, and its level as
# the nation last saw it (one query for a national dashboard, whichever worker owns it).
NATION_REGION_FIELDS = ("stale", "escalation_level")
# Snapshot fields that are identity or text, not measurements.
NOT_EXPORTED = {"scope", "id", "as_of", "hospital", "kind", "bed_type", "status", "status_since", "nedocs_null_reason", "region"}

# Buckets in seconds for durations from minutes to days.
MINUTE_BUCKETS = (60, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 10800, 14400, 21600, 43200, 86400)
FAST_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def by_label(field: str) -> str | None:
    if field in BY_LABEL:
        return BY_LABEL[field]
    if "_by_" in field:
        return field.rsplit("_by_", 1)[1]
    return None


class SnapshotGauges(Collector):
    """The latest published snapshot per (region, scope, id), exposed at scrape time as
    one gauge family per scope and numeric field: `spoedstroom_{scope}_{field}` with the
    scope's labels (SCOPE_LABELS), plus the `BY_LABEL` label for "by X" objects and
    `spoedstroom_location_on_stop`. A field that is null is no series.

    Snapshots go out far more often than Prometheus scrapes (every 15 s), so the work
    is done per scrape instead of per snapshot. It has no `describe`: a scrape restricted
    to other names (`/metrics?name[]=...`) does not build these families at all."""

    def __init__(self) -> None:
        self.latest: dict[tuple[str, str, str], dict[str, Any]] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families: dict[tuple[str, str], GaugeMetricFamily] = {}

        def family(scope: str, field: str, label: str | None) -> GaugeMetricFamily:
            fam = families.get((scope, field))
            if fam is None:
                labels = list(SCOPE_LABELS[scope]) + ([label] if label else [])
                fam = families[(scope, field)] = GaugeMetricFamily(
                    f"spoedstroom_{scope}_{field}", f"Snapshot metric {field} per {scope} (see metrics.md).",
                    labels=labels)
            return fam

        for (region, scope, ident), data in sorted(self.latest.items()):
            if scope not in SCOPE_LABELS:
                continue
            if scope == "location":
                base: list[str] = [region, str(data.get("hospital") or ""), ident]
            elif scope == "hospital":
                base = [region, ident]
            elif scope == "nation":
                base = [ident]
                self._nation_regions(ident, data.get("regions"), families)
            else:
                base = [region]
            for field, value in data.items():
                if field in NOT_EXPORTED or value is None or isinstance(value, (str, list)):
                    continue
                if isinstance(value, dict):
                    label = by_label(field)
                    if label is None:
                        continue
                    fam = family(scope, field, label)
                    for sub, number in value.items():
                        if isinstance(number, (int, float)) and not isinstance(number, bool):
                            fam.add_metric(base + [str(sub)], float(number))
                elif isinstance(value, (int, float)):
                    family(scope, field, None).add_metric(base, float(value))
            if scope == "location" and "status" in data:
                family(scope, "on_stop", None).add_metric(base, 1.0 if data["status"] == "stop" else 0.0)
        yield from families.values()

    @staticmethod
    def _nation_regions(nation: str, rows: Any, families: dict[tuple[str, str], GaugeMetricFamily]) -> None:
        """`spoedstroom_nation_region_{stale,escalation_level}{nation, region}`."""
        if not isinstance(rows, dict):
            return
        for field in NATION_REGION_FIELDS:
            fam = families.get(("nation_region", field))
            if fam is None:
                fam = families[("nation_region", field)] = GaugeMetricFamily(
                    f"spoedstroom_nation_region_{field}", f"The nation snapshot's {field} per region (see metrics.md).",
                    labels=["nation", "region"])
            for region, row in sorted(rows.items()):
                value = row.get(field) if isinstance(row, dict) else None
                if isinstance(value, (bool, int, float)):
                    fam.add_metric([nation, str(region)], float(value))


class Telemetry:
    """All metrics of one worker in one registry (served at /metrics)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        # The snapshots' figures: one collector over the latest snapshot per key.
        self.snapshot_gauges = SnapshotGauges()
        r.register(self.snapshot_gauges)
        self.applied = Counter("spoedstroom_events_applied", "Input events applied to state.", ["region", "type"], registry=r)
        self.duplicates = Counter("spoedstroom_events_duplicate", "Input events recognised as duplicates (same source and id).", ["region", "type"], registry=r)
        self.late = Counter("spoedstroom_events_late", "Input events that arrived behind the watermark (applied at once).", ["region"], registry=r)
        self.deadlettered = Counter("spoedstroom_events_deadlettered", "Input records rejected to acute.deadletter.", ["topic", "reason"], registry=r)
        self.latency = Histogram("spoedstroom_processing_latency_seconds", "Time from the record's broker timestamp to its outputs being handed to the producer.", buckets=FAST_BUCKETS, registry=r)
        self.event_time_lag = Gauge("spoedstroom_event_time_lag_seconds", "Wall-clock time minus the stream clock.", ["region"], registry=r)
        self.offset_gaps = Counter("spoedstroom_consumer_offset_gaps", "Offsets the consumer skipped as a gap: legitimate only after transaction markers, otherwise records lost.", ["topic"], registry=r)
        self.consumer_lag = Gauge("spoedstroom_consumer_lag_messages", "Records not yet read (highwater minus position).", ["topic", "partition"], registry=r)
        self.partner_last = Gauge("spoedstroom_partner_last_event_timestamp_seconds", "Event time of the last event applied per partner (unix seconds).", ["region", "partner"], registry=r)
        self.alerts = Counter("spoedstroom_alerts", "Alert events published.", ["region", "kind", "status"], registry=r)
        self.open_alerts = Gauge("spoedstroom_open_alerts", "Alerts currently open.", ["region", "kind"], registry=r)
        self.redis_failures = Counter("spoedstroom_redis_failures", "Failed Redis writes (the sink retries; outages are counted here).", registry=r)
        self.webhook_failures = Counter("spoedstroom_webhook_failures", "Failed webhook POST attempts.", registry=r)
        self.webhook_deliveries = Counter("spoedstroom_webhook_deliveries", "Alert notifications delivered to webhook receivers.", registry=r)
        self.snapshots_published = Counter("spoedstroom_snapshots_published", "metrics.snapshot events published.", ["scope"], registry=r)
        self.durations = {
            "seh_length_of_stay": Histogram("spoedstroom_seh_length_of_stay_seconds", "SEH length of stay (departed - arrived).", ["region", "location"], buckets=MINUTE_BUCKETS, registry=r),
            "seh_waiting": Histogram("spoedstroom_seh_waiting_seconds", "SEH waiting time (treatment started - arrived).", ["region", "location"], buckets=MINUTE_BUCKETS, registry=r),
            "ambulance_handover": Histogram("spoedstroom_ambulance_handover_seconds", "Ambulance handover time (handover completed - at hospital).", ["region", "location"], buckets=MINUTE_BUCKETS, registry=r),
            "ambulance_response": Histogram("spoedstroom_ambulance_response_seconds", "Ambulance response time (on scene - call received), A0/A1/A2/B.", ["region", "urgency"], buckets=MINUTE_BUCKETS, registry=r),
        }

    def initialise(self, region: str, input_types: list[str], input_topics: list[str], reasons: list[str], alert_kinds: list[str]) -> None:
        """Create the known label sets at zero, so rates and dashboards have series from the start."""
        for type_name in input_types:
            self.applied.labels(region, type_name)
            self.duplicates.labels(region, type_name)
        self.late.labels(region)
        for topic in input_topics:
            self.offset_gaps.labels(topic)
            for reason in reasons:
                self.deadlettered.labels(topic, reason)
        for kind in alert_kinds:
            self.open_alerts.labels(region, kind).set(0)
            for status in ("raised", "resolved"):
                self.alerts.labels(region, kind, status)

    # ------------------------------------------------------------------ as a sink
    async def snapshot(self, published: "Published") -> None:
        data = published.output.data
        self.snapshots_published.labels(data["scope"]).inc()
        self.observe_snapshot(published.region, data)

    async def alert(self, published: "Published") -> None:
        data = published.output.data
        status = "raised" if published.output.kind == "alert.raised" else "resolved"
        self.alerts.labels(published.region, data["kind"], status).inc()

    def observe_snapshot(self, region: str, data: dict[str, Any]) -> None:
        """Remember a published snapshot: its gauges are read from it at the next scrape
        (SnapshotGauges), so publishing costs one dict write, not a gauge per field."""
        self.snapshot_gauges.latest[(region, data["scope"], data["id"])] = data

    def observe_duration(self, region: str, name: str, data: dict[str, Any]) -> None:
        hist = self.durations.get(name)
        if hist is None:
            return
        labels = data.get("labels") or {}
        values = [region] + [str(labels.get(n, "")) for n in hist._labelnames[1:]]
        hist.labels(*values).observe(float(data["seconds"]))
