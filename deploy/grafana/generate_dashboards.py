"""Generate the provisioned Grafana dashboards (deploy/grafana/dashboards/*.json).

    python deploy/grafana/generate_dashboards.py

The JSON files are committed; tests/deploy checks they match this generator, that every
expression parses in a real Prometheus and that every metric is one the worker exports
(docs/internals.md). Edit here, not in the JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
DS = {"type": "prometheus", "uid": "prometheus"}
R = 'region=~"$region"'
RL = 'region=~"$region", location=~"$location"'


class Layout:
    """Places panels left to right on Grafana's 24-column grid."""

    def __init__(self) -> None:
        self.x = self.y = self.row_h = 0
        self.next_id = 1

    def place(self, w: int, h: int) -> dict[str, int]:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos


def target(expr: str, legend: str = "", ref: str = "A", **extra: Any) -> dict[str, Any]:
    t = {"datasource": DS, "expr": expr, "refId": ref, "legendFormat": legend or "__auto"}
    t.update(extra)
    return t


def panel(lay: Layout, kind: str, title: str, targets: list[tuple[str, str]], *, w: int = 12,
          h: int = 8, unit: str = "short", thresholds: list[tuple[float | None, str]] | None = None,
          description: str = "", minimum: float | None = None, maximum: float | None = None,
          options: dict[str, Any] | None = None, instant: bool = False) -> dict[str, Any]:
    steps = [{"color": c, "value": v} for v, c in (thresholds or [(None, "green")])]
    defaults: dict[str, Any] = {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}}
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    if kind in ("stat", "bargauge", "gauge"):
        defaults["color"] = {"mode": "thresholds"}
    p: dict[str, Any] = {
        "id": lay.next_id,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": lay.place(w, h),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options or {},
        "targets": [
            target(expr, legend, chr(ord("A") + i), **({"instant": True, "range": False} if instant else {}))
            for i, (expr, legend) in enumerate(targets)
        ],
    }
    lay.next_id += 1
    return p


def row(lay: Layout, title: str) -> dict[str, Any]:
    lay.x, lay.y, lay.row_h = 0, lay.y + lay.row_h, 0
    p = {"id": lay.next_id, "type": "row", "title": title, "collapsed": False,
         "gridPos": {"x": 0, "y": lay.y, "w": 24, "h": 1}, "panels": []}
    lay.next_id += 1
    lay.y += 1
    return p


def variables(location_metric: str) -> dict[str, Any]:
    def var(name: str, label: str, query: str) -> dict[str, Any]:
        return {
            "name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": f"{name}-values"},
            "definition": query, "refresh": 2, "includeAll": True, "multi": True,
            "allValue": ".+", "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "sort": 1, "regex": "", "hide": 0, "options": [],
        }

    return {"list": [
        var("region", "Region", "label_values(spoedstroom_region_escalation_level, region)"),
        var("location", "Location", f"label_values({location_metric}{{{R}}}, location)"),
    ]}


def dashboard(uid: str, title: str, description: str, panels: list[dict[str, Any]],
              location_metric: str = "spoedstroom_location_nedocs_level") -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["spoedstroom"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "timezone": "Europe/Amsterdam",
        "annotations": {"list": []},
        "links": [{"type": "dashboards", "tags": ["spoedstroom"], "asDropdown": True,
                   "title": "Spoedstroom", "includeVars": True, "keepTime": True}],
        "templating": variables(location_metric),
        "panels": panels,
    }


NEDOCS_LEVELS = [(None, "green"), (2, "#EAB839"), (3, "orange"), (4, "red"), (5, "dark-red"), (6, "purple")]
NEDOCS_SCORE = [(None, "green"), (20, "#EAB839"), (60, "orange"), (100, "red"), (140, "dark-red"), (180, "purple")]
ESCALATION = [(None, "green"), (2, "#EAB839"), (3, "orange"), (4, "red")]


