"""All runtime settings in one place, read from the environment (12-factor).

Every setting has a documented default that points at the embedded default stack, so
the same commands point at a real Apache Kafka and Redis by setting the environment.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from topics.catalogue import DEFAULT_APP_ID

ROOT = Path(__file__).resolve().parent.parent

#: Shortest bearer token the worker accepts: a token anyone can guess protects nothing.
MIN_BEARER_LENGTH = 16


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


class WebExposureError(ValueError):
    """The web server would serve /status and /metrics to the network without a usable token."""


@dataclass(frozen=True)
class Settings:
    """The configuration object. Field names map to `SPOEDSTROOM_<NAME>` variables."""

    #: Kafka bootstrap servers (comma-separated host:port).
    bootstrap_servers: str = "127.0.0.1:19092"
    #: Redis URL for snapshots and alerts.
    redis_url: str = "redis://127.0.0.1:16379/0"
    #: The region registry YAML file.
    registry: str = str(ROOT / "deploy" / "regions" / "haaglanden.yaml")
    #: Folder of the embedded stack's pid files, logs and data.
    state_dir: str = str(ROOT / ".spoedstroom")
    #: Port of the embedded broker (used by `dev up`).
    broker_port: int = 19092
    #: Port of the embedded Redis (used by `dev up`).
    redis_port: int = 16379
    #: Port of the worker's web server (health, status, /metrics).
    web_port: int = 6066
    #: Web bind address. Anything but loopback (127.0.0.0/8, ::1, localhost) needs
    #: `web_token`: the worker refuses to start otherwise (see check_web_exposure).
    web_host: str = "127.0.0.1"
    #: Stream clock: `wall` (production) or `event` (replays, tests).
    clock: str = "wall"
    #: Reorder lateness on the event clock (ms): how far behind the slowest input
    #: partition events are held so out-of-order input is applied in event-time order.
    reorder_lateness_ms: int = 120_000
    #: The state retention (events.md, "Order, lateness, duplicates"): an event more than
    #: this many days behind the region's stream clock is refused as `too_old` (1 to 366;
    #: `replay` and `backtest` read it too, so they refuse what the worker refuses).
    state_retention_days: float = 30.0
    #: Reorder lateness on the wall clock (ms): events are applied once wall-clock time
    #: minus this has passed their time; the floor of freshness (events.md: 250 ms).
    reorder_lateness_live_ms: int = 250
    #: Event clock: a partition's read mark counts only while its reader reported it
    #: within this many seconds (a reader that died said "caught up" for partitions
    #: nobody reads now).
    mark_fresh_s: float = 2.0
    #: Event clock: everything read is released only after the region had no event for
    #: this many seconds (a "caught up" can rest on an end offset fetched before a burst,
    #: and a region hears of other workers' partitions late).
    still_s: float = 2.0
    #: Ingest: input records handed over at once (one batch: validated together, forwarded
    #: as one repartition record per region, and a rebalance waits for at most one).
    ingest_batch_records: int = 2000
    #: Events per repartition record at most (and 256 KiB of input: records stay well
    #: below Kafka's 1 MB limit).
    forward_chunk_events: int = 400
    #: An input partition that delivered this recently counts as not caught up: its end
    #: offset may be older than what it is delivering.
    partition_quiet_s: float = 0.5
    #: Event clock: how often a tick moves the regions' watermarks while nothing arrives
    #: (the wall clock ticks every 100 ms, as events.md requires).
    tick_event_clock_s: float = 0.5
    #: Net allocations between passes of Python's cyclic garbage collector over its
    #: young objects (streams/collector.py: the state makes no cycles, and the default
    #: 700 spent a seventh of the domain core's time walking it); 0: Python's default.
    gc_young_threshold: int = 50_000
    #: How often the worker gives memory the C allocator holds free back to the OS
    #: (streams/collector.py `trim`, glibc only); 0: never.
    malloc_trim_s: float = 10.0
    #: Heaps the C allocator may keep for the worker's threads (streams/collector.py
    #: `limit_arenas`, glibc only; its own default is 8 per core); 0: glibc's default.
    malloc_arenas: int = 2
    #: How often the snapshots held back by the throttle are checked for being due.
    snapshot_flush_s: float = 0.1
    #: How often the nation's snapshot is rebuilt while no region snapshot arrives.
    nation_tick_s: float = 1.0
    #: How often the consumer lag and the partners' silence gauges are refreshed.
    telemetry_interval_s: float = 5.0
    #: How often the consumer commits the offsets of records fully handled (Faust's
    #: broker_commit_interval). Each record's writes are acknowledged before it counts
    #: as handled, so this bounds only how much a restart reads again.
    commit_interval_s: float = 1.0
    #: How often the consumer tells the group it is alive (Faust's broker_heartbeat_interval).
    heartbeat_interval_s: float = 1.0
    #: Records Faust buffers per stream before its consumer stops fetching more (its
    #: stream_buffer_maxsize; also the changelogs' recovery queue). A repartition record
    #: carries up to 400 events: with 16,384 Faust's consumer thread kept fetching and
    #: decoding far ahead of the region agent, competing with it for the interpreter.
    #: 64: at 500,000 events of backlog the worker used 292 s of CPU instead of 344 s
    #: and applied its first event after 23 s instead of 45 s (one run each).
    stream_buffer_records: int = 64
    #: Event clock: a reader pauses an input partition read more than this much event
    #: time ahead of its slowest partition with records left (streams/ingest_consumer.py):
    #: the regions release only up to the slowest, so what is read ahead of it waits in
    #: their reorder buffers (in a catch-up, one fetch of a sparse topic covers hours).
    read_ahead_ms: int = 600_000
    #: Events a region applies at most (about: whole minutes of event time) in one step of
    #: a release before its outputs and state are written. When much comes due at once
    #: (the first release of a catch-up, everything buffered once the stream is still),
    #: one step held its whole change set (every entry it touched, serialised as
    #: the entries and again as the journal) and nothing showed until all of it was
    #: applied.
    release_step_events: int = 5_000
    #: Messages the producer's send buffer holds (Faust's default, 100, stalls a record
    #: that changes a few hundred state entries, each one table write).
    producer_buffer_messages: int = 10_000
    #: Alert events read back per partition of `acute.alerts` when a worker takes a
    #: region over (so what its predecessor sent is not sent again).
    alert_tail_records: int = 1000
    #: State journal (streams/persistence.py): the entries are written (a flush) once the
    #: latest values of the entries changed since the last flush hold this many bytes.
    #: They are kept in memory until then, per region, and a flush writes them all at
    #: once: with 4 MiB the worker held 448-584 MB at 100,000 open encounters, with
    #: 1 MiB 404 MB, with 256 KiB 342-374 MB. An entry changed again adds nothing, so in
    #: ordinary traffic (a location, a snapshot, a partner's clock, changed over and
    #: over) this bound is reached far later than the one below ...
    journal_flush_bytes: int = 256 * 1024
    #: ... or once the journals since the last flush hold this many bytes (every change
    #: counted: what a restore applies over the entries, and what the journal slots
    #: hold in the table) ...
    journal_chain_bytes: int = 4 * 1024 * 1024
    #: ... or cover this many records. Larger: fewer writes, more journal to apply on a
    #: restore.
    journal_flush_records: int = 200
    #: Bytes a fetch may return per partition, and so what the consumer buffers per
    #: partition while a backlog is read. Kafka's 1 MiB: with 4 MiB the worker held
    #: ~90 MB more at 100,000 open encounters (540 against 448 MB) and a restart on
    #: `rocksdb://`, which reads only the changelog's tail, was no faster (11.6 against
    #: 10.9 s to every region). Raise it for `memory://`, whose restart reads the whole
    #: changelog, one round trip per fetch.
    consumer_fetch_bytes: int = 1024 * 1024
    #: The same for the input reader (streams/ingest_consumer.py). On the event clock one
    #: fetch of a partition is read ahead of the others whatever the pacing
    #: (`read_ahead_ms`), and waits in the reorder buffers: a fetch of a sparse topic's
    #: partition covers hours. Smaller fetches bound that; the reader still reads far
    #: faster than the regions apply.
    ingest_fetch_bytes: int = 128 * 1024
    #: Longest a fetch waits for records (ms; Faust's own is 1,500). Apache Kafka answers
    #: as soon as a record arrives; the embedded broker answers when the wait is over,
    #: so on it this is freshness lost per consumer hop (streams/transport.py).
    consumer_fetch_wait_ms: int = 50
    #: Static group membership (Kafka's group.instance.id): a stable name per worker
    #: (the pod name of a StatefulSet). A worker restarted under the same name takes
    #: its partitions back at once instead of waiting for the group to notice the old
    #: process is gone (the session timeout) and rebalancing twice. Empty: dynamic.
    group_instance_id: str = ""
    #: Faust application id: the consumer group, and the prefix of the internal topics
    #: (`{app_id}-region-events`, `{app_id}-nation`) and of the changelogs.
    app_id: str = DEFAULT_APP_ID
    #: Partitions of the internal repartition and changelog topics.
    internal_partitions: int = 4
    #: Replication factor of the topics `dev topics` creates (3 on a three-broker cluster).
    replication_factor: int = 1
    #: Faust table store: `memory://` or `rocksdb://` (rocksdict, production extra).
    store: str = "memory://"
    #: `rocksdb://` only: bytes of a RocksDB memtable per partition of the state table
    #: (writes are held in memory up to this size before going to disk) ...
    #: Faust's defaults (64 MiB, 3 memtables, a 2 GiB block cache, each per partition)
    #: held every state write of a long run in memory: with 100,000 open encounters the
    #: worker's RSS was 610 MB with them and 510 MB with these (`spoedstroom bench`). The
    #: live state is ~30 MB there, and the table is read only when a region is loaded.
    rocksdb_write_buffer_bytes: int = 8 * 1024 * 1024
    #: ... memtables per partition at most ...
    rocksdb_write_buffers: int = 2
    #: ... and the block cache per partition for reads from disk.
    rocksdb_block_cache_bytes: int = 16 * 1024 * 1024
    #: Short rebalance timeout for the embedded broker (seconds); raise for Apache Kafka.
    rebalance_timeout: float = 3.0
    #: The broker is the embedded Tansu (`dev up`, tests, demo). Tansu reports a
    #: partition's end offset as the last batch's base offset + 1, not the last
    #: offset + 1, so Faust's changelog recovery would stop short of the last batch. With
    #: this on, a record's state writes end with a single-record batch (its journal when
    #: that is its only write, else a sentinel after them), so the end offset is right,
    #: and Faust's recovery consistency check is off. Keep it off against Apache Kafka.
    embedded_broker: bool = False
    #: Bearer token required on /status and /metrics (`Authorization: Bearer <token>`):
    #: at least 16 visible ASCII characters. Required when `web_host` is not loopback;
    #: empty on loopback: no token required.
    web_token: str = ""
    #: Partner gateway (`spoedstroom gateway`): bind address of its MLLP listener and
    #: HTTP server. Loopback by default; in production a TLS terminator (mutual TLS for
    #: MLLP) sits in front of both.
    gateway_host: str = "127.0.0.1"
    #: Port of the gateway's MLLP listener (HL7 v2 ADT); 2575 is HL7's registered port.
    gateway_mllp_port: int = 2575
    #: Port of the gateway's HTTP server (FHIR endpoints, /healthz, /readyz, /metrics).
    gateway_http_port: int = 8075
    #: Bearer tokens of the partners posting FHIR: `partner=token` pairs separated by
    #: commas or newlines (each token 16+ visible ASCII characters). Prefer the file.
    gateway_tokens: str = ""
    #: A secret file with the same `partner=token` lines; read in addition to the above.
    gateway_tokens_file: str = ""
    #: Seconds the gateway waits for Kafka to acknowledge (acks=all) before it answers
    #: nothing and closes the connection, so the sender resends.
    gateway_send_timeout: float = 30.0
    #: Key of the keyed hash (HMAC-SHA256) that turns visit numbers into encounter ids:
    #: 32+ characters, the same for every gateway of a deployment, secret. The gateway
    #: and `convert` refuse to run without it. Prefer the file.
    pseudonym_key: str = ""
    #: A secret file holding the pseudonymisation key (wins over pseudonym_key).
    pseudonym_key_file: str = ""
    #: Optional Kafka security: PLAINTEXT, SASL_SSL, ... with SCRAM user/password.
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: str = ""

    @classmethod
    def from_env(cls, **overrides: object) -> "Settings":
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get(f"SPOEDSTROOM_{f.name.upper()}")
            if raw is None:
                continue
            default = f.default
            if isinstance(default, bool):
                values[f.name] = raw.lower() in ("1", "true", "yes", "on")
            elif isinstance(default, int):
                values[f.name] = int(raw)
            elif isinstance(default, float):
                values[f.name] = float(raw)
            else:
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)  # type: ignore[arg-type]
        if settings.clock not in ("wall", "event"):
            raise ValueError(f"SPOEDSTROOM_CLOCK must be 'wall' or 'event', got {settings.clock!r}")
        if not 1 <= settings.state_retention_days <= 366:  # NaN fails too
            raise ValueError(f"SPOEDSTROOM_STATE_RETENTION_DAYS must be 1 to 366 days, got {settings.state_retention_days}")
        return settings

    @property
    def retention_ms(self) -> int:
        """`state_retention_days` in milliseconds, as the region processors take it."""
        return int(self.state_retention_days * 86_400_000)

    def kafka_client_options(self) -> dict[str, Any]:
        """Connection options for a plain aiokafka client (the gateway's producer, the
        worker's read-backs) with these security settings: the one place they are built."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers}
        protocol = self.security_protocol.upper()
        if protocol != "PLAINTEXT":
            options["security_protocol"] = protocol
        if protocol.startswith("SASL"):
            options.update(sasl_mechanism=self.sasl_mechanism or "SCRAM-SHA-512",
                           sasl_plain_username=self.sasl_username, sasl_plain_password=self.sasl_password)
        if protocol.endswith("SSL"):
            options["ssl_context"] = ssl.create_default_context()
        return options

    @property
    def broker_url(self) -> str:
        return f"kafka://{self.bootstrap_servers.split(',')[0]}"

    @property
    def web_is_loopback(self) -> bool:
        """The web server binds only to this machine (127.0.0.0/8, ::1 or localhost)."""
        host = self.web_host.strip().strip("[]").lower()
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:  # a host name or "" (all interfaces): it may reach the network
            return False

    def check_web_exposure(self) -> None:
        """Refuse settings that leave /status and /metrics open (closed by default).

        A token, when set, must be long enough to resist guessing and plain visible ASCII:
        HTTP clients such as Prometheus strip surrounding whitespace (a trailing newline
        from a secret file would never match) and cannot send other characters reliably.
        Without a token the web server may only bind loopback. Raises WebExposureError
        with a one-line message saying what to do.
        """
        token = self.web_token
        fix = (f"set SPOEDSTROOM_WEB_TOKEN to a random secret of at least {MIN_BEARER_LENGTH} "
               "characters (e.g. `openssl rand -hex 32`)")
        if token:
            if not all("!" <= c <= "~" for c in token):
                raise WebExposureError(
                    "SPOEDSTROOM_WEB_TOKEN contains whitespace or non-ASCII characters (a trailing "
                    f"newline from a file?): {fix}")
            if len(token) < MIN_BEARER_LENGTH:
                raise WebExposureError(
                    f"SPOEDSTROOM_WEB_TOKEN has {len(token)} characters, too short to protect /status "
                    f"and /metrics: {fix}")
        elif not self.web_is_loopback:
            raise WebExposureError(
                f"SPOEDSTROOM_WEB_HOST={self.web_host!r} is not a loopback address and "
                f"SPOEDSTROOM_WEB_TOKEN is empty, so /status and /metrics would be open to the "
                f"network: {fix}, or bind SPOEDSTROOM_WEB_HOST=127.0.0.1")
