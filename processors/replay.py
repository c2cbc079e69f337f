"""Replay: run the domain core over an NDJSON log in file order, on the event clock.

`run_replay` is the pure function behind `spoedstroom replay` (and the pipeline tests):
every line is validated, offered to a RegionProcessor, and the buffer is released up to
(latest event time the clock guard let through - lateness) as the file is read; at the end
the guard decides what it still holds and everything is released. Events the region
refuses after they were offered (a far-ahead time nothing confirmed, a conflict, a
failure while applying) are dead-letter records too, with the event re-encoded. It yields plain dicts: CloudEvents for snapshots and alerts, and
`{"deadletter": {...}}` records; snapshots thinned to the last per key and stream minute
(processors.thinning); with `final`, only the last snapshot per key, every alert event
and one `{"summary": ...}` line. Same input, same output, always.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable, Iterator

import orjson

from processors.ingress import DEFAULT_RETENTION_MS
from processors.nation import NationProcessor
from processors.output import Output
from processors.region import RegionProcessor
from processors.thinning import MinuteThinner
from topics.envelope import emitted, partner_event
from topics.event import Event, Rejected
from topics.nation import Nation
from topics.registry import Registry
from topics.validation import Validator


def snapshot_event_id(key: str, data: dict[str, Any]) -> str:
    """`{key}@{as_of}#{content digest}`: one key can change several times at one stream
    time (a census of admissions), and consumers drop a repeated (source, id)."""
    digest = hashlib.blake2b(orjson.dumps(data, option=orjson.OPT_SORT_KEYS), digest_size=6).hexdigest()
    return f"{key}@{data['as_of']}#{digest}"


def output_event(region_id: str, o: Output) -> dict[str, Any] | None:
    """The CloudEvent the pipeline publishes for one output (None for observations)."""
    if o.kind == "snapshot":
        return emitted("metrics.snapshot", region_id, o.time, o.data, snapshot_event_id(o.key, o.data))
    if o.kind == "alert.raised":
        return emitted("alert.raised", region_id, o.time, o.data, f"{o.key}:raised")
    if o.kind == "alert.resolved":
        return emitted("alert.resolved", region_id, o.time, o.data, f"{o.key}:resolved")
    return None


def _text(line: bytes) -> str:
    return line.decode("utf-8", "replace").rstrip("\r\n")


class DeadLetters:
    """The refusals of a replay: counted by reason, and (unless only the summary is
    wanted) yielded as `{"deadletter": ...}` records."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.counts: dict[str, int] = {}

    def line(self, lineno: int, line: bytes, exc: Rejected) -> Iterator[dict[str, Any]]:
        """An input line refused as it was read: its own text."""
        reason = exc.reason.value
        self.counts[reason] = self.counts.get(reason, 0) + 1
        if self.keep:
            yield {"deadletter": {"reason": reason, "detail": exc.detail, "line": lineno, "value": _text(line)}}

    def events(self, items: list[tuple[Event, Rejected]]) -> Iterator[dict[str, Any]]:
        """Events a region refused after they were offered: re-encoded."""
        for event, exc in items:
            reason = exc.reason.value
            self.counts[reason] = self.counts.get(reason, 0) + 1
            if self.keep:
                value = orjson.dumps(partner_event(event.type, event.partner, event.id, event.time, event.data))
                yield {"deadletter": {"reason": reason, "detail": exc.detail, "line": None,
                                      "value": value.decode(), "reencoded": True}}


