"""How domain state reads on a page: dates, badges, scope summaries, token rows and audit lines.

Presentation only: every decision about what is allowed or live comes from the domain (``integrations``)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from .. import integrations
from ..accounts import allowed_scopes
from ..extensions import db
from ..integration_search import EXPIRING_SOON, next_end
from ..models import AccessToken, Account, ApiClient, AuditEvent, Integration
from ..scopes import CATALOGUE, split_scopes
from ..security import is_identifier
from ..users import emails_by_id

ACCESS_LABELS = {"readonly": "Read", "write": "Write"}

TOKEN_STATUS = {
    "active": ("Active", "green"),
    "grace": ("Grace period", "amber"),
    "rotated": ("Rotated", "grey"),
    "revoked": ("Revoked", "red"),
    "expired": ("Expired", "grey"),
    "expired_inactive": ("Expired (unused)", "grey"),
    "inactive": ("Not working", "grey"),
}


# -- time -----------------------------------------------------------------------------------------------
def when(moment: datetime | None) -> str:
    """Absolute and unambiguous: every time on the pages is UTC and says so."""
    return "—" if moment is None else moment.strftime("%-d %b %Y, %H:%M UTC")


def day(moment) -> str:
    return moment.strftime("%-d %b")


def iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "Never"
    seconds = int((now - moment).total_seconds())
    future, seconds = seconds < 0, abs(seconds)
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = seconds // size
            text = f"{count} {unit}{'' if count == 1 else 's'}"
            return f"in {text}" if future else f"{text} ago"
    return "in under a minute" if future else "just now"


# -- accounts and scopes --------------------------------------------------------------------------------
@dataclass(frozen=True)
class AccountEntry:
    account: Account
    depth: int
    path: str  # "Agency › Sub", for the switcher


def account_tree(accounts: list[Account]) -> list[AccountEntry]:
    """Agencies first, each followed by its sub-accounts (only accounts the user belongs to are given)."""
    by_parent: dict[str | None, list[Account]] = {}
    ids = {account.id for account in accounts}
    for account in accounts:
        parent = account.parent_id if account.parent_id in ids else None
        by_parent.setdefault(parent, []).append(account)
    entries: list[AccountEntry] = []

    def walk(parent_id: str | None, depth: int, prefix: str) -> None:
        for account in sorted(by_parent.get(parent_id, []), key=lambda a: (a.name.lower(), a.id)):
            path = f"{prefix} › {account.name}" if prefix else account.name
            entries.append(AccountEntry(account, depth, path))
            walk(account.id, depth + 1, path)

    walk(None, 0, "")
    return entries


@dataclass(frozen=True)
class ScopeLine:
    """One resource's granted accesses, with what each allows (the catalogue's words, not only Read/Write)."""

    label: str
    accesses: str  # "Read, Write"
    allows: list[str]  # ["View contacts", "Create, edit and delete contacts"]

    def __str__(self) -> str:
        return f"{self.label}: {self.accesses}"


def scope_lines(scopes: str | list[str] | frozenset[str]) -> list[ScopeLine]:
    """Like ``scope_summary``, each line with the descriptions of the scopes it stands for."""
    granted = split_scopes(scopes) if isinstance(scopes, str) else frozenset(scopes)
    lines = []
    for resource, (label, accesses) in CATALOGUE.items():
        chosen = [(access, text) for access, text in accesses.items() if f"{resource}.{access}" in granted]
        if chosen:
            names = ", ".join(ACCESS_LABELS.get(access, access) for access, _ in chosen)
            lines.append(ScopeLine(label, names, [text for _, text in chosen]))
    return lines


def scope_summary(scopes: str | list[str] | frozenset[str]) -> list[str]:
    """``["Contacts: Read, Write", "Calendars: Read"]`` in catalogue order."""
    granted = split_scopes(scopes) if isinstance(scopes, str) else frozenset(scopes)
    lines = []
    for resource, (label, accesses) in CATALOGUE.items():
        chosen = [ACCESS_LABELS.get(access, access) for access in accesses if f"{resource}.{access}" in granted]
        if chosen:
            lines.append(f"{label}: {', '.join(chosen)}")
    return lines


@dataclass(frozen=True)
class ScopeChoice:
    scope: str
    access: str
    description: str
    allowed: bool
    checked: bool


@dataclass(frozen=True)
class ScopeGroup:
    resource: str
    label: str
    choices: list[ScopeChoice]


def scope_picker(account: Account, checked: Collection[str]) -> list[ScopeGroup]:
    """The catalogue grouped by resource; scopes beyond the account's ceiling are shown but cannot be picked."""
    ceiling = allowed_scopes(account)
    return [
        ScopeGroup(
            resource,
            label,
            [
                ScopeChoice(
                    f"{resource}.{access}",
                    ACCESS_LABELS.get(access, access),
                    text,
                    f"{resource}.{access}" in ceiling,
                    f"{resource}.{access}" in checked,
                )
                for access, text in accesses.items()
            ],
        )
        for resource, (label, accesses) in CATALOGUE.items()
    ]


