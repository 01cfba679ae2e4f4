"""The authlib AuthorizationServer that hosts our endpoints and client authentication."""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749.authenticate_client import (
    authenticate_client_secret_basic,
    authenticate_client_secret_post,
)
from flask import request as http_request

from .clients import ClientLookup, authenticate_token_holder, uniform_failures


class IntegrationAuthorizationServer(AuthorizationServer):
    """No grants are registered: tokens are minted by the lifecycle domain. This server only authenticates
    clients and runs the introspection and revocation endpoints."""

    def __init__(self, limits=None) -> None:
        lookup = ClientLookup()
        super().__init__(query_client=lookup, save_token=_no_token_endpoint)
        self.client_lookup = lookup
        self.limits = limits
        self.register_client_auth_method("token_possession", authenticate_token_holder)
        self.register_client_auth_method("client_secret_basic", uniform_failures(authenticate_client_secret_basic))
        self.register_client_auth_method("client_secret_post", uniform_failures(authenticate_client_secret_post))

    def authenticate_client(self, request, methods, endpoint="token"):
        """Authenticate, then spend one request of the client's budget for this endpoint (a token holder's budget
        is its address's). Counting after authentication means nobody can spend another client's budget."""
        if http_request.headers.get("Authorization") and http_request.form.get("client_secret"):
            # RFC 6749 section 2.3: one method per request, so a request never carries two identities.
            raise InvalidRequestError(description="use one client authentication method, not two")
        client = super().authenticate_client(request, methods, endpoint)
        if self.limits is not None:
            subject = client.client_id if client.kind != "token_holder" else f"holder:{http_request.remote_addr}"
            wait = self.limits.retry_after(endpoint, subject)
            if wait is not None:
                raise RateLimitedError(wait)
        return client

    def load_config(self, config):
        self.scopes_supported = None
        self._error_uris = None


class RateLimitedError(OAuth2Error):
    """429 with Retry-After; ``temporarily_unavailable`` is the RFC 6749 code clients already retry on."""

    error = "temporarily_unavailable"
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(description=f"rate limit reached for this client; retry in {retry_after} seconds")
        self.retry_after = retry_after

    def get_headers(self):
        return [*super().get_headers(), ("Retry-After", str(self.retry_after))]


def _no_token_endpoint(token, request):  # pragma: no cover - no grant ever calls it
    raise RuntimeError("tokens are issued through the lifecycle domain, not a token endpoint")
