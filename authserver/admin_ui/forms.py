"""Input shape at the edge: what the admin pages' forms send, turned into the plain values the domain takes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import request

from ..durations import parse_duration, parse_instant
from ..errors import InvalidInputError
from ..integrations import DEFAULT_GRACE

# The choices offered for "rotate and expire later" and "expire later"; "date" means an exact moment.
PERIOD_CHOICES = (("1h", "1 hour"), ("24h", "24 hours"), ("7d", "7 days"), ("30d", "30 days"))
DEFAULT_PERIOD = next(value for value, _ in PERIOD_CHOICES if parse_duration(value) == DEFAULT_GRACE)
INACTIVITY_CHOICES = (
    ("default", "Account default"),
    ("30d", "30 days"),
    ("90d", "90 days"),
    ("180d", "180 days"),
    ("365d", "1 year"),
    ("never", "Never"),
)
MAX_TEXT = 4000


def text(name: str) -> str:
    value = request.form.get(name, "")
    if len(value) > MAX_TEXT:
        raise InvalidInputError(f"{name} is too long", field=name)
    return value


def scopes() -> list[str]:
    return request.form.getlist("scopes")[:100]


def resources() -> list[str]:
    """ "Limit to services": one resource URI per line (RFC 8707); blank lines are ignored."""
    return [line.strip() for line in text("resources").splitlines() if line.strip()][:100]


def dpop_binding() -> dict[str, str | None]:
    """ "Bind tokens to a key (DPoP)": a JWK (JSON text) or a thumbprint, as the domain's ``dpop_jwk`` or
    ``dpop_jkt``; empty means unbound (``dpop_jkt`` None)."""
    value = text("dpop_key").strip()
    return {"dpop_jwk": value, "dpop_jkt": None} if value.startswith("{") else {"dpop_jkt": value or None}


def expected_version() -> int | None:
    """The version the page showed, so a change made meanwhile by someone else is a conflict, not a surprise."""
    value = request.form.get("version", "")
    return int(value) if value.isdigit() and len(value) <= 12 else None


def deadline(field: str, now: datetime) -> datetime:
    """A moment chosen as one of ``PERIOD_CHOICES`` from now, or an exact date-time (read as UTC)."""
    choice = request.form.get(field, DEFAULT_PERIOD)
    if choice == "date":
        value = request.form.get(f"{field}_date", "")
        if not value:
            raise InvalidInputError("choose a date and time", field=field)
        return parse_instant(value, field=field)
    if choice not in dict(PERIOD_CHOICES):
        raise InvalidInputError("choose one of the offered periods or a date", field=field)
    return now + timedelta(seconds=parse_duration(choice, field=field))


def inactivity_window() -> int | str | None:
    choice = request.form.get("inactivity_window", "default")
    if choice == "default":
        return "default"
    if choice == "never":
        return None
    if choice not in dict(INACTIVITY_CHOICES):
        raise InvalidInputError("choose one of the offered periods", field="inactivity_window")
    return parse_duration(choice, field="inactivity_window")


@dataclass(frozen=True)
class PeriodOption:
    value: str
    label: str
    until: datetime


def period_options(now: datetime) -> list[PeriodOption]:
    """Each period with the moment it lands on, so a confirmation can name the exact date."""
    return [
        PeriodOption(value, label, now + timedelta(seconds=parse_duration(value))) for value, label in PERIOD_CHOICES
    ]
