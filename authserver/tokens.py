"""Mint and verify RFC 9068 JWT access tokens, and decide whether one is active: the single source of truth.

A token is active only if its signature, header and claims verify against our own keys *and* its database record
says it is live: not revoked, not past ``exp`` or a scheduled end, not idle past its integration's inactivity
window, and its integration is enabled. The scope reported is the token's scope narrowed by the integration's.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from joserfc.jwk import KeySet
from sqlalchemy import CursorResult, bindparam, select, update

from authserver_resource.compact_jws import MAX_TOKEN_LENGTH, AccessTokenClaims, TokenRefusedError, read_access_token

from .extensions import db
from .hotpath.fair_gate import NOT_GATED, WaitHook
from .hotpath.prepared_reads import PreparedRead
from .keys import KeyStore
from .models import AccessToken, Integration, SigningKey
from .resource_uris import is_resource_uri
from .security import is_identifier


# -- minting ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _IntegrationAsClient:
    """authlib's generator mints for a client; a private integration is the client its tokens are issued to."""

    integration_id: str

    def get_client_id(self) -> str:
        return self.integration_id


class IntegrationTokenGenerator(JWTBearerTokenGenerator):  # type: ignore[misc]  # authlib ships no types
    """authlib's RFC 9068 generator, fed our current key, audience and injected clock."""

    def __init__(self, issuer: str, audience: str, keystore: KeyStore) -> None:
        super().__init__(issuer=issuer)
        self.audience = audience
        self.keystore = keystore
        self._local = threading.local()

    def get_jwks(self) -> KeySet:
        keyset: KeySet = self._local.keyset
        return keyset

    def get_audiences(self, client: object, user: object, scope: str) -> str | list[str]:
        """RFC 8707: a token limited to named services names exactly them; any other keeps the default audience."""
        resources: tuple[str, ...] = self._local.resources
        return list(resources) if resources else self.audience

    def get_jti(self, client: object, grant_type: str, user: object, scope: str) -> str:
        jti: str = self._local.jti
        return jti

    def get_extra_claims(self, client: object, grant_type: str, user: object, scope: str) -> dict[str, Any]:
        claims: dict[str, Any] = self._local.claims
        return claims

    def mint(
        self,
        *,
        integration_id: str,
        account_id: str,
        scope: str,
        jti: str,
        issued_at: datetime,
        expires_at: datetime,
        resources: tuple[str, ...] = (),
        dpop_jkt: str | None = None,
    ) -> tuple[str, str]:
        """Return (jwt, kid). Times come from the domain's clock, not the generator's. With ``dpop_jkt`` the token
        is bound to that key (RFC 9449 section 6.1): ``cnf.jkt``, so every call needs a proof signed with it."""
        kid, alg, keyset = self.keystore.signing_keyset(issued_at)
        if alg == "EdDSA":
            _allow_eddsa_signing()
        self.alg = alg
        self._local.keyset = keyset
        self._local.jti = jti
        self._local.resources = resources
        self._local.claims = {
            "iat": int(issued_at.timestamp()),
            "exp": int(expires_at.timestamp()),
            "sub": integration_id,
            "account_id": account_id,
        }
        if dpop_jkt is not None:
            self._local.claims["cnf"] = {"jkt": dpop_jkt}
        try:
            token = self.access_token_generator(
                _IntegrationAsClient(integration_id), "private_integration", None, scope
            )
        finally:
            self._local.__dict__.clear()
        return token, kid


def _allow_eddsa_signing() -> None:
    """joserfc signs with "EdDSA" only when told to, and warns on each use (RFC 9864 prefers "Ed25519"); but
    verifiers such as PyJWT only know "EdDSA". Register it once as a recommended algorithm, without the warning."""
    from joserfc.jws import JWSRegistry

    if "EdDSA" not in JWSRegistry.recommended:
        base = type(JWSRegistry.algorithms["EdDSA"])
        JWSRegistry.register(type("EdDSASigning", (base,), {"recommended": True, "security_warning": None})())


