"""Decoding and validating partner input: Kafka record (or NDJSON line) -> :class:`Event`.

:class:`Validator` is the gate every input passes before `processors/` sees it. It checks,
in this order, and raises :class:`topics.event.Rejected` with the first problem found:

===================== ==========================================================================
reason                when
===================== ==========================================================================
tombstone             the record has no value (None)
too_large             the value is larger than `max_bytes` (64 KiB); `id` longer than 128
                      characters, `source` longer than 80, an extension value longer than 256,
                      a time (`time` or one in `data`) longer than 64
invalid_json          the value is not UTF-8 JSON
not_cloudevent        not a JSON object; `specversion` not "1.0"; `id`, `source`, `type` or
                      `time` missing, empty or not a string; `source` not `/partners/{id}`;
                      `time` not RFC 3339 with offset (or outside years 0001-9999 in UTC);
                      `datacontenttype` not application/json; neither `data` (an object) nor
                      `data_base64` (base64 of a JSON object), or both; an extension value not a
                      string, integer or boolean; in binary mode a required `ce_` header missing
                      or not UTF-8
unknown_attribute     an attribute that is neither a core one nor in ALLOWED_EXTENSIONS
unknown_type          `type` is not one of the 22 input types (emitted types included)
wrong_topic           the type does not belong on the topic it came on (when `topic` is given)
unknown_partner       the partner of `source` is not in the region registry
wrong_partner_kind    the partner's kind may not send this type family (calls: ambulance, hap,
                      ggz, zcc; dispatch: ambulance; SEH/ward/encounter/SEH-status: hospital;
                      capacity.reported: any kind, for its own locations)
schema                `data` violates the JSON Schema of its type (detail: path and message),
                      one of its time fields is not a real RFC 3339 time, or `staffed_beds` is
                      not written as an integer
implausible           `call_received_at` / `eta` / `expected_until` too far from the event time
                      (PLAUSIBLE_OFFSETS_MS); `staffed_beds` above MAX_BEDS_BY_KIND
possible_bsn          a run of exactly 9 digits passing the BSN eleven-test inside an id
                      (`call_id`, `ride_id`, `encounter_id` or the event `id`)
unknown_location      a location field names no location of the registry
foreign_location      a partner writing about another partner's location (ambulance
                      `destination`/`location` and call.completed `destination` may name any SEH)
wrong_location_kind   the location has the wrong kind (seh.arrived at a ward, ward.admitted at
                      an SEH, ...)
future_time           `time` lies more than `future_ms` ahead of `wall_now_ms` (wall clock only)
===================== ==========================================================================

`too_old`, `conflict`, `processing_error` and `future_time` of a clock jump are decided later
by the processors (they depend on the region's state).
The JSON Schemas are compiled once per process with fastjsonschema; the envelope is checked
by hand, as this is the hot path of the pipeline.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import fastjsonschema
import orjson

import topics

from topics.catalogue import (
    EMITTED_TYPES,
    ID_FIELDS,
    INPUT_TYPES,
    LOCATION_FIELDS,
    SENDER_KINDS,
    TIME_FIELDS,
    TOPIC_OF_TYPE,
    LocationField,
)
from topics.codec import TimeError, parse_time
from topics.event import TYPE_PREFIX, TYPE_SUFFIX, Event, Reason, Rejected, shared, shared_data
from topics.registry import Registry

# The package's folder, not this file's: this module may run compiled from elsewhere
# (topics.compiled).
SCHEMA_DIR = Path(topics.__file__).resolve().parent / "schemas"
MAX_BYTES = 65_536
FUTURE_MS = 300_000
PARTNER_PREFIX = "/partners/"
# Sizes of envelope attributes: every id is kept in state (dedup, entity history), so
# its size bounds what one record can make the region keep.
MAX_ID_CHARS = 128
MAX_SOURCE_CHARS = 80
MAX_EXTENSION_CHARS = 256
# A time is read as epoch milliseconds, but `expected_until` is also passed on as sent
# (in the seh_stop alert's values): RFC 3339 allows any number of fractional digits, and
# a time of 60,000 of them reached an alert whole. 64 leaves room for 38 digits.
MAX_TIME_CHARS = 64
# Extension attributes accepted besides the core ones: tracing and partitioning only.
# Anything else (a `bsn`, a `patientname`) would widen what partners send: refused.
ALLOWED_EXTENSIONS = frozenset(("partitionkey", "traceparent", "tracestate", "dataschema", "subject"))
# The most staffed beds (or SEH treatment spaces) one location of a kind can have: the
# largest Dutch SEH has well under 100 spaces, the largest hospital under 1,500 beds.
MAX_BEDS_BY_KIND: dict[str, int] = {"seh": 300, "ward": 3000, "elv": 5000, "vvt": 5000, "grz": 5000}
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
# (earliest, latest) of a time field relative to the event's own time.
PLAUSIBLE_OFFSETS_MS: dict[str, tuple[int, int]] = {
    # the dispatch centre accepted the call before assigning a ride (clock skew allowed)
    "call_received_at": (-24 * HOUR_MS, 5 * MINUTE_MS),
    # an ETA is ahead of the transport, or only a little behind when reported late
    "eta": (-HOUR_MS, 12 * HOUR_MS),
    # an SEH stop is expected to end within days, not years (the board shows it)
    "expected_until": (-HOUR_MS, 7 * 24 * HOUR_MS),
}

_CORE = frozenset(("specversion", "id", "source", "type", "time", "data", "datacontenttype"))
_DIGIT_RUN = re.compile(r"(?<![0-9])[0-9]{9}(?![0-9])")
_NINE_DIGITS = re.compile(r"[0-9]{9}")  # any run of 9 or more: a cheap first look
_REQUIRED_HEADERS = ("specversion", "id", "source", "type", "time")
_PRE, _SUF = len(TYPE_PREFIX), len(TYPE_SUFFIX)
_BSN_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of a short type name (or `cloudevent`) from `topics/schemas/`."""
    with open(SCHEMA_DIR / f"{name}.json", encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
    return schema


@lru_cache(maxsize=None)
def compiled_schema(name: str) -> Callable[[Any], Any]:
    """The fastjsonschema validator of a type's `data`, compiled once per process."""
    return fastjsonschema.compile(load_schema(name))  # type: ignore[no-any-return]


def is_bsn(s: str) -> bool:
    """True when `s` is 9 ASCII digits passing the BSN eleven-test (sum != 0)."""
    if len(s) != 9 or not s.isascii() or not s.isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(s, _BSN_WEIGHTS))
    return total != 0 and total % 11 == 0


