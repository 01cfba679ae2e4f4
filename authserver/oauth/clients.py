"""authlib's client contract over our ApiClient table, plus the token holder as a revocation-only caller."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import ClientMixin, InvalidClientError

from ..clients import check_client_secret, find_client

AUTH_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class OAuthClient(ClientMixin):
    """A registered client as authlib sees it. Resource services introspect; admin clients revoke."""

    client_id: str
    kind: str
    account_id: str | None
    secret_digest: str

    def get_client_id(self) -> str:
        return self.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        return check_client_secret(self, client_secret)  # type: ignore[arg-type]

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if method not in ("client_secret_basic", "client_secret_post"):
            return False
        if endpoint == "introspection":
            return self.kind == "resource-service"
        if endpoint == "revocation":
            return self.kind == "admin"
        return False

    def get_allowed_scope(self, scope):  # pragma: no cover - no grants are served
        return ""


@dataclass(frozen=True)
class TokenHolder(ClientMixin):
    """Whoever presents a token to the revocation endpoint without credentials: possession is proof."""

    client_id: str = "token-holder"
    kind: str = "token_holder"
    account_id: str | None = None

    def get_client_id(self) -> str:
        return self.client_id

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "token_possession" and endpoint == "revocation"


def uniform_failures(method):
    """Wrap one of authlib's secret methods so that every failure looks the same: a malformed Basic header (not
    base64, not UTF-8, no secret) is no credentials instead of a 500, and an unknown client id fails exactly like a
    wrong secret, so the answer does not tell which client ids exist."""

    def authenticate(query_client, request):
        try:
            return method(query_client, request)
        except (ValueError, InvalidClientError):  # UnicodeDecodeError and binascii.Error are ValueErrors
            return None

    return authenticate


def authenticate_token_holder(query_client, request):
    """Registered as the ``token_possession`` method: applies only when no credentials were offered at all."""
    form = request.form
    if request.headers.get("Authorization") or form.get("client_id") or form.get("client_secret"):
        return None
    return TokenHolder() if form.get("token") else None


class ClientLookup:
    """Finds clients for authlib, remembering recent lookups briefly (the table is read, not written, per call).

    Only the client row is cached; the secret is still compared on every request, in constant time."""

    def __init__(self, ttl: float = AUTH_CACHE_SECONDS) -> None:
        self.ttl = ttl
        self._cache: dict[str, tuple[OAuthClient | None, float]] = {}
        self._lock = threading.Lock()

    def __call__(self, client_id: str) -> OAuthClient | None:
        if not isinstance(client_id, str) or len(client_id) > 64:
            return None
        now = time.monotonic()
        hit = self._cache.get(client_id)
        if hit is not None and now - hit[1] < self.ttl:
            return hit[0]
        row = find_client(client_id)
        client = None if row is None else OAuthClient(row.client_id, row.kind, row.account_id, row.secret_digest)
        if client is not None:  # unknown ids are not remembered: a new client works at once
            with self._lock:
                if len(self._cache) > 10000:
                    self._cache.clear()
                self._cache[client_id] = (client, now)
        return client
