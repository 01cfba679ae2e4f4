"""The per-app service objects (clock, keys, verifier, minting, limits, activity, the authlib server, the event bus,
Redis), built once by ``create_app`` and reached through ``services()``: one typed accessor, one extensions key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from flask import Flask, current_app

from .accounts import descendants
from .activity import ActivityBuffer, Flusher, RedisActivityStage
from .bus import EventBus
from .clock import Clock, OffsetFileClock, SystemClock
from .keys import KeyStore
from .limits.build import build_limits, build_signin_limiter
from .limits.rates import RateLimitedTokenGenerator, RequestLimits
from .limits.signin import SignInLimiter
from .oauth.introspection import TokenIntrospectionEndpoint
from .oauth.metadata import PrivateIntegrationMetadata, build_metadata
from .oauth.revocation import TokenRevocationEndpoint
from .oauth.server import IntegrationAuthorizationServer
from .redis_client import connect_redis
from .token_policy import TokenPolicy
from .tokens import IntegrationTokenGenerator, TokenVerifier
from .webhooks.signing import WebhookKeys

_KEY = "authserver"


@dataclass
class Services:
    clock: Clock
    keystore: KeyStore
    verifier: TokenVerifier
    generator: IntegrationTokenGenerator
    activity: ActivityBuffer | None
    flusher: Flusher | None
    oauth: IntegrationAuthorizationServer
    metadata: PrivateIntegrationMetadata
    config: dict[str, Any]
    limits: RequestLimits
    policy: TokenPolicy  # the generator and lifetimes every token verb takes
    signin_limiter: SignInLimiter  # failed password checks, per account and per address
    bus: EventBus  # wakes the feed's long polls after a commit that wrote token events
    webhook_keys: WebhookKeys  # the webhook signing key, read or created on first use
    redis: redis.Redis | None = None  # the one client every Redis user shares; None without REDIS_URL


def services(app: Flask | None = None) -> Services:
    """The services of ``app``, or of the current app: the one way in (no string keys elsewhere)."""
    return (app if app is not None else current_app).extensions[_KEY]


def init_app(app: Flask, clock: Clock | None = None) -> Services:
    app.extensions[_KEY] = built = build_services(app, clock)
    return built


def build_services(app: Flask, clock: Clock | None = None) -> Services:
    config = app.config
    if clock is None:
        offset_file = config.get("AUTHSERVER_CLOCK_OFFSET_FILE")
        clock = OffsetFileClock(offset_file) if offset_file else SystemClock()
    issuer, audience = config["AUTHSERVER_ISSUER"], config["AUTHSERVER_AUDIENCE"]
    prefix = config["REDIS_KEY_PREFIX"]
    client = connect_redis(config["REDIS_URL"]) if config.get("REDIS_URL") else None
    keystore = KeyStore(
        config["AUTHSERVER_KEYS_DIR"], config["AUTHSERVER_SIGNING_ALG"], prepublish=config["AUTHSERVER_KEY_PREPUBLISH"]
    )
    verifier = TokenVerifier(keystore, issuer, audience)
    limits = build_limits(config, clock, client)
    generator: IntegrationTokenGenerator = RateLimitedTokenGenerator(issuer, audience, keystore, limits)
    activity = ActivityBuffer() if config["AUTHSERVER_ACTIVITY_TRACKING"] else None
    flusher = None
    if activity is not None:
        stage = RedisActivityStage(client, prefix) if client is not None else None
        flusher = Flusher(app, activity, config["AUTHSERVER_ACTIVITY_FLUSH_INTERVAL"], stage)

    oauth = IntegrationAuthorizationServer(
        limits, clock=clock, last_used_interval=config["AUTHSERVER_ACTIVITY_FLUSH_INTERVAL"]
    )
    oauth.init_app(app)
    oauth.register_endpoint(
        TokenIntrospectionEndpoint(oauth, verifier=verifier, clock=clock, activity=activity, issuer=issuer)
    )
    oauth.register_endpoint(
        TokenRevocationEndpoint(
            oauth,
            verifier=verifier,
            clock=clock,
            admin_scope=lambda account_id: descendants({account_id}) if account_id else frozenset(),
        )
    )
    metadata = build_metadata(issuer, ["RS256", "ES256", "EdDSA"])
    return Services(
        clock=clock,
        keystore=keystore,
        verifier=verifier,
        generator=generator,
        activity=activity,
        flusher=flusher,
        oauth=oauth,
        metadata=metadata,
        config=config,
        limits=limits,
        policy=TokenPolicy.from_config(generator, config),
        signin_limiter=build_signin_limiter(config, client),
        bus=EventBus(client, prefix),
        webhook_keys=WebhookKeys(config["AUTHSERVER_KEYS_DIR"]),
        redis=client,
    )
