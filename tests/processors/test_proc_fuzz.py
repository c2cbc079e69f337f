"""Fuzzing the gate and the region (issue 11): arbitrary JSON and almost valid CloudEvents.

- `Validator.decode` given arbitrary bytes, arbitrary JSON (huge integers, extreme floats,
  control characters, an RTL override, lone surrogates) and arbitrary headers lets only
  `Rejected` escape; what it accepts is a well-formed Event.
- Almost valid CloudEvents (a valid event of a random input type, then mutated: times at
  the edges of years 0001-9999, leap seconds, long fractions, far jumps; odd ids;
  extension attributes of any JSON type; data fields replaced by arbitrary JSON;
  `staffed_beds` huge, negative or a float; far `call_received_at` / `eta`;
  `data_base64` variants; re-sent duplicates; encounter ids shared across SEHs; binary
  mode) driven through a RegionProcessor with the clock guard, in the loop of
  `processors.replay.run_replay`. Properties: no exception but `Rejected` escapes; every
  event offered ends exactly once as applied, duplicate or refused; every published
  snapshot and alert validates against its JSON Schema (and the CloudEvents envelope),
  with times that parse; the state survives an orjson round trip mid-stream and at the
  end, and a restored region continues exactly as the original.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import event as hevent
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry as SchemaRegistry
from referencing import Resource
from referencing.jsonschema import DRAFT202012

from processors.output import Output
from processors.region import RegionProcessor
from processors.replay import output_event
from tests.topics.topics_examples import EXAMPLES, REGISTRY, T0
from topics.catalogue import (
    EMITTED_TYPES,
    ID_FIELDS,
    INPUT_TYPES,
    LOCATION_FIELDS,
    SENDER_KINDS,
    TOPIC_OF_TYPE,
)
from topics.codec import MAX_MS, MIN_MS, format_time, parse_time
from topics.envelope import CLOUDEVENTS_JSON, binary_headers, partner_event
from topics.event import Event, Reason, Rejected, full_type, short_type
from topics.registry import load_registry
from topics.validation import (
    ALLOWED_EXTENSIONS,
    MAX_BEDS_BY_KIND,
    SCHEMA_DIR,
    Validator,
    load_schema,
)

REG = load_registry(REGISTRY)
VALIDATOR = Validator(REG)
REGION = REG.region_id
LATENESS = 120_000  # run_replay's default
MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000

# -- the published schemas, with jsonschema (Draft 2020-12) -------------------------------
_ALL_SCHEMAS = {
    p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(SCHEMA_DIR.glob("*.json"))
}
_SCHEMA_REGISTRY = SchemaRegistry().with_resources(
    (s["$id"], Resource.from_contents(s, default_specification=DRAFT202012))
    for s in _ALL_SCHEMAS.values()
)


def _checker(name: str) -> Draft202012Validator:
    schema = _ALL_SCHEMAS[name]
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=_SCHEMA_REGISTRY)


ENVELOPE = _checker("cloudevent")
DATA_SCHEMA = {name: _checker(name) for name in (*INPUT_TYPES, *EMITTED_TYPES)}
# Keys of published data holding an RFC 3339 time (top level or in `values`).
TIME_KEYS = frozenset(
    ("as_of", "started_at", "resolved_at", "status_since", "last_event_at", "expected_until")
)
# What the region may refuse an event for after it was offered (processing_error is left
# out on purpose: a valid event whose fold fails is a bug, not bad input).
LATER_REASONS = frozenset((Reason.TOO_OLD, Reason.FUTURE_TIME, Reason.CONFLICT, Reason.TOO_LARGE))

FUZZ = dict(
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)


# ============================================================ arbitrary JSON and bytes
SPECIAL_CHARS = list(
    '\x00\x01\x1b\x1f\x7f\x85\u2028\u2029\u202e\u200b\ufeff\ud800\udfff\U0001f691é€\\"/\n'
)
texts = st.text(alphabet=st.one_of(st.characters(), st.sampled_from(SPECIAL_CHARS)), max_size=24)
# fmt: off
BIG_INTS = [2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1,
            10**30, -(10**100)]
# fmt: on
ints = st.one_of(st.integers(-3, 400), st.integers(), st.sampled_from(BIG_INTS))
floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e300, -1e300, 5e-324, -0.0, 5.0, 1e3, 0.5]),
)
scalars = st.one_of(st.none(), st.booleans(), ints, floats, texts)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=12,
)


def to_bytes(obj: Any, style: str) -> bytes:
    """JSON bytes of `obj`: orjson when it can (not for ints above 64 bits or lone
    surrogates), else the standard library (ASCII escapes, or raw UTF-8 with surrogates)."""
    if style == "orjson":
        try:
            return orjson.dumps(obj)
        except TypeError:  # orjson.JSONEncodeError
            pass
    return json.dumps(obj, ensure_ascii=style != "utf8").encode("utf-8", "surrogatepass")


def tweak_bytes(raw: bytes, how: str) -> bytes:
    if how == "bom":
        return b"\xef\xbb\xbf" + raw
    if how == "truncated":
        return raw[: len(raw) // 2]
    if how == "garbage":
        return raw + b"\xff}"
    if how == "spaces":
        return b" \n\t" + raw + b"\r\n"
    return raw


# ============================================================ times
def rfc3339(
    ms: int, offset_min: int = 0, digits: int = 0, zulu: str = "Z", leap: bool = False
) -> str:
    """`ms` written as an RFC 3339 time with the given offset and fractional digits."""
    local = ms + offset_min * MIN
    secs, milli = divmod(local, 1000)
    head = format_time(secs * 1000)[:-1]  # "YYYY-MM-DDTHH:MM:SS"
    if leap:
        head = head[:-2] + "60"
    frac = "" if digits == 0 else "." + (f"{milli:03d}" + "7" * 12)[:digits]
    if offset_min == 0 and zulu:
        off = zulu
    else:
        sign = "-" if offset_min < 0 else "+"
        hh, mm = divmod(abs(offset_min), 60)
        off = f"{sign}{hh:02d}:{mm:02d}"
    return f"{head}{frac}{off}"


@st.composite
def rendered(draw: Any, ms: int) -> str:
    """A valid rendering of instant `ms` (offset, fraction digits, `z`, lower-case `t`)."""
    offset = draw(st.sampled_from([0, 0, 60, -60, 330, 23 * 60 + 59, -(23 * 60 + 59)]))
    digits = draw(st.sampled_from([0, 0, 3, 1, 6, 12]))
    ms = ms - ms % 1000 if digits == 0 else ms
    s = rfc3339(ms, offset, digits, draw(st.sampled_from(["Z", "z", ""])))
    if s[4] != "-" or not "0001" <= s[:4] <= "9999":  # the local date left years 0001-9999: UTC
        s = rfc3339(ms, 0, digits)
    return s[:10] + "t" + s[11:] if draw(st.integers(0, 9)) == 0 else s


# fmt: off
EDGE_TIMES = [
    "9999-12-31T23:59:59Z", "9999-12-31T23:59:59.999999999999Z", "9999-12-31T23:59:59-23:59",
    "9999-12-31T23:59:60Z", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+23:59",
    "0001-01-01T00:00:00-00:01", "0000-12-31T23:59:59Z", "10000-01-01T00:00:00Z",
    "2207-11-22T13:05:00Z", "2026-11-22T13:05:60Z", "2016-12-31T23:59:60Z",
    "2026-11-22T13:05:00.123456789012+01:00", "2024-02-29T12:00:00Z", "2026-02-29T12:00:00Z",
    "2026-11-22T13:05:00+24:00", "2026-11-22T13:05:00", "2026-11-22 13:05:00Z",
    "2026-11-22T24:00:00Z", "2026-11-22T13:05:00.Z", "2026-11-22T13:05:00+0100",
    "２０２６-11-22T13:05:00Z", "2026-11-22T13:05:00Z\n", "1969-12-31T23:59:59.999Z", "",
]
# fmt: on


@st.composite
def time_strings(draw: Any) -> str:
    """RFC 3339 look-alikes: every component in and just out of its range."""
    y = draw(
        st.one_of(
            st.sampled_from([0, 1, 2, 1969, 1970, 2026, 2207, 9998, 9999]), st.integers(0, 9999)
        )
    )
    mo, d = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    h, mi, s = draw(st.integers(0, 24)), draw(st.integers(0, 60)), draw(st.integers(0, 61))
    frac = draw(st.sampled_from(["", ".0", ".5", ".123", ".123456789012", "." + "9" * 30]))
    offsets = [
        "Z",
        "z",
        "+00:00",
        "-00:00",
        "+01:00",
        "-23:59",
        "+23:59",
        "+24:00",
        "-00:60",
        "+5:00",
    ]
    off = draw(st.sampled_from([*offsets, ""]))
    sep = draw(st.sampled_from(["T", "t", " "]))
    return f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}:{s:02d}{frac}{off}"


# fmt: off
SHIFTS = [-31 * DAY, -30 * DAY - HOUR, -25 * HOUR, -2 * HOUR, -LATENESS - 1, 6 * HOUR + 1,
          7 * HOUR, 2 * DAY, 365 * DAY]
# fmt: on


def any_time(t: int) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(EDGE_TIMES),
        time_strings(),
        st.sampled_from(SHIFTS).flatmap(lambda dt: rendered(t + dt)),
        # the first and last instants of years 0001-9999, and 2207
        st.sampled_from([MIN_MS, MAX_MS, T0 + 181 * 365 * DAY]).flatmap(rendered),
        st.integers(MIN_MS, MAX_MS).flatmap(rendered),
    )


# ============================================================ valid events of every type
LOCS = REG.locations
PARTNERS = REG.partners
INPUT_SCHEMA = {name: load_schema(name) for name in INPUT_TYPES}
ID_POOLS = {
    "encounter_id": ["enc-1", "enc-2", "enc-3", "rdgg:enc.0001"],  # shared by every hospital
    "ride_id": ["r-1", "r-2", "r-77"],
    "call_id": ["c-1", "c-2", "hap-c-1"],
}
TIME_OFFSETS = {  # valid distance of a data time field from the event time
    "call_received_at": (-24 * HOUR, 5 * MIN),
    "eta": (-HOUR, 12 * HOUR),
    "expected_until": (-DAY, 3 * DAY),
}


def _location_choices(type_name: str, partner: str, field: str) -> list[str]:
    for lf in LOCATION_FIELDS.get(type_name, ()):
        if lf.name == field:
            return sorted(
                lid
                for lid, loc in LOCS.items()
                if (not lf.kinds or loc.kind in lf.kinds) and (lf.foreign or loc.partner == partner)
            )
    raise KeyError(field)


SENDERS = {
    t: [
        p
        for p in sorted(PARTNERS)
        if PARTNERS[p].kind in SENDER_KINDS[t]
        and all(_location_choices(t, p, lf.name) for lf in LOCATION_FIELDS.get(t, ()))
    ]
    for t in INPUT_TYPES
}
assert all(SENDERS.values())


@st.composite
def valid_data(draw: Any, type_name: str, partner: str, t: int) -> dict[str, Any]:
    """The data of a valid event of `type_name` from `partner` at `t` (optional fields
    sometimes, every enumeration value, ids from small shared pools)."""
    schema = INPUT_SCHEMA[type_name]
    required = set(schema["required"])
    location_fields = {lf.name for lf in LOCATION_FIELDS.get(type_name, ())}
    data: dict[str, Any] = {}
    for field, spec in schema["properties"].items():
        if field not in required and not draw(st.booleans()):
            continue
        if field in location_fields:
            value: Any = draw(st.sampled_from(_location_choices(type_name, partner, field)))
        elif "enum" in spec:
            value = draw(st.sampled_from(spec["enum"]))
        elif spec.get("type") == "boolean":
            value = draw(st.booleans())
        elif field in ID_POOLS:
            value = draw(st.sampled_from(ID_POOLS[field]))
        elif field in TIME_OFFSETS:
            lo, hi = TIME_OFFSETS[field]
            value = draw(rendered(t + draw(st.integers(lo + 999, hi))))  # rendering truncates
        elif field == "staffed_beds":
            limit = MAX_BEDS_BY_KIND[LOCS[data["location"]].kind]
            value = draw(
                st.one_of(st.integers(0, 60), st.integers(0, limit), st.sampled_from([0, limit]))
            )
        else:  # a field this test does not know: the schema grew, teach it
            raise AssertionError(f"no generator for {type_name}.{field}")
        data[field] = value
    return data


# ============================================================ mutations
# fmt: off
BEDS = [-1, 0, 1, 300, 301, 3000, 3001, 5000, 5001, 100_000, 100_001, 2**31, 2**63, 2**64 - 1,
        2**64, 10**30, 5.0, 1.5, 1e3, 1e300, -0.0, True, "10", None, [10]]
WEIRD_IDS = st.one_of(
    st.sampled_from(["123456782", "NL123456782", "ev-123456782-a", "1234567820", "111111110",
                     "e" * 128, "e" * 129, "ev\u202e1", "ev\x00", " ", "ev/1", "\U0001f691",
                     "enc-1\n"]),
    texts.filter(bool),
    st.integers(0, 10**12).map(str),
)
# fmt: on
WEIRD_TYPES = [full_type(t) for t in (*INPUT_TYPES, *EMITTED_TYPES)] + [
    "nl.acutezorg.seh.arrived.v2",
    "nl.acutezorg.seh.arrived",
    "seh.arrived",
    "NL.ACUTEZORG.SEH.ARRIVED.V1",
    "",
]
WEIRD_SOURCES = [f"/partners/{p}" for p in sorted(PARTNERS)] + [
    "/partners/",
    "/partners/umcg",
    "/partners/rdgg/seh",
    "/spoedstroom/haaglanden",
    "partners/rdgg",
    "/partners/" + "p" * 71,
    "/partners/rdgg\u202e",
    "/Partners/rdgg",
]
# fmt: off
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "application/json;",
                 "text/plain", "application/cloudevents+json", "", None, 1]
# fmt: on


def _data(ev: dict[str, Any]) -> dict[str, Any] | None:
    d = ev.get("data")
    return d if type(d) is dict else None


def m_time(draw: Any, ev: dict[str, Any], t: int) -> str:
    ev["time"] = draw(st.one_of(any_time(t), json_values))
    return "time"


def m_id(draw: Any, ev: dict[str, Any], t: int) -> str:
    ev["id"] = draw(st.one_of(WEIRD_IDS, json_values))
    return "id"


def m_extension(draw: Any, ev: dict[str, Any], t: int) -> str:
    name = draw(
        st.one_of(
            st.sampled_from(sorted(ALLOWED_EXTENSIONS)),
            st.sampled_from(["bsn", "patientname", "Subject", "data_base64", "datacontenttype"]),
            texts,
        )
    )
    ev[name] = draw(
        st.one_of(json_values, st.text(max_size=300), st.integers(), st.sampled_from(BIG_INTS))
    )
    return "extension"


def m_data_field(draw: Any, ev: dict[str, Any], t: int) -> str:
    d = _data(ev)
    if not d:
        return "data_field-none"
    field = draw(st.sampled_from(sorted(d)))
    how = draw(st.sampled_from(["replace", "delete", "extra", "id"]))
    if how == "replace":
        d[field] = draw(json_values)
    elif how == "delete":
        del d[field]
    elif how == "extra":
        d[draw(st.one_of(st.sampled_from(["bsn", "name", "location", "staffed_beds"]), texts))] = (
            draw(json_values)
        )
    else:
        d[field] = draw(WEIRD_IDS)
    return f"data_field-{how}"


def m_data(draw: Any, ev: dict[str, Any], t: int) -> str:
    ev["data"] = draw(json_values)
    return "data"


def m_beds(draw: Any, ev: dict[str, Any], t: int) -> str:
    d = _data(ev)
    if d is None:
        return "beds-none"
    d["staffed_beds"] = draw(st.one_of(st.sampled_from(BEDS), ints, floats))
    return "beds"


def m_data_time(draw: Any, ev: dict[str, Any], t: int) -> str:
    d = _data(ev)
    if d is None:
        return "data_time-none"
    field = draw(st.sampled_from(sorted(TIME_OFFSETS)))
    far = st.sampled_from(
        [-25 * HOUR, -24 * HOUR - 1, -HOUR - 1, 5 * MIN + 1, 12 * HOUR + 1, 365 * DAY, -365 * DAY]
    )
    d[field] = draw(st.one_of(far.flatmap(lambda dt: rendered(t + dt)), any_time(t)))
    return "data_time"


def m_base64(draw: Any, ev: dict[str, Any], t: int) -> str:
    data = ev.get("data")
    hows = ["valid", "valid", "urlsafe", "unpadded", "list", "not-json", "not-utf8", "not-base64"]
    how = draw(st.sampled_from([*hows, "both", "number", "empty"]))
    raw = to_bytes(data, "json")
    enc = {
        "valid": base64.b64encode(raw).decode(),
        "both": base64.b64encode(raw).decode(),
        "urlsafe": base64.urlsafe_b64encode(raw).decode(),
        "unpadded": base64.b64encode(raw).decode().rstrip("="),
        "list": base64.b64encode(b"[1, 2]").decode(),
        "not-json": base64.b64encode(b"{not json").decode(),
        "not-utf8": base64.b64encode(b'{"a": "\xff"}').decode(),
        "not-base64": "%%%not base64%%%",
        "number": 17,
        "empty": "",
    }[how]
    if how != "both":
        ev.pop("data", None)
    ev["data_base64"] = enc
    return f"base64-{how}"


def m_type(draw: Any, ev: dict[str, Any], t: int) -> str:
    ev["type"] = draw(st.one_of(st.sampled_from(WEIRD_TYPES), json_values))
    return "type"


def m_source(draw: Any, ev: dict[str, Any], t: int) -> str:
    ev["source"] = draw(st.one_of(st.sampled_from(WEIRD_SOURCES), json_values))
    return "source"


def m_envelope(draw: Any, ev: dict[str, Any], t: int) -> str:
    how = draw(st.sampled_from(["specversion", "datacontenttype", "drop"]))
    if how == "specversion":
        ev["specversion"] = draw(st.sampled_from(["0.3", "1.0 ", 1.0, None, "2.0"]))
    elif how == "datacontenttype":
        ev["datacontenttype"] = draw(st.sampled_from(CONTENT_TYPES))
    else:
        ev.pop(
            draw(
                st.sampled_from(
                    ["specversion", "id", "source", "type", "time", "data", "datacontenttype"]
                )
            ),
            None,
        )
    return f"envelope-{how}"


def m_elsewhere(draw: Any, ev: dict[str, Any], t: int) -> str:
    """An encounter / location at another location: the partner's other SEH (a
    conflict when the encounter is open), another partner's, a ward, an unknown one."""
    d = _data(ev)
    if d is None:
        return "elsewhere-none"
    d["location" if "location" in d or "destination" not in d else "destination"] = draw(
        st.one_of(
            st.sampled_from(sorted(LOCS)), st.sampled_from(["umcg-seh", "", "HMC-WESTEINDE-SEH"])
        )
    )
    return "elsewhere"


