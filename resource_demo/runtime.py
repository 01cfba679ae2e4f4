"""The per-app objects that protect the API in the configured mode, built once in ``create_app``.

introspection: IntrospectionValidator <- IntrospectionCache <- FeedFollower(CacheInvalidation)
local:         LocalJWTValidator <- JWTVerifier(KeySet) + RevocationState <- FeedFollower(StateUpdates);
               UsageReporter sends batched token use back
Background threads start only in ``start()`` (the server calls it), never at import or build time.
"""

from __future__ import annotations

from dataclasses import dataclass

from .authserver_client import AuthServerClient
from .clock import clock_from_config
from .feed import CacheInvalidation, FeedFollower, StateUpdates
from .introspection import IntrospectionValidator
from .introspection_cache import IntrospectionCache
from .jwks import KeySet
from .jwt_verifier import JWTVerifier
from .local import LocalJWTValidator
from .protection import BearerProtector
from .revocation_state import RevocationState
from .usage import UsageReporter


@dataclass
class Runtime:
    mode: str
    clock: object
    link: AuthServerClient
    protector: BearerProtector
    feed: FeedFollower
    usage: UsageReporter | None
    cache: IntrospectionCache | None = None
    state: RevocationState | None = None
    keys: KeySet | None = None

    def start(self) -> None:
        self.feed.start()
        if self.usage is not None:
            self.usage.start()

    def stop(self) -> None:
        self.feed.stop()
        if self.usage is not None:
            self.usage.stop()

    def status(self) -> dict:
        body = {"mode": self.mode, "feed": self.feed.status()}
        if self.cache is not None:
            body["cached_answers"] = len(self.cache)
        if self.state is not None:
            body["revocation_state"] = self.state.counts()
        if self.usage is not None:
            body["uses_reported"] = self.usage.reported
        return body


def build_runtime(config: dict, clock=None) -> Runtime:
    clock = clock or clock_from_config(config)
    link = AuthServerClient(config["AUTHSERVER_URL"], config["RESOURCE_DEMO_CLIENT_ID"],
                            config["RESOURCE_DEMO_CLIENT_SECRET"], timeout=config["RESOURCE_DEMO_HTTP_TIMEOUT"])
    protector = BearerProtector()
    audience, ttl, wait = config["RESOURCE_DEMO_AUDIENCE"], config["RESOURCE_DEMO_CACHE_TTL"], \
        config["RESOURCE_DEMO_FEED_WAIT"]
    if config["RESOURCE_DEMO_MODE"] == "local":
        state = RevocationState()
        keys = KeySet(link.jwks, refetch_interval=config["RESOURCE_DEMO_JWKS_REFETCH_INTERVAL"])
        feed = FeedFollower(link, StateUpdates(state, keys), clock, wait=wait)
        verifier = JWTVerifier(keys, issuer=link.issuer, audience=audience)
        usage = UsageReporter(link, interval=config["RESOURCE_DEMO_USAGE_INTERVAL"])
        protector.register_token_validator(LocalJWTValidator(verifier, state, feed, usage, clock, max_staleness=ttl))
        return Runtime("local", clock, link, protector, feed, usage, state=state, keys=keys)
    cache = IntrospectionCache(ttl, config["RESOURCE_DEMO_NEGATIVE_CACHE_TTL"])
    feed = FeedFollower(link, CacheInvalidation(cache), clock, wait=wait)
    protector.register_token_validator(IntrospectionValidator(link, cache, feed, clock, audience=audience))
    return Runtime("introspection", clock, link, protector, feed, None, cache=cache)