def contains_bsn(s: str) -> bool:
    """True when a run of exactly 9 digits inside `s` passes the eleven-test
    (`NL123456782`, `enc-123456782-a`): a BSN wrapped in a prefix is still a BSN."""
    if len(s) < 9 or _NINE_DIGITS.search(s) is None:
        return False  # no 9 digits in a row (most ids): no run to test
    return any(is_bsn(m.group()) for m in _DIGIT_RUN.finditer(s))


def deadletter_headers(
    reason: Reason | str, detail: str, topic: str, partition: int, offset: int
) -> list[tuple[str, bytes]]:
    """Kafka headers added to a dead-lettered record (its key and value stay unchanged)."""
    code = reason.value if isinstance(reason, Reason) else str(reason)
    return [
        ("dlq.reason", code.encode()),
        ("dlq.detail", detail[:1000].encode("utf-8", "replace")),
        ("dlq.topic", topic.encode()),
        ("dlq.partition", str(partition).encode()),
        ("dlq.offset", str(offset).encode()),
    ]


#: Kafka's per-header framing (varint lengths) and a margin, counted against the budget.
HEADER_OVERHEAD = 16
#: The part of the record limit the original key, and the original headers, may take.
KEY_SHARE = HEADER_SHARE = 4


class DeadLetterCopy(NamedTuple):
    """What `deadletter_record` sends: key, value and headers, within one broker record."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def deadletter_record(
    key: bytes | None,
    value: bytes | None,
    original_headers: Iterable[tuple[str | bytes, bytes | str | None]] | Mapping[str, Any] | None,
    added: list[tuple[str, bytes]],
    max_bytes: int,
) -> DeadLetterCopy:
    """The dead-letter copy of a record: key, value and every original header unchanged,
    the `dlq.*` headers added, within one broker record (`max_bytes`), so that a copy is
    never dropped and its send never fails (a failed send stops the reader, and its
    successor would read the same record again). What a hostile record makes too large
    is cut and marked: a key above a quarter of `max_bytes` keeps its first bytes
    (`dlq.key_truncated`, `dlq.original_key_size`); original headers beyond a quarter,
    names and framing counted, are cut, the later ones left out (`dlq.headers_truncated`);
    a value beyond what is left keeps its first bytes (`dlq.truncated`,
    `dlq.original_size`)."""
    marks: list[tuple[str, bytes]] = []
    key_budget = max_bytes // KEY_SHARE
    if key is not None and len(key) > key_budget:
        marks += [("dlq.key_truncated", b"true"), ("dlq.original_key_size", str(len(key)).encode())]
        key = bytes(key[:key_budget])
    items = original_headers.items() if isinstance(original_headers, Mapping) else (original_headers or ())
    headers: list[tuple[str, bytes]] = []
    budget = max_bytes // HEADER_SHARE
    cut = False
    for name, raw in items:
        k = name.decode("latin-1") if isinstance(name, (bytes, bytearray)) else str(name)
        if k.startswith("dlq."):
            continue  # a record dead-lettered twice keeps only the latest verdict
        k = k[:256]
        room = budget - len(k.encode("utf-8", "surrogatepass")) - HEADER_OVERHEAD
        if room < 0:
            cut = True
            break
        v = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw or b"")
        if len(v) > room:
            v = v[:room]
            cut = True
        budget = room - len(v)
        headers.append((k, v))
    if cut:
        marks.append(("dlq.headers_truncated", b"true"))
    headers.extend(marks)
    headers.extend(added)
    overhead = len(key or b"") + sum(len(k.encode("utf-8", "surrogatepass")) + len(v) + HEADER_OVERHEAD
                                     for k, v in headers) + 512
    room = max_bytes - overhead
    if value is not None and len(value) > room:
        cut_marks = [("dlq.truncated", b"true"), ("dlq.original_size", str(len(value)).encode())]
        room -= sum(len(k) + len(v) + HEADER_OVERHEAD for k, v in cut_marks)
        headers.extend(cut_marks)
        value = bytes(value[:max(0, room)])
    return DeadLetterCopy(key, value, headers)


class _Rule:
    """What the validator needs to know about one input type."""

    __slots__ = ("name", "topic", "kinds", "locations", "time_fields", "validate")

    def __init__(self, name: str) -> None:
        self.name = name
        self.topic = TOPIC_OF_TYPE[name]
        self.kinds = frozenset(SENDER_KINDS[name])
        self.locations: tuple[LocationField, ...] = LOCATION_FIELDS.get(name, ())
        self.time_fields: tuple[str, ...] = TIME_FIELDS.get(name, ())
        self.validate = compiled_schema(name)


def _fail(reason: Reason, detail: str) -> Rejected:
    return Rejected(reason, detail)


_ID_SHAPED = re.compile(r"[A-Za-z0-9._:/+-]{1,64}")


def shown(value: Any) -> str:
    """`value` as a rejection's detail may quote it: an id-shaped string (at most 64
    characters, no spaces, no 9 digits passing the BSN eleven-test) in quotes, anything
    else only by what it is. A detail goes into the dead letter's headers and the
    answers of `validate`, where a partner's free text must not (the dead letter's value
    keeps the record as it came)."""
    if type(value) is str:
        if _ID_SHAPED.fullmatch(value) and not contains_bsn(value):
            return repr(value)
        return f"a string of {len(value)} characters"
    return f"a JSON {_json_kind(value)}"


def _time_problem(exc: ValueError) -> str:
    """Why a time is not one of the contract's, without quoting it."""
    return exc.problem if isinstance(exc, TimeError) else "not an RFC 3339 date-time with offset"


