"""Who is calling the admin API: an admin client (HTTP Basic) or a signed-in user (session). Never anonymous."""

from __future__ import annotations

import base64
import binascii

from flask import current_app, request

from .. import session_cookie
from ..clients import ClientCredentials, check_client_secret, client_principal, load_credentials
from ..errors import ForbiddenError, UnauthenticatedError
from ..principals import Principal
from ..services import services
from ..users import user_principal


def current_principal() -> Principal:
    header = request.headers.get("Authorization", "")
    if header:
        return _basic_client(header)
    signed_in = session_cookie.current_session()
    if signed_in is not None:
        # The browser attaches the cookie by itself; the CSRF header proves the request came from our own page.
        presented = request.headers.get("X-CSRF-Token")
        if request.method not in session_cookie.SAFE_METHODS and (
            session_cookie.is_cross_site() or not session_cookie.has_valid_csrf(signed_in, presented)
        ):
            raise ForbiddenError("a change made with a session cookie needs the page's X-CSRF-Token header")
        return user_principal(signed_in.user, request.remote_addr)
    raise UnauthenticatedError("sign in, or authenticate as an admin client with HTTP Basic")


def _basic_client(header: str) -> Principal:
    client = basic_client(header, "admin")
    return client_principal(client, request.remote_addr)


def basic_client(header: str, kind: str) -> ClientCredentials:
    """The client of ``kind`` whose HTTP Basic credentials ``header`` carries; anything else is a 401. The row is
    read every time, so a disabled or rotated-out client is refused at once."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise UnauthenticatedError(f"use HTTP Basic with {_A[kind]} client's id and secret")
    try:
        client_id, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise UnauthenticatedError("malformed Basic credentials") from None
    found = services()
    now = found.clock.now()
    client = load_credentials(client_id)
    if client is None or client.kind != kind or not check_client_secret(client, secret, now):
        current_app.logger.info("%s API authentication failed for a client", kind)
        raise UnauthenticatedError(f"invalid {kind} client credentials")
    found.oauth.client_uses.note(client.client_id, now)
    return client


_A = {"admin": "an admin", "resource-service": "a resource-service"}
