"""Hand-written valid examples of every event type (shared by the contract tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "deploy" / "regions" / "haaglanden.yaml"
T0 = 1_795_352_700_000  # 2026-11-22T13:05:00Z

#: short type -> (partner, data): one valid example of every input type.
EXAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "call.received": ("hap-haaglanden", {"call_id": "hap-c-1", "service": "hap", "urgency": "U3"}),
    "call.triaged": ("hap-haaglanden", {"call_id": "hap-c-1", "urgency": "U2"}),
    "call.completed": (
        "hap-haaglanden",
        {"call_id": "hap-c-1", "outcome": "seh_referral", "destination": "haga-leyweg-seh"},
    ),
    "dispatch.assigned": (
        "rav-haaglanden",
        {"ride_id": "r-77", "urgency": "A1", "call_received_at": "2026-11-22T14:01:30+01:00", "call_id": "mka-9"},
    ),
    "dispatch.on_scene": ("rav-haaglanden", {"ride_id": "r-77"}),
    "dispatch.transporting": (
        "rav-haaglanden",
        {"ride_id": "r-77", "destination": "rdgg-delft-seh", "eta": "2026-11-22T13:40:00Z"},
    ),
    "dispatch.at_hospital": ("rav-haaglanden", {"ride_id": "r-77", "location": "rdgg-delft-seh"}),
    "dispatch.handover_completed": ("rav-haaglanden", {"ride_id": "r-77"}),
    "dispatch.cleared": ("rav-haaglanden", {"ride_id": "r-77"}),
    "dispatch.cancelled": ("rav-haaglanden", {"ride_id": "r-78"}),
    "seh.arrived": (
        "rdgg",
        {"encounter_id": "rdgg:enc.0001", "location": "rdgg-delft-seh", "arrival_mode": "ambulance", "ride_id": "r-77"},
    ),
    "seh.triaged": ("rdgg", {"encounter_id": "rdgg:enc.0001", "urgency": "U1"}),
    "seh.treatment_started": ("rdgg", {"encounter_id": "rdgg:enc.0001"}),
    "seh.admission_requested": ("rdgg", {"encounter_id": "rdgg:enc.0001", "bed_type": "ic"}),
    "seh.departed": ("rdgg", {"encounter_id": "rdgg:enc.0001", "disposition": "admitted"}),
    "ward.admitted": ("rdgg", {"encounter_id": "rdgg:enc.0001", "location": "rdgg-delft-ic", "acute": True}),
    "ward.transferred": ("rdgg", {"encounter_id": "rdgg:enc.0001", "location": "rdgg-delft-interne"}),
    "ward.discharge_ready": ("rdgg", {"encounter_id": "rdgg:enc.0001", "waiting_for": "vvt"}),
    "ward.discharged": ("rdgg", {"encounter_id": "rdgg:enc.0001", "destination": "vvt"}),
    "encounter.cancelled": ("rdgg", {"encounter_id": "rdgg:enc.0001", "cancelled_type": "ward.discharged"}),
    "capacity.reported": ("wzh", {"location": "wzh-elv", "staffed_beds": 0}),
    "seh.status_changed": (
        "haga",
        {"location": "haga-zoetermeer-seh", "status": "stop", "reason": "staff_shortage", "expected_until": "2026-11-22T18:00:00+01:00"},
    ),
}

EMITTED_EXAMPLES: dict[str, dict[str, Any]] = {
    "metrics.snapshot": {
        "scope": "location",
        "id": "rdgg-delft-seh",
        "as_of": "2026-11-22T13:05:00Z",
        "hospital": "rdgg",
        "kind": "seh",
        "patients": 12,
        "waiting": 4,
        "nedocs": 57.3,
        "nedocs_level": 2,
        "nedocs_null_reason": None,
        "arrivals_1h": {"ambulance": 2, "self_referral": 1},
        "status": "open",
        "status_since": None,
    },
    "alert.raised": {
        "alert_id": "seh_crowding:rdgg-delft-seh:1795352700000",
        "kind": "seh_crowding",
        "severity": "warning",
        "region": "haaglanden",
        "hospital": "rdgg",
        "location": "rdgg-delft-seh",
        "started_at": "2026-11-22T12:55:00Z",
        "values": {"nedocs": 145.2, "nedocs_level": 5},
        "thresholds": {"nedocs_alert_level": 4, "crowding_for_minutes": 10},
        "reasons": ["NEDOCS level 5 >= 4 for 10 min"],
        "actions": [],
    },
    "alert.resolved": {
        "alert_id": "regional_escalation:haaglanden:2",
        "kind": "regional_escalation",
        "region": "haaglanden",
        "level": 2,
        "resolved_at": "2026-11-22T16:00:00+01:00",
        "values": {"escalation_level": 1},
    },
}