def regional_overview() -> dict[str, Any]:
    lay = Layout()
    ps = [
        panel(lay, "stat", "Escalation level", [(f"max by (region) (spoedstroom_region_escalation_level{{{R}}})", "{{region}}")],
              w=6, h=6, thresholds=ESCALATION, description="1 normal, 2 pressure, 3 severe, 4 regional scale-up (metrics.md)."),
        panel(lay, "bargauge", "SEHs by NEDOCS level", [(f"sum by (level) (spoedstroom_region_sehs_by_nedocs_level{{{R}}})", "level {{level}}")],
              w=6, h=6, instant=True, options={"orientation": "horizontal", "displayMode": "gradient"}),
        panel(lay, "stat", "SEHs on stop", [(f"sum(spoedstroom_region_sehs_on_stop{{{R}}})", "on stop")],
              w=4, h=6, thresholds=[(None, "green"), (1, "red")]),
        panel(lay, "stat", "Open alerts", [(f"sum by (kind) (spoedstroom_open_alerts{{{R}}})", "{{kind}}")],
              w=8, h=6, thresholds=[(None, "green"), (1, "orange")]),
        row(lay, "SEH crowding"),
        panel(lay, "bargauge", "NEDOCS per SEH", [(f"max by (location) (spoedstroom_location_nedocs{{{RL}}})", "{{location}}")],
              w=12, h=9, instant=True, thresholds=NEDOCS_SCORE, minimum=0, maximum=200,
              options={"orientation": "horizontal", "displayMode": "lcd"}),
        panel(lay, "timeseries", "Escalation level and overcrowded SEHs", [
            (f"max by (region) (spoedstroom_region_escalation_level{{{R}}})", "escalation {{region}}"),
            (f"count by (region) (spoedstroom_location_nedocs_level{{{R}}} >= 4)", "SEHs at level >= 4 {{region}}"),
        ], w=12, h=9),
        row(lay, "Beds"),
        panel(lay, "bargauge", "Free beds by type", [(f"sum by (bed_type) (spoedstroom_region_free_beds_by_bed_type{{{R}}})", "{{bed_type}}")],
              w=8, h=8, instant=True, thresholds=[(None, "red"), (5, "orange"), (15, "green")]),
        panel(lay, "bargauge", "Free follow-up places (ELV/VVT/GRZ)", [(f"sum by (kind) (spoedstroom_region_follow_up_free_beds_by_kind{{{R}}})", "{{kind}}")],
              w=8, h=8, instant=True, thresholds=[(None, "red"), (2, "orange"), (5, "green")]),
        panel(lay, "timeseries", "Occupancy by bed type", [(
            f"sum by (bed_type) (spoedstroom_region_occupied_beds_by_bed_type{{{R}}}) / sum by (bed_type) (spoedstroom_region_staffed_beds_by_bed_type{{{R}}})",
            "{{bed_type}}")], w=8, h=8, unit="percentunit", thresholds=[(None, "green"), (0.9, "orange"), (0.95, "red")]),
        row(lay, "Uitstroom"),
        panel(lay, "timeseries", "Wrong-bed days", [
            (f"sum(spoedstroom_region_wrong_bed_days_open{{{R}}})", "open (days held by waiting patients)"),
            (f"sum(spoedstroom_region_wrong_bed_days_24h{{{R}}})", "incurred last 24h"),
        ], w=12, h=8, unit="d"),
        panel(lay, "timeseries", "Wrong-bed patients", [(f"sum by (region) (spoedstroom_region_wrong_bed_patients{{{R}}})", "{{region}}")],
              w=12, h=8),
    ]
    return dashboard("spoedstroom-regional", "Spoedstroom: regional overview",
                     "Escalation level, SEH crowding, free beds and wrong-bed days of the region.", ps)


