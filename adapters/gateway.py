"""The partner gateway service (`spoedstroom gateway`): moves partner messages in, events
out. It decides nothing itself: `adapters.hl7` and `adapters.fhir` map, this module
carries their results to Kafka and answers the sender.

- MLLP listener (python-hl7's `hl7.mllp` framing): one HL7 v2 message per block. `AA`
  only after Kafka acknowledged every event of the message (acks=all); `AE` with the
  reason for a message that parses but cannot be mapped, `AR` for one that does not
  parse, both only after its redacted copy is in `acute.deadletter`. When Kafka does not
  acknowledge in time the connection is closed without an ACK, so the sender resends:
  never acknowledged before it is safe, never lost.
- HTTP (aiohttp): `POST /fhir/Encounter`, `POST /fhir` (Bundle), `POST
  /fhir/MeasureReport`, each with the partner's bearer token; answers are FHIR
  (OperationOutcome, or a response Bundle); `GET /healthz`, `/readyz`, `/metrics`.
- Nothing of a message is logged but partner, trigger, outcome and reason code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import hl7
import orjson
from aiohttp import web
from aiokafka import AIOKafkaProducer
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from hl7.mllp import HL7StreamReader, HL7StreamWriter, InvalidBlockError, start_hl7_server
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from adapters import fhir
from adapters import hl7 as hl7_mapping
from adapters.outcome import Mapped, Outcome, Refusal, Refused
from adapters.pseudonym import load_key
from streams.settings import MIN_BEARER_LENGTH, Settings
from streams.web import METRICS_CONTENT_TYPE, authorized, hide_server_version
from topics import catalogue
from topics.catalogue import TOPIC_OF_TYPE
from topics.envelope import CLOUDEVENTS_JSON
from topics.event import short_type
from topics.registry import Registry
from topics.validation import deadletter_headers, deadletter_record

log = logging.getLogger("spoedstroom.gateway")

DEADLETTER_TOPIC = catalogue.DEADLETTER
#: `dlq.topic` of a gateway dead letter: it came in over MLLP or HTTP, not from a topic.
ORIGIN_HL7, ORIGIN_FHIR = "gateway.hl7", "gateway.fhir"
MAX_MESSAGE_BYTES = 1_048_576  # one ADT message or Bundle; real ones are a few KiB
FHIR_JSON = "application/fhir+json"
_NOTE_UNSAFE = re.compile(r"[^A-Za-z0-9 _.,:;()'=/+-]")
DEADLETTER_MAX_BYTES = 1_000_000  # a dead letter's record, under Kafka's default message.max.bytes
MAX_HEADER_CHARS = 1_000  # an MSH the ACK echoes (real ones are ~100 characters)


class GatewayConfigError(ValueError):
    """The gateway cannot start with these settings (message says what to fix)."""


def parse_tokens(inline: str, file: str, registry: Registry) -> dict[str, str]:
    """Partner bearer tokens from `partner=token` lines (commas or newlines) in the
    setting and the secret file. Every partner must exist; every token is 16+ visible
    ASCII characters and belongs to one partner only."""
    text = inline
    if file:
        try:
            text += "\n" + Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise GatewayConfigError(f"cannot read SPOEDSTROOM_GATEWAY_TOKENS_FILE {file}: {exc.strerror}") from None
    tokens: dict[str, str] = {}
    for item in text.replace(",", "\n").splitlines():
        item = item.strip()
        if not item or item.startswith("#"):
            continue
        partner, sep, token = item.partition("=")
        partner, token = partner.strip(), token.strip()
        if not sep or partner not in registry.partners:
            raise GatewayConfigError(f"gateway token entry for {partner!r}: not `partner=token` with a "
                                     "partner of the registry")
        if len(token) < MIN_BEARER_LENGTH or not all("!" <= c <= "~" for c in token):
            raise GatewayConfigError(f"gateway token of partner {partner!r} must be at least "
                                     f"{MIN_BEARER_LENGTH} visible ASCII characters (openssl rand -hex 32)")
        if token in tokens.values():
            raise GatewayConfigError(f"gateway token of partner {partner!r} is also another partner's")
        tokens[partner] = token
    return tokens


def partner_of(tokens: Mapping[str, str], header: str | None) -> str | None:
    """The partner whose token the `Authorization` header carries. Every token is
    compared, in constant time each (`streams.web.authorized`), whatever matched first,
    so the time taken tells nothing about which partner or how much was right."""
    found = None
    for partner, token in tokens.items():
        if authorized(token, header) and found is None:
            found = partner
    return found


class Metrics:
    """The gateway's Prometheus metrics (own registry: one gateway per process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "spoedstroom_gateway_messages_total",
            "Partner messages by protocol, partner, trigger and outcome (accepted, ignored, "
            "refused, rejected, unauthorized, failed)",
            ["protocol", "partner", "trigger", "outcome"], registry=self.registry)
        self.events = Counter(
            "spoedstroom_gateway_events_total", "Events sent to the input topics, by partner and type",
            ["partner", "type"], registry=self.registry)
        self.deadletters = Counter(
            "spoedstroom_gateway_deadletters_total", "Refused messages sent to acute.deadletter, by reason",
            ["protocol", "reason"], registry=self.registry)
        self.latency = Histogram(
            "spoedstroom_gateway_latency_seconds",
            "From a message's arrival to its answer (ACK or HTTP response), Kafka acknowledgement included",
            ["protocol"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))

    def count(self, protocol: str, outcome: Outcome, result: str) -> None:
        self.messages.labels(protocol, outcome.partner or "unknown", outcome.trigger, result).inc()


