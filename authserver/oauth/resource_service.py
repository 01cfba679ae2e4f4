"""Who is calling the resource-service endpoints beyond RFC 7662 (the feed, usage reports, v1 key checks)."""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from flask import Response, request

from ..services import services


def authenticate_resource_service() -> tuple[object | None, Response | None]:
    """The calling client, authenticated exactly as for introspection, or the OAuth error response to send."""
    server = services().oauth
    oauth_request = server.create_oauth2_request(request)
    try:
        return server.authenticate_client(
            oauth_request, ["client_secret_basic", "client_secret_post"], "introspection"
        ), None
    except OAuth2Error as error:
        return None, server.handle_error_response(oauth_request, error)
