"""authlib's client contract over our ApiClient table, plus the token holder as a revocation-only caller.

No verdict is cached: each authentication checks the secret against the client's row as the database has it now
(``load_credentials``: read, or on SQLite re-served only while nothing has been committed since), so disabling,
deleting or rotating a client holds from the next request in every worker and instance. Only last-used times are
buffered.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from authlib.oauth2.rfc6749 import ClientMixin, InvalidClientError

from ..clients import ClientCredentials, check_client_secret, load_credentials, note_client_uses
from ..extensions import db
from ..hotpath.fair_gate import NOT_GATED, WaitHook

log = logging.getLogger(__name__)

# Which registered client kind may call which endpoint (RFC 6749 section 5.2: others get unauthorized_client).
ENDPOINTS_OF_KIND = {"resource-service": frozenset({"introspection"}), "admin": frozenset({"revocation"})}


@dataclass(frozen=True)
class OAuthClient(ClientMixin):
    """A registered client as authlib sees it. Resource services introspect; admin clients revoke."""

    credentials: ClientCredentials
    now: datetime  # when the request arrived: the previous secret's overlap is judged at this instant

    @property
    def client_id(self) -> str:
        return self.credentials.client_id

    @property
    def kind(self) -> str:
        return self.credentials.kind

    @property
    def account_id(self) -> str | None:
        return self.credentials.account_id

    @property
    def resource(self) -> str | None:
        """A resource service's RFC 8707 resource URI (introspection of tokens limited to named services)."""
        return self.credentials.resource

    @property
    def introspection_signing(self) -> str | None:
        """ "always": its introspection answers are signed JWTs (RFC 9701) whatever it accepts; None: when asked."""
        return self.credentials.introspection_signing

    def get_client_id(self) -> str:
        return self.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        return check_client_secret(self.credentials, client_secret, self.now)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """Any registered client may authenticate at either endpoint; whether it may *use* the endpoint is asked
        after it has proved who it is (``may_use``), so that the answer is 400 ``unauthorized_client``, not 401."""
        return method in ("client_secret_basic", "client_secret_post")

    def may_use(self, endpoint: str) -> bool:
        return endpoint in ENDPOINTS_OF_KIND.get(self.kind, frozenset())

    def own_limit(self, endpoint: str) -> str | None:
        """Its own rate limit on ``endpoint`` ("N/period" or "off"), or None for the configured one."""
        return self.credentials.introspection_limit if endpoint == "introspection" else None

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

    def may_use(self, endpoint: str) -> bool:
        return endpoint == "revocation"

    def own_limit(self, endpoint: str) -> str | None:
        return None  # its address's budget is the configured one


def uniform_failures(method, lookup: ClientLookup):
    """Wrap one of authlib's secret methods so that every failure looks the same: a malformed Basic header (not
    base64, not UTF-8, no secret) is no credentials instead of a 500, and an unknown client id fails exactly like a
    wrong secret, so the answer does not tell which client ids exist.

    The client is found by ``lookup`` (the server's ``query_client``, which authlib passes in) with the request's
    ``wait``, so the direct path's gate is stepped out of around the client's read."""

    def authenticate(_query_client, request):
        wait = request.wait

        def query_client(client_id):
            return lookup(client_id, wait)

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
    """Finds clients for authlib: the row as the database has it now on every call (no cache window), and a
    successful authentication is noted for the client's coarse last-used time."""

    def __init__(self, clock, uses: ClientUses) -> None:
        self.clock = clock
        self.uses = uses

    def __call__(self, client_id: str, wait: WaitHook = NOT_GATED) -> OAuthClient | None:
        credentials = load_credentials(client_id, wait)
        return None if credentials is None else OAuthClient(credentials, self.clock.now())


class ClientUses:
    """Last-used times per client, noted in memory and written in one statement every few seconds by a thread of
    the serving process (as activity.py does for tokens), so authentication never writes to the database. A crash
    loses at most one interval of last-used marks, nothing else."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._pending: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._app = None

    def note(self, client_id: str, now: datetime) -> None:
        seen = self._pending.get(client_id)
        if seen is None or seen < now:
            with self._lock:
                self._pending[client_id] = now

    def start(self, app) -> None:
        self._app = app
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="client-uses", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush(self._app)

    def flush(self, app) -> int:
        """Write what is pending (the caller's app context is used if there is one); returns clients touched."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        try:
            with app.app_context():
                try:
                    note_client_uses(pending)
                finally:
                    db.session.rollback()
        except Exception as exc:  # the database may be away: keep the marks for the next attempt
            log.warning("client last-used flush failed, will retry: %s", exc.__class__.__name__)
            with self._lock:
                for client_id, at in pending.items():
                    if client_id not in self._pending or self._pending[client_id] < at:
                        self._pending[client_id] = at
            return 0
        return len(pending)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.ident != threading.get_ident():
            self._thread.join(timeout=self.interval + 5)
        if self._app is not None:
            self.flush(self._app)