# Building the frozen slotted Event through its slot descriptors is about twice as fast as
# the dataclass __init__ (six object.__setattr__ calls); the result is identical.
_new = object.__new__
_set_id, _set_source, _set_partner, _set_type, _set_time, _set_data = (
    vars(Event)[f].__set__ for f in ("id", "source", "partner", "type", "time", "data")
)


def _event(eid: str, source: str, partner: str, type_name: str, t: int, data: dict[str, Any]) -> Event:
    ev: Event = _new(Event)
    _set_id(ev, eid)
    _set_source(ev, source)
    _set_partner(ev, partner)
    _set_type(ev, type_name)
    _set_time(ev, t)
    _set_data(ev, data)
    return ev


class Validator:
    """Validates inputs of one region against the contract and its registry.

    `decode(value, headers, topic, wall_now_ms) -> Event` or raises `Rejected`.
    `check(envelope, topic, wall_now_ms)` does the same for an already parsed envelope.
    """

    def __init__(
        self, registry: Registry, max_bytes: int = MAX_BYTES, future_ms: int = FUTURE_MS
    ) -> None:
        self.registry = registry
        self.max_bytes = max_bytes
        self.future_ms = future_ms
        self._rules: dict[str, _Rule] = {name: _Rule(name) for name in INPUT_TYPES}
        self._full: dict[str, _Rule] = {
            f"{TYPE_PREFIX}{name}{TYPE_SUFFIX}": rule for name, rule in self._rules.items()
        }

    # -- bytes -> envelope -------------------------------------------------------------
    def decode(
        self,
        value: bytes | bytearray | memoryview | str | None,
        headers: Iterable[tuple[str | bytes, bytes | str | None]]
        | Mapping[str, bytes | str | None]
        | None = None,
        topic: str | None = None,
        wall_now_ms: int | None = None,
    ) -> Event:
        """Decode one record value (structured or binary CloudEvent) into an Event."""
        if value is None:
            raise _fail(Reason.TOMBSTONE, "record has no value (tombstone)")
        if isinstance(value, str):
            value = value.encode("utf-8", "surrogatepass")
        if len(value) > self.max_bytes:
            raise _fail(Reason.TOO_LARGE, f"value is {len(value)} bytes, above {self.max_bytes}")
        try:
            obj = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise _fail(Reason.INVALID_JSON, f"not UTF-8 JSON: {exc}") from None
        if headers:
            binary = _binary_envelope(headers, obj)
            if binary is not None:
                obj = binary
        return self.check(obj, topic, wall_now_ms)

    # -- envelope -> Event -------------------------------------------------------------
    def check(
        self, obj: Any, topic: str | None = None, wall_now_ms: int | None = None
    ) -> Event:
        """Validate a parsed structured envelope (a dict) into an Event."""
        if type(obj) is not dict:
            raise _fail(Reason.NOT_CLOUDEVENT, f"value is a JSON {_json_kind(obj)}, not an object")
        sv = obj.get("specversion")
        if sv != "1.0":
            raise _fail(
                Reason.NOT_CLOUDEVENT,
                "missing specversion" if sv is None else f'specversion must be "1.0", got {shown(sv)}',
            )
        # parsed JSON values, known to be non-empty strings once the check below passed
        eid: Any = obj.get("id")
        source: Any = obj.get("source")
        ce_type: Any = obj.get("type")
        time_s: Any = obj.get("time")
        if type(eid) is not str or type(source) is not str or type(ce_type) is not str or type(time_s) is not str or not eid or not source or not ce_type or not time_s:
            for attr in _REQUIRED_HEADERS[1:]:
                v = obj.get(attr)
                if v is None:
                    raise _fail(Reason.NOT_CLOUDEVENT, f"missing required attribute {attr}")
                if type(v) is not str:
                    raise _fail(Reason.NOT_CLOUDEVENT, f"{attr} must be a string, got {_json_kind(v)}")
                if not v:
                    raise _fail(Reason.NOT_CLOUDEVENT, f"{attr} is empty")
        if len(eid) > MAX_ID_CHARS:
            raise _fail(Reason.TOO_LARGE, f"id is {len(eid)} characters, above {MAX_ID_CHARS}")
        if len(source) > MAX_SOURCE_CHARS:
            raise _fail(Reason.TOO_LARGE, f"source is {len(source)} characters, above {MAX_SOURCE_CHARS}")
        if len(time_s) > MAX_TIME_CHARS:
            raise _fail(Reason.TOO_LARGE, f"time is {len(time_s)} characters, above {MAX_TIME_CHARS}")
        data = obj.get("data")
        if type(data) is not dict:
            data = _data_of(obj)
        if len(obj) > 6:
            dct = obj.get("datacontenttype")
            if dct is not None and dct != "application/json" and not (
                type(dct) is str and dct.startswith("application/json;")
            ):
                raise _fail(Reason.NOT_CLOUDEVENT, f"datacontenttype must be application/json, got {shown(dct)}")
            for key, v in obj.items():
                if key in _CORE:
                    continue
                if key == "data_base64":
                    if "data" in obj:
                        raise _fail(Reason.NOT_CLOUDEVENT, "data and data_base64 together (CloudEvents allows one)")
                    continue
                if key not in ALLOWED_EXTENSIONS:
                    raise _fail(
                        Reason.UNKNOWN_ATTRIBUTE,
                        f"attribute {shown(key)} is not accepted (extensions allowed: "
                        f"{', '.join(sorted(ALLOWED_EXTENSIONS))})",
                    )
                if type(v) is str:
                    if len(v) > MAX_EXTENSION_CHARS:
                        raise _fail(Reason.TOO_LARGE, f"attribute {key} is {len(v)} characters, above {MAX_EXTENSION_CHARS}")
                elif type(v) is int:
                    if not -2**31 <= v < 2**31:  # CloudEvents 1.0: Integer is 32-bit signed
                        raise _fail(Reason.NOT_CLOUDEVENT, f"extension attribute {key} is an integer outside 32 bits")
                elif type(v) is not bool:
                    raise _fail(Reason.NOT_CLOUDEVENT, f"extension attribute {key} must be a string, integer or boolean, got {_json_kind(v)}")
        if not source.startswith(PARTNER_PREFIX) or "/" in source[10:] or len(source) == 10:
            raise _fail(Reason.NOT_CLOUDEVENT, f"source must be /partners/{{partner_id}}, got {shown(source)}")
        partner_id = source[10:]

        rule = self._full.get(ce_type)
        if rule is None:
            short = ce_type[_PRE:-_SUF] if ce_type.startswith(TYPE_PREFIX) and ce_type.endswith(TYPE_SUFFIX) else None
            if short in EMITTED_TYPES:
                raise _fail(Reason.UNKNOWN_TYPE, f"{ce_type} is emitted by Spoedstroom, not an input type")
            raise _fail(Reason.UNKNOWN_TYPE, f"{shown(ce_type)} is not an input type of contract v1")
        if topic is not None and topic != rule.topic:
            raise _fail(Reason.WRONG_TOPIC, f"{rule.name} belongs on {rule.topic}, not {topic}")
        try:
            t = parse_time(time_s)
        except ValueError as exc:  # (a TimeError says why; any other is refused the same)
            raise _fail(Reason.NOT_CLOUDEVENT, f"time {shown(time_s)}: {_time_problem(exc)}") from None

        partner = self.registry.partners.get(partner_id)
        if partner is None:
            raise _fail(Reason.UNKNOWN_PARTNER, f"partner {shown(partner_id)} is not in region {self.registry.region_id}")
        if partner.kind not in rule.kinds:
            raise _fail(
                Reason.WRONG_PARTNER_KIND,
                f"a {partner.kind} partner ({partner_id}) may not send {rule.name} "
                f"(allowed: {', '.join(sorted(rule.kinds))})",
            )

        try:
            rule.validate(data)
        except fastjsonschema.JsonSchemaValueException as exc:
            raise _fail(Reason.SCHEMA, _schema_detail(exc)) from None
        for name in rule.time_fields:
            v = data.get(name)
            if v is not None:
                if len(v) > MAX_TIME_CHARS:  # a string: the schema says so
                    raise _fail(Reason.TOO_LARGE, f"data.{name} is {len(v)} characters, above {MAX_TIME_CHARS}")
                try:
                    field_ms = parse_time(v)
                except ValueError as exc:
                    raise _fail(Reason.SCHEMA, f"data.{name} {shown(v)}: {_time_problem(exc)}") from None
                window = PLAUSIBLE_OFFSETS_MS.get(name)
                if window is not None and not t + window[0] <= field_ms <= t + window[1]:
                    raise _fail(
                        Reason.IMPLAUSIBLE,
                        f"data.{name} {v[:40]} is {(field_ms - t) / MINUTE_MS:+.0f} min from the event time "
                        f"(allowed {window[0] // MINUTE_MS:+d} to {window[1] // MINUTE_MS:+d} min)",
                    )
        for name in ID_FIELDS:
            v = data.get(name)
            if v is not None:
                if v[-1] == "\n":  # Python's `$` in the schema pattern lets one newline through
                    raise _fail(Reason.SCHEMA, f"data.{name} must match pattern ^[A-Za-z0-9._:-]{{1,64}}$")
                if contains_bsn(v):
                    raise _fail(Reason.POSSIBLE_BSN, f"data.{name} holds 9 digits passing the BSN eleven-test")
        if contains_bsn(eid):
            raise _fail(Reason.POSSIBLE_BSN, "event id holds 9 digits passing the BSN eleven-test")
        beds = data.get("staffed_beds")
        if beds is not None and type(beds) is not int:
            # JSON Schema counts 5.0 (and 1e300) as an integer; the contract says int
            raise _fail(Reason.SCHEMA, f"data.staffed_beds must be a whole number without a fraction or exponent, got {beds!r}"[:120])

        for lf in rule.locations:
            lid = data.get(lf.name)
            if lid is None:
                continue
            loc = self.registry.locations.get(lid)
            if loc is None:
                raise _fail(
                    Reason.UNKNOWN_LOCATION,
                    f"data.{lf.name} {shown(lid)} is not a location of region {self.registry.region_id}",
                )
            if not lf.foreign and loc.partner != partner_id:
                raise _fail(
                    Reason.FOREIGN_LOCATION,
                    f"data.{lf.name} {shown(lid)} belongs to {loc.partner}, not to {partner_id}",
                )
            if lf.kinds and loc.kind not in lf.kinds:
                raise _fail(
                    Reason.WRONG_LOCATION_KIND,
                    f"data.{lf.name} {lid!r} is a {loc.kind}; {rule.name} needs a {' or '.join(lf.kinds)}",
                )
        if beds is not None:
            kind = self.registry.locations[data["location"]].kind
            limit = MAX_BEDS_BY_KIND.get(kind)
            if limit is not None and beds > limit:
                raise _fail(
                    Reason.IMPLAUSIBLE,
                    f"data.staffed_beds {beds} is more than a {kind} can have (at most {limit})",
                )

        if wall_now_ms is not None and t > wall_now_ms + self.future_ms:
            raise _fail(
                Reason.FUTURE_TIME,
                f"time {time_s} is {(t - wall_now_ms) / 1000:.0f} s ahead of the wall clock "
                f"(allowed {self.future_ms / 1000:.0f} s)",
            )
        return _event(eid, shared(source), shared(partner_id), rule.name, t, shared_data(data))