# fmt: off
MUTATIONS = [m_time, m_time, m_id, m_extension, m_data_field, m_data_field, m_data, m_beds,
             m_data_time, m_base64, m_type, m_source, m_envelope, m_elsewhere]
# fmt: on


# ============================================================ records
Record = tuple[bytes, list[tuple[Any, Any]] | None]


def encode(ev: dict[str, Any], mode: str) -> Record:
    """Kafka record value and headers of `ev` in structured or binary mode."""
    if mode == "binary":
        attrs = {k: v for k, v in ev.items() if k != "data"}
        return to_bytes(ev.get("data"), "orjson"), binary_headers(attrs)
    headers = [("content-type", CLOUDEVENTS_JSON.encode())] if mode == "structured+header" else None
    return to_bytes(ev, "utf8" if mode == "structured-utf8" else "orjson"), headers


@st.composite
def cloud_event(
    draw: Any,
    t: int,
    eid: str,
    mutate: st.SearchStrategy[int],
    types: tuple[str, ...] = INPUT_TYPES,
    partners: tuple[str, ...] | None = None,
) -> tuple[dict[str, Any], Record, str]:
    """A valid event of a random input type at `t`, then `mutate` mutations, encoded."""
    type_name = draw(st.sampled_from(types))
    partner = draw(
        st.sampled_from([p for p in SENDERS[type_name] if partners is None or p in partners])
    )
    # a leap second (:60) is read as :59.999, so the event time is that of its rendering
    time_s = draw(rendered(t)) if draw(st.integers(0, 19)) else rfc3339(t, leap=True)
    t = parse_time(time_s)
    ev = partner_event(type_name, partner, eid, t, draw(valid_data(type_name, partner, t)))
    ev["time"] = time_s
    labels = []
    for _ in range(draw(mutate)):
        labels.append(draw(st.sampled_from(MUTATIONS))(draw, ev, t))
    mode = draw(
        st.sampled_from(
            ["structured", "structured", "structured+header", "structured-utf8", "binary"]
        )
    )
    return ev, encode(ev, mode), f"{type_name}/{mode}/{'+'.join(labels) or 'valid'}"


