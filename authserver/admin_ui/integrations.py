"""Settings → Private Integrations: the list, the create and edit forms, and one integration's page."""

from __future__ import annotations

from operator import attrgetter

from flask import flash, redirect, render_template, request, url_for

from .. import accounts, audit, integration_search, integrations
from ..errors import InvalidInputError, NotFoundError
from ..scopes import split_scopes
from ..session_cookie import now
from ..unit_of_work import unit_of_work
from . import forms, presenters
from .blueprint import bp
from .guard import current_principal
from .usage_panel import usage_panel

AUDIT_LINES = 50
CONFIRMATIONS = frozenset(
    {"rotate-now", "rotate-later", "expire-now", "expire-later", "expire-token", "disable", "enable", "delete"}
)


def load(principal, account_id: str, integration_id: str, *, write: bool = False):
    """The account from the URL and one of its integrations; an integration of another account is not found."""
    account = accounts.get_account_for(principal, account_id, write=write)
    integration = integrations.get_integration_for(principal, integration_id, write=write)
    if integration.account_id != account.id:
        raise NotFoundError(f"integration {integration_id!r} not found")
    return account, integration


@bp.get("/accounts/<account_id>/settings/integrations")
def integration_list(account_id: str):
    """The list with search, a status filter and a sort, all in the query string so a link shares the view."""
    principal, moment = current_principal(), now()
    account = accounts.get_account_for(principal, account_id)
    error = None
    try:
        query = integration_search.parse_query(request.args)
    except InvalidInputError as exc:
        query, error = integration_search.IntegrationQuery(), sentence(exc.detail)
    found = None if error else integration_search.find_integrations(principal, account.id, query, moment)
    items = found.items if found else []
    names = presenters.client_names({row.last_used_by for _, live in items for row in live})
    rows = [presenters.integration_row(item, live, moment, names) for item, live in items]
    return render_template(
        "integrations/list.html",
        account=account,
        rows=rows,
        found=found,
        query=query,
        error=error,
        filters=LIST_FILTERS,
        sorts=LIST_SORTS,
        soon_days=integration_search.EXPIRING_SOON.days,
        now=moment,
        can_manage=principal.can_administer(account.id),
    ), 400 if error else 200


LIST_FILTERS = (
    ("", "All statuses"),
    ("active", "Active"),
    ("rotating", "Rotating"),
    ("expiring_soon", "Expiring soon"),
    ("unused_30d", "Unused 30 days"),
    ("disabled", "Disabled"),
)
LIST_SORTS = (("created", "Newest"), ("name", "Name"), ("last_used", "Last used"), ("expires", "Expires soonest"))


@bp.route("/accounts/<account_id>/settings/integrations/new", methods=["GET", "POST"])
def integration_new(account_id: str):
    principal = current_principal()
    account = accounts.get_account_for(principal, account_id, write=True)
    errors: dict[str, str] = {}
    values = {
        "name": "",
        "description": "",
        "scopes": frozenset(),
        "inactivity_window": "default",
        "resources": "",
        "dpop_key": "",
    }
    if request.method == "POST":
        values = {
            "name": request.form.get("name", ""),
            "description": request.form.get("description", ""),
            "scopes": frozenset(forms.scopes()),
            "inactivity_window": request.form.get("inactivity_window", "default"),
            "resources": request.form.get("resources", ""),
            "dpop_key": request.form.get("dpop_key", ""),
        }
        try:
            with unit_of_work():
                integration = integrations.create_integration(
                    principal,
                    account_id=account.id,
                    name=forms.text("name"),
                    description=forms.text("description"),
                    scopes=forms.scopes(),
                    now=now(),
                    inactivity_window=forms.inactivity_window(),
                    resources=forms.resources(),
                    **forms.dpop_binding(),
                )
        except InvalidInputError as exc:
            errors[_form_field(exc.field)] = sentence(exc.detail)
        else:
            flash(
                f"Created {integration.name}. Generate its access token when you are ready to hand it over.", "success"
            )
            return redirect(
                url_for("admin_ui.integration_detail", account_id=account.id, integration_id=integration.id)
            )
    return render_template(
        "integrations/new.html",
        account=account,
        values=values,
        errors=errors,
        picker=presenters.scope_picker(account, values["scopes"]),
        inactivity_choices=forms.INACTIVITY_CHOICES,
    ), 400 if errors else 200