def seh_detail() -> dict[str, Any]:
    lay = Layout()
    ps = [
        panel(lay, "stat", "NEDOCS level", [(f"max by (location) (spoedstroom_location_nedocs_level{{{RL}}})", "{{location}}")],
              w=8, h=5, thresholds=NEDOCS_LEVELS),
        panel(lay, "stat", "On stop", [(f"max by (location) (spoedstroom_location_on_stop{{{RL}}})", "{{location}}")],
              w=4, h=5, thresholds=[(None, "green"), (1, "red")]),
        panel(lay, "stat", "Ambulances en route", [(f"sum by (location) (spoedstroom_location_ambulances_en_route{{{RL}}})", "{{location}}")],
              w=3, h=5),
        panel(lay, "stat", "Predicted NEDOCS level in 60 min",
              [(f"max by (location) (spoedstroom_location_predicted_nedocs_level_60m{{{RL}}})", "{{location}}")],
              w=3, h=5, thresholds=NEDOCS_LEVELS),
        panel(lay, "stat", "Occupancy", [(f"max by (location) (spoedstroom_location_occupancy{{{RL}}})", "{{location}}")],
              w=6, h=5, unit="percentunit", thresholds=[(None, "green"), (0.9, "orange"), (1.0, "red")]),
        row(lay, "NEDOCS"),
        panel(lay, "timeseries", "NEDOCS score", [(f"spoedstroom_location_nedocs{{{RL}}}", "{{location}}")],
              w=12, h=9, thresholds=NEDOCS_SCORE, minimum=0, maximum=200,
              description="Weiss et al. 2004; level 4 (overcrowded) above 100."),
        panel(lay, "timeseries", "NEDOCS now and predicted in 60 min", [
            (f"spoedstroom_location_nedocs{{{RL}}}", "now {{location}}"),
            (f"spoedstroom_location_predicted_nedocs_60m{{{RL}}}", "predicted in 60 min {{location}}"),
        ], w=12, h=9, thresholds=NEDOCS_SCORE, minimum=0, maximum=200,
              description="The nowcast (docs/nowcast.md): NEDOCS applied to the predicted patients in 60 minutes, "
                          "boarders and times carried forward; seh_crowding_forecast fires at predicted level 4."),
        panel(lay, "timeseries", "Patients now and predicted, expected arrivals and departures in 60 min", [
            (f"sum by (location) (spoedstroom_location_patients{{{RL}}})", "patients {{location}}"),
            (f"sum by (location) (spoedstroom_location_predicted_patients_60m{{{RL}}})", "predicted in 60 min {{location}}"),
            (f"sum by (location) (spoedstroom_location_expected_arrivals_60m{{{RL}}})", "expected arrivals {{location}}"),
            (f"sum by (location) (spoedstroom_location_expected_departures_60m{{{RL}}})", "expected departures {{location}}"),
        ], w=12, h=9),
        panel(lay, "timeseries", "Patients, waiting, boarders, critical", [
            (f"sum by (location) (spoedstroom_location_patients{{{RL}}})", "patients {{location}}"),
            (f"sum by (location) (spoedstroom_location_waiting{{{RL}}})", "waiting {{location}}"),
            (f"sum by (location) (spoedstroom_location_boarders{{{RL}}})", "boarders {{location}}"),
            (f"sum by (location) (spoedstroom_location_critical{{{RL}}})", "critical (U0/U1) {{location}}"),
            (f"sum by (location) (spoedstroom_location_staffed_beds{{{RL}}})", "staffed {{location}}"),
        ], w=12, h=9),
        panel(lay, "timeseries", "Longest boarding and last bed wait", [
            (f"spoedstroom_location_longest_boarding_hours{{{RL}}}", "longest boarding {{location}}"),
            (f"spoedstroom_location_last_bed_wait_hours{{{RL}}}", "last bed wait {{location}}"),
        ], w=12, h=8, unit="h"),
        panel(lay, "timeseries", "Arrivals last hour by mode", [
            (f"sum by (arrival_mode) (spoedstroom_location_arrivals_1h{{{RL}}})", "{{arrival_mode}}"),
        ], w=12, h=8, options={"legend": {"displayMode": "table", "placement": "right"}}),
        row(lay, "Length of stay"),
        panel(lay, "timeseries", "Length of stay p50/p90 (24h)", [
            (f"spoedstroom_location_los_p50_minutes_24h{{{RL}}}", "p50 {{location}}"),
            (f"spoedstroom_location_los_p90_minutes_24h{{{RL}}}", "p90 {{location}}"),
            (f"histogram_quantile(0.9, sum by (location, le) (rate(spoedstroom_seh_length_of_stay_seconds_bucket{{{RL}}}[1h]))) / 60",
             "p90 last hour (histogram) {{location}}"),
        ], w=12, h=8, unit="m", thresholds=[(None, "green"), (240, "red")]),
        panel(lay, "timeseries", "Share of stays over 4h, self-referral share", [
            (f"spoedstroom_location_los_over_4h_share_24h{{{RL}}}", "> 4h {{location}}"),
            (f"spoedstroom_location_self_referral_share_24h{{{RL}}}", "self-referral {{location}}"),
        ], w=12, h=8, unit="percentunit"),
        row(lay, "Ambulance handovers"),
        panel(lay, "timeseries", "Handovers", [
            (f"spoedstroom_location_handovers_in_progress{{{RL}}}", "in progress {{location}}"),
            (f"spoedstroom_location_ambulances_en_route{{{RL}}}", "en route {{location}}"),
            (f"spoedstroom_location_handovers_over_30m_24h{{{RL}}}", "over 30 min (24h) {{location}}"),
        ], w=12, h=8),
        panel(lay, "timeseries", "Handover minutes", [
            (f"spoedstroom_location_longest_handover_minutes{{{RL}}}", "longest ongoing {{location}}"),
            (f"spoedstroom_location_handover_p90_minutes_24h{{{RL}}}", "p90 24h {{location}}"),
        ], w=12, h=8, unit="m", thresholds=[(None, "green"), (30, "red")]),
    ]
    return dashboard("spoedstroom-seh", "Spoedstroom: SEH detail",
                     "One SEH: NEDOCS and its parts, arrivals, length of stay, handovers.", ps)


