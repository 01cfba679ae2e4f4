"""How this service is protected: the ``authserver_resource`` guard, built from its configuration.

Everything about tokens (introspection or local JWT checks, the cache, the event feed, fail-closed rules, RFC 6750
refusals, RFC 9728 metadata, usage reports, DPoP proofs for key-bound tokens) is the package's; this module only maps
RESOURCE_DEMO_* settings onto it and counts verdicts for /metrics. Views use ``authserver_resource.flask.require``
and ``current_grant``.
"""

from __future__ import annotations

from authserver_resource import Guard, Settings, SettingsError
from authserver_resource.clock import OffsetFileClock, SystemClock

from .config import ConfigError
from .metrics import VERDICTS

SCOPES = ("contacts.readonly", "contacts.write", "calendars.readonly", "calendars.write")


def build_guard(config: dict, clock=None) -> Guard:
    try:
        settings = _settings(config)
    except SettingsError as exc:
        raise ConfigError(str(exc)) from None
    return Guard(settings, clock=clock or clock_from_config(config), on_verdict=_count_verdict)


def _settings(config: dict) -> Settings:
    return Settings(
        issuer=config["AUTHSERVER_URL"],
        client_id=config["RESOURCE_DEMO_CLIENT_ID"],
        client_secret=config["RESOURCE_DEMO_CLIENT_SECRET"],
        mode=config["RESOURCE_DEMO_MODE"],
        resource=config["RESOURCE_DEMO_RESOURCE"],
        audience=config["RESOURCE_DEMO_AUDIENCE"],
        scopes_supported=SCOPES,
        cache_ttl=config["RESOURCE_DEMO_CACHE_TTL"],
        negative_cache_ttl=config["RESOURCE_DEMO_NEGATIVE_CACHE_TTL"],
        jwks_refetch_interval=config["RESOURCE_DEMO_JWKS_REFETCH_INTERVAL"],
        usage_interval=config["RESOURCE_DEMO_USAGE_INTERVAL"],
        feed_wait=config["RESOURCE_DEMO_FEED_WAIT"],
        http_timeout=config["RESOURCE_DEMO_HTTP_TIMEOUT"],
        user_agent="resource_demo/0.1",
        public_url=config["RESOURCE_DEMO_PUBLIC_URL"],
        dpop_max_age=config["RESOURCE_DEMO_DPOP_MAX_AGE"],
        dpop_clock_skew=config["RESOURCE_DEMO_DPOP_CLOCK_SKEW"],
        dpop_replay_redis_url=config["RESOURCE_DEMO_DPOP_REPLAY_REDIS_URL"],
        dpop_nonce_secret=config["RESOURCE_DEMO_DPOP_NONCE_SECRET"],
        dpop_nonce_lifetime=config["RESOURCE_DEMO_DPOP_NONCE_LIFETIME"],
        signed_introspection=config.get("RESOURCE_DEMO_SIGNED_INTROSPECTION", False),
    )


def clock_from_config(config: dict):
    """Testing only: RESOURCE_DEMO_CLOCK_OFFSET_FILE lets end-to-end tests move this service's clock."""
    path = config.get("RESOURCE_DEMO_CLOCK_OFFSET_FILE")
    return OffsetFileClock(path) if path else SystemClock()


def _count_verdict(source: str) -> None:
    VERDICTS.labels(source).inc()
