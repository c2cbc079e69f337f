"""FHIR R4 Encounter, Bundle and SANER MeasureReport -> contract events: the pure mapping
of the partner gateway's HTTP side and of `spoedstroom convert fhir`.

Resources are parsed and validated by `fhir.resources` (its R4B models: Encounter,
Location and MeasureReport are unchanged from R4); a resource the models refuse is
`unparseable` (HTTP 400). The mapping reads only status, class, period, location,
hospitalization codes, priority, identifier (the visit number, hashed at once) and meta:
never `subject`, `participant`, `text`, `contained` or any other patient data.

Each posted version of an Encounter is turned into the transitions it shows:
- `location[]` in order of their period start (planned ones skipped): the first SEH
  location is `seh.arrived`; the first ward, or a ward after an SEH, `ward.admitted`
  (acute when it follows an SEH, the class history holds EMER, or the priority is
  urgent); another ward after a ward `ward.transferred`;
- `status: finished` (or `period.end`): `seh.departed` / `ward.discharged` after the last
  location, with `hospitalization.dischargeDisposition`;
- `status: cancelled` or `entered-in-error`: `encounter.cancelled` of the stay's first
  transition (`seh.arrived` or `ward.admitted`).
Event ids are keyed hashes of partner, visit, transition type, location and the
transition's ordinal, not its time: a version posted twice, or a newer version repeating
(or re-timing) older history, gives the same ids, which the pipeline counts once.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timezone
from typing import Any, Callable

import orjson
from pydantic import ValidationError

from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.measurereport import MeasureReport
from fhir.resources.R4B.reference import Reference

from adapters import tables
from adapters.hl7 import LOCAL_ZONE
from adapters.outcome import EventBuilder, Outcome, Refusal, Refused
from adapters.pseudonym import encounter_id, event_id
from topics.codec import MAX_MS, MIN_MS, parse_time
from topics.registry import Location, Registry
from topics.validation import contains_bsn

#: Bundle types taken by `POST /fhir`: batch and transaction, and the notifications of
#: R4B subscriptions (`subscription-notification`) and of the R4 backport (`history`).
BUNDLE_TYPES = ("batch", "transaction", "history", "subscription-notification", "collection")

#: A mapping of one resource: (resource, registry, pseudonymisation key, partner) -> outcome.
ResourceMapping = Callable[[dict[str, Any], Registry, bytes, str], Outcome]


def loads(body: bytes | str) -> dict[str, Any] | Refused:
    """The JSON object of a request body or file, or an `unparseable` refusal."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Refused(Refusal.UNPARSEABLE.value, "the body is not JSON", parseable=False)
    if not isinstance(obj, dict) or not isinstance(obj.get("resourceType"), str):
        return Refused(Refusal.UNPARSEABLE.value, "the body is not a FHIR resource (no resourceType)",
                       parseable=False)
    return obj


_ELEMENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _problem(err: Any) -> str:
    """One validation error as `path: message`, without anything the sender wrote: the
    name of an element the resource does not define is left out, and a message that is
    not one of pydantic's fixed texts (fhir.resources' own quote the value) becomes the
    error's type code."""
    kind = str(err["type"])
    loc = [str(p) if isinstance(p, int) or _ELEMENT_NAME.fullmatch(str(p)) else "?" for p in err["loc"]]
    if kind == "extra_forbidden" and loc:
        loc[-1] = "(an element R4 does not define)"
    path = ".".join(loc)
    fixed = kind in ("missing", "extra_forbidden", "json_invalid") or kind.endswith(("_type", "_parsing"))
    return f"{path}: {err['msg'] if fixed else kind}"


def _invalid(exc: ValidationError, what: str, partner: str) -> Refused:
    problems = "; ".join(_problem(err) for err in exc.errors(include_url=False, include_input=False,
                                                             include_context=False)[:5])
    return Refused(Refusal.UNPARSEABLE.value, f"not a valid FHIR R4 {what}: {problems}"[:500],
                   partner, what, parseable=False)


