"""Registered API clients: resource services (introspect) and admin clients (manage, revoke), and their lifecycle.

A client's secret can be rotated (the previous one keeps working until an overlap ends), and the client disabled,
enabled again or deleted. Every change holds at once on every worker and instance: authentication reads the client
row on every request (``load_credentials``), so there is nothing to expire. Only SHA-256 digests of secrets are
kept, and they are compared in constant time.

Tenancy: an account's admins manage that account's clients (an agency's admins, its sub-accounts' clients too); a
resource service registered for every account (no account) is the operator's alone.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, or_, select, update

from . import domain_events as de
from .accounts import clean_name, descendants, get_account_for
from .config import parse_rate
from .config_values import ConfigError
from .durations import isoformat, parse_duration
from .emitter import emit
from .errors import ForbiddenError, InvalidInputError, NotFoundError
from .extensions import db
from .hotpath.fair_gate import NOT_GATED, WaitHook
from .hotpath.prepared_reads import PreparedRead
from .models import ApiClient, WebhookDelivery, WebhookSubscription
from .principals import Principal
from .resource_uris import parse_resource
from .security import is_identifier, new_id, new_secret, secret_digest
from .service_ping import parse_ping_url

KINDS = ("resource-service", "admin")
DEFAULT_OVERLAP = 24 * 3600
MAX_OVERLAP = 30 * 86400  # a leaked secret should not outlive a month of notice


# -- registration ---------------------------------------------------------------------------------------
def create_client(
    principal: Principal,
    *,
    name: str,
    kind: str,
    account_id: str | None,
    now: datetime,
    resource: str | None = None,
    ping_url: str | None = None,
) -> tuple[ApiClient, str]:
    """Register a client; the secret is returned once and only its SHA-256 digest is kept. A resource service may
    be registered for its RFC 8707 resource URI: tokens limited to named services are active only for theirs."""
    name = clean_name(name)
    if kind not in KINDS:
        raise InvalidInputError("kind must be resource-service or admin", field="kind")
    if kind == "admin" and not account_id:
        raise InvalidInputError("an admin client belongs to an account", field="account_id")
    if account_id:
        get_account_for(principal, account_id, write=True)
    elif not principal.is_operator:
        raise ForbiddenError("only the operator may register a resource service for every account")
    if resource is not None:
        if kind != "resource-service":
            raise InvalidInputError("only a resource service has a resource", field="resource")
        resource = parse_resource(resource)
    if ping_url is not None:
        if kind != "resource-service":
            raise InvalidInputError("only a resource service has a ping URL", field="ping_url")
        ping_url = parse_ping_url(ping_url)
    secret = new_secret()
    client = ApiClient(
        client_id=new_id("cli"),
        name=name,
        kind=kind,
        account_id=account_id,
        resource=resource,
        ping_url=ping_url,
        secret_digest=secret_digest(secret),
        created_at=now,
    )
    db.session.add(client)
    emit(
        de.ClientCreated(
            actor=principal,
            now=now,
            account_id=account_id,
            client_id=client.client_id,
            after={"name": name, "kind": kind, "resource": resource, "ping_url": ping_url},
        )
    )
    db.session.flush()
    return client, secret


# -- authentication (every request) ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ClientCredentials:
    """What authentication needs of a client row, read fresh on every request."""

    client_id: str
    kind: str
    account_id: str | None
    secret_digest: str
    previous_secret_digest: str | None
    previous_secret_expires_at: datetime | None
    disabled_at: datetime | None
    deleted_at: datetime | None
    resource: str | None = None  # its RFC 8707 resource URI (introspection of tokens limited to named services)
    introspection_limit: str | None = None  # its own limit, "N/period" or "off"; None: the server's default
    introspection_signing: str | None = None  # "always": every introspection answer signed (RFC 9701); None: asked

    @property
    def is_enabled(self) -> bool:
        return self.disabled_at is None and self.deleted_at is None


_CREDENTIAL_COLUMNS = (
    ApiClient.client_id,
    ApiClient.kind,
    ApiClient.account_id,
    ApiClient.secret_digest,
    ApiClient.previous_secret_digest,
    ApiClient.previous_secret_expires_at,
    ApiClient.disabled_at,
    ApiClient.deleted_at,
    ApiClient.resource,
    ApiClient.introspection_limit,
    ApiClient.introspection_signing,
)
_CREDENTIAL_FIELDS = tuple(column.key for column in _CREDENTIAL_COLUMNS)


def _credentials_of(row: Sequence[Any]) -> ClientCredentials:
    return ClientCredentials(**dict(zip(_CREDENTIAL_FIELDS, row, strict=True)))  # by name, not position


CREDENTIALS_READ = PreparedRead(
    select(*_CREDENTIAL_COLUMNS).where(ApiClient.client_id == bindparam("client_id")), _credentials_of
)


def load_credentials(client_id: object, wait: WaitHook = NOT_GATED) -> ClientCredentials | None:
    """An enabled client's credentials, by primary key, as the database has them now (a disable, deletion or
    rotation is effective on the next request in every worker and instance). Outside a transaction it runs prepared
    on a kept read connection (see hotpath/prepared_reads), as the token state read does: on SQLite the row is
    served again only while no commit has been made since it was read. ``wait`` is entered around that read's
    round trip."""
    if not is_identifier(client_id):
        return None
    registry = db.session.registry
    if not registry.has() or not registry().in_transaction():
        credentials = CREDENTIALS_READ.first(db.engine, {"client_id": client_id}, wait)
    else:
        row = db.session.execute(select(*_CREDENTIAL_COLUMNS).where(ApiClient.client_id == client_id)).first()
        credentials = None if row is None else _credentials_of(row)
    return credentials if credentials is not None and credentials.is_enabled else None


def check_client_secret(client: ApiClient | ClientCredentials, secret: object, now: datetime) -> bool:
    """The current secret, or the previous one until its overlap ends. Both digests are always compared (in
    constant time), so the timing does not tell which one matched or whether a previous secret exists."""
    if not isinstance(secret, str) or not secret:
        return False
    offered = secret_digest(secret)  # hashed once, compared with both
    current = hmac.compare_digest(offered, client.secret_digest)
    previous = hmac.compare_digest(offered, client.previous_secret_digest or "")
    in_overlap = client.previous_secret_expires_at is not None and now < client.previous_secret_expires_at
    return current or (previous and in_overlap)


def find_client(client_id: str) -> ApiClient | None:
    """An enabled (not disabled, not deleted) client row."""
    if not is_identifier(client_id):
        return None
    client = db.session.get(ApiClient, client_id)
    return client if client is not None and client.disabled_at is None and client.deleted_at is None else None


def client_principal(client: ApiClient | ClientCredentials, source_address: str | None) -> Principal:
    admin_of = descendants({client.account_id}) if client.kind == "admin" and client.account_id else frozenset()
    return Principal(
        kind="admin_client",
        id=client.client_id,
        admin_of=admin_of,
        source_address=source_address,
        account_id=client.account_id,
    )


# -- management -----------------------------------------------------------------------------------------
def list_clients(account_id: str | None = None) -> list[ApiClient]:
    """Every client that is not deleted (the operator's view), optionally of one account."""
    query = select(ApiClient).where(ApiClient.deleted_at.is_(None)).order_by(ApiClient.created_at, ApiClient.client_id)
    if account_id:
        query = query.where(ApiClient.account_id == account_id)
    return list(db.session.scalars(query))


def list_clients_for(principal: Principal, account_id: str | None = None) -> list[ApiClient]:
    """The clients the principal may see: one account's (which it may view), or every account it may view.
    Resource services for every account appear only to the operator."""
    if account_id is not None:
        get_account_for(principal, account_id)
        return list_clients(account_id)
    if principal.is_operator:
        return list_clients()
    visible = principal.admin_of | principal.member_of
    return [client for client in list_clients() if client.account_id in visible]


def get_client_for(principal: Principal, client_id: object, *, write: bool = False) -> ApiClient:
    """The client if the principal may see it (or change it); another tenant's client is simply not found."""
    client = db.session.get(ApiClient, client_id) if is_identifier(client_id) else None
    if client is None or client.deleted_at is not None or not _may_view(principal, client):
        raise NotFoundError(f"client {client_id!r} not found")
    if write and not principal.is_operator:
        if client.account_id is None:
            raise ForbiddenError("only the operator may change a resource service for every account")
        get_account_for(principal, client.account_id, write=True)
    return client


def _may_view(principal: Principal, client: ApiClient) -> bool:
    if principal.is_operator:
        return True
    return client.account_id is not None and principal.can_view(client.account_id)


def parse_overlap(value: object, *, field: str = "overlap") -> int:
    """Seconds the previous secret keeps working: ``0`` (stops at once), a duration like ``24h``, or seconds."""
    if value is None:
        return DEFAULT_OVERLAP
    if isinstance(value, bool):
        raise InvalidInputError(f"{field} must be 0 or a duration like 24h", field=field)
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and value.strip() in ("0", "0s", "0m", "0h", "0d"):
        seconds = 0
    elif isinstance(value, str):
        seconds = parse_duration(value, field=field)
    else:
        raise InvalidInputError(f"{field} must be 0 or a duration like 24h", field=field)
    if seconds < 0 or seconds > MAX_OVERLAP:
        raise InvalidInputError(f"{field} must be between 0 and 30d", field=field)
    return seconds


def rotate_client_secret(principal: Principal, client_id: str, *, overlap: int, now: datetime) -> tuple[ApiClient, str]:
    """A new secret, returned once. The one it replaces keeps working for ``overlap`` seconds (0: not at all);
    a secret older than that (from an earlier rotation) stops now, so at most two ever work."""
    client = get_client_for(principal, client_id, write=True)
    if not 0 <= overlap <= MAX_OVERLAP:
        raise InvalidInputError("overlap must be between 0 and 30d", field="overlap")
    secret = new_secret()
    ends = now + timedelta(seconds=overlap) if overlap else None
    client.previous_secret_digest = client.secret_digest if ends is not None else None
    client.previous_secret_expires_at = ends
    client.secret_digest = secret_digest(secret)
    client.secret_rotated_at = now
    emit(
        de.ClientSecretRotated(
            actor=principal,
            now=now,
            account_id=client.account_id,
            client_id=client.client_id,
            after={"previous_secret_expires_at": isoformat(ends)},
        )
    )
    db.session.flush()
    return client, secret


def set_client_enabled(principal: Principal, client_id: str, enabled: bool, *, now: datetime) -> ApiClient:
    """Disable (refused from the next request on, everywhere) or enable again; doing it twice changes nothing."""
    client = get_client_for(principal, client_id, write=True)
    if enabled == (client.disabled_at is None):
        return client
    before = {"status": client_status(client)}
    client.disabled_at = None if enabled else now
    changed = de.ClientEnabled if enabled else de.ClientDisabled
    emit(
        changed(
            actor=principal,
            now=now,
            account_id=client.account_id,
            client_id=client.client_id,
            before=before,
            after={"status": client_status(client)},
        )
    )
    db.session.flush()
    return client


def delete_client(principal: Principal, client_id: str, *, now: datetime) -> None:
    """Delete for good: the row becomes a tombstone with no credential left in it (audit trails, last-used marks
    and webhook subscriptions still name it), and its webhook subscriptions stop with it."""
    client = get_client_for(principal, client_id, write=True)
    before = {"status": client_status(client), "name": client.name, "kind": client.kind}
    client.deleted_at = now
    client.disabled_at = client.disabled_at or now
    client.secret_digest = ""  # matches no secret: a digest is 64 hex characters
    client.previous_secret_digest = None
    client.previous_secret_expires_at = None
    _stop_webhooks_of(client.client_id, now)
    emit(
        de.ClientDeleted(
            actor=principal, now=now, account_id=client.account_id, client_id=client.client_id, before=before
        )
    )
    db.session.flush()


def _stop_webhooks_of(client_id: str, now: datetime) -> None:
    """A deleted resource service's webhook subscriptions are deleted too, as ``delete_subscription`` does it:
    kept for the audit trail, pending deliveries cancelled."""
    subscriptions = select(WebhookSubscription.id).where(
        WebhookSubscription.client_id == client_id, WebhookSubscription.status != "deleted"
    )
    db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.subscription_id.in_(subscriptions),
            WebhookDelivery.status == "pending",
        )
        .values(status="cancelled", next_attempt_at=None)
    )
    db.session.execute(
        update(WebhookSubscription)
        .where(WebhookSubscription.id.in_(subscriptions))
        .values(status="deleted", updated_at=now)
    )