def _data_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The `data` object of an envelope without a JSON object in `data`: from
    `data_base64` when it holds UTF-8 JSON (the CloudEvents SDKs send bytes data so)."""
    data = obj.get("data")
    encoded = obj.get("data_base64")
    if encoded is None:
        if "data" not in obj:
            raise _fail(Reason.NOT_CLOUDEVENT, "missing data (a JSON object, or data_base64 holding one)")
        raise _fail(Reason.NOT_CLOUDEVENT, f"data must be a JSON object, got {_json_kind(data)}")
    if "data" in obj:
        raise _fail(Reason.NOT_CLOUDEVENT, "data and data_base64 together (CloudEvents allows one)")
    if type(encoded) is not str:
        raise _fail(Reason.NOT_CLOUDEVENT, f"data_base64 must be a string, got {_json_kind(encoded)}")
    try:
        decoded = orjson.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        raise _fail(Reason.NOT_CLOUDEVENT, "data_base64 is not base64 of UTF-8 JSON") from None
    if type(decoded) is not dict:
        raise _fail(Reason.NOT_CLOUDEVENT, f"data_base64 must hold a JSON object, got {_json_kind(decoded)}")
    return decoded


def _binary_envelope(
    headers: Iterable[tuple[str | bytes, bytes | str | None]] | Mapping[str, bytes | str | None],
    data: Any,
) -> dict[str, Any] | None:
    """Build the envelope of a binary-mode record from its `ce_` headers; None when the
    record is in structured mode (no `ce_` headers, or content-type application/cloudevents)."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    attrs: dict[str, Any] = {}
    content_type: str | None = None
    for key, raw in items:
        k = key.decode("latin-1") if isinstance(key, (bytes, bytearray)) else str(key)
        k = k.lower()
        if k.startswith("ce_") or k == "content-type":
            try:
                v = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
            except UnicodeDecodeError:
                raise _fail(Reason.NOT_CLOUDEVENT, f"header {k[:40]} is not UTF-8") from None
            if k == "content-type":
                content_type = v
            else:
                attrs[k[3:]] = v
    if not attrs or (content_type or "").startswith("application/cloudevents"):
        return None
    for name in _REQUIRED_HEADERS:
        if attrs.get(name) is None:
            raise _fail(Reason.NOT_CLOUDEVENT, f"binary mode: missing header ce_{name}")
    if content_type is not None:
        attrs["datacontenttype"] = content_type
    attrs["data"] = data
    return attrs


def _schema_detail(exc: fastjsonschema.JsonSchemaValueException) -> str:
    """The schema's complaint; the names of properties the type does not have are
    `shown` (fastjsonschema quotes them as they are)."""
    message = str(exc.message)
    if exc.rule == "additionalProperties" and isinstance(exc.value, dict) and isinstance(exc.definition, dict):
        known = exc.definition.get("properties") or {}
        extra = [shown(k) for k in exc.value if k not in known]
        message = f"{exc.name} must not contain {', '.join(extra[:5])}{' ...' if len(extra) > 5 else ''}"
    path = "/".join(str(p) for p in (exc.path or [])[1:])  # (only properties of the schema lead deeper)
    return f"{message} (at /{path})"[:500] if path else message[:500]


def _json_kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object" if isinstance(v, dict) else type(v).__name__
