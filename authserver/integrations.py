"""Private integrations and their token lifecycle: the verbs the API, the UI and the CLI all call.

Every verb bumps the integration's version and flushes, so two concurrent actions on the same integration cannot
both commit: the loser gets a ConflictError. Verbs never commit: the caller's unit of work does, so a command that
chains verbs (the v1 migration) is one transaction. Each verb emits its domain events (domain_events) once; the
feed, webhooks, audit trail and metrics hear them from there. Invariants: at most one *current* live token
(``replaced_by`` is NULL) and at most one *grace* live token (replaced, still inside its grace period).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from . import domain_events as de
from .accounts import allowed_scopes, ancestry, clean_name, get_account, get_account_for, inactivity_policy
from .dpop_keys import parse_binding
from .durations import check_seconds, isoformat, seconds_after
from .emitter import emit, emit_refusal
from .errors import ConflictError, InvalidInputError, NotFoundError
from .extensions import db
from .models import AccessToken, Account, AuditEvent, Integration, SigningKey
from .principals import Principal
from .resource_uris import format_resources, parse_resources, split_resources
from .scope_narrowing import narrow_token_scopes
from .scopes import format_scopes, parse_scopes, split_scopes
from .security import is_identifier, new_id, new_jti
from .token_policy import TokenPolicy
from .tokens import TokenState

DEFAULT_GRACE = 7 * 86400
MIN_GRACE, MAX_GRACE = 3600, 30 * 86400
DEFAULT_INACTIVITY_WINDOW = 90 * 86400


@dataclass(frozen=True)
class IssuedToken:
    """A freshly minted token: the only moment the JWT exists outside the integration's hands."""

    token: str
    record: AccessToken


# -- lookups ------------------------------------------------------------------------------------------
def get_integration_for(principal: Principal, integration_id: str, *, write: bool = False) -> Integration:
    """The integration if the principal may see it; another tenant's integration is simply not found."""
    integration = db.session.get(Integration, integration_id) if is_identifier(integration_id) else None
    if integration is None or integration.status == "deleted" or not principal.can_view(integration.account_id):
        raise NotFoundError(f"integration {integration_id!r} not found")
    if write:
        get_account_for(principal, integration.account_id, write=True)
    return integration


def list_integrations(principal: Principal, account_id: str) -> list[Integration]:
    get_account_for(principal, account_id)
    return list(
        db.session.scalars(
            select(Integration)
            .where(Integration.account_id == account_id, Integration.status != "deleted")
            .order_by(Integration.created_at.desc(), Integration.id)
        )
    )


def live_tokens(integration_id: str, now: datetime) -> list[AccessToken]:
    """Tokens still working now, current first."""
    rows = db.session.scalars(
        select(AccessToken)
        .where(
            AccessToken.integration_id == integration_id, AccessToken.revoked_at.is_(None), AccessToken.expires_at > now
        )
        .order_by(AccessToken.issued_at.desc())
    )
    live = [row for row in rows if token_state(row).is_live(now)]
    return sorted(live, key=lambda row: row.replaced_by is not None)


def list_tokens(principal: Principal, integration_id: str) -> list[AccessToken]:
    integration = get_integration_for(principal, integration_id)
    return list(
        db.session.scalars(
            select(AccessToken)
            .where(AccessToken.integration_id == integration.id)
            .order_by(AccessToken.issued_at.desc(), AccessToken.jti)
        )
    )


def token_state(row: AccessToken) -> TokenState:
    """The row's liveness inputs, from objects already in the session (no extra query per token)."""
    integration = db.session.get(Integration, row.integration_id)
    assert integration is not None  # the token's foreign key
    return TokenState(
        jti=row.jti,
        integration_id=row.integration_id,
        account_id=row.account_id,
        token_scopes=row.scopes,
        integration_scopes=integration.scopes,
        integration_status=integration.status,
        inactivity_window=integration.inactivity_window,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        ends_at=row.ends_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        kid=row.kid,
        key_revoked_at=key.revoked_at if (key := db.session.get(SigningKey, row.kid)) is not None else None,
        ended_at=row.ended_at,
        revocation_reason=row.revocation_reason,
        replaced_by=row.replaced_by,
        dpop_jkt=row.dpop_jkt,
    )


# -- integration verbs --------------------------------------------------------------------------------
def _check_scopes(account: Account, requested: frozenset[str]) -> None:
    ceiling = allowed_scopes(account)
    beyond = sorted(requested - ceiling)
    if beyond:
        raise InvalidInputError(f"scope not allowed for this account: {', '.join(beyond)}", field="scopes")


