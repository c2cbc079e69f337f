"""Bytes and times on the wire: orjson (de)serialisation and RFC 3339 <-> epoch ms.

These sit on the hot path of the pipeline, so they avoid `datetime`: times are parsed
with one compiled regular expression and converted with integer calendar arithmetic
(days from the civil date, H. Hinnant's algorithm), exact for years 0001-9999.
A time whose UTC instant falls outside those years is refused, so every time that gets
in can be written back as RFC 3339.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError

_OPTS = orjson.OPT_NON_STR_KEYS


def dumps(obj: Any) -> bytes:
    """Serialise to compact UTF-8 JSON bytes (orjson; dict keys may be non-strings)."""
    return orjson.dumps(obj, option=_OPTS)


def loads(b: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON; raises :class:`orjson.JSONDecodeError` (a ValueError) on bad UTF-8/JSON."""
    return orjson.loads(b)


# YYYY-MM-DDTHH:MM:SS(.fff...)?(Z|+HH:MM|-HH:MM), ASCII digits only ('t'/'z' allowed by RFC 3339).
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]+))?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))\Z"
)
_DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date."""
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(z: int) -> tuple[int, int, int]:
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


_HM: dict[str, int] = {f"{h:02d}:{m:02d}": (h * 60 + m) * 60_000 for h in range(24) for m in range(60)}
_SS: dict[str, int] = {f"{s:02d}": s * 1000 for s in range(60)}
# Validated pieces seen before (bounded): 'YYYY-MM-DD' -> epoch ms of its midnight UTC;
# the tail after the seconds ('Z', '.250+01:00', ...) -> ms to add (fraction - offset).
_DATES: dict[str, int] = {}
_TAILS: dict[str, int] = {}
_DATE_STR: dict[int, str] = {}
_CACHE_MAX = 20_000
# The instants format_time can write: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z.
MIN_MS = -62_135_596_800_000
MAX_MS = 253_402_300_799_999


class TimeError(ValueError):
    """A string that is not a time of the contract; `problem` says why without quoting it
    (the message does, for people reading their own input)."""

    def __init__(self, problem: str, text: str) -> None:
        super().__init__(f"{problem}: {text[:40]!r}")
        self.problem = problem


def parse_time(s: object) -> int:  # anything: not a string is a ValueError
    """RFC 3339 date-time with a required offset -> epoch milliseconds (UTC).

    Accepts `Z` or `±HH:MM` and any number of fractional digits (truncated to
    milliseconds). A leap second (`:60`, RFC 3339 section 5.6) is read as the last
    millisecond of its minute, since epoch milliseconds have no leap seconds. Raises
    ValueError for anything else (no offset, impossible dates, wrong types, a UTC instant
    outside years 0001-9999).
    """
    # Fast path: the common shape, made of pieces already validated by the slow path.
    if type(s) is str and len(s) >= 20 and s[10] == "T" and s[13] == ":" and s[16] == ":":
        d = _DATES.get(s[:10])
        hm = _HM.get(s[11:16])
        ss = _SS.get(s[17:19])
        tail = _TAILS.get(s[19:])
        if d is not None and hm is not None and ss is not None and tail is not None:
            return d + hm + ss + tail
    return _parse_slow(s)


def _parse_slow(s: object) -> int:
    if type(s) is not str:
        raise ValueError(f"expected an RFC 3339 string, got {type(s).__name__}")
    m = _RFC3339.match(s)
    if m is None:
        raise TimeError("not an RFC 3339 date-time with offset", s)
    ys, mos, ds, hs, mis, ss, frac, z, sign, oh, om = m.groups()
    year, month, day = int(ys), int(mos), int(ds)
    hour, minute, second = int(hs), int(mis), int(ss)
    if not (
        1 <= month <= 12
        and 1 <= day <= _DAYS_IN_MONTH[month]
        and year >= 1
        and hour <= 23
        and minute <= 59
        and second <= 60
    ):
        raise TimeError("date or time out of range", s)
    if month == 2 and day == 29 and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        raise TimeError("not a leap year", s)
    leap = second == 60
    tail = 999 if leap else (int((frac + "00")[:3]) if frac else 0)
    if leap:
        second = 59
    if z is None:
        offh, offm = int(oh), int(om)
        if offh > 23 or offm > 59:
            raise TimeError("offset out of range", s)
        off = (offh * 60 + offm) * 60_000
        tail -= off if sign == "+" else -off
    midnight = _days_from_civil(year, month, day) * 86_400_000
    ms = midnight + (hour * 3600 + minute * 60 + second) * 1000 + tail
    if not MIN_MS <= ms <= MAX_MS:
        raise TimeError("outside years 0001-9999 in UTC", s)
    if len(_DATES) > _CACHE_MAX:
        _DATES.clear()
    if len(_TAILS) > _CACHE_MAX:
        _TAILS.clear()
    # The fast path adds the tail to any date and time of day: only cache pieces that
    # mean the same everywhere (not a leap second's, nor a date at the edge of the range).
    if not leap and MIN_MS + 86_400_000 <= midnight <= MAX_MS - 2 * 86_400_000:
        _DATES[s[:10]] = midnight
        _TAILS[s[19:]] = tail
    return ms


def format_time(ms: int) -> str:
    """Epoch milliseconds -> `2026-11-22T13:05:00Z` (UTC; `.250` only when non-zero)."""
    secs, milli = divmod(int(ms), 1000)
    days, sod = divmod(secs, 86400)
    date = _DATE_STR.get(days)
    if date is None:
        y, mo, d = _civil_from_days(days)
        date = f"{y:04d}-{mo:02d}-{d:02d}"
        if len(_DATE_STR) > _CACHE_MAX:
            _DATE_STR.clear()
        _DATE_STR[days] = date
    h, rem = divmod(sod, 3600)
    mi, s = divmod(rem, 60)
    if milli:
        return f"{date}T{h:02d}:{mi:02d}:{s:02d}.{milli:03d}Z"
    return f"{date}T{h:02d}:{mi:02d}:{s:02d}Z"