class BadTime(ValueError):
    """A FHIR time that cannot be an event time; `problem` says why (never quoting it)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _ms(value: Any) -> int | None:
    """Epoch ms of a FHIR dateTime/instant (a date alone is its local midnight); BadTime
    when it is there but unreadable (a year-month) or, in UTC, outside the years
    0001-9999: refused rather than passed over for another time of the resource."""
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    else:  # what the models keep as a string: a date, a partial date, a leap second
        text = str(value)
        try:
            return parse_time(text)  # with an offset: as the contract reads times (`:60` as :59.999)
        except ValueError:
            pass
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise BadTime("a time is not a FHIR date or dateTime this gateway can place (a year or "
                          "year-month alone?)") from None
    try:
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=LOCAL_ZONE)
        ms = int(dt.astimezone(timezone.utc).timestamp() * 1000)
    except (OverflowError, ValueError, OSError):
        raise BadTime("a time lies outside the years 0001-9999 (UTC)") from None
    if not MIN_MS <= ms <= MAX_MS:
        raise BadTime("a time lies outside the years 0001-9999 (UTC)")
    return ms


def _codes(concept: Any) -> list[str]:
    return [c.code for c in (getattr(concept, "coding", None) or []) if c.code]


def resolve_location(
    ref: Reference | None, registry: Registry, partner_id: str
) -> Location | Refused:
    """The registry location a Reference names: its identifier value or `Location/{id}`
    as a registry id of the partner, or a code of the partner's `hl7.locations` table."""
    candidates: list[str] = []
    if ref is not None:
        if ref.identifier is not None and ref.identifier.value:
            candidates.append(ref.identifier.value)
        if ref.reference:
            candidates.append(ref.reference.rsplit("/", 1)[-1])
    link = registry.partners[partner_id].hl7
    found: list[Location] = []  # what each candidate names
    for code in candidates:
        loc = registry.locations.get(code)
        if loc is not None:
            if loc.partner != partner_id:
                return Refused(Refusal.FOREIGN_LOCATION.value,
                               f"location {loc.id} belongs to partner {loc.partner!r}", partner_id)
            found.append(loc)
            continue
        mapped = link.location_of(code) if link is not None else None
        if mapped is not None:
            found.append(registry.locations[mapped])
    if found:
        if any(loc.id != found[0].id for loc in found):
            return Refused(Refusal.UNMAPPED_LOCATION.value, "the location's identifier and reference name "
                           "different locations", partner_id)
        return found[0]
    # (what was given is not quoted: a reference or identifier can hold any text)
    detail = (f"the location given is neither a location of partner {partner_id!r} nor in its hl7.locations table"
              if candidates else f"no location given: none of partner {partner_id!r}'s locations or hl7.locations")
    return Refused(Refusal.UNMAPPED_LOCATION.value, detail, partner_id)


def visit_number(enc: Encounter) -> str | None:
    """Encounter.identifier (official or usual first), else the resource id."""
    identifiers = [i for i in (enc.identifier or []) if i.value]
    identifiers.sort(key=lambda i: 0 if i.use in ("official", "usual") else 1)
    if identifiers:
        return str(identifiers[0].value)
    return str(enc.id) if enc.id else None


def _status_start(enc: Encounter, *statuses: str) -> int | None:
    for h in enc.statusHistory or []:
        if h.status in statuses and h.period is not None:
            t = _ms(h.period.start)
            if t is not None:
                return t
    return None


def never_raising(what: str) -> Callable[[ResourceMapping], ResourceMapping]:
    """A mapping of resources of kind `what` that refuses instead of raising: an
    unreadable time or one out of range is `invalid_time`; anything else the models or the
    mapping raise on odd input (fhir.resources raises more than ValidationError) is
    `unparseable`, naming only the kind of failure. No resource may stop the gateway (or
    convert)."""

    def wrap(mapping: ResourceMapping) -> ResourceMapping:
        @functools.wraps(mapping)
        def mapped(obj: dict[str, Any], registry: Registry, key: bytes, partner_id: str) -> Outcome:
            try:
                return mapping(obj, registry, key, partner_id)
            except BadTime as exc:
                return Refused(Refusal.INVALID_TIME.value, exc.problem, partner_id, what)
            except Exception as exc:  # noqa: BLE001 - see above
                return Refused(Refusal.UNPARSEABLE.value, f"the {what} cannot be read ({type(exc).__name__})",
                               partner_id, what, parseable=False)
        return mapped
    return wrap