def _inactivity_window(account: Account, value: int | None | str) -> int | None:
    """Resolve the requested window against the account's default and maximum (its agency's too); 'never' only if
    allowed."""
    policy = inactivity_policy(account)
    if value == "default":
        return policy.default
    if value is None:
        if not policy.allows_never:
            raise InvalidInputError("this account requires inactive tokens to expire", field="inactivity_window")
        return None
    value = check_seconds(value, field="inactivity_window", minimum=3600)
    if policy.maximum is not None and value > policy.maximum:
        raise InvalidInputError("inactivity_window exceeds the account's maximum", field="inactivity_window")
    return value


def serialize_integration(integration: Integration) -> dict[str, Any]:
    return {
        "id": integration.id,
        "account_id": integration.account_id,
        "name": integration.name,
        "description": integration.description,
        "scopes": sorted(split_scopes(integration.scopes)),
        "resources": split_resources(integration.resources),
        "status": integration.status,
        "inactivity_window": integration.inactivity_window,
        "dpop_jkt": integration.dpop_jkt,
        "created_by": integration.created_by,
        "created_at": isoformat(integration.created_at),
        "updated_at": isoformat(integration.updated_at),
        "version": integration.version,
    }


def create_integration(
    principal: Principal,
    *,
    account_id: str,
    name: str,
    description: str | None,
    scopes: object,
    now: datetime,
    inactivity_window: int | None | str = "default",
    resources: object = None,
    dpop_jkt: object = None,
    dpop_jwk: object = None,
) -> Integration:
    """A new integration; with ``resources`` (RFC 8707), its tokens are limited to those services (their ``aud``);
    with a key (``dpop_jkt``, a thumbprint, or ``dpop_jwk``, a public JWK), bound to it (RFC 9449)."""
    account = get_account_for(principal, account_id, write=True)
    name = clean_name(name)
    description = "" if description is None else description
    if not isinstance(description, str) or len(description) > 2000 or "\x00" in description:
        raise InvalidInputError("description must be text of at most 2000 characters", field="description")
    requested = parse_scopes(scopes)
    _check_scopes(account, requested)
    integration = Integration(
        id=new_id("int"),
        account_id=account.id,
        name=name,
        description=description.strip(),
        scopes=format_scopes(requested),
        resources=format_resources(parse_resources(resources)),
        status="active",
        inactivity_window=_inactivity_window(account, inactivity_window),
        dpop_jkt=parse_binding(jkt=dpop_jkt, jwk=dpop_jwk),
        created_by=f"{principal.kind}:{principal.id}",
        created_at=now,
        updated_at=now,
    )
    db.session.add(integration)
    emit(
        de.IntegrationCreated(
            actor=principal, now=now, integration=integration, after=serialize_integration(integration)
        )
    )
    _flush()
    return integration


def update_integration(
    principal: Principal,
    integration_id: str,
    *,
    now: datetime,
    expected_version: int | None = None,
    name: str | None = None,
    description: str | None = None,
    scopes: object = None,
    inactivity_window: int | None | str = "unchanged",
    resources: object = "unchanged",
    dpop_jkt: object = "unchanged",
    dpop_jwk: object = None,
) -> Integration:
    """Edit an integration. Narrowed scopes apply to live tokens at once; widening needs a new token. Changed
    ``resources`` and a changed key binding (``dpop_jkt``: a thumbprint, or None to unbind; or ``dpop_jwk``) apply
    to new tokens only: a token's audience and ``cnf`` are signed into it at issue (``binding_differs``)."""
    integration = _for_change(principal, integration_id, expected_version, now)
    before = serialize_integration(integration)
    account = get_account(integration.account_id)
    if name is not None:
        integration.name = clean_name(name)
    if description is not None:
        if not isinstance(description, str) or len(description) > 2000 or "\x00" in description:
            raise InvalidInputError("description must be text of at most 2000 characters", field="description")
        integration.description = description.strip()
    if scopes is not None:
        requested = parse_scopes(scopes)
        _check_scopes(account, requested)
        integration.scopes = format_scopes(requested)
        narrow_token_scopes(integration.id, requested)
    if resources != "unchanged":
        integration.resources = format_resources(parse_resources(resources))
    if inactivity_window != "unchanged":
        integration.inactivity_window = _inactivity_window(account, inactivity_window)
    if dpop_jwk is not None or dpop_jkt != "unchanged":
        integration.dpop_jkt = parse_binding(jkt=None if dpop_jkt == "unchanged" else dpop_jkt, jwk=dpop_jwk)
    integration.updated_at = now
    after = serialize_integration(integration)
    changed = de.IntegrationScopesChanged if before["scopes"] != after["scopes"] else de.IntegrationUpdated
    emit(changed(actor=principal, now=now, integration=integration, before=before, after=after))
    _flush()
    return integration


