"""Settings → Webhooks: subscribe a URL, see each subscription's delivery log, redeliver by hand, unsubscribe."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for

from .. import accounts
from ..errors import ConflictError, InvalidInputError, NotFoundError
from ..integrations import list_integrations
from ..services import services
from ..session_cookie import now
from ..unit_of_work import unit_of_work
from ..webhooks import catalogue, deliveries, subscriptions
from ..webhooks.destinations import DestinationPolicy
from .blueprint import bp
from .guard import current_principal
from .integrations import sentence

LOG_LINES = 20


def _page(account, principal, *, secret=None, errors=None, values=None):
    moment = now()
    can_manage = principal.can_administer(account.id)
    rows = [
        (
            hook,
            [
                deliveries.serialize_delivery(d, e, moment)
                for d, e in deliveries.list_deliveries(principal, hook.id, limit=LOG_LINES)
            ],
        )
        for hook in subscriptions.list_subscriptions(principal, account.id)
    ]
    return render_template(
        "webhooks/list.html",
        account=account,
        rows=rows,
        events=catalogue.describe(),
        public_key=services().webhook_keys.public_key(),
        secret=secret,
        errors=errors or {},
        values=values or {"url": "", "signing": "ed25519", "events": []},
        can_manage=can_manage,
        confirm=request.args.get("confirm") if can_manage else None,  # ?confirm=unsubscribe-<id>: the dialog opens
        integrations=_integrations(account.id, principal),  # data events need one (service events)
        section="webhooks",
    )


def _integrations(account_id: str, principal) -> list:
    """The account's active integrations: a subscription of one of them may choose data events (contact.created, ...)
    for the scopes it holds."""
    return [row for row in list_integrations(principal, account_id) if row.status == "active"]


@bp.get("/accounts/<account_id>/settings/webhooks")
def webhook_list(account_id: str):
    principal = current_principal()
    return _page(accounts.get_account_for(principal, account_id), principal)


@bp.post("/accounts/<account_id>/settings/webhooks")
def webhook_create(account_id: str):
    principal = current_principal()
    account = accounts.get_account_for(principal, account_id, write=True)
    integration_id = request.form.get("integration_id", "")
    values = {
        "url": request.form.get("url", "").strip(),
        "signing": request.form.get("signing", "ed25519"),
        "events": request.form.getlist("events"),  # kept ticked when the page comes back with an error
        "integration_id": integration_id,
    }
    try:
        with unit_of_work():
            _hook, secret = subscriptions.create_subscription(
                principal,
                url=request.form.get("url", "").strip(),
                now=now(),
                policy=DestinationPolicy.from_config(current_app.config),
                keys=services().webhook_keys,
                account_id=account.id,
                events=request.form.getlist("events") or None,
                integration_id=integration_id or None,
                signing=request.form.get("signing", "ed25519"),
            )
    except InvalidInputError as exc:
        return _page(account, principal, errors={exc.field or "url": sentence(exc.detail)}, values=values), 400
    flash("Subscribed. Deliveries are signed; check each one before you trust it.", "success")
    return _page(account, principal, secret=secret)


@bp.post("/accounts/<account_id>/settings/webhooks/<subscription_id>/delete")
def webhook_delete(account_id: str, subscription_id: str):
    principal = current_principal()
    account = accounts.get_account_for(principal, account_id, write=True)
    hook = subscriptions.get_subscription_for(principal, subscription_id, write=True)
    if hook.account_id != account.id:
        raise NotFoundError(f"webhook {subscription_id!r} not found")
    with unit_of_work():
        subscriptions.delete_subscription(principal, hook.id, now=now())
    flash("Unsubscribed; nothing more will be sent to that URL.", "success")
    return redirect(url_for("admin_ui.webhook_list", account_id=account.id))


@bp.post("/accounts/<account_id>/settings/webhooks/deliveries/<delivery_id>/redeliver")
def webhook_redeliver(account_id: str, delivery_id: str):
    principal = current_principal()
    account = accounts.get_account_for(principal, account_id, write=True)
    try:
        with unit_of_work():
            deliveries.redeliver(principal, delivery_id, now=now())
        flash("Queued: the event will be sent again, with the same webhook-id.", "success")
    except ConflictError as exc:
        flash(sentence(exc.detail), "error")
    return redirect(url_for("admin_ui.webhook_list", account_id=account.id))
