"""Configuration: defaults plus AUTHSERVER_* environment variables.

This is the only module that reads ``os.environ``; it refuses unsafe values at start-up rather than at first use.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from .durations import MAX_SECONDS

SUPPORTED_SIGNING_ALGS = ("RS256", "ES256", "EdDSA")


class ConfigError(Exception):
    """A configuration value that the server must not start with."""


def _instance_secret(instance_path: Path) -> str:
    """Flask's SECRET_KEY, generated once per instance folder so sessions survive restarts."""
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def load_config(instance_path: Path, overrides: dict | None = None) -> dict:
    """Build the app config from defaults, the environment and explicit overrides (tests)."""
    env = os.environ
    overrides = dict(overrides or {})
    instance_path = Path(instance_path)
    config: dict = {
        "AUTHSERVER_ISSUER": env.get("AUTHSERVER_ISSUER", "http://127.0.0.1:5000"),
        "AUTHSERVER_AUDIENCE": env.get("AUTHSERVER_AUDIENCE", "https://api.example.com/v2"),
        "AUTHSERVER_KEYS_DIR": env.get("AUTHSERVER_KEYS_DIR", "keys"),
        "AUTHSERVER_SIGNING_ALG": env.get("AUTHSERVER_SIGNING_ALG", "RS256"),
        # How long `keys rotate` publishes a new key before it signs: the JWKS max-age (300 s), so a resource service
        # honouring it has the key before its first token. Seconds, or 30s, 15m, 2h, 1d; 0 signs at once.
        "AUTHSERVER_KEY_PREPUBLISH": env.get("AUTHSERVER_KEY_PREPUBLISH", "300"),
        "SQLALCHEMY_DATABASE_URI": env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'authserver.db'}",
        # Tokens never outlive this unless an account allows less.
        "AUTHSERVER_MAX_TOKEN_LIFETIME": int(env.get("AUTHSERVER_MAX_TOKEN_LIFETIME", 365 * 86400)),
        "AUTHSERVER_DEFAULT_TOKEN_LIFETIME": int(env.get("AUTHSERVER_DEFAULT_TOKEN_LIFETIME", 90 * 86400)),
        # How often buffered token activity is written to the database (seconds).
        "AUTHSERVER_ACTIVITY_FLUSH_INTERVAL": float(env.get("AUTHSERVER_ACTIVITY_FLUSH_INTERVAL", 2.0)),
        "AUTHSERVER_ACTIVITY_TRACKING": env.get("AUTHSERVER_ACTIVITY_TRACKING", "on") != "off",
        "AUTHSERVER_AUTO_MIGRATE": env.get("AUTHSERVER_AUTO_MIGRATE", "on") != "off",
        # `authserver serve`: worker processes (default: one per CPU) and request threads in each; threads past
        # the first serve long polls (/oauth/events), throughput comes from processes (docs/performance.md).
        "AUTHSERVER_WORKERS": env.get("AUTHSERVER_WORKERS") or str(os.cpu_count() or 1),
        "AUTHSERVER_THREADS": env.get("AUTHSERVER_THREADS", "8"),
        # Testing only: a file holding a clock offset in seconds, so end-to-end tests can move server time.
        "AUTHSERVER_CLOCK_OFFSET_FILE": env.get("AUTHSERVER_CLOCK_OFFSET_FILE"),
        # Optional: fan-out of token events across instances, shared counters.
        "REDIS_URL": env.get("REDIS_URL") or None,
        "REDIS_KEY_PREFIX": env.get("AUTHSERVER_REDIS_PREFIX", "authserver"),
        # Rate limits, "N/period" (e.g. 6000/1m) or "off": per client on introspection and revocation, per account
        # on token generation; failed sign-ins per account (email) and per address. Shared through Redis if set.
        "AUTHSERVER_RATE_LIMIT_INTROSPECTION": env.get("AUTHSERVER_RATE_LIMIT_INTROSPECTION", "6000/1m"),
        "AUTHSERVER_RATE_LIMIT_REVOCATION": env.get("AUTHSERVER_RATE_LIMIT_REVOCATION", "600/1m"),
        "AUTHSERVER_RATE_LIMIT_TOKEN_GENERATION": env.get("AUTHSERVER_RATE_LIMIT_TOKEN_GENERATION", "300/1h"),
        "AUTHSERVER_SIGNIN_ACCOUNT_LIMIT": env.get("AUTHSERVER_SIGNIN_ACCOUNT_LIMIT", "5/15m"),
        "AUTHSERVER_SIGNIN_ADDRESS_LIMIT": env.get("AUTHSERVER_SIGNIN_ADDRESS_LIMIT", "20/15m"),
        # How long a request waits for a database lock held by someone else before failing (503) instead of
        # hanging: SQLite's busy timeout, PostgreSQL's lock_timeout (seconds).
        "AUTHSERVER_DB_LOCK_TIMEOUT": float(env.get("AUTHSERVER_DB_LOCK_TIMEOUT", 15.0)),
        # Webhooks: non-public destinations (IPs or CIDRs, comma-separated) an operator allows, plain http, timing.
        "AUTHSERVER_WEBHOOK_ALLOW_HOSTS": [
            h.strip() for h in env.get("AUTHSERVER_WEBHOOK_ALLOW_HOSTS", "").split(",") if h.strip()
        ],
        "AUTHSERVER_WEBHOOK_ALLOW_HTTP": env.get("AUTHSERVER_WEBHOOK_ALLOW_HTTP", "off") == "on",
        "AUTHSERVER_WEBHOOK_TIMEOUT": float(env.get("AUTHSERVER_WEBHOOK_TIMEOUT", 15.0)),
        "AUTHSERVER_WEBHOOK_RETRY_BASE": float(env.get("AUTHSERVER_WEBHOOK_RETRY_BASE", 5.0)),
        "AUTHSERVER_WEBHOOK_POLL_INTERVAL": float(env.get("AUTHSERVER_WEBHOOK_POLL_INTERVAL", 1.0)),
        "AUTHSERVER_WEBHOOK_WORKER": env.get("AUTHSERVER_WEBHOOK_WORKER", "off"),  # off | in-process
        # The access log, one JSON line per request: "batched" (written every 0.5 s or 200 lines), "immediate", "off".
        "AUTHSERVER_ACCESS_LOG": env.get("AUTHSERVER_ACCESS_LOG", "batched"),
        # Reverse proxies in front of the server (load balancer, ingress) whose X-Forwarded-For/-Proto/-Host/-Port
        # headers are believed: 0 (default) believes none. Set it to the number of proxies that add those headers,
        # so that a TLS-terminating proxy's https is seen as https and rate limits see the caller, not the proxy.
        "AUTHSERVER_TRUSTED_PROXIES": env.get("AUTHSERVER_TRUSTED_PROXIES", "0"),
        # Bodies past this are refused with 413 before they are read (a usage report of 5000 items fits).
        "MAX_CONTENT_LENGTH": int(env.get("AUTHSERVER_MAX_REQUEST_BYTES", 1024 * 1024)),
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "JSON_SORT_KEYS": False,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
    }
    config.update(overrides)
    for key in RATE_LIMIT_KEYS:
        config[key] = parse_rate(config[key], key)
    if "SECRET_KEY" not in config:
        config["SECRET_KEY"] = env.get("AUTHSERVER_SECRET_KEY") or _instance_secret(instance_path)
    config["AUTHSERVER_ISSUER"] = config["AUTHSERVER_ISSUER"].rstrip("/") or config["AUTHSERVER_ISSUER"]
    config["SESSION_COOKIE_SECURE"] = config["AUTHSERVER_ISSUER"].startswith("https://")
    _engine_options(config)
    validate_config(config)
    return config