@st.composite
def streams(draw: Any) -> tuple[list[tuple[Record, str]], int]:
    """Records in delivery order: valid events (within ten hours of one of a few time
    ranges, out of order), mutated ones, exact re-sends, new content under an id already
    used, SEH arrivals of one hospital with two SEHs (a conflict when the encounter is
    open at the other); and the index at which the region is dumped and restored."""
    n = draw(st.integers(1, 64))
    # The stream's time ranges: mostly the first; another one hours or days away (ahead:
    # the clock guard holds it until confirmed; behind: too_old, or late).
    bases = [T0, T0 + draw(st.sampled_from([7 * HOUR, 2 * DAY, -2 * DAY, -31 * DAY, 400 * DAY]))]
    out: list[tuple[Record, str]] = []
    sent: list[dict[str, Any]] = []
    for i in range(n):
        kind = draw(st.sampled_from(["event"] * 6 + ["resend", "same-id", "arrival", "arrival"]))
        if kind == "resend" and out:
            rec, label = out[draw(st.integers(0, len(out) - 1))]
            out.append((rec, f"resend {label}"))
            continue
        base = bases[draw(st.sampled_from([0] * 5 + [1]))]
        t = base + draw(st.integers(0, 600)) * MIN + draw(st.sampled_from([0, 0, 1, 500, 59_999]))
        eid = f"ev-{i}"
        if kind == "same-id" and sent:
            eid = str(sent[draw(st.integers(0, len(sent) - 1))].get("id", eid))
        mutate = st.sampled_from([0] * 7 + [1, 1, 2])
        if kind == "arrival":
            ev, rec, label = draw(cloud_event(t, eid, mutate, ("seh.arrived",), ("hmc",)))
        else:
            ev, rec, label = draw(cloud_event(t, eid, mutate))
        sent.append(ev)
        out.append((rec, f"{kind} {label}"))
    return out, draw(st.integers(0, n))


