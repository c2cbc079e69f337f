"""The live regional board of the demo: what a capacity manager of the region sees.

It reads what the worker published to Redis (latest snapshots and the alert stream), so
it shows exactly what other services see, and renders it with rich every second.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from streams.sinks import alerts_stream
from topics.registry import Registry

NEDOCS_STYLE = {1: "green", 2: "green3", 3: "yellow", 4: "dark_orange", 5: "red", 6: "bold white on red"}
NEDOCS_LABEL = {1: "niet druk", 2: "druk", 3: "zeer druk", 4: "overvol", 5: "ernstig overvol", 6: "gevaarlijk overvol"}
ESCALATION_STYLE = {1: "bold green", 2: "bold yellow", 3: "bold dark_orange", 4: "bold white on red"}


def read_region(client: redis.Redis, region: str, alerts: int = 8) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Latest snapshots by `scope:id`, and the newest alert events (newest first)."""
    snapshots: dict[str, dict[str, Any]] = {}
    keys = [k for k in client.scan_iter(match=f"spoedstroom:{region}:*:*", count=500) if not k.endswith(b":alerts")]
    if keys:
        for key, value in zip(keys, client.mget(keys)):
            if value:
                _, _, scope, ident = key.decode().split(":", 3)
                snapshots[f"{scope}:{ident}"] = orjson.loads(value)
    events = [orjson.loads(fields[b"event"]) for _id, fields in client.xrevrange(alerts_stream(region), count=alerts)]
    return snapshots, events


def _n(value: Any, fmt: str = "{:.0f}") -> str:
    if value is None:
        return "-"
    return fmt.format(value)


def render(registry: Registry, snapshots: dict[str, dict[str, Any]], alerts: list[dict[str, Any]], urls: dict[str, str]) -> Group:
    region = snapshots.get(f"region:{registry.region_id}", {})
    level = int(region.get("escalation_level") or 1)
    head = Text.assemble(
        (f" {registry.region_name} ", "bold"),
        ("  opschalingsniveau ", ""),
        (f" {level} ", ESCALATION_STYLE.get(level, "bold")),
        (f"   stream time {region.get('as_of', '-')}", "dim"),
    )
    seh = Table(title="SEH's (instroom en doorstroom)", expand=True)
    for col in ("SEH", "NEDOCS", "niveau", "patiënten", "wachtend", "boarders", "ambulances onderweg", "overdrachten",
                "langste overdracht (min)", "verwacht 60 min", "voorspeld NEDOCS 60 min", "status"):
        seh.add_column(col, justify="right" if col not in ("SEH", "niveau", "status") else "left")
    for loc in registry.sehs():
        snap = snapshots.get(f"location:{loc.id}", {})
        lvl = snap.get("nedocs_level")
        style = NEDOCS_STYLE.get(lvl or 0, "dim")
        stop = snap.get("status") == "stop"
        seh.add_row(
            loc.name or loc.id,
            Text(_n(snap.get("nedocs"), "{:.0f}"), style=style),
            Text(f"{lvl} {NEDOCS_LABEL.get(lvl, '')}" if lvl else "-", style=style),
            _n(snap.get("patients")),
            _n(snap.get("waiting")),
            _n(snap.get("boarders")),
            _n(snap.get("ambulances_en_route")),
            _n(snap.get("handovers_in_progress")),
            _n(snap.get("longest_handover_minutes")),
            _n(snap.get("expected_arrivals_60m"), "{:.1f}"),
            Text(_n(snap.get("predicted_nedocs_60m"), "{:.0f}"),
                 style=NEDOCS_STYLE.get(snap.get("predicted_nedocs_level_60m") or 0, "dim")),
            Text("STOP" if stop else "open", style="bold red" if stop else "green"),
        )
    advice = destination_line(registry, region.get("destination_advice") or [])
    wards = Table(title="Ziekenhuizen (kliniek en uitstroom)", expand=True)
    for col in ("ziekenhuis", "bezet", "operationeel", "vrij", "bezetting", "vrij klinisch", "vrij IC", "verkeerde-bed patiënten", "verkeerde-bed-dagen 24h"):
        wards.add_column(col, justify="left" if col == "ziekenhuis" else "right")
    for hospital in registry.hospitals():
        snap = snapshots.get(f"hospital:{hospital.id}", {})
        free_by = snap.get("free_beds_by_bed_type") or {}
        occ = snap.get("occupancy")
        wards.add_row(
            hospital.name,
            _n(snap.get("occupied_beds")),
            _n(snap.get("staffed_beds")),
            _n(snap.get("free_beds")),
            Text(_n(occ * 100 if occ is not None else None, "{:.0f}%"), style="red" if (occ or 0) >= 0.95 else ""),
            _n(free_by.get("clinical")),
            _n(free_by.get("ic")),
            _n(snap.get("wrong_bed_patients")),
            _n(snap.get("wrong_bed_days_24h"), "{:.1f}"),
        )
    alert_lines = Text()
    for event in alerts:
        data = event.get("data", {})
        raised = event.get("type", "").endswith("alert.raised.v1")
        subject = data.get("location") or data.get("hospital") or data.get("partner") or data.get("region")
        level_txt = f" niveau {data['level']}" if data.get("level") else ""
        alert_lines.append(
            f"{event.get('time', '')}  {'▲' if raised else '▼'} {data.get('kind')}{level_txt} {subject}\n",
            style=("red" if data.get("severity") == "critical" else "yellow") if raised else "green",
        )
    if not alerts:
        alert_lines.append("geen meldingen", style="dim")
    footer = Text("  ".join(f"{name}: {url}" for name, url in urls.items()), style="dim")
    return Group(Panel(head), seh, advice, wards, Panel(alert_lines, title="Laatste meldingen"), footer)


