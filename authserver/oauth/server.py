"""The authlib AuthorizationServer that hosts our endpoints and client authentication."""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import AuthorizationServer

from .clients import ClientLookup, authenticate_token_holder


class IntegrationAuthorizationServer(AuthorizationServer):
    """No grants are registered: tokens are minted by the lifecycle domain. This server only authenticates
    clients and runs the introspection and revocation endpoints."""

    def __init__(self) -> None:
        lookup = ClientLookup()
        super().__init__(query_client=lookup, save_token=_no_token_endpoint)
        self.client_lookup = lookup
        self.register_client_auth_method("token_possession", authenticate_token_holder)

    def load_config(self, config):
        self.scopes_supported = None
        self._error_uris = None


def _no_token_endpoint(token, request):  # pragma: no cover - no grant ever calls it
    raise RuntimeError("tokens are issued through the lifecycle domain, not a token endpoint")
