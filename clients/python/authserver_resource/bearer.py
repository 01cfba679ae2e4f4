"""RFC 6750: how a request presents its bearer token, and how every refusal looks, whatever the framework.

- no credentials (or another scheme)  -> 401, ``WWW-Authenticate: Bearer realm=...`` and no error code (section 3.1)
- a malformed Authorization header, or a token in the query string or body -> 400 ``invalid_request``
- a bad, expired, revoked or inactive token -> 401 ``invalid_token``
- a live token without the scope -> 403 ``insufficient_scope`` with the ``scope`` needed
- the authorization server unreachable (or rate-limiting this service) and no valid cached answer -> 503 with
  ``Retry-After``: fail closed, never served; the token may be fine, so never 401

Every 401 challenge also carries ``resource_metadata`` (RFC 9728 section 5.1) when the service has a metadata URL,
so a client can discover which authorization server to ask.

DPoP (RFC 9449 section 7): ``Authorization: DPoP <token>`` is read too. A refusal of a DPoP request (or of a bound
token) is a ``DPoP`` challenge with ``algs``; a bad proof is 401 ``invalid_dpop_proof``; a request without
credentials gets both challenges in one header (``Bearer realm=..., DPoP algs=...``, section 7.2).
"""

from __future__ import annotations

import json
import string

MAX_TOKEN_LENGTH = 8192
# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN_CHARS = (string.ascii_letters + string.digits + "-._~+/").encode("ascii")