def uitstroom() -> dict[str, Any]:
    lay = Layout()
    ps = [
        panel(lay, "bargauge", "Discharges last 24h by destination", [
            (f"sum by (destination) (spoedstroom_location_discharges_24h{{{RL}}})", "{{destination}}")],
            w=12, h=9, instant=True, options={"orientation": "horizontal", "displayMode": "gradient"}),
        panel(lay, "bargauge", "Wrong-bed patients by what they wait for", [
            (f"sum by (waiting_for) (spoedstroom_location_wrong_bed_patients_by_waiting_for{{{RL}}})", "{{waiting_for}}")],
            w=12, h=9, instant=True, options={"orientation": "horizontal", "displayMode": "gradient"}),
        panel(lay, "timeseries", "Wrong-bed share per hospital", [
            (f"spoedstroom_hospital_wrong_bed_share{{{R}}}", "{{hospital}}")],
            w=12, h=8, unit="percentunit", thresholds=[(None, "green"), (0.08, "orange"), (0.10, "red")]),
        panel(lay, "timeseries", "Wrong-bed patients by waiting_for over time", [
            (f"sum by (waiting_for) (spoedstroom_location_wrong_bed_patients_by_waiting_for{{{RL}}})", "{{waiting_for}}")],
            w=12, h=8),
        panel(lay, "timeseries", "Wrong-bed days per hospital", [
            (f"spoedstroom_hospital_wrong_bed_days_open{{{R}}}", "open {{hospital}}"),
            (f"spoedstroom_hospital_wrong_bed_days_24h{{{R}}}", "24h {{hospital}}"),
        ], w=12, h=8, unit="d"),
        panel(lay, "timeseries", "Long-stay patients per hospital", [
            (f"spoedstroom_hospital_long_stay_patients{{{R}}}", "{{hospital}}")], w=12, h=8),
        panel(lay, "timeseries", "Discharges per ward (24h)", [
            (f"sum by (location) (spoedstroom_location_discharges_24h{{{RL}}})", "{{location}}")], w=12, h=8),
        panel(lay, "bargauge", "Free follow-up places (ELV/VVT/GRZ)", [
            (f"sum by (kind) (spoedstroom_region_follow_up_free_beds_by_kind{{{R}}})", "{{kind}}")],
            w=12, h=8, instant=True, thresholds=[(None, "red"), (2, "orange"), (5, "green")]),
    ]
    return dashboard("spoedstroom-uitstroom", "Spoedstroom: uitstroom",
                     "Outflow: discharges by destination and wrong-bed patients by what they wait for.", ps,
                     location_metric="spoedstroom_location_occupied_beds")


