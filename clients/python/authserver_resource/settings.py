"""What a protected service needs to know, as one typed value: the authorization server, its own credentials,
its resource identifier, and how long a verdict may be served without asking again. Unsafe values are refused.

Everything else about the authorization server is discovered from its RFC 8414 metadata, so a service is configured
with just the issuer, its resource-service client (``authserver client create --kind resource-service``) and the
resource URI it answers to.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

MODES = ("introspection", "local")
DEFAULT_AUDIENCE = "https://api.example.com/v2"  # the server's AUTHSERVER_AUDIENCE default: every service accepts it


class SettingsError(ValueError):
    """A setting the service must not start with."""


@dataclass(frozen=True)
class Settings:
    issuer: str  # the authorization server's issuer URL (its RFC 8414 metadata is fetched from it)
    client_id: str
    client_secret: str
    mode: str = "introspection"
    # This service's resource identifier (RFC 8707 / RFC 9728): the `resource` of its metadata document. Tokens
    # limited to named services must name it in `aud`; defaults to `audience`.
    resource: str = ""
    # The server-wide default audience (AUTHSERVER_AUDIENCE): tokens of integrations without `--resource`.
    audience: str = DEFAULT_AUDIENCE
    scopes_supported: tuple[str, ...] = ()  # advertised in the RFC 9728 document (the faces add those they see)
    cache_ttl: float = 30.0  # a positive verdict served without asking again; never past the token's exp
    negative_cache_ttl: float = 5.0
    jwks_refetch_interval: float = 10.0  # least time between JWKS fetches caused by an unknown kid
    usage_interval: float = 5.0  # seconds between usage reports
    feed_wait: float = 10.0  # long-poll length on the event feed
    http_timeout: float = 3.0
    realm: str = "v2"
    user_agent: str = "authserver-resource/0.1"
    # DPoP (RFC 9449). The URL clients call this service at (scheme, host, port, and any path prefix a proxy strips):
    # a proof's htu is the URL the client used, which behind a proxy is not the one this process sees. Unset: the
    # request's own scheme and Host header.
    public_url: str = ""
    dpop_max_age: float = 60.0  # a proof's iat may be this many seconds in the past...
    dpop_clock_skew: float = 5.0  # ... or this many in the future (the client's clock ahead of ours)
    # Share the jti replay cache between instances (redis://...): a proof replayed to another instance is refused
    # too. Unset: in memory, per process. Configured but unreachable: DPoP calls fail closed (503).
    dpop_replay_redis_url: str = ""
    # Optional server nonces (RFC 9449 section 9): a secret of 32+ characters, the same on every instance. Set, every
    # proof must carry a nonce this service issued in the last one or two lifetimes. Unset: no nonces.
    dpop_nonce_secret: str = ""
    dpop_nonce_lifetime: float = 300.0
    # RFC 9701 (introspection mode): ask for introspection answers as JWTs signed by the authorization server's key
    # and verify them (signed_answers.py); an answer that does not verify, or comes unsigned, is a 503, never a grant.
    signed_introspection: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "issuer", self.issuer.rstrip("/"))
        if not self.resource:
            object.__setattr__(self, "resource", self.audience)
        validate(self)

    @property
    def audiences(self) -> tuple[str, ...]:
        """The `aud` values this service accepts: its own resource, or the default audience (RFC 8707, issue 15)."""
        return (self.resource,) if self.resource == self.audience else (self.resource, self.audience)

    def __repr__(self) -> str:  # the secret never reaches a log line or a traceback
        return (
            f"Settings(issuer={self.issuer!r}, client_id={self.client_id!r}, mode={self.mode!r}, "
            f"resource={self.resource!r}, public_url={self.public_url!r})"
        )


def validate(settings: Settings) -> None:
    issuer = urlsplit(settings.issuer)
    if issuer.scheme not in ("http", "https") or not issuer.netloc:
        raise SettingsError("the issuer must be the authorization server's URL, e.g. http://127.0.0.1:5000")
    if issuer.scheme == "http" and issuer.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SettingsError("the issuer must use https unless it is a loopback address")
    if not settings.client_id or not settings.client_secret:
        raise SettingsError("a client id and secret are required (authserver client create --kind resource-service)")
    if settings.mode not in MODES:
        raise SettingsError(f"mode must be one of {', '.join(MODES)}")
    if not settings.audience:
        raise SettingsError("the audience must not be empty")
    resource = urlsplit(settings.resource)
    if resource.scheme not in ("http", "https") or not resource.netloc or resource.query or resource.fragment:
        raise SettingsError("the resource must be an absolute http(s) URI without query or fragment (RFC 8707)")
    if settings.public_url:
        public = urlsplit(settings.public_url)
        if public.scheme not in ("http", "https") or not public.netloc or public.query or public.fragment:
            raise SettingsError("the public URL must be an absolute http(s) URL without query or fragment")
    if settings.dpop_replay_redis_url and urlsplit(settings.dpop_replay_redis_url).scheme not in (
        "redis",
        "rediss",
        "unix",
    ):
        raise SettingsError("the DPoP replay cache URL must be a redis://, rediss:// or unix:// URL")
    if settings.dpop_nonce_secret and len(settings.dpop_nonce_secret) < 32:
        raise SettingsError("the DPoP nonce secret must have at least 32 characters")
    for name, low, high in (
        ("dpop_nonce_lifetime", 10, 3600),
        ("dpop_max_age", 1, 3600),
        ("dpop_clock_skew", 0, 300),
        ("cache_ttl", 0, 300),
        ("negative_cache_ttl", 0, 60),
        ("jwks_refetch_interval", 0.1, 3600),
        ("usage_interval", 0.1, 300),
        ("feed_wait", 1, 25),
        ("http_timeout", 0.1, 60),
    ):
        value = getattr(settings, name)
        if not low <= value <= high:
            raise SettingsError(f"{name} must be between {low:g} and {high:g}")
