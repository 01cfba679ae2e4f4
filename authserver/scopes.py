"""The scope catalogue (``resource.readonly`` / ``resource.write``) and scope-set arithmetic."""

from __future__ import annotations

import re
from typing import Any

from .errors import InvalidInputError

# resource -> (label, {access: description})
CATALOGUE: dict[str, tuple[str, dict[str, str]]] = {
    "contacts": (
        "Contacts",
        {
            "readonly": "View contacts",
            "write": "Create, edit and delete contacts",
        },
    ),
    "calendars": (
        "Calendars",
        {
            "readonly": "View calendars and their events",
            "write": "Create, edit and delete calendars and events",
        },
    ),
    "opportunities": (
        "Opportunities",
        {
            "readonly": "View opportunities and pipelines",
            "write": "Create, edit and delete opportunities",
        },
    ),
    "conversations": (
        "Conversations",
        {
            "readonly": "View conversations and messages",
            "write": "Send messages and manage conversations",
        },
    ),
    "locations": (
        "Locations",
        {
            "readonly": "View locations (sub-accounts) and their settings",
            "write": "Edit location settings",
        },
    ),
    "users": (
        "Users",
        {
            "readonly": "View users of the account",
            "write": "Invite, edit and remove users",
        },
    ),
}

ALL_SCOPES: frozenset[str] = frozenset(
    f"{resource}.{access}" for resource, (_, accesses) in CATALOGUE.items() for access in accesses
)

_SCOPE_TOKEN = re.compile(r"^[a-z][a-z0-9_]{0,39}\.[a-z]{1,20}$")


def describe_catalogue() -> list[dict[str, Any]]:
    """The catalogue as served by the API, grouped by resource."""
    return [
        {
            "resource": resource,
            "label": label,
            "scopes": [
                {"scope": f"{resource}.{access}", "access": access, "description": text}
                for access, text in accesses.items()
            ],
        }
        for resource, (label, accesses) in CATALOGUE.items()
    ]


def parse_scopes(value: object, *, field: str = "scopes") -> frozenset[str]:
    """Parse a space-separated string or a list into a set of known scopes; unknown ones are an error."""
    if value is None:
        raise InvalidInputError("at least one scope is required", field=field)
    items = value.split() if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise InvalidInputError("scopes must be a list of strings", field=field)
    scopes = frozenset(item.strip() for item in items if item.strip())
    if not scopes:
        raise InvalidInputError("at least one scope is required", field=field)
    unknown = sorted(s for s in scopes if s not in ALL_SCOPES)
    if unknown:
        shown = ", ".join(s if _SCOPE_TOKEN.match(s) else repr(s[:40]) for s in unknown[:5])
        raise InvalidInputError(f"unknown scope: {shown}", field=field)
    return scopes


def format_scopes(scopes: frozenset[str] | set[str]) -> str:
    return " ".join(sorted(scopes))


def split_scopes(value: str | None) -> frozenset[str]:
    return frozenset(value.split()) if value else frozenset()
