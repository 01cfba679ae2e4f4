"""v1 API key checks for resource services that still serve ``/v1`` routes.

Like introspection (and authenticated the same way), but for legacy keys: ``key`` and the ``route`` template it
was used on (``GET /v1/contacts/{id}``), form-encoded. The answer is ``{"active": false}`` for anything not
usable now, or the key's account and the end of its overlap (``stops_at``) once it was migrated. Every accepted
check is recorded: it is how the migration report knows what each key calls.
"""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from flask import current_app, jsonify, request

from ..durations import isoformat
from ..v1keys.keys import check_key
from ..v1keys.route_scopes import parse_route
from .views import bp


def _resource_service():
    server = current_app.extensions["authserver"].oauth
    oauth_request = server.create_oauth2_request(request)
    try:
        return server.authenticate_client(oauth_request, ["client_secret_basic", "client_secret_post"],
                                          "introspection"), None
    except OAuth2Error as error:
        return None, server.handle_error_response(oauth_request, error)


@bp.post("/oauth/v1-keys/check")
def check_v1_key():
    client, error = _resource_service()
    if error is not None:
        return error
    route = parse_route(request.form.get("route"))
    now = current_app.extensions["authserver"].clock.now()
    found = check_key(request.form.get("key"), route, now=now, checked_by=client.client_id,
                      account_id=client.account_id)
    body = {"active": False} if found is None else {
        "active": True, "key_id": found.key.id, "account_id": found.key.account_id,
        "stops_at": isoformat(found.stops_at), "migrated_to_integration_id": found.key.migrated_integration_id}
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response
