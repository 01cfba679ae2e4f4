"""RFC 9701: an introspection answer as a JWT signed with the server's key, for a resource service that asks.

A service asks with ``Accept: application/token-introspection+jwt`` (section 4), or its client is set to be
answered signed always (section 6, ``introspection_signed_response_alg``). The JWT is signed by the key, and with
the algorithm, that signs access tokens now, so the service verifies it with the JWKS it already trusts: header
``typ`` ``token-introspection+jwt`` with ``alg`` and ``kid``; claims ``iss``, ``aud`` (the asking client's id),
``iat`` and ``token_introspection``, the exact JSON answer (active or ``{"active": false}``), section 5.

Only a 200 answer is signed: errors (401, 400, 429, 503) stay JSON, as section 5 leaves them. JSON stays the
default: a request without ``Accept``, with ``*/*``, or preferring ``application/json`` is answered as before, and
its only added cost is reading the header (``signed_answer`` returns at once when it is absent).

The Flask route and the direct WSGI path both call ``signed_answer``, so both answer a request alike
(tests/http/test_signed_introspection.py compares them).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from datetime import datetime
from typing import Any, Protocol

import jwt as pyjwt

from ..errors import SigningUnavailableError
from ..keys import KeyStore
from ..services import services

MEDIA_TYPE = "application/token-introspection+jwt"
TYP = "token-introspection+jwt"
ALWAYS = "always"  # the client setting: every answer to it signed; None (the default) signs when asked
JSON_TYPE = "application/json"
KEY_REREAD_SECONDS = 1.0  # which key signs is read from the database at most this often per process

Headers = list[tuple[str, str]]
_JSON_HEADERS = [("Content-Type", JSON_TYPE), ("Cache-Control", "no-store"), ("Pragma", "no-cache")]
log = logging.getLogger("authserver")


class IntrospectingClient(Protocol):
    """What is read of the authenticated client (oauth.client_auth.OAuthClient)."""

    @property
    def client_id(self) -> str: ...

    @property
    def introspection_signing(self) -> str | None: ...


def signed_answer(
    status: int, body: dict[str, Any], headers: Headers, client: IntrospectingClient | None, accept: str | None
) -> tuple[int, bytes, Headers] | None:
    """The answer to send instead of the JSON ``body`` when it is to be signed: (status, payload, headers), the JWT
    with a 200, or a JSON 503 when no key can sign (the service cannot be told anything it could trust). None:
    send the JSON as it is.

    ``client`` is the client authenticated for the request (authlib sets it on the request; None when
    authentication failed), ``accept`` the request's Accept header."""
    if status != 200 or client is None:
        return None
    if client.introspection_signing != ALWAYS and (accept is None or not prefers_signed(accept)):
        return None
    found = services()
    try:
        token = sign_answer(
            body,
            audience=client.client_id,
            issuer=found.config["AUTHSERVER_ISSUER"],
            keystore=found.keystore,
            now=found.clock.now(),
        )
    except SigningUnavailableError as exc:
        log.warning("cannot sign an introspection answer: %s", exc.detail)
        error = {"error": "temporarily_unavailable", "error_description": "the signing key is unavailable"}
        return 503, json.dumps(error).encode(), [*_JSON_HEADERS, ("Retry-After", "1")]
    kept = [(name, value) for name, value in headers if name.lower() != "content-type"]
    return 200, token.encode("ascii"), [("Content-Type", MEDIA_TYPE), *kept]


def sign_answer(body: dict[str, Any], *, audience: str, issuer: str, keystore: KeyStore, now: datetime) -> str:
    """The RFC 9701 section 5 JWT for ``body``, signed with the key that signs access tokens at ``now``."""
    kid, alg, key = _signing_key(keystore, now)
    claims = {"iss": issuer, "aud": audience, "iat": int(now.timestamp()), "token_introspection": body}
    return pyjwt.encode(claims, key, algorithm=alg, headers={"kid": kid, "typ": TYP})