# ============================================================ checks
def plain_json(x: Any, path: str = "$") -> None:
    """Only what every JSON consumer reads back as written: no NaN or infinity (orjson
    writes them as null), no integer beyond 64 bits (orjson refuses it), string keys."""
    t = type(x)
    if x is None or t is bool or t is str:
        return
    if t is int:
        assert -(2**63) <= x < 2**64, f"{path}: integer {x} beyond 64 bits"
    elif t is float:
        assert math.isfinite(x), f"{path}: {x}"
    elif t is list or t is tuple:
        for i, v in enumerate(x):
            plain_json(v, f"{path}[{i}]")
    elif t is dict:
        for k, v in x.items():
            assert type(k) is str, f"{path}: key {k!r}"
            plain_json(v, f"{path}.{k}")
    else:
        raise AssertionError(f"{path}: {t.__name__} is not JSON")


def check_event(ev: Event) -> None:
    """What every accepted input is (topics.event.Event's contract)."""
    assert type(ev) is Event
    assert ev.type in INPUT_TYPES and ev.partner in PARTNERS
    assert (
        ev.source == f"/partners/{ev.partner}"
        and PARTNERS[ev.partner].kind in SENDER_KINDS[ev.type]
    )
    assert type(ev.id) is str and 0 < len(ev.id) <= 128
    assert type(ev.time) is int and MIN_MS <= ev.time <= MAX_MS
    assert type(ev.data) is dict
    plain_json(ev.data)
    errors = [e.message for e in DATA_SCHEMA[ev.type].iter_errors(ev.data)]
    assert not errors, f"accepted {ev.type} data {ev.data!r} violates its schema: {errors}"
    for field in ID_FIELDS:
        if field in ev.data:
            assert "\n" not in ev.data[field]


