"""HTTP routes of the protocol surface. Thin: authlib endpoints do the protocol, the domain does the rest."""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from ..errors import DomainError
from ..extensions import db
from ..httpbase import database_error_kind
from ..keys import JWKS_MAX_AGE
from ..metrics import count_database_error
from ..services import services
from ..unit_of_work import unit_of_work
from .feed import report_usage, token_events, token_snapshot
from .introspection import introspection_result
from .signed_introspection import signed_answer
from .v1_keys import check_v1_key

bp = Blueprint("oauth", __name__)

# Beyond RFC 7662, for resource services (feed.py, v1_keys.py): routed here so the surface is read in one place.
bp.add_url_rule("/oauth/events", view_func=token_events, methods=["GET"])
bp.add_url_rule("/oauth/events/snapshot", view_func=token_snapshot, methods=["GET"])
bp.add_url_rule("/oauth/usage", view_func=report_usage, methods=["POST"])
bp.add_url_rule("/oauth/v1-keys/check", view_func=check_v1_key, methods=["POST"])


@bp.get("/.well-known/oauth-authorization-server")
def metadata():
    response = jsonify(dict(services().metadata))
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/.well-known/jwks.json")
def jwks():
    keystore, now = services().keystore, services().clock.now()
    response = jsonify(keystore.published_jwks(now))
    # A new key is published this long before it signs (AUTHSERVER_KEY_PREPUBLISH defaults to it), so a service
    # honouring max-age has it in time; resource services also refetch on an unknown kid.
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE}"
    return response


@bp.post("/oauth/introspect")
def introspect():
    oauth = services().oauth
    try:
        asked = oauth.create_oauth2_request(None)  # built here to read the authenticated client back from it
    except OAuth2Error:
        asked = None  # an insecure transport: ``answer`` refuses it again, as authlib words it
    status, body, headers = oauth.answer("introspection", asked)
    signed = signed_answer(status, body, headers, getattr(asked, "client", None), request.headers.get("Accept"))
    if signed is not None:  # RFC 9701: the JWT instead of the JSON
        status, payload, headers = signed
        response = oauth.handle_response(status, payload, headers)
    else:
        response = oauth.handle_response(status, body, headers)
    response.headers["Cache-Control"] = "no-store"
    response.introspection_result = introspection_result(status, body)  # returned with the answer, for metrics
    return response


@bp.post("/oauth/revoke")
def revoke():
    with unit_of_work():  # a revocation, or the audit entry of a refused one, commits with the answer
        response = services().oauth.create_endpoint_response("revocation")
    response.headers["Cache-Control"] = "no-store"
    return response


def token_store_unavailable(exc: SQLAlchemyError, path: str) -> tuple[int, dict, list[tuple[str, str]]]:
    """Fail closed: without the database nothing can be judged active. (status, body, headers), shared with the
    direct introspection path."""
    try:
        db.session.rollback()
    except SQLAlchemyError:
        pass
    current_app.logger.warning("database error on %s: %s", path, exc.__class__.__name__)
    count_database_error(database_error_kind(exc))
    body = {"error": "temporarily_unavailable", "error_description": "the token store is unavailable"}
    return 503, body, [("Retry-After", "1")]


@bp.errorhandler(SQLAlchemyError)
def database_unavailable(exc):
    status, body, headers = token_store_unavailable(exc, request.path)
    response = jsonify(body)
    response.status_code = status
    response.headers.extend(headers)
    return response


@bp.errorhandler(DomainError)
def domain_error(exc: DomainError):
    response = jsonify(error="server_error" if exc.status >= 500 else "invalid_request", error_description=exc.detail)
    response.status_code = exc.status
    return response
