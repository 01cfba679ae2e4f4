"""One strict reader of RFC 9068 JWT access tokens in compact JWS form, for the authorization server and every
resource-side validator alike, so that a token gets the same verdict wherever it is presented.

Self-contained on purpose: it imports only the standard library and PyJWT's algorithm objects, never the rest of
``authserver``, so a resource service can install it without the server.

The rules, each refusing the token (``TokenRefusedError``) rather than guessing:
- exactly three segments of canonical, unpadded base64url (RFC 7515 section 2): decoding then re-encoding a segment
  must give it back, so one token has exactly one spelling;
- header and payload are UTF-8 JSON objects (RFC 7519 section 7.2) with no duplicate member names at any depth
  (RFC 7515 section 5.2 lets a parser refuse them; a last-wins parser would read ``{"alg":"none","alg":"RS256"}``
  differently from a first-wins one) and no ``NaN`` or ``Infinity``;
- ``typ`` is ``at+jwt`` (RFC 9068 section 4), ``crit`` is refused (we understand no extension, RFC 7515 section
  4.1.11), the key is found by ``kid`` and its own algorithm is the only one accepted;
- ``exp``, ``iat`` and ``nbf`` are NumericDates written as JSON integers (not strings, floats or booleans) between
  1970 and 9999 (RFC 7519 section 2); ``iss``, ``aud`` and the text claims tenancy needs are present and well typed;
- ``cnf``, when present (a token bound to a DPoP key, RFC 9449 section 6.1), is exactly ``{"jkt": <thumbprint>}``:
  a 43-character canonical base64url SHA-256 JWK thumbprint. Any other confirmation member (``jwk``,
  ``x5t#S256``, ...) refuses the token rather than being ignored: a validator that skipped a binding it does not
  understand would accept the token from anyone holding it.

Time is judged separately (``AccessTokenClaims.is_current``), so a verified token can be memoized while liveness is
still decided on every call: ``exp`` is exclusive and has no leeway; ``iat`` and ``nbf`` may be at most ``LEEWAY``
seconds in the future (a verifier's clock a little behind the issuer's), never more.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import cast

import jwt
from jwt.algorithms import Algorithm

LEEWAY = 60  # seconds a verifier's clock may run behind the issuer's: the one leeway for iat and nbf
MAX_TOKEN_LENGTH = 8192
ACCEPTED_TYP = frozenset({"at+jwt", "application/at+jwt"})  # media types compare case-insensitively
SIGNING_ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA"})  # asymmetric only: never HS*, never none
NUMERIC_DATE_MAX = 253402300799  # 9999-12-31T23:59:59Z, the last second a datetime can hold
MAX_KID_LENGTH = 64
JKT_LENGTH = 43  # a SHA-256 JWK thumbprint (RFC 7638) in unpadded base64url
_TEXT_CLAIMS = ("jti", "sub", "client_id", "account_id", "scope")
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


class TokenRefusedError(Exception):
    """The token is not one of ours, or not well formed. ``reason`` is for logs and tests; it never echoes the
    token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AccessTokenClaims:
    """The claims of a verified access token, typed."""

    jti: str
    sub: str
    client_id: str
    account_id: str
    scope: str
    exp: int
    iat: int
    aud: str | list[str]
    iss: str
    nbf: int | None = None
    kid: str = ""
    cnf_jkt: str | None = None  # RFC 9449: the thumbprint of the key a DPoP proof must be signed with; None = bearer

    def is_current(self, now: float) -> bool:
        """Inside [max(iat, nbf) - LEEWAY, exp): a token issued in the future is not valid yet (RFC 7519
        section 4.1.5), and one past ``exp`` is dead (section 4.1.4)."""
        return is_current(iat=self.iat, nbf=self.nbf, exp=self.exp, now=now)


def is_current(*, iat: int, nbf: int | None, exp: int, now: float) -> bool:
    starts = iat if nbf is None or nbf < iat else nbf
    return starts - LEEWAY <= now < exp


# A key lookup: kid -> (the key's one algorithm, a public key object PyJWT's algorithms accept), or None if unknown.
KeyLookup = Callable[[str], tuple[str, object] | None]
# The issuer's own rule for ``aud`` (a text, or a list of texts), when a fixed set of accepted values cannot say it.
AudienceRule = Callable[[str | list[str]], bool]


def read_access_token(
    token: object, *, issuer: str, audience: str | Collection[str] | AudienceRule, key_for: KeyLookup
) -> AccessTokenClaims:
    """Split, decode and verify ``token``; its claims, or ``TokenRefusedError``. ``aud`` must name ``audience``, or
    one of them when several are given (a service's own resource, or the default audience: RFC 8707), or satisfy
    ``audience`` when it is a rule (the authorization server's, for every form it issues). Time is not
    judged here (see ``AccessTokenClaims.is_current``). Exceptions raised by ``key_for`` (e.g. a JWKS that cannot be
    fetched) pass through unchanged; nothing else escapes."""
    header_segment, payload_segment, signature_segment = split_compact(token)
    header = _json_object(_decode_segment(header_segment), "header")
    alg, kid = _check_header(header)
    found = key_for(kid)
    if found is None:
        raise TokenRefusedError("unknown kid")
    key_alg, key = found
    if key_alg != alg:
        raise TokenRefusedError("alg is not the key's algorithm")
    payload = _json_object(_decode_segment(payload_segment), "payload")
    claims = _check_claims(payload, issuer=issuer, audience=audience, kid=kid)
    signature = _decode_segment(signature_segment)
    if not _signature_matches(alg, key, f"{header_segment}.{payload_segment}".encode("ascii"), signature):
        raise TokenRefusedError("bad signature")
    return claims


