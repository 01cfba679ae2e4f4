"""Local mode: verify the JWT against the JWKS, then consult the revocation state kept current by the event feed.

Order matters. Signature, claims and time (``exp``, and ``iat``/``nbf`` beyond the parser's one leeway) are judged
first: a token that fails them is refused (401) even when the authorization server is down. Only then is the
revocation state needed, and it must be fresh (the feed live, or live less than the cache TTL ago); otherwise the
call fails closed (503). A token once seen past its ``exp`` or scheduled end stays refused even if this service's
clock steps back (``EndLatch``).
"""

from __future__ import annotations

from .authserver_client import UnavailableError
from .bearer import TemporarilyUnavailableError
from .end_latch import EndLatch
from .feed import FeedFollower
from .grants import Grant, Judgement
from .jwt_verifier import AccessClaims, JWTVerifier, token_digest
from .revocation_state import RevocationState


class LocalJWTValidator:
    def __init__(
        self,
        verifier: JWTVerifier,
        state: RevocationState,
        feed: FeedFollower,
        clock,
        *,
        max_staleness: float,
        on_verdict=None,
    ) -> None:
        self.verifier = verifier
        self.state = state
        self.feed = feed
        self.clock = clock
        self.max_staleness = max_staleness
        self.on_verdict = on_verdict or (lambda source: None)
        self.ended = EndLatch()  # tokens seen past exp or a scheduled end: never accepted again (end_latch)

    def quick(self, token_string: str) -> Judgement | None:
        """The verdict when the signature was verified before (no key lookup can block), else None."""
        key = token_digest(token_string)  # one digest per call: the memo's key and the end latch's
        claims = self.verifier.remembered(token_string, digest=key)
        return None if claims is None else self._judge_claims(key, claims)

    def judge(self, token_string: str) -> Judgement:
        key = token_digest(token_string)
        try:
            claims = self.verifier.verify(token_string, digest=key)
        except UnavailableError:
            raise TemporarilyUnavailableError() from None
        if claims is None:
            return Judgement(None)
        return self._judge_claims(key, claims)

    def _judge_claims(self, key: bytes, claims: AccessClaims) -> Judgement:
        """``key``: the token's digest. The end latch is keyed by the token, not its jti: only this token was seen
        to end (a token re-signed with another exp by whoever holds the key would otherwise end the genuine one here
        but not on the authorization server)."""
        now = self.clock.time()
        if self.ended.has_ended(key):
            return Judgement(None)
        if not claims.is_current(now):
            if now >= claims.exp:
                self.ended.latch(key)
            return Judgement(None)
        if not self.feed.is_fresh(self.max_staleness):
            raise TemporarilyUnavailableError()
        self.on_verdict("local")
        verdict = self.state.live_scopes(
            jti=claims.jti,
            integration_id=claims.integration_id,
            account_id=claims.account_id,
            token_scopes=claims.scopes,
            now=now,
            kid=claims.kid,
        )
        if verdict is None:
            scheduled_end = self.state.scheduled_end(claims.jti)
            if scheduled_end is not None and now >= scheduled_end:
                self.ended.latch(key)
            return Judgement(None)
        scopes, deadline = verdict
        return Judgement(
            Grant(
                jti=claims.jti,
                account_id=claims.account_id,
                integration_id=claims.integration_id,
                client_id=claims.client_id,
                scopes=scopes,
                exp=min(float(claims.exp), deadline),
                jkt=claims.jkt,
            )
        )
