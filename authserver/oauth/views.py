"""HTTP routes of the protocol surface. Thin: authlib endpoints do the protocol, the domain does the rest."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from ..errors import DomainError
from ..extensions import db

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
    # Short enough that a rotated key appears soon; resource services also refetch on an unknown kid.
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.post("/oauth/introspect")
def introspect():
    response = _services().oauth.create_endpoint_response("introspection")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/oauth/revoke")
def revoke():
    response = _services().oauth.create_endpoint_response("revocation")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(SQLAlchemyError)
def database_unavailable(exc):
    """Fail closed: without the database nothing can be judged active."""
    db.session.rollback()
    current_app.logger.warning("database error on %s: %s", request.path, exc.__class__.__name__)
    response = jsonify(error="temporarily_unavailable", error_description="the token store is unavailable")
    response.status_code = 503
    response.headers["Retry-After"] = "1"
    return response


@bp.errorhandler(DomainError)
def domain_error(exc: DomainError):
    response = jsonify(error="server_error" if exc.status >= 500 else "invalid_request",
                       error_description=exc.detail)
    response.status_code = exc.status
    return response