# -- verification -------------------------------------------------------------------------------------
# The claims of a verified token, as the strict parser shared with resource services reads them (compact_jws).
VerifiedClaims = AccessTokenClaims


class SignatureCache:
    """A bounded LRU of tokens whose signature and static claims already verified in this process.

    Keyed by the token string; an entry is only a memo of cryptography and static claims, never of time or
    liveness: ``is_current`` and the database are consulted on every request.
    """

    def __init__(self, size: int = 20000) -> None:
        self.size = size
        self._entries: OrderedDict[str, VerifiedClaims] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> VerifiedClaims | None:
        with self._lock:
            claims = self._entries.get(token)
            if claims is not None:
                self._entries.move_to_end(token)
            return claims

    def put(self, token: str, claims: VerifiedClaims) -> None:
        with self._lock:
            self._entries[token] = claims
            self._entries.move_to_end(token)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class TokenVerifier:
    """Checks a presented string is a JWT we issued, with the strict parser resource services share
    (``compact_jws``): our key by ``kid``, that key's algorithm only, our ``iss`` and ``aud``, ``typ`` of RFC 9068,
    every required claim present and well typed. Time is judged by the caller against the domain clock
    (``is_current``). Any failure is None, never an exception."""

    def __init__(self, keystore: KeyStore, issuer: str, audience: str, cache: SignatureCache | None = None):
        self.keystore = keystore
        self.issuer = issuer
        self.audience = audience
        self.cache = cache or SignatureCache()

    def verify(self, token: object) -> VerifiedClaims | None:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            return None  # before the cache: a lookup would hash an oversized string
        cached = self.cache.get(token)
        if cached is not None:
            return cached
        claims = self._verify_uncached(token)
        if claims is not None:
            self.cache.put(token, claims)
        return claims

    def _verify_uncached(self, token: str) -> VerifiedClaims | None:
        try:
            return read_access_token(
                token, issuer=self.issuer, audience=self._is_issued_audience, key_for=self._key_for
            )
        except TokenRefusedError:
            return None

    def _is_issued_audience(self, aud: str | list[str]) -> bool:
        """The forms we mint: the default audience (a text), or a non-empty list of resource URIs (a token limited
        to named services, RFC 8707). Which service may see the latter is judged at introspection
        (``is_audience_of``)."""
        if isinstance(aud, str):
            return aud == self.audience
        return bool(aud) and all(item == self.audience or is_resource_uri(item) for item in aud)

    def _key_for(self, kid: str) -> tuple[str, object] | None:
        key = self.keystore.verification_key(kid)
        return (key.alg, key.key) if key is not None else None


def is_audience_of(aud: str | list[str], resource: str | None, default_audience: str) -> bool:
    """Whether a verified token's ``aud`` admits a service (RFC 8707), by the rule local validation applies too: it
    names the default audience (every service), or the service's own resource URI."""
    audiences = [aud] if isinstance(aud, str) else aud
    return default_audience in audiences or (resource is not None and resource in audiences)