@never_raising("Encounter")
def map_encounter(obj: dict[str, Any], registry: Registry, key: bytes, partner_id: str) -> Outcome:
    """Map one Encounter resource (a parsed JSON object) of `partner_id`."""
    trigger = "Encounter"
    try:
        enc = Encounter.model_validate(obj)
    except ValidationError as exc:
        return _invalid(exc, trigger, partner_id)
    if enc.status not in tables.FHIR_ENCOUNTER_STATUSES:
        return Refused(Refusal.UNPARSEABLE.value, "Encounter.status is not an R4 encounter-status code",
                       partner_id, trigger, parseable=False)
    trigger = f"Encounter.{enc.status}"
    visit = visit_number(enc)
    if not visit:
        return Refused(Refusal.MISSING_VISIT_NUMBER.value,
                       "neither Encounter.identifier nor Encounter.id: the encounter cannot be linked",
                       partner_id, trigger)
    arrived = _status_start(enc, "arrived", "triaged", "in-progress") or _ms(enc.period.start if enc.period else None)
    stays: list[tuple[int, Location]] = []
    for entry in enc.location or []:
        if entry.status == "planned":
            continue
        loc = resolve_location(entry.location, registry, partner_id)
        if isinstance(loc, Refused):
            return Refused(loc.reason, loc.detail, partner_id, trigger)
        start = _ms(entry.period.start if entry.period else None)
        if start is None and not stays:
            start = arrived
        if start is None:
            return Refused(Refusal.INVALID_TIME.value, "a location without period.start after the first",
                           partner_id, trigger)
        stays.append((start, loc))
    if not stays:
        return Refused(Refusal.UNMAPPED_LOCATION.value,
                       "the Encounter names no (non-planned) location", partner_id, trigger)
    stays.sort(key=lambda s: s[0])  # a stable sort: equal starts keep the resource's order

    enc_id = encounter_id(key, partner_id, visit)
    out = EventBuilder(registry, partner_id)
    ordinals: dict[tuple[str, str], int] = {}

    def emit(type_name: str, t: int, data: dict[str, Any], location: str = "") -> None:
        n = ordinals[(type_name, location)] = ordinals.get((type_name, location), 0) + 1
        eid = event_id(key, "fhir", partner_id, visit, type_name, location, str(n))
        out.add(type_name, eid, t, {"encounter_id": enc_id, **data})

    hosp = enc.hospitalization
    class_history = {h.class_fhir.code for h in (enc.classHistory or []) if h.class_fhir is not None}
    urgent = bool(set(_codes(enc.priority)) & tables.FHIR_ACUTE_PRIORITIES)
    admit_source = next(iter(_codes(hosp.admitSource if hosp else None)), "")
    previous: Location | None = None
    latest = stays[0][0]
    for start, loc in stays:
        latest = max(latest, start)
        if loc.kind == "seh":
            if previous is None:
                mode = tables.FHIR_ADMIT_SOURCE.get(admit_source, "other")
                emit("seh.arrived", start, {"location": loc.id, "arrival_mode": mode}, loc.id)
            # an SEH after a ward, or a second SEH, has no event in the contract
        elif previous is None or previous.kind == "seh":
            emergency = tables.FHIR_EMERGENCY_CLASS
            acute = (previous is not None or emergency in class_history
                     or (enc.class_fhir is not None and enc.class_fhir.code == emergency) or urgent)
            emit("ward.admitted", start, {"location": loc.id, "acute": acute}, loc.id)
        elif previous.id != loc.id:
            emit("ward.transferred", start, {"location": loc.id}, loc.id)
        if loc.kind != "seh" or previous is None:
            previous = loc
    assert previous is not None

    ended = _ms(enc.period.end if enc.period else None) or _status_start(enc, "finished")
    if enc.status == "finished" or (ended is not None and enc.status not in ("cancelled", "entered-in-error")):
        if ended is None:
            return Refused(Refusal.INVALID_TIME.value,
                           "a finished Encounter without period.end or a finished statusHistory entry",
                           partner_id, trigger)
        codes = _codes(hosp.dischargeDisposition if hosp else None)
        code = codes[0] if codes else ""
        if previous.kind == "seh":
            emit("seh.departed", ended, {"disposition": tables.FHIR_SEH_DISPOSITION.get(code, "other")})
        else:
            emit("ward.discharged", ended, {"destination": tables.FHIR_WARD_DESTINATION.get(code, "other")})
        latest = max(latest, ended)
    if enc.status in ("cancelled", "entered-in-error"):
        when = (_status_start(enc, enc.status) or _ms(enc.meta.lastUpdated if enc.meta else None)
                or ended or latest)
        first = "seh.arrived" if stays[0][1].kind == "seh" else "ward.admitted"
        emit("encounter.cancelled", max(when, latest), {"cancelled_type": first})
    return out.finish(trigger)


