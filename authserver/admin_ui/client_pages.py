"""Settings → API clients: an account's resource services and admin clients, when each was last used, each resource
service's introspection limit (its own, or the server's default) and whether its introspection answers are always
signed (RFC 9701), and their credentials' lifecycle (rotate the secret with an overlap, disable, enable, delete),
each change confirmed first.

A new secret is shown once, on the page answering the rotation (never in a redirect, a flash or a URL).
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for

from .. import accounts, clients
from ..errors import NotFoundError
from ..session_cookie import now
from ..unit_of_work import unit_of_work
from .blueprint import bp
from .guard import current_principal

# The overlap choices offered on the page: (form value, label). The API and CLI take any duration up to 30d.
OVERLAPS = (("0", "Stop the old secret now"), ("1h", "1 hour"), ("24h", "24 hours"), ("7d", "7 days"))
CONFIRMATIONS = ("rotate", "disable", "delete", "signing")


def _page(account, principal, *, secret=None, rotated=None, status=200):
    moment = now()
    confirm = request.args.get("confirm") if principal.can_administer(account.id) else None
    rows = clients.list_clients_for(principal, account.id)
    return render_template(
        "clients/list.html",
        account=account,
        rows=rows,
        now=moment,
        overlaps=OVERLAPS,
        secret=secret,
        rotated=rotated,
        can_manage=principal.can_administer(account.id),
        confirm=confirm if confirm in CONFIRMATIONS else None,
        confirm_client=request.args.get("client"),
        default_limit=_rate_text(current_app.config["AUTHSERVER_RATE_LIMIT_INTROSPECTION"]),
        signing_alg=current_app.config["AUTHSERVER_SIGNING_ALG"],
        signing_mode=clients.introspection_signing_mode,
        section="clients",
    ), status


def _rate_text(rate: tuple[int, int] | None) -> str:
    """The server's introspection limit as the page shows it: ``300000/1s``, ``6000/1m``, or ``off``."""
    if rate is None:
        return "off"
    count, seconds = rate
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{count}/{seconds // size}{unit}"
    return f"{count}/{seconds}s"


def _client_of(principal, account, client_id: str):
    """The client, for a change, if it belongs to this page's account (another account's is not found here)."""
    client = clients.get_client_for(principal, client_id, write=True)
    if client.account_id != account.id:
        raise NotFoundError(f"client {client_id!r} not found")
    return client


@bp.get("/accounts/<account_id>/settings/clients")
def client_list(account_id: str):
    principal = current_principal()
    return _page(accounts.get_account_for(principal, account_id), principal)


@bp.post("/accounts/<account_id>/settings/clients/<client_id>/rotate-secret")
def client_rotate_secret(account_id: str, client_id: str):
    principal = current_principal()
    account = accounts.get_account_for(principal, account_id, write=True)
    client = _client_of(principal, account, client_id)
    overlap = clients.parse_overlap(request.form.get("overlap", "24h"))
    with unit_of_work():
        client, secret = clients.rotate_client_secret(principal, client.client_id, overlap=overlap, now=now())
    return _page(account, principal, secret=secret, rotated=client)


@bp.post("/accounts/<account_id>/settings/clients/<client_id>/introspection-signing")
def client_set_introspection_signing(account_id: str, client_id: str):
    principal = current_principal()
    account = accounts.get_account_for(principal, account_id, write=True)
    client = _client_of(principal, account, client_id)
    mode = request.form.get("introspection_signing")
    if mode not in clients.INTROSPECTION_SIGNING_MODES:
        flash("Choose whether its introspection answers are always signed or only when it asks.", "error")
        return redirect(url_for("admin_ui.client_list", account_id=account.id))
    with unit_of_work():
        clients.set_introspection_signing(principal, client.client_id, always=mode == "always", now=now())
    if mode == "always":
        message = f"{client.name} gets every introspection answer signed, from its next request on."
    else:
        message = f"{client.name} gets signed introspection answers only when it asks, from its next request on."
    flash(message, "success")
    return redirect(url_for("admin_ui.client_list", account_id=account.id))


@bp.post("/accounts/<account_id>/settings/clients/<client_id>/<action>")
def client_change(account_id: str, client_id: str, action: str):
    principal = current_principal()
    account = accounts.get_account_for(principal, account_id, write=True)
    client = _client_of(principal, account, client_id)
    name = client.name
    with unit_of_work():
        if action == "disable":
            clients.set_client_enabled(principal, client.client_id, False, now=now())
            message = f"{name} is disabled: it can no longer authenticate, from its next request on."
        elif action == "enable":
            clients.set_client_enabled(principal, client.client_id, True, now=now())
            message = f"{name} is enabled again."
        elif action == "delete":
            clients.delete_client(principal, client.client_id, now=now())
            message = f"{name} is deleted: it can no longer authenticate."
        else:
            raise NotFoundError("no such action")
    flash(message, "success")
    return redirect(url_for("admin_ui.client_list", account_id=account.id))
