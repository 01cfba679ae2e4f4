"""The catalogue of domain events: everything the system can do, and which surface hears each thing.

A verb makes its change, then ``emit``s one event per thing that happened (``authserver.emitter``); four projectors
run in the same transaction and commit or roll back with the change:

    feed     rows of /oauth/events that resource services read to drop cached tokens within a second (events.py)
    webhooks the outbox's event rows and pending deliveries (webhooks/outbox.py)
    audit    one append-only audit row, named by the event's AUDIT action (audit.py)
    metrics  authserver_lifecycle_actions_total{action=AUDIT}, counted once the transaction commits (metrics.py)

Each class declares its channels in three class attributes, read by the projectors and checked against them by
tests/unit/test_domain_events.py: ``AUDIT`` (the audit action, also the metrics label; None: not audited),
``FEED`` (feed row types) and ``WEBHOOKS`` (webhook event types, from webhooks/catalogue.py). A webhook event is
queued only for subscriptions that asked for it; a feed row about a token is written for every token the change
stopped (``stopped``) or gave an end (``ending``). Events carry the rows and snapshots their projectors need, the
actor (a Principal) and ``now``; they are built and projected within the verb, before anything else changes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from .models import AccessToken, Integration
from .principals import Principal

# Feed row types (the feed's contract with resource services; docs/resource-services.md).
FEED_TOKEN_REVOKED = "token.revoked"  # noqa: S105 (an event name)
FEED_TOKEN_ENDS = "token.ends"  # noqa: S105 (an event name)
FEED_INTEGRATION_CHANGED = "integration.changed"
FEED_KEY_REVOKED = "key.revoked"


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Something that happened, by ``actor`` at ``now``."""

    AUDIT: ClassVar[str | None] = None
    FEED: ClassVar[tuple[str, ...]] = ()
    WEBHOOKS: ClassVar[tuple[str, ...]] = ()

    actor: Principal
    now: datetime


@dataclass(frozen=True, kw_only=True)
class Refusal(DomainEvent):
    """An attempt on something that is not the caller's. Audited on the caller's own account, never on the one it
    reached for, and recorded in a unit of work of its own after the refused one rolled back (``emit_refusal``)."""

    target_type: str
    target_id: str
    reason: str


# -- integrations -----------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class IntegrationCreated(DomainEvent):
    AUDIT = "integration.created"
    WEBHOOKS = ("integration.created",)

    integration: Integration
    after: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class IntegrationUpdated(DomainEvent):
    """Name, description, inactivity window or resources changed; live tokens are unaffected (a token's audience is
    signed into it at issue), so no service needs to hear it."""

    AUDIT = "integration.updated"

    integration: Integration
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class IntegrationScopesChanged(DomainEvent):
    """Narrowed scopes apply to live tokens at once; widening needs a new token."""

    AUDIT = "integration.scopes_changed"
    FEED = (FEED_INTEGRATION_CHANGED,)
    WEBHOOKS = ("integration.scopes_changed",)

    integration: Integration
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class IntegrationScopesNarrowedByAccount(DomainEvent):
    """An account's ceiling was narrowed, and this integration (of it or a sub-account) with it."""

    AUDIT = "integration.scopes_narrowed_by_account"
    FEED = (FEED_INTEGRATION_CHANGED,)
    WEBHOOKS = ("integration.scopes_changed",)

    integration: Integration
    scopes_before: list[str]
    scopes_after: list[str]


@dataclass(frozen=True, kw_only=True)
class IntegrationDisabled(DomainEvent):
    """Every token stops at once, reversibly: services hear it on the feed, webhooks do not (no webhook type)."""

    AUDIT = "integration.disabled"
    FEED = (FEED_INTEGRATION_CHANGED,)

    integration: Integration
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class IntegrationEnabled(DomainEvent):
    AUDIT = "integration.enabled"
    FEED = (FEED_INTEGRATION_CHANGED,)

    integration: Integration
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class IntegrationDeleted(DomainEvent):
    """Tokens revoked for good (``stopped``), the audit trail kept."""

    AUDIT = "integration.deleted"
    FEED = (FEED_TOKEN_REVOKED, FEED_INTEGRATION_CHANGED)
    WEBHOOKS = ("integration.deleted",)

    integration: Integration
    before: dict[str, Any]
    after: dict[str, Any]
    stopped: tuple[AccessToken, ...] = ()


