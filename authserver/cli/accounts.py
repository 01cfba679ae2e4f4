"""``authserver account ...``: the agency and sub-account tree, each account's ceilings and windows."""

from __future__ import annotations

import click

from ..accounts import (
    UNCHANGED,
    allowed_scopes,
    create_account,
    inactivity_policy,
    list_accounts,
    max_token_lifetime,
    serialize_account,
    update_account,
)
from ..durations import format_duration, parse_duration
from ..models import Account
from ..principals import OPERATOR
from .base import OneLineGroup, command, emit, json_option, now


@click.group("account", cls=OneLineGroup, help="Accounts (agencies and sub-accounts).")
def account_group():
    pass


@command(account_group, "create")
@click.option("--name", required=True, help="The account's name, shown in the UI.")
@click.option(
    "--parent", "parent_id", default=None, help="Parent (agency) account id. Default: none, a top-level agency."
)
@json_option
def account_create(name, parent_id, as_json):
    """Create an agency, or a sub-account of one (--parent); prints its id."""
    account = create_account(OPERATOR, name=name, parent_id=parent_id, now=now())
    emit(as_json, {"id": account.id, "name": account.name, "parent_id": account.parent_id}, account.id)


def _window(value, field, *, empty):
    """A duration option; ``empty`` ("never" or "none") is the word for no value. Absent: unchanged."""
    if value is None:
        return UNCHANGED
    return None if value.strip().lower() == empty else parse_duration(value, field=field)


@command(account_group, "update")
@click.argument("account_id")
@click.option("--name", default=None, help="New name. Default: unchanged.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help="Repeatable; replaces the account's scope ceiling (narrowing applies to live tokens at once). "
    "Default: unchanged.",
)
@click.option(
    "--all-scopes",
    is_flag=True,
    help="Remove the account's own scope ceiling (its agency's still applies). Default: the ceiling is kept.",
)
@click.option(
    "--default-inactivity",
    default=None,
    help="Window new integrations get, e.g. 30d, or 'never'. Default: unchanged.",
)
@click.option(
    "--max-inactivity",
    default=None,
    help="Longest inactivity window allowed, e.g. 90d, or 'none'. Longer integration windows shorten at once. "
    "Default: unchanged.",
)
@click.option(
    "--max-token-lifetime",
    default=None,
    help="Longest token lifetime, e.g. 365d, or 'none'; applies to tokens issued afterwards. Default: unchanged.",
)
@json_option
def account_update(
    account_id, name, scopes, all_scopes, default_inactivity, max_inactivity, max_token_lifetime, as_json
):
    """Change an account's name, scope ceiling, inactivity windows or token lifetime; what is not given stays."""
    if scopes and all_scopes:
        raise click.UsageError("give --scope or --all-scopes, not both")
    lifetime = _window(max_token_lifetime, "max-token-lifetime", empty="none")
    account = update_account(
        OPERATOR,
        account_id,
        now=now(),
        name=name,
        allowed=list(scopes) if scopes else None,
        clear_allowed=all_scopes,
        max_token_lifetime=None if lifetime in (UNCHANGED, None) else lifetime,
        clear_max_token_lifetime=lifetime is None,
        default_inactivity_window=_window(default_inactivity, "default-inactivity", empty="never"),
        max_inactivity_window=_window(max_inactivity, "max-inactivity", empty="none"),
    )
    emit(as_json, describe(account), f"{account.id} updated")


@command(account_group, "list")
@json_option
def account_list(as_json):
    """Every account as a tree: agencies first, each followed by its sub-accounts, with ceilings and windows."""
    rows = []
    for account, depth in _tree(list_accounts(OPERATOR)):
        rows.append({**describe(account), "depth": depth})
    lines = [_line(row) for row in rows] or ["no accounts"]
    emit(as_json, {"accounts": rows}, "\n".join(lines))


def describe(account) -> dict:
    """The account's own settings and the effective ones (its agency's maximums and ceiling included)."""
    policy = inactivity_policy(account)
    return {
        **serialize_account(account),
        "effective_allowed_scopes": sorted(allowed_scopes(account)),
        "effective_max_token_lifetime": max_token_lifetime(account),
        "effective_default_inactivity_window": policy.default,
        "effective_max_inactivity_window": policy.maximum,
    }


def _tree(accounts: list[Account]) -> list[tuple[Account, int]]:
    children: dict[str | None, list] = {}
    for account in accounts:
        children.setdefault(account.parent_id, []).append(account)
    ordered: list[tuple[Account, int]] = []

    def walk(parent_id: str | None, depth: int) -> None:
        for account in sorted(children.get(parent_id, []), key=lambda a: (a.name.lower(), a.id)):
            ordered.append((account, depth))
            walk(account.id, depth + 1)

    walk(None, 0)
    return ordered


def _seconds(value, empty: str) -> str:
    return empty if value is None else format_duration(value)


def _line(row: dict) -> str:
    scopes = "all scopes" if row["allowed_scopes"] is None else " ".join(row["allowed_scopes"]) or "no scopes"
    return (
        f"{'  ' * row['depth']}{row['id']}  {row['name']}  scopes: {scopes}; "
        f"inactivity: default {_seconds(row['effective_default_inactivity_window'], 'never')}, "
        f"max {_seconds(row['effective_max_inactivity_window'], 'none')}; "
        f"max token lifetime: {_seconds(row['effective_max_token_lifetime'], 'server default')}"
    )