def check_times(data: Any, path: str = "data") -> None:
    if type(data) is dict:
        for k, v in data.items():
            if k in TIME_KEYS and v is not None:
                assert type(v) is str, f"{path}.{k}: {v!r}"
                parse_time(v)  # ValueError: not RFC 3339 within years 0001-9999
            check_times(v, f"{path}.{k}")
    elif type(data) is list:
        for i, v in enumerate(data):
            check_times(v, f"{path}[{i}]")


def check_outputs(outputs: list[Output]) -> None:
    for o in outputs:
        assert o.kind in ("snapshot", "alert.raised", "alert.resolved", "observation"), o.kind
        assert type(o.time) is int and MIN_MS <= o.time <= MAX_MS, o
        plain_json(o.data)
        ce = output_event(REGION, o)
        if ce is None:
            assert o.kind == "observation"
            assert type(o.data["seconds"]) is float and o.data["seconds"] >= 0, o
            continue
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in ENVELOPE.iter_errors(ce)]
        errors += [
            f"data{list(e.absolute_path)}: {e.message}"
            for e in DATA_SCHEMA[short_type(ce["type"])].iter_errors(ce["data"])
        ]
        assert not errors, f"{o.kind} {o.key} does not validate: {errors}\n{ce}"
        assert parse_time(ce["time"]) == o.time
        check_times(ce["data"])
        if o.kind == "snapshot":
            assert parse_time(ce["data"]["as_of"]) == o.time
        orjson.dumps(ce)  # publishable