def ambulance() -> dict[str, Any]:
    lay = Layout()
    a1 = f'{R}, urgency=~"A0|A1"'
    ps = [
        panel(lay, "stat", "A1 response p95 (24h)", [(f"max by (region) (spoedstroom_region_a1_response_p95_minutes_24h{{{R}}})", "{{region}}")],
              w=8, h=6, unit="m", thresholds=[(None, "green"), (15, "red")], description="Norm: 95% of A1 rides on scene within 15 minutes."),
        panel(lay, "stat", "A1 on scene within 15 min (24h)", [(f"min by (region) (spoedstroom_region_a1_within_15m_share_24h{{{R}}})", "{{region}}")],
              w=8, h=6, unit="percentunit", thresholds=[(None, "red"), (0.95, "green")]),
        panel(lay, "stat", "Ambulances en route", [(f"sum(spoedstroom_location_ambulances_en_route{{{RL}}})", "en route")],
              w=8, h=6),
        panel(lay, "timeseries", "A1 response p95 against the 15-minute norm", [
            (f"spoedstroom_region_a1_response_p95_minutes_24h{{{R}}}", "p95 24h {{region}}"),
            (f"histogram_quantile(0.95, sum by (region, le) (rate(spoedstroom_ambulance_response_seconds_bucket{{{a1}}}[1h]))) / 60",
             "p95 last hour {{region}}"),
            ("vector(15)", "norm"),
        ], w=12, h=8, unit="m", thresholds=[(None, "green"), (15, "red")]),
        panel(lay, "timeseries", "A1 within 15 minutes", [
            (f"spoedstroom_region_a1_within_15m_share_24h{{{R}}}", "within 15 min {{region}}"),
            ("vector(0.95)", "norm"),
        ], w=12, h=8, unit="percentunit", minimum=0, maximum=1),
        panel(lay, "bargauge", "Response time distribution (A0/A1, selected range)", [(
            f"sum by (le) (increase(spoedstroom_ambulance_response_seconds_bucket{{{a1}}}[$__range]))", "{{le}}",
        )], w=12, h=9, instant=True, options={"orientation": "vertical", "displayMode": "basic"},
            description="Cumulative histogram buckets (le, seconds)."),
        panel(lay, "timeseries", "Rides last 24h by urgency", [
            (f"sum by (urgency) (spoedstroom_region_rides_24h{{{R}}})", "{{urgency}}")], w=12, h=9),
        panel(lay, "timeseries", "Ambulances en route per SEH", [
            (f"sum by (location) (spoedstroom_location_ambulances_en_route{{{RL}}})", "{{location}}")], w=12, h=8),
        panel(lay, "timeseries", "Handover p90 (histogram, last hour)", [
            (f"histogram_quantile(0.9, sum by (location, le) (rate(spoedstroom_ambulance_handover_seconds_bucket{{{RL}}}[1h]))) / 60",
             "{{location}}")], w=12, h=8, unit="m", thresholds=[(None, "green"), (30, "red")]),
        panel(lay, "timeseries", "Calls last hour by service", [
            (f"sum by (service) (spoedstroom_region_calls_1h{{{R}}})", "{{service}}")], w=12, h=8),
        panel(lay, "timeseries", "First-line share of completed calls (24h)", [
            (f"spoedstroom_region_first_line_share_24h{{{R}}}", "{{region}}")], w=12, h=8, unit="percentunit"),
    ]
    return dashboard("spoedstroom-ambulance", "Spoedstroom: ambulance",
                     "A0/A1 response times against the 15-minute norm, rides, ambulances en route.", ps)