def set_status(
    principal: Principal, integration_id: str, status: str, *, now: datetime, expected_version: int | None = None
) -> Integration:
    """Disable (all tokens stop at once, reversible), enable, or delete (tokens revoked, audit kept)."""
    if status not in ("active", "disabled", "deleted"):
        raise InvalidInputError("status must be active, disabled or deleted", field="status")
    integration = _for_change(principal, integration_id, expected_version, now)
    before = serialize_integration(integration)
    stopped = _revoke_all(integration.id, now, reason="integration_deleted") if status == "deleted" else []
    integration.status = status
    integration.updated_at = now
    after = serialize_integration(integration)
    if status == "deleted":
        emit(
            de.IntegrationDeleted(
                actor=principal, now=now, integration=integration, before=before, after=after, stopped=tuple(stopped)
            )
        )
    else:
        changed = de.IntegrationEnabled if status == "active" else de.IntegrationDisabled
        emit(changed(actor=principal, now=now, integration=integration, before=before, after=after))
    _flush()
    return integration


# -- token verbs --------------------------------------------------------------------------------------
def generate_token(
    principal: Principal,
    integration_id: str,
    *,
    policy: TokenPolicy,
    now: datetime,
    expires_in: int | None = None,
    expected_version: int | None = None,
) -> IssuedToken:
    """The first token of an integration (or the next one after all were expired). Refused while one is live."""
    integration = _for_change(principal, integration_id, expected_version, now)
    _require_enabled(integration)
    if live_tokens(integration.id, now):
        raise ConflictError("this integration already has a live token; rotate it instead")
    stopped = _end_older_tokens(integration.id, now)
    issued = _issue(integration, policy, now, expires_in)
    emit(
        de.TokenGenerated(
            actor=principal,
            now=now,
            integration=integration,
            token=issued.record,
            after=serialize_token(issued.record, now),
            stopped=tuple(stopped),
        )
    )
    _flush()
    return issued


def rotate_now(
    principal: Principal,
    integration_id: str,
    *,
    policy: TokenPolicy,
    now: datetime,
    expires_in: int | None = None,
    expected_version: int | None = None,
) -> IssuedToken:
    """A new token; every previous live token stops at once."""
    integration = _for_change(principal, integration_id, expected_version, now)
    _require_enabled(integration)
    previous = live_tokens(integration.id, now)
    if not previous:
        raise ConflictError("this integration has no live token to rotate; generate one")
    issued = _issue(integration, policy, now, expires_in)
    for row in previous:
        _revoke(row, now, "rotated")
        if row.replaced_by is None:
            row.replaced_by = issued.record.jti
    superseded = _end_older_tokens(integration.id, now, keep=[issued.record])
    emit(
        de.TokenRotated(
            actor=principal,
            now=now,
            integration=integration,
            token=issued.record,
            previous=tuple(previous),
            stopped=(*previous, *superseded),
            after={"token": serialize_token(issued.record, now), "old_tokens_end": isoformat(now)},
        )
    )
    _flush()
    return issued


def rotate_with_grace(
    principal: Principal,
    integration_id: str,
    *,
    policy: TokenPolicy,
    now: datetime,
    grace_until: datetime,
    expires_in: int | None = None,
    expected_version: int | None = None,
) -> IssuedToken:
    """A new token; the current one keeps working until ``grace_until``. An older grace token ends at once."""
    if not now + timedelta(seconds=MIN_GRACE) <= grace_until <= now + timedelta(seconds=MAX_GRACE):
        raise InvalidInputError("the grace period must be between 1 hour and 30 days", field="grace")
    integration = _for_change(principal, integration_id, expected_version, now)
    _require_enabled(integration)
    previous = live_tokens(integration.id, now)
    # The current token rotates; if an admin expired it during a grace period, the grace token left behind rotates
    # on (generating is refused while it lives), keeping the earlier of its two deadlines.
    current = [row for row in previous if row.replaced_by is None] or previous[:1]
    if not current:
        raise ConflictError("this integration has no live token to rotate; generate one")
    issued = _issue(integration, policy, now, expires_in)
    superseded = _end_older_tokens(integration.id, now, keep=[*current, issued.record])  # at most two live tokens
    for row in current:
        row.replaced_by = issued.record.jti
        row.ends_at = min(grace_until, row.ends_at or grace_until, row.expires_at)
    emit(
        de.TokenRotatedWithGrace(
            actor=principal,
            now=now,
            integration=integration,
            token=issued.record,
            previous=tuple(previous),
            stopped=tuple(superseded),
            ending=tuple(current),
            after={
                "token": serialize_token(issued.record, now),
                "grace_token": current[0].jti,
                "grace_until": isoformat(current[0].ends_at),
            },
        )
    )
    _flush()
    return issued


