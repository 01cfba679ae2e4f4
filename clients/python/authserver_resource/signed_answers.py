"""RFC 9701 signed introspection answers: read only when the authorization server's key vouches for them.

With ``Settings.signed_introspection`` on, the service asks for ``application/token-introspection+jwt`` and reads
the answer here. Everything must hold, or the answer is ``UntrustedAnswerError`` (an ``UnavailableError``: the
caller fails closed with 503, "cannot know", never a grant and never a 401 on the token, which may well be fine):

- a compact JWS in canonical base64url with JSON objects free of duplicate members (``compact_jws``'s reader);
- header ``typ`` exactly ``token-introspection+jwt`` (section 5), no ``crit``, a ``kid`` the JWKS publishes
  (refetched once on an unknown kid, ``jwks.KeySet``) and the ``alg`` that key declares, asymmetric only;
- the signature;
- ``iss`` the configured issuer, ``aud`` this service's client id (an answer meant for another service is not
  ours to use), ``iat`` an integer no further ahead of our clock than ``compact_jws.LEEWAY`` and no older than
  ``MAX_AGE`` (an old answer replayed by someone on the path says nothing about now);
- ``token_introspection`` a JSON object (the RFC 7662 answer, judged by the validator as an unsigned one is).
"""

from __future__ import annotations

from .authserver_client import UnavailableError
from .compact_jws import (
    LEEWAY,
    MAX_KID_LENGTH,
    SIGNING_ALGORITHMS,
    TokenRefusedError,
    _decode_segment,
    _json_object,
    _signature_matches,
)
from .jwks import KeySet

TYP = "token-introspection+jwt"
MAX_AGE = 60  # seconds: how old a signed answer may be (its iat) and still be read as the present
MAX_ANSWER_LENGTH = 64 * 1024


class UntrustedAnswerError(UnavailableError):
    """The answer was not provably the authorization server's, for us, now. ``reason`` is for logs and tests."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"signed introspection answer refused: {reason}")
        self.reason = reason


class SignedAnswerReader:
    """Verifies signed answers for one service: its issuer, its client id, the server's keys and a clock."""

    def __init__(self, keys: KeySet, *, issuer: str, client_id: str, clock) -> None:
        self.keys = keys
        self.issuer = issuer
        self.client_id = client_id
        self.clock = clock

    def read(self, answer: object) -> dict:
        """The RFC 7662 answer inside ``answer`` (the JWT text), or ``UntrustedAnswerError``. A JWKS that cannot
        be fetched is ``UnavailableError`` as it is."""
        try:
            return self._read(answer)
        except TokenRefusedError as exc:
            raise UntrustedAnswerError(exc.reason) from None

    def _read(self, answer: object) -> dict:
        if not isinstance(answer, str) or not 0 < len(answer) <= MAX_ANSWER_LENGTH or not answer.isascii():
            raise TokenRefusedError("not a JWT-sized ASCII text")
        segments = answer.split(".")
        if len(segments) != 3:
            raise TokenRefusedError("not three segments")
        header_segment, payload_segment, signature_segment = segments
        header = _json_object(_decode_segment(header_segment), "header")
        alg, kid = _check_header(header)
        key = self.keys.key_for(kid)
        if key is None:
            raise TokenRefusedError("unknown kid")
        if key.algorithm_name != alg:
            raise TokenRefusedError("alg is not the key's algorithm")
        signature = _decode_segment(signature_segment)
        if not _signature_matches(alg, key.key, f"{header_segment}.{payload_segment}".encode("ascii"), signature):
            raise TokenRefusedError("bad signature")
        claims = _json_object(_decode_segment(payload_segment), "payload")
        return self._check_claims(claims)

    def _check_claims(self, claims: dict) -> dict:
        if claims.get("iss") != self.issuer:
            raise TokenRefusedError("wrong issuer")
        aud = claims.get("aud")
        if aud != self.client_id and not (isinstance(aud, list) and aud == [self.client_id]):
            raise TokenRefusedError("wrong audience: meant for another service")
        iat = claims.get("iat")
        if type(iat) is not int:
            raise TokenRefusedError("iat is not an integer NumericDate")
        now = self.clock.time()
        if iat > now + LEEWAY:
            raise TokenRefusedError("issued in the future")
        if iat < now - MAX_AGE:
            raise TokenRefusedError("too old to speak for now")
        body = claims.get("token_introspection")
        if not isinstance(body, dict):
            raise TokenRefusedError("token_introspection is not an object")
        return body


def _check_header(header: dict) -> tuple[str, str]:
    alg, typ, kid = header.get("alg"), header.get("typ"), header.get("kid")
    if not isinstance(alg, str) or alg not in SIGNING_ALGORITHMS:
        raise TokenRefusedError("alg not accepted")
    if typ != TYP:
        raise TokenRefusedError("typ is not token-introspection+jwt")
    if "crit" in header or "b64" in header:
        raise TokenRefusedError("critical header extensions are not understood")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH or not (kid.isascii() and kid.isprintable()):
        raise TokenRefusedError("kid is not a key id")
    return alg, kid


def signed_answer_reader(link, settings, clock) -> SignedAnswerReader | None:
    """The reader a service with ``signed_introspection`` on uses (with its own JWKS cache), else None."""
    if not getattr(settings, "signed_introspection", False):
        return None
    keys = KeySet(link.jwks, refetch_interval=settings.jwks_refetch_interval)
    return SignedAnswerReader(keys, issuer=link.issuer, client_id=settings.client_id, clock=clock)