# -- content negotiation (RFC 9110 section 12.5.1) ------------------------------------------------------------
_PREFERENCES: dict[str, bool] = {}  # Accept value -> prefers signed; services send one or two distinct values


def prefers_signed(accept: str | None) -> bool:
    """Whether ``accept`` asks for the JWT rather than JSON (the default). Each media type gets the quality of
    the most specific range that matches it (``q=0``: not acceptable). The JWT is chosen when it is acceptable and
    either ranks above JSON or ties with it while named explicitly: ``*/*`` alone ties and keeps JSON."""
    if accept is None:
        return False
    known = _PREFERENCES.get(accept)
    if known is None:
        known = _decide(accept)
        if len(_PREFERENCES) < 64:  # the header is the caller's choice: a flood of values only loses the memo
            _PREFERENCES[accept] = known
    return known


def _decide(accept: str) -> bool:
    ranges = _media_ranges(accept)
    signed, named = _quality(ranges, "application", "token-introspection+jwt")
    plain, _ = _quality(ranges, "application", "json")
    return signed > 0 and (signed > plain or (signed == plain and named))


def _media_ranges(accept: str) -> list[tuple[str, str, float]]:
    """(type, subtype, q) of each well-formed range; a range with an unreadable q or shape is left out."""
    ranges = []
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        kind, slash, subtype = media.lower().partition("/")
        if not slash or not kind or not subtype or (kind == "*" and subtype != "*"):
            continue
        quality: float | None = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                quality = _qvalue(value.strip())
        if quality is not None:
            ranges.append((kind, subtype, quality))
    return ranges


def _qvalue(text: str) -> float | None:
    """RFC 9110 section 12.4.2: "0" to "1" with at most three decimals; anything else is None."""
    whole, _, fraction = text.partition(".")
    if whole not in ("0", "1") or len(fraction) > 3 or not (fraction.isdigit() or not fraction):
        return None
    value = float(text)
    return value if value <= 1 else None


def _quality(ranges: list[tuple[str, str, float]], kind: str, subtype: str) -> tuple[float, bool]:
    """The quality of the most specific matching range (exact, then ``type/*``, then ``*/*``), and whether the
    type was named exactly. Several equally specific ranges: the highest quality counts."""
    best: dict[int, float] = {}
    for range_kind, range_subtype, quality in ranges:
        if (range_kind, range_subtype) == (kind, subtype):
            rank = 2
        elif range_kind == kind and range_subtype == "*":
            rank = 1
        elif (range_kind, range_subtype) == ("*", "*"):
            rank = 0
        else:
            continue
        best[rank] = max(quality, best.get(rank, 0.0))
    if not best:
        return 0.0, False
    rank = max(best)
    return best[rank], rank == 2


# -- the signing key, read at most once a second ---------------------------------------------------------------
_KEYS: weakref.WeakKeyDictionary[KeyStore, tuple[float, str, str, Any]] = weakref.WeakKeyDictionary()
_KEYS_LOCK = threading.Lock()


def _signing_key(keystore: KeyStore, now: datetime) -> tuple[str, str, Any]:
    """(kid, alg, private key) of the key that signs at ``now``. ``KeyStore.signing_keyset`` reads the database;
    an answer is signed on every request, so the choice is kept for ``KEY_REREAD_SECONDS``: a key that starts
    signing (or is revoked) is used (or left) at most that much later by answers that live a few seconds."""
    kept = _KEYS.get(keystore)
    moment = time.monotonic()
    if kept is not None and moment - kept[0] < KEY_REREAD_SECONDS:
        return kept[1], kept[2], kept[3]
    kid, alg, keyset = keystore.signing_keyset(now)
    private_key = keyset.keys[0].private_key  # a one-key set: the cryptography key PyJWT signs with
    with _KEYS_LOCK:
        _KEYS[keystore] = (moment, kid, alg, private_key)
    return kid, alg, private_key