class BearerError(Exception):
    """An RFC 6750 refusal: status, ``WWW-Authenticate: Bearer ...`` challenge and a small JSON body."""

    error: str | None = None
    status_code = 400
    description = ""
    scheme = "Bearer"  # "DPoP" for a refusal of a DPoP request or of a DPoP-bound token
    dpop_algs: str | None = None  # the DPoP proof algorithms this service accepts, for the ``algs`` parameter

    def __init__(self, description: str | None = None, **attributes: str) -> None:
        super().__init__(description or self.description)
        if description:
            self.description = description
        self.attributes = attributes

    def as_dpop(self, algs: str, *, dpop_scheme: bool) -> BearerError:
        """Say DPoP in the challenge: as the scheme (the request or its token is DPoP), or, for a request without
        credentials, as a second challenge beside Bearer (RFC 9449 section 7.2)."""
        self.dpop_algs = algs
        if dpop_scheme:
            self.scheme = "DPoP"
        return self

    def challenge(self, realm: str, resource_metadata: str | None = None) -> str:
        params = {"realm": realm}
        if self.error:
            params["error"] = self.error
            if self.description:
                params["error_description"] = self.description
        params.update(self.attributes)
        if resource_metadata and self.status_code == 401:
            params["resource_metadata"] = resource_metadata
        if self.scheme == "DPoP" and self.dpop_algs:
            params["algs"] = self.dpop_algs
        text = f"{self.scheme} " + ", ".join(f'{name}="{value}"' for name, value in params.items())
        if self.scheme == "Bearer" and self.dpop_algs and self.status_code == 401 and not self.error:
            text += f', DPoP algs="{self.dpop_algs}"'
        return text

    def headers(self, realm: str, resource_metadata: str | None = None) -> dict[str, str]:
        return {"WWW-Authenticate": self.challenge(realm, resource_metadata)}

    def body(self) -> dict:
        body = (
            {"error": self.error, "error_description": self.description}
            if self.error
            else {"error_description": self.description}
        )
        body.update(self.attributes)
        return body

    def render(self, realm: str, resource_metadata: str | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
        """(status, headers, body) of the JSON refusal, for faces that write raw responses."""
        headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
        headers += list(self.headers(realm, resource_metadata).items())
        return self.status_code, headers, (json.dumps(self.body()) + "\n").encode()


class MissingTokenError(BearerError):
    error = None
    status_code = 401
    description = "this API needs a bearer token: Authorization: Bearer <token>"


class InvalidRequestError(BearerError):
    error = "invalid_request"
    status_code = 400
    description = "the Authorization header must be: Bearer <token>"


class InvalidTokenError(BearerError):
    error = "invalid_token"
    status_code = 401
    description = "the access token is invalid, expired or revoked"


class InvalidDPoPProofError(BearerError):
    """RFC 9449 sections 4.3 and 7.1: the DPoP proof is missing, malformed, or does not match this request."""

    error = "invalid_dpop_proof"
    status_code = 401
    description = "the DPoP proof is invalid"
    scheme = "DPoP"


class UseDPoPNonceError(BearerError):
    """RFC 9449 section 9: this service wants a nonce it issued in the proof; the current one is in ``DPoP-Nonce``."""

    error = "use_dpop_nonce"
    status_code = 401
    description = "this service requires a nonce in the DPoP proof: retry with the DPoP-Nonce header's value"
    scheme = "DPoP"

    def __init__(self, nonce: str, description: str | None = None) -> None:
        super().__init__(description)
        self.nonce = nonce

    def headers(self, realm: str, resource_metadata: str | None = None) -> dict[str, str]:
        return super().headers(realm, resource_metadata) | {"DPoP-Nonce": self.nonce}


class InsufficientScopeError(BearerError):
    error = "insufficient_scope"
    status_code = 403
    description = "the access token does not grant the scope this call needs"


class TemporarilyUnavailableError(BearerError):
    """Fail closed: the token cannot be judged right now, so the call is not served."""

    error = "temporarily_unavailable"
    status_code = 503
    description = "the authorization server cannot be reached to validate the token; retry shortly"

    def __init__(self, description: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(description)
        self.retry_after = max(1, retry_after)

    def headers(self, realm: str, resource_metadata: str | None = None) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class NoRouteError(BearerError):
    """The gate knows no rule for this request: refused, so a forgotten route fails closed."""

    error = "insufficient_scope"
    status_code = 403
    description = "no route rule allows this request"


def token_from_header(header: str | None, *, token_elsewhere: bool = False) -> str:
    """The token of an ``Authorization: Bearer`` header only (RFC 6750 section 2.1: a token in a URL ends up in
    logs and browser history, section 5.3), or the refusal to send. The guard itself reads both schemes."""
    scheme, token = credentials_from_header(header, token_elsewhere=token_elsewhere)
    if scheme != "bearer":
        raise MissingTokenError()
    return token


def credentials_from_header(header: str | None, *, token_elsewhere: bool = False) -> tuple[str, str]:
    """(scheme, token) of an ``Authorization: Bearer <token>`` or ``Authorization: DPoP <token>`` header (RFC 6750
    section 2.1, RFC 9449 section 7.1), the scheme lower-cased; or the refusal to send."""
    if token_elsewhere:
        raise InvalidRequestError("send the access token in the Authorization header, not in the URL or body")
    if not header:
        raise MissingTokenError()
    scheme, _, credentials = header.partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "dpop"):
        raise MissingTokenError()
    if not is_b64token(credentials):
        if scheme == "dpop":
            raise InvalidRequestError("the Authorization header must be: DPoP <token>")
        raise InvalidRequestError()
    if len(credentials) > MAX_TOKEN_LENGTH:
        raise InvalidTokenError()
    return scheme, credentials


def is_b64token(text: str) -> bool:
    """RFC 6750's ``b64token``: one or more of its characters, then only ``=`` padding. The same answer as the
    regular expression ``[A-Za-z0-9\\-._~+/]+=*`` (tests/resource_kit/test_rules.py holds them equal) in a tenth of
    its time for a JWT of 850 characters: every protected call checks its header."""
    body = text.rstrip("=")
    return bool(body) and body.isascii() and not body.encode("ascii").translate(None, _B64TOKEN_CHARS)


def has_query_token(query_string: str | bytes) -> bool:
    """RFC 6750 section 2.3's ``access_token`` query parameter, which this kit refuses."""
    if not query_string:
        return False
    text = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
    return any(part.split("=", 1)[0] == "access_token" for part in text.split("&"))