def expire_now(
    principal: Principal,
    integration_id: str,
    *,
    now: datetime,
    jti: str | None = None,
    expected_version: int | None = None,
) -> list[AccessToken]:
    """Every live token (or just ``jti``, e.g. a grace token) stops at once; the integration stays."""
    integration = _for_change(principal, integration_id, expected_version, now)
    targets = _unended_tokens(integration.id, now)
    if jti is not None:
        targets = [row for row in targets if row.jti == jti]
        if not targets:
            raise NotFoundError(f"no live token {jti!r} on this integration")
    for row in targets:
        _revoke(row, now, "expired_by_admin")
    emit(de.TokenExpired(actor=principal, now=now, integration=integration, stopped=tuple(targets)))
    _flush()
    return targets


def expire_later(
    principal: Principal, integration_id: str, *, now: datetime, at: datetime, expected_version: int | None = None
) -> AccessToken:
    """Schedule the current token's end without rotating."""
    if at <= now:
        raise InvalidInputError("the end must be in the future; use expire now instead", field="at")
    integration = _for_change(principal, integration_id, expected_version, now)
    live = live_tokens(integration.id, now)
    current = [row for row in live if row.replaced_by is None]
    if not current:
        hint = "rotate to issue one" if live else "generate one"
        raise ConflictError(f"this integration has no current token; {hint}")
    row = current[0]
    before = serialize_token(row, now)
    row.ends_at = min(at, row.expires_at)
    emit(
        de.TokenExpiryScheduled(
            actor=principal,
            now=now,
            integration=integration,
            ending=(row,),
            before=before,
            after=serialize_token(row, now),
        )
    )
    _flush()
    return row


def revoke_by_endpoint(principal: Principal, jti: str, *, now: datetime) -> bool:
    """RFC 7009 revocation of one token, already authorized by the endpoint. True if something changed.

    Revocation must not fail because another change to the same integration committed first (two of its tokens
    revoked at once): on a version conflict it is tried again on fresh state. That retry rolls back, so the
    endpoint calls this first in its unit of work (it is the request's only change)."""
    try:
        return _revoke_once(principal, jti, now)
    except (ConflictError, OperationalError):  # a version conflict, or SQLite's stale-snapshot "locked"
        db.session.rollback()
        return _revoke_once(principal, jti, now)


def _revoke_once(principal: Principal, jti: str, now: datetime) -> bool:
    row = db.session.get(AccessToken, jti)
    if row is None or row.revoked_at is not None:
        return False
    integration = db.session.get(Integration, row.integration_id)
    assert integration is not None  # the token's foreign key
    before = serialize_token(row, now)
    _revoke(row, now, "revoked")
    _touch(integration, now)  # bumps the version: a concurrent rotation conflicts instead of racing
    _flush()  # claim the integration row now, so the loser of a race waits here and sees a conflict
    emit(de.TokenRevoked(actor=principal, now=now, token=row, before=before, after=serialize_token(row, now)))
    _flush()
    return True


