"""RFC 9068 checks on a JWT access token, done locally against the JWKS.

``typ`` must be ``at+jwt``; the key is found by ``kid`` and its declared ``alg`` is the only one accepted (so a token
cannot pick a weaker algorithm or ``none``); ``iss`` and ``aud`` must be ours; every claim tenancy needs must be
present. ``exp`` is judged by the caller on its own clock. Verified signatures are memoized (a bounded LRU keyed by a
digest of the token): cryptography is the expensive part, and liveness is judged afresh on every call anyway.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import jwt

from .jwks import KeySet

ACCEPTED_TYP = ("at+jwt", "application/at+jwt")
REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"]


@dataclass(frozen=True)
class AccessClaims:
    jti: str
    integration_id: str  # sub
    account_id: str
    client_id: str
    scopes: frozenset[str]
    exp: int
    iat: int


class JWTVerifier:
    def __init__(self, keys: KeySet, *, issuer: str, audience: str, memo_size: int = 20_000) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.memo_size = memo_size
        self._memo: OrderedDict[str, AccessClaims] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, token: str) -> AccessClaims | None:
        """The token's claims if it is a well-formed access token signed by our issuer for us, else None.
        Raises ``UnavailableError`` when its key cannot be looked up."""
        digest = hashlib.sha256(token.encode()).digest()
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

    def _verify(self, token: str) -> AccessClaims | None:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        kid, typ = header.get("kid"), header.get("typ")
        if not isinstance(kid, str) or len(kid) > 128 or not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYP:
            return None
        key = self.keys.key_for(kid)
        if key is None or header.get("alg") != key.algorithm_name:
            return None
        try:
            payload = jwt.decode(token, key.key, algorithms=[key.algorithm_name], audience=self.audience,
                                 issuer=self.issuer,
                                 options={"require": REQUIRED_CLAIMS, "verify_exp": False, "verify_iat": False,
                                          "verify_nbf": False})
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
        values = [payload.get(name) for name in ("jti", "sub", "account_id", "client_id", "scope")]
        if not all(isinstance(value, str) and value for value in values):
            return None  # without account_id a token can reach no one's data
        exp, iat = payload.get("exp"), payload.get("iat")
        if not isinstance(exp, int) or not isinstance(iat, int) or isinstance(exp, bool):
            return None
        jti, sub, account_id, client_id, scope = values
        return AccessClaims(jti=jti, integration_id=sub, account_id=account_id, client_id=client_id,
                            scopes=frozenset(scope.split()), exp=exp, iat=iat)
