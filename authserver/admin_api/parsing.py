"""Input shape at the edge: JSON bodies, durations, instants and If-Match versions."""

from __future__ import annotations

from datetime import datetime

from flask import request

from ..database import INTEGER_MAX
from ..durations import check_seconds, parse_duration, parse_instant, seconds_after
from ..errors import InvalidInputError


def json_body() -> dict:
    if not request.data:
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInputError("the request body must be a JSON object")
    return data


def duration(data: dict, key: str) -> int | None:
    """A duration as whole seconds (integer) or text (``7d``), at most ``MAX_SECONDS``; absent or null is None.
    Floats, booleans and numbers out of range are refused here, naming the field, before any arithmetic."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return parse_duration(value, field=key)
    if isinstance(value, int) and not isinstance(value, bool):
        return check_seconds(value, field=key)
    raise InvalidInputError(f"{key} must be a duration like 7d or a whole number of seconds", field=key)


def instant(data: dict, key: str) -> datetime | None:
    value = data.get(key)
    return None if value is None else parse_instant(value, field=key)


def deadline(data: dict, now: datetime, *, duration_key: str, at_key: str, default: int | None) -> datetime | None:
    """A deadline given either as a duration from now or as an exact instant (not both)."""
    if data.get(duration_key) is not None and data.get(at_key) is not None:
        raise InvalidInputError(f"give {duration_key} or {at_key}, not both", field=duration_key)
    at = instant(data, at_key)
    if at is not None:
        return at
    seconds = duration(data, duration_key)
    if seconds is None:
        seconds = default
    return None if seconds is None else seconds_after(now, seconds, field=duration_key)


def expected_version() -> int | None:
    """The integration version the caller last saw, from ``If-Match: "3"`` (optional)."""
    header = request.headers.get("If-Match")
    if not header:
        return None
    value = header.strip().removeprefix("W/").strip('"')
    if not (value.isascii() and value.isdigit()) or len(value) > 12:  # "²".isdigit(), but int("²") fails
        raise InvalidInputError('If-Match must be the integration\'s ETag, e.g. "3"', field="If-Match")
    return int(value)


def string_field(data: dict, key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidInputError(f"{key} must be a string", field=key)
    return value


def digits_param(key: str, default: str | None = None) -> int | None:
    """A whole number in the query string: ASCII digits only (``"²".isdigit()`` is true, but ``int("²")`` fails),
    at most ``INTEGER_MAX`` so that it can be compared with an INTEGER column; the domain clamps it further."""
    value = request.args.get(key, default)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 10) or int(value) > INTEGER_MAX:
        raise InvalidInputError(f"{key} must be a whole number from 0 to {INTEGER_MAX}", field=key)
    return int(value)
