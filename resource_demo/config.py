"""Configuration from the environment: the only module that reads ``os.environ``.

Everything about the authorization server except its URL is discovered from its RFC 8414 metadata, so a v2 service
needs just the issuer and its own resource-service client credentials. Unsafe values stop the service at start-up.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

MODES = ("introspection", "local")


class ConfigError(Exception):
    """A configuration value the service must not start with."""


def _number(env: dict, name: str, default: float, *, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low:g} and {high:g}")
    return value


def _switch(env: dict, name: str, default: bool) -> bool:
    raw = env.get(name, "")
    if raw == "":
        return default
    if raw not in ("on", "off"):
        raise ConfigError(f"{name} must be on or off")
    return raw == "on"


def load_config(instance_path: Path, overrides: dict | None = None) -> dict:
    env = os.environ
    config: dict = {
        "AUTHSERVER_URL": env.get("AUTHSERVER_URL", ""),
        "RESOURCE_DEMO_CLIENT_ID": env.get("RESOURCE_DEMO_CLIENT_ID", ""),
        "RESOURCE_DEMO_CLIENT_SECRET": env.get("RESOURCE_DEMO_CLIENT_SECRET", ""),
        "RESOURCE_DEMO_MODE": env.get("RESOURCE_DEMO_MODE", "introspection"),
        "RESOURCE_DEMO_HOST": env.get("RESOURCE_DEMO_HOST", "127.0.0.1"),
        "RESOURCE_DEMO_PORT": int(_number(env, "RESOURCE_DEMO_PORT", 5100, low=0, high=65535)),
        "SQLALCHEMY_DATABASE_URI": env.get("RESOURCE_DEMO_DATABASE_URL")
        or f"sqlite:///{Path(instance_path) / 'resource_demo.db'}",
        # The server's default audience (AUTHSERVER_AUDIENCE): tokens of integrations not limited to named services.
        "RESOURCE_DEMO_AUDIENCE": env.get("RESOURCE_DEMO_AUDIENCE", "https://api.example.com/v2"),
        # This service's resource URI (RFC 8707; the `resource` of its RFC 9728 document). Tokens limited to named
        # services must name it in `aud`. Unset: the audience above.
        "RESOURCE_DEMO_RESOURCE": env.get("RESOURCE_DEMO_RESOURCE", ""),
        # How long a verdict may be served without asking the authorization server again: cached introspection
        # answers, and in local mode the revocation state while the event feed is down. Never past a token's exp.
        "RESOURCE_DEMO_CACHE_TTL": _number(env, "RESOURCE_DEMO_CACHE_TTL", 30, low=0, high=300),
        "RESOURCE_DEMO_NEGATIVE_CACHE_TTL": _number(env, "RESOURCE_DEMO_NEGATIVE_CACHE_TTL", 5, low=0, high=60),
        # Local mode: the least time between two JWKS fetches caused by an unknown kid.
        "RESOURCE_DEMO_JWKS_REFETCH_INTERVAL": _number(
            env, "RESOURCE_DEMO_JWKS_REFETCH_INTERVAL", 10, low=0.1, high=3600
        ),
        # How often batched token use (calls, scopes needed) is reported to the authorization server.
        "RESOURCE_DEMO_USAGE_INTERVAL": _number(env, "RESOURCE_DEMO_USAGE_INTERVAL", 5, low=0.1, high=300),
        # Long-poll length on the event feed; a hung connection is noticed within this plus a few seconds.
        "RESOURCE_DEMO_FEED_WAIT": _number(env, "RESOURCE_DEMO_FEED_WAIT", 10, low=1, high=25),
        "RESOURCE_DEMO_HTTP_TIMEOUT": _number(env, "RESOURCE_DEMO_HTTP_TIMEOUT", 3, low=0.1, high=60),
        # DPoP (RFC 9449): the URL clients call this service at, e.g. https://crm.example.com (a proof's htu is the
        # URL the client used; behind a proxy this process sees another). Unset: each request's scheme and Host.
        "RESOURCE_DEMO_PUBLIC_URL": env.get("RESOURCE_DEMO_PUBLIC_URL", ""),
        # How old (and how far in the future) a DPoP proof's iat may be, in seconds.
        "RESOURCE_DEMO_DPOP_MAX_AGE": _number(env, "RESOURCE_DEMO_DPOP_MAX_AGE", 60, low=1, high=3600),
        "RESOURCE_DEMO_DPOP_CLOCK_SKEW": _number(env, "RESOURCE_DEMO_DPOP_CLOCK_SKEW", 5, low=0, high=300),
        # A Redis shared by every instance, so a DPoP proof replayed to another instance is refused too
        # (redis://host:port/db). Unset: each process remembers the proofs it saw.
        "RESOURCE_DEMO_DPOP_REPLAY_REDIS_URL": env.get("RESOURCE_DEMO_DPOP_REPLAY_REDIS_URL", ""),
        # Optional DPoP nonces (RFC 9449 section 9): a secret of 32+ characters shared by every instance; proofs must
        # then carry a nonce from this service's DPoP-Nonce header. Unset: no nonces.
        "RESOURCE_DEMO_DPOP_NONCE_SECRET": env.get("RESOURCE_DEMO_DPOP_NONCE_SECRET", ""),
        "RESOURCE_DEMO_DPOP_NONCE_LIFETIME": _number(env, "RESOURCE_DEMO_DPOP_NONCE_LIFETIME", 300, low=10, high=3600),
        # RFC 9701 (introspection mode): ask for signed introspection answers and verify them: on | off. An answer
        # that does not verify, or comes unsigned, is a 503 ("cannot know"), never a grant.
        "RESOURCE_DEMO_SIGNED_INTROSPECTION": _switch(env, "RESOURCE_DEMO_SIGNED_INTROSPECTION", False),
        # Testing only: a file holding a clock offset in seconds, so end-to-end tests can move this service's time.
        "RESOURCE_DEMO_CLOCK_OFFSET_FILE": env.get("RESOURCE_DEMO_CLOCK_OFFSET_FILE") or None,
        # Publish contact and calendar changes as data events (POST /api/service-events): on | off. The client must
        # be bound to an account (authserver client create --kind resource-service --account ...).
        "RESOURCE_DEMO_PUBLISH_EVENTS": _switch(env, "RESOURCE_DEMO_PUBLISH_EVENTS", True),
        "MAX_CONTENT_LENGTH": 1024 * 1024,  # larger bodies are a 413, never read
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "JSON_SORT_KEYS": False,
    }
    config.update(overrides or {})
    config["AUTHSERVER_URL"] = config["AUTHSERVER_URL"].rstrip("/")
    uri = config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite"):
        config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"connect_args": {"timeout": 15}})
    validate_config(config)
    return config


def validate_config(config: dict) -> None:
    issuer = urlsplit(config["AUTHSERVER_URL"])
    if issuer.scheme not in ("http", "https") or not issuer.netloc:
        raise ConfigError("AUTHSERVER_URL must be the authorization server's issuer URL, e.g. http://127.0.0.1:5000")
    if issuer.scheme == "http" and issuer.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError("AUTHSERVER_URL must use https unless it is a loopback address")
    if not config["RESOURCE_DEMO_CLIENT_ID"] or not config["RESOURCE_DEMO_CLIENT_SECRET"]:
        raise ConfigError(
            "RESOURCE_DEMO_CLIENT_ID and RESOURCE_DEMO_CLIENT_SECRET are required "
            "(authserver client create --kind resource-service)"
        )
    if config["RESOURCE_DEMO_MODE"] not in MODES:
        raise ConfigError(f"RESOURCE_DEMO_MODE must be one of {', '.join(MODES)}")
    if not config["RESOURCE_DEMO_AUDIENCE"]:
        raise ConfigError("RESOURCE_DEMO_AUDIENCE must not be empty")
