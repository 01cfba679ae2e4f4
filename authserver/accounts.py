"""Tenancy: the agency/sub-account tree, who administers what, and each account's scope ceiling."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select

from . import domain_events as de
from .durations import check_seconds, format_duration
from .emitter import emit
from .errors import ForbiddenError, InvalidInputError, NotFoundError
from .extensions import db
from .models import Account, Integration
from .principals import Principal
from .scope_narrowing import narrow_token_scopes
from .scopes import ALL_SCOPES, format_scopes, parse_scopes, split_scopes
from .security import is_identifier, new_id

MAX_DEPTH = 5
DEFAULT_INACTIVITY_WINDOW = 90 * 86400  # new accounts: tokens unused for 90 days expire by themselves
MIN_INACTIVITY_WINDOW = 3600  # as for an integration's own window

Unchanged = Literal["unchanged"]
UNCHANGED: Unchanged = "unchanged"


def clean_name(value: object, *, field: str = "name", limit: int = 200) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{field} is required", field=field)
    value = value.strip()
    if len(value) > limit:
        raise InvalidInputError(f"{field} must be at most {limit} characters", field=field)
    if any(ord(ch) < 32 for ch in value):
        raise InvalidInputError(f"{field} must not contain control characters", field=field)
    return value


def get_account(account_id: str) -> Account:
    account = db.session.get(Account, account_id) if is_identifier(account_id) else None
    if account is None:
        raise NotFoundError(f"account {account_id!r} not found")
    return account


def get_account_for(principal: Principal, account_id: str, *, write: bool = False) -> Account:
    """The account, if the principal may see it (or change it); otherwise NotFound, so nothing leaks."""
    allowed = principal.can_administer if write else principal.can_view
    if not isinstance(account_id, str) or not allowed(account_id):
        if write and isinstance(account_id, str) and principal.can_view(account_id):
            raise ForbiddenError("members may view this account but not change it")
        raise NotFoundError(f"account {account_id!r} not found")
    return get_account(account_id)


def descendants(account_ids: set[str] | frozenset[str]) -> frozenset[str]:
    """The given accounts plus all their sub-accounts (an agency admin administers its sub-accounts)."""
    found = set(account_ids)
    frontier = set(account_ids)
    for _ in range(MAX_DEPTH + 1):
        if not frontier:
            break
        children = set(db.session.scalars(select(Account.id).where(Account.parent_id.in_(frontier))))
        frontier = children - found
        found |= children
    return frozenset(found)


def ancestry(account: Account) -> list[Account]:
    chain = [account]
    while chain[-1].parent_id and len(chain) <= MAX_DEPTH:
        chain.append(get_account(chain[-1].parent_id))
    return chain


def allowed_scopes(account: Account) -> frozenset[str]:
    """The account's ceiling: its own restriction intersected with every ancestor's."""
    allowed = ALL_SCOPES
    for node in ancestry(account):
        if node.allowed_scopes is not None:
            allowed = allowed & split_scopes(node.allowed_scopes)
    return allowed


def create_account(principal: Principal, *, name: str, parent_id: str | None, now: datetime) -> Account:
    name = clean_name(name)
    if parent_id is None:
        if not principal.is_operator:
            raise ForbiddenError("only the operator may create top-level accounts")
    else:
        parent = get_account_for(principal, parent_id, write=True)
        if len(ancestry(parent)) >= MAX_DEPTH:
            raise InvalidInputError(f"accounts nest at most {MAX_DEPTH} deep", field="parent_id")
    account = Account(
        id=new_id("acc"),
        name=name,
        parent_id=parent_id,
        created_at=now,
        default_inactivity_window=DEFAULT_INACTIVITY_WINDOW,
    )
    if parent_id is not None:  # a sub-account starts from its agency's inactivity settings
        account.default_inactivity_window = parent.default_inactivity_window
        account.max_inactivity_window = parent.max_inactivity_window
        account.allow_no_inactivity_expiry = parent.allow_no_inactivity_expiry
    db.session.add(account)
    emit(de.AccountCreated(actor=principal, now=now, account_id=account.id, after=serialize_account(account)))
    db.session.flush()
    return account


def update_account(
    principal: Principal,
    account_id: str,
    *,
    now: datetime,
    name: str | None = None,
    allowed: list[str] | str | None = None,
    clear_allowed: bool = False,
    max_token_lifetime: int | None = None,
    clear_max_token_lifetime: bool = False,
    default_inactivity_window: int | None | Unchanged = UNCHANGED,
    max_inactivity_window: int | None | Unchanged = UNCHANGED,
) -> Account:
    """Change name, scope ceiling, maximum token lifetime or inactivity windows (None: never / no maximum).

    Narrowing the ceiling narrows every integration of this account and its sub-accounts at once; since
    introspection intersects a token's scopes with its integration's, live tokens narrow at the same moment.
    Lowering the maximum inactivity window shortens every longer integration window below it at once, so idle live
    tokens stop too. A lower maximum token lifetime applies to tokens issued afterwards (a token's ``exp`` is
    signed into it). No value of a sub-account may exceed its parent's maximum; only the parent's admins widen one.
    """
    account = get_account_for(principal, account_id, write=True)
    before = serialize_account(account)
    if name is not None:
        account.name = clean_name(name)
    if clear_allowed or allowed is not None:
        new = None if clear_allowed else parse_scopes(allowed, field="allowed_scopes")
        current = split_scopes(account.allowed_scopes) if account.allowed_scopes is not None else None
        if current is not None and (new is None or not new <= current):
            _require_ceiling_authority(principal, account, "allowed_scopes")
        account.allowed_scopes = None if new is None else format_scopes(new)
    if clear_max_token_lifetime or max_token_lifetime is not None:
        _set_max_token_lifetime(principal, account, None if clear_max_token_lifetime else max_token_lifetime)
    if default_inactivity_window != UNCHANGED or max_inactivity_window != UNCHANGED:
        _set_inactivity_windows(principal, account, default_inactivity_window, max_inactivity_window)
    db.session.flush()
    scope = descendants({account.id})
    _narrow_integrations(principal, scope, now=now)
    _shorten_integration_windows(principal, scope, now=now)
    emit(
        de.AccountUpdated(
            actor=principal, now=now, account_id=account.id, before=before, after=serialize_account(account)
        )
    )
    db.session.flush()
    return account


def _parent_maximum(account: Account, column: str) -> int | None:
    """The tightest of the ancestors' maximums for ``column`` (the account's own value left out)."""
    values = [getattr(node, column) for node in ancestry(account)[1:] if getattr(node, column) is not None]
    return min(values) if values else None


def _check_within_parent(account: Account, column: str, value: int | None, field: str) -> None:
    limit = _parent_maximum(account, column)
    if value is not None and limit is not None and value > limit:
        raise InvalidInputError(f"{field} exceeds the parent account's maximum ({format_duration(limit)})", field=field)


def _set_max_token_lifetime(principal: Principal, account: Account, value: int | None) -> None:
    if value is not None:
        check_seconds(value, field="max_token_lifetime")
    current = account.max_token_lifetime
    if current is not None and (value is None or value > current):
        _require_ceiling_authority(principal, account, "max_token_lifetime")
    _check_within_parent(account, "max_token_lifetime", value, "max_token_lifetime")
    account.max_token_lifetime = value


def _set_inactivity_windows(
    principal: Principal, account: Account, default: int | None | Unchanged, maximum: int | None | Unchanged
) -> None:
    """A maximum also rules out "never"; removing it allows "never" again. A default given must fit the maximum;
    one not given is lowered to a lower maximum."""
    if maximum != UNCHANGED:
        if maximum is not None:
            check_seconds(maximum, field="max_inactivity_window", minimum=MIN_INACTIVITY_WINDOW)
        current = account.max_inactivity_window
        if current is not None and (maximum is None or maximum > current):
            _require_ceiling_authority(principal, account, "max_inactivity_window")
        _check_within_parent(account, "max_inactivity_window", maximum, "max_inactivity_window")
        account.max_inactivity_window = maximum
        account.allow_no_inactivity_expiry = maximum is None
    if default != UNCHANGED:
        if default is not None:
            check_seconds(default, field="default_inactivity_window", minimum=MIN_INACTIVITY_WINDOW)
        account.default_inactivity_window = default
    policy = inactivity_policy(account)
    stored = account.default_inactivity_window
    if default == UNCHANGED:  # a lower maximum carries the default down with it
        if policy.maximum is not None and (stored is None or stored > policy.maximum):
            account.default_inactivity_window = policy.maximum
        return
    if stored is None and not policy.allows_never:
        raise InvalidInputError(
            "the default inactivity window cannot be never while a maximum applies", field="default_inactivity_window"
        )
    if stored is not None and policy.maximum is not None and stored > policy.maximum:
        raise InvalidInputError(
            f"the default inactivity window ({format_duration(stored)}) exceeds the maximum "
            f"({format_duration(policy.maximum)})",
            field="default_inactivity_window",
        )


@dataclass(frozen=True)
class InactivityPolicy:
    """The inactivity rules an account's integrations live by, its agency's maximums included."""

    default: int | None  # the window a new integration gets; None: its tokens never expire for disuse
    maximum: int | None  # the longest window allowed; None: no maximum
    allows_never: bool


def inactivity_policy(account: Account) -> InactivityPolicy:
    """Like the scope ceiling, an agency's maximum binds its sub-accounts; the default never exceeds it."""
    chain = ancestry(account)
    maximums = [node.max_inactivity_window for node in chain if node.max_inactivity_window is not None]
    maximum = min(maximums) if maximums else None
    allows_never = maximum is None and all(node.allow_no_inactivity_expiry for node in chain)
    default = account.default_inactivity_window
    if default is None and not allows_never:
        default = maximum or DEFAULT_INACTIVITY_WINDOW
    if default is not None and maximum is not None:
        default = min(default, maximum)
    return InactivityPolicy(default=default, maximum=maximum, allows_never=allows_never)