# -- liveness -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenState:
    """What the database says about a token, read in one indexed query."""

    jti: str
    integration_id: str
    account_id: str
    token_scopes: str
    integration_scopes: str
    integration_status: str
    inactivity_window: int | None
    issued_at: datetime
    expires_at: datetime
    ends_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    kid: str | None = None  # the key that signed it at issue: the only one it is valid under
    key_revoked_at: datetime | None = None  # that key's revocation makes every token it signed inactive
    ended_at: datetime | None = None  # when its end fell, latched by the first reader past it (record_end)
    revocation_reason: str | None = None  # why it was revoked: "rotated", "inactive", ... (status)
    replaced_by: str | None = None  # the token that replaced it: a live one is a grace token (status)
    dpop_jkt: str | None = None  # the key thumbprint signed into its cnf.jkt at issue (RFC 9449); None = bearer

    def is_signed_by(self, kid: str | None) -> bool:
        """The presented JWT's header ``kid`` is the one recorded at issue: a live token's claims re-signed with
        another of our keys (a retired key whose file was copied) are not this token."""
        return kid is not None and kid == self.kid

    def effective_scopes(self) -> frozenset[str]:
        return frozenset(self.token_scopes.split()) & frozenset(self.integration_scopes.split())

    def idle_deadline(self, recent_use: datetime | None = None) -> datetime | None:
        """When the token expires if it is not used again ("expires if unused after")."""
        if self.inactivity_window is None:
            return None
        uses = [moment for moment in (self.last_used_at, recent_use, self.issued_at) if moment is not None]
        return max(uses) + timedelta(seconds=self.inactivity_window)

    def is_live(self, now: datetime, recent_use: datetime | None = None) -> bool:
        """Whether the token works at ``now``: ``status`` is "active" or "grace" exactly when this is true (the same
        rule, without naming the reason: introspection asks this on every request)."""
        if self.revoked_at is not None or self.key_revoked_at is not None or self.integration_status != "active":
            return False
        if self.ended_at is not None or self.has_reached_end(now, recent_use):
            return False
        return bool(self.effective_scopes())

    def status(self, now: datetime, recent_use: datetime | None = None) -> str:
        """The one answer every surface and job shows: active | grace (live, replaced, inside its grace period) |
        rotated | revoked (RFC 7009, integration deleted) | expired (past exp or a scheduled end, or expired by an
        admin) | expired_inactive (idle past its window) |
        inactive (integration disabled, no scope left, or its signing key revoked). ``recent_use`` is a use still
        in the activity buffer. A latched end is judged as when it was seen, whatever the clock says now."""
        if self.ended_at is not None:
            now = max(now, self.ended_at)
        if self.revoked_at is not None:
            return _REVOKED_STATUS.get(self.revocation_reason or "", "revoked")
        if self.is_live(now, recent_use):
            return "grace" if self.replaced_by else "active"
        if now >= self.expires_at or (self.ends_at is not None and now >= self.ends_at):
            return "expired"
        idle = self.idle_deadline(recent_use)
        if idle is not None and now >= idle:
            return "expired_inactive"
        return "inactive"

    def has_reached_end(self, now: datetime, recent_use: datetime | None = None) -> bool:
        """Past ``exp``, a scheduled end (grace deadline) or the idle deadline: ends no later event can undo, so
        the first reader to see one latches it (``record_end``)."""
        return self.end_reached_at(now, recent_use) is not None

    def end_reached_at(self, now: datetime, recent_use: datetime | None = None) -> datetime | None:
        """When the first end reached by ``now`` fell (``exp``, a scheduled end or the idle deadline), or None. The
        latch records this moment, so an idle token's record says when its window ended, not when it was noticed."""
        ends = (self.expires_at, self.ends_at, self.idle_deadline(recent_use))
        reached = [moment for moment in ends if moment is not None and now >= moment]
        return min(reached) if reached else None


# One vocabulary (README, "Token statuses"): "expired" is ended by time or by an admin's Expire action, "revoked" is
# withdrawn through RFC 7009 or with its integration's deletion, "rotated" is replaced by a newer token.
_REVOKED_STATUS = {
    "rotated": "rotated",
    "superseded": "rotated",
    "expired_by_admin": "expired",
    "inactive": "expired_inactive",
    "leaked": "revoked",  # found in public by a secret scanner (secret_scanning/): revoked, with where on the trail
}
LIVE_STATUSES = frozenset({"active", "grace"})