RATE_LIMIT_KEYS = (
    "AUTHSERVER_RATE_LIMIT_INTROSPECTION",
    "AUTHSERVER_RATE_LIMIT_REVOCATION",
    "AUTHSERVER_RATE_LIMIT_TOKEN_GENERATION",
    "AUTHSERVER_SIGNIN_ACCOUNT_LIMIT",
    "AUTHSERVER_SIGNIN_ADDRESS_LIMIT",
)
_RATE = re.compile(r"^([1-9][0-9]{0,8})/([1-9][0-9]{0,6})([smhd])$")
_RATE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(value: object, key: str) -> tuple[int, int] | None:
    """ "N/period" as (N, seconds); "off" (not for sign-in) as None."""
    if value is None or isinstance(value, tuple):
        return value
    text = str(value).strip().lower()
    if text == "off" and not key.startswith("AUTHSERVER_SIGNIN_"):
        return None
    match = _RATE.match(text)
    if not match:
        raise ConfigError(
            f'{key} must look like "100/1s", "20/15m" or "300/1h"'
            + ("" if key.startswith("AUTHSERVER_SIGNIN_") else ' (or "off")')
        )
    return int(match.group(1)), int(match.group(2)) * _RATE_UNITS[match.group(3)]


def _engine_options(config: dict) -> None:
    uri = config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgres://"):
        uri = "postgresql://" + uri[len("postgres://") :]
    if uri.startswith("postgresql://"):
        uri = "postgresql+psycopg://" + uri[len("postgresql://") :]
    config["SQLALCHEMY_DATABASE_URI"] = uri
    options = config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    if uri.startswith("sqlite"):
        # Writers wait for each other instead of failing at once; WAL is set per connection in db.py.
        options.setdefault("connect_args", {"timeout": config["AUTHSERVER_DB_LOCK_TIMEOUT"]})
    else:
        options.setdefault("pool_pre_ping", True)
        # An unreachable database fails in seconds and a lock held elsewhere fails after the timeout: not hangs.
        lock_ms = int(config["AUTHSERVER_DB_LOCK_TIMEOUT"] * 1000)
        options.setdefault("connect_args", {"connect_timeout": 5, "options": f"-c lock_timeout={lock_ms}"})