def round_trip(proc: RegionProcessor) -> tuple[dict[str, Any], RegionProcessor]:
    """The state through orjson (as the changelog stores it) and a region restored from it,
    whose own dump is the same state."""
    dumped = proc.dump()
    plain_json(dumped)
    state = orjson.loads(orjson.dumps(dumped))
    restored = RegionProcessor.restore(REG, state, reorder_lateness_ms=LATENESS, clock_guard=True)
    assert orjson.loads(orjson.dumps(restored.dump())) == state
    return state, restored


class Region:
    """The loop of processors.replay.run_replay, with the accounting of one region."""

    def __init__(self, proc: RegionProcessor) -> None:
        self.proc = proc
        self.offered = 0
        self.refused: list[tuple[str, str, Reason]] = []  # (source, id, reason)
        self.outputs: list[Output] = []

    def _refuse(self, items: list[tuple[Event, Rejected]]) -> None:
        for ev, exc in items:
            assert exc.reason in LATER_REASONS, f"{ev} refused {exc.reason.value}: {exc.detail}"
            self.refused.append((ev.source, ev.id, exc.reason))

    def _emit(self, outputs: list[Output]) -> None:
        check_outputs(outputs)
        self.outputs.extend(outputs)

    def feed(self, event: Event) -> None:
        proc = self.proc
        self.offered += 1
        try:
            status, outs = proc.offer(event)
        except Rejected as exc:  # too_old, judged at the gate of the region
            assert exc.reason is Reason.TOO_OLD, exc
            self.refused.append((event.source, event.id, exc.reason))
            return
        assert status in ("buffered", "late", "duplicate", "held"), status
        hevent(f"status {status}")
        self._emit(outs)
        if status != "duplicate":
            confirmed = proc.confirmed_time
            if confirmed is not None:
                self._emit(proc.release(confirmed - LATENESS))
        self._refuse(proc.take_rejected())

    def finish(self) -> None:
        # The clock guard lets through what it still holds that nothing contradicted and
        # refuses the rest (future_time); then everything buffered is released.
        self._emit(self.proc.finish())
        self._refuse(self.proc.take_rejected())

    def assert_accounted(self) -> None:
        c = self.proc.counters
        assert c["applied"] + c["duplicates"] + len(self.refused) == self.offered, (
            f"applied {c['applied']} + duplicates {c['duplicates']} + refused {len(self.refused)} "
            f"!= offered {self.offered}"
        )


