"""v1 API key checks for resource services that still serve ``/v1`` routes (routed in views.py).

Like introspection (and authenticated the same way), but for legacy keys: ``key`` and the ``route`` template it
was used on (``GET /v1/contacts/{id}``), form-encoded. The answer is ``{"active": false}`` for anything not
usable now, or the key's account and the end of its overlap (``stops_at``) once it was migrated. Every accepted
check is recorded: it is how the migration report knows what each key calls.
"""

from __future__ import annotations

from flask import jsonify, request

from ..durations import isoformat
from ..services import services
from ..unit_of_work import unit_of_work
from ..v1keys.keys import check_key
from ..v1keys.route_scopes import parse_route
from .resource_service import authenticate_resource_service


def check_v1_key():
    client, error = authenticate_resource_service()
    if error is not None:
        return error
    route = parse_route(request.form.get("route"))
    with unit_of_work():
        found = check_key(
            request.form.get("key"),
            route,
            now=services().clock.now(),
            checked_by=client.client_id,
            account_id=client.account_id,
        )
    body = (
        {"active": False}
        if found is None
        else {
            "active": True,
            "key_id": found.key.id,
            "account_id": found.key.account_id,
            "stops_at": isoformat(found.stops_at),
            "migrated_to_integration_id": found.key.migrated_integration_id,
        }
    )
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response