class SendFailed(Exception):
    """Kafka did not acknowledge in time: the message must not be acknowledged."""


class Gateway:
    """One gateway: a Kafka producer (acks=all), the MLLP listener and the HTTP server."""

    def __init__(self, settings: Settings, registry: Registry, key: bytes, tokens: Mapping[str, str]) -> None:
        self.settings = settings
        self.registry = registry
        self.key = key
        self.tokens = dict(tokens)
        self.metrics = Metrics()
        self.producer: AIOKafkaProducer | None = None
        self.ready = False
        self._mllp: asyncio.base_events.Server | None = None
        self._http: web.AppRunner | None = None
        self.mllp_port = settings.gateway_mllp_port
        self.http_port = settings.gateway_http_port

    @classmethod
    def from_settings(cls, settings: Settings, registry: Registry) -> "Gateway":
        """Check everything that must hold before a port opens; GatewayConfigError if not."""
        try:
            dataclasses.replace(settings, web_host=settings.gateway_host).check_web_exposure()
        except ValueError as exc:  # /metrics would be open to the network
            raise GatewayConfigError(str(exc).replace("SPOEDSTROOM_WEB_HOST", "SPOEDSTROOM_GATEWAY_HOST")) from None
        try:
            key = load_key(settings.pseudonym_key, settings.pseudonym_key_file)
        except ValueError as exc:
            raise GatewayConfigError(str(exc)) from None
        tokens = parse_tokens(settings.gateway_tokens, settings.gateway_tokens_file, registry)
        return cls(settings, registry, key, tokens)

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        s = self.settings
        # acks=all: an ACK to a hospital means every in-sync replica has the events. No
        # idempotent producer (the embedded broker lacks InitProducerId): a retried send
        # can write an event twice, but its id is deterministic, so the pipeline counts
        # it once, exactly like a message the hospital resends.
        self.producer = AIOKafkaProducer(
            acks="all", enable_idempotence=False,
            client_id="spoedstroom-gateway", request_timeout_ms=int(s.gateway_send_timeout * 1000),
            max_request_size=MAX_MESSAGE_BYTES * 2, **s.kafka_client_options())
        await self.producer.start()
        self._mllp = await start_hl7_server(self._on_client, s.gateway_host, s.gateway_mllp_port,
                                            limit=MAX_MESSAGE_BYTES)
        self.mllp_port = self._mllp.sockets[0].getsockname()[1]
        hide_server_version()
        app = web.Application(client_max_size=MAX_MESSAGE_BYTES, middlewares=[_without_tracebacks])
        app.add_routes([
            web.post("/fhir/Encounter", self._post_encounter),
            web.post("/fhir/MeasureReport", self._post_measure_report),
            web.post("/fhir", self._post_bundle),
            web.get("/healthz", self._healthz),
            web.get("/readyz", self._readyz),
            web.get("/metrics", self._metrics),
        ])
        self._http = web.AppRunner(app, access_log=None)  # access lines could carry query strings
        await self._http.setup()
        site = web.TCPSite(self._http, s.gateway_host, s.gateway_http_port)
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.http_port = server.sockets[0].getsockname()[1]
        self.ready = True
        log.info("gateway ready: MLLP on %s:%d, HTTP on %s:%d, %d partner token(s)",
                 s.gateway_host, self.mllp_port, s.gateway_host, self.http_port, len(self.tokens))

    async def stop(self) -> None:
        self.ready = False
        if self._mllp is not None:
            self._mllp.close()
        if self._http is not None:
            await self._http.cleanup()
        if self.producer is not None:
            await self.producer.stop()

    # ------------------------------------------------------------------ Kafka
    async def _produce(self, records: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]]) -> None:
        assert self.producer is not None
        try:
            futures = [await self.producer.send(topic, value=value, key=key, headers=headers)
                       for topic, key, value, headers in records]
            await asyncio.wait_for(asyncio.gather(*futures), self.settings.gateway_send_timeout)
        except Exception as exc:  # noqa: BLE001 - any failure means: not safely stored
            raise SendFailed(type(exc).__name__) from None

    async def send_events(self, mapped: Mapped) -> None:
        headers = [("content-type", CLOUDEVENTS_JSON.encode())]
        records = []
        for event in mapped.events:
            name = short_type(event["type"]) or ""
            records.append((TOPIC_OF_TYPE[name], mapped.partner.encode(), orjson.dumps(event), headers))
        await self._produce(records)
        for event in mapped.events:
            self.metrics.events.labels(mapped.partner, short_type(event["type"]) or "").inc()

    async def send_deadletter(self, refused: Refused, origin: str, value: bytes, content_type: str) -> None:
        added = deadletter_headers(refused.reason, refused.detail, origin, -1, -1)
        added += [("dlq.partner", (refused.partner or "unknown").encode()),
                  ("dlq.trigger", refused.trigger.encode()),
                  ("content-type", content_type.encode())]
        key = (refused.partner or "unknown").encode()
        # Cut to one broker record, as the worker's dead letters are (`dlq.truncated`): a
        # copy that does not fit would fail every time, and the sender resend for ever.
        copy = deadletter_record(key, value, None, added, DEADLETTER_MAX_BYTES)
        await self._produce([(DEADLETTER_TOPIC, copy.key, copy.value or b"", copy.headers)])
        self.metrics.deadletters.labels(origin.split(".")[1], refused.reason).inc()

    # ------------------------------------------------------------------ MLLP
    async def _on_client(self, reader: HL7StreamReader, writer: HL7StreamWriter) -> None:
        try:
            while True:
                try:
                    block = await reader.readblock()
                except (asyncio.IncompleteReadError, ConnectionError):
                    return  # the sender closed the connection
                except (InvalidBlockError, ValueError):
                    log.info("mllp: a block without MLLP framing or over the size limit; connection closed")
                    return
                try:
                    ack = await self.handle_hl7(block)
                except Exception as exc:  # noqa: BLE001 - the mappings never raise; this is a bug
                    # (the type only: a traceback could quote the message)
                    log.error("mllp: handling a message failed (%s); connection closed, no ACK", type(exc).__name__)
                    return
                if ack is None:
                    return  # Kafka did not acknowledge: no ACK, the sender resends
                writer.writeblock(ack)
                await writer.drain()
        finally:
            writer.close()

    async def handle_hl7(self, block: bytes) -> bytes | None:
        """The ACK for one MLLP block, after its events or dead letter are in Kafka;
        None when Kafka failed (then nothing may be acknowledged)."""
        started = time.monotonic()
        text = hl7_mapping.decode(block)
        outcome = hl7_mapping.map_message(text, self.registry, self.key)
        try:
            if isinstance(outcome, Mapped):
                await self.send_events(outcome)
                code, note, result = "AA", "", "ignored" if outcome.ignored else "accepted"
            else:
                redacted = hl7_mapping.redact(text).encode("utf-8")
                await self.send_deadletter(outcome, ORIGIN_HL7, redacted, "x-application/hl7-v2+er7")
                code = "AE" if outcome.parseable else "AR"
                note, result = f"{outcome.reason}: {outcome.detail}", "refused" if outcome.parseable else "rejected"
        except SendFailed as exc:
            self.metrics.count("hl7", outcome, "failed")
            log.warning("hl7 %s from %s: Kafka did not acknowledge (%s); no ACK sent",
                        outcome.trigger, outcome.partner or "unknown", exc)
            return None
        self.metrics.count("hl7", outcome, result)
        self.metrics.latency.labels("hl7").observe(time.monotonic() - started)
        log.info("hl7 %s from %s: %s %s", outcome.trigger, outcome.partner or "unknown", code,
                 getattr(outcome, "reason", ""))
        return ack_for(text, code, note).encode("utf-8")

    # ------------------------------------------------------------------ HTTP
    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        return web.json_response({"ready": self.ready}, status=200 if self.ready else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        if not authorized(self.settings.web_token, request.headers.get("Authorization")):
            return web.json_response({"error": "unauthorized"}, status=401)
        return web.Response(body=generate_latest(self.metrics.registry),
                            headers={"Content-Type": METRICS_CONTENT_TYPE})

    async def _read(self, request: web.Request, expected: str | None) -> tuple[str, dict[str, Any]] | web.Response:
        partner = partner_of(self.tokens, request.headers.get("Authorization"))
        if partner is None:
            self.metrics.messages.labels("fhir", "unknown", expected or "Bundle", "unauthorized").inc()
            return outcome_response(401, "login", "a valid partner bearer token is required",
                                    {"WWW-Authenticate": 'Bearer realm="spoedstroom"'})
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return outcome_response(413, "too-costly", f"the body is over {MAX_MESSAGE_BYTES} bytes")
        obj = fhir.loads(body)
        if not isinstance(obj, Refused) and expected is not None and obj["resourceType"] != expected:
            obj = Refused(Refusal.UNPARSEABLE.value, f"expected a {expected}, got another resourceType",
                          parseable=False)
        if isinstance(obj, Refused):
            refused = Refused(obj.reason, obj.detail, partner, expected or "Bundle", False)
            return await self._refuse(refused, {}, "fhir")
        return partner, obj

    async def _refuse(self, refused: Refused, obj: dict[str, Any], protocol: str) -> web.Response:
        try:
            await self.send_deadletter(refused, ORIGIN_FHIR, orjson.dumps(fhir.redact(obj)), FHIR_JSON)
        except SendFailed:
            self.metrics.count(protocol, refused, "failed")
            return outcome_response(503, "transient", "the event store did not acknowledge; retry")
        self.metrics.count(protocol, refused, "refused" if refused.parseable else "rejected")
        log.info("fhir %s from %s: refused %s", refused.trigger, refused.partner, refused.reason)
        return outcome_response(*status_of(refused), f"{refused.reason}: {refused.detail}")

    async def _accept(self, mapped: Mapped) -> web.Response | None:
        try:
            await self.send_events(mapped)
        except SendFailed:
            self.metrics.count("fhir", mapped, "failed")
            return outcome_response(503, "transient", "the event store did not acknowledge; retry")
        self.metrics.count("fhir", mapped, "ignored" if mapped.ignored else "accepted")
        log.info("fhir %s from %s: accepted, %d event(s)", mapped.trigger, mapped.partner, len(mapped.events))
        return None

    async def _post_single(self, request: web.Request, kind: str) -> web.Response:
        started = time.monotonic()
        read = await self._read(request, kind)
        if isinstance(read, web.Response):
            return read
        partner, obj = read
        mapper = fhir.map_encounter if kind == "Encounter" else fhir.map_measure_report
        outcome = mapper(obj, self.registry, self.key, partner)
        if isinstance(outcome, Refused):
            return await self._refuse(outcome, obj, "fhir")
        failed = await self._accept(outcome)
        self.metrics.latency.labels("fhir").observe(time.monotonic() - started)
        return failed or outcome_response(
            200, "informational", f"accepted: {len(outcome.events)} event(s)", severity="information")

    async def _post_encounter(self, request: web.Request) -> web.Response:
        return await self._post_single(request, "Encounter")

    async def _post_measure_report(self, request: web.Request) -> web.Response:
        return await self._post_single(request, "MeasureReport")

    async def _post_bundle(self, request: web.Request) -> web.Response:
        """A batch (each entry on its own), a transaction (all or nothing) or a
        subscription notification (as a batch). Entries other than Encounter and
        MeasureReport (a Patient, a SubscriptionStatus) are answered 200 and not read."""
        started = time.monotonic()
        read = await self._read(request, "Bundle")
        if isinstance(read, web.Response):
            return read
        partner, obj = read
        entries = fhir.bundle_entries(obj)
        if isinstance(entries, Refused):
            return await self._refuse(
                Refused(entries.reason, entries.detail, partner, "Bundle", entries.parseable), obj, "fhir")
        outcomes: list[Outcome | None] = []
        for entry in entries:
            if entry.get("resourceType") == "Encounter":
                outcomes.append(fhir.map_encounter(entry, self.registry, self.key, partner))
            elif entry.get("resourceType") == "MeasureReport":
                outcomes.append(fhir.map_measure_report(entry, self.registry, self.key, partner))
            else:
                outcomes.append(None)
        refused = [o for o in outcomes if isinstance(o, Refused)]
        if obj.get("type") == "transaction" and refused:
            first = refused[0]
            return await self._refuse(Refused(first.reason, f"transaction refused as a whole: {first.detail}",
                                              partner, "Bundle", first.parseable), obj, "fhir")
        response_entries = []
        for entry, outcome in zip(entries, outcomes):
            if isinstance(outcome, Refused):
                reply = await self._refuse(outcome, entry, "fhir")
                if reply.status == 503:
                    return reply
                status = status_of(outcome)[0]
                response_entries.append({"response": {"status": str(status), "outcome": operation_outcome(
                    status_of(outcome)[1], f"{outcome.reason}: {outcome.detail}")}})
            elif isinstance(outcome, Mapped):
                failed = await self._accept(outcome)
                if failed is not None:
                    return failed
                response_entries.append({"response": {"status": "200"}})
            else:
                response_entries.append({"response": {"status": "200"}})
        self.metrics.latency.labels("fhir").observe(time.monotonic() - started)
        kind = "transaction-response" if obj.get("type") == "transaction" else "batch-response"
        bundle = Bundle.model_validate({"resourceType": "Bundle", "type": kind, "entry": response_entries})
        return web.Response(body=bundle.model_dump_json(), status=200, content_type=FHIR_JSON)


# ---------------------------------------------------------------------- answers

@web.middleware
async def _without_tracebacks(request: web.Request, handler: Any) -> web.StreamResponse:
    """A failure in a handler is answered 500 and logged by its type only: aiohttp's own
    answer logs the traceback, whose messages can quote the request (the mappings never
    raise; this is for bugs)."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - see above
        log.error("http: handling a request failed (%s); answered 500", type(exc).__name__)
        return outcome_response(500, "exception", "the gateway failed on this request; it is logged")


def status_of(refused: Refused) -> tuple[int, str]:
    """HTTP status and OperationOutcome issue code of a refusal."""
    if not refused.parseable:
        return 400, "invalid"
    if refused.reason == Refusal.FOREIGN_LOCATION.value:
        return 403, "forbidden"
    return 422, "processing"


def operation_outcome(code: str, text: str, severity: str = "error") -> dict[str, Any]:
    return OperationOutcome.model_validate({"resourceType": "OperationOutcome", "issue": [
        {"severity": severity, "code": code, "diagnostics": text[:1000]}]}).model_dump(mode="json", exclude_none=True)


def outcome_response(status: int, code: str, text: str, headers: dict[str, str] | None = None,
                     severity: str = "error") -> web.Response:
    body = orjson.dumps(operation_outcome(code, text, severity))
    return web.Response(body=body, status=status, content_type=FHIR_JSON, headers=headers)


def ack_for(text: str, code: str, note: str = "") -> str:
    """The HL7 ACK of a message (python-hl7's `create_ack`), `note` in MSA-3. For input
    whose MSH does not parse, an ACK built from a minimal header."""
    try:
        msh = text.split("\r", 1)[0]
        if not msh.startswith("MSH") or len(msh) > MAX_HEADER_CHARS:
            raise ValueError("no MSH that an ACK may echo")
        message = hl7.parse(msh + "\r")
        ack = message.create_ack(code, application="SPOEDSTROOM", facility="SPOEDSTROOM")
    except Exception:  # noqa: BLE001 - the input is garbage: answer from a template
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
        ack = hl7.parse(f"MSH|^~\\&|SPOEDSTROOM|SPOEDSTROOM|||{stamp}||ACK|{stamp}|P|2.5\rMSA|{code}|\r")
    if note:
        # (only letters, digits and plain punctuation: the sender's separators may be any)
        ack.segment("MSA").assign_field(_NOTE_UNSAFE.sub(" ", note)[:200], 3)
    return str(ack).rstrip("\r") + "\r"


async def serve(settings: Settings, registry: Registry, stop: asyncio.Event) -> None:
    """Run a gateway until `stop` is set."""
    gateway = Gateway.from_settings(settings, registry)
    await gateway.start()
    try:
        await stop.wait()
    finally:
        await gateway.stop()
