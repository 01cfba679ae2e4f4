"""The webhook event types, what each means, and which ones a resource service may subscribe to.

Two families: lifecycle events (integrations and tokens), which this server emits, and data events (contacts,
calendars), which v2 services publish through ``POST /api/service-events`` (webhooks/service_events.py). A data
event goes only to subscriptions of one integration, and only while that integration holds the event's read scope.
"""

from __future__ import annotations

from ..errors import InvalidInputError

INTEGRATION_CREATED = "integration.created"
TOKEN_GENERATED = "token.generated"  # noqa: S105 (an event name)
TOKEN_ROTATED = "token.rotated"  # noqa: S105 (an event name)
TOKEN_EXPIRING = "token.expiring"  # noqa: S105 (an event name)
TOKEN_EXPIRED = "token.expired"  # noqa: S105 (an event name)
TOKEN_REVOKED = "token.revoked"  # noqa: S105 (an event name)
TOKEN_LEAKED = "token.leaked"  # noqa: S105 (an event name)
INTEGRATION_SCOPES_CHANGED = "integration.scopes_changed"
INTEGRATION_DELETED = "integration.deleted"

LIFECYCLE_EVENT_TYPES: dict[str, str] = {
    INTEGRATION_CREATED: "A private integration was created",
    TOKEN_GENERATED: "A first (or fresh) token was generated for an integration",
    TOKEN_ROTATED: "A token was replaced; the old one stopped at once or keeps working through a grace period",
    TOKEN_EXPIRING: "A token stops within 7 days (grace or scheduled end) or 24 hours (unused: inactivity)",
    TOKEN_EXPIRED: "A token stopped working before its exp: expired by an admin, idle, or its grace ended",
    TOKEN_REVOKED: "A token was revoked (RFC 7009)",
    TOKEN_LEAKED: "A secret scanner found a token in public (where: data.leak); it was revoked at once",
    INTEGRATION_SCOPES_CHANGED: "An integration's scopes changed; live tokens follow at once",
    INTEGRATION_DELETED: "An integration was deleted and its tokens revoked",
}

# Data events: type -> (the read scope an integration must hold to receive it, what it means).
DATA_EVENTS: dict[str, tuple[str, str]] = {
    "contact.created": ("contacts.readonly", "A contact was created in a v2 service"),
    "contact.updated": ("contacts.readonly", "A contact was changed in a v2 service"),
    "contact.deleted": ("contacts.readonly", "A contact was deleted in a v2 service"),
    "calendar.created": ("calendars.readonly", "A calendar was created in a v2 service"),
    "calendar.updated": ("calendars.readonly", "A calendar was changed in a v2 service"),
    "calendar.deleted": ("calendars.readonly", "A calendar (and its events) was deleted in a v2 service"),
    "calendar.event.created": ("calendars.readonly", "A calendar event was created in a v2 service"),
    "calendar.event.updated": ("calendars.readonly", "A calendar event was changed in a v2 service"),
    "calendar.event.deleted": ("calendars.readonly", "A calendar event was deleted in a v2 service"),
}
DATA_EVENT_TYPES: frozenset[str] = frozenset(DATA_EVENTS)

EVENT_TYPES: dict[str, str] = LIFECYCLE_EVENT_TYPES | {name: text for name, (_scope, text) in DATA_EVENTS.items()}


def required_scope(event_type: str) -> str | None:
    """The read scope a data event needs (None for a lifecycle event)."""
    found = DATA_EVENTS.get(event_type)
    return found[0] if found else None


# What a resource service needs to stop honouring a token before its exp (fast revocation).
REVOCATION_EVENTS: frozenset[str] = frozenset(
    {TOKEN_ROTATED, TOKEN_EXPIRED, TOKEN_REVOKED, TOKEN_LEAKED, INTEGRATION_SCOPES_CHANGED, INTEGRATION_DELETED}
)


def describe() -> list[dict]:
    return [
        {
            "type": name,
            "description": text,
            "revocation": name in REVOCATION_EVENTS,
            "kind": "data" if name in DATA_EVENTS else "lifecycle",
            "scope": required_scope(name),
        }
        for name, text in EVENT_TYPES.items()
    ]


def parse_event_types(value: object, *, allowed: frozenset[str] | None = None) -> frozenset[str]:
    """A list of event types (or ``["*"]`` / nothing for every allowed lifecycle one); unknown names are an error.

    Data events are never implied by ``*``: they carry a customer's records, so a subscriber names each one it
    wants (and a subscription made before v2 services published does not start receiving them)."""
    allowed = frozenset(EVENT_TYPES) if allowed is None else allowed
    if value is None or value == [] or value == ["*"] or value == "*":
        return allowed - DATA_EVENT_TYPES
    items = value.split() if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise InvalidInputError("events must be a list of event types", field="events")
    wanted = frozenset(item.strip() for item in items if item.strip())
    unknown = sorted(name for name in wanted if name not in EVENT_TYPES)
    if unknown:
        raise InvalidInputError(f"unknown event type: {', '.join(u[:40] for u in unknown[:5])}", field="events")
    beyond = sorted(wanted - allowed)
    if beyond:
        raise InvalidInputError(f"not available to this subscriber: {', '.join(beyond)}", field="events")
    return wanted