def decode(record: Record) -> Event | None:
    value, headers = record
    try:
        ev = VALIDATOR.decode(value, headers)
    except Rejected as exc:
        assert isinstance(exc.reason, Reason) and type(exc.detail) is str
        return None
    check_event(ev)
    return ev


# ============================================================ 1. arbitrary JSON at decode
envelope_like = st.fixed_dictionaries(
    {},
    optional={
        "specversion": st.one_of(st.just("1.0"), json_values),
        "id": st.one_of(st.just("ev-1"), WEIRD_IDS, json_values),
        "source": st.one_of(st.sampled_from(WEIRD_SOURCES), json_values),
        "type": st.one_of(st.sampled_from(WEIRD_TYPES), json_values),
        "time": st.one_of(any_time(T0), json_values),
        "datacontenttype": st.one_of(st.sampled_from(CONTENT_TYPES), json_values),
        "data": st.one_of(st.sampled_from([d for _, d in EXAMPLES.values()]), json_values),
        "data_base64": st.one_of(st.just("e30="), texts, json_values),
        "subject": json_values,
        "bsn": st.just("123456782"),
    },
)
# fmt: off
HEADER_NAMES = ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "CE_SUBJECT",
                "ce_bsn", "ce_", "ce_data", "ce_data_base64", "ce_datacontenttype", "content-type",
                "Content-Type", "x"]
HEADER_VALUES = ["1.0", "ev-1", "/partners/rdgg", full_type("seh.triaged"), "2026-11-22T13:05:00Z",
                 "application/json", CLOUDEVENTS_JSON, "text/plain"]
ODD_VALUES = [None, b"", b"null", b"{}", b"[]", b"1e400", b"NaN", b"-0", b"18446744073709551616",
              b"{" * 2000, b"[" * 5000 + b"]" * 5000, b'"\\ud800"', b'{"a":1,"a":2}',
              b'{"specversion":"1.0","pad":"' + b"x" * 70_000 + b'"}']
# fmt: on


def _bytes_or_str(v: Any) -> Any:
    """Header names and values come as str or bytes (str sometimes with lone surrogates)."""
    return (
        st.sampled_from([v, v.encode("utf-8", "surrogatepass")]) if type(v) is str else st.just(v)
    )


header_names = st.one_of(st.sampled_from(HEADER_NAMES), texts).flatmap(_bytes_or_str)
header_values = st.one_of(
    st.none(), st.binary(max_size=16), texts, st.sampled_from(HEADER_VALUES)
).flatmap(_bytes_or_str)
headers_strategy = st.one_of(
    st.none(),
    st.lists(st.tuples(header_names, header_values), max_size=7),
    st.dictionaries(
        st.sampled_from(
            ["ce_id", "ce_source", "ce_type", "ce_time", "ce_specversion", "content-type"]
        ),
        header_values,
        max_size=6,
    ),
)


