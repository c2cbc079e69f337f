"""HL7 v2 ADT (v2.3 to v2.8) -> contract events: the pure mapping of the partner gateway.

`split_messages(data)` turns a file or MLLP block as real systems write it (CR, LF or CRLF
between segments, a UTF-8 byte-order mark, batch headers, several messages) into message
texts; `map_message(text, registry, key)` maps one message to a :class:`Mapped` (its
events, or none for triggers without one) or a :class:`Refused` with the reason. Parsing
is python-hl7's (`hl7.parse`, `hl7.split_file`, `hl7.parse_datetime`); the code tables
live in `adapters.tables`.

Rules (specification: the gateway section of docs/operations.md):
- the trigger comes from MSH-9 (EVN-1 is often stale in real feeds); the sending partner
  from MSH-4 and the registry's `hl7.sending_facility`;
- SEH stay or ward stay follows from the kind of the registry location PV1-3 maps to,
  never from PV1-2 patient class (filled inconsistently);
- event time: EVN-6, else EVN-2, else MSH-7; without an offset Europe/Amsterdam;
- `encounter_id` is the keyed hash of partner and PV1-19; no PID field is ever read;
- the event id is a keyed hash of partner, MSH-10, trigger, visit and type: control ids
  repeat across systems, and a resent message must be a duplicate downstream.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import hl7

from adapters import tables
from adapters.outcome import EventBuilder, Mapped, Outcome, Refusal, Refused
from adapters.pseudonym import encounter_id, event_id
from topics.codec import MAX_MS, MIN_MS
from topics.registry import Hl7Link, Location, Partner, Registry
from topics.validation import contains_bsn

#: HL7 times without an offset are local time of the Dutch hospitals.
LOCAL_ZONE = ZoneInfo("Europe/Amsterdam")
_LINE_BREAK = re.compile(r"\r\n|\n|\r")
_MLLP_FRAMING = str.maketrans("", "", "\x0b\x1c")
# A trigger event code (HL7 table 0003 and site-defined Z codes).
_TRIGGER_CODE = re.compile(r"[A-Z][0-9]{2}")
# A message type's component as a dead letter keeps it (`ADT`, `A04`, `ADT_A01`).
_TYPE_PART = re.compile(r"[A-Za-z0-9_]{1,16}")
# HL7 DTM: YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]. python-hl7's own pattern is
# looser (it reads `2026-11-22` as the year 2026 at offset -11:22), so check first.
_DTM = re.compile(r"\d{4}(?:\d{2}){0,5}(?:\.\d{1,4})?(?:[+-]\d{4})?")


def decode(data: bytes | str) -> str:
    """Text of a file or block: UTF-8 (with or without a byte-order mark), else Latin-1
    (HL7's 8859/1, which older systems still send); one CR between segments."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    else:
        text = data.removeprefix("\ufeff")
    return _LINE_BREAK.sub("\r", text.translate(_MLLP_FRAMING))


def split_messages(data: bytes | str) -> list[str]:
    """The messages of a file (batch and file header segments dropped). Lines before the
    first MSH, which `hl7.split_file` would only log and drop, come first as a message
    of their own, so they are refused as unparseable instead of vanishing."""
    lines = decode(data).split("\r")
    first = next((i for i, line in enumerate(lines) if line.startswith("MSH")), len(lines))
    orphans = [line for line in lines[:first] if line.strip() and line[:3] not in ("FHS", "BHS", "BTS", "FTS")]
    # `hl7.split_file` gets the text from the first MSH on: it would log the lines before
    # it as they are (a PID segment, say).
    rest = "\r".join(lines[first:])
    messages = [m for m in hl7.split_file(rest) if m.strip()] if rest else []
    return (["\r".join(orphans) + "\r"] if orphans else []) + messages


def _field(msg: hl7.Message, segment: str, number: int, component: int = 1, sub: int = 1) -> str:
    """A field of the first `segment` as written, with only the separator escapes undone.

    Not python-hl7's `extract_field`: it also expands the formatting escapes, which
    fails on some (`\\.brX\\`), grows without bound on others (`\\.sp100000000\\`) and
    logs the raw value (patient data) on unknown ones. Codes, ids and times need none
    of that. Like `extract_field`, a path deeper than the message's tree reads the
    first child; a path that ends early reads its leaf when the rest of it is 1."""
    try:
        value: Any = msg.segments(segment)(1)(number)
        for index in (1, component, sub):
            if isinstance(value, str):
                if index != 1:
                    return ""
                continue
            value = value(index)
        while not isinstance(value, str):
            value = value(1)
    except (KeyError, IndexError):
        return ""
    return _unescape_separators(msg, value).strip()


def _unescape_separators(msg: hl7.Message, text: str) -> str:
    """`\\F\\`, `\\S\\`, `\\T\\`, `\\R\\`, `\\E\\` to the characters they stand for; any other
    escape sequence stays as it is (HL7 v2.5, 2.7.4)."""
    esc = msg.esc
    if esc not in text:
        return text
    field_sep, repetition, component, subcomponent = msg.separators[1:5]
    chars = {"F": field_sep, "S": component, "T": subcomponent, "R": repetition, "E": esc}
    pattern = re.escape(esc) + "([FSTRE])" + re.escape(esc)
    return re.sub(pattern, lambda m: chars[m.group(1)], text)


def _has(msg: hl7.Message, segment: str) -> bool:
    try:
        msg.segment(segment)
    except KeyError:
        return False
    return True


def event_time_ms(msg: hl7.Message) -> int | None:
    """EVN-6 (occurred), else EVN-2 (recorded), else MSH-7, as epoch ms; None if none
    parses. A time without an offset is Europe/Amsterdam."""
    for segment, number in (("EVN", 6), ("EVN", 2), ("MSH", 7)):
        raw = _field(msg, segment, number)
        if not raw:
            continue
        if not _DTM.fullmatch(raw):
            return None
        try:
            dt: datetime | None = hl7.parse_datetime(raw)
            if dt is None:
                continue
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=LOCAL_ZONE)
            # (an offset of 24 h or more, or a time near year 1 or 9999, fails here)
            ms = int(dt.timestamp() * 1000)
        except (ValueError, OverflowError, OSError):
            return None  # a field that is there but wrong: refuse rather than fall back
        return ms if MIN_MS <= ms <= MAX_MS else None  # the contract's years 0001-9999 in UTC
    return None


