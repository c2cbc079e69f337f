"""The region use case: a repartition record applied to the region it is keyed by.

A part of `streams.app.Pipeline` (which provides the app, table, settings and outputs):

- `apply_record`: load the region's runtime if this worker has not yet (its state read
  back from the table, streams/persistence.py), offer the record's events to the
  processor and release what is due (on the event clock by streams.watermark), publish
  the outputs (streams.outputs), then write the state and wait for every write to be
  acknowledged before the record is;
- a failure while applying an event is the event's, not the region's: the region is
  rebuilt from the state of the last record and the record runs again without the
  events that can have caused it (dead-lettered as `processing_error`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import faust
import orjson

from processors.output import Output
from processors.region import RegionProcessor
from streams import persistence
from streams.ingest import now_ms, reencode
from streams.readback import published_alerts
from streams.region_runtime import RegionRuntime
from streams.watermark import RELEASE_ALL, event_clock_horizon, merge_mark
from topics.codec import format_time, parse_time
from topics.event import Event, Rejected, shared_event

if TYPE_CHECKING:
    from streams.settings import Settings
    from streams.telemetry import Telemetry
    from topics.registry import Registry

log = logging.getLogger("streams.app")

MARKS_ENTRY = "~marks"
SENTINEL_ENTRY = "~sentinel"
PENDING_ENTRY = "~pending"  # keys whose newest snapshot the throttle had not sent yet
# The partition of the repartition topic the region's records (and so its state) were on
# when its state was written: a placement changed under a running deployment shows here.
PARTITION_ENTRY = "~partition"
# What a quiet record may leave for the next write (Regions._persist): the region's
# clock (processors.state's `core`, which also holds the counters and the clock guard:
# those move only with events) and the throttle's pending keys, which shrink when the
# flush timer sends (a stale list only sends those snapshots again, same ids).
DEFERRABLE = frozenset({"core", PENDING_ENTRY})

# What a step of a region returns: its outputs, the input records' timestamps of the
# events it took (for the latency histogram) and the events refused when offered, with
# their origin (topic, partition, offset).
Processed = tuple[list[Any], list[float], list[tuple[Event, Rejected, tuple[str, int, int]]]]


class Regions:
    """The region half of the pipeline (mixed into `Pipeline`)."""

    app: faust.App
    settings: "Settings"
    table: Any
    region_events: Any
    regions: dict[str, "Registry"]
    runtimes: dict[str, RegionRuntime]
    wall_clock: bool
    telemetry: "Telemetry"
    flush_policy: persistence.FlushPolicy
    deliveries: list[Any]
    unloaded_entries: dict[str, dict[str, bytes]]  # see _stored_entries
    unloaded_alerts: dict[str, set[tuple[str, str]]]  # see _published_alerts
    revocations: int  # partition revocations so far (the agents' group): see _load

    def _stored_entries(self, region: str) -> dict[str, bytes]:
        """A region's entries in the table (names without the region prefix).

        The table is read in one pass for all the regions this worker has not loaded yet:
        after a restart every region is loaded on its first record or tick, and a pass
        per region read the whole table once per region. What is kept for the others
        stays right because only a loaded region writes its entries, and it is dropped
        whenever partitions move (`forget_stored_entries`)."""
        kept = self.unloaded_entries.pop(region, None)
        if kept is not None:
            return kept
        by_region: dict[str, dict[str, bytes]] = {}
        for key, value in self.table.items():
            owner, sep, name = key.partition(b"|")
            if sep and value is not None:
                by_region.setdefault(owner.decode(), {})[name.decode()] = value
        mine = by_region.pop(region, {})
        self.unloaded_entries = {rid: entries for rid, entries in by_region.items()
                                 if rid in self.regions and rid not in self.runtimes}
        return mine

    async def _published_alerts(self, region: str) -> set[tuple[str, str]]:
        """The region's alert events on `acute.alerts` (streams/readback.py), read once
        for all the regions this worker has not loaded yet, like `_stored_entries`: a
        read per region cost ~0.5 s each (a consumer started, the tail fetched, an
        empty poll), one region after another after a restart. What is kept for the
        others stays right because only a region's owner publishes its alerts, and it
        is dropped whenever partitions move."""
        kept = self.unloaded_alerts.pop(region, None)
        if kept is not None:
            return kept
        waiting = [rid for rid in self.regions if rid != region and rid not in self.runtimes]
        by_region = await published_alerts(self.settings, [region, *waiting])
        mine = by_region.pop(region)
        self.unloaded_alerts = by_region
        return mine

    def forget_stored_entries(self) -> None:
        """Partitions moved: what was read for regions not loaded yet may be stale."""
        self.unloaded_entries = {}
        self.unloaded_alerts = {}

    def _refuse_moved(self, region: str, written_on: int, partition: int) -> NoReturn:
        """A region's records come on another partition than its state was written from.
        Going on would split the region's state over two partitions of the changelog,
        mixed again in whatever order a later restore reads them. A setting to put right,
        not data: the worker stops (_crash) and says why here."""
        log.critical("region %s: its state was written from partition %s of %s, its records now come on "
                     "partition %s: the national file's placement (or SPOEDSTROOM_INTERNAL_PARTITIONS) "
                     "changed under a running deployment; start the deployment under a new SPOEDSTROOM_APP_ID "
                     "(docs/operations.md, Scaling): putting the placement back does not help, the region's "
                     "records are on both partitions now", region, written_on, self.region_events.get_topic_name(),
                     partition)
        raise RuntimeError(f"region {region}: placement changed")

    async def _load(self, region: str, partition: int) -> RegionRuntime:
        """`_load_runtime`, kept for the region's next records unless partitions were
        revoked meanwhile: the revocation handler (streams/app.py) drops the runtimes of
        the partitions that went, and one still loading then would have stayed, stale,
        for when the partition comes back (Faust does not wait for the record under way:
        `stream_wait_empty`). Not kept, the next record loads the region again."""
        revocations = self.revocations
        rt = await self._load_runtime(region, partition)
        if self.revocations == revocations:
            self.runtimes[region] = rt
        else:
            self.runtimes.pop(region, None)  # nor one it replaces (a rebuild after a failure)
        return rt

    async def _load_runtime(self, region: str, partition: int) -> RegionRuntime:
        stored = self._stored_entries(region)
        # A crash may have stopped the writes of the last record part-way: the journal,
        # written first, completes them (streams/persistence.py).
        entries, journal = persistence.restore(stored, self.flush_policy)
        marks: dict[str, list[Any]] = entries.pop(MARKS_ENTRY, {})
        pending: list[str] = entries.pop(PENDING_ENTRY, [])
        written_on = entries.pop(PARTITION_ENTRY, partition)
        if written_on != partition:
            self._refuse_moved(region, written_on, partition)
        s = self.settings
        lateness = s.reorder_lateness_live_ms if self.wall_clock else s.reorder_lateness_ms
        registry = self.regions[region]
        if entries:
            # The entries were decoded from the table for this load alone: no copy (a
            # deep copy of every region's state was ~0.5 s of a restart at 100,000 open
            # encounters).
            processor = RegionProcessor.restore(registry, entries, owned=True, reorder_lateness_ms=lateness,
                                                clock_guard=not self.wall_clock, retention_ms=s.retention_ms)
        else:
            # On the wall clock the validator's future_time already bounds every event.
            processor = RegionProcessor(registry, reorder_lateness_ms=lateness, clock_guard=not self.wall_clock,
                                        retention_ms=s.retention_ms)
        log.info("region %s: state rebuilt from %d table entries (stream time %s)", region, len(entries),
                 format_time(processor.now) if processor.now else "-")
        runtime = RegionRuntime(region=region, partition=partition, processor=processor, marks=marks,
                                journal=journal, published=await self._published_alerts(region))
        # Snapshots the state counts as emitted but the throttle may not have sent before
        # the last worker stopped: send them again (same ids, so consumers see one).
        current = processor.snapshots()
        for key in pending:
            if key in current:
                data = current[key]
                runtime.pending[key] = Output("snapshot", key, parse_time(data["as_of"]), data)
        runtime.counted = self._counter_values(processor)
        for alert in processor.open_alerts():
            runtime.open_alerts[alert["alert_id"]] = alert
        return runtime

    async def apply_record(self, event: faust.EventT) -> None:
        region = (event.key or b"").decode("utf-8", "replace")
        if region not in self.regions:
            log.warning("record for region %r, not one of this deployment's: ignored", region[:64])
            return
        partition = event.message.partition
        rt = self.runtimes.get(region)
        if rt is None:
            rt = await self._load(region, partition)
        elif rt.partition != partition:
            # Records the last worker forwarded under the old placement, still on the old
            # partition when it stopped, load the region there; the new ones come here.
            self._refuse_moved(region, rt.partition, partition)
        body = orjson.loads(event.value)
        wall = now_ms()
        rt, (outputs, oldest_ts, refused) = await self._attempt(rt, partition, lambda r: self._process(r, body, wall))
        await self._conclude(rt, outputs, refused, quiet=not outputs and not refused and not body.get("events"),
                             oldest_ts=oldest_ts)
        steps = 1
        while rt.release_more:
            # Much came due at once (the first release of a catch-up, the buffer once the
            # stream is still): applied in bounded steps, each published and written like
            # a record of its own, so what is held follows the step and not the backlog,
            # and the first results show before the last events are applied. A crash
            # between steps re-reads this record: its events are duplicates of the
            # stored ones.
            rt, (outputs, _, refused) = await self._attempt(rt, partition, self._release_step)
            await self._conclude(rt, outputs, refused, quiet=False)
            steps += 1
        if steps > 1:
            log.debug("region %s: released in %d steps (%d events buffered)", region, steps, rt.processor.buffered)

    async def _attempt(self, rt: RegionRuntime, partition: int, step: Callable[[RegionRuntime], Processed]
                       ) -> tuple[RegionRuntime, Processed]:
        """Run `step` (no I/O) on the region; a failure while applying an event is the
        event's, not the region's: the region is rebuilt from the state of its last write
        and the step runs again without the events that can have caused it."""
        region = rt.region
        failed: set[tuple[str, str]] = set()
        while True:
            try:
                return rt, step(rt)
            except Exception as exc:
                suspects = {(e.source, e.id): e for e in rt.processor.suspects()}
                if not suspects or suspects.keys() <= failed:
                    raise  # no event to blame: a runtime failure (crash-only, see _crash)
                failed.update(suspects)
                log.error("region %s: %s while applying %s event(s) (%s): dead-lettered (processing_error), "
                          "state rebuilt from the last record", region, type(exc).__name__,
                          len(suspects), ", ".join(sorted({e.type for e in suspects.values()})))
                rt = await self._load(region, partition)
                rt.processor.quarantined.update(failed)

    async def _conclude(self, rt: RegionRuntime, outputs: list[Any],
                        refused: list[tuple[Event, Rejected, tuple[str, int, int]]], quiet: bool,
                        oldest_ts: Sequence[float] = ()) -> None:
        """After a step: dead letters, outputs and counters out, then the state written,
        each acknowledged before the next (see _drain_producer). `oldest_ts`: the input
        records' timestamps of the events the step took (the latency histogram)."""
        region = rt.region
        for e, exc, origin in refused:
            # too_old against the region's stream clock: the origin is exact, the value
            # is the event re-encoded (the raw bytes stay in the input topic).
            self.deliveries.append(await self._deadletter(e.partner.encode(), orjson.dumps(reencode(e)), exc, *origin,
                                                          reencoded=True))
        await self._deadletter_refused(rt.processor)
        await self._publish(rt, outputs)
        now_s = time.time()
        for ts in oldest_ts:
            self.telemetry.latency.observe(max(0.0, now_s - ts))
        self._count(rt)
        # Outputs acknowledged before the state that says they were sent: a crash in
        # between sends them again (same ids), never loses them.
        await self._drain_producer()
        written = self._persist(rt, quiet=quiet)
        if not written:
            return
        await self._drain_producer()
        if self.settings.embedded_broker and written > 1:
            # See Settings.embedded_broker: after the writes above, one record alone in its
            # batch, so the changelog's reported end offset covers them all. A record that
            # wrote one (its journal, the common live case) was alone in its batch already:
            # everything sent before it was acknowledged first, and the region records of
            # this worker are applied one at a time.
            rt.sentinel += 1
            self.table[(region + "|" + SENTINEL_ENTRY).encode()] = str(rt.sentinel).encode()
            await self._drain_producer()

    def _process(self, rt: RegionRuntime, body: dict[str, Any], wall: int) -> Processed:
        """Offer a repartition record's events to the region and release what is due.
        No I/O here: after a failure it runs again on the rebuilt state. Returns the
        outputs, the input records' timestamps and the events refused when offered."""
        proc = rt.processor
        outputs: list[Any] = []
        oldest_ts: list[float] = []
        refused: list[tuple[Event, Rejected, tuple[str, int, int]]] = []
        for item in body.get("events", ()):
            e = shared_event(item[0], item[1], item[2], item[3], item[4], item[5])
            try:
                _status, outs = proc.offer(e)
            except Rejected as exc:
                refused.append((e, exc, (item[7], item[8], item[9])))
                continue
            outputs.extend(outs)
            if item[6]:
                oldest_ts.append(item[6])
        if body.get("events"):
            # The stream flows (a tick is no sign of that): judged before this record's
            # release, or the first chunk of a batch read after a pause would be
            # released whole by the still rule, with the rest of its batch still coming.
            rt.last_record = time.monotonic()
        if self.wall_clock:
            outputs.extend(self._release_wall_clock(rt, wall))
        else:  # the read marks move only the event clock
            clock = time.monotonic()
            for tp, report in body.get("marks", {}).items():
                rt.marks[tp] = merge_mark(rt.marks.get(tp), report)
                if report[1] is not None:  # from the partition's reader
                    rt.reported[tp] = clock
            outputs.extend(self._release_event_clock(rt))
        return outputs, oldest_ts, refused

    async def _drain_producer(self) -> None:
        """Wait until every output and state write of this record is acknowledged.

        Faust's pre-commit flush gives up after 0.1 s with messages still buffered, so
        an offset could be committed while the state it depends on was never written,
        and a crash would lose events. Acknowledged before the record is acked, the
        state is never behind the committed offsets (at-least-once, made exact by
        dedup)."""
        producer = self.app.producer
        while producer.buffer.size:
            await producer.buffer.flush()
        await producer.flush()
        waiting = []
        for delivery in self.deliveries:
            if delivery.done():
                delivery.result()  # raises what the broker answered for a refused record
            else:  # handed over by a timer after the flush: checked next time
                waiting.append(delivery)
        self.deliveries = waiting

    def _release_step(self, rt: RegionRuntime) -> Processed:
        """The next bounded step of a release (apply_record): nothing offered."""
        outputs = self._release_wall_clock(rt, now_ms()) if self.wall_clock else self._release_event_clock(rt)
        return outputs, [], []

    def _release_wall_clock(self, rt: RegionRuntime, wall: int) -> list[Any]:
        """Wall clock: apply what is due by now less the live lateness, then move the
        clock there (once the last step of a backlog is applied)."""
        horizon = wall - self.settings.reorder_lateness_live_ms
        outputs, rt.release_more = rt.processor.release_step(horizon, self.settings.release_step_events)
        if not rt.release_more:
            outputs.extend(rt.processor.advance(horizon))
        return outputs

    def _release_event_clock(self, rt: RegionRuntime) -> list[Any]:
        """Event clock: apply what is due (streams.watermark.event_clock_horizon)."""
        s = self.settings
        horizon = event_clock_horizon(rt.marks, rt.reported, rt.last_record, time.monotonic(),
                                      s.reorder_lateness_ms, s.mark_fresh_s, s.still_s)
        if horizon is None:
            rt.release_more = False
            return []
        outputs, rt.release_more = rt.processor.release_step(None if horizon == RELEASE_ALL else int(horizon),
                                                             s.release_step_events)
        return outputs

    def _persist(self, rt: RegionRuntime, quiet: bool = False) -> int:
        """Write what this record changed, as one atomic step (streams/persistence.py:
        a journal per record, the changed entries themselves now and then). Returns
        how many table writes it made.

        A `quiet` record (no event, no output, no refusal: a tick, ten a second per
        region on the wall clock) that changed only what DEFERRABLE names (not the
        read marks, which the next owner of the region needs) writes nothing: its
        change rides with the next write. Lost in a crash, it costs nothing: the next
        record moves the clock on from the stored one, as if the worker had paused,
        and snapshots the throttle sent meanwhile are sent once more with the same
        ids. Two acknowledged writes per tick were half of a wall-clock worker's busy
        time at 100 events/s."""
        prefix = rt.region + "|"
        changes: dict[str, bytes | None] = rt.unwritten
        rt.unwritten = {}
        for name, value in rt.processor.take_changes().items():
            changes[name] = None if value is None else orjson.dumps(value)
        # The shell's entries count as changes too: on the event clock a tick carries
        # read marks (a region without events of its own hears of its input only so).
        shell = {name: value for name, value in ((MARKS_ENTRY, orjson.dumps(rt.marks)),
                                                 (PENDING_ENTRY, orjson.dumps(sorted(rt.pending))))
                 if rt.persisted.get(name) != value}
        if PARTITION_ENTRY not in rt.persisted:  # fixed for the runtime's life: once
            shell[PARTITION_ENTRY] = orjson.dumps(rt.partition)
        changes.update(shell)
        if quiet and changes.keys() <= DEFERRABLE:
            rt.unwritten = changes
            return 0
        rt.persisted.update(shell)
        table = self.table
        writes = persistence.journal_writes(rt.journal, changes)
        for name, value in writes:
            key = (prefix + name).encode()
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
        return len(writes)

