"""Durations as people write them: ``30s``, ``15m``, ``12h``, ``90d``, ``2w``."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from .errors import InvalidInputError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^([1-9][0-9]{0,8})([smhdw])$")


def parse_duration(text: str, *, field: str = "duration") -> int:
    """Seconds in ``text``; anything else (negative, zero, unitless, huge) is an InvalidInputError."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise InvalidInputError(
            f"{field} must look like 30s, 15m, 12h, 90d or 2w", field=field
        )
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > 100 * 365 * 86400:
        raise InvalidInputError(f"{field} is longer than 100 years", field=field)
    return seconds


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
