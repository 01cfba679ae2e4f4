"""Durations as people write them (``30s``, ``15m``, ``12h``, ``90d``, ``2w``) or as whole seconds, and the one bound
every duration here obeys."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from .errors import InvalidInputError

MAX_SECONDS = 50 * 365 * 86400
"""The longest duration accepted anywhere (every parser and the domain check against it). Durations are kept in
INTEGER columns, 32 bits on PostgreSQL (at most 68 years), and added to datetimes, which end at year 9999: a bound
well inside both means a huge number is a 400 naming its field, never an OverflowError or a database error."""

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^([1-9][0-9]{0,8})([smhdw])$")


def check_seconds(value: object, *, field: str, minimum: int = 1) -> int:
    """``value`` when it is whole seconds from ``minimum`` to MAX_SECONDS; a bool, a float, text or anything out of
    range is an InvalidInputError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{field} must be a whole number of seconds", field=field)
    if value < minimum:
        raise InvalidInputError(
            f"{field} must be at least {format_duration(minimum)}" if minimum > 1 else f"{field} must be positive",
            field=field,
        )
    if value > MAX_SECONDS:
        raise InvalidInputError(f"{field} is longer than 50 years", field=field)
    return value


def seconds_after(moment: datetime, seconds: int, *, field: str) -> datetime:
    """``moment`` plus ``seconds``; a sum past the calendar's end (year 9999) is an InvalidInputError, not the
    OverflowError datetime raises."""
    try:
        return moment + timedelta(seconds=seconds)
    except OverflowError:
        raise InvalidInputError(f"{field} reaches past the year 9999", field=field) from None


def parse_duration(text: str, *, field: str = "duration") -> int:
    """Seconds in ``text``; anything else (negative, zero, unitless, huge) is an InvalidInputError."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise InvalidInputError(f"{field} must look like 30s, 15m, 12h, 90d or 2w", field=field)
    return check_seconds(int(match.group(1)) * _UNITS[match.group(2)], field=field)


def format_duration(seconds: int) -> str:
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_instant(text: str, *, field: str = "at") -> datetime:
    """An ISO 8601 date-time; a value without a zone is read as UTC."""
    if not isinstance(text, str) or len(text) > 40:
        raise InvalidInputError(f"{field} must be an ISO 8601 date-time", field=field)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).replace(microsecond=0)
    except (ValueError, OverflowError):  # OverflowError: a zone that pushes year 1 or 9999 out of range
        raise InvalidInputError(f"{field} must be an ISO 8601 date-time", field=field) from None


def isoformat(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