def split_compact(token: object) -> tuple[str, str, str]:
    """The three segments of a compact JWS (RFC 7515 section 7.1); anything else is refused."""
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH or not token.isascii():
        raise TokenRefusedError("not a token-sized ASCII string")
    segments = token.split(".")
    if len(segments) != 3:
        raise TokenRefusedError("not three segments")
    return segments[0], segments[1], segments[2]


def _decode_segment(segment: str) -> bytes:
    """Canonical unpadded base64url only: the alphabet of RFC 4648 section 5, no ``=``, and unused trailing bits
    zero (re-encoding gives the segment back), so a token cannot be respelled into a second string."""
    if not _SEGMENT.fullmatch(segment) or len(segment) % 4 == 1:
        raise TokenRefusedError("segment is not base64url")
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise TokenRefusedError("segment is not base64url") from None
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != segment:
        raise TokenRefusedError("segment is not canonical base64url")
    return data


def _json_object(data: bytes, what: str) -> dict:
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=_unique_members, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError, TokenRefusedError):
        # ValueError covers malformed JSON and integers too long to convert; the hooks raise TokenRefusedError
        raise TokenRefusedError(f"{what} is not a JSON object without duplicate members") from None
    if not isinstance(value, dict):
        raise TokenRefusedError(f"{what} is not a JSON object")
    return value


def _unique_members(pairs: list[tuple[str, object]]) -> dict:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise TokenRefusedError("duplicate member")
    return members


def _no_constant(name: str) -> object:
    raise TokenRefusedError(f"{name} is not JSON")


def _check_header(header: dict) -> tuple[str, str]:
    alg, typ, kid = header.get("alg"), header.get("typ"), header.get("kid")
    if not isinstance(alg, str) or alg not in SIGNING_ALGORITHMS:
        raise TokenRefusedError("alg not accepted")
    if not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYP:
        raise TokenRefusedError("typ is not at+jwt")
    if "crit" in header or "b64" in header:
        raise TokenRefusedError("critical header extensions are not understood")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH or not (kid.isascii() and kid.isprintable()):
        raise TokenRefusedError("kid is not a key id")
    return alg, kid


def _check_claims(
    payload: dict, *, issuer: str, audience: str | Collection[str] | AudienceRule, kid: str
) -> AccessTokenClaims:
    iss = payload.get("iss")
    if not isinstance(iss, str) or iss != issuer:
        raise TokenRefusedError("wrong issuer")
    aud = payload.get("aud")
    audiences: object = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not all(isinstance(item, str) for item in audiences):
        raise TokenRefusedError("wrong audience")
    if callable(audience):
        if not audience(cast("str | list[str]", aud)):
            raise TokenRefusedError("wrong audience")
    elif not any(item in ((audience,) if isinstance(audience, str) else tuple(audience)) for item in audiences):
        raise TokenRefusedError("wrong audience")
    texts = [value for name in _TEXT_CLAIMS if isinstance(value := payload.get(name), str) and value]
    if len(texts) != len(_TEXT_CLAIMS):
        raise TokenRefusedError("a required text claim is missing or empty")
    exp, iat = _numeric_date(payload, "exp"), _numeric_date(payload, "iat")
    nbf = _numeric_date(payload, "nbf") if "nbf" in payload else None
    jti, sub, client_id, account_id, scope = texts
    cnf_jkt = _confirmation_jkt(payload["cnf"]) if "cnf" in payload else None
    return AccessTokenClaims(
        jti=jti,
        sub=sub,
        client_id=client_id,
        account_id=account_id,
        scope=scope,
        exp=exp,
        iat=iat,
        aud=cast("str | list[str]", aud),  # checked above: a text or a list of texts
        iss=iss,
        nbf=nbf,
        kid=kid,
        cnf_jkt=cnf_jkt,
    )


def _confirmation_jkt(cnf: object) -> str:
    """RFC 9449 section 6.1 (RFC 7800's ``cnf``): exactly ``{"jkt": thumbprint}``. Only ``jkt`` is understood, so
    any other member refuses the token: silently dropping a confirmation method would drop its constraint."""
    if not isinstance(cnf, dict) or set(cnf) != {"jkt"}:
        raise TokenRefusedError("cnf is not a jkt confirmation")
    jkt = cnf["jkt"]
    if not isinstance(jkt, str) or len(jkt) != JKT_LENGTH or not _is_canonical_base64url(jkt):
        raise TokenRefusedError("cnf.jkt is not a SHA-256 thumbprint")
    return jkt


def _is_canonical_base64url(text: str) -> bool:
    try:
        _decode_segment(text)
    except TokenRefusedError:
        return False
    return True


def _numeric_date(payload: dict, name: str) -> int:
    """RFC 7519 section 2 allows fractions; an issuer of ours never writes one, so only integers are accepted, and
    only within a range every language's date type can hold."""
    value = payload.get(name)
    if type(value) is not int or not 0 <= value <= NUMERIC_DATE_MAX:
        raise TokenRefusedError(f"{name} is not an integer NumericDate")
    return value


_ALGORITHMS: dict[str, Algorithm] = {}


def _signature_matches(alg: str, key: object, signing_input: bytes, signature: bytes) -> bool:
    algorithm = _ALGORITHMS.get(alg)
    if algorithm is None:
        algorithm = _ALGORITHMS.setdefault(alg, jwt.get_algorithm_by_name(alg))
    try:
        return bool(algorithm.verify(signing_input, key, signature))
    except (ValueError, TypeError, AttributeError):  # a malformed signature or unusable key: a mismatch, not a crash
        return False
