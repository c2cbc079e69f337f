"""Corrections to faust-streaming 0.15.3 that the pipeline depends on: input events lost
when a worker starts or takes over partitions (docs/reliability.md, F3b).

Faust keeps two sets: the partitions assigned, and the "active" ones it wants records
from (stream partitions are paused while tables recover). Three faults combine:

1. The fetch for the active partitions runs in the consumer thread and is handed the
   live set, which the main thread empties when it pauses partitions. aiokafka reads an
   empty set as "every partition", so records of paused stream partitions come back;
   Faust drops them (their partition is not active), but aiokafka's position has moved
   past them.
2. `Recovery` resumes the stream partitions and *then* seeks them to their committed
   offsets, and only then resumes its flow control, which clears every stream queue.
   Records fetched in that window are queued and thrown away; their offsets have moved
   Faust's read offset on, so the next record looks like a gap (as after transaction
   markers): the offsets in between count as acknowledged, and the same records fetched
   again from the committed offset are below the read offset and dropped.
3. The seek leaves partitions without a committed offset where they are, so after (1)
   or (2) such a partition (e.g. one that received its first events while no worker
   ran) is never read from its start.

Seen on the embedded broker after a worker restart: a whole partition of calls published
while no worker ran was never forwarded, and never committed either.

Gaps are reported (`apply(on_gap=...)`): with producers that do not use transactions,
as here, a gap in an input partition means records were lost, so the worker counts and
logs every one (`spoedstroom_consumer_offset_gaps_total`); the process-fault tests
require zero.

The fix, for the pinned version only (any other version refuses to start until this is
checked again): the fetch gets a copy of the active set; `Recovery` seeks while the
stream partitions are still paused, partitions without a committed offset to their
beginning (the `earliest` reset policy), then clears the queues and resumes partitions
and flow with no `await` in between, so nothing fetched before the seek reaches a stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import faust
from aiokafka.errors import IllegalStateError
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, ensure_aiokafka_TP

FAUST_VERSION = "0.15.3"
_getmany = AIOKafkaConsumerThread.getmany
_add_gap = Consumer._add_gap
_on_gap: Callable[[str, int, int, int], None] | None = None


def apply(on_gap: Callable[[str, int, int, int], None] | None = None) -> None:
    """Install the corrections (idempotent); `on_gap(topic, partition, first, last)` is
    called for every run of offsets the consumer skips as a gap."""
    global _on_gap
    if faust.__version__ != FAUST_VERSION:
        raise RuntimeError(
            f"streams/faust_fixes.py corrects faust-streaming {FAUST_VERSION}, found {faust.__version__}: "
            "check whether its three faults are still there, then update it")
    AIOKafkaConsumerThread.getmany = _getmany_active_copy  # type: ignore[method-assign]
    Recovery.on_recovery_completed = _on_recovery_completed  # type: ignore[method-assign]
    Recovery._resume_streams = _resume_streams  # type: ignore[method-assign]
    Consumer._add_gap = _add_gap_reported  # type: ignore[method-assign]
    _on_gap = on_gap


async def _add_gap_reported(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
    if _on_gap is not None and offset_from <= offset_to:
        _on_gap(tp.topic, tp.partition, offset_from, offset_to)
    await _add_gap(self, tp, offset_from, offset_to)


async def _getmany_active_copy(self: Any, active_partitions: Any, timeout: float) -> Any:
    """Fetch for the partitions active now: a copy, so a pause cannot widen the fetch."""
    if active_partitions is not None:
        active_partitions = set(active_partitions)
    return await _getmany(self, active_partitions, timeout)


async def _seek_then_resume(recovery: Any) -> bool:
    """Seek the (paused) stream partitions to their committed offsets, then resume them.
    False if the assignment changed meanwhile (the next rebalance's recovery resumes)."""
    app = recovery.app
    consumer = app.consumer
    assignment = consumer.assignment()
    streams = {tp for tp in assignment if not recovery._is_changelog_tp(tp)}
    if assignment:
        timeout = app.conf.broker_request_timeout
        recovery.log.info("Seek stream partitions to committed offsets.")
        await recovery._wait(consumer.perform_seek(), timeout=timeout)
        uncommitted = sorted(tp for tp in streams if consumer._committed_offset.get(tp) is None)
        if uncommitted:
            try:
                await recovery._wait(consumer._thread.seek_to_beginning(*map(ensure_aiokafka_TP, uncommitted)),
                                     timeout=timeout)
            except IllegalStateError:
                recovery.log.warning("Recovery rebalancing again: partitions revoked during the seek")
                return False
    # No await from here on: the queues are cleared before any stream partition is
    # fetched again, and everything fetched later comes from the positions just set.
    recovery.completed.set()
    app.flow_control.resume()  # clears the stream queues
    consumer.resume_partitions(streams)
    consumer.resume_flow()
    return True


async def _resume_streams(self: Any, generation_id: int = 0) -> None:
    """`Recovery._resume_streams` (no table recovery needed), seeking before resuming."""
    await self.app.on_rebalance_complete.send()
    if self.app.consumer_generation_id != generation_id:
        self.log.warning("Recovery rebalancing again")
        return
    if not await _seek_then_resume(self):
        return
    await self.app._fetcher.maybe_start()
    self.tables.on_actives_ready()
    self.tables.on_standbys_ready()
    self.app.on_rebalance_end()
    self.log.info("Worker ready")


async def _on_recovery_completed(self: Any, generation_id: int = 0) -> None:
    """`Recovery.on_recovery_completed` (tables restored), seeking before resuming."""
    self.log.info("Restore complete!")
    await self.app.on_rebalance_complete.send()
    self._set_recovery_ended()
    callbacks = [
        asyncio.ensure_future(table.on_recovery_completed(self.actives_for_table[table], self.standbys_for_table[table]))
        for table in self.tables.values()
    ]
    if callbacks:
        await asyncio.wait(callbacks)
    if self.app.consumer_generation_id != generation_id:
        self.log.warning("Recovery rebalancing again app id %s param %s", self.app.consumer_generation_id, generation_id)
        return
    if not await _seek_then_resume(self):
        return
    await self.app._fetcher.maybe_start()
    self.tables.on_actives_ready()
    if not self.app.assignor.assigned_standbys():
        self.tables.on_standbys_ready()
    self.app.on_rebalance_end()
    self.log.info("Worker ready")
