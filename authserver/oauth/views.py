"""HTTP routes of the protocol surface. Thin: authlib endpoints do the protocol, the domain does the rest."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from ..errors import DomainError
from ..extensions import db
from ..keys import JWKS_MAX_AGE
from .introspection import introspection_result

bp = Blueprint("oauth", __name__)


def _services():
    return current_app.extensions["authserver"]


@bp.get("/.well-known/oauth-authorization-server")
def metadata():
    response = jsonify(dict(_services().metadata))
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/.well-known/jwks.json")
def jwks():
    services = _services()
    response = jsonify(services.keystore.published_jwks(services.clock.now()))
    # A new key is published this long before it signs (AUTHSERVER_KEY_PREPUBLISH defaults to it), so a service
    # honouring max-age has it in time; resource services also refetch on an unknown kid.
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE}"
    return response


@bp.post("/oauth/introspect")
def introspect():
    oauth = _services().oauth
    status, body, headers = oauth.answer("introspection")
    response = oauth.handle_response(status, body, headers)
    response.headers["Cache-Control"] = "no-store"
    response.introspection_result = introspection_result(status, body)  # returned with the answer, for metrics
    return response


@bp.post("/oauth/revoke")
def revoke():
    response = _services().oauth.create_endpoint_response("revocation")
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
    response = jsonify(error="server_error" if exc.status >= 500 else "invalid_request",
                       error_description=exc.detail)
    response.status_code = exc.status
    return response