def expire_inactive(
    principal: Principal,
    *,
    now: datetime,
    limit: int = 1000,
    recent_use: Callable[[str], datetime | None] | None = None,
) -> list[str]:
    """Mark tokens idle past their window as expired, and audit each. Idempotent: safe to run from cron.

    Idleness is the token's own ``status`` (TokenState), counting a use still in this process's activity buffer
    (``recent_use``), so a token used a moment ago is never expired for a use not yet flushed. The token ended
    when its window did (its idle deadline): that moment, not ``now``, is its ``revoked_at`` and end latch
    (``ended_at``, replacing a later one a reader latched) and what the event carries, however late the job ran."""
    rows = db.session.scalars(
        select(AccessToken)
        .join(Integration, Integration.id == AccessToken.integration_id)
        .where(
            AccessToken.revoked_at.is_(None),
            AccessToken.expires_at > now,
            # a token whose grace or scheduled end has passed ended; it is not relabelled "inactive"
            or_(AccessToken.ends_at.is_(None), AccessToken.ends_at > now),
            Integration.inactivity_window.is_not(None),
        )
    ).all()
    expired = []
    for row in rows:
        state = token_state(row)
        recent = recent_use(row.jti) if recent_use else None
        if state.status(now, recent) != "expired_inactive":
            continue
        window_end = state.idle_deadline(recent)
        assert state.inactivity_window is not None and window_end is not None  # else never "expired_inactive"
        _revoke(row, window_end, "inactive")
        row.ended_at = window_end
        emit(
            de.TokenExpiredInactive(
                actor=principal, now=now, token=row, window=state.inactivity_window, ended_at=window_end
            )
        )
        expired.append(row.jti)
        if len(expired) >= limit:
            break
    db.session.flush()
    return expired


GRACE_END_LOOKBACK = timedelta(days=30)  # how far back a grace end not yet recorded is still recorded


def record_grace_ends(principal: Principal, *, now: datetime) -> list[str]:
    """Record in the audit trail each grace period that ran out (the token was not revoked before its end), once,
    dated when it ended; returns the tokens. Idempotent, run with ``expire_inactive`` (``token
    expire-inactive``): nothing happens at a deadline by itself, so a job writes down what time did."""
    ended = list(
        db.session.scalars(
            select(AccessToken)
            .where(
                AccessToken.replaced_by.is_not(None),
                AccessToken.ends_at <= now,
                AccessToken.ends_at > now - GRACE_END_LOOKBACK,
                or_(AccessToken.revoked_at.is_(None), AccessToken.revoked_at > AccessToken.ends_at),
            )
            .order_by(AccessToken.ends_at)
        )
    )
    if not ended:
        return []
    recorded = {
        (after or {}).get("token")
        for after in db.session.scalars(
            select(AuditEvent.after).where(
                AuditEvent.action == de.TokenGraceEnded.AUDIT,
                AuditEvent.target_id.in_({row.integration_id for row in ended}),
                AuditEvent.occurred_at >= min(row.ends_at for row in ended if row.ends_at is not None),
            )
        )
    }
    done = []
    for row in ended:
        if row.jti in recorded or row.ends_at is None:
            continue
        emit(de.TokenGraceEnded(actor=principal, now=row.ends_at, integration_id=row.integration_id, token=row))
        done.append(row.jti)
    db.session.flush()
    return done


# -- helpers ------------------------------------------------------------------------------------------
def _for_change(principal: Principal, integration_id: str, expected_version: int | None, now: datetime) -> Integration:
    """Load for a change and touch it, so the commit bumps its version and concurrent changes conflict."""
    try:
        integration = get_integration_for(principal, integration_id, write=True)
    except NotFoundError:
        _audit_refused_change(principal, integration_id, now)
        raise
    if expected_version is not None and integration.version != expected_version:
        raise ConflictError(
            "the integration changed since you loaded it (another admin acted on it); reload and try again"
        )
    _touch(integration, now)
    # Claim the row now: the version-checked UPDATE runs before anything is read for the change, so of two
    # concurrent actions the second waits for the first and then conflicts, instead of acting on stale reads.
    _flush()
    return integration


def _audit_refused_change(principal: Principal, integration_id: object, now: datetime) -> None:
    """Another tenant's integration is simply "not found" for the caller, and the attempt is audited on the caller's
    own account (an IntegrationChangeRefused event, kept when the refused action rolls back). An id that exists
    nowhere is recorded the same way, so the caller's trail cannot tell which ids another tenant has."""
    if not is_identifier(integration_id):
        return
    integration = db.session.get(Integration, integration_id)
    if integration is not None and principal.can_view(integration.account_id):
        return
    emit_refusal(
        de.IntegrationChangeRefused(
            actor=principal,
            now=now,
            target_type="integration",
            target_id=str(integration_id),
            reason="no integration of the caller's accounts",
        )
    )


def _touch(integration: Integration, now: datetime) -> None:
    """Mark the integration changed so the commit bumps its version even when ``updated_at`` keeps its value
    (two actions within one second): SQLAlchemy skips the UPDATE, and the version check, for equal values."""
    integration.updated_at = now
    flag_modified(integration, "updated_at")


def _require_enabled(integration: Integration) -> None:
    if integration.status != "active":
        raise ConflictError(f"the integration is {integration.status}; enable it first")


