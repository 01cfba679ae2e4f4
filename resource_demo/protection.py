"""RFC 6750 on authlib's ResourceProtector: how a request presents its bearer token and how refusals look.

- no credentials (or another scheme)  -> 401, ``WWW-Authenticate: Bearer realm="v2"`` and no error code (section 3.1)
- a malformed Authorization header, or a token in the query string or body -> 400 ``invalid_request``
- a bad, expired, revoked or inactive token -> 401 ``invalid_token``
- a live token without the scope -> 403 ``insufficient_scope`` with the ``scope`` needed
- the authorization server unreachable and no valid cached answer -> 503: fail closed, never served

Which validator judges the token (introspection or local JWT) is configuration; both subclass
``ScopedBearerValidator`` so the verdicts above are identical in both modes.
"""

from __future__ import annotations

import re
from functools import wraps

from authlib.integrations.flask_oauth2 import ResourceProtector, current_token
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import abort, current_app, json, make_response
from flask import request as flask_request

from .grants import Grant

REALM = "v2"
MAX_TOKEN_LENGTH = 8192
# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class BearerError(OAuth2Error):
    """An RFC 6750 refusal: status, ``WWW-Authenticate: Bearer ...`` challenge and a small JSON body."""

    def __init__(self, description: str | None = None, **attributes: str) -> None:
        super().__init__(description=description)
        self.attributes = attributes

    def challenge(self) -> str:
        params = {"realm": REALM}
        if self.error:
            params["error"] = self.error
            if self.description:
                params["error_description"] = self.description
        params.update(self.attributes)
        return "Bearer " + ", ".join(f'{name}="{value}"' for name, value in params.items())

    def response_headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": self.challenge()}

    def response_body(self) -> dict:
        body = {"error": self.error, "error_description": self.description} if self.error else {
            "error_description": self.description}
        body.update(self.attributes)
        return body


class MissingTokenError(BearerError):
    error = None
    status_code = 401
    description = "this API needs a bearer token: Authorization: Bearer <token>"


class InvalidRequestError(BearerError):
    error = "invalid_request"
    status_code = 400


class InvalidTokenError(BearerError):
    error = "invalid_token"
    status_code = 401
    description = "the access token is invalid, expired or revoked"


class InsufficientScopeError(BearerError):
    error = "insufficient_scope"
    status_code = 403
    description = "the access token does not grant the scope this call needs"


class TemporarilyUnavailableError(BearerError):
    """Fail closed: the token cannot be judged right now, so the call is not served."""

    error = "temporarily_unavailable"
    status_code = 503
    description = "the authorization server cannot be reached to validate the token; retry shortly"

    def response_headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class ScopedBearerValidator(BearerTokenValidator):
    """Common verdicts for both modes. Subclasses implement ``authenticate_token`` and return a ``Grant`` when
    the token is valid and live, None when it is not, or raise ``TemporarilyUnavailableError``."""

    def validate_token(self, token: Grant | None, scopes, request) -> None:
        if token is None:
            raise InvalidTokenError()
        if self.scope_insufficient(token.get_scope(), scopes):
            raise InsufficientScopeError(scope=" ".join(scopes))


class BearerProtector(ResourceProtector):
    def parse_request_authorization(self, request):
        """RFC 6750 section 2.1 only: the token travels in the Authorization header and nowhere else (a token in
        a URL ends up in logs and browser history, section 5.3)."""
        if "access_token" in flask_request.args or "access_token" in flask_request.form:
            raise InvalidRequestError("send the access token in the Authorization header, not in the URL or body")
        header = request.headers.get("Authorization")
        if not header:
            raise MissingTokenError()
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer":
            raise MissingTokenError()
        if not _B64TOKEN.fullmatch(credentials):
            raise InvalidRequestError("the Authorization header must be: Bearer <token>")
        if len(credentials) > MAX_TOKEN_LENGTH:
            raise InvalidTokenError()
        return self.get_token_validator("bearer"), credentials

    def raise_error_response(self, error: OAuth2Error):
        if not isinstance(error, BearerError):  # anything else authlib might raise is a malformed request
            error = InvalidRequestError("the Authorization header must be: Bearer <token>")
        response = make_response(json.dumps(error.response_body()) + "\n", error.status_code)
        response.content_type = "application/json"
        response.headers.update(error.response_headers())
        abort(response)


def require(scope: str | None = None):
    """Protect a view: a valid token, and ``scope`` if given. The grant is then ``current_grant()``."""

    def decorator(view):
        @wraps(view)
        def protected(*args, **kwargs):
            protector: BearerProtector = current_app.extensions["resource_demo"].protector
            try:
                protector.acquire_token([scope] if scope else None)
            except OAuth2Error as error:
                protector.raise_error_response(error)
            return view(*args, **kwargs)

        return protected

    return decorator


def current_grant() -> Grant:
    return current_token._get_current_object()
