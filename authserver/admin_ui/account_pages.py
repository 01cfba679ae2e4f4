"""Settings → Account settings: an account's inactivity windows, maximum token lifetime and scope ceiling, shown to
everyone who may view it and edited by its admins (an agency's admins edit their sub-accounts'); and an integration's
inactivity window, changed after creation from its edit page.

Narrowing (a scope taken out of the ceiling, a lower maximum) reaches live tokens at once, so the page shows what it
would do and asks for a confirmation first. The rules themselves live in ``accounts.update_account``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import flash, redirect, render_template, request, url_for

from .. import accounts, integrations
from ..durations import format_duration, parse_duration
from ..errors import InvalidInputError, NotFoundError
from ..models import Account, Integration
from ..scopes import ALL_SCOPES, CATALOGUE
from ..session_cookie import now
from ..unit_of_work import unit_of_work
from . import forms, presenters
from .blueprint import bp
from .guard import current_principal
from .integrations import sentence

WINDOW_FIELDS = ("default_inactivity_window", "max_inactivity_window", "max_token_lifetime")


def human_duration(seconds: int | None, empty: str = "No maximum") -> str:
    """``30 days``, ``12 hours``; ``empty`` for None."""
    if seconds is None:
        return empty
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return format_duration(seconds)


@bp.app_template_global()
def inactivity_options(account: Account, integration: Integration | None = None) -> list[tuple[str, str, bool]]:
    """The window choices a form offers for this account: (value, label, selected). The default names its value;
    periods above the account's maximum and "never", where not allowed, are left out. An integration's current
    window is offered (and selected) even when it is none of the usual periods."""
    policy = accounts.inactivity_policy(account)
    current = None
    if integration is not None:
        current = "never" if integration.inactivity_window is None else format_duration(integration.inactivity_window)
    options = []
    for value, label in forms.INACTIVITY_CHOICES:
        if value == "default":
            label = f"Account default ({human_duration(policy.default, 'never')})"
        elif value == "never":
            if not policy.allows_never:
                continue
        elif policy.maximum is not None and parse_duration(value) > policy.maximum:
            continue
        options.append((value, label, value == current))
    if current is not None and not any(value == current for value, _, _ in options):
        window = integration.inactivity_window if integration is not None else None
        options.insert(1, (current, human_duration(window, "Never"), True))
    return options


# -- the account settings page --------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """An account's values as the page shows them: its own and the effective ones (its agency's included)."""

    account: Account
    depth: int
    own: dict
    default_inactivity: int | None
    max_inactivity: int | None
    allows_never: bool
    max_token_lifetime: int | None
    scopes: frozenset[str]


def settings_of(account: Account, depth: int = 0) -> Settings:
    policy = accounts.inactivity_policy(account)
    return Settings(
        account=account,
        depth=depth,
        own=accounts.serialize_account(account),
        default_inactivity=policy.default,
        max_inactivity=policy.maximum,
        allows_never=policy.allows_never,
        max_token_lifetime=accounts.max_token_lifetime(account),
        scopes=accounts.allowed_scopes(account),
    )


def _grantable(principal, account: Account) -> frozenset[str]:
    """The scopes this person may put in the account's ceiling: an agency admin up to the agency's ceiling; a
    sub-account's own admin only what the ceiling already allows (narrowing only); a top-level account's admins
    the whole catalogue."""
    if account.parent_id is None:
        return ALL_SCOPES
    if principal.can_administer(account.parent_id):
        return accounts.allowed_scopes(accounts.get_account(account.parent_id))
    return accounts.allowed_scopes(account)


def _scope_rows(checked: frozenset[str], grantable: frozenset[str]) -> list[presenters.ScopeGroup]:
    return [
        presenters.ScopeGroup(
            resource,
            label,
            [
                presenters.ScopeChoice(
                    f"{resource}.{access}",
                    presenters.ACCESS_LABELS.get(access, access),
                    text,
                    f"{resource}.{access}" in grantable,
                    f"{resource}.{access}" in checked,
                )
                for access, text in accesses.items()
            ],
        )
        for resource, (label, accesses) in CATALOGUE.items()
    ]


def _sub_accounts(principal, account: Account) -> list[Settings]:
    """The sub-accounts below this one that the person administers, in tree order, with their settings."""
    if not principal.can_administer(account.id):
        return []
    below = accounts.descendants({account.id}) - {account.id}
    tree = presenters.account_tree(accounts.list_accounts(principal))
    base = next((entry.depth for entry in tree if entry.account.id == account.id), 0)
    return [settings_of(entry.account, entry.depth - base) for entry in tree if entry.account.id in below]


def _window_value(field: str, empty: str) -> int | None:
    value = forms.text(field).strip()
    if value == "" or value.lower() == empty:
        return None
    return parse_duration(value, field=field)


@dataclass
class Change:
    """What the form asks for, as the keyword arguments of ``update_account``, and whether any of it narrows."""

    arguments: dict
    narrows: list[str]
    scopes: frozenset[str] | None


def _read_change(principal, account: Account) -> Change:
    current = settings_of(account)
    own = current.own
    arguments: dict = {}
    narrows: list[str] = []
    default = _window_value("default_inactivity_window", "never")
    if default != own["default_inactivity_window"]:
        arguments["default_inactivity_window"] = default
    maximum = _window_value("max_inactivity_window", "none")
    if maximum != own["max_inactivity_window"]:
        arguments["max_inactivity_window"] = maximum
        if maximum is not None and (current.max_inactivity is None or maximum < current.max_inactivity):
            narrows.append(f"Integrations with a longer inactivity window get {human_duration(maximum)}")
    lifetime = _window_value("max_token_lifetime", "none")
    if lifetime != own["max_token_lifetime"]:
        if lifetime is None:
            arguments["clear_max_token_lifetime"] = True
        else:
            arguments["max_token_lifetime"] = lifetime
            if current.max_token_lifetime is None or lifetime < current.max_token_lifetime:
                narrows.append(f"Tokens issued from now on live at most {human_duration(lifetime)}")
    scopes = None
    if request.form.get("scopes_shown") == "1":
        chosen = frozenset(forms.scopes()) & _grantable(principal, account)
        if chosen != current.scopes:
            scopes = chosen
            arguments["allowed"] = sorted(chosen)
            lost = sorted(current.scopes - chosen)
            if lost:
                narrows.append(f"No integration may use {', '.join(lost)} any more")
    return Change(arguments, narrows, scopes)


def _values(settings: Settings) -> dict[str, str]:
    own = settings.own

    def shown(seconds, empty):
        return empty if seconds is None else format_duration(seconds)

    return {
        "default_inactivity_window": shown(own["default_inactivity_window"], "never"),
        "max_inactivity_window": shown(own["max_inactivity_window"], ""),
        "max_token_lifetime": shown(own["max_token_lifetime"], ""),
    }


@bp.route("/accounts/<account_id>/settings/account", methods=["GET", "POST"])
def account_settings(account_id: str):
    principal = current_principal()
    account = accounts.get_account_for(principal, account_id, write=request.method == "POST")
    errors: dict[str, str] = {}
    values = _values(settings_of(account))
    checked = accounts.allowed_scopes(account)
    confirm: list[str] = []
    effects: list = []
    if request.method == "POST":
        values = {field: request.form.get(field, "")[: forms.MAX_TEXT] for field in WINDOW_FIELDS}
        try:
            change = _read_change(principal, account)
            if change.scopes is not None:
                checked = change.scopes
            if change.narrows and request.form.get("confirmed") != "yes":
                confirm = change.narrows
                effects = accounts.narrowing_effects(
                    principal,
                    account.id,
                    allowed=change.scopes,
                    max_inactivity_window=change.arguments.get("max_inactivity_window", accounts.UNCHANGED),
                )
            elif change.arguments:
                with unit_of_work():
                    accounts.update_account(principal, account.id, now=now(), **change.arguments)
                flash(f"Saved the settings of {account.name}.", "success")
                return redirect(url_for("admin_ui.account_settings", account_id=account.id))
            else:
                flash("Nothing changed.", "info")
                return redirect(url_for("admin_ui.account_settings", account_id=account.id))
        except InvalidInputError as exc:
            errors[exc.field if exc.field in (*WINDOW_FIELDS, "allowed_scopes") else "form"] = sentence(exc.detail)
    grantable = _grantable(principal, account)
    return render_template(
        "accounts/settings.html",
        account=account,
        settings=settings_of(account),
        parent=accounts.get_account(account.parent_id) if account.parent_id else None,
        values=values,
        errors=errors,
        picker=_scope_rows(checked, grantable),
        can_manage=principal.can_administer(account.id),
        sub_accounts=_sub_accounts(principal, account),
        confirm=confirm,
        effects=effects,
        duration=human_duration,
        scope_total=len(ALL_SCOPES),
        section="account",
    ), 400 if errors else 200


# -- an integration's window, after creation ------------------------------------------------------------
@bp.post("/accounts/<account_id>/settings/integrations/<integration_id>/inactivity")
def integration_window(account_id: str, integration_id: str):
    principal = current_principal()
    account = accounts.get_account_for(principal, account_id, write=True)
    integration = integrations.get_integration_for(principal, integration_id, write=True)
    if integration.account_id != account.id:
        raise NotFoundError(f"integration {integration_id!r} not found")
    edit = url_for("admin_ui.integration_edit", account_id=account.id, integration_id=integration.id)
    choice = request.form.get("inactivity_window", "default").strip()
    try:
        window: int | str | None = (
            choice if choice == "default" else None if choice == "never" else parse_duration(choice, field="window")
        )
        with unit_of_work():
            changed = integrations.update_integration(
                principal,
                integration.id,
                now=now(),
                expected_version=forms.expected_version(),
                inactivity_window=window,
            )
    except InvalidInputError as exc:
        flash(f"The inactivity window was not changed: {sentence(exc.detail)}", "error")
        return redirect(edit)
    flash(
        f"Saved. Its token now expires after {human_duration(changed.inactivity_window, 'no period')} without use"
        if changed.inactivity_window is not None
        else "Saved. Its token no longer expires for lack of use.",
        "success",
    )
    return redirect(url_for("admin_ui.integration_detail", account_id=account.id, integration_id=integration.id))