def _issue(integration: Integration, policy: TokenPolicy, now: datetime, expires_in: int | None) -> IssuedToken:
    # Like the scope ceiling, an agency's maximum binds its sub-accounts too.
    maximums = [
        node.max_token_lifetime for node in ancestry(get_account(integration.account_id)) if node.max_token_lifetime
    ]
    lifetime = policy.lifetime(expires_in, maximums)
    jti = new_jti()
    expires_at = seconds_after(now, lifetime, field="expires_in")
    token, kid = policy.generator.mint(
        integration_id=integration.id,
        account_id=integration.account_id,
        scope=integration.scopes,
        jti=jti,
        issued_at=now,
        expires_at=expires_at,
        resources=tuple(split_resources(integration.resources)),
        dpop_jkt=integration.dpop_jkt,
    )
    record = AccessToken(
        jti=jti,
        integration_id=integration.id,
        account_id=integration.account_id,
        kid=kid,
        scopes=integration.scopes,
        issued_at=now,
        expires_at=expires_at,
        dpop_jkt=integration.dpop_jkt,
    )
    db.session.add(record)
    return IssuedToken(token=token, record=record)


def _revoke(row: AccessToken, now: datetime, reason: str) -> None:
    """Stop the token for good; the verb's event names it (``stopped``) for the feed."""
    row.revoked_at = now
    row.revocation_reason = reason


def _unended_tokens(integration_id: str, now: datetime) -> list[AccessToken]:
    """Tokens not revoked and not past their end, whatever the integration's status: what "expire now" must stop
    for good (``live_tokens`` skips a disabled integration's tokens, which enabling it would bring back)."""
    return list(
        db.session.scalars(
            select(AccessToken)
            .where(
                AccessToken.integration_id == integration_id,
                AccessToken.revoked_at.is_(None),
                AccessToken.expires_at > now,
                or_(AccessToken.ends_at.is_(None), AccessToken.ends_at > now),
            )
            .order_by(AccessToken.issued_at.desc())
        )
    )


def _end_older_tokens(integration_id: str, now: datetime, *, keep: Sequence[AccessToken] = ()) -> list[AccessToken]:
    """Issuing a token ends, for good, every older one not kept as the grace token. One that is not live right now
    (idle as far as the database knows, or left without scopes) must not come back next to the new token when a
    buffered use is flushed or the scopes are widened: at most two live tokens, at most one current."""
    ended = [row for row in _unended_tokens(integration_id, now) if row not in keep]
    for row in ended:
        _revoke(row, now, "superseded")
    return ended


def _revoke_all(integration_id: str, now: datetime, *, reason: str) -> list[AccessToken]:
    rows = list(
        db.session.scalars(
            select(AccessToken).where(AccessToken.integration_id == integration_id, AccessToken.revoked_at.is_(None))
        )
    )
    for row in rows:
        _revoke(row, now, reason)
    return rows


def _flush() -> None:
    """Write now, so a concurrent change to the same integration is a ConflictError here (the caller's unit of
    work then rolls back), not a surprise at commit."""
    try:
        db.session.flush()
    except StaleDataError:
        raise ConflictError(
            "another change to this integration happened at the same time; reload and try again"
        ) from None


def token_status(row: AccessToken, now: datetime, recent_use: datetime | None = None) -> str:
    """The row's ``TokenState.status``: the one answer, from objects already in the session."""
    return token_state(row).status(now, recent_use)


def serialize_token(row: AccessToken, now: datetime) -> dict[str, Any]:
    idle = token_state(row).idle_deadline()
    return {
        "token_id": row.jti,
        "integration_id": row.integration_id,
        "scopes": sorted(split_scopes(row.scopes)),
        "issued_at": isoformat(row.issued_at),
        "expires_at": isoformat(row.expires_at),
        "ends_at": isoformat(row.ends_at),
        "revoked_at": isoformat(row.revoked_at),
        "revocation_reason": row.revocation_reason,
        "replaced_by": row.replaced_by,
        "last_used_at": isoformat(row.last_used_at),
        "last_used_by": row.last_used_by,
        "expires_if_unused_after": isoformat(idle),
        "kid": row.kid,
        "dpop_jkt": row.dpop_jkt,
    }


def binding_differs(row: AccessToken, integration: Integration) -> bool:
    """The token was issued with another key binding than its integration has now (RFC 9449 ``cnf`` is signed in at
    issue): it keeps its own until rotated, and the pages and the API say "rotate to apply"."""
    return row.dpop_jkt != integration.dpop_jkt
