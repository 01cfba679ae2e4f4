"""The WSGI face: a middleware that protects any WSGI application (Flask, Django, Falcon, a bare callable).

Every request except the RFC 9728 document and the paths given as ``public`` must carry a valid bearer token; the
scope it needs comes from ``routes`` (the gate's rule syntax) or ``scope`` for all. The grant reaches the
application as ``environ["authserver.grant"]``; refusals are RFC 6750 responses written here, never by the app.
"""

from __future__ import annotations

import json
from wsgiref.util import request_uri

from .bearer import BearerError, NoRouteError, has_query_token
from .guard import Guard
from .routes import NO_RULE, RouteTable

GRANT_KEY = "authserver.grant"


class ProtectedWSGI:
    def __init__(
        self,
        app,
        guard: Guard,
        *,
        routes: RouteTable | None = None,
        scope: str | None = None,
        public: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.guard = guard
        self.routes = routes
        self.scope = scope
        self.public = frozenset(public)
        for needed in ({scope} | (routes.scopes() if routes else set())) - {None}:
            guard.require(needed)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == self.guard.metadata_path and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return _json(start_response, 200, self.guard.metadata())
        if path in self.public:
            return self.app(environ, start_response)
        self.guard.start()  # idempotent: the feed and usage threads start with the first protected request
        try:
            scope = self.scope
            if self.routes is not None:
                scope = self.routes.scope_for(environ.get("REQUEST_METHOD", "GET"), path)
                if scope is NO_RULE:
                    raise NoRouteError()
            environ[GRANT_KEY] = self.guard.check(
                environ.get("HTTP_AUTHORIZATION"),
                scope,
                token_elsewhere=has_query_token(environ.get("QUERY_STRING", "")),
                method=environ.get("REQUEST_METHOD", "GET"),
                url=lambda: request_uri(environ, include_query=False),  # read only when a proof is checked
                dpop=dpop_headers(environ.get("HTTP_DPOP")),
            )
        except BearerError as error:
            status, headers, body = error.render(self.guard.settings.realm, self.guard.resource_metadata_url)
            start_response(f"{status} {_REASONS[status]}", headers)
            return [body]
        return self.app(environ, start_response)


def dpop_headers(value: str | None) -> tuple[str, ...]:
    """WSGI folds repeated headers into one value with commas; ``dpop`` refuses a comma, so two proofs stay two."""
    return () if value is None else (value,)


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 503: "Service Unavailable"}


def _json(start_response, status: int, body: dict):
    data = json.dumps(body).encode()
    start_response(
        f"{status} {_REASONS[status]}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data))), ("Cache-Control", "max-age=300")],
    )
    return [data]