def arrival_mode(msg: hl7.Message) -> str:
    """PV2-38 ambulance, else PV1-14 admit source (HL7 table 0023), else `other`."""
    if _field(msg, "PV2", 38).upper() in tables.HL7_0430_MODE_OF_ARRIVAL_AMBULANCE:
        return "ambulance"
    return tables.HL7_0023_ADMIT_SOURCE.get(_field(msg, "PV1", 14).upper(), "other")


def _code(value: str) -> str:
    """A table 0112 code as written: `1` and `01` are the same code."""
    value = value.upper()
    return value.zfill(2) if value.isdigit() and len(value) < 2 else value


def seh_disposition(msg: hl7.Message) -> str:
    return tables.HL7_0112_SEH_DISPOSITION.get(_code(_field(msg, "PV1", 36)), "other")


def ward_destination(msg: hl7.Message) -> str:
    by_disposition = tables.HL7_0112_WARD_DESTINATION.get(_code(_field(msg, "PV1", 36)))
    if by_disposition == "deceased":
        return "deceased"
    by_location = tables.HL7_PV1_37_DESTINATION.get(_field(msg, "PV1", 37).upper())
    return by_location or by_disposition or "other"


def _location(link: Hl7Link, registry: Registry, point_of_care: str) -> Location | None:
    location_id = link.location_of(point_of_care) if point_of_care else None
    return registry.locations.get(location_id) if location_id else None


def trigger_code(raw: str) -> str:
    """MSH-9.2 as the gateway names it in answers, logs, metrics and dead letters: an HL7
    trigger code (`A04`, `Z01`), else `other`. The field is the sender's text: as it is,
    it could carry anything into a log line, and make any number of label values."""
    return raw if _TRIGGER_CODE.fullmatch(raw) else "other"


def map_message(
    text: str, registry: Registry, key: bytes, partner_id: str | None = None
) -> Outcome:
    """Map one HL7 v2 message. With `partner_id` (convert) MSH-4 must be that partner's
    sending facility; without (the gateway) MSH-4 names the partner. Never raises: a
    message that makes the mapping fail is refused (`unparseable`), naming only the kind
    of failure."""
    try:
        return _map_message(text, registry, key, partner_id)
    except Exception as exc:  # noqa: BLE001 - no message may stop the gateway (or convert)
        return Refused(Refusal.UNPARSEABLE.value, f"a field of the message cannot be read ({type(exc).__name__})",
                       partner_id, parseable=False)


