"""Input shape at the edge: JSON objects, text fields, instants, and paging arguments. Bad input is a clear 400."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime

from flask import request

from ..errors import InvalidInputError

DEFAULT_LIMIT, MAX_LIMIT = 20, 100
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}\.[^@\s]+$")


def json_object(allowed: tuple[str, ...]) -> dict:
    """The request body as a JSON object with only known fields (a typo is an error, not silently ignored)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInputError("the request body must be a JSON object (Content-Type: application/json)")
    unknown = sorted(key for key in data if key not in allowed)
    if unknown:
        raise InvalidInputError(
            f"unknown field {unknown[0][:40]!r}; allowed: {', '.join(allowed)}", field=unknown[0][:40]
        )
    return data


def text(data: dict, name: str, *, max_length: int, required: bool = False, nullable: bool = True) -> str | None:
    value = data.get(name)
    if value is None:
        if required or (name in data and not nullable):
            raise InvalidInputError(f"{name} is required", field=name)
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be a string", field=name)
    value = value.strip()
    if required and not value:
        raise InvalidInputError(f"{name} must not be empty", field=name)
    if len(value) > max_length or not value.isprintable():
        raise InvalidInputError(f"{name} must be printable text of at most {max_length} characters", field=name)
    return value


def email(data: dict, name: str = "email") -> str | None:
    value = text(data, name, max_length=254)
    if value and not _EMAIL.match(value):
        raise InvalidInputError(f"{name} must be an email address", field=name)
    return value or None


def instant(data: dict, name: str) -> datetime:
    value = data.get(name)
    if not isinstance(value, str) or len(value) > 40:
        raise InvalidInputError(f"{name} must be an ISO 8601 date-time", field=name)
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(f"{name} must be an ISO 8601 date-time", field=name) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def page_args() -> tuple[int, int | None]:
    """``limit`` (1..100, default 20) and the opaque ``cursor`` from a previous page's ``next_cursor``."""
    raw_limit = request.args.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be a whole number from 1 to {MAX_LIMIT}", field="limit")
    cursor = request.args.get("cursor")
    return int(raw_limit), None if not cursor else decode_cursor(cursor)


def encode_cursor(seq: int | None) -> str | None:
    return None if seq is None else base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    prefix, _, number = raw.partition(":")
    if len(cursor) > 64 or prefix != "v1" or not number.isdigit():
        raise InvalidInputError("cursor is not one this API returned", field="cursor")
    return int(number)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
