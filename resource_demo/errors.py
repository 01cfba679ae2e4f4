"""Errors of the v2 API, rendered once: RFC 7807 problems for the API, a plain 500 with a request id otherwise.

Bearer-token errors (RFC 6750) are rendered by ``protection``; everything here is about the request itself.
"""

from __future__ import annotations

import logging
import secrets

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("resource_demo")


class ApiError(Exception):
    status = 400
    title = "Bad Request"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidInputError(ApiError):
    status, title = 400, "Bad Request"


class NotFoundError(ApiError):
    """Also what another account's object looks like: never a 403 that would confirm it exists."""

    status, title = 404, "Not Found"


def problem(status: int, title: str, detail: str, *, field: str | None = None):
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": g.get("request_id"),
    }
    if field:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    response.content_type = "application/problem+json"
    return response


def init_app(app: Flask) -> None:
    @app.before_request
    def assign_request_id():
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else secrets.token_hex(8)

    @app.after_request
    def common_headers(response):
        response.headers.setdefault("X-Request-Id", g.get("request_id", ""))
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return problem(exc.status, exc.title, exc.detail, field=exc.field)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.response is not None:  # already a complete response (RFC 6750 errors from the protector)
            return exc.response
        return problem(exc.code or 500, exc.name, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        request_id = g.get("request_id", "-")
        log.error(
            "unhandled %s on %s %s (request %s)",
            exc.__class__.__name__,
            request.method,
            request.path,
            request_id,
            exc_info=True,
        )
        from .extensions import db

        try:
            db.session.rollback()
        except Exception:  # noqa: S110 - the database may be what failed; the answer below is what matters
            pass
        return problem(500, "Internal Server Error", f"unexpected error; request id {request_id}")
