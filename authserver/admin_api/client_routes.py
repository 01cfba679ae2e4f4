"""Admin API for API clients' credentials: list, rotate the secret (with overlap), set a resource service's own rate
limit, its ping URL and whether its introspection answers are always signed (RFC 9701), disable, enable, delete.

An account's admins manage its clients (an agency's, its sub-accounts' too); resource services registered for every
account are the operator's (CLI) alone. Every change holds from the next request on every worker and instance.
"""

from __future__ import annotations

from flask import current_app, jsonify, request

from .. import clients
from ..errors import InvalidInputError
from ..service_ping import parse_ping_url
from ..services import services
from .auth import current_principal
from .blueprint import bp
from .parsing import json_body


def _now():
    return services().clock.now()


@bp.get("/clients")
def list_api_clients():
    """Every client the caller may see; ``?account_id=`` narrows to one account."""
    principal = current_principal()
    account_id = request.args.get("account_id") or None
    now = _now()
    return jsonify(clients=[clients.serialize_client(c, now) for c in clients.list_clients_for(principal, account_id)])


@bp.get("/clients/<client_id>")
def get_api_client(client_id):
    return jsonify(clients.serialize_client(clients.get_client_for(current_principal(), client_id), _now()))


@bp.post("/clients/<client_id>/rotate-secret")
def rotate_api_client_secret(client_id):
    """``{"overlap": "24h" | seconds | 0}``: the new secret is in this answer only."""
    principal, data = current_principal(), json_body()
    now = _now()
    client, secret = clients.rotate_client_secret(
        principal, client_id, overlap=clients.parse_overlap(data.get("overlap")), now=now
    )
    response = jsonify(clients.serialize_client(client, now) | {"client_secret": secret})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.put("/clients/<client_id>/limits")
def set_api_client_limits(client_id):
    """``{"introspection": "100000/1m" | "off" | "default" | null}``: its own limit (null, "default": the server's).
    An account's admins may only tighten it below the server's default; the operator (CLI) may loosen it."""
    principal, data = current_principal(), json_body()
    if "introspection" not in data:
        raise InvalidInputError('introspection is required: "N/period", "off" or "default"', field="introspection")
    limit = clients.parse_client_limit(data["introspection"])
    now = _now()
    default = current_app.config["AUTHSERVER_RATE_LIMIT_INTROSPECTION"]
    client = clients.set_client_limit(principal, client_id, introspection=limit, default=default, now=now)
    return jsonify(clients.serialize_client(client, now))


@bp.put("/clients/<client_id>/introspection-signing")
def set_api_client_introspection_signing(client_id):
    """``{"introspection_signing": "always" | "when_asked"}``: sign every introspection answer to the resource
    service (RFC 9701 section 6), or only those it asks for with ``Accept`` (the default)."""
    principal, data = current_principal(), json_body()
    mode = data.get("introspection_signing")
    if mode not in clients.INTROSPECTION_SIGNING_MODES:
        raise InvalidInputError(
            'introspection_signing is required: "always" or "when_asked"', field="introspection_signing"
        )
    now = _now()
    client = clients.set_introspection_signing(principal, client_id, always=mode == "always", now=now)
    return jsonify(clients.serialize_client(client, now))


@bp.patch("/clients/<client_id>")
def update_api_client(client_id):
    """``{"ping_url": "https://..." | null}``: a resource service's ping URL, which Check access calls (null: none)."""
    principal, data = current_principal(), json_body()
    unknown = sorted(set(data) - {"ping_url"})
    if unknown:
        raise InvalidInputError(
            f"unknown field: {unknown[0][:40]!r}; only ping_url may be changed", field=unknown[0][:40]
        )
    if "ping_url" not in data:
        raise InvalidInputError("ping_url is required: a URL, or null to remove it", field="ping_url")
    if data["ping_url"] is not None and not isinstance(data["ping_url"], str):
        raise InvalidInputError("ping_url must be a URL or null", field="ping_url")
    now = _now()
    client = clients.set_client_ping_url(principal, client_id, ping_url=parse_ping_url(data["ping_url"]), now=now)
    return jsonify(clients.serialize_client(client, now))


@bp.post("/clients/<client_id>/disable")
def disable_api_client(client_id):
    now = _now()
    return jsonify(
        clients.serialize_client(clients.set_client_enabled(current_principal(), client_id, False, now=now), now)
    )


@bp.post("/clients/<client_id>/enable")
def enable_api_client(client_id):
    now = _now()
    return jsonify(
        clients.serialize_client(clients.set_client_enabled(current_principal(), client_id, True, now=now), now)
    )


@bp.delete("/clients/<client_id>")
def delete_api_client(client_id):
    clients.delete_client(current_principal(), client_id, now=_now())
    return "", 204
