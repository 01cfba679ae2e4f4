"""Who is calling the admin API: an admin client (HTTP Basic) or a signed-in user (session). Never anonymous."""

from __future__ import annotations

import base64
import binascii

from flask import current_app, request, session

from ..clients import check_client_secret, client_principal, find_client
from ..errors import UnauthenticatedError
from ..extensions import db
from ..models import User
from ..principals import Principal
from ..users import user_principal


def current_principal() -> Principal:
    header = request.headers.get("Authorization", "")
    if header:
        return _basic_client(header)
    user_id = session.get("user_id")
    if user_id:
        user = db.session.get(User, user_id)
        if user is not None and session.get("generation") == user.session_generation:
            return user_principal(user, request.remote_addr)
    raise UnauthenticatedError("sign in, or authenticate as an admin client with HTTP Basic")


def _basic_client(header: str) -> Principal:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise UnauthenticatedError("use HTTP Basic with an admin client's id and secret")
    try:
        client_id, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise UnauthenticatedError("malformed Basic credentials") from None
    client = find_client(client_id)
    if client is None or client.kind != "admin" or not check_client_secret(client, secret):
        current_app.logger.info("admin API authentication failed for a client")
        raise UnauthenticatedError("invalid admin client credentials")
    return client_principal(client, request.remote_addr)