def destination_line(registry: Registry, advice: list[dict[str, Any]]) -> Text:
    """The region's destination advice for A2/B rides: open SEHs, lowest predicted NEDOCS first."""
    line = Text("  bestemmingsadvies A2/B (laagste voorspelde NEDOCS eerst): ", style="bold")
    if not advice:
        line.append("-", style="dim")
    for i, a in enumerate(advice):
        loc = registry.locations.get(a["location"])
        name = (loc.name if loc is not None and loc.name else a["location"])
        if i:
            line.append("  ›  ", style="dim")
        line.append(f"{name} ({a['predicted_nedocs_60m']:.0f})",
                    style=NEDOCS_STYLE.get(a.get("predicted_nedocs_level_60m") or 0, ""))
    return line


def read_nation(client: redis.Redis, nation: str) -> dict[str, Any]:
    """The nation's latest snapshot ({} before the first)."""
    value = client.get(f"spoedstroom:{nation}:nation:{nation}")
    return orjson.loads(value) if value else {}


def render_nation(name: str, snapshot: dict[str, Any], urls: dict[str, str]) -> Group:
    """The national board (LCPS's view): a row per region, the nation's totals, and where
    to spread patients to."""
    head = Text.assemble((f" {name} ", "bold"), (f"   stream time {snapshot.get('as_of', '-')}", "dim"))
    table = Table(title="Regio's", expand=True)
    for col in ("regio", "opschaling", "SEH-patiënten", "boarders", "SEH's op stop", "vrij klinisch", "vrij IC",
                "bezetting klinisch", "verkeerde-bed patiënten", ""):
        table.add_column(col, justify="left" if col in ("regio", "") else "right")

    def row(label: str, figures: dict[str, Any], level: Any, stale: bool, style: str = "") -> None:
        free = figures.get("free_beds_by_bed_type") or {}
        occupancy = (figures.get("occupancy_by_bed_type") or {}).get("clinical")
        table.add_row(
            Text(label, style=style),
            Text(_n(level), style=ESCALATION_STYLE.get(level, "")) if level else "-",
            _n(figures.get("seh_patients")), _n(figures.get("seh_boarders")), _n(figures.get("sehs_on_stop")),
            _n(free.get("clinical")), _n(free.get("ic")),
            _n(occupancy * 100 if occupancy is not None else None, "{:.0f}%"),
            _n(figures.get("wrong_bed_patients")),
            Text("verouderd" if stale else "", style="bold red"),
        )

    for region, figures in (snapshot.get("regions") or {}).items():
        row(region, figures, figures.get("escalation_level"), bool(figures.get("stale")))
    levels = snapshot.get("regions_by_escalation_level") or {}
    row("Nederland", snapshot, max((int(level) for level in levels), default=None), False, "bold")
    advice = Text()
    for bed_type, ranked in (snapshot.get("spreading_advice") or {}).items():
        places = ", ".join(f"{r['region']} ({r['free_beds']})" for r in ranked[:5]) or "geen"
        advice.append(f"{bed_type}: {places}\n")
    footer = Text("  ".join(f"{label}: {url}" for label, url in urls.items()), style="dim")
    return Group(Panel(head), table, Panel(advice, title="Spreidingsadvies (meeste vrije bedden eerst)"), footer)