def max_token_lifetime(account: Account) -> int | None:
    """The tightest maximum token lifetime of the account and its ancestors (None: the server's maximum)."""
    values = [node.max_token_lifetime for node in ancestry(account) if node.max_token_lifetime is not None]
    return min(values) if values else None


def _require_ceiling_authority(principal: Principal, account: Account, field: str) -> None:
    """A sub-account's ceilings are its agency's to widen: its own admins may only narrow them, or an agency's
    limit would last until the sub-account's admin lifted it. A top-level account's admins set its own."""
    if not principal.can_administer(account.parent_id or account.id):
        raise ForbiddenError(f"only an admin of the parent account may widen {field}")


def _narrow_integrations(principal: Principal, account_ids: frozenset[str], *, now: datetime) -> None:
    rows = db.session.scalars(
        select(Integration).where(Integration.account_id.in_(account_ids), Integration.status != "deleted")
    )
    for integration in rows:
        ceiling = allowed_scopes(get_account(integration.account_id))
        current = split_scopes(integration.scopes)
        narrowed = current & ceiling
        if narrowed != current:
            integration.scopes = format_scopes(narrowed)
            narrow_token_scopes(integration.id, narrowed)
            integration.updated_at = now
            emit(
                de.IntegrationScopesNarrowedByAccount(
                    actor=principal,
                    now=now,
                    integration=integration,
                    scopes_before=sorted(current),
                    scopes_after=sorted(narrowed),
                )
            )