@settings(max_examples=150, **FUZZ)
@given(
    value=st.one_of(
        st.tuples(
            st.one_of(json_values, envelope_like),
            st.sampled_from(["orjson", "json", "utf8"]),
            st.sampled_from(["", "", "", "bom", "truncated", "garbage", "spaces"]),
        ).map(lambda a: tweak_bytes(to_bytes(a[0], a[1]), a[2])),
        st.binary(max_size=64),
        st.sampled_from(ODD_VALUES),
        texts,  # str values are accepted too (encoded with surrogatepass)
    ),
    headers=headers_strategy,
    topic=st.one_of(st.none(), st.sampled_from(sorted(set(TOPIC_OF_TYPE.values()))), texts),
    wall_now_ms=st.one_of(st.none(), st.integers(MIN_MS - DAY, MAX_MS + DAY), st.just(T0)),
)
def test_decode_arbitrary_json_only_rejected_escapes(
    value: Any, headers: Any, topic: Any, wall_now_ms: Any
) -> None:
    try:
        ev = VALIDATOR.decode(value, headers, topic, wall_now_ms)
    except Rejected as exc:
        assert isinstance(exc.reason, Reason) and type(exc.detail) is str
        return
    check_event(ev)
    if wall_now_ms is not None:
        assert ev.time <= wall_now_ms + VALIDATOR.future_ms
    if topic is not None:
        assert TOPIC_OF_TYPE[ev.type] == topic


# ============================================================ 2. almost valid CloudEvents at decode
@settings(max_examples=150, **FUZZ)
@given(
    t=st.one_of(
        st.just(T0),
        st.integers(T0 - 400 * DAY, T0 + 400 * DAY),
        st.sampled_from([MIN_MS + DAY, MAX_MS - 4 * DAY]),
    ),
    case=st.data(),
)
def test_decode_almost_valid_cloudevents(t: int, case: st.DataObject) -> None:
    ev, record, label = case.draw(cloud_event(t, "ev-1", st.integers(0, 3)), label="event")
    got = decode(record)  # only Rejected escapes; what is accepted is a well-formed Event
    hevent("accepted" if got is not None else "rejected")
    if label.endswith("/valid"):  # no mutation: accepted as it was sent
        assert got is not None, f"a valid {label} was refused"
        assert (got.id, got.source, got.type, got.time, got.data) == (
            ev["id"],
            ev["source"],
            short_type(ev["type"]),
            parse_time(ev["time"]),
            ev["data"],
        )


# ============================================================ 3. the region under fuzzed streams
@settings(max_examples=60, **FUZZ)
@given(stream=streams())
def test_region_survives_fuzzed_streams(stream: tuple[list[tuple[Record, str]], int]) -> None:
    records, cut = stream
    region = Region(RegionProcessor(REG, reorder_lateness_ms=LATENESS, clock_guard=True))
    twin: Region | None = None  # a region restored mid-stream, fed the same from then on
    at_cut = 0
    for i, (record, _label) in enumerate(records):
        if i == cut:
            _, restored = round_trip(region.proc)
            twin = Region(restored)
            twin.offered, twin.refused = region.offered, list(region.refused)
            at_cut = len(region.outputs)
        ev = decode(record)
        if ev is None:
            continue
        region.feed(ev)
        if twin is not None:
            twin.feed(ev)
    region.finish()
    # what the stream reached (pytest --hypothesis-show-statistics)
    for reason in sorted({r.value for _, _, r in region.refused}):
        hevent(f"refused {reason}")
    for kind in sorted({o.kind for o in region.outputs}):
        hevent(f"output {kind}")
    hevent(f"duplicates: {region.proc.counters['duplicates'] > 0}")
    region.assert_accounted()
    assert region.proc.buffered == 0
    assert region.proc.ingress.guard is not None and not region.proc.ingress.guard.held
    round_trip(region.proc)
    if twin is not None:
        twin.finish()
        twin.assert_accounted()
        assert [list(o) for o in twin.outputs] == [list(o) for o in region.outputs[at_cut:]]
        assert twin.refused == region.refused
        assert twin.proc.counters == region.proc.counters
        assert orjson.loads(orjson.dumps(twin.proc.dump())) == orjson.loads(
            orjson.dumps(region.proc.dump())
        )
