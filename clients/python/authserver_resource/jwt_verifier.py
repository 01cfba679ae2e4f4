"""RFC 9068 checks on a JWT access token, done locally against the JWKS, by the same strict parser the
authorization server uses (``compact_jws``), so both give one verdict for every token.

``typ`` must be ``at+jwt``; the key is found by ``kid`` and its declared ``alg`` is the only one accepted (so a token
cannot pick a weaker algorithm or ``none``); ``iss`` and ``aud`` must be ours; every claim tenancy needs must be
present and well typed. Time (``exp``, and ``iat``/``nbf`` beyond the parser's one leeway) is judged by the caller on
its own clock (``AccessClaims.is_current``). Verified signatures are memoized (a bounded LRU keyed by a digest of the
token): cryptography is the expensive part, and liveness is judged afresh on every call anyway.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

from .compact_jws import TokenRefusedError, is_current, read_access_token
from .jwks import KeySet


@dataclass(frozen=True)
class AccessClaims:
    jti: str
    integration_id: str  # sub
    account_id: str
    client_id: str
    scopes: frozenset[str]
    exp: int
    iat: int
    nbf: int | None = None
    kid: str = ""  # the signing key: a revoked key's tokens are refused (revocation_state)
    jkt: str | None = None  # RFC 9449 cnf.jkt: the key a DPoP proof must be signed with; None = bearer

    def is_current(self, now: float) -> bool:
        """Not past ``exp``, and not issued (or valid from) further in the future than the one leeway."""
        return is_current(iat=self.iat, nbf=self.nbf, exp=self.exp, now=now)


def token_digest(token: str) -> bytes:
    """The SHA-256 digest a token is remembered by (here and in local mode's end latch): never the token itself."""
    return hashlib.sha256(token.encode()).digest()


class JWTVerifier:
    def __init__(self, keys: KeySet, *, issuer: str, audience: str | tuple[str, ...], memo_size: int = 20_000) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.memo_size = memo_size
        self._memo: OrderedDict[bytes, AccessClaims] = OrderedDict()  # by SHA-256 digest of the token
        self._lock = threading.Lock()

    def verify(self, token: str, *, digest: bytes | None = None) -> AccessClaims | None:
        """The token's claims if it is a well-formed access token signed by our issuer for us, else None.
        Raises ``UnavailableError`` when its key cannot be looked up. ``digest``: ``token_digest(token)``, when
        the caller has it already."""
        digest = digest or token_digest(token)
        with self._lock:
            claims = self._memo.get(digest)
            if claims is not None:
                self._memo.move_to_end(digest)
                return claims
        claims = self._verify(token)
        if claims is not None:
            with self._lock:
                self._memo[digest] = claims
                while len(self._memo) > self.memo_size:
                    self._memo.popitem(last=False)
        return claims

    def remembered(self, token: str, *, digest: bytes | None = None) -> AccessClaims | None:
        """The claims of a token verified before, without any key lookup (None if not remembered)."""
        with self._lock:
            return self._memo.get(digest or token_digest(token))

    def _verify(self, token: str) -> AccessClaims | None:
        try:
            claims = read_access_token(token, issuer=self.issuer, audience=self.audience, key_for=self._key_for)
        except TokenRefusedError:
            return None
        return AccessClaims(
            jti=claims.jti,
            integration_id=claims.sub,
            account_id=claims.account_id,
            client_id=claims.client_id,
            scopes=frozenset(claims.scope.split()),
            exp=claims.exp,
            iat=claims.iat,
            nbf=claims.nbf,
            kid=claims.kid,
            jkt=claims.cnf_jkt,
        )

    def _key_for(self, kid: str) -> tuple[str, object] | None:
        """Raises ``UnavailableError`` when the JWKS cannot tell (see ``KeySet.key_for``)."""
        key = self.keys.key_for(kid)
        return (key.algorithm_name, key.key) if key is not None else None