# Labelled with TokenState's field names: rows are mapped by name (_state_of), never by position.
_STATE_COLUMNS = (
    AccessToken.jti,
    AccessToken.integration_id,
    AccessToken.account_id,
    AccessToken.scopes.label("token_scopes"),
    Integration.scopes.label("integration_scopes"),
    Integration.status.label("integration_status"),
    Integration.inactivity_window,
    AccessToken.issued_at,
    AccessToken.expires_at,
    AccessToken.ends_at,
    AccessToken.revoked_at,
    AccessToken.last_used_at,
    AccessToken.kid,
    SigningKey.revoked_at.label("key_revoked_at"),
    AccessToken.ended_at,
    AccessToken.revocation_reason,
    AccessToken.replaced_by,
    AccessToken.dpop_jkt,
)
# The signing key joins by primary key in the same query: a key revocation is seen by every worker at its commit.
_STATE_QUERY = (
    select(*_STATE_COLUMNS)
    .join(Integration, Integration.id == AccessToken.integration_id)
    .join(SigningKey, SigningKey.kid == AccessToken.kid)
)
_STATE_FIELDS = tuple(column.name for column in _STATE_QUERY.selected_columns)


def _state_of(row: Sequence[Any]) -> TokenState:
    return TokenState(**dict(zip(_STATE_FIELDS, row, strict=True)))


def record_end(jti: str, ended_at: datetime) -> bool:
    """Latch a token's end: a reader saw it past ``exp``, a scheduled end or its idle deadline, which fell at
    ``ended_at`` (TokenState.end_reached_at), so it is never live again, even if a clock (this instance's or
    another's) later steps back. One conditional write, at the transition only; False if another reader latched it
    first. The caller commits."""
    done = cast(
        CursorResult[Any],
        db.session.execute(
            update(AccessToken).where(AccessToken.jti == jti, AccessToken.ended_at.is_(None)).values(ended_at=ended_at)
        ),
    )
    return bool(done.rowcount)


_STATE_BY_JTI = _STATE_QUERY.where(AccessToken.jti == bindparam("jti"))
STATE_READ = PreparedRead(_STATE_BY_JTI, _state_of)


def load_state(jti: str, wait: WaitHook = NOT_GATED) -> TokenState | None:
    """One indexed read, built once and run as Core (ORM statement building was a third of an introspection).

    Inside a transaction the session has begun, it runs there (pending changes flushed first, as a query would).
    Otherwise there is nothing uncommitted to see, and it runs prepared on a pooled connection of its own without
    creating a session: the same committed rows, without the session's and Core's per-call bookkeeping (most of
    the read's cost; see hotpath/prepared_reads). ``wait`` is entered around that read's round trip."""
    if not is_identifier(jti):
        return None
    registry = db.session.registry
    if not registry.has() or not registry().in_transaction():
        return STATE_READ.first(db.engine, {"jti": jti}, wait)
    session = registry()
    if session.autoflush:
        session.flush()
    connection = session.connection(bind_arguments={"mapper": AccessToken})
    row = connection.execute(_STATE_BY_JTI, {"jti": jti}).first()
    return _state_of(row) if row is not None else None


STATES_CHUNK = 500


def load_states(jtis: list[str]) -> dict[str, TokenState]:
    """Several tokens' states (batched usage reports), asked in chunks of exactly ``STATES_CHUNK`` jtis (the last
    padded by repeating one), so the SQL text never depends on the report's length: each new text is compiled
    and kept by the driver's statement cache, the growth of docs/performance-log.md's 2026-12-07 entry."""
    jtis = [jti for jti in jtis if is_identifier(jti)]
    states: dict[str, TokenState] = {}
    for start in range(0, len(jtis), STATES_CHUNK):
        chunk = jtis[start : start + STATES_CHUNK]
        chunk += [chunk[-1]] * (STATES_CHUNK - len(chunk))
        rows = db.session.execute(_STATE_QUERY.where(AccessToken.jti.in_(chunk)))
        states.update((row.jti, _state_of(row)) for row in rows)
    return states


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def from_epoch(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)