# -- integrations and tokens ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Badge:
    text: str
    colour: str


def expiry_badge(row: AccessToken, now: datetime) -> Badge:
    """When a live token stops, in words: "Expires in 5 days if unused", "Expires in 20 days", "Grace ends in 2
    hours"; amber once it is within the list's "expiring soon" window. From TokenState, at ``now``."""
    end = next_end(integrations.token_state(row))
    left = time_left(end.at, now)
    text = {
        "inactivity": f"Expires in {left} if unused",
        "grace": f"Grace ends in {left}",
    }.get(end.kind, f"Expires in {left}")
    return Badge(text, "amber" if end.at <= now + EXPIRING_SOON else "grey")


def time_left(moment: datetime, now: datetime) -> str:
    """Whole days, hours or minutes until ``moment``, rounded down ("6 days" for 6 days 23 hours)."""
    seconds = max(0, int((moment - now).total_seconds()))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return "under a minute"


@dataclass(frozen=True)
class TokenRow:
    jti: str
    status: str
    label: str
    colour: str
    issued_at: datetime
    ends_at: datetime  # whichever comes first: the scheduled end or exp
    scheduled_end: bool
    last_used_at: datetime | None
    last_used_by: str | None
    expires_if_unused_after: datetime | None
    expiry: Badge | None = None  # live tokens only: when it stops (expiry_badge)
    scopes: frozenset[str] = frozenset()  # what the token was minted with (the Scopes card marks what it lacks)


def token_row(row: AccessToken, now: datetime, client_names: dict[str, str] | None = None) -> TokenRow:
    status = integrations.token_status(row, now)
    label, colour = TOKEN_STATUS.get(status, (status, "grey"))
    ends = min(row.ends_at, row.expires_at) if row.ends_at else row.expires_at
    used_by = row.last_used_by
    if used_by and client_names is not None:
        used_by = client_names.get(used_by, used_by)
    return TokenRow(
        jti=row.jti,
        status=status,
        label=label,
        colour=colour,
        issued_at=row.issued_at,
        ends_at=ends,
        scheduled_end=row.ends_at is not None and row.ends_at < row.expires_at,
        last_used_at=row.last_used_at,
        last_used_by=used_by,
        expires_if_unused_after=integrations.token_state(row).idle_deadline(),
        expiry=expiry_badge(row, now) if status in ("active", "grace") else None,
        scopes=split_scopes(row.scopes),
    )


@dataclass(frozen=True)
class IntegrationRow:
    integration: Integration
    label: str
    colour: str
    scopes: list[str]
    current: TokenRow | None
    live_count: int
    expiry: list[Badge]  # one per live token, current first
    scope_lines: list[ScopeLine]


def integration_badge(integration: Integration, live: list[AccessToken]) -> tuple[str, str]:
    if integration.status != "active":
        return integration.status.capitalize(), "grey"
    if not live:
        return "No live token", "grey"
    if len(live) > 1:
        return "Rotating", "amber"
    return "Active", "green"


def integration_row(
    integration: Integration, live: list[AccessToken], now: datetime, client_names: dict[str, str]
) -> IntegrationRow:
    label, colour = integration_badge(integration, live)
    current = next((row for row in live if row.replaced_by is None), None)
    return IntegrationRow(
        integration,
        label,
        colour,
        scope_summary(integration.scopes),
        token_row(current, now, client_names) if current is not None else None,
        len(live),
        [expiry_badge(row, now) for row in live],
        scope_lines(integration.scopes),
    )


