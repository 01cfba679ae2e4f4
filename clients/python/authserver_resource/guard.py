"""The one object every face wraps: it judges a request's bearer token for a scope, and owns the background work.

introspection: IntrospectionValidator <- IntrospectionCache <- FeedFollower(CacheInvalidation)
local:         LocalJWTValidator <- JWTVerifier(KeySet) + RevocationState <- FeedFollower(StateUpdates)
both:          UsageReporter sends batched calls (per token, per scope needed) back to the authorization server

``check`` is the whole RFC 6750 decision (header, token, scope), with RFC 9449's proof for a DPoP-bound token
(``sender_constraint``), and raises a ``BearerError`` for any refusal; the faces (wsgi, asgi, flask, gate) only
translate requests and responses, and hand over the method, URL and ``DPoP`` headers a proof is checked against.
Background threads start only in ``start()``, never at import or construction time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import cast

from .authserver_client import AuthServerClient
from .bearer import BearerError, InsufficientScopeError, InvalidTokenError, credentials_from_header
from .clock import SystemClock
from .feed import CacheInvalidation, FeedFollower, StateUpdates
from .grants import Grant, Judgement
from .introspection import IntrospectionValidator
from .introspection_cache import IntrospectionCache
from .jwks import KeySet
from .jwt_verifier import JWTVerifier
from .local import LocalJWTValidator
from .metadata import metadata_document, metadata_path, metadata_url
from .revocation_state import RevocationState
from .sender_constraint import ALGS, SenderConstraint
from .settings import Settings
from .signed_answers import signed_answer_reader
from .usage import UsageReporter


class Guard:
    def __init__(self, settings: Settings, *, clock=None, on_verdict: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.mode = settings.mode
        self.clock = clock or SystemClock()
        self.scopes: set[str] = set(settings.scopes_supported)
        self.link = AuthServerClient(
            settings.issuer,
            settings.client_id,
            settings.client_secret,
            timeout=settings.http_timeout,
            user_agent=settings.user_agent,
        )
        self.usage = UsageReporter(self.link, interval=settings.usage_interval)
        self.cache: IntrospectionCache | None = None
        self.state: RevocationState | None = None
        self.keys: KeySet | None = None
        if settings.mode == "local":
            self.state = RevocationState()
            self.keys = KeySet(self.link.jwks, refetch_interval=settings.jwks_refetch_interval)
            self.feed = FeedFollower(
                self.link, StateUpdates(self.state, self.keys), self.clock, wait=settings.feed_wait
            )
            verifier = JWTVerifier(self.keys, issuer=self.link.issuer, audience=settings.audiences)
            self.validator: LocalJWTValidator | IntrospectionValidator = LocalJWTValidator(
                verifier, self.state, self.feed, self.clock, max_staleness=settings.cache_ttl, on_verdict=on_verdict
            )
        else:
            self.cache = IntrospectionCache(settings.cache_ttl, settings.negative_cache_ttl)
            signed_answers = signed_answer_reader(self.link, settings, self.clock)  # RFC 9701, when set
            invalidation = CacheInvalidation(self.cache, signed_answers.keys if signed_answers else None)
            self.feed = FeedFollower(self.link, invalidation, self.clock, wait=settings.feed_wait)
            self.validator = IntrospectionValidator(
                self.link,
                self.cache,
                self.feed,
                self.clock,
                audiences=settings.audiences,
                on_verdict=on_verdict,
                signed_answers=signed_answers,
            )
        self.dpop = SenderConstraint(settings, self.clock)
        self._started = False
        self._start_lock = threading.Lock()
        self.resource_metadata_url = metadata_url(settings.resource)
        self.metadata_path = metadata_path(settings.resource)

    # -- the decision -----------------------------------------------------------------------------------
    def check(
        self,
        authorization: str | None,
        scope: str | None = None,
        *,
        token_elsewhere: bool = False,
        method: str | None = None,
        url: str | Callable[[], str] | None = None,
        dpop: Sequence[str] | Callable[[], Sequence[str]] = (),
    ) -> Grant:
        """The grant for a request whose ``Authorization`` header is ``authorization`` and which needs ``scope``;
        any refusal raises the ``BearerError`` to render. ``method``, ``url`` and ``dpop`` (every ``DPoP`` header
        value) are what a DPoP proof is checked against (``url`` and ``dpop`` may be callables, read only then). May
        block on the authorization server."""
        # judge() always answers, so only the quick decision ever defers (None)
        return cast(Grant, self._decide(authorization, scope, token_elsewhere, method, url, dpop, quick=False))

    def check_quick(
        self,
        authorization: str | None,
        scope: str | None = None,
        *,
        token_elsewhere: bool = False,
        method: str | None = None,
        url: str | Callable[[], str] | None = None,
        dpop: Sequence[str] | Callable[[], Sequence[str]] = (),
    ) -> Grant | None:
        """Like ``check`` when the verdict needs no network call; None means "call ``check`` off the event loop"."""
        return self._decide(authorization, scope, token_elsewhere, method, url, dpop, quick=True)

    def _decide(self, authorization, scope, token_elsewhere, method, url, dpop, *, quick: bool) -> Grant | None:
        """The one decision behind ``check`` and ``check_quick``: the token, its DPoP proof, the scope. ``quick``
        answers only what needs no network call (None: defer to ``check``)."""
        scheme = "bearer"
        try:
            scheme, token = credentials_from_header(authorization, token_elsewhere=token_elsewhere)
            judgement = self.validator.quick(token) if quick else self.validator.judge(token)
            if judgement is None:
                return None
            if judgement.grant is not None:
                if quick and self.dpop.needs_io(judgement.grant, scheme):
                    return None
                self.dpop.enforce(judgement.grant, scheme=scheme, token=token, method=method, url=url, proofs=dpop)
            return self.admit(judgement, scope)
        except BearerError as error:
            raise error.as_dpop(ALGS, dpop_scheme=scheme == "dpop" or error.scheme == "DPoP") from None

    def admit(self, judgement: Judgement, scope: str | None) -> Grant:
        """The scope check, and the served call counted for the usage report."""
        grant = judgement.grant
        if grant is None:
            raise InvalidTokenError()
        if scope is not None and scope not in grant.scopes:
            raise InsufficientScopeError(scope=scope)
        self.usage.record(grant.jti, self.clock.time(), scope=scope, introspected=judgement.introspected)
        return grant

    def require(self, scope: str | None) -> None:
        """A route needs ``scope``: advertised in the RFC 9728 document."""
        if scope:
            self.scopes.add(scope)

    # -- RFC 9728 -----------------------------------------------------------------------------------------
    def metadata(self) -> dict:
        return metadata_document(resource=self.settings.resource, issuer=self.link.issuer, scopes=self.scopes)

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start following the feed and reporting usage; idempotent, so faces may call it on every request."""
        if self._started:
            return
        with self._start_lock:
            if not self._started:
                self.feed.start()
                self.usage.start()
                self._started = True

    def stop(self) -> None:
        with self._start_lock:
            self.feed.stop()
            self.usage.stop()
            self._started = False

    def is_ready(self) -> bool:
        return self.feed.is_live()

    def status(self) -> dict:
        body: dict[str, object] = {"mode": self.mode, "feed": self.feed.status()}
        if self.cache is not None:
            body["cached_answers"] = len(self.cache)
        if self.state is not None:
            body["revocation_state"] = self.state.counts()
        body["uses_reported"] = self.usage.reported
        return body