def pipeline() -> dict[str, Any]:
    lay = Layout()
    ri = "[$__rate_interval]"
    ps = [
        panel(lay, "stat", "Workers up", [('sum(up{job="spoedstroom-worker"})', "up")], w=6, h=5,
              thresholds=[(None, "red"), (1, "orange"), (2, "green")]),
        panel(lay, "stat", "Consumer lag (messages)", [("sum(spoedstroom_consumer_lag_messages)", "lag")], w=6, h=5,
              thresholds=[(None, "green"), (100, "orange"), (1000, "red")]),
        panel(lay, "stat", "Event-time lag", [(f"max(spoedstroom_event_time_lag_seconds{{{R}}})", "lag")], w=6, h=5,
              unit="s", thresholds=[(None, "green"), (60, "orange"), (300, "red")]),
        panel(lay, "stat", "Dead-lettered (selected range)", [("sum(increase(spoedstroom_events_deadlettered_total[$__range]))", "dead-lettered")],
              w=6, h=5, thresholds=[(None, "green"), (1, "orange")]),
        row(lay, "Events"),
        panel(lay, "timeseries", "Events applied per second by type", [
            (f"sum by (type) (rate(spoedstroom_events_applied_total{{{R}}}{ri}))", "{{type}}")], w=12, h=8, unit="ops"),
        panel(lay, "timeseries", "Duplicates, late and dead-lettered per second", [
            (f"sum by (region) (rate(spoedstroom_events_duplicate_total{{{R}}}{ri}))", "duplicate {{region}}"),
            (f"sum by (region) (rate(spoedstroom_events_late_total{{{R}}}{ri}))", "late {{region}}"),
            (f"sum by (topic, reason) (rate(spoedstroom_events_deadlettered_total{ri}))", "dead-letter {{topic}} {{reason}}"),
        ], w=12, h=8, unit="ops"),
        panel(lay, "timeseries", "Processing latency", [
            (f"histogram_quantile(0.5, sum by (le) (rate(spoedstroom_processing_latency_seconds_bucket{ri})))", "p50"),
            (f"histogram_quantile(0.99, sum by (le) (rate(spoedstroom_processing_latency_seconds_bucket{ri})))", "p99"),
            (f"sum(rate(spoedstroom_processing_latency_seconds_sum{ri})) / sum(rate(spoedstroom_processing_latency_seconds_count{ri}))", "mean"),
        ], w=12, h=8, unit="s"),
        panel(lay, "timeseries", "Event-time lag by region", [
            (f"max by (region) (spoedstroom_event_time_lag_seconds{{{R}}})", "{{region}}")], w=12, h=8, unit="s"),
        panel(lay, "timeseries", "Consumer lag by topic", [
            ("sum by (topic) (spoedstroom_consumer_lag_messages)", "{{topic}}")], w=12, h=8),
        panel(lay, "timeseries", "Seconds since a partner's last event", [
            (f"time() - max by (partner) (spoedstroom_partner_last_event_timestamp_seconds{{{R}}})", "{{partner}}")],
            w=12, h=8, unit="s", thresholds=[(None, "green"), (900, "red")]),
        row(lay, "Sinks"),
        panel(lay, "timeseries", "Redis and webhook failures per second", [
            (f"sum(rate(spoedstroom_redis_failures_total{ri}))", "redis failures"),
            (f"sum(rate(spoedstroom_webhook_failures_total{ri}))", "webhook failures"),
            (f"sum(rate(spoedstroom_webhook_deliveries_total{ri}))", "webhook deliveries"),
        ], w=12, h=8, unit="ops"),
        panel(lay, "timeseries", "Snapshots published per second by scope", [
            (f"sum by (scope) (rate(spoedstroom_snapshots_published_total{ri}))", "{{scope}}")], w=12, h=8, unit="ops"),
        panel(lay, "timeseries", "Alerts raised and resolved (selected range)", [
            (f"sum by (kind, status) (increase(spoedstroom_alerts_total{{{R}}}[$__range]))", "{{kind}} {{status}}")],
            w=24, h=8),
    ]
    return dashboard("spoedstroom-pipeline", "Spoedstroom: pipeline health",
                     "Throughput, duplicates, dead letters, latency, lag and sink failures of the workers.", ps)


