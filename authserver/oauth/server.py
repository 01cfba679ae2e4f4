"""The authlib AuthorizationServer that hosts our endpoints and client authentication."""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749 import InsecureTransportError, InvalidRequestError, UnauthorizedClientError
from authlib.oauth2.rfc6749.authenticate_client import (
    authenticate_client_secret_basic,
    authenticate_client_secret_post,
)
from flask import request as http_request

from ..hotpath.fair_gate import NOT_GATED
from .client_auth import ClientLookup, ClientUses, authenticate_token_holder, uniform_failures


class IntegrationAuthorizationServer(AuthorizationServer):
    """No grants are registered: tokens are minted by the lifecycle domain. This server only authenticates
    clients and runs the introspection and revocation endpoints."""

    def __init__(self, limits=None, *, clock, last_used_interval: float = 2.0) -> None:
        self.client_uses = ClientUses(last_used_interval)
        lookup = ClientLookup(clock, self.client_uses)
        super().__init__(query_client=lookup, save_token=_no_token_endpoint)
        self.client_lookup = lookup
        self.limits = limits
        self.register_client_auth_method("token_possession", authenticate_token_holder)
        self.register_client_auth_method(
            "client_secret_basic", uniform_failures(authenticate_client_secret_basic, lookup)
        )
        self.register_client_auth_method(
            "client_secret_post", uniform_failures(authenticate_client_secret_post, lookup)
        )

    def authenticate_client(self, request, methods, endpoint="token"):
        """Authenticate, then spend one request of the client's budget for this endpoint (a token holder's budget
        is its address's; a client's own limit, read with its row, replaces the configured one). Counting after
        authentication means nobody can spend another client's budget."""
        if request.headers.get("Authorization") and request.form.get("client_secret"):
            # RFC 6749 section 2.3: one method per request, so a request never carries two identities.
            raise InvalidRequestError(description="use one client authentication method, not two")
        client = super().authenticate_client(request, methods, endpoint)
        if client.kind != "token_holder":
            self.client_uses.note(client.client_id, self.client_lookup.clock.now())
        if not client.may_use(endpoint):
            # RFC 6749 section 5.2: who the client is was proved; it is not allowed here. A 400 without a challenge,
            # so the caller does not retry with other credentials.
            raise UnauthorizedClientError(description=f"this client may not use the {endpoint} endpoint")
        if self.limits is not None:
            # A token holder has no client id: its budget is its address's, read from the request itself.
            subject = client.client_id if client.kind != "token_holder" else f"holder:{request.remote_addr}"
            retry_in = self.limits.retry_after(endpoint, subject, request.wait, client.own_limit(endpoint))
            if retry_in is not None:
                raise TemporarilyUnavailableError(retry_in)
        return client

    def create_oauth2_request(self, request):
        """A request already in authlib's form (the direct introspection path builds one, with its gate's step-out
        as ``wait`` and the caller's ``remote_addr``) is used as it is. Flask's request gets the same two
        attributes: it holds no gate, and its address is werkzeug's."""
        if isinstance(request, OAuth2Request):
            return request
        built = super().create_oauth2_request(request)
        built.wait, built.remote_addr = NOT_GATED, http_request.remote_addr
        return built

    def create_endpoint_response(self, name, request=None):
        """authlib's, plus: a refused transport (plain HTTP to a host that is not loopback, e.g. behind a proxy
        that was not declared trusted) is authlib's 400 ``insecure_transport``, not an unhandled error. authlib
        raises it while building the request, before its own error handling."""
        try:
            return super().create_endpoint_response(name, request)
        except InsecureTransportError as error:
            return self.handle_error_response(request, error)

    def answer(self, name: str, request: OAuth2Request | None = None) -> tuple[int, dict, list[tuple[str, str]]]:
        """The endpoint's own ``(status, body, headers)``, for a caller that reads the answer before it is written:
        what ``create_endpoint_response`` does, without wrapping the result in a Flask response. ``request`` is
        authlib's (the direct path builds one) or None for Flask's current request."""
        endpoint = self._endpoints[name][0]  # authlib private: see hotpath/README.md
        try:
            request = self.create_oauth2_request(request)  # refuses an insecure transport with an OAuth2Error
            return endpoint(request)
        except OAuth2Error as error:
            return error(self.get_error_uri(request, error))

    def load_config(self, config):
        self.scopes_supported = None
        self._error_uris = None


class TemporarilyUnavailableError(OAuth2Error):
    """errors.RateLimitedError as the OAuth endpoints answer it: 429 with Retry-After, and
    ``temporarily_unavailable``, the RFC 6749 code clients already retry on."""

    error = "temporarily_unavailable"
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(description=f"rate limit reached for this client; retry in {retry_after} seconds")
        self.retry_after = retry_after

    def get_headers(self):
        return [*super().get_headers(), ("Retry-After", str(self.retry_after))]


def _no_token_endpoint(token, request):  # pragma: no cover - no grant ever calls it
    raise RuntimeError("tokens are issued through the lifecycle domain, not a token endpoint")