#: What one message may hold before it is refused unread: python-hl7 spends seconds and
#: hundreds of megabytes on a megabyte of separators (real ADT messages have tens of
#: segments and hundreds of separators).
MAX_SEGMENTS = 1_000
MAX_SEPARATORS = 20_000


def _map_message(text: str, registry: Registry, key: bytes, partner_id: str | None) -> Outcome:
    segments = [seg for seg in text.split("\r") if seg.strip()]
    headers = sum(1 for seg in segments if seg.startswith("MSH"))
    if headers > 1:
        return Refused(Refusal.UNPARSEABLE.value, f"{headers} messages in one: send each in its own MLLP block",
                       partner_id, parseable=False)
    separators = set("|^~&") | set(text[3:8] if text.startswith("MSH") else "")  # the standard ones, and MSH-1/2's
    if len(segments) > MAX_SEGMENTS or sum(text.count(c) for c in separators) > MAX_SEPARATORS:
        return Refused(Refusal.UNPARSEABLE.value, f"more than {MAX_SEGMENTS} segments or {MAX_SEPARATORS} "
                       "separators: not an ADT message", partner_id, parseable=False)
    try:
        if not text.lstrip().startswith("MSH") or len(text.strip()) < 9:
            raise ValueError("no MSH segment first")
        msg = hl7.parse(text)
        facility = _field(msg, "MSH", 4)
        message_type = _field(msg, "MSH", 9, 1).upper()
        raw_trigger = _field(msg, "MSH", 9, 2).upper()
        trigger = trigger_code(raw_trigger)
        control_id = _field(msg, "MSH", 10)
    except Exception as exc:  # noqa: BLE001 - python-hl7 raises many kinds on garbage
        return Refused(Refusal.UNPARSEABLE.value, f"not an HL7 v2 message ({type(exc).__name__})",
                       partner_id, parseable=False)
    if not raw_trigger:
        return Refused(Refusal.UNPARSEABLE.value, "MSH-9 has no trigger event", partner_id, parseable=False)
    if partner_id is not None:
        partner: Partner | None = registry.partners.get(partner_id)
        if partner is None or partner.hl7 is None:
            return Refused(Refusal.WRONG_SENDING_FACILITY.value,
                           f"partner {partner_id!r} has no hl7 block in the registry", partner_id, trigger)
        if partner.hl7.sending_facility != facility:
            return Refused(Refusal.WRONG_SENDING_FACILITY.value,
                           f"MSH-4 is not partner {partner_id!r}'s sending facility "
                           f"{partner.hl7.sending_facility!r}", partner_id, trigger)
    else:
        partner = registry.partner_of_facility(facility) if facility else None
        if partner is None:
            # The facility is not echoed: anything could stand in an unknown sender's MSH-4.
            return Refused(Refusal.UNKNOWN_SENDING_FACILITY.value,
                           "MSH-4 is no partner's hl7.sending_facility", None, trigger)
    link = partner.hl7
    assert link is not None  # partner_of_facility only finds partners with a link
    if message_type != "ADT" or trigger not in tables.HL7_MAPPED_TRIGGERS:
        return Mapped(partner.id, trigger)  # A08, A28, A31, ...: acknowledged, no event
    visit = _field(msg, "PV1", 19) if _has(msg, "PV1") else ""
    if not visit:
        return Refused(Refusal.MISSING_VISIT_NUMBER.value,
                       "PV1-19 (visit number) is empty: the message cannot be linked", partner.id, trigger)
    point_of_care = _field(msg, "PV1", 3)
    location = _location(link, registry, point_of_care)
    if location is None:
        # (the code itself is not quoted: PV1-3 can hold anything a sender put there)
        detail = (f"PV1-3's point of care is not in partner {partner.id!r}'s hl7.locations" if point_of_care
                  else f"PV1-3 (point of care) is empty: it names none of partner {partner.id!r}'s hl7.locations")
        return Refused(Refusal.UNMAPPED_LOCATION.value, detail, partner.id, trigger)
    time_ms = event_time_ms(msg)
    if time_ms is None:
        return Refused(Refusal.INVALID_TIME.value, "EVN-6, EVN-2 and MSH-7 hold no valid HL7 date/time",
                       partner.id, trigger)
    prior = _location(link, registry, _field(msg, "PV1", 6))
    enc = encounter_id(key, partner.id, visit)
    out = EventBuilder(registry, partner.id)

    def emit(type_name: str, data: dict[str, object]) -> None:
        eid = event_id(key, "hl7", partner.id, control_id, trigger, visit, type_name)
        out.add(type_name, eid, time_ms, {"encounter_id": enc, **data})

    def wrong_kind(expected: str) -> Refused:
        return Refused(Refusal.WRONG_LOCATION_KIND.value,
                       f"{trigger} at {location.id} ({location.kind}): the contract has an event "
                       f"for {expected} only", partner.id, trigger)

    seh = location.kind == "seh"
    if trigger in ("A01", "A04") and seh:
        emit("seh.arrived", {"location": location.id, "arrival_mode": arrival_mode(msg)})
    elif trigger == "A04":
        return wrong_kind("an SEH (A04 registers an SEH or outpatient visit)")
    elif trigger in ("A01", "A06"):
        if seh:
            return wrong_kind("a ward (A06 moves a patient to inpatient care)")
        acute = (_field(msg, "PV1", 4).upper() in tables.HL7_0007_ACUTE_ADMISSION_TYPES
                 or (prior is not None and prior.kind == "seh"))
        emit("ward.admitted", {"location": location.id, "acute": acute})
    elif trigger == "A02":
        if prior is not None and prior.id == location.id:
            return Mapped(partner.id, trigger)  # a bed move within one location: no event
        if seh:
            return wrong_kind("a ward (a transfer into an SEH)")
        if prior is not None and prior.kind == "seh":
            emit("ward.admitted", {"location": location.id, "acute": True})
        else:
            emit("ward.transferred", {"location": location.id})
    elif trigger == "A03":
        if seh:
            emit("seh.departed", {"disposition": seh_disposition(msg)})
        else:
            emit("ward.discharged", {"destination": ward_destination(msg)})
    elif trigger == "A11":
        emit("encounter.cancelled", {"cancelled_type": "seh.arrived" if seh else "ward.admitted"})
    elif trigger == "A12":
        # PV1-3 of an A12 is where the patient is again: back in the SEH means the
        # cancelled move was the SEH -> ward one, which the A02 sent as ward.admitted.
        emit("encounter.cancelled", {"cancelled_type": "ward.admitted" if seh else "ward.transferred"})
    elif trigger == "A13":
        emit("encounter.cancelled", {"cancelled_type": "seh.departed" if seh else "ward.discharged"})
    return out.finish(trigger)


