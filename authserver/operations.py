"""The catalogue of v2 operations: which call each scope allows, grouped by service as the scope catalogue is.

A scope allows exactly its own operations (``contacts.write`` does not imply ``contacts.readonly``: the v2
services check the one scope a route names, as resource_demo's ``require(scope)`` does). The integration page's
Check access panel reads it to say what a token of an integration may call.
"""

from __future__ import annotations

from dataclasses import dataclass

from .scopes import CATALOGUE

# scope -> the v2 operations it allows, "METHOD /path"
OPERATIONS: dict[str, tuple[str, ...]] = {
    "contacts.readonly": ("GET /v2/contacts", "GET /v2/contacts/{id}"),
    "contacts.write": ("POST /v2/contacts", "PATCH /v2/contacts/{id}", "DELETE /v2/contacts/{id}"),
    "calendars.readonly": (
        "GET /v2/calendars",
        "GET /v2/calendars/{id}",
        "GET /v2/calendars/{id}/events",
        "GET /v2/calendars/{id}/events/{event_id}",
    ),
    "calendars.write": (
        "POST /v2/calendars",
        "PATCH /v2/calendars/{id}",
        "DELETE /v2/calendars/{id}",
        "POST /v2/calendars/{id}/events",
        "DELETE /v2/calendars/{id}/events/{event_id}",
    ),
    "opportunities.readonly": ("GET /v2/opportunities", "GET /v2/opportunities/{id}", "GET /v2/pipelines"),
    "opportunities.write": (
        "POST /v2/opportunities",
        "PATCH /v2/opportunities/{id}",
        "DELETE /v2/opportunities/{id}",
    ),
    "conversations.readonly": ("GET /v2/conversations", "GET /v2/conversations/{id}/messages"),
    "conversations.write": ("POST /v2/conversations/{id}/messages", "PATCH /v2/conversations/{id}"),
    "locations.readonly": ("GET /v2/locations", "GET /v2/locations/{id}"),
    "locations.write": ("PATCH /v2/locations/{id}",),
    "users.readonly": ("GET /v2/users", "GET /v2/users/{id}"),
    "users.write": ("POST /v2/users", "PATCH /v2/users/{id}", "DELETE /v2/users/{id}"),
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    scope: str


@dataclass(frozen=True)
class ServiceOperations:
    """One service of the catalogue (``contacts``) and the operations of it a set of scopes allows."""

    resource: str
    label: str
    operations: tuple[Operation, ...]


def allowed_operations(scopes: frozenset[str] | set[str]) -> list[ServiceOperations]:
    """What ``scopes`` allow, grouped by service in the catalogue's order; a service none of them reaches is left
    out."""
    found = []
    for resource, (label, accesses) in CATALOGUE.items():
        operations = tuple(
            Operation(method=text.partition(" ")[0], path=text.partition(" ")[2], scope=scope)
            for access in accesses
            if (scope := f"{resource}.{access}") in scopes
            for text in OPERATIONS.get(scope, ())
        )
        if operations:
            found.append(ServiceOperations(resource=resource, label=label, operations=operations))
    return found