def _shorten_integration_windows(principal: Principal, account_ids: frozenset[str], *, now: datetime) -> None:
    """Integrations whose inactivity window is now beyond their account's maximum get the maximum."""
    rows = db.session.scalars(
        select(Integration).where(Integration.account_id.in_(account_ids), Integration.status != "deleted")
    )
    for integration in rows:
        maximum = inactivity_policy(get_account(integration.account_id)).maximum
        window = integration.inactivity_window
        if maximum is not None and (window is None or window > maximum):
            before = {"inactivity_window": window}
            integration.inactivity_window = maximum
            integration.updated_at = now
            emit(
                de.IntegrationUpdated(
                    actor=principal,
                    now=now,
                    integration=integration,
                    before=before,
                    after={"inactivity_window": maximum},
                )
            )


def narrowing_effects(
    principal: Principal,
    account_id: str,
    *,
    allowed: frozenset[str] | None,
    max_inactivity_window: int | None | Unchanged,
) -> list[tuple[Integration, list[str], int | None]]:
    """What a change would do to live integrations, for a confirmation: each integration that would lose scopes
    (which) or get a shorter inactivity window (to what). Reads only."""
    account = get_account_for(principal, account_id, write=True)
    own_maximum = account.max_inactivity_window if max_inactivity_window == UNCHANGED else max_inactivity_window
    effects = []
    rows = db.session.scalars(
        select(Integration)
        .where(Integration.account_id.in_(descendants({account.id})), Integration.status != "deleted")
        .order_by(Integration.name, Integration.id)
    )
    for integration in rows:
        owner = get_account(integration.account_id)
        ceiling = allowed_scopes(owner)
        if allowed is not None:
            ceiling = ceiling & allowed
        lost = sorted(split_scopes(integration.scopes) - ceiling)
        maximums = [own_maximum if node.id == account.id else node.max_inactivity_window for node in ancestry(owner)]
        limits = [value for value in maximums if value is not None]
        maximum = min(limits) if limits else None
        window = integration.inactivity_window
        shorter = maximum if maximum is not None and (window is None or window > maximum) else None
        if lost or shorter is not None:
            effects.append((integration, lost, shorter))
    return effects


def list_accounts(principal: Principal) -> list[Account]:
    if principal.is_operator:
        return list(db.session.scalars(select(Account).order_by(Account.created_at, Account.id)))
    ids = principal.admin_of | principal.member_of
    return list(db.session.scalars(select(Account).where(Account.id.in_(ids)).order_by(Account.name)))


def serialize_account(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "parent_id": account.parent_id,
        "allowed_scopes": sorted(split_scopes(account.allowed_scopes)) if account.allowed_scopes is not None else None,
        "max_token_lifetime": account.max_token_lifetime,
        "default_inactivity_window": account.default_inactivity_window,
        "max_inactivity_window": account.max_inactivity_window,
    }
