"""The Flask face, on authlib's ``ResourceProtector``: an extension, a ``require(scope)`` decorator and
``current_grant()``.

    guard = Guard(settings)
    resource = FlaskResource(app, guard)

    @app.get("/v2/contacts")
    @resource.require("contacts.readonly")
    def contacts(): return {"account": current_grant().account_id}

authlib's protector publishes the token (``current_token``, the ``token_authenticated`` signal); the verdict itself
is the guard's, identical in every face. Flask and authlib are the ``flask`` extra.

A protected call should cost little more than an open one (issue 19: at most 1.1x): the guard reads the request
straight from Flask's, without authlib's request wrapper (which rebuilds the URL on every call), and the URL and
``DPoP`` headers a proof is checked against are read only when there is a proof to check (bench/resource_kit_cpu.py).
"""

from __future__ import annotations

from functools import wraps

from authlib.integrations.flask_oauth2 import ResourceProtector, current_token, token_authenticated
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Flask, Response, abort, current_app, g, jsonify
from flask import request as flask_request

from .bearer import BearerError
from .grants import Grant, Judgement
from .guard import Guard

EXTENSION = "authserver_resource"


class GuardTokenValidator(BearerTokenValidator):
    """authlib's validator contract over the guard: ``authenticate_token`` gives the guard's judgement."""

    def __init__(self, guard: Guard) -> None:
        super().__init__(realm=guard.settings.realm)
        self.guard = guard

    def authenticate_token(self, token_string: str) -> Judgement:
        return self.guard.validator.judge(token_string)


class GuardProtector(ResourceProtector):
    """RFC 6750 section 2.1 only (the header; never the URL or body), and one scope per route."""

    def __init__(self, guard: Guard, *, autostart: bool = True) -> None:
        super().__init__()
        self.guard = guard
        self.autostart = autostart
        self.register_token_validator(GuardTokenValidator(guard))

    def acquire_token(self, scopes=None, **kwargs) -> Grant:
        """authlib's steps (validate, send ``token_authenticated``, publish for ``current_token``), given Flask's own
        request: ``validate_request`` reads nothing authlib's wrapper would add."""
        token = self.validate_request(scopes, flask_request, **kwargs)
        token_authenticated.send(self, token=token)
        g.authlib_server_oauth2_token = token  # what authlib's current_token reads
        return token

    def validate_request(self, scopes, request, **kwargs) -> Grant:
        """The guard's whole decision (header, token, DPoP proof, scope) for this request."""
        return self.guard.check(
            request.headers.get("Authorization"),
            scopes[0] if scopes else None,
            token_elsewhere=_token_elsewhere(),
            method=flask_request.method,
            url=lambda: flask_request.base_url,
            dpop=lambda: flask_request.headers.getlist("DPoP"),
        )

    def raise_error_response(self, error: BearerError):
        status, headers, body = error.render(self.guard.settings.realm, self.guard.resource_metadata_url)
        abort(Response(body, status, headers=headers))


class FlaskResource:
    def __init__(self, app: Flask | None = None, guard: Guard | None = None, *, autostart: bool = True) -> None:
        self._guard = guard
        if app is not None and guard is not None:
            self.init_app(app, guard, autostart=autostart)

    def init_app(self, app: Flask, guard: Guard, *, autostart: bool = True) -> None:
        """Bind ``guard`` to ``app`` and serve its RFC 9728 document. With ``autostart`` the feed and usage threads
        start with the first protected request (in each worker of a pre-fork server); else call ``guard.start()``."""
        self._guard = guard
        app.extensions[EXTENSION] = GuardProtector(guard, autostart=autostart)
        app.add_url_rule(guard.metadata_path, "oauth_protected_resource", lambda: _metadata(guard), methods=["GET"])

    def require(self, scope: str | None = None):
        """Protect a view: a valid token, and ``scope`` if given. The grant is then ``current_grant()``."""
        if self._guard is not None:
            self._guard.require(scope)
        return require(scope)


def require(scope: str | None = None):
    def decorator(view):
        @wraps(view)
        def protected(*args, **kwargs):
            protector: GuardProtector = current_app.extensions[EXTENSION]
            protector.guard.require(scope)
            if protector.autostart:
                protector.guard.start()
            try:
                protector.acquire_token([scope] if scope else None)
            except BearerError as error:
                protector.raise_error_response(error)
            return view(*args, **kwargs)

        return protected

    return decorator


def _token_elsewhere() -> bool:
    """RFC 6750 sections 2.2 and 2.3: a token in the query, or in a form-encoded body (the only body that can carry
    one), which this service refuses; other bodies are not parsed for it."""
    environ = flask_request.environ
    if environ.get("QUERY_STRING") and "access_token" in flask_request.args:  # parsed only when there is a query
        return True
    if not environ.get("CONTENT_TYPE"):
        return False
    return flask_request.mimetype == "application/x-www-form-urlencoded" and "access_token" in flask_request.form


def current_grant() -> Grant:
    return current_token._get_current_object()


def _metadata(guard: Guard):
    response = jsonify(guard.metadata())
    response.headers["Cache-Control"] = "max-age=300"
    return response