@never_raising("MeasureReport")
def map_measure_report(obj: dict[str, Any], registry: Registry, key: bytes, partner_id: str) -> Outcome:
    """A SANER-style MeasureReport: the staffed beds of one Location -> capacity.reported."""
    trigger = "MeasureReport"
    try:
        report = MeasureReport.model_validate(obj)
    except ValidationError as exc:
        return _invalid(exc, trigger, partner_id)
    loc = resolve_location(report.subject, registry, partner_id)
    if isinstance(loc, Refused):
        return Refused(loc.reason, loc.detail, partner_id, trigger)
    t = _ms(report.date) or _ms(report.period.end if report.period else None)
    if t is None:
        return Refused(Refusal.INVALID_TIME.value, "MeasureReport has neither date nor period.end",
                       partner_id, trigger)
    counts: dict[str, int] = {}
    for group in report.group or []:
        for population in group.population or []:
            for code in _codes(population.code):
                if population.count is not None:
                    counts.setdefault(code, population.count)
    preference = tables.SANER_STAFFED_BED_CODES["ic" if loc.bed_type == "ic" else "default"]
    beds = next((counts[c] for c in preference if c in counts), None)
    if beds is None:
        return Refused(Refusal.UNSUPPORTED.value,
                       f"no population coded {' or '.join(preference)} in the MeasureReport", partner_id, trigger)
    out = EventBuilder(registry, partner_id)
    out.add("capacity.reported", event_id(key, "fhir", partner_id, "capacity", loc.id, str(t)), t,
            {"location": loc.id, "staffed_beds": beds})
    return out.finish(trigger)


def bundle_entries(obj: dict[str, Any]) -> list[dict[str, Any]] | Refused:
    """The resources of a Bundle of a taken type (checked by the Bundle model)."""
    from fhir.resources.R4B.bundle import Bundle

    entries = obj.get("entry")
    if isinstance(entries, list) and len(entries) > MAX_BUNDLE_ENTRIES:
        return Refused(Refusal.UNSUPPORTED.value, f"a Bundle of more than {MAX_BUNDLE_ENTRIES} entries is not "
                       "taken: send it in parts", trigger="Bundle")
    try:
        bundle = Bundle.model_validate(obj)
    except ValidationError as exc:
        return _invalid(exc, "Bundle", "")
    except Exception as exc:  # noqa: BLE001 - fhir.resources raises more than ValidationError
        return Refused(Refusal.UNPARSEABLE.value, f"the Bundle cannot be read ({type(exc).__name__})",
                       trigger="Bundle", parseable=False)
    if bundle.type not in BUNDLE_TYPES:
        return Refused(Refusal.UNSUPPORTED.value, f"Bundle.type is not one of {', '.join(BUNDLE_TYPES)}",
                       trigger="Bundle")
    # The raw entry objects, not the models: each is validated again by its own mapping.
    return [e.get("resource") or {} for e in obj.get("entry") or [] if isinstance(e, dict)]