def map_file(data: bytes | str, registry: Registry, key: bytes, partner_id: str | None = None) -> list[Outcome]:
    """Every message of a file, mapped in file order."""
    return [map_message(text, registry, key, partner_id) for text in split_messages(data)]


def redact(text: str) -> str:
    """A message as it may go to the dead-letter topic: only the segments and fields of
    `tables.HL7_DEADLETTER_KEEP`, each field's first repetition, component and
    subcomponent (MSH-2 whole, MSH-9's code-shaped components), at most 64 characters (no PID, NK1, GT1, IN1,
    no free text, no visit number). The separators are the first MSH's; a segment not
    written with them, a second MSH (another message) and text without an MSH are
    dropped. Works on text that does not parse."""
    segments = decode(text).split("\r")
    header = next((i for i, seg in enumerate(segments) if seg.startswith("MSH") and len(seg) >= 8), None)
    if header is None:
        return ""  # no separators to read the fields by: nothing is known to be safe
    field_sep, component, repetition, _escape, subcomponent = segments[header][3:8]
    kept: list[str] = []
    for position, segment in enumerate(segments):
        name = segment[:3]
        fields = tables.HL7_DEADLETTER_KEEP.get(name)
        if fields is None or segment[3:4] != field_sep or (name == "MSH" and position != header):
            continue
        parts = segment.split(field_sep)
        out = [name]
        for index, value in enumerate(parts[1:], start=1):
            number = index + 1 if name == "MSH" else index  # MSH-1 is the field separator itself
            if number not in fields:
                out.append("")
            elif name == "MSH" and number == 2:
                out.append(value[:4])  # the encoding characters
            elif name == "MSH" and number == 9:
                parts_9 = value.split(repetition, 1)[0].split(component)[:3]
                out.append(component.join(p if _TYPE_PART.fullmatch(p) else "" for p in parts_9))
            else:
                first = value.split(repetition, 1)[0].split(component, 1)[0].split(subcomponent, 1)[0]
                out.append("" if contains_bsn(first) else first[:64])
        kept.append(field_sep.join(out).rstrip(field_sep))
    return "\r".join(kept) + ("\r" if kept else "")
