"""The webhook event types, what each means, and which ones a resource service may subscribe to."""

from __future__ import annotations

from ..errors import InvalidInputError

INTEGRATION_CREATED = "integration.created"
TOKEN_GENERATED = "token.generated"  # noqa: S105 (an event name)
TOKEN_ROTATED = "token.rotated"  # noqa: S105 (an event name)
TOKEN_EXPIRING = "token.expiring"  # noqa: S105 (an event name)
TOKEN_EXPIRED = "token.expired"  # noqa: S105 (an event name)
TOKEN_REVOKED = "token.revoked"  # noqa: S105 (an event name)
INTEGRATION_SCOPES_CHANGED = "integration.scopes_changed"
INTEGRATION_DELETED = "integration.deleted"

EVENT_TYPES: dict[str, str] = {
    INTEGRATION_CREATED: "A private integration was created",
    TOKEN_GENERATED: "A first (or fresh) token was generated for an integration",
    TOKEN_ROTATED: "A token was replaced; the old one stopped at once or keeps working through a grace period",
    TOKEN_EXPIRING: "A token stops within 7 days (grace or scheduled end) or 24 hours (unused: inactivity)",
    TOKEN_EXPIRED: "A token stopped working before its exp: expired by an admin, idle, or its grace ended",
    TOKEN_REVOKED: "A token was revoked (RFC 7009)",
    INTEGRATION_SCOPES_CHANGED: "An integration's scopes changed; live tokens follow at once",
    INTEGRATION_DELETED: "An integration was deleted and its tokens revoked",
}

# What a resource service needs to stop honouring a token before its exp (fast revocation).
REVOCATION_EVENTS: frozenset[str] = frozenset(
    {TOKEN_ROTATED, TOKEN_EXPIRED, TOKEN_REVOKED, INTEGRATION_SCOPES_CHANGED, INTEGRATION_DELETED}
)


def describe() -> list[dict]:
    return [
        {"type": name, "description": text, "revocation": name in REVOCATION_EVENTS}
        for name, text in EVENT_TYPES.items()
    ]


def parse_event_types(value: object, *, allowed: frozenset[str] | None = None) -> frozenset[str]:
    """A list of event types (or ``["*"]`` / nothing for every allowed one); unknown names are an error."""
    allowed = frozenset(EVENT_TYPES) if allowed is None else allowed
    if value is None or value == [] or value == ["*"] or value == "*":
        return allowed
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