@bp.get("/accounts/<account_id>/settings/integrations/<integration_id>")
def integration_detail(account_id: str, integration_id: str):
    principal, moment = current_principal(), now()
    account, integration = load(principal, account_id, integration_id)
    tokens = integrations.list_tokens(principal, integration.id)
    live_ids = {row.jti for row in integrations.live_tokens(integration.id, moment)}
    names = presenters.client_names({row.last_used_by for row in tokens})
    rows = [presenters.token_row(row, moment, names) for row in tokens]
    bindings = {row.jti: row.dpop_jkt for row in tokens}  # the key each token was issued bound to (RFC 9449 cnf)
    live = [row for row in rows if row.jti in live_ids]
    live.sort(key=lambda row: row.status != "active")
    history = [row for row in rows if row.jti not in live_ids][:10]
    last_used = max((row for row in rows if row.last_used_at), key=attrgetter("last_used_at"), default=None)
    can_manage = principal.can_administer(account.id)
    confirm = request.args.get("confirm") if can_manage else None
    return render_template(
        "integrations/detail.html",
        account=account,
        integration=integration,
        live=live,
        bindings=bindings,
        history=history,
        current=next((row for row in live if row.status == "active"), None),
        grace=next((row for row in live if row.status == "grace"), None),
        **usage_panel(principal, integration, moment),  # reported calls per service and day, suggestions
        last_used=last_used,
        now=moment,
        can_manage=can_manage,
        confirm=confirm if confirm in CONFIRMATIONS else None,
        periods=forms.period_options(moment),
        default_period=forms.DEFAULT_PERIOD,
        scopes=presenters.scope_summary(integration.scopes),
        trail=presenters.audit_lines(audit.list_events([account.id], target_id=integration.id, limit=AUDIT_LINES)),
    )


@bp.route("/accounts/<account_id>/settings/integrations/<integration_id>/edit", methods=["GET", "POST"])
def integration_edit(account_id: str, integration_id: str):
    principal = current_principal()
    account, integration = load(principal, account_id, integration_id, write=True)
    errors: dict[str, str] = {}
    values = {
        "name": integration.name,
        "description": integration.description,
        "scopes": split_scopes(integration.scopes),
        "version": integration.version,
        "dpop_key": integration.dpop_jkt or "",
    }
    if request.method == "POST":
        values = {
            "name": request.form.get("name", ""),
            "description": request.form.get("description", ""),
            "scopes": frozenset(forms.scopes()),
            "version": forms.expected_version(),
            "dpop_key": request.form.get("dpop_key", ""),
        }
        try:
            with unit_of_work():
                moment = now()
                changed = integrations.update_integration(
                    principal,
                    integration.id,
                    now=moment,
                    expected_version=forms.expected_version(),
                    name=forms.text("name"),
                    description=forms.text("description"),
                    scopes=forms.scopes(),
                    **forms.dpop_binding(),
                )
                stale = [
                    row
                    for row in integrations.live_tokens(changed.id, moment)
                    if integrations.binding_differs(row, changed)
                ]
        except InvalidInputError as exc:
            errors[_form_field(exc.field)] = sentence(exc.detail)
        else:
            message = "Saved. Removed scopes apply to the live token at once; added scopes need a new token."
            if stale:
                message += " The live token keeps its previous key binding: rotate it to apply the new one."
            flash(message, "success")
            return redirect(
                url_for("admin_ui.integration_detail", account_id=account.id, integration_id=integration.id)
            )
    return render_template(
        "integrations/edit.html",
        account=account,
        integration=integration,
        values=values,
        errors=errors,
        picker=presenters.scope_picker(account, values["scopes"]),
    ), 400 if errors else 200


def _form_field(field: str | None) -> str:
    """The form field an error belongs to: the domain's two key inputs are the form's one "dpop_key"."""
    return "dpop_key" if field in ("dpop_jkt", "dpop_jwk") else field or "form"


def sentence(detail: str) -> str:
    return detail[:1].upper() + detail[1:] + ("" if detail.endswith(".") else ".")
