"""The per-app service objects (clock, keys, verifier, minting, activity, the authlib server), built once."""

from __future__ import annotations

from dataclasses import dataclass

from .activity import ActivityBuffer, Flusher, RedisActivityStage
from .clock import OffsetFileClock, SystemClock
from .keys import KeyStore
from .limits.build import build_limits, build_signin_limiter
from .limits.rates import RateLimitedTokenGenerator, RequestLimits
from .oauth.introspection import TokenIntrospectionEndpoint
from .oauth.metadata import PrivateIntegrationMetadata, build_metadata
from .oauth.revocation import TokenRevocationEndpoint
from .oauth.server import IntegrationAuthorizationServer
from .tokens import IntegrationTokenGenerator, TokenVerifier


@dataclass
class Services:
    clock: object
    keystore: KeyStore
    verifier: TokenVerifier
    generator: IntegrationTokenGenerator
    activity: ActivityBuffer | None
    flusher: Flusher | None
    oauth: IntegrationAuthorizationServer
    metadata: PrivateIntegrationMetadata
    config: dict
    limits: RequestLimits | None = None

    def lifetimes(self) -> dict:
        return {
            "default_lifetime": self.config["AUTHSERVER_DEFAULT_TOKEN_LIFETIME"],
            "max_lifetime": self.config["AUTHSERVER_MAX_TOKEN_LIFETIME"],
        }


def build_services(app, clock=None) -> Services:
    config = app.config
    if clock is None:
        offset_file = config.get("AUTHSERVER_CLOCK_OFFSET_FILE")
        clock = OffsetFileClock(offset_file) if offset_file else SystemClock()
    issuer, audience = config["AUTHSERVER_ISSUER"], config["AUTHSERVER_AUDIENCE"]
    keystore = KeyStore(config["AUTHSERVER_KEYS_DIR"], config["AUTHSERVER_SIGNING_ALG"],
                        prepublish=config["AUTHSERVER_KEY_PREPUBLISH"])
    verifier = TokenVerifier(keystore, issuer, audience)
    limits = build_limits(config, clock)
    generator: IntegrationTokenGenerator = RateLimitedTokenGenerator(issuer, audience, keystore, limits)
    app.extensions["authserver_signin_limiter"] = build_signin_limiter(config)
    activity = ActivityBuffer() if config["AUTHSERVER_ACTIVITY_TRACKING"] else None
    flusher = None
    if activity is not None:
        stage = None
        if config.get("REDIS_URL"):
            stage = RedisActivityStage(config["REDIS_URL"], config["REDIS_KEY_PREFIX"])
        flusher = Flusher(app, activity, config["AUTHSERVER_ACTIVITY_FLUSH_INTERVAL"], stage)

    from .accounts import descendants

    oauth = IntegrationAuthorizationServer(limits, clock=clock,
                                           last_used_interval=config["AUTHSERVER_ACTIVITY_FLUSH_INTERVAL"])
    oauth.init_app(app)
    oauth.register_endpoint(TokenIntrospectionEndpoint(oauth, verifier=verifier, clock=clock, activity=activity,
                                                       issuer=issuer))
    oauth.register_endpoint(TokenRevocationEndpoint(
        oauth, verifier=verifier, clock=clock,
        admin_scope=lambda account_id: descendants({account_id}) if account_id else frozenset(),
    ))
    metadata = build_metadata(issuer, ["RS256", "ES256", "EdDSA"])
    return Services(clock=clock, keystore=keystore, verifier=verifier, generator=generator, activity=activity,
                    flusher=flusher, oauth=oauth, metadata=metadata, config=config, limits=limits)