@dataclass(frozen=True, kw_only=True)
class IntegrationChangeRefused(Refusal):
    """Another tenant's integration, or one that exists nowhere: "not found" either way."""

    AUDIT = "integration.change_refused"


# -- tokens -----------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class TokenGenerated(DomainEvent):
    """A first (or fresh) token; older tokens not live right now end for good (``stopped``, "superseded")."""

    AUDIT = "token.generated"  # noqa: S105 (an event name)
    FEED = (FEED_TOKEN_REVOKED,)
    WEBHOOKS = ("token.generated",)

    integration: Integration
    token: AccessToken
    after: dict[str, Any]
    stopped: tuple[AccessToken, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TokenRotated(DomainEvent):
    """A new token; every previous live token (``previous``) stops at once."""

    AUDIT = "token.rotated"  # noqa: S105 (an event name)
    FEED = (FEED_TOKEN_REVOKED,)
    WEBHOOKS = ("token.rotated",)

    integration: Integration
    token: AccessToken
    previous: tuple[AccessToken, ...]
    stopped: tuple[AccessToken, ...]
    after: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class TokenRotatedWithGrace(DomainEvent):
    """A new token; the current one (``ending``) keeps working until its grace deadline."""

    AUDIT = "token.rotated_with_grace"  # noqa: S105 (an event name)
    FEED = (FEED_TOKEN_REVOKED, FEED_TOKEN_ENDS)
    WEBHOOKS = ("token.rotated",)

    integration: Integration
    token: AccessToken
    previous: tuple[AccessToken, ...]
    stopped: tuple[AccessToken, ...]
    ending: tuple[AccessToken, ...]
    after: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class TokenExpired(DomainEvent):
    """An admin stopped every live token of an integration (or one of them) now."""

    AUDIT = "token.expired"  # noqa: S105 (an event name)
    FEED = (FEED_TOKEN_REVOKED,)
    WEBHOOKS = ("token.expired",)

    integration: Integration
    stopped: tuple[AccessToken, ...]


@dataclass(frozen=True, kw_only=True)
class TokenExpiryScheduled(DomainEvent):
    """The current token gets an end without rotating. Webhooks hear nothing now, by decision: the scheduled end
    is announced by the scan as ``token.expiring`` once it is within 7 days (TokenExpiring) and as
    ``token.expired`` when it passes (TokenEnded), which is what a receiver acts on; resource services hear the
    end at once on the feed (``token.ends``)."""

    AUDIT = "token.expiry_scheduled"  # noqa: S105 (an event name)
    FEED = (FEED_TOKEN_ENDS,)

    integration: Integration
    ending: tuple[AccessToken, ...]
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class TokenRevoked(DomainEvent):
    """RFC 7009 revocation of one token."""

    AUDIT = "token.revoked"  # noqa: S105 (an event name)
    FEED = (FEED_TOKEN_REVOKED,)
    WEBHOOKS = ("token.revoked",)

    token: AccessToken
    before: dict[str, Any]
    after: dict[str, Any]

    @property
    def stopped(self) -> tuple[AccessToken, ...]:
        return (self.token,)


@dataclass(frozen=True, kw_only=True)
class TokenRevocationRefused(Refusal):
    """A revocation of a token of an account the caller does not administer (RFC 7009 still answers 200)."""

    AUDIT = "token.revocation_refused"  # noqa: S105 (an event name)


@dataclass(frozen=True, kw_only=True)
class TokenLeaked(DomainEvent):
    """A secret scanner found one of our tokens in public (secret_scanning/): a live one is revoked at once
    (``revoked``; reason "leaked"), so services hear it on the feed and the account's subscribers get
    ``token.leaked``; an already dead one is only recorded, on the integration's trail, with where it was found."""

    AUDIT = "token.leaked"  # noqa: S105 (an event name)
    FEED = (FEED_TOKEN_REVOKED,)
    WEBHOOKS = ("token.leaked",)

    token: AccessToken
    revoked: bool
    url: str
    source: str
    token_type: str

    @property
    def stopped(self) -> tuple[AccessToken, ...]:
        return (self.token,) if self.revoked else ()


@dataclass(frozen=True, kw_only=True)
class TokenExpiredInactive(DomainEvent):
    """The periodic job found a token idle past its integration's inactivity window. ``ended_at`` is when the
    window ended (last use + window), not when the job noticed (``now``); the token's row records it too."""

    AUDIT = "token.expired_inactive"  # noqa: S105 (an event name)
    FEED = (FEED_TOKEN_REVOKED,)
    WEBHOOKS = ("token.expired",)

    token: AccessToken
    window: int
    ended_at: datetime

    @property
    def stopped(self) -> tuple[AccessToken, ...]:
        return (self.token,)


@dataclass(frozen=True, kw_only=True)
class TokenExpiring(DomainEvent):
    """The scan's notice: a token stops within 7 days (grace, scheduled end) or 24 hours (inactivity). Once per
    token, reason and deadline (``dedup_key``)."""

    WEBHOOKS = ("token.expiring",)

    token: AccessToken
    reason: str
    deadline: datetime
    dedup_key: str


@dataclass(frozen=True, kw_only=True)
class TokenEnded(DomainEvent):
    """The scan found a grace period or scheduled end run out before anything else stopped the token. Once per
    token (``dedup_key``). Readers latch the end in the token's row (tokens.record_end) without an event."""

    WEBHOOKS = ("token.expired",)

    token: AccessToken
    dedup_key: str


@dataclass(frozen=True, kw_only=True)
class TokenGraceEnded(DomainEvent):
    """A rotated token's grace period ran out (nobody cut it short): recorded once, on the integration's trail,
    by the expiry job (``integrations.record_grace_ends``), at the moment it ended (``now`` is ``ends_at``).
    Audit only: resource services heard the end at the rotation (``token.ends``), webhooks from the scan."""

    AUDIT = "token.grace_ended"  # noqa: S105 (an event name)

    integration_id: str
    token: AccessToken


# -- signing keys -----------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class SigningKeyRevoked(DomainEvent):
    """Every token the key signed is inactive; about every account, so every service hears it."""

    AUDIT = "key.revoked"
    FEED = (FEED_KEY_REVOKED,)

    kid: str
    before: dict[str, Any]
    after: dict[str, Any]


# -- accounts and people ----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class AccountCreated(DomainEvent):
    AUDIT = "account.created"

    account_id: str
    after: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class AccountUpdated(DomainEvent):
    """Name or ceilings changed; a narrowed ceiling also emits IntegrationScopesNarrowedByAccount per integration."""

    AUDIT = "account.updated"

    account_id: str
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class UserAdded(DomainEvent):
    AUDIT = "user.added"

    account_id: str
    user_id: str
    email: str
    role: str


@dataclass(frozen=True, kw_only=True)
class PasswordChanged(DomainEvent):
    """Every session of the user ended with it. On no account: the operator sees it."""

    AUDIT = "user.password_changed"  # noqa: S105 (an event name)

    user_id: str


# -- API clients ------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class ClientEvent(DomainEvent):
    account_id: str | None
    client_id: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class ClientCreated(ClientEvent):
    AUDIT = "client.created"


@dataclass(frozen=True, kw_only=True)
class ClientSecretRotated(ClientEvent):
    AUDIT = "client.secret_rotated"  # noqa: S105 (an event name)


@dataclass(frozen=True, kw_only=True)
class ClientDisabled(ClientEvent):
    AUDIT = "client.disabled"


@dataclass(frozen=True, kw_only=True)
class ClientEnabled(ClientEvent):
    AUDIT = "client.enabled"


@dataclass(frozen=True, kw_only=True)
class ClientLimitChanged(ClientEvent):
    """Its own rate limit set, or cleared back to the server's default; holds from the next request everywhere."""

    AUDIT = "client.limit_changed"


@dataclass(frozen=True, kw_only=True)
class ClientPingUrlChanged(ClientEvent):
    """A resource service's ping URL registered, changed or removed (the admin UI's Check access calls it)."""

    AUDIT = "client.ping_url_changed"


@dataclass(frozen=True, kw_only=True)
class ClientIntrospectionSigningChanged(ClientEvent):
    """A resource service's introspection answers set to be signed always (RFC 9701), or only when it asks."""

    AUDIT = "client.introspection_signing_changed"


@dataclass(frozen=True, kw_only=True)
class ClientDeleted(ClientEvent):
    """Its webhook subscriptions stop with it."""

    AUDIT = "client.deleted"


# -- webhook subscriptions --------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class WebhookSubscribed(DomainEvent):
    AUDIT = "webhook.subscribed"

    account_id: str | None
    subscription_id: str
    after: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class WebhookDeleted(DomainEvent):
    """Kept for the audit trail; pending deliveries cancelled."""

    AUDIT = "webhook.deleted"

    account_id: str | None
    subscription_id: str
    before: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class WebhookRedeliveryRequested(DomainEvent):
    AUDIT = "webhook.redelivery_requested"

    account_id: str | None
    delivery_id: str
    before: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class WebhookSigningKeyRotated(DomainEvent):
    """A new Ed25519 webhook key signs from now; the previous one is still published (and signs too) until
    ``retiring_until`` (webhooks/signing.py)."""

    AUDIT = "webhook.signing_key_rotated"

    kid: str
    before: dict[str, Any]
    after: dict[str, Any]


# -- housekeeping -----------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class ServiceEventPublished(DomainEvent):
    """A v2 service published a data event for an account (``POST /api/service-events``). Webhooks only: not
    audited, since it is the service's own data at the service's rate; its outbox row (id, type, account, time and
    the service's idempotency key) is the record."""

    WEBHOOKS = (
        "contact.created",
        "contact.updated",
        "contact.deleted",
        "calendar.created",
        "calendar.updated",
        "calendar.deleted",
        "calendar.event.created",
        "calendar.event.updated",
        "calendar.event.deleted",
    )

    message_id: str  # the webhook-id receivers see, answered to the service (202)
    event_type: str
    account_id: str
    client_id: str
    dedup_key: str  # (client, the service's id): a retried publication is recognised, never delivered twice
    occurred_at: datetime
    data: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class RetentionPruned(DomainEvent):
    """Rows past their retention window were deleted (retention.py); the counts per kind."""

    AUDIT = "retention.pruned"

    counts: dict[str, int]


# -- the instance -----------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class IssuerRecorded(DomainEvent):
    """The issuer every token names was recorded for this instance (init, first start or first minting command)."""

    AUDIT = "instance.issuer_recorded"

    issuer: str


@dataclass(frozen=True, kw_only=True)
class IssuerChanged(DomainEvent):
    """The recorded issuer was changed on purpose (``authserver init --reset-issuer``)."""

    AUDIT = "instance.issuer_changed"

    before: str
    after: str


# -- v1 keys ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class V1KeyEvent(DomainEvent):
    account_id: str
    key_id: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class V1KeyCreated(V1KeyEvent):
    AUDIT = "v1_key.created"


@dataclass(frozen=True, kw_only=True)
class V1KeyMigrated(V1KeyEvent):
    """With the integration and token it became, in the same transaction (IntegrationCreated, TokenGenerated)."""

    AUDIT = "v1_key.migrated"


@dataclass(frozen=True, kw_only=True)
class V1KeyMigrationRolledBack(V1KeyEvent):
    """The v1 key works on with no end; the integration is deleted (IntegrationDeleted) in the same transaction."""

    AUDIT = "v1_key.migration_rolled_back"


def catalogue() -> list[type[DomainEvent]]:
    """Every concrete event class, in the order above."""
    found: list[type[DomainEvent]] = []
    pending = list(DomainEvent.__subclasses__())
    while pending:
        cls = pending.pop(0)
        pending[:0] = cls.__subclasses__()
        if cls not in (Refusal, ClientEvent, V1KeyEvent):
            found.append(cls)
    return found