def nation() -> dict[str, Any]:
    """The nation's snapshot (a deployment of several regions): LCPS's view."""
    lay = Layout()
    ps = [
        panel(lay, "bargauge", "Escalation level per region", [
            ("max by (region) (spoedstroom_nation_region_escalation_level)", "{{region}}")],
              w=12, h=9, instant=True, thresholds=ESCALATION, minimum=1, maximum=4,
              options={"orientation": "horizontal", "displayMode": "lcd"},
              description="As the nation last saw each region (metrics.md, \"The nation\")."),
        panel(lay, "stat", "Stale regions", [("sum(spoedstroom_nation_region_stale)", "stale")],
              w=4, h=9, thresholds=[(None, "green"), (1, "red")],
              description="Regions without a snapshot for 15 minutes of stream time: left out of the spreading advice."),
        panel(lay, "bargauge", "Regions by escalation level", [
            ("sum by (level) (spoedstroom_nation_regions_by_escalation_level)", "level {{level}}")],
              w=8, h=9, instant=True, options={"orientation": "horizontal", "displayMode": "gradient"}),
        row(lay, "SEHs"),
        panel(lay, "timeseries", "SEH patients and boarders", [
            ("sum(spoedstroom_nation_seh_patients)", "patients"), ("sum(spoedstroom_nation_seh_boarders)", "boarders")],
              w=12, h=8),
        panel(lay, "bargauge", "SEHs by NEDOCS level", [
            ("sum by (level) (spoedstroom_nation_sehs_by_nedocs_level)", "level {{level}}")],
              w=8, h=8, instant=True, options={"orientation": "horizontal", "displayMode": "gradient"}),
        panel(lay, "stat", "SEHs on stop", [("sum(spoedstroom_nation_sehs_on_stop)", "on stop")],
              w=4, h=8, thresholds=[(None, "green"), (1, "red")]),
        row(lay, "Beds"),
        panel(lay, "bargauge", "Free beds by type", [
            ("sum by (bed_type) (spoedstroom_nation_free_beds_by_bed_type)", "{{bed_type}}")],
              w=8, h=8, instant=True, thresholds=[(None, "red"), (20, "orange"), (100, "green")]),
        panel(lay, "timeseries", "Occupancy by bed type", [
            ("max by (bed_type) (spoedstroom_nation_occupancy_by_bed_type)", "{{bed_type}}")],
              w=8, h=8, unit="percentunit", thresholds=[(None, "green"), (0.9, "orange"), (0.95, "red")]),
        panel(lay, "timeseries", "Wrong-bed patients", [("sum(spoedstroom_nation_wrong_bed_patients)", "wrong-bed patients")],
              w=8, h=8),
    ]
    return dashboard("spoedstroom-nation", "Spoedstroom: nation",
                     "Per region its escalation level and staleness, national SEH pressure and free beds.", ps)


DASHBOARDS = {
    "regional-overview.json": regional_overview,
    "nation.json": nation,
    "seh-detail.json": seh_detail,
    "uitstroom.json": uitstroom,
    "ambulance.json": ambulance,
    "pipeline-health.json": pipeline,
}


def render() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n" for name, build in DASHBOARDS.items()}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text, encoding="utf-8")
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
