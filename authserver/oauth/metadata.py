"""RFC 8414 authorization server metadata for a server that issues tokens by admin action, not by grants."""

from __future__ import annotations

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from authserver_resource.dpop_algorithms import DPOP_SIGNING_ALGS

from ..scopes import ALL_SCOPES


class PrivateIntegrationMetadata(AuthorizationServerMetadata):
    """authlib's validator, minus the token and response-type requirements: no OAuth grant is offered here
    (tokens come from admins generating them for private integrations), so there is no token endpoint."""

    def validate_token_endpoint(self):
        if self.get("token_endpoint"):
            super().validate_token_endpoint()

    def validate_response_types_supported(self):
        if self.get("response_types_supported"):
            super().validate_response_types_supported()


def build_metadata(issuer: str, signing_algs: list[str]) -> PrivateIntegrationMetadata:
    base = issuer.rstrip("/")
    return PrivateIntegrationMetadata(
        {
            "issuer": issuer,
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "introspection_endpoint": f"{base}/oauth/introspect",
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "revocation_endpoint": f"{base}/oauth/revoke",
            # "none": a token holder may revoke the token it holds without client credentials (possession is proof).
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "scopes_supported": sorted(ALL_SCOPES),
            "grant_types_supported": [],
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "access_token_signing_alg_values_supported": signing_algs,
            # RFC 9449: tokens of an integration bound to a key carry cnf.jkt; resource services check the proofs.
            "dpop_signing_alg_values_supported": list(DPOP_SIGNING_ALGS),
            # RFC 9701: introspection answers signed as a JWT for a service that asks (Accept).
            "introspection_signing_alg_values_supported": signing_algs,
            # A readable reference of the admin API, rendered from the OpenAPI document (api_reference.py).
            "service_documentation": f"{base}/docs/api",
            "admin_api_openapi": f"{base}/api/openapi.json",
            "token_usage_endpoint": f"{base}/oauth/usage",
            # Resource services follow this feed (long poll) to stop honouring revoked tokens within a second.
            "token_events_endpoint": f"{base}/oauth/events",
            "token_events_snapshot_endpoint": f"{base}/oauth/events/snapshot",
        }
    )