# -- its own rate limit ---------------------------------------------------------------------------------------
def parse_client_limit(value: object, *, field: str = "introspection") -> str | None:
    """A client's own limit as stored: "N/period" (``100000/1m``) or ``off``; ``default`` (or None) clears it, so
    the server's setting applies again."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "default"):
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f'{field} must look like "100000/1m", "off" or "default"', field=field)
    text = value.strip().lower()
    try:
        parse_rate(text, field)
    except ConfigError:
        raise InvalidInputError(
            f'{field} must look like "100000/1m" (a count up to 9 digits per s, m, h or d), "off" or "default"',
            field=field,
        ) from None
    return text


def is_within(limit: str | None, default: tuple[int, int] | None) -> bool:
    """Whether ``limit`` (as stored) allows no more than ``default`` (the server's setting, None: off): no larger
    burst and no faster rate. An account's admins may tighten their clients' limits; only the operator loosens."""
    if limit is None or default is None:
        return True
    rate = parse_rate(limit, "introspection")
    if rate is None:
        return False
    (count, period), (default_count, default_period) = rate, default
    return count <= default_count and count * default_period <= default_count * period


def set_client_limit(
    principal: Principal,
    client_id: str,
    *,
    introspection: str | None,
    default: tuple[int, int] | None,
    now: datetime,
) -> ApiClient:
    """Set (or, with None, clear) a resource service's own introspection limit; the next request in every worker
    and instance reads it with the client's row. ``default`` is the server's setting, which only the operator may
    exceed: a limit exists to protect everyone else from this client."""
    client = get_client_for(principal, client_id, write=True)
    if client.kind != "resource-service":
        raise InvalidInputError(
            "only a resource service introspects: it alone has an introspection limit", field="introspection"
        )
    if not principal.is_operator and not is_within(introspection, default):
        raise ForbiddenError("only the operator may set a limit above the server's default")
    return _change_setting(principal, client, "introspection_limit", introspection, de.ClientLimitChanged, now)


# -- its ping URL (Check access) ---------------------------------------------------------------------------
def set_client_ping_url(principal: Principal, client_id: str, *, ping_url: str | None, now: datetime) -> ApiClient:
    """Register (or, with None, remove) the URL where a resource service answers who a token speaks for; the
    integration page's Check access calls it, and only it, with a token an admin pastes (service_ping.py)."""
    client = get_client_for(principal, client_id, write=True)
    if client.kind != "resource-service":
        raise InvalidInputError("only a resource service has a ping URL", field="ping_url")
    if ping_url is not None:
        ping_url = parse_ping_url(ping_url)
    return _change_setting(principal, client, "ping_url", ping_url, de.ClientPingUrlChanged, now)


# -- its introspection answers, signed always or when asked (RFC 9701) --------------------------------------------
ALWAYS_SIGNED = "always"  # the stored value; NULL: signed when the service asks (Accept)
INTROSPECTION_SIGNING_MODES = ("always", "when_asked")  # as the API, the CLI and the UI name the two settings


def set_introspection_signing(principal: Principal, client_id: str, *, always: bool, now: datetime) -> ApiClient:
    """Answer every introspection of a resource service with a signed JWT (RFC 9701 section 6), or, with
    ``always`` False, only those it asks for by ``Accept``. Read with the client's row on every request, so it
    holds from the next one in every worker and instance."""
    client = get_client_for(principal, client_id, write=True)
    if client.kind != "resource-service":
        raise InvalidInputError(
            "only a resource service introspects: it alone gets signed introspection answers",
            field="introspection_signing",
        )
    value = ALWAYS_SIGNED if always else None
    return _change_setting(principal, client, "introspection_signing", value, de.ClientIntrospectionSigningChanged, now)


def introspection_signing_mode(client: ApiClient) -> str:
    """ "always" or "when_asked", as the surfaces show the setting."""
    return "always" if client.introspection_signing == ALWAYS_SIGNED else "when_asked"


def _change_setting(
    principal: Principal,
    client: ApiClient,
    name: str,
    value: str | None,
    event: type[de.ClientLimitChanged] | type[de.ClientPingUrlChanged] | type[de.ClientIntrospectionSigningChanged],
    now: datetime,
) -> ApiClient:
    """Set one of a client's settings and emit ``event`` with before and after; a value it already has is no change."""
    before = getattr(client, name)
    if value == before:
        return client
    setattr(client, name, value)
    emit(
        event(
            actor=principal,
            now=now,
            account_id=client.account_id,
            client_id=client.client_id,
            before={name: before},
            after={name: value},
        )
    )
    db.session.flush()
    return client


def client_status(client: ApiClient) -> str:
    if client.deleted_at is not None:
        return "deleted"
    return "disabled" if client.disabled_at is not None else "active"


def serialize_client(client: ApiClient, now: datetime) -> dict[str, Any]:
    overlap_ends = client.previous_secret_expires_at
    if overlap_ends is not None and overlap_ends <= now:
        overlap_ends = None
    return {
        "client_id": client.client_id,
        "name": client.name,
        "kind": client.kind,
        "account_id": client.account_id,
        "resource": client.resource,
        "introspection_limit": client.introspection_limit,  # null: the server's default
        "ping_url": client.ping_url,  # null: none registered (Check access does not call it)
        "introspection_signing": introspection_signing_mode(client),  # RFC 9701: "always" or "when_asked"
        "status": client_status(client),
        "created_at": isoformat(client.created_at),
        "disabled_at": isoformat(client.disabled_at),
        "secret_rotated_at": isoformat(client.secret_rotated_at),
        "previous_secret_expires_at": isoformat(overlap_ends),
        "last_used_at": isoformat(client.last_used_at),
    }


_USED_AT = bindparam("b_at", type_=ApiClient.last_used_at.type)


def note_client_uses(uses: dict[str, datetime]) -> None:
    """Write buffered last-used times (one statement for all); a time only ever moves forward."""
    if not uses:
        return
    statement = (
        update(ApiClient)
        .where(ApiClient.client_id == bindparam("b_id"))
        .where(or_(ApiClient.last_used_at.is_(None), ApiClient.last_used_at < _USED_AT))
        .values(last_used_at=_USED_AT)
    )
    db.session.connection().execute(statement, [{"b_id": key, "b_at": at} for key, at in uses.items()])
    db.session.commit()
