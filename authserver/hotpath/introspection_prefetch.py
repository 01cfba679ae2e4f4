"""The two reads of an introspection, read ahead in one round trip (PostgreSQL: hotpath/paired_reads).

Before authlib's endpoint runs, the keys of its two reads are guessed from the request: the client id as authlib
will decode it (Basic header first, as the endpoint's methods are tried, else the form's ``client_id`` with a
``client_secret``), and the ``jti`` from the token's payload segment, decoded WITHOUT checking anything. Nothing read
here is trusted or decided on: the rows are only offered to the ``PreparedRead.first`` calls of this same request
(``serving_prefetched``), which take one only for exactly its statement and arguments. Authentication and the
signature check then run as always, before the token's row is used; a forged token's row may be read, never used.
A wrong guess costs a read nobody takes, and the real read goes to the database as it did without this.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from authlib.oauth2.rfc6749.util import extract_basic_authorization

from authserver_resource.compact_jws import MAX_TOKEN_LENGTH

from ..clients import CREDENTIALS_READ
from ..extensions import db
from ..security import is_identifier
from ..tokens import STATE_READ, TokenVerifier
from .paired_reads import PairedRead

CLIENT_AND_TOKEN = PairedRead(CREDENTIALS_READ, STATE_READ)


def prefetched_introspection_reads(request, verifier: TokenVerifier) -> dict[tuple, Any] | None:
    """The client's row and the token's state read ahead for ``request`` (authlib's, carrying ``wait``), or None
    when either key cannot be guessed or the database has no paired read. A token whose signature this process
    has already checked gives its ``jti`` from ``verifier``'s cache (cheaper than decoding it again)."""
    engine = db.engine
    if not CLIENT_AND_TOKEN.serves(engine):  # SQLite: nothing to read ahead, so nothing to guess (~50k instructions)
        return None
    client_id = guessed_client_id(request)
    if client_id is None:
        return None
    token = request.form.get("token")
    verified = verifier.cache.get(token) if isinstance(token, str) and len(token) <= MAX_TOKEN_LENGTH else None
    jti = verified.jti if verified is not None else unverified_jti(token)
    if jti is None:
        return None
    return CLIENT_AND_TOKEN.rows_of(engine, {"client_id": client_id}, {"jti": jti}, request.wait)


def guessed_client_id(request) -> str | None:
    """The client id authlib's secret methods will look up first, or None (no read would be made)."""
    if request.headers.get("Authorization"):
        try:
            client_id, secret = extract_basic_authorization(request.headers)
        except ValueError:  # not UTF-8: authlib's method fails the same way (client_auth.uniform_failures)
            return None
    else:
        form = request.form
        client_id, secret = form.get("client_id"), form.get("client_secret")
    return client_id if client_id and secret and is_identifier(client_id) else None


def unverified_jti(token: object) -> str | None:
    """The ``jti`` a JWT's payload claims, unchecked: only a key to read ahead with."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        return None
    jti = claims.get("jti") if isinstance(claims, dict) else None
    return jti if is_identifier(jti) else None