def client_names(client_ids: set[str | None]) -> dict[str, str]:
    """Resource services by name, for "last used by" (a disabled or deleted client keeps its name here)."""
    names = {}
    for client_id in client_ids:
        client = db.session.get(ApiClient, client_id) if is_identifier(client_id) else None
        if client is not None:
            names[client.client_id] = client.name
    return names


# -- the audit trail ------------------------------------------------------------------------------------
ACTION_LABELS = {
    "integration.created": "Created the integration",
    "integration.updated": "Edited the integration",
    "integration.scopes_changed": "Changed the scopes",
    "integration.scopes_narrowed_by_account": "Scopes narrowed by the account's limits",
    "integration.disabled": "Disabled the integration",
    "integration.enabled": "Enabled the integration",
    "integration.deleted": "Deleted the integration",
    "token.generated": "Generated an access token",
    "token.rotated": "Rotated the token; the old one stopped at once",
    "token.rotated_with_grace": "Rotated the token with a grace period",
    "token.expired": "Expired the token now",
    "token.expiry_scheduled": "Scheduled the token's expiry",
    "token.revoked": "Revoked a token",
    "token.expired_inactive": "Token expired after going unused",
    "token.grace_ended": "Grace period ended; the previous token stopped",
    "token.leaked": "Token found in public by a secret scanner",
    "client.created": "Registered an API client",
    "client.secret_rotated": "Rotated an API client's secret",
    "client.disabled": "Disabled an API client",
    "client.enabled": "Enabled an API client",
    "client.deleted": "Deleted an API client",
}


@dataclass(frozen=True)
class AuditLine:
    occurred_at: datetime
    actor: str
    action: str
    detail: str
    source_address: str | None


def audit_lines(rows: list[AuditEvent]) -> list[AuditLine]:
    people = emails_by_id({row.actor_id for row in rows if row.actor_type == "user" and row.actor_id})
    clients = client_names({row.actor_id for row in rows if row.actor_type == "admin_client"})
    return [
        AuditLine(
            row.occurred_at,
            _actor(row, people, clients),
            ACTION_LABELS.get(row.action, row.action),
            _detail(row),
            row.source_address,
        )
        for row in rows
    ]


def _actor(row: AuditEvent, people: dict[str, str], clients: dict[str, str]) -> str:
    if row.actor_type == "user":
        return people.get(row.actor_id or "", "a former user")
    if row.actor_type == "admin_client":
        return f"API client {clients.get(row.actor_id or '', row.actor_id)}"
    if row.actor_type in ("operator", "system"):
        return "Server operator" if row.actor_type == "operator" else "System"
    return row.actor_type.replace("_", " ")


def _detail(row: AuditEvent) -> str:
    before, after = row.before or {}, row.after or {}
    if row.action in ("integration.scopes_changed", "integration.scopes_narrowed_by_account"):
        old, new = set(before.get("scopes", [])), set(after.get("scopes", []))
        parts = [f"+{scope}" for scope in sorted(new - old)] + [f"−{scope}" for scope in sorted(old - new)]
        return " ".join(parts)
    if row.action == "token.rotated_with_grace" and after.get("grace_until"):
        return f"old token works until {when(_parse(after['grace_until']))}"
    if row.action == "token.expiry_scheduled" and after.get("ends_at"):
        return f"ends {when(_parse(after['ends_at']))}"
    if row.action == "token.grace_ended" and after.get("token"):
        return f"token {after['token']}"
    if row.action == "token.leaked":
        outcome = "revoked at once" if after.get("revoked") else "already not working"
        return f"Leak reported: {after.get('url') or 'no address given'} · token {after.get('token')}, {outcome}"
    if row.action == "integration.created":
        return ", ".join(after.get("scopes", []))
    if row.action == "integration.updated" and before.get("dpop_jkt") != after.get("dpop_jkt"):
        jkt = after.get("dpop_jkt")
        return f"tokens bound to key {jkt}" if jkt else "tokens no longer bound to a key"
    return ""


def _parse(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None


def plus(now: datetime, seconds: int) -> datetime:
    return now + timedelta(seconds=seconds)
