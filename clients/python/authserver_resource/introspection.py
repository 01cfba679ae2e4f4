"""Introspection mode (the default): ask the authorization server (RFC 7662), cache the answer briefly.

A cached answer is trusted only while the event feed is live, because the feed is what removes it within a second
of a revocation. When the feed is down the service asks again on every call, and falls back to a still-valid cached
answer only if the authorization server cannot be reached; with neither, the call fails closed (503).

A 429 (this service's client over its rate limit) is waited out: for its ``Retry-After`` (capped at
``authserver_client.MAX_BACKOFF``) no call of this process asks the server again. Meanwhile a still-valid cached
answer is used as above, and anything else fails closed with 503 and the time left as ``Retry-After``: the token
may well be fine, so it is never a 401.

With ``Settings.signed_introspection`` the answers are asked for as RFC 9701 JWTs and read through
``signed_answers.SignedAnswerReader``; one that does not verify is treated as an unreachable server (503 unless a
still-valid cached answer exists), never as a verdict.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time

from .authserver_client import AuthServerClient, RateLimitedError, UnavailableError
from .bearer import TemporarilyUnavailableError
from .end_latch import EndLatch
from .grants import Grant, Judgement
from .introspection_cache import IntrospectionCache
from .signed_answers import SignedAnswerReader

log = logging.getLogger("authserver_resource")
_RATE_LIMITED = "the authorization server is rate-limiting this service's token checks; retry shortly"


class IntrospectionValidator:
    def __init__(
        self,
        link: AuthServerClient,
        cache: IntrospectionCache,
        feed,
        clock,
        *,
        audiences: tuple[str, ...],
        on_verdict=None,
        signed_answers: SignedAnswerReader | None = None,
    ) -> None:
        self.link = link
        self.signed_answers = signed_answers  # RFC 9701: ask for signed answers and read only verified ones
        self.cache = cache
        self.feed = feed
        self.clock = clock
        self.audiences = audiences
        self.on_verdict = on_verdict or (lambda source: None)
        self.ended = EndLatch()  # digests of tokens seen past their end: never accepted again (end_latch)
        self.backoff_until = 0.0  # time.monotonic(): after a 429, no introspection call before this
        self._backoff_lock = threading.Lock()

    def quick(self, token_string: str) -> Judgement | None:
        """The verdict if it needs no call to the authorization server (a fresh cached answer), else None: lets an
        async face stay on its event loop for warm tokens."""
        key = hashlib.sha256(token_string.encode()).hexdigest()
        if self.ended.has_ended(key):
            return Judgement(None)
        cached = self.cache.get(key)
        if cached is None or not cached.is_fresh() or (cached.grant is not None and not self.feed.is_live()):
            return None
        if cached.grant is not None and not cached.grant.is_live_at(self.clock.time()):
            return None  # judge() latches it
        self.on_verdict("cache_hit")
        return Judgement(cached.grant)

    def judge(self, token_string: str) -> Judgement:
        """The token's grant (None: refused); raises ``TemporarilyUnavailableError`` when it cannot be known."""
        key = hashlib.sha256(token_string.encode()).hexdigest()
        now = self.clock.time()
        if self.ended.has_ended(key):
            return Judgement(None)  # seen past its end before: a clock stepping back does not revive it
        cached = self.cache.get(key)
        if cached is not None and cached.grant is not None and not cached.grant.is_live_at(now):
            self.cache.forget(key)
            self.ended.latch(key)
            return Judgement(None)  # past exp (or its grace deadline): known dead, whatever the server says
        if cached is not None and cached.is_fresh() and (cached.grant is None or self.feed.is_live()):
            self.on_verdict("cache_hit")
            return Judgement(cached.grant)
        self.on_verdict("cache_miss")
        generation = self.cache.generation
        waiting = self.backoff_until - time.monotonic()
        if waiting > 0:  # rate-limited a moment ago: the server asked us to wait, so we do
            if cached is not None and cached.is_fresh():
                return Judgement(cached.grant)
            raise TemporarilyUnavailableError(_RATE_LIMITED, retry_after=math.ceil(waiting))
        try:
            answer = self._introspect(token_string)
        except RateLimitedError as exc:
            self._back_off(exc)
            if cached is not None and cached.is_fresh():
                return Judgement(cached.grant)
            raise TemporarilyUnavailableError(_RATE_LIMITED, retry_after=math.ceil(exc.retry_after)) from None
        except UnavailableError as exc:
            if cached is not None and cached.is_fresh():
                return Judgement(cached.grant)
            log.warning("introspection unavailable, failing closed: %s", exc)
            raise TemporarilyUnavailableError() from None
        grant = self.grant_from(answer)
        if grant is not None and not grant.is_live_at(now):
            self.ended.latch(key)  # active on the authorization server's clock, past its end on ours
            grant = None
        self.cache.put(key, grant, now=now, generation=generation)
        return Judgement(grant, introspected=grant is not None)

    def _introspect(self, token_string: str) -> dict:
        """The RFC 7662 answer; with signed answers on, only from a JWT that verifies (else ``UnavailableError``:
        what the server said cannot be known, so the call fails closed rather than trusting or refusing it)."""
        if self.signed_answers is None:
            return self.link.introspect(token_string)
        return self.signed_answers.read(self.link.introspect_signed(token_string))

    def _back_off(self, exc: RateLimitedError) -> None:
        with self._backoff_lock:
            until = time.monotonic() + exc.retry_after
            if until > self.backoff_until:
                if self.backoff_until < time.monotonic():  # once per back-off, not once per waiting request
                    log.warning("introspection rate-limited, waiting %gs before asking again: %s", exc.retry_after, exc)
                self.backoff_until = until

    def grant_from(self, answer: dict) -> Grant | None:
        """An active answer for our issuer and audience, with everything tenancy needs; anything else is None."""
        if answer.get("active") is not True:
            return None
        aud = answer.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if (
            not any(item in self.audiences for item in audiences)
            or answer.get("iss", self.link.issuer) != self.link.issuer
        ):
            return None
        names = ("jti", "account_id", "integration_id", "scope")
        fields = [value for name in names if isinstance(value := answer.get(name), str) and value]
        exp = answer.get("exp")
        if len(fields) != len(names) or type(exp) is not int:
            return None
        jti, account_id, integration_id, scope = fields
        cnf = answer.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        if cnf is not None and (not isinstance(jkt, str) or not jkt or set(cnf) != {"jkt"}):
            return None  # a binding we do not understand: refusing beats serving the token as a bearer token
        return Grant(
            jti=jti,
            account_id=account_id,
            integration_id=integration_id,
            client_id=str(answer.get("client_id", integration_id)),
            scopes=frozenset(scope.split()),
            exp=float(exp),
            jkt=jkt,
        )
