"""Tenancy: the agency/sub-account tree, who administers what, and each account's scope ceiling."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from . import domain_events as de
from .durations import check_seconds
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
) -> Account:
    """Change name, scope ceiling or maximum token lifetime.

    Narrowing the ceiling narrows every integration of this account and its sub-accounts at once; since
    introspection intersects a token's scopes with its integration's, live tokens narrow at the same moment.
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
    if max_token_lifetime is not None:
        check_seconds(max_token_lifetime, field="max_token_lifetime")
        if account.max_token_lifetime is not None and max_token_lifetime > account.max_token_lifetime:
            _require_ceiling_authority(principal, account, "max_token_lifetime")
        account.max_token_lifetime = max_token_lifetime
    db.session.flush()
    _narrow_integrations(principal, descendants({account.id}), now=now)
    emit(
        de.AccountUpdated(
            actor=principal, now=now, account_id=account.id, before=before, after=serialize_account(account)
        )
    )
    db.session.flush()
    return account


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
    }