_WINDOW = re.compile(r"^([0-9]{1,7})([smhd]?)$")


def _prepublish_seconds(value: object) -> int:
    """Whole seconds from 0 to 7 days; a unit suffix (s, m, h, d) is allowed."""
    match = _WINDOW.match(str(value).strip().lower())
    seconds = int(match.group(1)) * _RATE_UNITS[match.group(2) or "s"] if match else -1
    if not 0 <= seconds <= 7 * 86400:
        raise ConfigError("AUTHSERVER_KEY_PREPUBLISH must be a duration from 0 to 7d, like 300, 5m or 1h")
    return seconds


def validate_config(config: dict) -> None:
    """Refuse to start on values that would make tokens unverifiable or insecure."""
    for key in ("AUTHSERVER_WORKERS", "AUTHSERVER_THREADS"):
        if not str(config[key]).isdigit() or not 1 <= int(config[key]) <= 64:
            raise ConfigError(f"{key} must be a whole number from 1 to 64")
        config[key] = int(config[key])
    if config["AUTHSERVER_ACCESS_LOG"] not in ("batched", "immediate", "off"):
        raise ConfigError("AUTHSERVER_ACCESS_LOG must be batched, immediate or off")
    if not str(config["AUTHSERVER_TRUSTED_PROXIES"]).isdigit() or int(config["AUTHSERVER_TRUSTED_PROXIES"]) > 5:
        raise ConfigError("AUTHSERVER_TRUSTED_PROXIES must be a whole number from 0 to 5")
    config["AUTHSERVER_TRUSTED_PROXIES"] = int(config["AUTHSERVER_TRUSTED_PROXIES"])
    issuer = urlsplit(config["AUTHSERVER_ISSUER"])
    if issuer.scheme not in ("http", "https") or not issuer.netloc:
        raise ConfigError("AUTHSERVER_ISSUER must be an absolute http(s) URL")
    if issuer.query or issuer.fragment:
        raise ConfigError("AUTHSERVER_ISSUER must not have a query or fragment (RFC 8414 section 2)")
    if issuer.scheme == "http" and issuer.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError("AUTHSERVER_ISSUER must use https unless it is a loopback address")
    if config["AUTHSERVER_SIGNING_ALG"] not in SUPPORTED_SIGNING_ALGS:
        raise ConfigError(f"AUTHSERVER_SIGNING_ALG must be one of {', '.join(SUPPORTED_SIGNING_ALGS)}")
    config["AUTHSERVER_KEY_PREPUBLISH"] = _prepublish_seconds(config["AUTHSERVER_KEY_PREPUBLISH"])
    if not config["AUTHSERVER_AUDIENCE"]:
        raise ConfigError("AUTHSERVER_AUDIENCE must not be empty")
    for key in ("AUTHSERVER_DEFAULT_TOKEN_LIFETIME", "AUTHSERVER_MAX_TOKEN_LIFETIME"):
        if not 60 <= config[key] <= MAX_SECONDS:  # a token's exp must be a time the calendar and database hold
            raise ConfigError(f"{key} must be between 60 seconds and 50 years")
    if config["AUTHSERVER_DEFAULT_TOKEN_LIFETIME"] > config["AUTHSERVER_MAX_TOKEN_LIFETIME"]:
        raise ConfigError("AUTHSERVER_DEFAULT_TOKEN_LIFETIME exceeds AUTHSERVER_MAX_TOKEN_LIFETIME")
    for allowed in config["AUTHSERVER_WEBHOOK_ALLOW_HOSTS"]:
        try:
            ipaddress.ip_network(allowed, strict=False)
        except ValueError:
            raise ConfigError(f"AUTHSERVER_WEBHOOK_ALLOW_HOSTS: {allowed!r} is not an IP or CIDR") from None
    if config["AUTHSERVER_WEBHOOK_WORKER"] not in ("off", "in-process"):
        raise ConfigError("AUTHSERVER_WEBHOOK_WORKER must be off or in-process")