def map_resource(obj: dict[str, Any], registry: Registry, key: bytes, partner_id: str) -> list[Outcome]:
    """Any resource `convert fhir` may meet: an Encounter, a MeasureReport, or a Bundle of
    them (other resources in a Bundle, such as a Patient, are skipped unread)."""
    kind = obj.get("resourceType")
    if kind == "Encounter":
        return [map_encounter(obj, registry, key, partner_id)]
    if kind == "MeasureReport":
        return [map_measure_report(obj, registry, key, partner_id)]
    if kind == "Bundle":
        entries = bundle_entries(obj)
        if isinstance(entries, Refused):
            return [Refused(entries.reason, entries.detail, partner_id, "Bundle", entries.parseable)]
        return [o for e in entries if e.get("resourceType") in ("Encounter", "MeasureReport")
                for o in map_resource(e, registry, key, partner_id)]
    return [Refused(Refusal.UNSUPPORTED.value, "the resourceType is none of Encounter, MeasureReport, Bundle",
                    partner_id, "unknown")]


# Allow-list of what a dead-lettered resource keeps (True: a leaf, kept when `_leaf` takes it).
_CODING = {"coding": {"system": True, "code": True}}
_PERIOD = {"start": True, "end": True}
_KEEP: dict[str, Any] = {
    "resourceType": True, "status": True, "type": True, "measure": True, "date": True,
    "meta": {"lastUpdated": True, "versionId": True},
    "class": {"system": True, "code": True},
    "classHistory": {"class": {"system": True, "code": True}, "period": _PERIOD},
    "statusHistory": {"status": True, "period": _PERIOD},
    "period": _PERIOD,
    "priority": _CODING,
    "location": {"status": True, "period": _PERIOD,
                 "location": {"reference": True, "identifier": {"value": True}}},
    "hospitalization": {"admitSource": _CODING, "dischargeDisposition": _CODING},
    "subject": {"reference": True, "identifier": {"value": True}},  # a MeasureReport's Location
    "group": {"code": _CODING, "population": {"code": _CODING, "count": True}},
    "entry": {"resource": None},  # filled by redact(): entries are resources themselves
}


#: Entries of a Bundle the gateway takes (more are refused) and a dead letter keeps.
MAX_BUNDLE_ENTRIES = 1000
# A kept leaf's text: a code, id, reference, URL or time has no spaces.
_LEAF_TEXT = re.compile(r"\S{1,256}")


def _leaf(value: Any) -> Any:
    """An allow-listed leaf as a dead letter keeps it: a number, a boolean, or text shaped
    like a code, id, reference or time (no spaces, no 9 digits passing the BSN test);
    anything else (an object, a list, free text) is dropped."""
    if isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str) and _LEAF_TEXT.fullmatch(value) and not contains_bsn(value):
        return value
    return None


def _project(value: Any, spec: Any) -> Any:
    if spec is True:
        return _leaf(value)
    if isinstance(value, list):
        # (a list in a list is no FHIR; dropping it also bounds the recursion by the spec)
        return [_project(v, spec) for v in value if not isinstance(v, list)]
    if not isinstance(value, dict) or not isinstance(spec, dict):
        return None
    return {k: _project(v, spec[k]) for k, v in value.items() if k in spec and spec[k] is not None}


def _entry(resource: Any) -> dict[str, Any]:
    """A Bundle entry's resource, redacted; a Bundle in a Bundle only by its type (the
    gateway takes none, and redacting it would recurse as deep as it is nested)."""
    if isinstance(resource, dict) and resource.get("resourceType") == "Bundle":
        return {"resourceType": "Bundle"}
    return redact(resource)


def redact(obj: Any) -> dict[str, Any]:
    """A resource as it may go to the dead-letter topic: the allow-list above only. A
    Patient, the Encounter's subject, participants, narrative and identifiers (the visit
    number) are all dropped; a Subscription's or Bundle's entries are redacted alike."""
    if not isinstance(obj, dict):
        return {}
    if obj.get("resourceType") not in ("Encounter", "MeasureReport", "Bundle"):
        kind = _leaf(obj.get("resourceType"))
        return {"resourceType": kind} if isinstance(kind, str) else {}
    out = _project(obj, _KEEP)
    if obj.get("resourceType") == "Bundle":
        entries = obj.get("entry")
        out["entry"] = [{"resource": _entry(e.get("resource"))} for e in
                        (entries[:MAX_BUNDLE_ENTRIES] if isinstance(entries, list) else []) if isinstance(e, dict)]
    if obj.get("resourceType") != "MeasureReport":
        out.pop("subject", None)  # an Encounter's subject is the patient
    return out
