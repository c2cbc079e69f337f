"""The sinks that must never stall the pipeline: Redis and webhooks (the `Sink` interface
and what it is handed, `Published`: streams/published.py).

Redis and the webhooks take work with a non-blocking `offer` and deliver it from a background task.
Redis keeps only the latest snapshot per key while it is down (so it catches up with the
current picture when it comes back) and a bounded queue of alerts; webhook deliveries
go through a bounded queue with retries and exponential back-off. Failures are counted
in :class:`streams.telemetry.Telemetry`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis

from streams.published import Published
from streams.telemetry import Telemetry
from topics.codec import format_time

log = logging.getLogger(__name__)

ALERT_STREAM_MAXLEN = 10_000
ZERO_TIME = "0001-01-01T00:00:00Z"


def snapshot_key(region: str, scope: str, ident: str) -> str:
    """Redis key of the latest snapshot: `spoedstroom:{region}:{scope}:{id}`."""
    return f"spoedstroom:{region}:{scope}:{ident}"


def alerts_stream(region: str) -> str:
    """Redis stream (capped) and pub/sub channel of a region's alert events."""
    return f"spoedstroom:{region}:alerts"


class RedisSink:
    """Latest snapshots (SET) and alerts (XADD capped + PUBLISH) into Redis."""

    def __init__(self, url: str, telemetry: Telemetry, max_alerts: int = 10_000) -> None:
        self.url = url
        self.telemetry = telemetry
        self._snapshots: dict[str, bytes] = {}
        self._alerts: deque[tuple[str, bytes]] = deque(maxlen=max_alerts)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: aioredis.Redis | None = None
        self.connected = False

    async def snapshot(self, published: Published) -> None:
        data = published.output.data
        self.offer_snapshot(published.region, data["scope"], data["id"], published.data_json)

    async def alert(self, published: Published) -> None:
        self.offer_alert(published.region, published.payload)

    def offer_snapshot(self, region: str, scope: str, ident: str, snapshot: bytes) -> None:
        """The latest snapshot data of a key (JSON), written when Redis is reachable."""
        self._snapshots[snapshot_key(region, scope, ident)] = snapshot
        self._wake.set()

    def offer_alert(self, region: str, cloudevent: bytes) -> None:
        self._alerts.append((region, cloudevent))
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        self._client = aioredis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)
        backoff = 0.2
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._flush()
                self.connected = True
                backoff = 0.2
            except Exception as exc:  # noqa: BLE001 - any Redis trouble: count, back off, retry
                self.connected = False
                self.telemetry.redis_failures.inc()
                log.warning("redis sink: %s (retrying in %.1fs)", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self._wake.set()

    async def _flush(self) -> None:
        assert self._client is not None
        while self._snapshots or self._alerts:
            snapshots, self._snapshots = self._snapshots, {}
            try:
                if snapshots:
                    await self._client.mset(snapshots)
            except BaseException:
                # Keep what was not written, unless a newer value came meanwhile.
                for key, value in snapshots.items():
                    self._snapshots.setdefault(key, value)
                raise
            while self._alerts:
                region, payload = self._alerts[0]
                pipe = self._client.pipeline(transaction=False)
                pipe.xadd(alerts_stream(region), {"event": payload}, maxlen=ALERT_STREAM_MAXLEN, approximate=True)
                pipe.publish(alerts_stream(region), payload)
                await pipe.execute()
                self._alerts.popleft()


def alertmanager_payload(event: dict[str, Any], receiver: str, external_url: str,
                         raised_data: dict[str, Any] | None = None) -> dict[str, Any]:
    """An alert CloudEvent as an Alertmanager webhook (version 4) notification.

    A resolved notification carries the labels and `startsAt` of the firing one, as
    Alertmanager's own do: receivers route and pair them by their labels (a critical
    page routed to an on-call service must be resolved there too). `alert.resolved`
    does not repeat the severity or the start, so they come from the `alert.raised` of
    its episode (`raised_data`); without it, the start is the one the alert id ends
    with and the severity is left out rather than guessed."""
    data = event["data"]
    raised = event["type"].endswith("alert.raised.v1")
    origin = data if raised else (raised_data or {})
    labels = {
        "alertname": data["kind"],
        "region": data["region"],
        "alert_id": data["alert_id"],
    }
    if origin.get("severity") is not None:
        labels["severity"] = origin["severity"]
    for name in ("hospital", "location", "partner", "level"):
        if data.get(name) is not None:
            labels[name] = str(data[name])
    annotations = {
        "summary": "; ".join(data.get("reasons") or []) or f"{data['kind']} in {data['region']}",
        "values": orjson.dumps(data.get("values") or {}, option=orjson.OPT_SORT_KEYS).decode(),
    }
    if data.get("actions"):
        annotations["actions"] = " | ".join(data["actions"])
    alert = {
        "status": "firing" if raised else "resolved",
        "labels": labels,
        "annotations": annotations,
        "startsAt": origin.get("started_at") or _started_at(data["alert_id"]) or event["time"],
        "endsAt": ZERO_TIME if raised else data.get("resolved_at", event["time"]),
        "generatorURL": f"{external_url}/status/{data['region']}",
        "fingerprint": data["alert_id"],
    }
    group = {"alertname": data["kind"], "region": data["region"]}
    return {
        "receiver": receiver,
        "status": alert["status"],
        "alerts": [alert],
        "groupLabels": group,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url,
        "version": "4",
        "groupKey": "{}:" + "{" + ",".join(f'{k}="{v}"' for k, v in group.items()) + "}",
        "truncatedAlerts": 0,
    }


def _started_at(alert_id: str) -> str | None:
    """The start of an episode from its id (`{region}:{kind}:{subject}:{start ms}`,
    processors.alerts.alert_id), or None if the id does not end with one."""
    _, _, last = alert_id.rpartition(":")
    return format_time(int(last)) if last.isdigit() and len(last) <= 15 else None


class RegionWebhooks:
    """Alert events to the webhooks of their own region."""

    def __init__(self, sinks: dict[str, "WebhookSink"]) -> None:
        self.sinks = sinks

    async def snapshot(self, published: Published) -> None:
        pass

    async def alert(self, published: Published) -> None:
        self.sinks[published.region].offer_alert(published.cloudevent, published.raised)


class WebhookSink:
    """POST each alert to every configured URL, with retries and back-off, never blocking.

    Each receiver has its own bounded queue and delivery task, so a receiver that is
    down or slow delays only its own notifications, never another receiver's."""

    def __init__(self, urls: list[str], telemetry: Telemetry, external_url: str, *,
                 max_queue: int = 1000, attempts: int = 5, timeout: float = 5.0, first_backoff: float = 0.5) -> None:
        self.urls = list(urls)
        self.telemetry = telemetry
        self.external_url = external_url
        self.attempts = attempts
        self.timeout = timeout
        self.first_backoff = first_backoff
        self._queues: dict[str, asyncio.Queue[bytes]] = {url: asyncio.Queue(maxsize=max_queue) for url in self.urls}
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped = 0

    def offer_alert(self, event: dict[str, Any], raised_data: dict[str, Any] | None = None) -> None:
        if not self.urls:
            return
        body = orjson.dumps(alertmanager_payload(event, "spoedstroom", self.external_url, raised_data))
        for queue in self._queues.values():
            try:
                queue.put_nowait(body)
            except asyncio.QueueFull:
                self.dropped += 1
                self.telemetry.webhook_failures.inc()

    def start(self) -> None:
        self._tasks = [asyncio.ensure_future(self._run(url, queue)) for url, queue in self._queues.items()]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    async def _run(self, url: str, queue: asyncio.Queue[bytes]) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                body = await queue.get()
                await self._deliver(session, url, body)

    async def _deliver(self, session: aiohttp.ClientSession, url: str, body: bytes) -> None:
        backoff = self.first_backoff
        for attempt in range(1, self.attempts + 1):
            try:
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                    if resp.status < 300:
                        self.telemetry.webhook_deliveries.inc()
                        return
                    if 400 <= resp.status < 500 and resp.status not in (408, 429):
                        self.telemetry.webhook_failures.inc()
                        log.warning("webhook %s refused the alert: HTTP %s (not retried)", url, resp.status)
                        return
                    raise RuntimeError(f"HTTP {resp.status}")
            except Exception as exc:  # noqa: BLE001 - network or 5xx: retry with back-off
                self.telemetry.webhook_failures.inc()
                if attempt == self.attempts:
                    log.warning("webhook %s failed %d times, giving up: %s", url, attempt, exc)
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
