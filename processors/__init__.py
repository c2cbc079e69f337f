"""The domain core: pure functions and small classes from events and `now` to state,
metrics and alerts. No Kafka, Faust, Redis, Prometheus or clock imports.

Modules:
- `region`: `RegionProcessor`, the facade (offer/release/release_all/advance/finish,
  take_rejected, snapshots, open_alerts, counters, dump/take_changes/restore).
- `state`: the state entries: their names, the dump, the change feed and the restore.
- `output`: `Output(kind, key, time, data)`, what the core hands to its callers.
- `ingress`: what happens to an event before it is applied: too_old, dedup, the clock
  guard, the reorder buffer.
- `clockguard`: far-ahead event times held until other events confirm them.
- `reorder`: reorder buffer and duplicate detection (seen ids kept 24h of stream time).
- `doorstroom`: hospital encounters (SEH and ward) folded from their transitions, with
  held transitions and HL7-style cancellations.
- `instroom`: calls and ambulance rides.
- `uitstroom`: wrong-bed time over `(now - 24h, now]`.
- `windows`: minute-bucket rings for the 1h/24h windows, nearest-rank percentiles.
- `crowding`: NEDOCS and its level (None with a reason when undefined).
- `escalation`: the regional escalation conditions per level.
- `alerts`: alert episodes ("for N min" raise/clear, stable alert ids).
- `rules`: the alert rules (conditions, thresholds, alert details, deadlines).
- `evaluation`: `Rules`, which steps only the subjects whose inputs changed or whose
  deadline has come.
- `scheduler`: `Deadlines`, the per-subject "step again at" times behind `Rules`.
- `snapshot`: `metrics.snapshot` content per location, hospital and region.
- `thinning`: the snapshot interval on the event clock (last snapshot per key and minute).
- `replay`: `run_replay`, the pure function behind `spoedstroom replay`.

The hot modules may run compiled (SPOEDSTROOM_CORE=compiled, `topics.compiled`).
"""

from topics import compiled

compiled.use(__name__, __path__)
