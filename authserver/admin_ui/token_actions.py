"""The buttons on an integration's page: generate, rotate, expire, disable, enable, delete. Each is a POST that
passed the CSRF check, calls one domain verb and either shows the new token once or goes back to the page."""

from __future__ import annotations

from functools import wraps

from flask import flash, redirect, render_template, request, url_for

from .. import integrations
from ..errors import ConflictError, InvalidInputError
from ..services import services
from ..session_cookie import now
from ..unit_of_work import unit_of_work
from . import forms
from .blueprint import bp
from .guard import current_principal
from .integrations import load, sentence

BASE = "/accounts/<account_id>/settings/integrations/<integration_id>"


def back_to_integration_on_refusal(view):
    """Each action is one unit of work; a refused one (stale page, nothing to rotate, bad date) changes nothing
    and goes back to the page with the reason."""

    @wraps(view)
    def wrapper(account_id: str, integration_id: str):
        try:
            with unit_of_work():
                return view(account_id, integration_id)
        except (ConflictError, InvalidInputError) as exc:
            flash(sentence(exc.detail), "error")
            return redirect(
                url_for("admin_ui.integration_detail", account_id=account_id, integration_id=integration_id)
            )

    return wrapper


def _token_page(account, integration, issued, *, previous_until=None, previous_stopped=False):
    """The only page that ever shows the token; it is never stored, cached or shown again."""
    return render_template(
        "integrations/token.html",
        account=account,
        integration=integration,
        issued=issued,
        previous_until=previous_until,
        previous_stopped=previous_stopped,
    )


def _lifetimes() -> dict:
    return {"policy": services().policy}


@bp.post(f"{BASE}/token")
@back_to_integration_on_refusal
def token_generate(account_id: str, integration_id: str):
    principal = current_principal()
    account, integration = load(principal, account_id, integration_id, write=True)
    issued = integrations.generate_token(
        principal, integration.id, now=now(), expires_in=None, expected_version=forms.expected_version(), **_lifetimes()
    )
    return _token_page(account, integration, issued)


@bp.post(f"{BASE}/rotate")
@back_to_integration_on_refusal
def token_rotate(account_id: str, integration_id: str):
    principal, moment = current_principal(), now()
    account, integration = load(principal, account_id, integration_id, write=True)
    common = dict(now=moment, expires_in=None, expected_version=forms.expected_version(), **_lifetimes())
    if request.form.get("mode") == "now":
        issued = integrations.rotate_now(principal, integration.id, **common)
        return _token_page(account, integration, issued, previous_stopped=True)
    grace_until = forms.deadline("grace", moment)
    issued = integrations.rotate_with_grace(principal, integration.id, grace_until=grace_until, **common)
    replaced = [row for row in integrations.live_tokens(integration.id, moment) if row.replaced_by == issued.record.jti]
    return _token_page(account, integration, issued, previous_until=replaced[0].ends_at if replaced else None)


@bp.post(f"{BASE}/expire")
@back_to_integration_on_refusal
def token_expire(account_id: str, integration_id: str):
    principal, moment = current_principal(), now()
    account, integration = load(principal, account_id, integration_id, write=True)
    if request.form.get("mode") == "later":
        row = integrations.expire_later(
            principal,
            integration.id,
            now=moment,
            at=forms.deadline("at", moment),
            expected_version=forms.expected_version(),
        )
        flash(f"The current token keeps working until {row.ends_at:%-d %b %Y, %H:%M} UTC, then stops.", "success")
    else:
        ended = integrations.expire_now(
            principal,
            integration.id,
            now=moment,
            jti=request.form.get("token_id") or None,
            expected_version=forms.expected_version(),
        )
        count = len(ended)
        flash(
            f"{count} token{'' if count == 1 else 's'} stopped working just now."
            if count
            else "There was no live token to expire.",
            "success",
        )
    return redirect(url_for("admin_ui.integration_detail", account_id=account.id, integration_id=integration.id))


@bp.post(f"{BASE}/disable")
@back_to_integration_on_refusal
def integration_disable(account_id: str, integration_id: str):
    return _set_status(
        account_id, integration_id, "disabled", "Disabled. Its tokens stop working until you enable it again."
    )


@bp.post(f"{BASE}/enable")
@back_to_integration_on_refusal
def integration_enable(account_id: str, integration_id: str):
    return _set_status(account_id, integration_id, "active", "Enabled. Tokens that have not expired work again.")


@bp.post(f"{BASE}/delete")
@back_to_integration_on_refusal
def integration_delete(account_id: str, integration_id: str):
    principal = current_principal()
    account, integration = load(principal, account_id, integration_id, write=True)
    integrations.set_status(principal, integration.id, "deleted", now=now(), expected_version=forms.expected_version())
    flash(f"Deleted {integration.name}. Its tokens were revoked; its audit trail is kept.", "success")
    return redirect(url_for("admin_ui.integration_list", account_id=account.id))


def _set_status(account_id: str, integration_id: str, status: str, message: str):
    principal = current_principal()
    account, integration = load(principal, account_id, integration_id, write=True)
    integrations.set_status(principal, integration.id, status, now=now(), expected_version=forms.expected_version())
    flash(message, "success")
    return redirect(url_for("admin_ui.integration_detail", account_id=account.id, integration_id=integration.id))