def run_replay(
    lines: Iterable[bytes],
    registry: Registry | Nation,
    final: bool = False,
    lateness_ms: int = 120_000,
    thin_snapshots: bool = True,
    retention_ms: int = DEFAULT_RETENTION_MS,
) -> Iterator[dict[str, Any]]:
    """Replay `lines`; `thin_snapshots=False` gives the every-change snapshot stream the
    contract's thinned one is defined from (tests); `retention_ms`: the state retention
    (`too_old`). A nation of several regions is replayed region by region in one pass,
    with the nation's snapshot."""
    if isinstance(registry, Nation):
        if registry.national:
            yield from _run_nation(lines, registry, final, lateness_ms, thin_snapshots, retention_ms)
            return
        (registry,) = registry.regions.values()
    validator = Validator(registry)
    proc = RegionProcessor(registry, reorder_lateness_ms=lateness_ms, clock_guard=True, retention_ms=retention_ms)
    region = registry.region_id
    dead = DeadLetters(keep=not final)
    # with `final`, only each key's last snapshot is encoded, at the end
    last_snapshot: dict[str, Output] = {}

    thinner = MinuteThinner()  # events.md, "Snapshot interval": per stream minute
    # The watermark last released: most lines leave it where it was (the events of one
    # instant, a census), and a release up to the same watermark finds nothing to apply
    # (later events wait in the buffer, earlier ones were applied on arrival).
    released: int | None = None

    def emit(outputs: list[Output], end: bool = False) -> Iterator[dict[str, Any]]:
        if not thin_snapshots or final:
            kept = outputs  # `final` keeps each key's last snapshot: thinning would not change it
        else:
            kept = thinner.push(outputs)
            if end:
                kept += thinner.flush()
        for o in kept:
            if final and o.kind == "snapshot":
                last_snapshot[o.key] = o
                continue
            ev = output_event(region, o)
            if ev is not None:
                yield ev

    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = validator.decode(line)
            status, outs = proc.offer(event)
        except Rejected as exc:
            yield from dead.line(lineno, line, exc)
            continue
        yield from emit(outs)
        if status != "duplicate":
            confirmed = proc.confirmed_time
            if confirmed is not None and confirmed - lateness_ms != released:
                released = confirmed - lateness_ms
                yield from emit(proc.release(released))
        yield from dead.events(proc.take_rejected())
    yield from emit(proc.finish(), end=True)
    yield from dead.events(proc.take_rejected())
    if final:
        for key in sorted(last_snapshot):
            ev = output_event(region, last_snapshot[key])
            assert ev is not None
            yield ev
        c = proc.counters
        yield {"summary": {
            "applied": c["applied"],
            "duplicates": c["duplicates"],
            "late": c["late"],
            "dead_lettered": dict(sorted(dead.counts.items())),
        }}


def _run_nation(
    lines: Iterable[bytes], nation: Nation, final: bool, lateness_ms: int, thin_snapshots: bool, retention_ms: int,
) -> Iterator[dict[str, Any]]:
    """`run_replay` for a nation: every line validated against the whole nation, routed to
    its region(s) (processors.nation); snapshots thinned per region and for the nation."""
    validator = Validator(nation.combined())
    proc = NationProcessor(nation, reorder_lateness_ms=lateness_ms, clock_guard=True, retention_ms=retention_ms)
    dead = DeadLetters(keep=not final)
    last_snapshot: dict[str, tuple[str, Output]] = {}
    # one thinner per region: the regions' clocks differ, a thinner needs one stream time
    thinners: dict[str | None, MinuteThinner] = {rid: MinuteThinner() for rid in [*nation.regions, None]}

    def emit(outputs: dict[str | None, list[Output]], end: bool = False) -> Iterator[dict[str, Any]]:
        for rid, outs in outputs.items():
            source = nation.id if rid is None else rid
            if thin_snapshots and not final:
                outs = thinners[rid].push(outs) + (thinners[rid].flush() if end else [])
            for o in outs:
                if final and o.kind == "snapshot":
                    last_snapshot[o.key] = (source, o)
                    continue
                ev = output_event(source, o)
                if ev is not None:
                    yield ev

    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = validator.decode(line)
            _status, outputs = proc.offer(event)
        except Rejected as exc:
            yield from dead.line(lineno, line, exc)
            continue
        yield from emit(outputs)
        yield from dead.events(proc.take_rejected())
    yield from emit(proc.finish(), end=True)
    yield from dead.events(proc.take_rejected())
    if final:
        for key in sorted(last_snapshot):
            source, o = last_snapshot[key]
            ev = output_event(source, o)
            assert ev is not None
            yield ev
        counters = {rid: p.counters for rid, p in proc.regions.items()}
        yield {"summary": {
            "applied": sum(c["applied"] for c in counters.values()),
            "duplicates": sum(c["duplicates"] for c in counters.values()),
            "late": sum(c["late"] for c in counters.values()),
            "dead_lettered": dict(sorted(dead.counts.items())),
            "applied_by_region": {rid: c["applied"] for rid, c in counters.items()},
        }}
