"""What a mapping returns: the events of one partner message, or why it is refused.

The mappings (`adapters.hl7`, `adapters.fhir`) are pure functions returning a
:class:`Mapped` or a :class:`Refused`; the gateway and `spoedstroom convert` only move
them (to Kafka and an ACK, or to stdout and stderr). Every mapped event has already passed
the contract's validator (`topics.validation.Validator`), so the gateway never sends what
the pipeline would dead-letter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from topics.envelope import partner_event
from topics.event import Rejected
from topics.registry import Registry
from topics.validation import Validator


class Refusal(str, Enum):
    """Why the gateway refused a partner message (`dlq.reason` of its dead letter).

    Besides these, a mapped event the contract's validator rejects is refused with the
    validator's own reason code (docs/contract.md), which should never happen.
    """

    UNPARSEABLE = "unparseable"  # not HL7 v2 / not JSON / not a valid FHIR resource (AR, 400)
    UNKNOWN_SENDING_FACILITY = "unknown_sending_facility"  # MSH-4 is no partner's
    WRONG_SENDING_FACILITY = "wrong_sending_facility"  # MSH-4 is not the given partner's (convert)
    MISSING_VISIT_NUMBER = "missing_visit_number"  # no PV1-19 / Encounter.identifier or id
    UNMAPPED_LOCATION = "unmapped_location"  # PV1-3 / Location not in the partner's table
    FOREIGN_LOCATION = "foreign_location"  # a registry location of another partner
    WRONG_LOCATION_KIND = "wrong_location_kind"  # e.g. A04 at a ward, A12 at an SEH
    INVALID_TIME = "invalid_time"  # no usable event time
    UNSUPPORTED = "unsupported"  # a resource or Bundle type the gateway does not take


@dataclass(frozen=True)
class Mapped:
    """A message mapped to zero or more contract events (zero: ignored, e.g. A08)."""

    partner: str
    trigger: str
    events: tuple[dict[str, Any], ...] = ()

    @property
    def ignored(self) -> bool:
        return not self.events


@dataclass(frozen=True)
class Refused:
    """A refused message. `parseable` False means it could not even be read (HL7 `AR`,
    HTTP 400); otherwise it was read but cannot be mapped (`AE`, 422 or 403). `detail`
    never quotes patient data: only codes, field names and locations."""

    reason: str
    detail: str
    partner: str | None = None
    trigger: str = "unknown"
    parseable: bool = True


Outcome = Mapped | Refused


@dataclass
class EventBuilder:
    """Collects a message's events as CloudEvents and checks them against the contract."""

    registry: Registry
    partner: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def add(self, type_name: str, event_id: str, time_ms: int, data: dict[str, Any]) -> None:
        self.events.append(partner_event(type_name, self.partner, event_id, time_ms, data))

    def finish(self, trigger: str) -> Outcome:
        """Mapped when every event passes the validator, else Refused with its reason."""
        validator = Validator(self.registry)
        for event in self.events:
            try:
                validator.check(event)
            except Rejected as rej:
                return Refused(rej.reason.value, rej.detail, self.partner, trigger)
        return Mapped(self.partner, trigger, tuple(self.events))
