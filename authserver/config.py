"""Configuration: defaults plus AUTHSERVER_* environment variables.

This is the only module that reads ``os.environ``; it refuses unsafe values at start-up rather than at first use.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from .config_values import (
    ConfigError,
    choice,
    duration_seconds,
    optional_duration,
    scanner_keys_url,
    whole_number,
    whole_seconds,
)
from .cpu_quota import available_cpus
from .durations import MAX_SECONDS

__all__ = ["ConfigError", "load_config", "parse_rate", "validate_config"]

SUPPORTED_SIGNING_ALGS = ("RS256", "ES256", "EdDSA")
LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_WORKER_CAP = 32
"""Without AUTHSERVER_WORKERS, one worker per usable CPU, at most this many: past it, the database's connections
and the per-worker memory cost more than another process gains (set AUTHSERVER_WORKERS to go further)."""
MAX_WORKERS = 512

SECRET_SETTINGS = ("DATABASE_URL", "AUTHSERVER_SECRET_KEY", "REDIS_URL", "AUTHSERVER_SMTP_URL")
"""Settings that may instead name a file holding the value (``DATABASE_URL_FILE``): Docker and Kubernetes secrets."""


def _secret_settings(env) -> dict[str, str | None]:
    """Each secret setting from its variable or from the file its ``_FILE`` twin names (trimmed), never both."""
    values: dict[str, str | None] = {}
    for name in SECRET_SETTINGS:
        direct, file_name = env.get(name), env.get(f"{name}_FILE")
        if direct and file_name:
            raise ConfigError(f"{name} and {name}_FILE are both set; set only one")
        if not file_name:
            values[name] = direct or None
            continue
        try:
            content = Path(file_name).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc.__class__.__name__
            raise ConfigError(f"{name}_FILE: cannot read {file_name}: {reason}") from None
        if not content:
            raise ConfigError(f"{name}_FILE: {file_name} is empty")
        values[name] = content
    return values


def _instance_secret(instance_path: Path) -> str:
    """Flask's SECRET_KEY, generated once per instance folder so sessions survive restarts.

    Written whole under a private name (mode 0600), then linked into place: of processes starting at the same moment
    (several workers, or CLI commands, on a first start) one link wins and the others read its complete file, never
    a half-written one, and none fails."""
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd, staged = tempfile.mkstemp(dir=instance_path, prefix=".secret_key.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(value)
        try:
            os.link(staged, path)
        except FileExistsError:
            return path.read_text().strip()
    finally:
        os.unlink(staged)
    return value


def load_config(instance_path: Path, overrides: dict | None = None) -> dict:
    """Build the app config from defaults, the environment and explicit overrides (tests)."""
    env = os.environ
    overrides = dict(overrides or {})
    instance_path = Path(instance_path)
    secrets_from_env = _secret_settings(env)
    config: dict = {
        "AUTHSERVER_ISSUER": env.get("AUTHSERVER_ISSUER", "http://127.0.0.1:5000"),
        "AUTHSERVER_AUDIENCE": env.get("AUTHSERVER_AUDIENCE", "https://api.example.com/v2"),
        "AUTHSERVER_KEYS_DIR": env.get("AUTHSERVER_KEYS_DIR", "keys"),
        "AUTHSERVER_SIGNING_ALG": env.get("AUTHSERVER_SIGNING_ALG", "RS256"),
        # How long `keys rotate` publishes a new key before it signs: the JWKS max-age (300 s), so a resource service
        # honouring it has the key before its first token. Seconds, or 30s, 15m, 2h, 1d; 0 signs at once.
        "AUTHSERVER_KEY_PREPUBLISH": env.get("AUTHSERVER_KEY_PREPUBLISH", "300"),
        "SQLALCHEMY_DATABASE_URI": secrets_from_env["DATABASE_URL"] or f"sqlite:///{instance_path / 'authserver.db'}",
        # Tokens never outlive this unless an account allows less. Every duration takes seconds or a unit (90d).
        "AUTHSERVER_MAX_TOKEN_LIFETIME": env.get("AUTHSERVER_MAX_TOKEN_LIFETIME", "365d"),
        "AUTHSERVER_DEFAULT_TOKEN_LIFETIME": env.get("AUTHSERVER_DEFAULT_TOKEN_LIFETIME", "90d"),
        # How often buffered token activity is written to the database.
        "AUTHSERVER_ACTIVITY_FLUSH_INTERVAL": env.get("AUTHSERVER_ACTIVITY_FLUSH_INTERVAL", "2s"),
        "AUTHSERVER_ACTIVITY_TRACKING": env.get("AUTHSERVER_ACTIVITY_TRACKING", "on") != "off",
        "AUTHSERVER_AUTO_MIGRATE": env.get("AUTHSERVER_AUTO_MIGRATE", "on") != "off",
        # How long a start or `authserver db upgrade|downgrade` waits for another instance's migration (the
        # migration lock, docs/schema-migrations.md) before it gives up with a one-line error.
        "AUTHSERVER_MIGRATION_LOCK_TIMEOUT": env.get("AUTHSERVER_MIGRATION_LOCK_TIMEOUT", "10m"),
        # `authserver serve`: worker processes (default: one per usable CPU, from the affinity mask and the
        # container's cgroup quota, at most DEFAULT_WORKER_CAP) and request threads in each; threads past the first
        # serve long polls (/oauth/events), throughput comes from processes (docs/performance.md).
        "AUTHSERVER_WORKERS": env.get("AUTHSERVER_WORKERS") or min(available_cpus(), DEFAULT_WORKER_CAP),
        "AUTHSERVER_THREADS": env.get("AUTHSERVER_THREADS", "8"),
        # `authserver serve`: the workers' metric files go in authserver-metrics-<port> under this directory
        # (default: the system's temporary directory), created and wiped at each start (docs/metrics.md).
        "AUTHSERVER_METRICS_DIR": env.get("AUTHSERVER_METRICS_DIR") or tempfile.gettempdir(),
        # Where `authserver run`/`serve` listen; the port defaults to AUTHSERVER_ISSUER's (5000).
        "AUTHSERVER_HOST": env.get("AUTHSERVER_HOST", "127.0.0.1"),
        "AUTHSERVER_PORT": env.get("AUTHSERVER_PORT") or None,
        # The server's log lines at this level and above: debug, info, warning, error.
        "AUTHSERVER_LOG_LEVEL": env.get("AUTHSERVER_LOG_LEVEL", "info"),
        # Testing only: a file holding a clock offset in seconds, so end-to-end tests can move server time.
        "AUTHSERVER_CLOCK_OFFSET_FILE": env.get("AUTHSERVER_CLOCK_OFFSET_FILE"),
        # Optional: fan-out of token events across instances, shared counters.
        "REDIS_URL": secrets_from_env["REDIS_URL"],
        "REDIS_KEY_PREFIX": env.get("AUTHSERVER_REDIS_PREFIX", "authserver"),
        # Rate limits, "N/period" (e.g. 600/1m) or "off": per client on introspection and revocation, per account
        # on token generation; failed sign-ins per account (email) and per address. Shared through Redis if set.
        # Introspection: a resource service at full speed must never be throttled by default (bench/limits.py).
        # One worker answers ~3,500-4,000/s on the reference box (2 CPUs, ~7,600/s in all); without Redis each of
        # W workers grants N/W, and one client's connections may all reach one worker. 300000/1s leaves each of
        # 32 workers (the default cap) ~9,400/s, over twice what a worker can answer, so only a client sending
        # more than a whole large instance serves is refused. Tighter per client: `authserver client set-limit`.
        "AUTHSERVER_RATE_LIMIT_INTROSPECTION": env.get("AUTHSERVER_RATE_LIMIT_INTROSPECTION", "300000/1s"),
        "AUTHSERVER_RATE_LIMIT_REVOCATION": env.get("AUTHSERVER_RATE_LIMIT_REVOCATION", "600/1m"),
        "AUTHSERVER_RATE_LIMIT_TOKEN_GENERATION": env.get("AUTHSERVER_RATE_LIMIT_TOKEN_GENERATION", "300/1h"),
        # POST /api/service-events, per publishing resource service: generous, a guard against a runaway loop.
        "AUTHSERVER_RATE_LIMIT_SERVICE_EVENTS": env.get("AUTHSERVER_RATE_LIMIT_SERVICE_EVENTS", "6000/1m"),
        "AUTHSERVER_SIGNIN_ACCOUNT_LIMIT": env.get("AUTHSERVER_SIGNIN_ACCOUNT_LIMIT", "5/15m"),
        "AUTHSERVER_SIGNIN_ADDRESS_LIMIT": env.get("AUTHSERVER_SIGNIN_ADDRESS_LIMIT", "20/15m"),
        # How long a request waits for a database lock held by someone else before failing (503) instead of
        # hanging: SQLite's busy timeout, PostgreSQL's lock_timeout (seconds).
        "AUTHSERVER_DB_LOCK_TIMEOUT": env.get("AUTHSERVER_DB_LOCK_TIMEOUT", "15s"),
        # Webhooks: non-public destinations (IPs or CIDRs, comma-separated) an operator allows, plain http, timing.
        "AUTHSERVER_WEBHOOK_ALLOW_HOSTS": [
            h.strip() for h in env.get("AUTHSERVER_WEBHOOK_ALLOW_HOSTS", "").split(",") if h.strip()
        ],
        "AUTHSERVER_WEBHOOK_ALLOW_HTTP": env.get("AUTHSERVER_WEBHOOK_ALLOW_HTTP", "off") == "on",
        "AUTHSERVER_WEBHOOK_TIMEOUT": env.get("AUTHSERVER_WEBHOOK_TIMEOUT", "15s"),
        "AUTHSERVER_WEBHOOK_RETRY_BASE": env.get("AUTHSERVER_WEBHOOK_RETRY_BASE", "5s"),
        "AUTHSERVER_WEBHOOK_POLL_INTERVAL": env.get("AUTHSERVER_WEBHOOK_POLL_INTERVAL", "1s"),
        "AUTHSERVER_WEBHOOK_WORKER": env.get("AUTHSERVER_WEBHOOK_WORKER", "off"),  # off | in-process
        # The access log, one JSON line per request: "batched" (written every 0.5 s or 200 lines), "immediate", "off".
        "AUTHSERVER_ACCESS_LOG": env.get("AUTHSERVER_ACCESS_LOG", "batched"),
        # Reverse proxies in front of the server (load balancer, ingress) whose X-Forwarded-For/-Proto/-Host/-Port
        # headers are believed: 0 (default) believes none. Set it to the number of proxies that add those headers,
        # so that a TLS-terminating proxy's https is seen as https and rate limits see the caller, not the proxy.
        "AUTHSERVER_TRUSTED_PROXIES": env.get("AUTHSERVER_TRUSTED_PROXIES", "0"),
        # Bodies past this are refused with 413 before they are read (a usage report of 5000 items fits).
        "MAX_CONTENT_LENGTH": env.get("AUTHSERVER_MAX_REQUEST_BYTES", str(1024 * 1024)),
        # Retention (a duration, or "off" to keep forever): the token event feed, webhook deliveries that ended,
        # sign-in sessions that ended, and the audit trail. `authserver prune` applies them, and so does a job
        # every AUTHSERVER_PRUNE_INTERVAL in the serving processes ("off": only the command).
        "AUTHSERVER_RETAIN_EVENTS": env.get("AUTHSERVER_RETAIN_EVENTS", "7d"),
        "AUTHSERVER_RETAIN_DELIVERIES": env.get("AUTHSERVER_RETAIN_DELIVERIES", "30d"),
        "AUTHSERVER_RETAIN_SESSIONS": env.get("AUTHSERVER_RETAIN_SESSIONS", "30d"),
        "AUTHSERVER_RETAIN_AUDIT": env.get("AUTHSERVER_RETAIN_AUDIT", "400d"),
        "AUTHSERVER_PRUNE_INTERVAL": env.get("AUTHSERVER_PRUNE_INTERVAL", "1h"),
        # How often each serving process expires idle tokens and records grace ends (expiry_job.py); "off": only
        # `authserver token expire-inactive` does.
        "AUTHSERVER_EXPIRY_SCAN_INTERVAL": env.get("AUTHSERVER_EXPIRY_SCAN_INTERVAL", "1m"),
        # Expiry warnings by email to each account's admins (authserver/mail/): smtp://[user:password@]host[:port]
        # (STARTTLS when offered) or smtps://; unset, no mail is sent. The sender is required with it.
        "AUTHSERVER_SMTP_URL": secrets_from_env["AUTHSERVER_SMTP_URL"],
        "AUTHSERVER_MAIL_FROM": env.get("AUTHSERVER_MAIL_FROM") or None,
        # Leaked-token alerts (POST /secret-scanning/alerts, docs/secret-scanning.md): where the scanner publishes
        # the public keys its alerts are signed with (GitHub's format); https, or http on loopback. Unset: off (404).
        "AUTHSERVER_SECRET_SCANNING_KEYS_URL": env.get("AUTHSERVER_SECRET_SCANNING_KEYS_URL") or None,
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "JSON_SORT_KEYS": False,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
    }
    config.update(overrides)
    for key in RATE_LIMIT_KEYS:
        config[key] = parse_rate(config[key], key)
    if "SECRET_KEY" not in config:
        config["SECRET_KEY"] = secrets_from_env["AUTHSERVER_SECRET_KEY"] or _instance_secret(instance_path)
    config["AUTHSERVER_ISSUER"] = config["AUTHSERVER_ISSUER"].rstrip("/") or config["AUTHSERVER_ISSUER"]
    config["SESSION_COOKIE_SECURE"] = config["AUTHSERVER_ISSUER"].startswith("https://")
    _parse_values(config)
    _engine_options(config)
    validate_config(config)
    return config


RATE_LIMIT_KEYS = (
    "AUTHSERVER_RATE_LIMIT_INTROSPECTION",
    "AUTHSERVER_RATE_LIMIT_REVOCATION",
    "AUTHSERVER_RATE_LIMIT_TOKEN_GENERATION",
    "AUTHSERVER_RATE_LIMIT_SERVICE_EVENTS",
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


RETENTION_KEYS = (
    "AUTHSERVER_RETAIN_EVENTS",
    "AUTHSERVER_RETAIN_DELIVERIES",
    "AUTHSERVER_RETAIN_SESSIONS",
    "AUTHSERVER_RETAIN_AUDIT",
)


def _parse_values(config: dict) -> None:
    """Text from the environment (or values from overrides) into the types the app reads; one line per bad value."""
    for key in ("AUTHSERVER_MAX_TOKEN_LIFETIME", "AUTHSERVER_DEFAULT_TOKEN_LIFETIME"):
        # A token's exp must be a time the calendar and database hold.
        config[key] = whole_seconds(config[key], key, minimum=60, maximum=MAX_SECONDS)
    config["AUTHSERVER_KEY_PREPUBLISH"] = whole_seconds(
        config["AUTHSERVER_KEY_PREPUBLISH"], "AUTHSERVER_KEY_PREPUBLISH", maximum=7 * 86400
    )
    for key, low, high in (
        ("AUTHSERVER_ACTIVITY_FLUSH_INTERVAL", 0.01, 86400),
        ("AUTHSERVER_DB_LOCK_TIMEOUT", 0.1, 3600),
        ("AUTHSERVER_MIGRATION_LOCK_TIMEOUT", 0.1, 86400),
        ("AUTHSERVER_WEBHOOK_TIMEOUT", 0.1, 600),
        ("AUTHSERVER_WEBHOOK_RETRY_BASE", 0.01, 86400),
        ("AUTHSERVER_WEBHOOK_POLL_INTERVAL", 0.01, 3600),
    ):
        config[key] = duration_seconds(config[key], key, minimum=low, maximum=high)
    for key in RETENTION_KEYS:
        config[key] = optional_duration(config[key], key, minimum=3600)
    config["AUTHSERVER_PRUNE_INTERVAL"] = optional_duration(
        config["AUTHSERVER_PRUNE_INTERVAL"], "AUTHSERVER_PRUNE_INTERVAL", minimum=1, maximum=7 * 86400
    )
    config["AUTHSERVER_EXPIRY_SCAN_INTERVAL"] = optional_duration(
        config["AUTHSERVER_EXPIRY_SCAN_INTERVAL"], "AUTHSERVER_EXPIRY_SCAN_INTERVAL", minimum=1, maximum=86400
    )
    config["AUTHSERVER_WORKERS"] = whole_number(
        config["AUTHSERVER_WORKERS"], "AUTHSERVER_WORKERS", minimum=1, maximum=MAX_WORKERS
    )
    config["AUTHSERVER_THREADS"] = whole_number(
        config["AUTHSERVER_THREADS"], "AUTHSERVER_THREADS", minimum=1, maximum=64
    )
    if config["AUTHSERVER_PORT"] is not None:
        config["AUTHSERVER_PORT"] = whole_number(config["AUTHSERVER_PORT"], "AUTHSERVER_PORT", minimum=1, maximum=65535)
    config["AUTHSERVER_LOG_LEVEL"] = choice(config["AUTHSERVER_LOG_LEVEL"], "AUTHSERVER_LOG_LEVEL", LOG_LEVELS)
    config["MAX_CONTENT_LENGTH"] = whole_number(
        config["MAX_CONTENT_LENGTH"], "AUTHSERVER_MAX_REQUEST_BYTES", minimum=1024, maximum=1024**3
    )
    config["AUTHSERVER_TRUSTED_PROXIES"] = whole_number(
        config["AUTHSERVER_TRUSTED_PROXIES"], "AUTHSERVER_TRUSTED_PROXIES", minimum=0, maximum=5
    )
    config["AUTHSERVER_ACCESS_LOG"] = choice(
        config["AUTHSERVER_ACCESS_LOG"], "AUTHSERVER_ACCESS_LOG", ("batched", "immediate", "off")
    )
    config["AUTHSERVER_SECRET_SCANNING_KEYS_URL"] = scanner_keys_url(config.get("AUTHSERVER_SECRET_SCANNING_KEYS_URL"))


def validate_config(config: dict) -> None:
    """Refuse to start on values that would make tokens unverifiable or insecure."""
    issuer = urlsplit(config["AUTHSERVER_ISSUER"])
    if issuer.scheme not in ("http", "https") or not issuer.netloc:
        raise ConfigError("AUTHSERVER_ISSUER must be an absolute http(s) URL")
    if issuer.query or issuer.fragment:
        raise ConfigError("AUTHSERVER_ISSUER must not have a query or fragment (RFC 8414 section 2)")
    if issuer.scheme == "http" and issuer.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError("AUTHSERVER_ISSUER must use https unless it is a loopback address")
    if config["AUTHSERVER_SIGNING_ALG"] not in SUPPORTED_SIGNING_ALGS:
        raise ConfigError(f"AUTHSERVER_SIGNING_ALG must be one of {', '.join(SUPPORTED_SIGNING_ALGS)}")
    if not config["AUTHSERVER_AUDIENCE"]:
        raise ConfigError("AUTHSERVER_AUDIENCE must not be empty")
    if config["AUTHSERVER_DEFAULT_TOKEN_LIFETIME"] > config["AUTHSERVER_MAX_TOKEN_LIFETIME"]:
        raise ConfigError("AUTHSERVER_DEFAULT_TOKEN_LIFETIME exceeds AUTHSERVER_MAX_TOKEN_LIFETIME")
    for allowed in config["AUTHSERVER_WEBHOOK_ALLOW_HOSTS"]:
        try:
            ipaddress.ip_network(allowed, strict=False)
        except ValueError:
            raise ConfigError(f"AUTHSERVER_WEBHOOK_ALLOW_HOSTS: {allowed!r} is not an IP or CIDR") from None
    if config["AUTHSERVER_WEBHOOK_WORKER"] not in ("off", "in-process"):
        raise ConfigError("AUTHSERVER_WEBHOOK_WORKER must be off or in-process")
    _check_mail(config)


def _check_mail(config: dict) -> None:
    """The SMTP URL's shape and the sender address, at start-up (the password never appears in the message)."""
    url = config.get("AUTHSERVER_SMTP_URL")
    if not url:
        return
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname or port == -1 or parts.path not in ("", "/"):
        raise ConfigError("AUTHSERVER_SMTP_URL must look like smtp://host:port or smtps://user:password@host:port")
    sender = config.get("AUTHSERVER_MAIL_FROM")
    if not sender:
        raise ConfigError(
            "AUTHSERVER_MAIL_FROM is required when AUTHSERVER_SMTP_URL is set (e.g. authserver@example.com)"
        )
    if not re.match(r"^[^@\s<>]{1,64}@[^@\s<>]{1,255}$", sender):
        raise ConfigError("AUTHSERVER_MAIL_FROM must be one email address, like authserver@example.com")
